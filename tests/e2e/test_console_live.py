"""The console's progress bar and live view of a running browser task (CONTRACT §17, issue 28)
in a real Chromium, against the running server whose own Chromium runs the task: the task
page shows "Step n of m — <step>" and a "Live view" link while the attempt runs; the
``/live/<executionId>`` page shows the step and a frame that changes, in light and dark, on a
390 px phone without sideways scroll, with axe-core finding nothing; once the attempt ends the
page says so. Every test fails on a console error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from executors.browser_pool import LAUNCH_ARGS
from tests.e2e.test_console import CHROMIUM, KEYS, NAMES, Console
from tests.e2e.test_console_recovery import AXE, DESKTOP, PHONE, _axe, _no_sideways, sign_in
from tests.support.databases import sqlite_url
from tests.support.pages import serve_pages
from tests.support.server import ErrandsServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandsServer]:
    workdir = tmp_path_factory.mktemp("console-live")
    keys = ",".join(f"{NAMES[role]}:{role}:{key}" for role, key in KEYS.items())
    with ErrandsServer(database_url=sqlite_url(workdir), workdir=workdir, api_key="admin-key",
                       env={"ERRANDS_API_KEYS": keys}) as running:
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
def console(browser: Browser, server: ErrandsServer, tmp_path: Path
            ) -> Iterator[Callable[..., Console]]:
    opened: list[tuple[Any, Console]] = []

    def open_console(viewport: dict[str, int] | None = None, scheme: str = "light") -> Console:
        # bypass_csp: axe-core is added as an inline script, which the console's CSP refuses
        context = browser.new_context(viewport=viewport or DESKTOP,  # type: ignore[arg-type]
                                      color_scheme=scheme,  # type: ignore[arg-type]
                                      bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        made = Console(page, server.base, tmp_path)
        opened.append((context, made))
        return made

    yield open_console
    errors = [e for _, c in opened for e in c.errors]
    for context, _ in opened:
        context.close()
    assert errors == [], errors


def _frame_id(page: Page) -> str:
    frame = page.get_by_role("img", name="The browser page during step")
    expect(frame).to_be_visible()
    value = frame.get_attribute("data-frame")
    assert value
    return value


def test_progress_and_the_live_view_of_a_running_browser_task(
        console: Callable[..., Console], server: ErrandsServer) -> None:
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed at {AXE}: npm ci in tests/js")
    with serve_pages() as site:
        task = server.call("tasks.create", {
            "title": "watch me", "taskType": "browser_automation", "maxRetries": 0,
            "executionConfig": {"startUrl": site.url("/ticker"), "steps": [
                {"action": "wait", "ms": 6000}, {"action": "wait", "ms": 6000},
                {"action": "wait", "ms": 6000}, {"action": "extract", "name": "tick",
                                                  "selector": "#tick"}]}}, mutation=True)
        attempt = eventually(lambda: server.call("tasks.executions", {"taskId": task["id"]}),
                             lambda xs: xs and xs[0]["status"] == "running",
                             what="a running attempt")[0]

        c = console()
        # A poll that crosses the attempt's end on its way is answered 412 (the page stops
        # polling at the end's live event; the browser logs the refused request).
        c.allowed.append("412 (Precondition Failed)")
        sign_in(c, "viewer")
        c.go(f"/tasks/{task['id']}")
        progress = c.page.get_by_role("progressbar")
        expect(progress).to_be_visible()
        expect(c.page.get_by_text("of 5 — wait")).to_be_visible()
        expect(progress).to_have_attribute("max", "5")
        _axe(c.page, "the task page of a running browser task (light)")
        c.shoot("task-running-light-desktop")
        c.page.get_by_role("link", name="Live view").click()
        expect(c.page.get_by_role("heading", name="Live view")).to_be_visible()
        assert c.page.url.endswith(f"/live/{attempt['id']}?task={task['id']}")
        expect(c.page.get_by_text("Step 2: wait")).to_be_visible()
        first = _frame_id(c.page)
        frame = c.page.get_by_role("img", name="The browser page during step")
        # a new frame, about a second later
        expect(frame).not_to_have_attribute("data-frame", first, timeout=10_000)
        _axe(c.page, "the live view (light, desktop)")
        c.shoot("live-light-desktop")

        dark = console(PHONE, "dark")
        dark.allowed.append("412 (Precondition Failed)")
        sign_in(dark, "viewer")
        dark.go(f"/live/{attempt['id']}")
        _frame_id(dark.page)
        _no_sideways(dark.page, "the live view on a phone")
        _axe(dark.page, "the live view (dark, phone)")
        dark.shoot("live-dark-phone")

        done = server.wait_for(task["id"], {"completed", "failed"}, timeout=60)
    assert done["status"] == "completed", done["lastError"]
    expect(c.page.get_by_text("The attempt has ended")).to_be_visible()
    c.page.get_by_role("link", name="See the task").click()
    expect(c.page.get_by_role("heading", name="watch me")).to_be_visible()
    expect(c.page.get_by_role("progressbar")).to_have_count(0)
    expect(c.page.get_by_role("link", name="Live view")).to_have_count(0)
