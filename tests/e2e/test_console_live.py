"""The console's progress bar and live view of a running browser task (CONTRACT §17, issue 28)
in a real Chromium, against the running server whose own Chromium runs the task: the task
page shows "Step n of m — <step>" and a "Live view" link while the attempt runs; the
``/live/<executionId>`` page shows the step and a frame that changes, in light and dark, on a
390 px phone without sideways scroll, with axe-core finding nothing; once the attempt ends the
page says so. Every test fails on a console error."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import test_console_recovery as recovery
from tests.e2e.test_console import Console
from tests.e2e.test_console_recovery import AXE, PHONE, _axe, _no_sideways, sign_in
from tests.support.pages import serve_pages
from tests.support.server import ErrandsServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser

# The second console pass's fixtures: a server of its own for this module, Chromium, and a
# console page per (viewport, scheme, axe-ready) that fails the test on a console error.
browser = recovery.browser
console = recovery.console
server = recovery.server
shots = recovery.shots


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

        c = console(None, "light", True)
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

        dark = console(PHONE, "dark", True)
        dark.allowed.append("412 (Precondition Failed)")
        sign_in(dark, "viewer")
        dark.go(f"/live/{attempt['id']}")
        _frame_id(dark.page)
        _no_sideways(dark.page, "the live view on a phone")
        _axe(dark.page, "the live view (dark, phone)")
        dark.shoot("live-dark-phone")
        # the task list says how far a running task is
        dark.go("/tasks?status=in_progress")
        row = dark.page.locator(f'[data-task-id="{task["id"]}"]')
        expect(row.locator(".task-progress")).to_have_text(re.compile(r"^step [1-5] of 5$"))

        done = server.wait_for(task["id"], {"completed", "failed"}, timeout=60)
    assert done["status"] == "completed", done["lastError"]
    expect(c.page.get_by_text("The attempt has ended")).to_be_visible()
    c.page.get_by_role("link", name="See the task").click()
    expect(c.page.get_by_role("heading", name="watch me")).to_be_visible()
    expect(c.page.get_by_role("progressbar")).to_have_count(0)
    expect(c.page.get_by_role("link", name="Live view")).to_have_count(0)
