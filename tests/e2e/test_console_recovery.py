"""The console, second pass (issue 28; CONTRACT §18) in a real Chromium: bulk recovery of a
filter's failures, failure groups with the server's counts, filters in the URL, dependency links
both ways, a 390 px phone without horizontal scroll, axe-core on every page in light and dark,
and readable messages when the server cannot be reached; Duplicate, Edit and retry, Reassign,
the tags and assignee filters, and the Triggers page (secret shown once, deliveries). Every test
fails on a console error; screenshots of every page in both modes and both sizes go to the
test's directory (and to ``$CONSOLE_SHOTS_DIR`` when set)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from executors.browser_pool import LAUNCH_ARGS
from tests.e2e.test_console import CHROMIUM, KEYS, NAMES, Console, api_task, create
from tests.e2e.test_triggers import send
from tests.support.databases import sqlite_url
from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1360, "height": 900}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandsServer]:
    workdir = tmp_path_factory.mktemp("console2")
    keys = ",".join(f"{NAMES[role]}:{role}:{key}" for role, key in KEYS.items())
    with ErrandsServer(database_url=sqlite_url(workdir), workdir=workdir, api_key="admin-key",
                       env={"ERRANDS_API_KEYS": keys}) as running:
        yield running


@pytest.fixture(scope="module")
def outside() -> Iterator[HttpServer]:
    with HttpServer() as site:
        site.route("/ok", json={"ok": True})
        site.route("/missing", status=404, json={"error": "nope"})
        site.route("/boom", status=500, json={"error": "boom"})
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
    directory = tmp_path_factory.mktemp("console2-shots")
    yield directory
    target = os.environ.get("CONSOLE_SHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for shot in directory.glob("*.png"):
            shutil.copy(shot, Path(target) / shot.name)


@pytest.fixture
def console(browser: Browser, server: ErrandsServer,
            shots: Path) -> Iterator[Callable[..., Console]]:
    opened: list[tuple[Any, Console]] = []

    def open_console(viewport: dict[str, int] | None = None, scheme: str = "light",
                     inject: bool = False) -> Console:
        # inject: axe-core is added as an inline script, which the console's CSP refuses
        context = browser.new_context(viewport=viewport or DESKTOP, color_scheme=scheme,  # type: ignore[arg-type]
                                      bypass_csp=inject,
                                      permissions=["clipboard-read", "clipboard-write"])
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


def failing(outside: HttpServer, title: str, path: str = "/missing",
            **extra: Any) -> dict[str, Any]:
    return api_task(outside.url_for(path), title, maxRetries=0, **extra)


def all_tasks(server: ErrandsServer, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = server.call("tasks.list", {**query, "limit": 200, "cursor": cursor})
        items.extend(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            return items


def sign_in(c: Console, role: str) -> None:
    c.page.goto(c.base + "/")
    c.page.get_by_label("API key").fill(KEYS[role])
    c.page.get_by_role("button", name="Sign in").click()
    expect(c.page.get_by_role("heading", name="Overview")).to_be_visible()


def test_bulk_retry_of_a_filters_failures_via_select_all_matching(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    outside.route("/flaky", status=503, json={"error": "down"})
    batch = [create(server, **failing(outside, f"flaky batch {n}", "/flaky")) for n in range(7)]
    other = create(server, **failing(outside, "flaky other"))
    for task in [*batch, other]:
        server.wait_for(task["id"], {"failed"})
    outside.route("/flaky", json={"ok": True})  # the outage is over
    c = console()
    c.sign_in("operator")
    c.go("/tasks?status=failed&q=flaky+batch")
    expect(c.page.locator("tbody tr[data-task-id]")).to_have_count(7)
    row = c.page.locator(f"tr[data-task-id='{batch[0]['id']}']")
    expect(row.locator(".task-error")).to_contain_text("503")  # why it failed, in the list
    c.page.get_by_role("button", name="Select all matching").click()
    expect(c.page.get_by_label("Selection")).to_contain_text("All 7 matching selected")
    c.page.get_by_role("button", name="Retry selected").click()
    dialog = c.page.get_by_role("dialog")
    expect(dialog).to_have_attribute("aria-modal", "true")
    expect(dialog).to_contain_text("Retry 7 tasks?")
    expect(dialog.get_by_role("button", name="Confirm")).to_be_focused()
    c.shoot("tasks-bulk-retry-confirm")
    dialog.get_by_role("button", name="Confirm").click()
    results = c.page.get_by_role("region", name="Bulk action results")
    expect(results.get_by_role("heading")).to_have_text("Retry: 7 of 7 retried")
    for task in batch:
        server.wait_for(task["id"], {"completed"})
    assert server.call("tasks.get", {"id": other["id"]})["status"] == "failed"  # not matching
    c.shoot("tasks-bulk-retry-done")


def test_cancel_selected_asks_first_and_reports_each_task(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    pending = [create(server, **api_task(outside.url_for("/ok"), f"cancel me {n}",
                                         executionType="manual")) for n in range(2)]
    c = console()
    c.sign_in("operator")
    c.go("/tasks?q=cancel+me")
    expect(c.page.locator("tbody tr[data-task-id]")).to_have_count(2)
    for task in pending:
        c.page.get_by_label(f"Select {task['title']}").check()
    c.page.get_by_role("button", name="Cancel selected").click()
    dialog = c.page.get_by_role("dialog")
    expect(dialog).to_contain_text("Cancel 2 tasks?")
    dialog.get_by_role("button", name="Go back").click()
    expect(c.page.get_by_role("dialog")).to_have_count(0)
    assert all(server.call("tasks.get", {"id": t["id"]})["status"] == "pending" for t in pending)
    c.page.get_by_role("button", name="Cancel selected").click()
    c.page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    expect(c.page.get_by_role("region", name="Bulk action results")).to_contain_text(
        "Cancel: 2 of 2 cancelled")
    assert all(server.call("tasks.get", {"id": t["id"]})["status"] == "cancelled"
               for t in pending)


def test_failure_groups_show_the_servers_counts_and_retry_in_two_clicks(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    outside.route("/gone/1234", status=404, json={"error": "gone"})
    outside.route("/gone/5678", status=404, json={"error": "gone"})
    made = [create(server, **failing(outside, f"gone {n}", f"/gone/{n}")) for n in (1234, 5678)]
    made += [create(server, **failing(outside, "boom", "/boom")) for _ in range(3)]
    for task in made:
        server.wait_for(task["id"], {"failed"})
    c = console()
    c.sign_in("operator")
    answer = server.call("tasks.failureGroups", None)
    groups = c.page.get_by_role("list", name="Failures by error")
    for group in answer["groups"][:6]:
        expect(groups.locator(f"li[data-group='{group['key']}'] .group-count")).to_have_text(
            str(group["count"]))
    c.shoot("overview-failure-groups")
    c.go("/tasks?status=failed")
    listed = c.page.get_by_role("list", name="Failures by error")
    for group in answer["groups"]:
        expect(listed.locator(f"li[data-group='{group['key']}'] .group-count")).to_have_text(
            str(group["count"]))
    (boom,) = [g for g in answer["groups"] if g["example"] and "500" in g["example"]]
    assert boom["count"] == 3
    outside.route("/boom", json={"ok": True})
    item = listed.locator(f"li[data-group='{boom['key']}']")
    item.get_by_role("button", name=re.compile("^Retry all")).click()  # click one
    c.page.get_by_role("dialog").get_by_role("button", name="Confirm").click()  # click two
    expect(c.page.get_by_role("region", name="Bulk action results").first).to_contain_text(
        "3 of 3 retried")
    for task in made[2:]:
        server.wait_for(task["id"], {"completed"})
    after = {g["key"] for g in server.call("tasks.failureGroups", None)["groups"]}
    assert boom["key"] not in after
    # "Show" lists the group's tasks
    gone_key = next(g["key"] for g in answer["groups"] if "/gone/" in (g["example"] or ""))
    show = listed.locator(f"li[data-group='{gone_key}']").get_by_role("link",
                                                                     name=re.compile("^Show"))
    show.click()
    expect(c.page).to_have_url(re.compile(f"group={gone_key}"))
    expect(c.page.locator("tbody tr[data-task-id]")).to_have_count(2)


def test_filters_live_in_the_url_and_survive_a_reload(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    create(server, **api_task(outside.url_for("/ok"), "walrus report", executionType="manual"))
    create(server, **api_task(outside.url_for("/ok"), "walrus other", executionType="manual",
                              taskType="api_call"))
    c = console()
    c.sign_in("viewer")
    c.go("/tasks")
    c.page.get_by_label("Status").select_option("pending")
    c.page.get_by_label("Type").select_option("api_call")
    c.page.get_by_label("Search").fill("walrus report")
    expect(c.page).to_have_url(re.compile(r"q=walrus\+report"))
    assert "status=pending" in c.page.url and "type=api_call" in c.page.url
    expect(c.page.locator("tbody tr[data-task-id]")).to_have_count(1)
    c.page.reload()
    expect(c.page.get_by_label("Status")).to_have_value("pending")
    expect(c.page.get_by_label("Type")).to_have_value("api_call")
    expect(c.page.get_by_label("Search")).to_have_value("walrus report")
    expect(c.page.locator("tbody tr[data-task-id]")).to_have_count(1)
    expect(c.page.locator("tbody tr[data-task-id]")).to_contain_text("walrus report")
    # a new filter never shows the old rows: the list empties until the new answer comes
    c.page.get_by_label("Status").select_option("completed")
    expect(c.page.locator("tbody tr[data-task-id]", has_text="walrus")).to_have_count(0)
    c.page.get_by_label("Stalled only").check()
    expect(c.page).to_have_url(re.compile("stalled=1"))


def test_dependencies_link_both_ways_with_a_graph(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    first = create(server, **api_task(outside.url_for("/ok"), "chain first",
                                      executionType="manual"))
    second = create(server, **api_task(outside.url_for("/ok"), "chain second",
                                       dependsOn=[first["id"]]))
    third = create(server, **api_task(outside.url_for("/ok"), "chain third",
                                      dependsOn=[second["id"]]))
    c = console()
    c.sign_in("viewer")
    c.go(f"/tasks/{second['id']}")
    expect(c.page.get_by_role("list", name="Depends on").get_by_role(
        "link", name="chain first")).to_be_visible()
    expect(c.page.get_by_role("list", name="Dependents").get_by_role(
        "link", name="chain third")).to_be_visible()
    graph = c.page.get_by_role("group", name="Dependency graph")
    expect(graph.locator("[data-node]")).to_have_count(3)
    c.shoot("task-dependencies")
    graph.locator(f"[data-node='{first['id']}']").click()
    expect(c.page.get_by_role("heading", name="chain first")).to_be_visible()
    expect(c.page.get_by_role("list", name="Dependents").get_by_role(
        "link", name="chain second")).to_be_visible()
    c.page.get_by_role("list", name="Dependents").get_by_role("link", name="chain second").click()
    c.page.get_by_role("list", name="Depends on").get_by_role("link", name="chain first").click()
    expect(c.page.get_by_role("heading", name="chain first")).to_be_visible()
    c.go(f"/tasks?dependsOn={first['id']}")
    expect(c.page.locator("tbody tr[data-task-id]")).to_have_count(1)
    assert third["id"]


def test_a_group_shows_its_subtasks_and_a_subtask_its_group(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    members = [api_task(outside.url_for("/ok"), f"member {n}") for n in range(3)]
    members.append(api_task(outside.url_for("/missing"), "member 3", maxRetries=0))
    group = server.call("tasks.createGroup", {"title": "console group", "policy": "all_settled",
                                              "subtasks": members}, mutation=True)
    server.wait_for(group["id"], {"completed"})
    c = console()
    c.sign_in("operator")
    c.go(f"/tasks/{group['id']}")
    section = c.page.get_by_role("region", name="Subtasks")
    expect(section).to_contain_text("4 subtasks: 3 completed, 1 failed, 0 cancelled")
    listed = section.get_by_role("list", name="Subtasks")
    expect(listed.get_by_role("listitem")).to_have_count(4)
    c.shoot("task-group")
    expect(c.page.get_by_role("button", name="Duplicate")).to_have_count(0)  # a group: no
    listed.get_by_role("link", name="member 3").click()
    expect(c.page.get_by_role("heading", name="member 3")).to_be_visible()
    expect(c.page.get_by_role("button", name="Duplicate")).to_be_visible()
    c.page.get_by_role("link", name="console group").click()
    expect(c.page.get_by_role("heading", name="console group")).to_be_visible()
    c.go("/tasks?type=group")
    expect(c.page.locator(f"tbody tr[data-task-id='{group['id']}']")).to_be_visible()


def test_review_queue_keys_and_config_summary(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    tasks = [create(server, **api_task(outside.url_for("/ok"), f"review key {n}",
                                       requiresHumanReview=True)) for n in range(2)]
    c = console()
    c.sign_in("reviewer")
    c.go("/review")
    item = c.page.locator(f"li[data-task-id='{tasks[0]['id']}']")
    expect(item.get_by_label("Config summary")).to_contain_text("/ok")
    c.page.locator("h1").click()
    current = c.page.locator("li.review-item.current")
    first_id = current.get_attribute("data-task-id")
    c.page.keyboard.press("j")
    expect(current).not_to_have_attribute("data-task-id", first_id or "")
    c.page.keyboard.press("k")
    expect(current).to_have_attribute("data-task-id", first_id or "")
    c.page.keyboard.press("a")
    if first_id in {t["id"] for t in tasks}:
        server.wait_for(first_id or "", {"completed"})
    else:  # an older task of this module was first
        expect(c.page.locator(f"li.review-item[data-task-id='{first_id}']")).to_have_count(0)


def test_an_unreachable_server_is_said_plainly(console: Callable[..., Console]) -> None:
    c = console()
    c.sign_in("viewer")
    c.allowed.extend(["ERR_FAILED", "Failed to load resource"])
    # (tasks.list may share a batched request with clients.list)
    c.page.route(re.compile(r"/trpc/[^?]*tasks\.list"), lambda route: route.abort())
    c.go("/tasks")
    alert = c.page.get_by_role("alert").first
    expect(alert).to_contain_text("not answering")
    expect(alert).not_to_contain_text("Failed to fetch")


def test_server_validation_messages_are_readable(console: Callable[..., Console],
                                                 outside: HttpServer) -> None:
    c = console()
    c.allowed.append("status of 400")  # the refusal, as the browser logs it
    c.sign_in("operator")
    c.go("/schedules")
    c.page.get_by_role("button", name="New schedule").click()
    form = c.page.get_by_role("form", name="New schedule")
    form.get_by_label("Title").fill("morning ping")
    form.get_by_label("Endpoint URL").fill(outside.url_for("/ok"))
    form.get_by_role("button", name="Create schedule").click()  # no name: the server refuses
    said = form.locator(".field-error").first
    expect(said).to_have_text("must not be empty")


PAGES = ["/", "/tasks", "/tasks?status=failed", "TASK", "/review", "/new", "/schedules",
         "/webhooks", "/reports", "/audit", "/clients", "/connections", "/triggers",
         "/rate-limits"]


def _seed_for_pages(server: ErrandsServer, outside: HttpServer) -> str:
    create(server, **api_task(outside.url_for("/ok"), "nightly export", tags=["export", "nightly"]))
    create(server, **api_task(outside.url_for("/ok"), "needs a look", requiresHumanReview=True))
    failed = create(server, **failing(outside, "sync contacts (404)", tags=["crm:contacts"],
                                      deadline=(datetime.now(UTC) + timedelta(days=2)).isoformat()))
    server.wait_for(failed["id"], {"failed"})
    after = create(server, **api_task(outside.url_for("/ok"), "after the sync",
                                      dependsOn=[failed["id"]]))
    if not server.call("schedules.list", {}):
        server.call("schedules.create", {"name": "Weekday ping", "cron": "0 9 * * 1-5",
                                         "timezone": "Europe/Paris",
                                         "task": api_task(outside.url_for("/ok"), "ping")},
                    mutation=True)
    if not server.call("triggers.list"):
        server.call("triggers.create", {"name": "Lead form", "template": api_task(
            outside.url_for("/ok"), "Lead {{event.name}}", executionType="manual")},
            mutation=True)
    assert after["id"]
    return str(failed["id"])


def _path(page: str, task_id: str) -> str:
    return f"/tasks/{task_id}" if page == "TASK" else page


def _settle(c: Console) -> None:
    expect(c.page.locator(".spinner")).to_have_count(0, timeout=20_000)
    c.page.wait_for_timeout(200)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_on_every_page(console: Callable[..., Console], server: ErrandsServer,
                                         outside: HttpServer, scheme: str) -> None:
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed at {AXE}: npm ci in tests/js")
    task_id = _seed_for_pages(server, outside)
    found: list[str] = []
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        c = console(viewport, scheme, True)
        c.page.goto(c.base + "/")
        expect(c.page.get_by_label("API key")).to_be_visible()
        _axe(c.page, f"login ({scheme}, {size})")
        c.shoot(f"{scheme}-{size}-login")
        sign_in(c, "admin")
        for page in PAGES:
            c.go(_path(page, task_id))
            expect(c.page.locator("h1").first).to_be_visible()
            _settle(c)
            _axe(c.page, f"{page} ({scheme}, {size})", found)
            name = re.sub(r"[/?=]", "-", page.strip("/")) or "overview"
            c.shoot(f"{scheme}-{size}-{name.lower()}")
        # the open dialog too
        c.go("/tasks?status=failed")
        _settle(c)
        c.page.get_by_role("button", name="Select all matching").click()
        expect(c.page.get_by_role("button", name="Retry selected")).to_be_enabled()
        c.page.get_by_role("button", name="Retry selected").click()
        expect(c.page.get_by_role("dialog")).to_be_visible()
        _axe(c.page, f"confirm dialog ({scheme}, {size})", found)
        c.shoot(f"{scheme}-{size}-confirm", full_page=False)
        c.page.keyboard.press("Escape")
    assert found == [], "\n".join(found)


def _axe(page: Page, where: str, found_all: list[str] | None = None) -> None:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(
                (n) => n.target.join(' ') + ' :: ' + n.failureSummary)}));
    }""")
    if found_all is not None and found:
        found_all.append(f"axe on {where}:\n{json.dumps(found, indent=1)}")
        return
    assert found == [], f"axe on {where}:\n{json.dumps(found, indent=1)}"


