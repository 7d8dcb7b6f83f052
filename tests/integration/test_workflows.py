"""Workflows and governance (CONTRACT §10) through the running server, on SQLite and PostgreSQL:
results passed down a dependency chain, cascade and redrive, edits before approval,
completion by a person, bulk actions, the audit log, schedule previews, stalled work and the
autorun switch (two nodes on PostgreSQL)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.support.http_servers import HttpServer, Reply
from tests.support.server import ErrandsServer, TRPCCallError
from tests.support.waiting import eventually

KEYS = "admin:admin:admin-key,op:operator:op-key,rev:reviewer:rev-key,view:viewer:view-key"
OP = {"authorization": "Bearer op-key"}
REV = {"authorization": "Bearer rev-key"}
VIEW = {"authorization": "Bearer view-key"}


@pytest.fixture(scope="module")
def outside() -> Iterator[HttpServer]:
    with HttpServer() as server:
        server.route("/echo", echo=True)
        server.route("/ok", json={"ok": True})
        server.route("/hook", status=204)
        yield server


def api(url: str, **extra: Any) -> dict[str, Any]:
    config = extra.pop("config", {})
    return {"title": "call", "taskType": "api_call",
            "executionConfig": {"apiEndpoint": url, **config}, **extra}


def create(server: ErrandsServer, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
    found: dict[str, Any] = server.call("tasks.create", data, mutation=True, **kw)
    return found


def error_of(fn: Callable[[], Any]) -> TRPCCallError:
    with pytest.raises(TRPCCallError) as info:
        fn()
    return info.value


def audit(server: ErrandsServer, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = server.call("audit.list", query)["items"]
    return items


# --- results down a chain; cascade and redrive -----------------------------------------------

def test_chain_passes_results_cancels_on_failure_and_completes_after_retry(
        shared_server: ErrandsServer, outside: HttpServer) -> None:
    server = shared_server
    outside.route("/lead", sequence=[Reply(status=404, json={"error": "no"}, delay=0.5),
                                     Reply(json={"email": "lead@example.com", "n": 3})])
    a = create(server, api(outside.url_for("/lead"), title="A", maxRetries=0))
    b = create(server, api(outside.url_for("/echo"), title="B", dependsOn=[a["id"]],
                           requiresHumanReview=True,
                           config={"apiMethod": "POST", "authType": "bearer",
                                   "bearerToken": "tok-very-secret",
                                   "body": {"email": "{{dep.0.body.email}}",
                                            "n": "{{dep.0.body.n}}"}}))
    c = create(server, api(outside.url_for("/echo"), title="C", dependsOn=[b["id"]],
                           config={"apiMethod": "POST",
                                   "body": {"sent": "B saw {{dep.0.body.body}}"}}))
    assert b["status"] == "awaiting_review" and c["status"] == "scheduled"

    server.wait_for(a["id"], {"failed"})
    b_cancelled = server.wait_for(b["id"], {"cancelled"})
    c_cancelled = server.wait_for(c["id"], {"cancelled"})
    assert b_cancelled["statusReason"] == f"dependency {a['id']} failed"
    assert c_cancelled["statusReason"] == f"dependency {a['id']} failed"

    again = server.call("tasks.retry", {"id": a["id"]}, mutation=True, headers=OP)
    assert again["status"] == "queued"
    reopened = server.call("tasks.get", {"id": b["id"]})
    assert reopened["status"] == "awaiting_review"  # placed again as on create
    assert server.call("tasks.get", {"id": c["id"]})["status"] == "scheduled"
    server.call("tasks.approve", {"id": b["id"], "notes": "fine"}, mutation=True, headers=REV)
    done = server.wait_for(c["id"], {"completed", "failed", "cancelled"})
    assert done["status"] == "completed", done

    (b_attempt,) = server.call("tasks.executions", {"taskId": b["id"]})
    assert b_attempt["input"]["body"] == {"email": "lead@example.com", "n": 3}
    assert b_attempt["input"]["bearerToken"] == "********"
    assert "tok-very-secret" not in msgspec.json.encode(b_attempt).decode()
    (c_attempt,) = server.call("tasks.executions", {"taskId": c["id"]})
    assert c_attempt["input"]["body"]["sent"] == 'B saw {"email":"lead@example.com","n":3}'
    assert msgspec.json.decode(done["result"]["body"]["body"]) == {
        "sent": 'B saw {"email":"lead@example.com","n":3}'}

    actions = [(e["actor"], e["action"]) for e in audit(server, targetId=b["id"])][::-1]
    assert actions == [("admin", "tasks.create"), ("system", "tasks.cancel"),
                       ("op", "tasks.retry"), ("rev", "tasks.approve")]


def test_placeholders_are_checked_at_create(shared_server: ErrandsServer,
                                            outside: HttpServer) -> None:
    a = create(shared_server, api(outside.url_for("/ok"), executionType="manual"))
    for body, path in (({"x": "{{dep.1.email}}"}, ["executionConfig", "body", "x"]),
                       ({"x": ["{{dep.0.a..b}}"]}, ["executionConfig", "body", "x", 0])):
        error = error_of(lambda body=body: create(shared_server, api(
            outside.url_for("/echo"), dependsOn=[a["id"]],
            config={"apiMethod": "POST", "body": body})))
        assert error.code == "BAD_REQUEST"
        assert error.error["data"]["issues"][0]["path"] == path
        assert "executionConfig.body.x" in error.error["message"]


def test_missing_placeholder_path_fails_permanently_naming_it(shared_server: ErrandsServer,
                                                               outside: HttpServer) -> None:
    a = create(shared_server, api(outside.url_for("/ok")))
    b = create(shared_server, api(outside.url_for("/echo"), dependsOn=[a["id"]], maxRetries=3,
                                  config={"apiMethod": "POST",
                                          "body": {"x": "{{dep.0.body.nothere}}"}}))
    failed = shared_server.wait_for(b["id"], {"failed", "completed"})
    assert failed["status"] == "failed" and failed["errorCount"] == 1
    assert "{{dep.0.body.nothere}}" in failed["lastError"]
    (attempt,) = shared_server.call("tasks.executions", {"taskId": b["id"]})
    assert attempt["retryable"] is False and attempt["errorType"] == "placeholder"


def test_a_broken_dependency_cancels_pending_dependents_too(shared_server: ErrandsServer,
                                                            outside: HttpServer) -> None:
    a = create(shared_server, api(outside.url_for("/ok"), requiresHumanReview=True))
    manual = create(shared_server, api(outside.url_for("/ok"), executionType="manual",
                                       dependsOn=[a["id"]]))
    assert manual["status"] == "pending"
    shared_server.call("tasks.reject", {"id": a["id"], "notes": "no"}, mutation=True,
                       headers=REV)
    got = shared_server.call("tasks.get", {"id": manual["id"]})
    assert got["status"] == "cancelled"
    assert got["statusReason"] == f"dependency {a['id']} rejected"


# --- edit before approval, completion by a person, bulk actions ------------------------------

def test_reviewer_edits_then_approves_and_the_stored_secret_is_kept(
        shared_server: ErrandsServer, outside: HttpServer) -> None:
    server = shared_server
    task = create(server, api(outside.url_for("/missing-typo"), requiresHumanReview=True,
                              config={"authType": "bearer", "bearerToken": "kept-token"}))
    config = dict(task["executionConfig"])
    assert config["bearerToken"] == "********"
    config["apiEndpoint"] = outside.url_for("/echo")
    edited = server.call("tasks.update", {"id": task["id"], "patch": {
        "executionConfig": config, "title": "fixed", "priority": "high"}},
        mutation=True, headers={**REV, "x-request-id": "req-edit-1"})
    assert edited["title"] == "fixed" and edited["priority"] == "high"
    assert edited["executionConfig"]["apiEndpoint"] == outside.url_for("/echo")
    assert edited["configChangedBy"] == "rev"
    # Four eyes (REVIEW_SEPARATION=editor, CONTRACT §13): another key approves the edit.
    barred = error_of(lambda: server.call("tasks.approve", {"id": task["id"]}, mutation=True,
                                          headers=REV))
    assert barred.code == "FORBIDDEN"
    assert barred.error["message"] == ("rev changed this task's configuration; another "
                                       "reviewer must approve it")
    server.call("tasks.approve", {"id": task["id"]}, mutation=True)
    done = server.wait_for(task["id"], {"completed", "failed"})
    assert done["status"] == "completed"
    seen = [r.headers.get("authorization") for r in outside.requests_to("/echo")]
    assert "Bearer kept-token" in seen  # the stored secret, not the mask
    assert "Bearer ********" not in seen

    (entry,) = audit(server, targetId=task["id"], action="tasks.update")
    assert entry["actor"] == "rev" and entry["role"] == "reviewer"
    assert entry["requestId"] == "req-edit-1"
    changed = entry["detail"]["changed"]
    assert set(changed) == {"executionConfig", "title", "priority"}
    assert changed["executionConfig"]["to"]["bearerToken"] == "********"
    assert "kept-token" not in msgspec.json.encode(entry).decode()


def test_update_is_validated_like_create_and_refused_outside_its_statuses(
        shared_server: ErrandsServer, outside: HttpServer) -> None:
    server = shared_server
    task = create(server, api(outside.url_for("/ok"), executionType="manual"))
    bad = error_of(lambda: server.call("tasks.update", {"id": task["id"], "patch": {
        "executionConfig": {"apiEndpoint": "x", "timeoutMs": 0}}}, mutation=True))
    assert bad.code == "BAD_REQUEST"
    assert bad.error["data"]["issues"][0]["path"][:2] == ["patch", "executionConfig"]
    bad = error_of(lambda: server.call("tasks.update", {"id": task["id"], "patch": {
        "maxRetries": 99}}, mutation=True))
    assert bad.code == "BAD_REQUEST" and "maxRetries" in bad.error["message"]
    refused = error_of(lambda: server.call("tasks.update", {"id": task["id"], "patch": {
        "title": "t"}}, mutation=True, headers=REV))
    assert refused.code == "FORBIDDEN"  # a reviewer edits only tasks awaiting review
    queued = create(server, api(outside.url_for("/ok"), scheduledFor="2099-01-01T00:00:00Z"))
    server.call("tasks.cancel", {"id": queued["id"]}, mutation=True)
    conflict = error_of(lambda: server.call("tasks.update", {"id": queued["id"], "patch": {
        "title": "t"}}, mutation=True))
    assert conflict.code == "CONFLICT" and "cancelled" in conflict.error["message"]
    assert audit(server, targetId=task["id"], action="tasks.update") == []  # none failed


def test_a_person_completes_a_pending_task_and_dependents_proceed(
        shared_server: ErrandsServer, outside: HttpServer) -> None:
    server = shared_server
    manual = create(server, api(outside.url_for("/ok"), executionType="manual"))
    after = create(server, api(outside.url_for("/echo"), dependsOn=[manual["id"]],
                               config={"apiMethod": "POST",
                                       "body": {"said": "{{dep.0.answer}}"}}))
    done = server.call("tasks.complete", {"id": manual["id"], "result": {"answer": "yes"},
                                          "notes": "called them"}, mutation=True, headers=OP)
    assert done["status"] == "completed" and done["result"] == {"answer": "yes"}
    (attempt,) = server.call("tasks.executions", {"taskId": manual["id"]})
    assert attempt["triggeredBy"] == "manual" and attempt["status"] == "success"
    assert attempt["workerId"] == "person:op" and attempt["output"] == {"answer": "yes"}
    finished = server.wait_for(after["id"], {"completed", "failed"})
    assert finished["status"] == "completed"
    assert msgspec.json.decode(finished["result"]["body"]["body"]) == {"said": "yes"}
    again = error_of(lambda: server.call("tasks.complete", {"id": manual["id"]},
                                         mutation=True))
    assert again.code == "CONFLICT" and "completed" in again.error["message"]


def test_bulk_actions_answer_per_id_in_input_order(shared_server: ErrandsServer,
                                                   outside: HttpServer) -> None:
    server = shared_server
    waiting = [create(server, api(outside.url_for("/ok"), requiresHumanReview=True))["id"]
               for _ in range(3)]
    manual = create(server, api(outside.url_for("/ok"), executionType="manual"))["id"]
    ids = [waiting[0], "tsk_nope", waiting[1], manual, waiting[2]]
    answer = server.call("tasks.approveMany", {"ids": ids, "notes": "batch"}, mutation=True,
                         headers=REV)
    results = answer["results"]
    assert [r["id"] for r in results] == ids
    assert [r["ok"] for r in results] == [True, False, True, False, True]
    assert results[1]["error"]["code"] == "NOT_FOUND"
    assert results[3]["error"]["code"] == "CONFLICT" and results[3]["task"] is None
    assert results[0]["task"]["reviewedBy"] == "rev"
    (entry,) = audit(shared_server, targetId=waiting[1], action="tasks.approveMany")
    assert entry["actor"] == "rev" and entry["detail"]["notes"] == "batch"
    assert audit(shared_server, targetId=manual, action="tasks.approveMany") == []
    for task_id in waiting:
        server.wait_for(task_id, {"completed"})
    cancelled = server.call("tasks.cancelMany", {"ids": [manual, waiting[0]],
                                                 "reason": "cleanup"}, mutation=True)
    assert [r["ok"] for r in cancelled["results"]] == [True, False]
    assert cancelled["results"][0]["task"]["statusReason"] == "cleanup"
    retried = server.call("tasks.retryMany", {"ids": [manual]}, mutation=True)
    assert retried["results"][0]["error"]["code"] == "CONFLICT"
    for ids_input in ([], ["x"] * 501):
        bad = error_of(lambda i=ids_input: server.call("tasks.approveMany", {"ids": i},
                                                       mutation=True))
        assert bad.code == "BAD_REQUEST" and "ids" in bad.error["message"]
    denied = error_of(lambda: server.call("tasks.approveMany", {"ids": [manual]},
                                          mutation=True, headers=OP))
    assert denied.code == "FORBIDDEN"


# --- the audit log ---------------------------------------------------------------------------

def test_audit_log_filters_pages_and_records_webhooks_schedules(
        shared_server: ErrandsServer, outside: HttpServer) -> None:
    server = shared_server
    hook = server.call("webhooks.create", {"name": "h", "url": outside.url_for("/hook")},
                       mutation=True, headers={**OP, "x-request-id": "req-hook"})
    schedule = server.call("schedules.create", {
        "name": "nightly", "cron": "0 3 * * *",
        "task": {"title": "n", "taskType": "api_call",
                 "executionConfig": {"apiEndpoint": outside.url_for("/ok")}}},
        mutation=True, headers=OP)
    server.call("schedules.pause", {"id": schedule["id"]}, mutation=True, headers=OP)
    server.call("webhooks.delete", {"id": hook["id"]}, mutation=True, headers=OP)
    (made, removed) = audit(server, targetId=hook["id"])[::-1]
    assert made["action"] == "webhooks.create" and made["targetType"] == "webhook"
    assert made["requestId"] == "req-hook" and made["actor"] == "op"
    assert made["role"] == "operator"
    assert hook["secret"] not in msgspec.json.encode(made).decode()
    assert removed["action"] == "webhooks.delete"
    assert [e["action"] for e in audit(server, targetId=schedule["id"])] == [
        "schedules.pause", "schedules.create"]

    # newest first, paged by cursor, filtered by actor/action/since; viewers may read it
    since = datetime.now().astimezone().isoformat()
    ids = [create(server, api(outside.url_for("/ok"), executionType="manual"), headers=OP)["id"]
           for _ in range(3)]
    first = server.call("audit.list", {"actor": "op", "action": "tasks.create", "limit": 2,
                                       "since": since}, headers=VIEW)
    assert [e["targetId"] for e in first["items"]] == ids[::-1][:2]
    second = server.call("audit.list", {"actor": "op", "action": "tasks.create", "limit": 2,
                                        "since": since, "cursor": first["nextCursor"]})
    assert [e["targetId"] for e in second["items"]] == [ids[0]]
    assert second["nextCursor"] is None
    bad = error_of(lambda: server.call("audit.list", {"cursor": "nope!"}))
    assert bad.code == "BAD_REQUEST" and "cursor" in bad.error["message"]

    # a failed mutation writes nothing
    refused = error_of(lambda: server.call("tasks.retry", {"id": ids[0]}, mutation=True))
    assert refused.code == "CONFLICT"
    assert [e["action"] for e in audit(server, targetId=ids[0])] == ["tasks.create"]


def test_schedules_preview(shared_server: ErrandsServer) -> None:
    got = shared_server.call("schedules.preview", {"cron": "30 9 * * 1-5",
                                                   "timezone": "Europe/Paris", "count": 3},
                             headers=VIEW)
    times = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in got["times"]]
    assert len(times) == 3 and times == sorted(times)
    assert all(t.minute == 30 and t.hour in (7, 8) and t.weekday() < 5 for t in times)
    assert len(shared_server.call("schedules.preview", {"cron": "* * * * *"})["times"]) == 5
    for data, field in (({"cron": "61 * * * *"}, "cron"),
                        ({"cron": "* * * * *", "timezone": "Mars/Base"}, "timezone"),
                        ({"cron": "* * * * *", "count": 51}, "count")):
        bad = error_of(lambda d=data: shared_server.call("schedules.preview", d))
        assert bad.code == "BAD_REQUEST" and field in bad.error["message"]


# --- stalled work ------------------------------------------------------------------------------

def test_a_task_nobody_reviews_is_reported_stalled_once(
        database_url: str, errands_server: Callable[..., ErrandsServer],
        outside: HttpServer) -> None:
    path = f"/stall-hook-{uuid.uuid4().hex[:8]}"  # the receiver is shared by both databases
    outside.route(path, status=204)
    server = errands_server(database_url, api_key="admin-key", env={
        "ERRANDS_API_KEYS": KEYS, "STALLED_AFTER": "awaiting_review=2s",
        "STALLED_CHECK_SECONDS": "0.5", "STALLED_ACTION": "notify"})
    hook = server.call("webhooks.create", {"name": "h", "url": outside.url_for(path)},
                       mutation=True)
    task = create(server, api(outside.url_for("/ok"), requiresHumanReview=True,
                              sourceWebhookId=hook["id"]))
    fresh = create(server, api(outside.url_for("/ok"), executionType="manual"))
    with httpx.Client(timeout=20) as client, client.stream(
            "GET", f"{server.url}/tasks.onChange",
            params={"input": msgspec.json.encode({"id": task["id"]}).decode()},
            headers={"accept": "text/event-stream", **server.headers()}) as stream:
        stalled = eventually(lambda: server.call("tasks.get", {"id": task["id"]})
                             if server.call("tasks.get", {"id": task["id"]})["stalledSince"]
                             else None)
        kinds = []
        for line in stream.iter_lines():
            if line.startswith("data: {"):
                kinds.append(msgspec.json.decode(line[6:]).get("type"))
                if kinds[-1] == "stalled":
                    break
    assert kinds[-1] == "stalled"
    assert stalled["status"] == "awaiting_review"
    listed = server.call("tasks.list", {"stalled": True})["items"]
    assert [t["id"] for t in listed] == [task["id"]]  # pending for < 24 h is not stalled
    assert fresh["id"] not in [t["id"] for t in listed]
    (entry,) = audit(server, targetId=task["id"], action="stalled")
    assert entry["actor"] == "system" and entry["detail"]["status"] == "awaiting_review"
    eventually(lambda: outside.requests_to(path))
    time.sleep(1.5)  # three more checks: still one message
    (sent,) = outside.requests_to(path)
    assert sent.json()["type"] == "task.stalled" and sent.json()["taskId"] == task["id"]
    assert sent.headers["webhook-signature"].startswith("v1,")
    (message,) = server.call("messages.list", {"taskId": task["id"]})["items"]
    assert message["kind"] == "task.stalled" and message["status"] == "delivered"
    approved = server.call("tasks.approve", {"id": task["id"]}, mutation=True)
    assert approved["stalledSince"] is None


# --- the autorun switch ------------------------------------------------------------------------

def _report() -> dict[str, Any]:
    return {"title": "r", "taskType": "report_generation",
            "executionConfig": {"reportType": "task_summary"}}


def test_autorun_switch_holds_across_nodes_and_restarts(
        database_url: str, errands_server: Callable[..., ErrandsServer],
        outside: HttpServer, tmp_path: Path) -> None:
    env = {"ERRANDS_API_KEYS": KEYS}
    first = errands_server(database_url, api_key="admin-key", env=env)
    # PostgreSQL: a second node sees the switch; SQLite has one process per file.
    other = first if database_url.startswith("sqlite") else errands_server(
        database_url, api_key="admin-key", env=env)
    assert other.call("system.autorun") == {"enabled": True, "pausedTypes": []}
    denied = error_of(lambda: first.call("system.setAutorun", {"enabled": False},
                                         mutation=True, headers=OP))
    assert denied.code == "FORBIDDEN"
    off = first.call("system.setAutorun", {"enabled": False}, mutation=True)
    assert off == {"enabled": False, "pausedTypes": []}
    time.sleep(2)  # every node sees it within 2 s
    held = create(other, api(outside.url_for("/ok")))
    waiting = eventually(lambda: (t := other.call("tasks.get", {"id": held["id"]}))
                         ["statusReason"] == "autorun paused" and t)
    assert waiting["status"] == "queued"
    time.sleep(1)
    assert other.call("tasks.get", {"id": held["id"]})["status"] == "queued"
    manual = create(other, api(outside.url_for("/ok"), executionType="manual"))
    assert other.call("tasks.execute", {"id": manual["id"]}, mutation=True)["status"] == \
        "queued"  # tasks.execute still queues

    # pause one type only: the others run, the paused one waits
    other.call("system.setAutorun", {"enabled": True, "pausedTypes": ["api_call"]},
               mutation=True)
    time.sleep(2)
    report = create(first, _report())
    first.wait_for(report["id"], {"completed"})
    assert first.call("tasks.get", {"id": held["id"]})["status"] == "queued"
    assert first.call("system.autorun") == {"enabled": True, "pausedTypes": ["api_call"]}

    # a restart keeps the switch; resuming runs what waited
    first.stop()
    first.start()
    assert first.call("system.autorun") == {"enabled": True, "pausedTypes": ["api_call"]}
    first.call("system.setAutorun", {"pausedTypes": []}, mutation=True)
    for task_id in (held["id"], manual["id"]):
        done = other.wait_for(task_id, {"completed", "failed"})
        assert done["status"] == "completed"
    entries = audit(first, action="system.setAutorun")
    assert [e["detail"]["to"] for e in entries][::-1] == [
        {"enabled": False, "pausedTypes": []}, {"enabled": True, "pausedTypes": ["api_call"]},
        {"enabled": True, "pausedTypes": []}]
    assert all(e["targetType"] == "system" and e["actor"] == "admin" for e in entries)
