"""Trust (CONTRACT §13) through the running server, on SQLite and PostgreSQL: an approval
covers what was approved, input limits, console headers and subscription tokens.

The four-eyes table (REVIEW_SEPARATION) runs in process: tests/integration/test_four_eyes.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.support.databases import sqlite_url
from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer, TRPCCallError

KEYS = ("admin:admin:admin-key,op:operator:op-key,op2:operator:op2-key,"
        "rev:reviewer:rev-key,rev2:reviewer:rev2-key,view:viewer:view-key")
OP = {"authorization": "Bearer op-key"}
OP2 = {"authorization": "Bearer op2-key"}
REV = {"authorization": "Bearer rev-key"}
REV2 = {"authorization": "Bearer rev2-key"}
VIEW = {"authorization": "Bearer view-key"}
LATER = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def outside() -> Iterator[HttpServer]:
    with HttpServer() as server:
        server.route("/approved", json={"ok": "approved"})
        server.route("/other", json={"ok": "other"})
        yield server


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandsServer]:
    from tests.support.databases import create_postgres_database, drop_postgres_database

    workdir: Path = tmp_path_factory.mktemp("trust")
    name = None
    if request.param == "sqlite":
        url = sqlite_url(workdir)
    else:
        url, name = create_postgres_database()
    running = ErrandsServer(database_url=url, workdir=workdir, api_key="admin-key",
                            env={"ERRANDS_API_KEYS": KEYS, "REVIEW_REQUIRED_TYPES": "api_call",
                                 "MAX_BROWSER_STEPS": "5", "MAX_CONFIG_BYTES": "2048"})
    running.start()
    try:
        yield running
    finally:
        running.stop()
        running.client.close()
        if name is not None:
            drop_postgres_database(name)


def error_of(fn: Callable[[], Any]) -> TRPCCallError:
    with pytest.raises(TRPCCallError) as info:
        fn()
    return info.value


def create(server: ErrandsServer, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
    found: dict[str, Any] = server.call("tasks.create", data, mutation=True, **kw)
    return found


def update(server: ErrandsServer, task_id: str, patch: dict[str, Any],
           headers: dict[str, str] = OP) -> dict[str, Any]:
    found: dict[str, Any] = server.call("tasks.update", {"id": task_id, "patch": patch},
                                        mutation=True, headers=headers)
    return found


def approve(server: ErrandsServer, task_id: str, headers: dict[str, str] = REV
            ) -> dict[str, Any]:
    found: dict[str, Any] = server.call("tasks.approve", {"id": task_id}, mutation=True,
                                        headers=headers)
    return found


def api(url: str, **extra: Any) -> dict[str, Any]:
    return {"title": "call", "taskType": "api_call", "maxRetries": 0,
            "executionConfig": {"apiEndpoint": url}, **extra}


# --- an approval covers what was approved ---------------------------------------------------

def test_changing_an_approved_scheduled_task_withdraws_its_approval(
        server: ErrandsServer, outside: HttpServer) -> None:
    task = create(server, api(outside.url_for("/approved"), scheduledFor=LATER), headers=OP)
    assert task["status"] == "awaiting_review"
    approved = approve(server, task["id"])
    assert (approved["status"], approved["reviewedBy"]) == ("scheduled", "rev")

    edited = update(server, task["id"], {"executionConfig": {
        "apiEndpoint": outside.url_for("/other")}, "title": "renamed"})
    assert edited["status"] == "awaiting_review"
    assert (edited["reviewedBy"], edited["reviewedAt"]) == (None, None)
    assert edited["statusReason"] == "approval withdrawn: executionConfig changed"
    assert edited["configChangedBy"] == "op"
    (entry,) = server.call("audit.list", {"targetId": task["id"],
                                          "action": "tasks.update"})["items"]
    assert entry["detail"]["approvalWithdrawn"] == ["executionConfig"]
    assert entry["detail"]["reason"] == "approval withdrawn: executionConfig changed"
    # Nothing runs on the old approval: executing it is refused until someone approves again.
    refused = error_of(lambda: server.call("tasks.execute", {"id": task["id"]}, mutation=True))
    assert refused.code == "PRECONDITION_FAILED"

    # Each covered field withdraws it; the reason names them all.
    for patch, named in (({"scheduledFor": "2099-01-01T00:00:00Z"}, "scheduledFor"),
                         ({"timeoutSeconds": 7, "maxRetries": 2},
                          "timeoutSeconds, maxRetries")):
        again = approve(server, task["id"])
        assert again["status"] == "scheduled"
        edited = update(server, task["id"], patch)
        assert edited["status"] == "awaiting_review"
        assert edited["statusReason"] == f"approval withdrawn: {named} changed"


def test_edits_outside_what_was_approved_keep_the_approval(
        server: ErrandsServer, outside: HttpServer) -> None:
    task = create(server, api(outside.url_for("/approved"), scheduledFor=LATER), headers=OP)
    approve(server, task["id"])
    kept = update(server, task["id"], {"title": "t2", "description": "d", "priority": "high",
                                       "metadata": {"a": 1}})
    assert (kept["status"], kept["reviewedBy"]) == ("scheduled", "rev")
    # The same config sent back (secrets masked) changes nothing either.
    kept = update(server, task["id"], {"executionConfig": kept["executionConfig"]})
    assert (kept["status"], kept["reviewedBy"], kept["configChangedBy"]) == (
        "scheduled", "rev", None)


def test_a_task_waiting_on_a_dependency_loses_its_approval_when_edited(
        server: ErrandsServer, outside: HttpServer) -> None:
    dep = create(server, {"title": "by hand", "taskType": "report_generation",
                          "executionType": "manual",
                          "executionConfig": {"reportType": "task_summary"}})
    assert dep["status"] == "pending"
    task = create(server, api(outside.url_for("/approved"), dependsOn=[dep["id"]]), headers=OP)
    assert approve(server, task["id"])["status"] == "scheduled"
    edited = update(server, task["id"], {"executionConfig": {
        "apiEndpoint": outside.url_for("/other")}})
    assert edited["status"] == "awaiting_review"
    before = len(outside.requests_to("/other"))
    server.call("tasks.complete", {"id": dep["id"]}, mutation=True)
    time.sleep(1)  # the dependency's end would release an approved dependent at once
    still = server.call("tasks.get", {"id": task["id"]})
    assert still["status"] == "awaiting_review"
    assert len(outside.requests_to("/other")) == before
    assert server.call("tasks.executions", {"taskId": task["id"]}) == []
    # approved again by another reviewer: it runs the new config, triggered by the approval
    approve(server, task["id"], REV2)
    done = server.wait_for(task["id"], {"completed", "failed"})
    assert done["status"] == "completed" and done["result"]["body"] == {"ok": "other"}
    (attempt,) = server.call("tasks.executions", {"taskId": task["id"]})
    assert attempt["triggeredBy"] == "approval"


def test_depends_on_can_be_patched_and_withdraws_the_approval(
        server: ErrandsServer, outside: HttpServer) -> None:
    manual = {"taskType": "report_generation", "executionType": "manual",
              "executionConfig": {"reportType": "task_summary"}}
    first = create(server, {"title": "first", **manual})
    second = create(server, {"title": "second", **manual})
    task = create(server, api(outside.url_for("/approved"), dependsOn=[first["id"]]),
                  headers=OP)
    approve(server, task["id"])
    edited = update(server, task["id"], {"dependsOn": [second["id"]]})
    assert edited["dependsOn"] == [second["id"]]
    assert edited["statusReason"] == "approval withdrawn: dependsOn changed"
    # the new dependency is the one that counts now
    server.call("tasks.complete", {"id": first["id"]}, mutation=True)
    approve(server, task["id"])
    assert server.call("tasks.get", {"id": task["id"]})["status"] == "scheduled"
    server.call("tasks.complete", {"id": second["id"]}, mutation=True)
    assert server.wait_for(task["id"], {"completed", "failed"})["status"] == "completed"

    # refused: unknown ids, itself, a cycle
    a = create(server, {"title": "a", **manual})
    b = create(server, {"title": "b", **manual, "dependsOn": [a["id"]]})
    for deps, where in (([ "tsk_nope"], ["patch", "dependsOn", 0]),
                        ([a["id"]], ["patch", "dependsOn", 0]),
                        ([b["id"]], ["patch", "dependsOn"])):
        bad = error_of(lambda deps=deps: update(server, a["id"], {"dependsOn": deps}))
        assert bad.code == "BAD_REQUEST", bad.error
        assert bad.error["data"]["issues"][0]["path"] == where


# --- input limits ---------------------------------------------------------------------------

def test_input_limits_are_bad_requests_naming_the_field(
        server: ErrandsServer, outside: HttpServer) -> None:
    # ... and a search with no word in it (only operators of the databases' query languages)
    for search in ("x" * 50_000, "", '"*:&|!()^-'):
        bad = error_of(lambda search=search: server.call("tasks.list", {"search": search}))
        assert bad.status == 400 and bad.code == "BAD_REQUEST"
        assert bad.error["data"]["issues"][0]["path"] == ["search"]
    assert server.call("tasks.list", {"search": "x" * 200})["items"] == []
    assert server.call("tasks.list", {"search": 'x" OR "y*'})["items"] == []

    steps = [{"action": "wait", "ms": 1}] * 6
    bad = error_of(lambda: create(server, {"title": "b", "taskType": "browser_automation",
                                           "executionConfig": {"steps": steps}}))
    assert bad.code == "BAD_REQUEST"
    assert bad.error["data"]["issues"][0]["path"] == ["executionConfig", "steps"]
    assert "MAX_BROWSER_STEPS" in bad.error["message"]
    create(server, {"title": "b", "taskType": "browser_automation", "executionType": "manual",
                    "executionConfig": {"steps": steps[:5]}})

    big = api(outside.url_for("/approved"))
    big["executionConfig"]["body"] = {"pad": "x" * 3000}
    bad = error_of(lambda: create(server, big))
    assert bad.code == "BAD_REQUEST"
    assert bad.error["data"]["issues"][0]["path"] == ["executionConfig"]
    assert "MAX_CONFIG_BYTES" in bad.error["message"]
    task = create(server, api(outside.url_for("/approved")))
    bad = error_of(lambda: update(server, task["id"], {"executionConfig": big[
        "executionConfig"]}))
    assert bad.error["data"]["issues"][0]["path"] == ["patch", "executionConfig"]

    template = {"title": "s", "taskType": "report_generation",
                "executionConfig": {"reportType": "task_summary"}}
    for cron in ("* * * * * *", "*/30 * * * * *", "0,59 * * * * *"):
        bad = error_of(lambda cron=cron: server.call("schedules.create", {
            "name": "fast", "cron": cron, "task": template}, mutation=True))
        assert bad.code == "BAD_REQUEST", cron
        assert bad.error["data"]["issues"][0]["path"] == ["cron"]
        assert "SCHEDULE_MIN_INTERVAL_SECONDS" in bad.error["message"]
    for cron in ("* * * * *", "0 */1 * * * *", "30 59 23 * * *"):
        server.call("schedules.create", {"name": "ok", "cron": cron, "task": template},
                    mutation=True)


# --- console headers ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/review", "/tasks/tsk_123"])
def test_console_pages_send_security_headers(server: ErrandsServer, path: str) -> None:
    base = server.url.removesuffix("/trpc")
    resp = httpx.get(base + path)
    assert resp.status_code == 200 and "text/html" in resp.headers["content-type"]
    csp = [d.strip() for d in resp.headers["content-security-policy"].split(";")]
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "object-src 'none'",
                      "base-uri 'none'"):
        assert directive in csp
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["x-content-type-options"] == "nosniff"


# --- keys out of URLs -----------------------------------------------------------------------

def _first_event(server: ErrandsServer, token: str) -> str:
    """The first event after ``connected`` of ``tasks.onChange`` subscribed with ``token`` in
    connectionParams (an error is an event too): ``event: <name>`` and its data."""
    params = {"input": '{"lastEventId":"0"}',  # replays the stored events: one comes at once
              "connectionParams": msgspec.json.encode(
                  {"authorization": f"Bearer {token}"}).decode()}
    with httpx.stream("GET", f"{server.url}/tasks.onChange", params=params,
                      headers={"accept": "text/event-stream"},
                      timeout=httpx.Timeout(10)) as resp:
        assert resp.status_code == 200
        event = ""
        for line in resp.iter_lines():
            if not line:
                event = ""  # an event ends at a blank line
            elif line.startswith("event:"):
                event = line
            elif line.startswith("data:") and event not in ("event: connected",
                                                            "event: ping"):
                return f"{event}\n{line}"
    return ""


def test_a_subscription_token_stands_for_the_key_in_subscriptions_only(
        server: ErrandsServer) -> None:
    issued = server.call("system.subscriptionToken", None, mutation=True, headers=VIEW)
    expires = datetime.fromisoformat(issued["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(0) < expires - datetime.now(UTC) <= timedelta(seconds=301)
    token = issued["token"]
    assert "view-key" not in token
    server.call("tasks.create", {"title": "seen", "taskType": "report_generation",
                                 "executionType": "manual",
                                 "executionConfig": {"reportType": "task_summary"}},
                mutation=True)
    first = _first_event(server, token)
    assert '"type":"created"' in first, first
    # Not as a header, not for a query, not forged, not after the key's role changed hands.
    refused = error_of(lambda: server.call("tasks.list", {},
                                           headers={"authorization": f"Bearer {token}"}))
    assert refused.code == "UNAUTHORIZED" and "subscription" in refused.error["message"]
    params = {"input": "{}", "connectionParams": msgspec.json.encode(
        {"authorization": f"Bearer {token}"}).decode()}
    resp = httpx.get(f"{server.url}/tasks.list", params=params)
    assert resp.status_code == 401
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    body = _first_event(server, forged)
    assert "serialized-error" in body and "invalid subscription token" in body, body
    assert "UNAUTHORIZED" in _first_event(server, "nonsense")
