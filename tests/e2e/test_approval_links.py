"""Approval links (CONTRACT §16) in a real Chromium against the running server: approve,
reject with notes, a second use refused, a link made stale by a config change; the page's
security headers; the link's reviewer recorded. Expiry: tests/integration/test_inbound.py
(a clock the test moves)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from executors.browser_pool import LAUNCH_ARGS
from tests.support.databases import sqlite_url
from tests.support.server import ErrandsServer, TRPCCallError

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
KEYS = "ada:admin:admin-key,rita:reviewer:rev-key,vic:viewer:view-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandsServer]:
    workdir = tmp_path_factory.mktemp("links")
    with ErrandsServer(database_url=sqlite_url(workdir), workdir=workdir, api_key="admin-key",
                       env={"ERRANDS_API_KEYS": KEYS}) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=list(LAUNCH_ARGS))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield opened
    context.close()
    # no CSP violation, no script error (4xx answers the tests ask for are logged as errors)
    assert [e for e in errors if "the server responded with a status of 4" not in e] == []


def review_task(server: ErrandsServer, title: str = "Pay the invoice") -> dict[str, Any]:
    task: dict[str, Any] = server.call("tasks.create", {
        "title": title, "taskType": "api_call", "requiresHumanReview": True,
        "executionType": "manual",
        "executionConfig": {"apiEndpoint": "https://pay.example/invoices/7", "apiMethod": "POST",
                            "authType": "bearer", "bearerToken": "tok-very-secret"}},
        mutation=True)
    return task


def link(server: ErrandsServer, task_id: str, reviewer: str = "Grace") -> str:
    made = server.call("tasks.approvalLink", {"id": task_id, "reviewer": reviewer},
                       mutation=True, headers={"authorization": "Bearer rev-key"})
    assert made["expiresAt"].endswith("Z")
    url: str = made["url"]
    return url


def test_approve_from_the_page(server: ErrandsServer, page: Page) -> None:
    task = review_task(server)
    url = link(server, task["id"])
    response = page.goto(url)
    assert response is not None and response.status == 200
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "object-src 'none'" in headers["content-security-policy"]
    assert (headers["x-frame-options"], headers["referrer-policy"],
            headers["x-content-type-options"]) == ("DENY", "no-referrer", "nosniff")
    expect(page.get_by_role("heading", name="Pay the invoice")).to_be_visible()
    expect(page.get_by_text("api_call")).to_be_visible()
    expect(page.get_by_text("https://pay.example/invoices/7")).to_be_visible()
    assert "tok-very-secret" not in page.content()
    assert "********" in page.content()

    page.get_by_label("Notes").fill("looks right")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", name="Task approved")).to_be_visible()

    done = server.call("tasks.get", {"id": task["id"]})
    assert (done["status"], done["reviewedBy"], done["reviewNotes"]) == (
        "pending", "Grace", "looks right")
    entries = server.call("audit.list", {"targetId": task["id"]})["items"]
    newest = entries[0]
    assert (newest["actor"], newest["role"], newest["action"]) == (
        "link:Grace", "reviewer", "tasks.approve")

    again = page.goto(url)  # used: 410, for GET and POST alike
    assert again is not None and again.status == 410
    expect(page.get_by_text("used already")).to_be_visible()
    posted = page.request.post(url, form={"decision": "reject", "form": "x"})
    assert posted.status == 410


def test_reject_with_notes(server: ErrandsServer, page: Page) -> None:
    task = review_task(server, "Delete the old list")
    page.goto(link(server, task["id"], reviewer="Linus"))
    page.get_by_label("Notes").fill("wrong list <b>bold</b>")
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("heading", name="Task rejected")).to_be_visible()
    done = server.call("tasks.get", {"id": task["id"]})
    assert (done["status"], done["reviewedBy"], done["reviewNotes"]) == (
        "rejected", "Linus", "wrong list <b>bold</b>")


def test_a_config_change_makes_the_link_stale(server: ErrandsServer, page: Page) -> None:
    task = review_task(server, "Change me")
    url = link(server, task["id"])
    page.goto(url)
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
    config = {**task["executionConfig"], "apiEndpoint": "https://pay.example/invoices/8"}
    server.call("tasks.update", {"id": task["id"], "patch": {"executionConfig": config}},
                mutation=True)
    page.get_by_role("button", name="Approve").click()  # the page loaded before the change
    expect(page.get_by_text("configuration changed")).to_be_visible()
    assert server.call("tasks.get", {"id": task["id"]})["status"] == "awaiting_review"
    stale = page.goto(url)
    assert stale is not None and stale.status == 410
    assert server.call("tasks.get", {"id": task["id"]})["status"] == "awaiting_review"


def test_forged_posts_and_unknown_links_decide_nothing(server: ErrandsServer,
                                                       page: Page) -> None:
    task = review_task(server, "Guarded")
    url = link(server, task["id"])
    forged = page.request.post(url, form={"decision": "approve", "form": "guess"})
    assert forged.status == 403
    cross = page.request.post(url, form={"decision": "approve"},
                              headers={"origin": "https://evil.example"})
    assert cross.status == 403
    assert server.call("tasks.get", {"id": task["id"]})["status"] == "awaiting_review"
    unknown = page.goto(url[:-6] + "abcdef")
    assert unknown is not None and unknown.status == 404
    with pytest.raises(TRPCCallError) as refused:
        server.call("tasks.approvalLink", {"id": task["id"], "reviewer": "x"}, mutation=True,
                    headers={"authorization": "Bearer view-key"})
    assert refused.value.code == "FORBIDDEN"
    with pytest.raises(TRPCCallError) as short:
        link_input = {"id": task["id"], "reviewer": "x", "expiresInSeconds": 10}
        server.call("tasks.approvalLink", link_input, mutation=True)
    assert short.value.error["data"]["issues"][0]["path"] == ["expiresInSeconds"]
