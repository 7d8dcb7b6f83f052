"""Tasks through the running server: lifecycle, retries, cancellation, bad input, roles.

Runs against one server per database (SQLite and PostgreSQL) and a local HTTP server that
plays the outside world.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.http_servers import HttpServer, Reply
from tests.support.server import ErrandsServer, TRPCCallError
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def outside() -> Iterator[HttpServer]:
    with HttpServer() as server:
        server.route("/ok", json={"ok": True})
        server.route("/missing", status=404, json={"error": "nope"})
        server.route("/slow", delay=30.0, json={"late": True})
        yield server


def api_task(url: str, **extra: Any) -> dict[str, Any]:
    return {"title": "call", "taskType": "api_call",
            "executionConfig": {"apiEndpoint": url}, **extra}


def create(server: ErrandsServer, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = server.call("tasks.create", data, mutation=True, **kw)
    return result


def error_of(fn: Any, *args: Any, **kw: Any) -> TRPCCallError:
    with pytest.raises(TRPCCallError) as info:
        fn(*args, **kw)
    return info.value


# --- the happy path and its record -------------------------------------------------------

def test_created_task_runs_and_records_its_attempt(shared_server: ErrandsServer,
                                                   outside: HttpServer) -> None:
    task = create(shared_server, api_task(outside.url_for("/ok")))
    assert task["status"] == "queued"
    done = shared_server.wait_for(task["id"], {"completed", "failed"})
    assert done["status"] == "completed"
    assert done["result"]["status"] == 200 and done["result"]["body"] == {"ok": True}
    assert done["startedAt"] and done["completedAt"]
    (attempt,) = shared_server.call("tasks.executions", {"taskId": task["id"]})
    assert attempt["attemptNumber"] == 1
    assert attempt["status"] == "success"
    assert attempt["triggeredBy"] == "create"
    assert attempt["durationMs"] is not None and attempt["workerId"]
    assert attempt["output"]["status"] == 200


def test_retryable_failures_back_off_then_succeed(shared_server: ErrandsServer,
                                                  outside: HttpServer) -> None:
    outside.route("/flaky", sequence=[Reply(status=503), Reply(status=503),
                                      Reply(status=200, json={"fine": 1})])
    task = create(shared_server, api_task(outside.url_for("/flaky"), maxRetries=3))
    done = shared_server.wait_for(task["id"], {"completed", "failed"})
    assert done["status"] == "completed"
    assert done["errorCount"] == 2
    attempts = shared_server.call("tasks.executions", {"taskId": task["id"]})
    assert [a["status"] for a in attempts] == ["failed", "failed", "success"]
    assert [a["triggeredBy"] for a in attempts] == ["create", "retry", "retry"]
    assert attempts[0]["retryable"] is True
    assert "503" in attempts[0]["error"]


def test_permanent_error_fails_at_once(shared_server: ErrandsServer,
                                       outside: HttpServer) -> None:
    task = create(shared_server, api_task(outside.url_for("/missing"), maxRetries=5))
    done = shared_server.wait_for(task["id"], {"completed", "failed"})
    assert done["status"] == "failed"
    assert done["errorCount"] == 1 and "404" in done["lastError"]
    attempts = shared_server.call("tasks.executions", {"taskId": task["id"]})
    assert len(attempts) == 1 and attempts[0]["retryable"] is False


def test_retries_exhausted_then_manual_retry_gets_fresh_budget(shared_server: ErrandsServer,
                                                               outside: HttpServer) -> None:
    outside.route("/down", status=500)
    task = create(shared_server, api_task(outside.url_for("/down"), maxRetries=1))
    failed = shared_server.wait_for(task["id"], {"failed"})
    assert failed["errorCount"] == 2
    outside.route("/down", json={"up": True})
    again = shared_server.call("tasks.retry", {"id": task["id"]}, mutation=True)
    assert again["status"] == "queued" and again["errorCount"] == 0
    done = shared_server.wait_for(task["id"], {"completed"})
    attempts = shared_server.call("tasks.executions", {"taskId": done["id"]})
    assert [a["status"] for a in attempts] == ["failed", "failed", "success"]
    assert attempts[-1]["triggeredBy"] == "retry"


def test_attempt_deadline_times_out(shared_server: ErrandsServer, outside: HttpServer) -> None:
    task = create(shared_server, api_task(outside.url_for("/slow"), timeoutSeconds=1,
                                          maxRetries=0))
    done = shared_server.wait_for(task["id"], {"failed"})
    (attempt,) = shared_server.call("tasks.executions", {"taskId": task["id"]})
    assert attempt["status"] == "timed_out"
    assert "timeoutSeconds" in attempt["error"]
    assert done["errorCount"] == 1


# --- review, manual execution, scheduling, cancellation -----------------------------------

def test_review_then_approve_runs_with_reviewer_recorded(shared_server: ErrandsServer,
                                                         outside: HttpServer) -> None:
    task = create(shared_server, api_task(outside.url_for("/ok"), requiresHumanReview=True))
    assert task["status"] == "awaiting_review"
    refused = error_of(shared_server.call, "tasks.execute", {"id": task["id"]}, mutation=True)
    assert refused.code == "PRECONDITION_FAILED" and refused.status == 412
    time.sleep(0.3)
    assert shared_server.call("tasks.executions", {"taskId": task["id"]}) == []
    approved = shared_server.call("tasks.approve", {"id": task["id"], "notes": "fine"},
                                  mutation=True, headers={"authorization": "Bearer rev-key"})
    assert approved["reviewedBy"] == "rev" and approved["reviewNotes"] == "fine"
    assert approved["status"] == "queued"
    shared_server.wait_for(task["id"], {"completed"})
    (attempt,) = shared_server.call("tasks.executions", {"taskId": task["id"]})
    assert attempt["triggeredBy"] == "approval"


def test_reject_ends_task_and_second_decision_conflicts(shared_server: ErrandsServer,
                                                        outside: HttpServer) -> None:
    task = create(shared_server, api_task(outside.url_for("/ok"), requiresHumanReview=True))
    rejected = shared_server.call("tasks.reject", {"id": task["id"], "notes": "no"},
                                  mutation=True)
    assert rejected["status"] == "rejected"
    err = error_of(shared_server.call, "tasks.approve", {"id": task["id"]}, mutation=True)
    assert err.code == "CONFLICT" and "rejected" in err.error["message"]


def test_manual_task_waits_pending_until_executed(shared_server: ErrandsServer,
                                                  outside: HttpServer) -> None:
    task = create(shared_server, api_task(outside.url_for("/ok"), executionType="manual"))
    assert task["status"] == "pending"
    queued = shared_server.call("tasks.execute", {"id": task["id"]}, mutation=True)
    assert queued["status"] in ("queued", "in_progress", "completed")
    shared_server.wait_for(task["id"], {"completed"})
    (attempt,) = shared_server.call("tasks.executions", {"taskId": task["id"]})
    assert attempt["triggeredBy"] == "manual"


def test_scheduled_task_fires_at_its_time(shared_server: ErrandsServer,
                                          outside: HttpServer) -> None:
    from datetime import UTC, datetime, timedelta

    at = datetime.now(UTC) + timedelta(seconds=1.5)
    task = create(shared_server, api_task(outside.url_for("/ok"),
                                          scheduledFor=at.isoformat().replace("+00:00", "Z")))
    assert task["status"] == "scheduled"
    done = shared_server.wait_for(task["id"], {"completed"}, timeout=15)
    started = datetime.fromisoformat(done["startedAt"].replace("Z", "+00:00"))
    assert started >= at
    (attempt,) = shared_server.call("tasks.executions", {"taskId": task["id"]})
    assert attempt["triggeredBy"] == "schedule"


def test_execute_scheduled_task_now(shared_server: ErrandsServer, outside: HttpServer) -> None:
    task = create(shared_server, api_task(outside.url_for("/ok"),
                                          scheduledFor="2099-01-01T00:00:00Z"))
    assert task["status"] == "scheduled"
    shared_server.call("tasks.execute", {"id": task["id"]}, mutation=True)
    shared_server.wait_for(task["id"], {"completed"})


def test_cancel_stops_a_running_attempt(shared_server: ErrandsServer,
                                        outside: HttpServer) -> None:
    task = create(shared_server, api_task(outside.url_for("/slow")))
    shared_server.wait_for(task["id"], {"in_progress"})
    cancelled = shared_server.call("tasks.cancel", {"id": task["id"], "reason": "enough"},
                                   mutation=True)
    assert cancelled["status"] == "cancelled" and cancelled["statusReason"] == "enough"
    attempts: list[dict[str, Any]] = eventually(
        lambda: shared_server.call("tasks.executions", {"taskId": task["id"]}),
        lambda found: bool(found) and found[0]["status"] != "running", timeout=10,
        what="the attempt ended")
    assert [a["status"] for a in attempts] == ["cancelled"]
    assert shared_server.call("tasks.get", {"id": task["id"]})["status"] == "cancelled"
    err = error_of(shared_server.call, "tasks.cancel", {"id": task["id"]}, mutation=True)
    assert err.code == "CONFLICT" and "cancelled" in err.error["message"]


def test_dependencies_wait_then_run_and_failures_cascade(shared_server: ErrandsServer,
                                                         outside: HttpServer) -> None:
    first = create(shared_server, api_task(outside.url_for("/ok"), executionType="manual"))
    second = create(shared_server, api_task(outside.url_for("/ok"), dependsOn=[first["id"]]))
    assert second["status"] == "scheduled"
    assert second["statusReason"] == "waiting for dependencies"
    bad = create(shared_server, api_task(outside.url_for("/ok"), executionType="manual"))
    third = create(shared_server, api_task(outside.url_for("/ok"), dependsOn=[bad["id"]]))
    shared_server.call("tasks.execute", {"id": first["id"]}, mutation=True)
    shared_server.wait_for(second["id"], {"completed"})
    shared_server.call("tasks.cancel", {"id": bad["id"]}, mutation=True)
    gone = shared_server.wait_for(third["id"], {"cancelled"})
    assert bad["id"] in gone["statusReason"]


def test_idempotency_key_returns_the_first_task(shared_server: ErrandsServer,
                                                outside: HttpServer) -> None:
    data = api_task(outside.url_for("/ok"), idempotencyKey=f"order-{time.time_ns()}")
    first = create(shared_server, data)
    again = create(shared_server, {**data, "title": "different"})
    assert again["id"] == first["id"] and again["title"] == "call"


def test_list_filters_and_pages_newest_first(shared_server: ErrandsServer,
                                             outside: HttpServer) -> None:
    marker = f"pager-{time.time_ns()}"
    ids = [create(shared_server, api_task(outside.url_for("/ok"), title=f"{marker} {i}",
                                          executionType="manual"))["id"] for i in range(5)]
    page = shared_server.call("tasks.list", {"search": marker, "limit": 2})
    assert [t["id"] for t in page["items"]] == ids[::-1][:2]
    seen = [t["id"] for t in page["items"]]
    while page["nextCursor"]:
        page = shared_server.call("tasks.list", {"search": marker, "limit": 2,
                                                 "cursor": page["nextCursor"]})
        seen += [t["id"] for t in page["items"]]
    assert seen == ids[::-1]
    pending = shared_server.call("tasks.list", {"search": marker, "status": ["pending"]})
    assert len(pending["items"]) == 5
    none = shared_server.call("tasks.list", {"search": marker, "status": "completed"})
    assert none["items"] == []


def test_list_pages_oldest_first_on_request(shared_server: ErrandsServer,
                                            outside: HttpServer) -> None:
    """``order: "oldest"`` (the review queue's order): the cursor goes on the same way."""
    marker = f"oldest-{time.time_ns()}"
    ids = [create(shared_server, api_task(outside.url_for("/ok"), title=f"{marker} {i}",
                                          executionType="manual"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        page = shared_server.call("tasks.list", {"search": marker, "limit": 2,
                                                 "order": "oldest", "cursor": cursor})
        seen += [t["id"] for t in page["items"]]
        if not (cursor := page["nextCursor"]):
            break
    assert seen == ids
    wrong = error_of(shared_server.call, "tasks.list", {"order": "sideways"})
    assert wrong.code == "BAD_REQUEST" and "order" in wrong.error["message"]


def test_list_takes_a_creation_date_range(shared_server: ErrandsServer,
                                         outside: HttpServer) -> None:
    marker = f"ranged-{time.time_ns()}"
    made = [create(shared_server, api_task(outside.url_for("/ok"), title=f"{marker} {i}",
                                           executionType="manual")) for i in range(3)]
    middle = made[1]["createdAt"]

    def listed(**bounds: str) -> list[str]:
        page = shared_server.call("tasks.list", {"search": marker, **bounds})
        return [t["id"] for t in page["items"]]

    assert listed(createdFrom=middle) == [made[2]["id"], made[1]["id"]]
    assert listed(createdBefore=middle) == [made[0]["id"]]
    assert listed(createdFrom=middle, createdBefore=made[2]["createdAt"]) == [made[1]["id"]]
    for field, value in (("createdFrom", "yesterday"), ("createdBefore", "2026-13-01T00:00Z"),
                         ("createdFrom", "2026-01-01T00:00:00")):  # naive: no time zone
        err = error_of(shared_server.call, "tasks.list", {field: value})
        assert err.code == "BAD_REQUEST" and field in err.error["message"], err.error


def test_secrets_are_masked_in_answers(shared_server: ErrandsServer,
                                       outside: HttpServer) -> None:
    task = create(shared_server, {
        "title": "secret", "taskType": "api_call", "executionType": "manual",
        "executionConfig": {"apiEndpoint": outside.url_for("/ok"), "authType": "bearer",
                            "bearerToken": "tok-SECRET-123",
                            "headers": {"X-Api-Key": "hdr-SECRET-456", "X-Plain": "visible"}}})
    config = task["executionConfig"]
    assert config["bearerToken"] == "********"
    assert config["headers"] == {"X-Api-Key": "********", "X-Plain": "visible"}
    listed = shared_server.client.get(f"{shared_server.url}/tasks.get",
                                      params={"input": f'{{"id":"{task["id"]}"}}'},
                                      headers=shared_server.headers()).text
    assert "SECRET" not in listed


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"title": "x", "taskType": "api_call", "executionConfig": {"apiEndpoint": 5}},
         ["executionConfig", "apiEndpoint"]),
        ({"title": "x", "taskType": "api_call", "executionConfig": {}},
         ["executionConfig", "apiEndpoint"]),
        ({"title": "x", "taskType": "api_call",
          "executionConfig": {"apiEndpoint": "ftp://example.com/x"}},
         ["executionConfig", "apiEndpoint"]),
        ({"title": "x", "taskType": "api_call",
          "executionConfig": {"apiEndpoint": "https://example.com", "bogus": 1}},
         ["executionConfig", "bogus"]),
        ({"title": "x", "taskType": "teleport", "executionConfig": {}}, ["taskType"]),
        ({"title": "", "taskType": "api_call",
          "executionConfig": {"apiEndpoint": "https://example.com"}}, ["title"]),
        ({"title": "x", "taskType": "api_call", "surprise": True,
          "executionConfig": {"apiEndpoint": "https://example.com"}}, ["surprise"]),
        ({"title": "x", "taskType": "api_call", "maxRetries": 11,
          "executionConfig": {"apiEndpoint": "https://example.com"}}, ["maxRetries"]),
        ({"title": "x", "taskType": "api_call", "scheduledFor": "tomorrow",
          "executionConfig": {"apiEndpoint": "https://example.com"}}, ["scheduledFor"]),
        ({"title": "x", "taskType": "api_call", "dependsOn": ["tsk_nope"],
          "executionConfig": {"apiEndpoint": "https://example.com"}}, ["dependsOn", 0]),
        # CONTRACT §13: no framing header of a task reaches the wire (request smuggling)
        ({"title": "x", "taskType": "api_call", "executionConfig": {
            "apiEndpoint": "https://example.com", "apiMethod": "POST",
            "headers": {"Content-Length": "0"},
            "body": "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"}},
         ["executionConfig", "headers", "Content-Length"]),
        ({"title": "x", "taskType": "api_call", "executionConfig": {
            "apiEndpoint": "https://example.com", "headers": {"proxy-authorization": "x"}}},
         ["executionConfig", "headers", "proxy-authorization"]),
    ],
)
def test_bad_create_input_names_the_field(shared_server: ErrandsServer, data: dict[str, Any],
                                          path: list[Any]) -> None:
    # No task was made: the total stays (statuses may move: the shared server may still be
    # finishing an earlier test's task).
    before = sum(shared_server.call("system.stats")["tasksByStatus"].values())
    err = error_of(shared_server.call, "tasks.create", data, mutation=True)
    assert err.code == "BAD_REQUEST" and err.status == 400
    issues = err.error["data"]["issues"]
    assert any(i["path"] == path for i in issues), issues
    assert ".".join(map(str, path)) in err.error["message"]
    assert sum(shared_server.call("system.stats")["tasksByStatus"].values()) == before


