"""The operator console (CONTRACT §11) in a real Chromium against the running server.

One server (SQLite) with a key per role; each test drives the console as a person would:
signs in with the field labelled "API key", clicks buttons by their accessible names, and waits
for what the server's answers and live events (tasks.onChange) put on the page. Every page
must load without a console error. A screenshot of every page is saved in the test's
directory (and copied to ``$CONSOLE_SHOTS_DIR`` when set) so that a person can look at them.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from executors.browser_pool import LAUNCH_ARGS
from tests.support.databases import sqlite_url
from tests.support.http_servers import HttpServer, Reply
from tests.support.pages import serve_pages
from tests.support.server import ErrandsServer

pytestmark = pytest.mark.browser

KEYS = {"admin": "admin-key", "operator": "op-key", "reviewer": "rev-key", "viewer": "view-key"}
NAMES = {"admin": "ada", "operator": "olly", "reviewer": "rita", "viewer": "vic"}
ACTIONS = ["Approve", "Reject", "Execute", "Cancel task", "Retry", "Complete", "Save",
           "Create task"]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandsServer]:
    workdir = tmp_path_factory.mktemp("console")
    keys = ",".join(f"{NAMES[role]}:{role}:{key}" for role, key in KEYS.items())
    # pending tasks stall after 3 s here, so that the stalled views have something to show
    with ErrandsServer(database_url=sqlite_url(workdir), workdir=workdir, api_key="admin-key",
                       env={"ERRANDS_API_KEYS": keys, "STALLED_AFTER": "pending=3s",
                            "STALLED_CHECK_SECONDS": "0.5"}) as running:
        yield running


@pytest.fixture(scope="module")
def outside() -> Iterator[HttpServer]:
    with HttpServer() as site:
        site.route("/ok", json={"ok": True})
        site.route("/missing", status=404, json={"error": "nope"})
        yield site


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=list(LAUNCH_ARGS))
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("console-shots")
    yield directory
    target = os.environ.get("CONSOLE_SHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for shot in directory.glob("*.png"):
            shutil.copy(shot, Path(target) / shot.name)


class Console:
    """A browser page on the console that records console errors and uncaught exceptions."""

    def __init__(self, page: Page, base: str, shots: Path) -> None:
        self.page = page
        self.base = base
        self.shots = shots
        self.errors: list[str] = []
        self.allowed: list[str] = []  # parts of error text a test expects (e.g. a 401)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(a in message.text for a in self.allowed):
            self.errors.append(f"console: {message.text}")

    def sign_in(self, role: str) -> None:
        self.page.goto(self.base + "/")
        self.page.get_by_label("API key").fill(KEYS[role])
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_label("Signed in as")).to_contain_text(NAMES[role])

    def go(self, path: str) -> None:
        """Navigate inside the app (as a click on a link would), keeping the session."""
        self.page.evaluate("(p) => { history.pushState(null, '', p); "
                           "dispatchEvent(new PopStateEvent('popstate')); }", path)

    def shoot(self, name: str, *, full_page: bool = True) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def console(browser: Browser, server: ErrandsServer,
            shots: Path) -> Iterator[Callable[[], Console]]:
    opened: list[tuple[Any, Console]] = []

    def open_console() -> Console:
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        made = Console(page, server.base, shots)
        opened.append((context, made))
        return made

    yield open_console
    errors = [e for _, c in opened for e in c.errors]
    for context, _ in opened:
        context.close()
    assert errors == [], errors


def create(server: ErrandsServer, **task: Any) -> dict[str, Any]:
    created: dict[str, Any] = server.call("tasks.create", task, mutation=True)
    return created


def api_task(url: str, title: str, **extra: Any) -> dict[str, Any]:
    return {"title": title, "taskType": "api_call", "executionConfig": {"apiEndpoint": url},
            **extra}


# --- serving ---------------------------------------------------------------------------------

def test_console_is_served_at_root_with_cached_assets(server: ErrandsServer) -> None:
    root = httpx.get(server.base + "/")
    assert root.status_code == 200 and root.headers["cache-control"] == "no-cache"
    assert root.headers["content-type"].startswith("text/html")
    assert '<div id="root">' in root.text
    deep = httpx.get(server.base + "/tasks/some-task-id")  # a client route, reloaded
    assert deep.status_code == 200 and deep.text == root.text
    scripts = re.findall(r'src="(/assets/[^"]+\.js)"', root.text)
    assert scripts, root.text
    plain = httpx.get(server.base + scripts[0], headers={"accept-encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in plain.headers["content-type"]
    packed = httpx.get(server.base + scripts[0], headers={"accept-encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip" and packed.content == plain.content
    first_screen_js = len(gzip.compress(plain.content))
    assert first_screen_js < 300 * 1024, first_screen_js
    assert httpx.get(server.base + "/assets/missing.js").status_code == 404
    assert httpx.get(server.base + "/assets/..%2Fapp.py").status_code == 404
    assert httpx.get(server.base + "/healthz").status_code == 200  # the rest is untouched


def test_whoami_without_keys_is_the_local_admin(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    open_server = errands_server(sqlite_database_url, env={"ERRANDS_API_KEYS": ""})
    me = open_server.call("system.whoami")
    assert me == {"name": None, "role": "admin", "clientId": None, "permissions": [
        "admin", "cancel", "create", "execute", "read", "retry", "review", "schedules",
        "webhooks"]}


# --- signing in, roles -----------------------------------------------------------------------

@pytest.mark.parametrize(("role", "buttons"), [
    ("admin", ["Approve", "Reject", "Cancel task"]),
    ("operator", ["Cancel task"]),
    ("reviewer", ["Approve", "Reject"]),
    ("viewer", []),
])
def test_each_role_sees_only_its_actions(console: Callable[[], Console], server: ErrandsServer,
                                         outside: HttpServer, role: str,
                                         buttons: list[str]) -> None:
    task = create(server, **api_task(outside.url_for("/ok"), f"needs a look ({role})",
                                     requiresHumanReview=True))
    c = console()
    c.sign_in(role)
    expect(c.page.get_by_label("Signed in as")).to_contain_text(role)
    nav = c.page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="New task")).to_have_count(
        1 if role in ("admin", "operator") else 0)
    c.go(f"/tasks/{task['id']}")
    expect(c.page.get_by_role("heading", name=task["title"])).to_be_visible()
    expect(c.page.get_by_role("heading", name="Fields")).to_be_visible()
    for name in ACTIONS:
        expect(c.page.get_by_role("button", name=name, exact=True)).to_have_count(
            1 if name in buttons else 0)
    # every role but the viewer may edit a task awaiting review (tasks.update)
    edit = c.page.get_by_role("button", name="Edit", exact=True)
    expect(edit).to_have_count(0 if role == "viewer" else 1)
    c.shoot(f"task-detail-as-{role}")
    if role != "viewer":
        edit.click()
        expect(c.page.get_by_role("button", name="Save", exact=True)).to_have_count(1)
        c.page.get_by_role("button", name="Discard changes").click()
        expect(c.page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    if role == "viewer":
        c.go("/review")
        expect(c.page.get_by_role("link", name=task["title"])).to_be_visible()
        for name in ACTIONS:
            expect(c.page.get_by_role("button", name=name, exact=True)).to_have_count(0)
        c.shoot("review-queue-as-viewer")


def test_a_wrong_key_is_told_so(console: Callable[[], Console]) -> None:
    c = console()
    c.allowed.append("401")  # the refused whoami call is logged by the browser
    c.page.goto(c.base + "/")
    c.page.get_by_label("API key").fill("not-a-key")
    c.page.get_by_role("button", name="Sign in").click()
    expect(c.page.get_by_role("alert")).to_contain_text("not accepted")
    expect(c.page.get_by_role("alert")).to_contain_text("unknown API key")
    expect(c.page.get_by_label("Signed in as")).to_have_count(0)
    c.shoot("login-wrong-key")
    assert c.page.evaluate("sessionStorage.getItem('errands.apiKey')") is None


def test_the_key_lives_in_the_tab_only(console: Callable[[], Console]) -> None:
    c = console()
    c.sign_in("viewer")
    assert c.page.evaluate("sessionStorage.getItem('errands.apiKey')") == KEYS["viewer"]
    assert c.page.evaluate("localStorage.length") == 0
    c.page.reload()  # same tab: still signed in
    expect(c.page.get_by_label("Signed in as")).to_contain_text(NAMES["viewer"])
    c.page.get_by_role("button", name="Sign out").click()
    expect(c.page.get_by_label("API key")).to_be_visible()
    assert c.page.evaluate("sessionStorage.getItem('errands.apiKey')") is None


# --- review, cancel, retry -------------------------------------------------------------------

def test_approve_in_the_review_queue_and_see_it_run(console: Callable[[], Console],
                                                    server: ErrandsServer,
                                                    outside: HttpServer) -> None:
    older = create(server, **api_task(outside.url_for("/ok"), "older one",
                                      requiresHumanReview=True))
    task = create(server, **api_task(outside.url_for("/ok"), "send the invoice",
                                     requiresHumanReview=True))
    c = console()
    c.sign_in("reviewer")
    c.go("/review")
    item = c.page.locator(f"li.review-item[data-task-id='{task['id']}']")
    expect(item).to_be_visible()
    titles = c.page.locator("li.review-item h2").all_inner_texts()
    assert titles.index(older["title"]) < titles.index(task["title"])  # oldest first
    c.shoot("review-queue")
    item.get_by_label("Review notes").fill("looks right")
    item.get_by_role("button", name="Approve").click()
    decided = c.page.get_by_role("region", name="Decided just now")
    row = decided.locator(f"tr[data-task-id='{task['id']}']")
    expect(row.locator(".badge")).to_have_text("completed", timeout=30_000)  # ran, live
    expect(row).to_contain_text("by rita")
    expect(item).to_have_count(0)
    c.shoot("review-queue-after-approve")
    done = server.call("tasks.get", {"id": task["id"]})
    assert done["status"] == "completed"
    assert done["reviewedBy"] == "rita" and done["reviewNotes"] == "looks right"


def test_reject_with_notes(console: Callable[[], Console], server: ErrandsServer,
                           outside: HttpServer) -> None:
    task = create(server, **api_task(outside.url_for("/ok"), "delete everything",
                                     requiresHumanReview=True))
    c = console()
    c.sign_in("reviewer")
    c.go(f"/tasks/{task['id']}")
    c.page.get_by_label("Review notes").fill("not this one")
    c.page.get_by_role("button", name="Reject").click()
    expect(c.page.locator(".page-header .badge")).to_have_text("rejected")
    assert server.call("tasks.get", {"id": task["id"]})["reviewNotes"] == "not this one"


def test_cancel_and_retry(console: Callable[[], Console], server: ErrandsServer,
                          outside: HttpServer) -> None:
    waiting = create(server, **api_task(outside.url_for("/ok"), "waits for a person",
                                        executionType="manual"))
    outside.route("/flaky-once", sequence=[Reply(status=404, json={"error": "not yet"}),
                                           Reply(status=200, json={"fine": True})])
    failing = create(server, **api_task(outside.url_for("/flaky-once"), "fails first",
                                        maxRetries=0))
    server.wait_for(failing["id"], {"failed"})
    c = console()
    c.sign_in("operator")
    c.go(f"/tasks/{waiting['id']}")
    expect(c.page.get_by_role("button", name="Execute")).to_be_visible()
    c.page.get_by_label("Cancel reason").fill("no longer needed")
    c.page.get_by_role("button", name="Cancel task").click()
    expect(c.page.locator(".page-header .badge")).to_have_text("cancelled")
    expect(c.page.get_by_role("button", name="Cancel task")).to_have_count(0)
    assert server.call("tasks.get", {"id": waiting["id"]})["status"] == "cancelled"

    c.go(f"/tasks/{failing['id']}")
    expect(c.page.get_by_role("region", name="Last error")).to_contain_text("404")
    c.shoot("task-detail-failed")
    c.page.get_by_role("button", name="Retry", exact=True).click()
    expect(c.page.locator(".page-header .badge")).to_have_text("completed", timeout=30_000)
    expect(c.page.locator("li.attempt")).to_have_count(2)
    expect(c.page.locator("li.attempt[data-attempt='2'] .badge").first).to_have_text("success")
    c.shoot("task-detail-retried")


def test_a_refused_call_shows_the_servers_message(console: Callable[[], Console],
                                                  server: ErrandsServer) -> None:
    c = console()
    c.allowed.append("status of 400")  # the refusal, as the browser logs it
    c.sign_in("operator")
    c.go("/webhooks")
    c.page.get_by_label("Name").fill("bad")
    c.page.get_by_label("URL").fill("ftp://example.com/hook")
    c.page.get_by_role("button", name="Create webhook").click()
    error = c.page.locator(".field[data-path='url'] .field-error")
    expect(error).to_contain_text("must be an http or https URL")
    c.shoot("webhooks-refused")


# --- screenshots and live updates -------------------------------------------------------------

def test_failed_browser_task_shows_its_screenshot(console: Callable[[], Console],
                                                  server: ErrandsServer) -> None:
    with serve_pages() as site:
        task = create(server, title="press the missing button", taskType="browser_automation",
                      maxRetries=0, executionConfig={
                          "startUrl": site.url("/form"), "stepTimeoutMs": 800,
                          "steps": [{"action": "click", "selector": "#does-not-exist"}]})
        server.wait_for(task["id"], {"failed"}, timeout=60)
    c = console()
    c.sign_in("viewer")
    c.go(f"/tasks/{task['id']}")
    image = c.page.locator("li.attempt img").first
    expect(image).to_be_visible()
    c.page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                             arg=image.element_handle())
    assert image.evaluate("(img) => img.naturalWidth") > 0
    assert image.get_attribute("src", timeout=1000).startswith("blob:")  # type: ignore[union-attr]
    expect(c.page.locator("li.attempt .steps")).to_contain_text("click")
    expect(c.page.locator("li.attempt")).to_contain_text("#does-not-exist")
    c.shoot("task-detail-browser-failure")
    c.page.get_by_role("button", name=re.compile("^Enlarge")).click()
    large = c.page.get_by_role("dialog").locator("img")
    expect(large).to_be_visible()
    assert large.evaluate("(img) => img.naturalWidth") > 0
    thumbnail_width = image.evaluate("(img) => img.clientWidth")
    assert large.evaluate("(img) => img.clientWidth") > 2 * thumbnail_width  # really larger
    c.shoot("task-detail-screenshot-enlarged", full_page=False)
    c.page.keyboard.press("Escape")
    expect(c.page.get_by_role("dialog")).to_have_count(0)


def test_live_status_change_without_reload(console: Callable[[], Console],
                                           server: ErrandsServer, outside: HttpServer) -> None:
    task = create(server, **api_task(outside.url_for("/ok"), "run me later",
                                     executionType="manual"))
    c = console()
    urls: list[str] = []
    c.page.on("request", lambda request: urls.append(request.url))
    c.sign_in("viewer")
    c.go("/tasks")
    row = c.page.locator(f"tr[data-task-id='{task['id']}']")
    status = row.locator(".badge").first  # a "stalled" badge may follow (pending=3s here)
    expect(status).to_have_text("pending")
    expect(c.page.get_by_text("Live", exact=True)).to_be_visible()
    marker = c.page.evaluate("window.__marker = Math.random()")
    server.call("tasks.execute", {"id": task["id"]}, mutation=True,
                headers={"authorization": f"Bearer {KEYS['operator']}"})
    expect(status).to_have_text("completed", timeout=30_000)
    assert c.page.evaluate("window.__marker") == marker  # no reload happened
    # Subscriptions carry a subscription token: the key itself is never in a URL.
    assert any("connectionParams" in u and "onChange" in u for u in urls), urls
    assert not any(KEYS["viewer"] in urllib.parse.unquote(u) for u in urls), urls

    c.go("/")
    completed = c.page.locator(".stat-value[data-status='completed']")
    expect(completed).not_to_have_text("—")  # loaded
    before = int(completed.inner_text())
    again = create(server, **api_task(outside.url_for("/ok"), "counted live"))
    server.wait_for(again["id"], {"completed"})
    expect(completed).to_have_text(str(before + 1), timeout=15_000)
    assert c.page.evaluate("window.__marker") == marker


# --- creating --------------------------------------------------------------------------------

def test_create_form_shows_the_servers_field_error_then_lands_on_the_task(
        console: Callable[[], Console], outside: HttpServer) -> None:
    c = console()
    c.allowed.append("status of 400")  # the refusal, as the browser logs it
    c.sign_in("operator")
    c.go("/new")
    c.page.get_by_label("Title").fill("ping the partner")
    c.page.get_by_label("Endpoint URL").fill("not a url")
    c.page.get_by_role("button", name="Create task").click()
    field_error = c.page.locator(".field[data-path='executionConfig.apiEndpoint'] .field-error")
    expect(field_error).to_be_visible()
    expect(field_error).to_contain_text("http or https URL")
    expect(c.page.get_by_role("alert").filter(has_text="refused")).to_contain_text(
        "executionConfig.apiEndpoint")
    c.shoot("new-task-field-error")
    c.page.get_by_label("Endpoint URL").fill(outside.url_for("/ok"))
    c.page.get_by_role("button", name="Create task").click()
    c.page.wait_for_url(re.compile(r"/tasks/[^/]+$"))
    expect(c.page.get_by_role("heading", name="ping the partner")).to_be_visible()
    expect(c.page.locator(".page-header .badge")).to_have_text("completed", timeout=30_000)


def test_browser_steps_are_an_editable_list(console: Callable[[], Console],
                                            server: ErrandsServer) -> None:
    c = console()
    c.allowed.append("status of 400")  # the refusal, as the browser logs it
    c.sign_in("operator")
    c.go("/new")
    c.page.get_by_label("Title").fill("look at a page")
    c.page.get_by_label("Task type").select_option("browser_automation")
    c.page.get_by_label("Step 1 URL").fill("https://example.com/")
    c.page.get_by_role("button", name="Add step").click()
    c.page.get_by_label("Step 3 action").select_option("click")
    c.page.get_by_role("button", name="Move step 3 up").click()
    expect(c.page.get_by_label("Step 2 selector")).to_be_visible()
    c.page.get_by_label("Step 2 selector").fill("")  # an empty selector: the server says so
    c.page.get_by_role("button", name="Create task").click()
    expect(c.page.locator("li.step-row[data-step='1'] .field-error")).to_contain_text(
        "selector: must not be empty")  # msgspec's "Expected `str` of length >= 1", said plainly
    c.shoot("new-task-browser-steps")


# --- every page ------------------------------------------------------------------------------

def test_every_page_as_admin(console: Callable[[], Console], server: ErrandsServer,
                             outside: HttpServer) -> None:
    create(server, **api_task(outside.url_for("/ok"), "quarterly zebra invoice"))
    failed = create(server, **api_task(outside.url_for("/missing"), "a failure", maxRetries=0))
    server.wait_for(failed["id"], {"failed"})
    c = console()
    c.sign_in("admin")
    expect(c.page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(c.page.locator(".chart canvas").first).to_be_visible()
    c.shoot("overview")

    c.go("/tasks")
    expect(c.page.locator("table.table tbody tr").first).to_be_visible()
    c.page.get_by_label("Status").select_option("failed")
    expect(c.page.locator("table.table tbody tr .badge").first).to_have_text("failed")
    c.page.get_by_label("Status").select_option("")
    c.page.get_by_label("Search").fill("zebra")
    expect(c.page.locator("table.table tbody tr")).to_have_count(1)
    c.shoot("tasks-search")
    c.page.get_by_label("Search").fill("")

    c.go("/webhooks")
    c.page.get_by_label("Name").fill("CRM inbox")
    c.page.get_by_label("URL").fill(outside.url_for("/hook"))
    c.page.get_by_role("button", name="Create webhook").click()
    expect(c.page.get_by_label("Signing secret")).to_contain_text("whsec_")
    expect(c.page.get_by_role("cell", name="CRM inbox")).to_be_visible()
    (hook,) = [w for w in server.call("webhooks.list") if w["name"] == "CRM inbox"]
    outside.route("/hook", status=503, json={"error": "down for maintenance"})
    told = create(server, title="tell the CRM", taskType="notification", maxRetries=0,
                  executionConfig={"message": "hello", "webhookId": hook["id"]})
    server.wait_for(told["id"], {"failed"})
    c.page.get_by_role("button", name="Refresh").click()
    message = c.page.locator("tbody tr", has_text="notification").first
    expect(message.locator(".badge")).to_have_text("failed")
    expect(message).to_contain_text("503")
    c.shoot("webhooks")

    c.go("/schedules")
    c.page.get_by_role("button", name="New schedule").click()
    form = c.page.get_by_role("form", name="New schedule")
    form.get_by_label("Name", exact=True).fill("Weekday ping")
    form.get_by_label("Cron").fill("0 9 * * 1-5")
    form.get_by_label("Title").fill("morning ping")
    form.get_by_label("Endpoint URL").fill(outside.url_for("/ok"))
    form.get_by_role("button", name="Create schedule").click()
    row = c.page.locator("tr", has_text="Weekday ping")
    expect(row.locator(".badge")).to_have_text("active")
    row.get_by_role("button", name="Pause").click()
    expect(row.locator(".badge")).to_have_text("paused")
    c.shoot("schedules")
    row.get_by_role("button", name="Resume").click()
    expect(row.locator(".badge")).to_have_text("active")

    c.go("/reports")
    for label in ("Execution statistics", "Task summary", "Webhook activity"):
        c.page.get_by_role("combobox", name="Report", exact=True).select_option(label=label)
        c.page.get_by_role("button", name="Run report").click()
        report = c.page.get_by_role("region", name="Report")
        expect(report).to_contain_text(label)
        expect(report.locator(".summary")).to_be_visible(timeout=30_000)
        c.shoot(f"report-{label.lower().replace(' ', '-')}")
    expect(c.page.get_by_role("region", name="Report").locator(".kpis")).to_be_visible()

    c.go("/new")
    expect(c.page.get_by_role("button", name="Create task")).to_be_visible()
    c.shoot("new-task")
    c.go("/review")
    expect(c.page.get_by_role("heading", name="Review queue")).to_be_visible()
    c.shoot("review-queue-admin")
    c.go("/audit")
    expect(c.page.locator("table.audit tbody tr").first).to_be_visible()
    c.shoot("audit-log-admin")
    c.go("/")
    expect(c.page.get_by_role("heading", name="Overview")).to_be_visible()
    c.page.wait_for_timeout(300)
    c.shoot("overview-after")


def test_login_page(console: Callable[[], Console]) -> None:
    c = console()
    c.page.goto(c.base + "/")
    expect(c.page.get_by_label("API key")).to_be_visible()
    c.shoot("login")


# --- workflows (CONTRACT §10) ------------------------------------------------------------------

def as_key(role: str) -> dict[str, str]:
    return {"authorization": f"Bearer {KEYS[role]}"}


def test_edit_then_approve_runs_the_edited_config(console: Callable[[], Console],
                                                  server: ErrandsServer,
                                                  outside: HttpServer) -> None:
    task = create(server, **api_task(outside.url_for("/missing"), "call the wrong place",
                                     requiresHumanReview=True, maxRetries=0))
    c = console()
    c.allowed.append("status of 400")  # the refused first save, as the browser logs it
    c.sign_in("reviewer")
    c.go(f"/tasks/{task['id']}")
    c.page.get_by_role("button", name="Edit", exact=True).click()
    form = c.page.get_by_role("form", name="Edit task")
    form.get_by_label("apiEndpoint").fill("not a url")
    form.get_by_role("button", name="Save").click()
    field_error = form.locator(".field[data-path='patch.executionConfig.apiEndpoint'] .field-error")
    expect(field_error).to_contain_text("http or https URL")
    assert server.call("tasks.get", {"id": task["id"]})["executionConfig"]["apiEndpoint"] == (
        outside.url_for("/missing"))  # refused: nothing changed
    c.shoot("task-edit-field-error")
    form.get_by_label("apiEndpoint").fill(outside.url_for("/ok"))
    form.get_by_label("Title").fill("call the right place")
    # a setting the task did not have: added in the whole config, as JSON
    form.get_by_role("button", name=re.compile("^Edit the whole config as JSON")).click()
    whole = form.get_by_label("Config (JSON)")
    expect(whole).to_contain_text(outside.url_for("/ok"))  # the edit so far is kept
    whole.fill(json.dumps({"apiEndpoint": outside.url_for("/ok"), "timeoutMs": 5000}))
    c.shoot("task-edit-whole-config")
    form.get_by_role("button", name="Save").click()
    expect(form).to_have_count(0)
    expect(c.page.get_by_role("heading", name="call the right place")).to_be_visible()
    expect(c.page.get_by_label("Execution config")).to_contain_text(outside.url_for("/ok"))
    trail = c.page.get_by_role("region", name="Audit trail")
    expect(trail).to_contain_text("tasks.update")
    expect(trail).to_contain_text("executionConfig.apiEndpoint")
    # Four eyes (REVIEW_SEPARATION=editor): the reviewer who changed the config is refused ...
    c.allowed.append("status of 403")
    c.page.get_by_role("button", name="Approve", exact=True).click()
    expect(c.page.get_by_role("alert")).to_contain_text(
        "rita changed this task's configuration; another reviewer must approve it")
    # ... and another key approves it.
    c = console()
    c.sign_in("admin")
    c.go(f"/tasks/{task['id']}")
    trail = c.page.get_by_role("region", name="Audit trail")
    c.page.get_by_role("button", name="Approve", exact=True).click()
    expect(c.page.locator(".page-header .badge").first).to_have_text("completed", timeout=30_000)
    attempt = c.page.locator("li.attempt[data-attempt='1']")
    attempt.get_by_text("Input (the config this attempt ran with)").click()
    expect(attempt.get_by_label("Attempt 1 input")).to_contain_text(outside.url_for("/ok"))
    expect(trail).to_contain_text("tasks.approve")
    c.shoot("task-detail-edited-and-run")
    (execution,) = server.call("tasks.executions", {"taskId": task["id"]})
    assert execution["status"] == "success"
    assert execution["input"]["apiEndpoint"] == outside.url_for("/ok")
    assert execution["input"]["timeoutMs"] == 5000


def test_approve_never_drops_an_unsaved_edit(console: Callable[[], Console],
                                             server: ErrandsServer,
                                             outside: HttpServer) -> None:
    """Approve with an open, changed edit waits for Save or Discard: an approval covers the
    saved task, so approving the old config would drop the edit silently."""
    task = create(server, **api_task(outside.url_for("/ok"), "approve after the edit",
                                     requiresHumanReview=True))
    c = console()
    c.sign_in("reviewer")
    c.go(f"/tasks/{task['id']}")
    approve = c.page.get_by_role("button", name="Approve", exact=True)
    c.page.get_by_role("button", name="Edit", exact=True).click()
    form = c.page.get_by_role("form", name="Edit task")
    expect(approve).to_be_enabled()  # nothing changed yet
    form.get_by_label("apiEndpoint").fill(outside.url_for("/unsaved"))
    expect(approve).to_be_disabled()
    expect(c.page.get_by_role("status").filter(has_text="not saved")).to_be_visible()
    approve.click(force=True)  # a click on the disabled button does nothing
    c.shoot("approve-waits-for-the-edit")
    assert server.call("tasks.get", {"id": task["id"]})["status"] == "awaiting_review"
    form.get_by_role("button", name="Discard changes").click()
    expect(form).to_have_count(0)
    expect(approve).to_be_enabled()
    # A saved edit is what gets approved.
    c.page.get_by_role("button", name="Edit", exact=True).click()
    form.get_by_label("Title").fill("approve the saved title")
    expect(approve).to_be_disabled()
    form.get_by_role("button", name="Save").click()
    expect(form).to_have_count(0)
    expect(approve).to_be_enabled()
    approve.click()
    expect(c.page.locator(".page-header .badge").first).to_have_text("completed", timeout=30_000)
    done = server.call("tasks.get", {"id": task["id"]})
    assert (done["title"], done["reviewedBy"]) == ("approve the saved title", "rita")
    assert done["executionConfig"]["apiEndpoint"] == outside.url_for("/ok")


def test_bulk_approve_shows_each_tasks_result(console: Callable[[], Console],
                                              server: ErrandsServer,
                                              outside: HttpServer) -> None:
    tasks = [create(server, **api_task(outside.url_for("/ok"), f"bulk item {n}",
                                       requiresHumanReview=True)) for n in range(3)]
    c = console()
    # This page misses live events (as a tab on a bad network would), so it still offers the
    # task that another reviewer rejects meanwhile; the server refuses that one alone.
    c.allowed.extend(["ERR_FAILED", "onChange", "EventSource"])
    c.page.route("**/trpc/tasks.onChange*", lambda route: route.abort())
    c.sign_in("reviewer")
    c.go("/review")
    for task in tasks:
        c.page.get_by_label(f"Select {task['title']}").check()
    bar = c.page.get_by_role("region", name="Approve several")
    approve = bar.get_by_role("button", name="Approve selected (3)")
    expect(approve).to_be_enabled()
    c.shoot("review-queue-bulk-selected")
    server.call("tasks.reject", {"id": tasks[1]["id"], "notes": "not this"}, mutation=True,
                headers=as_key("admin"))
    approve.click()
    dialog = c.page.get_by_role("dialog")
    expect(dialog).to_contain_text("Approve the 3 selected tasks")
    dialog.get_by_role("button", name="Confirm").click()
    results = c.page.get_by_role("region", name="Bulk approval results")
    expect(results.get_by_role("heading")).to_have_text("Approved together: 2 of 3")
    refused = results.locator(f"tr[data-task-id='{tasks[1]['id']}']")
    expect(refused).to_contain_text("not approved")
    expect(refused).to_contain_text("CONFLICT")
    expect(refused).to_contain_text("rejected")
    for ok in (tasks[0], tasks[2]):
        expect(results.locator(f"tr[data-task-id='{ok['id']}']")).to_contain_text("approved")
    expect(c.page.locator("li.review-item", has_text="bulk item")).to_have_count(0)
    c.shoot("review-queue-bulk-results")
    for ok in (tasks[0], tasks[2]):
        done = server.wait_for(ok["id"], {"completed"})
        assert done["reviewedBy"] == "rita"
    assert server.call("tasks.get", {"id": tasks[1]["id"]})["status"] == "rejected"


def test_complete_a_pending_task_by_hand(console: Callable[[], Console], server: ErrandsServer,
                                         outside: HttpServer) -> None:
    task = create(server, **api_task(outside.url_for("/ok"), "phone the client",
                                     executionType="manual"))
    c = console()
    c.sign_in("operator")
    c.go(f"/tasks/{task['id']}")
    expect(c.page.get_by_role("button", name="Execute", exact=True)).to_be_visible()
    c.page.get_by_label("Completion notes").fill("called, all fine")
    c.shoot("task-detail-pending")
    c.page.get_by_role("button", name="Complete", exact=True).click()
    expect(c.page.locator(".page-header .badge").first).to_have_text("completed")
    expect(c.page.get_by_role("button", name="Complete", exact=True)).to_have_count(0)
    attempt = c.page.locator("li.attempt[data-attempt='1']")
    expect(attempt).to_contain_text("manual")
    expect(attempt).to_contain_text("person:olly")
    done = server.call("tasks.get", {"id": task["id"]})
    assert done["status"] == "completed" and done["statusReason"] == "called, all fine"
    v = console()  # a viewer sees no action on a pending task
    v.sign_in("viewer")
    other = create(server, **api_task(outside.url_for("/ok"), "viewer looks",
                                      executionType="manual"))
    v.go(f"/tasks/{other['id']}")
    expect(v.page.get_by_role("heading", name="viewer looks")).to_be_visible()
    for name in [*ACTIONS, "Edit"]:
        expect(v.page.get_by_role("button", name=name, exact=True)).to_have_count(0)


def autorun_becomes(server: ErrandsServer, wanted: dict[str, Any]) -> None:
    start = time.monotonic()
    while (now := server.call("system.autorun")) != wanted:
        assert time.monotonic() - start < 10, now
        time.sleep(0.05)


def test_admin_switches_autorun_off_and_on(console: Callable[[], Console], server: ErrandsServer,
                                           outside: HttpServer) -> None:
    c = console()
    c.sign_in("admin")
    panel = c.page.get_by_role("region", name="Autorun")
    switch = panel.get_by_role("switch", name="Run tasks automatically")
    expect(switch).to_be_checked()
    try:
        switch.click()
        expect(panel.locator("[data-autorun]")).to_have_text("off")
        expect(switch).not_to_be_checked()
        autorun_becomes(server, {"enabled": False, "pausedTypes": []})
        held = create(server, **api_task(outside.url_for("/ok"), "held by the switch"))
        c.page.wait_for_timeout(2500)  # autorun is seen by the runner within 2 s
        assert server.call("tasks.get", {"id": held["id"]})["status"] == "queued"
        panel.get_by_label("Pause Report").check()
        expect(panel).to_contain_text("Paused types: Report")
        autorun_becomes(server, {"enabled": False, "pausedTypes": ["report_generation"]})
        c.shoot("overview-autorun-off")

        v = console()
        v.sign_in("viewer")
        seen = v.page.get_by_role("region", name="Autorun")
        expect(seen.locator("[data-autorun]")).to_have_text("off")
        expect(seen).to_contain_text("Only an admin may change this")
        expect(seen.get_by_role("switch")).to_have_count(0)
        expect(seen.get_by_role("checkbox")).to_have_count(0)
        v.shoot("overview-as-viewer")

        panel.get_by_label("Pause Report").uncheck()
        expect(panel).not_to_contain_text("Paused types")
        switch.click()
        expect(panel.locator("[data-autorun]")).to_have_text("on")
        expect(switch).to_be_checked()
        server.wait_for(held["id"], {"completed"})
    finally:
        server.call("system.setAutorun", {"enabled": True, "pausedTypes": []}, mutation=True)
    assert server.call("system.autorun") == {"enabled": True, "pausedTypes": []}


def test_stalled_tasks_are_listed_and_marked(console: Callable[[], Console],
                                             server: ErrandsServer, outside: HttpServer) -> None:
    task = create(server, **api_task(outside.url_for("/ok"), "nobody picked this up",
                                     executionType="manual"))
    start = time.monotonic()
    while server.call("tasks.get", {"id": task["id"]})["stalledSince"] is None:
        assert time.monotonic() - start < 30, "the task never stalled"
        time.sleep(0.2)
    c = console()
    c.sign_in("operator")
    stalled = c.page.get_by_role("region", name="Stalled tasks")
    expect(stalled.locator(f"li[data-task-id='{task['id']}']")).to_be_visible()
    c.shoot("overview-stalled")
    c.go("/tasks")
    row = c.page.locator(f"tr[data-task-id='{task['id']}']")
    expect(row.locator(".badge-stalled")).to_have_text("stalled")
    c.page.get_by_label("Stalled only").check()
    expect(c.page.locator("table.table tbody tr .badge-stalled").first).to_be_visible()
    c.go(f"/tasks/{task['id']}")
    expect(c.page.locator(".page-header .badge-stalled")).to_be_visible()
    expect(c.page.get_by_role("region", name="Audit trail")).to_contain_text("stalled")
    c.shoot("task-detail-stalled")


def test_audit_log_filters_by_target_and_actor(console: Callable[[], Console],
                                               server: ErrandsServer,
                                               outside: HttpServer) -> None:
    task = create(server, **api_task(outside.url_for("/ok"), "audited errand",
                                     executionType="manual"))
    server.call("tasks.cancel", {"id": task["id"], "reason": "changed my mind"}, mutation=True,
                headers=as_key("operator"))
    c = console()
    c.sign_in("viewer")
    c.page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(c.page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(c.page.locator("table.audit tbody tr").first).to_be_visible()
    c.shoot("audit-log")
    c.page.get_by_label("Target").fill(task["id"])
    rows = c.page.locator("table.audit tbody tr")
    expect(rows).to_have_count(2)  # created by ada, cancelled by olly
    expect(rows.nth(0)).to_contain_text("tasks.cancel")
    expect(rows.nth(0)).to_contain_text("olly")
    expect(rows.nth(0)).to_contain_text("reason: changed my mind")
    expect(rows.nth(1)).to_contain_text("tasks.create")
    expect(rows.nth(1)).to_contain_text("ada")
    c.shoot("audit-log-by-target")
    c.page.get_by_label("Actor").fill("olly")
    expect(rows).to_have_count(1)
    c.page.get_by_label("Actor").fill("")
    c.page.get_by_label("Action").fill("tasks.create")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("ada")
    entries = server.call("audit.list", {"targetId": task["id"]})["items"]
    assert [e["action"] for e in entries] == ["tasks.cancel", "tasks.create"]


def test_audit_log_pages_by_cursor(console: Callable[[], Console], server: ErrandsServer,
                                   outside: HttpServer) -> None:
    for n in range(55):  # more than one page of 50
        create(server, **api_task(outside.url_for("/ok"), f"paged {n}", executionType="manual"))
    c = console()
    c.sign_in("admin")
    c.go("/audit?action=tasks.create")  # a filter can come in the address
    expect(c.page.get_by_label("Action")).to_have_value("tasks.create")
    rows = c.page.locator("table.audit tbody tr")
    expect(rows).to_have_count(50)
    expect(c.page.locator("table.audit tbody tr", has_not_text="tasks.create")).to_have_count(0)
    first = rows.nth(0).get_attribute("data-audit-id")
    c.page.get_by_role("button", name="Older").click()
    expect(c.page.get_by_text("Page 2")).to_be_visible()
    expect(rows.nth(0)).not_to_have_attribute("data-audit-id", first or "")
    c.page.get_by_role("button", name="Newer").click()
    expect(rows.nth(0)).to_have_attribute("data-audit-id", first or "")


def test_cron_preview_shows_the_next_five_times(console: Callable[[], Console],
                                                server: ErrandsServer) -> None:
    c = console()
    c.allowed.append("status of 400")  # the refused preview of a bad cron
    c.sign_in("operator")
    c.go("/schedules")
    c.page.get_by_role("button", name="New schedule").click()
    form = c.page.get_by_role("form", name="New schedule")
    form.get_by_label("Time zone").fill("Asia/Tokyo")
    form.get_by_label("Cron").fill("30 8 * * 1-5")
    preview = form.get_by_role("region", name="Next runs")
    times = preview.locator("ol.run-times li time")
    expected = server.call("schedules.preview", {"cron": "30 8 * * 1-5",
                                                 "timezone": "Asia/Tokyo", "count": 5})["times"]
    expect(times).to_have_count(5)
    expect(times.first).to_have_attribute("datetime", expected[0])
    assert [t.get_attribute("datetime") for t in times.all()] == expected
    expect(times.first).to_contain_text("08:30")  # shown in the chosen zone
    c.shoot("schedules-cron-preview")
    form.get_by_label("Cron").fill("61 * * * *")
    expect(preview.get_by_role("alert")).to_be_visible()
    expect(times).to_have_count(0)
    message = preview.get_by_role("alert").inner_text()
    assert "61" in message and "0-59" in message, message
    c.shoot("schedules-cron-preview-invalid")