def test_a_phone_has_no_horizontal_scroll_and_a_menu(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    task_id = _seed_for_pages(server, outside)
    for viewport in (PHONE, {"width": 820, "height": 1180}):
        c = console(viewport)
        c.page.goto(c.base + "/")
        _no_sideways(c.page, "login")
        sign_in(c, "admin")
        menu = c.page.get_by_role("button", name="Menu")
        expect(menu).to_be_visible()
        expect(c.page.get_by_role("navigation", name="Main")).to_be_hidden()
        menu.click()
        nav = c.page.get_by_role("navigation", name="Main")
        nav.get_by_role("link", name="Tasks").click()
        expect(c.page.get_by_role("heading", name="Tasks")).to_be_visible()
        expect(nav).to_be_hidden()  # the menu closes on navigation
        for page in PAGES:
            c.go(_path(page, task_id))
            expect(c.page.locator("h1").first).to_be_visible()
            _settle(c)
            _no_sideways(c.page, f"{page} at {viewport['width']} px")


def _no_sideways(page: Page, where: str) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth,"
                           " document.body.scrollWidth]")
    assert widths[0] <= widths[1] and widths[2] <= widths[1], f"{where}: {widths}"


def test_clients_and_connections_pages(console: Callable[..., Console],
                                       server: ErrandsServer) -> None:
    c = console()
    c.sign_in("admin")
    c.page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients").click()
    c.page.get_by_role("button", name="New client").click()
    form = c.page.get_by_role("form", name="New client")
    form.get_by_label("Name").fill("Acme Dental")
    form.get_by_role("button", name="Create client").click()
    row = c.page.locator("tr", has_text="Acme Dental")
    expect(row).to_contain_text("acme-dental")
    (made,) = [x for x in server.call("clients.list", {})["items"] if x["name"] == "Acme Dental"]
    row.get_by_role("link", name="Acme Dental").click()
    expect(c.page).to_have_url(re.compile(f"client={made['id']}"))
    expect(c.page.get_by_label("Client")).to_have_value(made["id"])

    c.page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    c.page.get_by_role("button", name="New connection").click()
    form = c.page.get_by_role("form", name="New connection")
    form.get_by_label("Name").fill("crm-token")
    form.get_by_label("token").fill("tok-very-secret-1")
    form.get_by_role("button", name="Create connection").click()
    row = c.page.locator("tr", has_text="crm-token")
    expect(row).to_contain_text("hidden")
    row.get_by_role("button", name="Rotate").click()
    c.page.get_by_role("form", name="Rotate crm-token").get_by_label("token").fill("tok-2")
    c.page.get_by_role("button", name="Save new values").click()
    expect(c.page.get_by_role("status").first).to_contain_text("version 2")
    assert "tok-very-secret-1" not in c.page.content() and "tok-2" not in c.page.content()
    (con,) = [x for x in server.call("connections.list", {}) if x["name"] == "crm-token"]
    assert con["version"] == 2 and con["values"]["token"] == "********"