def test_malformed_json_is_a_parse_error(shared_server: ErrandsServer) -> None:
    resp = shared_server.client.post(f"{shared_server.url}/tasks.create", content=b"{oops",
                                     headers={"content-type": "application/json",
                                              **shared_server.headers()})
    assert resp.status_code == 400
    assert resp.json()["error"]["data"]["code"] == "PARSE_ERROR"


def test_unknown_ids_are_not_found(shared_server: ErrandsServer) -> None:
    for path, data, mutation in [("tasks.get", {"id": "tsk_x"}, False),
                                 ("tasks.executions", {"taskId": "tsk_x"}, False),
                                 ("tasks.cancel", {"id": "tsk_x"}, True),
                                 ("tasks.approve", {"id": "tsk_x"}, True)]:
        err = error_of(shared_server.call, path, data, mutation=mutation)
        assert err.code == "NOT_FOUND" and "tsk_x" in err.error["message"], path


def test_oversized_body_is_refused(shared_server: ErrandsServer) -> None:
    big = b'{"title":"' + b"x" * 2_000_000 + b'"}'
    resp = shared_server.client.post(f"{shared_server.url}/tasks.create", content=big,
                                     headers={"content-type": "application/json",
                                              **shared_server.headers()})
    assert resp.status_code == 413
    assert resp.json()["error"]["data"]["code"] == "PAYLOAD_TOO_LARGE"


