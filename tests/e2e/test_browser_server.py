"""Browser automation and data extraction through the running server and a real Chromium."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.support.pages import serve_pages
from tests.support.server import ErrandsServer

pytestmark = pytest.mark.browser


def test_form_flow_with_steps_screenshots_and_artifacts(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url, api_key="k",
                            env={"ERRANDS_API_KEYS": "me:admin:k"})
    with serve_pages() as site:
        task = server.call("tasks.create", {
            "title": "sign up", "taskType": "browser_automation",
            "executionConfig": {"startUrl": site.url("/form"), "recordTrace": True, "steps": [
                {"action": "type", "selector": "#name", "text": "Ada"},
                {"action": "click", "selector": "#next"},
                {"action": "type", "selector": "#email", "text": "ada@example.com"},
                {"action": "click", "selector": "#submit"},
                {"action": "wait", "selector": "#result"},
                {"action": "extract", "name": "thanks", "selector": "#result"},
                {"action": "screenshot", "name": "done"},
            ]}}, mutation=True)
        done = server.wait_for(task["id"], {"completed", "failed"}, timeout=60)
    assert done["status"] == "completed", done["lastError"]
    assert "Ada" in done["result"]["extracted"]["thanks"]
    (attempt,) = server.call("tasks.executions", {"taskId": task["id"]})
    assert [s["action"] for s in attempt["steps"]] == [
        "navigate", "type", "click", "type", "click", "wait", "extract", "screenshot"]
    assert all(s["status"] == "success" for s in attempt["steps"])
    assert attempt["browserSessionId"]
    kinds = {a["kind"] for a in attempt["artifacts"]}
    assert kinds == {"screenshot", "trace"}
    shot = next(a for a in attempt["artifacts"] if a["kind"] == "screenshot")
    denied = httpx.get(server.base + shot["url"])
    assert denied.status_code == 401
    got = httpx.get(server.base + shot["url"], headers=server.headers())
    assert got.status_code == 200 and got.content.startswith(b"\x89PNG")
    assert got.headers["content-type"].startswith("image/png")


def test_failing_selector_records_the_step_and_a_failure_screenshot(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url)
    with serve_pages() as site:
        task = server.call("tasks.create", {
            "title": "broken", "taskType": "browser_automation", "maxRetries": 0,
            "executionConfig": {"startUrl": site.url("/form"), "stepTimeoutMs": 800, "steps": [
                {"action": "click", "selector": "#does-not-exist"}]}}, mutation=True)
        done = server.wait_for(task["id"], {"completed", "failed"}, timeout=60)
    assert done["status"] == "failed"
    assert "#does-not-exist" in done["lastError"]
    (attempt,) = server.call("tasks.executions", {"taskId": task["id"]})
    assert attempt["steps"][-1]["status"] == "failed"
    assert any(a["name"] == "failure" for a in attempt["artifacts"])


def test_extraction_of_script_rendered_content(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url)
    with serve_pages() as site:
        task = server.call("tasks.create", {
            "title": "prices", "taskType": "data_extraction",
            "executionConfig": {"url": site.url("/delayed?ms=300"), "waitFor": ".late",
                                "schema": {"baseSelector": ".late", "fields": [
                                    {"name": "name", "selector": ".name"},
                                    {"name": "price", "selector": ".price",
                                     "type": "number"}]}}}, mutation=True)
        done = server.wait_for(task["id"], {"completed", "failed"}, timeout=60)
    assert done["status"] == "completed", done["lastError"]
    assert done["result"]["data"] == [{"name": "Alpha", "price": 10.5},
                                      {"name": "Beta", "price": 20.0}]
    assert done["result"]["count"] == 2


def test_invalid_extraction_schema_is_refused_at_create(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url)
    resp = server.client.post(f"{server.url}/tasks.create", json={
        "title": "bad", "taskType": "data_extraction",
        "executionConfig": {"url": "https://example.com", "schema": {"fields": [
            {"name": "link", "selector": "a", "type": "attribute"}]}}})
    body = resp.json()
    assert resp.status_code == 400
    paths = [i["path"] for i in body["error"]["data"]["issues"]]
    assert ["executionConfig", "schema", "fields", 0, "attribute"] in paths


def test_the_guard_keeps_the_servers_browser_off_private_addresses(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    # The guard as deployed: its proxy inside the running server's event loop.
    server = errands_server(sqlite_database_url, env={"ALLOW_PRIVATE_NETWORK": "false"})
    with serve_pages() as site:
        task = server.call("tasks.create", {
            "title": "internal", "taskType": "browser_automation", "maxRetries": 0,
            "executionConfig": {"startUrl": site.url("/secret"), "steps": [
                {"action": "extract", "name": "secret", "selector": "#secret"}]}},
            mutation=True)
        done = server.wait_for(task["id"], {"completed", "failed"}, timeout=60)
    assert done["status"] == "failed"
    (attempt,) = server.call("tasks.executions", {"taskId": task["id"]})
    assert attempt["errorType"] == "blocked_destination"
    assert "127.0.0.1" in attempt["error"]
    assert site.hits == []