# --- issue 28, remaining parts: duplicate, edit and retry, reassign, tags, triggers ----------

def test_duplicate_opens_a_new_task_with_duplicate_of(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    deadline = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    original = create(server, **api_task(outside.url_for("/ok"), "duplicate me",
                                         executionType="manual", tags=["dup-a", "dup-b"],
                                         deadline=deadline.isoformat()))
    c = console()
    c.sign_in("operator")
    c.go(f"/tasks/{original['id']}")
    fields = c.page.get_by_role("region", name="Fields")
    expect(fields.locator(".tag")).to_have_count(2)
    expect(fields.locator(".field-row", has_text="Deadline").locator("time")).to_have_attribute(
        "datetime", re.compile(deadline.strftime("%Y-%m-%dT%H:%M")))
    c.page.get_by_role("button", name="Duplicate", exact=True).click()
    expect(c.page).not_to_have_url(re.compile(original["id"]))
    expect(c.page.get_by_role("heading", name="duplicate me")).to_be_visible()
    new_id = c.page.url.rsplit("/", 1)[1]
    copy = server.call("tasks.get", {"id": new_id})
    assert copy["id"] != original["id"]
    assert copy["metadata"]["duplicateOf"] == original["id"]
    assert copy["tags"] == original["tags"] and copy["title"] == "duplicate me"
    assert copy["executionConfig"] == original["executionConfig"]
    duplicate_of = c.page.get_by_role("region", name="Fields").locator(
        ".field-row", has_text="Duplicate of")
    expect(duplicate_of.get_by_role("link", name=original["id"])).to_be_visible()
    # Reassign to a person, then filter the list by that person
    c.page.get_by_label("Assignee").fill("Maria Dupont")
    c.page.get_by_role("button", name="Reassign").click()
    expect(c.page.get_by_role("region", name="Fields").locator(
        ".field-row", has_text="Assignee")).to_contain_text("Maria Dupont")
    moved = server.call("tasks.get", {"id": new_id})
    assert (moved["assignee"], moved["assignedToBot"]) == ("Maria Dupont", False)
    c.shoot("task-duplicated-and-reassigned")
    c.go("/tasks")
    c.page.get_by_label("Assignee").fill("Maria Dupont")
    expect(c.page).to_have_url(re.compile(r"assignee=Maria\+Dupont"))
    expect(c.page.locator("tbody tr[data-task-id]")).to_have_count(1)
    expect(c.page.locator(f"tr[data-task-id='{new_id}']")).to_contain_text("with Maria Dupont")
    # a viewer may not duplicate
    v = console()
    v.sign_in("viewer")
    v.go(f"/tasks/{original['id']}")
    expect(v.page.get_by_role("heading", name="duplicate me")).to_be_visible()
    expect(v.page.get_by_role("button", name="Duplicate")).to_have_count(0)


def test_edit_and_retry_reruns_a_failed_task_with_the_change(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    task = create(server, **failing(outside, "retry me with a fix"))
    server.wait_for(task["id"], {"failed"})
    c = console()
    c.allowed.append("status of 400")  # the refused first try, as the browser logs it
    c.sign_in("operator")
    c.go(f"/tasks/{task['id']}")
    c.page.get_by_role("button", name="Edit and retry").click()
    form = c.page.get_by_role("form", name="Edit, then retry")
    expect(form.get_by_label("apiEndpoint")).to_have_value(outside.url_for("/missing"))
    form.get_by_label("apiEndpoint").fill("not a url")
    form.get_by_role("button", name="Save and retry").click()
    field_error = form.locator(
        ".field[data-path='patch.executionConfig.apiEndpoint'] .field-error")
    expect(field_error).to_contain_text("http or https URL")
    assert server.call("tasks.get", {"id": task["id"]})["status"] == "failed"  # refused
    c.shoot("task-edit-and-retry-field-error")
    form.get_by_label("apiEndpoint").fill(outside.url_for("/ok"))
    form.get_by_label("Tags").fill("fixed, by-hand")
    form.get_by_role("button", name="Save and retry").click()
    expect(form).to_have_count(0)
    expect(c.page.locator(".page-header .badge").first).to_have_text("completed", timeout=30_000)
    done = server.wait_for(task["id"], {"completed"})
    assert done["tags"] == ["fixed", "by-hand"]
    attempts = server.call("tasks.executions", {"taskId": task["id"]})
    assert [a["status"] for a in attempts] == ["failed", "success"]
    assert attempts[1]["input"]["apiEndpoint"] == outside.url_for("/ok")
    expect(c.page.get_by_role("region", name="Audit trail")).to_contain_text("tasks.retry")
    c.shoot("task-edit-and-retry-done")


def test_tags_filter_lives_in_the_url_and_survives_a_reload(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    both = create(server, **api_task(outside.url_for("/ok"), "tagged twice",
                                     executionType="manual", tags=["walrus-vip", "q9"]))
    create(server, **api_task(outside.url_for("/ok"), "tagged once", executionType="manual",
                              tags=["walrus-vip"]))
    c = console()
    c.sign_in("viewer")
    c.go("/tasks")
    c.page.get_by_label("Tags").fill("walrus-vip, q9")
    expect(c.page).to_have_url(re.compile(r"tags=walrus-vip%2Cq9"))
    rows = c.page.locator("tbody tr[data-task-id]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-task-id", both["id"])
    expect(rows.first.locator(".tag", has_text="q9")).to_have_count(1)
    c.page.reload()
    expect(c.page.get_by_label("Tags")).to_have_value("walrus-vip, q9")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("tagged twice")
    c.shoot("tasks-tags-filter")
    # a tag on a row is a link to the list filtered by that tag
    rows.first.get_by_role("link", name="walrus-vip").click()
    expect(c.page).to_have_url(re.compile(r"tags=walrus-vip$"))
    expect(c.page.get_by_label("Tags")).to_have_value("walrus-vip")
    expect(rows).to_have_count(2)


def test_triggers_page_creates_a_trigger_and_shows_its_secret_once(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    c = console()
    c.sign_in("operator")
    c.page.get_by_role("navigation", name="Main").get_by_role("link", name="Triggers").click()
    expect(c.page.get_by_role("heading", name="Triggers", exact=True)).to_be_visible()
    c.page.get_by_role("button", name="New trigger").click()
    form = c.page.get_by_role("form", name="New trigger")
    form.get_by_label("Name", exact=True).fill("web signup")
    template = api_task(outside.url_for("/ok"), "Signup {{event.name}}", executionType="manual")
    form.get_by_label("Task template (JSON)").fill(json.dumps(template))
    form.get_by_role("button", name="Create trigger").click()
    shown = c.page.get_by_label("Signing secret", exact=True)
    expect(shown).to_contain_text("whsec_")
    secret = shown.inner_text().strip()
    (made,) = [t for t in server.call("triggers.list") if t["name"] == "web signup"]
    assert "secret" not in made
    row = c.page.locator(f"tr[data-trigger-id='{made['id']}']")
    expect(row).to_contain_text(made["url"])
    expect(row.locator(".badge")).to_have_text("enabled")
    once = c.page.get_by_role("region", name="Signing secret, shown once")
    once.get_by_role("button", name="Copy").first.click()
    assert c.page.evaluate("() => navigator.clipboard.readText()") == secret
    c.shoot("triggers-secret-once")
    c.page.get_by_role("button", name="I have copied it").click()
    expect(c.page.get_by_label("Signing secret", exact=True)).to_have_count(0)
    assert secret not in c.page.content()
    # a signed call creates a task; the trigger's deliveries show it
    answer = send(server, {**made, "secret": secret}, {"name": "Ada"}, msg_id="msg_console")
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["taskId"]
    c.page.reload()
    expect(row.locator("time")).to_have_count(1)  # last received
    assert secret not in c.page.content()  # never again
    row.get_by_role("button", name=re.compile("^Deliveries")).click()
    deliveries = c.page.get_by_role("region", name="Deliveries of web signup")
    expect(deliveries).to_contain_text("202")
    c.shoot("triggers-deliveries")
    deliveries.get_by_role("link", name=task_id).click()
    expect(c.page.get_by_role("heading", name="Signup Ada")).to_be_visible()
    # rotating shows a new secret once; the old one stops working
    c.go("/triggers")
    row.get_by_role("button", name=re.compile("^Rotate secret")).click()
    c.page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    rotated = c.page.get_by_label("Signing secret", exact=True)
    expect(rotated).to_contain_text("whsec_")
    assert rotated.inner_text().strip() != secret
    refused = send(server, {**made, "secret": secret}, {"name": "Eve"}, msg_id="msg_old")
    assert refused.status_code == 401


def test_a_reviewer_sends_an_approval_link_from_the_task_page(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    task = create(server, **api_task(outside.url_for("/ok"), "approve by link",
                                     requiresHumanReview=True))
    c = console()
    c.sign_in("reviewer")
    c.go(f"/tasks/{task['id']}")
    c.page.get_by_text("Send an approval link").click()
    create_button = c.page.get_by_role("button", name="Create approval link")
    expect(create_button).to_be_disabled()  # a link names its reviewer
    c.page.get_by_label("Reviewer's name").fill("Client Ann")
    c.page.get_by_label("Valid for").select_option(label="1 hour")
    create_button.click()
    made = c.page.locator(".approval-link-made")
    expect(made).to_contain_text("Client Ann")
    url = made.locator("code").inner_text()
    assert "/approve/" in url or url.startswith("http"), url
    made.get_by_role("button", name="Copy").click()
    assert c.page.evaluate("navigator.clipboard.readText()") == url
    c.shoot("task-approval-link")
    # the link decides: a fresh page, no key
    outsider = console()
    outsider.page.goto(url)
    outsider.page.get_by_role("button", name="Approve").click()
    done = server.wait_for(task["id"], {"completed"})
    assert done["reviewedBy"] == "Client Ann"
    # a viewer sees no such control
    v = console()
    v.sign_in("viewer")
    other = create(server, **api_task(outside.url_for("/ok"), "viewer sees no link",
                                      requiresHumanReview=True))
    v.go(f"/tasks/{other['id']}")
    expect(v.page.get_by_role("heading", name="viewer sees no link")).to_be_visible()
    expect(v.page.get_by_text("Send an approval link")).to_have_count(0)


# --- issue 28: the rate limits page (CONTRACT §15) -------------------------------------------

def test_rate_limits_page_an_admin_sets_and_deletes_a_viewer_reads(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    """An admin creates a limit ("New rate limit") and deletes one after the confirmation
    dialog; a task over its limit waits queued and its page says why and shows its flow fields;
    a viewer sees the list without the controls; axe finds nothing in light and dark, and a
    390 px phone does not scroll sideways."""
    server.call("rateLimits.set", {"key": "crm:old", "limit": 5, "periodSeconds": 60},
                mutation=True)
    c = console()
    c.sign_in("admin")
    c.page.get_by_role("navigation", name="Main").get_by_role("link", name="Rate limits").click()
    expect(c.page.get_by_role("heading", name="Rate limits", exact=True)).to_be_visible()
    expect(c.page.locator("tr[data-rate-limit='crm:old']")).to_contain_text("5 per 1 min")
    c.page.get_by_role("button", name="New rate limit").click()
    form = c.page.get_by_role("form", name="New rate limit")
    form.get_by_label("Key").fill("crm:acme")
    form.get_by_label("Limit (starts)").fill("1")
    form.get_by_label("Period (seconds)").fill("3600")
    form.get_by_role("button", name="Create limit").click()
    expect(c.page.get_by_role("status").first).to_contain_text("crm:acme: at most 1 starts")
    row = c.page.locator("tr[data-rate-limit='crm:acme']")
    expect(row).to_contain_text("1 per 1 h")
    assert [(r["key"], r["limit"], r["periodSeconds"]) for r in
            server.call("rateLimits.list", {})] == [("crm:acme", 1, 3600), ("crm:old", 5, 60)]

    # the second task of crm:acme waits for the window; its page says so
    first, second = (create(server, **api_task(
        outside.url_for("/ok"), f"limited {n}", rateLimitKey="crm:acme", concurrencyKey="acct:1",
        concurrencyLimit=3, retryPolicy={"baseSeconds": 2, "factor": 3})) for n in (1, 2))
    server.wait_for(first["id"], {"completed"})
    c.go(f"/tasks/{second['id']}")
    expect(c.page.locator(".status-reason")).to_have_text("rate limited (crm:acme)")
    fields = c.page.locator("dl.fields")
    expect(fields).to_contain_text("Rate limit key")
    expect(fields).to_contain_text("acct:1, at most 3 at once")
    expect(fields).to_contain_text("base 2 s, factor 3")
    c.shoot("rate-limits-task-waiting")
    fields.get_by_role("link", name="crm:acme").click()
    queued = c.page.locator("tr[data-rate-limit='crm:acme'] td[data-label='Queued']")
    expect(queued).to_have_text("1")
    c.shoot("rate-limits-admin")

    c.page.get_by_role("button", name="Delete crm:old").click()
    dialog = c.page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete the limit of crm:old?")
    expect(dialog.get_by_role("button", name="Confirm")).to_be_focused()
    c.shoot("rate-limits-delete-confirm", full_page=False)
    dialog.get_by_role("button", name="Confirm").click()
    expect(c.page.locator("tr[data-rate-limit='crm:old']")).to_have_count(0)
    assert [r["key"] for r in server.call("rateLimits.list", {})] == ["crm:acme"]

    v = console()
    v.sign_in("viewer")
    v.go("/rate-limits")
    expect(v.page.locator("tr[data-rate-limit='crm:acme']")).to_contain_text("1 per 1 h")
    expect(v.page.get_by_role("button", name="New rate limit")).to_have_count(0)
    expect(v.page.get_by_role("button", name="Delete crm:acme")).to_have_count(0)

    for scheme in ("light", "dark"):
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            a = console(viewport, scheme, True)
            sign_in(a, "admin")
            a.go("/rate-limits")
            expect(a.page.locator("tr[data-rate-limit='crm:acme']")).to_be_visible()
            _settle(a)
            _axe(a.page, f"/rate-limits ({scheme}, {size})")
            if size == "phone":
                _no_sideways(a.page, f"/rate-limits ({scheme}) at 390 px")
            a.page.get_by_role("button", name="New rate limit").click()
            _axe(a.page, f"/rate-limits with the form ({scheme}, {size})")
            if size == "phone":
                _no_sideways(a.page, f"/rate-limits with the form ({scheme}) at 390 px")
            a.shoot(f"rate-limits-{scheme}-{size}")
    server.call("rateLimits.delete", {"key": "crm:acme"}, mutation=True)  # the rest may run


def test_a_long_review_queue_shows_the_oldest_first_and_more_on_demand(
        console: Callable[..., Console], server: ErrandsServer, outside: HttpServer) -> None:
    """More than a page waiting: the first 100 are the oldest (tasks.list order "oldest"),
    "Show the next 100" adds the rest. Last in this module: it fills the queue, then empties
    what it filled."""
    made = [create(server, **api_task(outside.url_for("/ok"), f"long queue {n}",
                                      requiresHumanReview=True))["id"] for n in range(105)]
    oldest: list[str] = []
    cursor = None
    while True:
        page = server.call("tasks.list", {"status": "awaiting_review", "order": "oldest",
                                          "limit": 200, "cursor": cursor})
        oldest += [t["id"] for t in page["items"]]
        if not (cursor := page["nextCursor"]):
            break
    try:
        c = console()
        c.sign_in("reviewer")
        c.go("/review")
        items = c.page.locator("li.review-item")
        expect(items).to_have_count(100)
        assert items.evaluate_all("xs => xs.map(x => x.dataset.taskId)") == oldest[:100]
        c.page.get_by_role("button", name="Show the next 100").click()
        expect(items).to_have_count(len(oldest))
        assert items.evaluate_all("xs => xs.map(x => x.dataset.taskId)") == oldest
        assert made[-1] == oldest[-1]
        expect(c.page.get_by_role("button", name="Show the next 100")).to_have_count(0)
    finally:
        server.call("tasks.cancelMany", {"ids": made}, mutation=True)