# --- authorization --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("key", "path", "mutation", "code"),
    [
        (None, "tasks.list", False, "UNAUTHORIZED"),
        ("wrong-key", "tasks.list", False, "UNAUTHORIZED"),
        ("view-key", "tasks.list", False, None),
        ("view-key", "tasks.create", True, "FORBIDDEN"),
        ("rev-key", "tasks.create", True, "FORBIDDEN"),
        ("op-key", "tasks.approve", True, "FORBIDDEN"),
        ("view-key", "tasks.cancel", True, "FORBIDDEN"),
    ],
)
def test_roles(shared_server: ErrandsServer, outside: HttpServer, key: str | None, path: str,
               mutation: bool, code: str | None) -> None:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    task = create(shared_server, api_task(outside.url_for("/ok"), requiresHumanReview=True))
    data: dict[str, Any] = {"id": task["id"]}
    if path == "tasks.create":
        data = api_task(outside.url_for("/ok"))
    elif path == "tasks.list":
        data = {}
    url = f"{shared_server.url}/{path}"
    if mutation:
        resp = httpx.post(url, json=data, headers=headers)
    else:
        resp = httpx.get(url, params={"input": httpx.Request("GET", url, json=data)
                                      .content.decode()}, headers=headers)
    body = resp.json()
    if code is None:
        assert "result" in body
    else:
        assert body["error"]["data"]["code"] == code, body
        if code == "FORBIDDEN":  # the refusal names the caller's role
            role = {"view-key": "viewer", "rev-key": "reviewer", "op-key": "operator"}[key or ""]
            assert role in body["error"]["message"]
        if key:
            assert key not in body["error"]["message"]  # the key itself is never echoed


@pytest.mark.parametrize(("key", "name", "role"), [
    ("admin-key", "admin", "admin"), ("op-key", "op", "operator"),
    ("rev-key", "rev", "reviewer"), ("view-key", "view", "viewer")])
def test_whoami_names_the_key_and_its_role(shared_server: ErrandsServer, key: str, name: str,
                                           role: str) -> None:
    me = shared_server.call("system.whoami", headers={"authorization": f"Bearer {key}"})
    assert me["name"] == name and me["role"] == role
    assert "read" in me["permissions"]
    assert ("review" in me["permissions"]) == (role in ("admin", "reviewer"))
    assert ("create" in me["permissions"]) == (role in ("admin", "operator"))
    assert key not in str(me)


def test_whoami_refuses_a_wrong_key(shared_server: ErrandsServer) -> None:
    refused = error_of(shared_server.call, "system.whoami",
                       headers={"authorization": "Bearer nope"})
    assert refused.code == "UNAUTHORIZED" and refused.status == 401
