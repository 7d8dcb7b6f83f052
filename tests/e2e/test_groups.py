"""Groups, fan-out / fan-in (CONTRACT §17), through the running server on SQLite and
PostgreSQL: 20 api_call subtasks to a local sink, one failing, under each policy; a dependent
reading a subtask's result through the group; cancel and retry of a group as one; the group's
idempotency key; bad input named."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.http_servers import HttpServer, ReceivedRequest, Reply
from tests.support.server import ErrandsServer, TRPCCallError
from tests.support.waiting import eventually

OPEN = {"pending", "awaiting_review", "scheduled", "queued", "in_progress"}


class Sink:
    """``/contact?n=<i>`` answers ``{"id": 1000 + i}``; numbers in ``failing`` answer 400 (a
    permanent failure); while ``gate`` is clear, the others wait for it."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.failing: set[int] = set()
        self.gate = threading.Event()
        self.gate.set()
        server.route("/contact", handler=self.answer)
        server.route("/report", json={"ok": True})

    def answer(self, request: ReceivedRequest) -> Reply:
        n = int(request.query["n"][0])
        if n in self.failing:
            return Reply(status=400, json={"error": f"contact {n} refused"})
        self.gate.wait(30)
        return Reply(json={"id": 1000 + n})

    def subtask(self, n: int, **more: Any) -> dict[str, Any]:
        return {"title": f"contact {n}", "taskType": "api_call", "maxRetries": 0,
                "executionConfig": {"apiEndpoint": self.server.url_for("/contact"),
                                    "query": {"n": n}}, **more}


@pytest.fixture
def sink() -> Iterator[Sink]:
    with HttpServer() as server:
        found = Sink(server)
        yield found
        found.gate.set()


def children_of(server: ErrandsServer, group_id: str) -> list[dict[str, Any]]:
    """The group's subtasks, in their order in the group (tasks.list is newest first)."""
    items = server.call("tasks.list", {"parentId": group_id, "limit": 200})["items"]
    return sorted(items, key=lambda t: t["id"])


def test_all_settled_completes_with_results_in_order_and_a_dependent_reads_one(
        shared_server: ErrandsServer, sink: Sink) -> None:
    server = shared_server
    sink.failing = {7}
    group = server.call("tasks.createGroup", {
        "title": "contacts", "policy": "all_settled", "tags": ["fan-out"],
        "subtasks": [sink.subtask(n) for n in range(20)]}, mutation=True)
    assert (group["taskType"], group["status"], group["statusReason"]) == \
        ("group", "scheduled", "waiting for subtasks")
    assert group["children"] == {"total": 20, "completed": 0, "failed": 0, "cancelled": 0}
    assert group["parentId"] is None
    report = server.call("tasks.create", {
        "title": "report", "taskType": "api_call", "dependsOn": [group["id"]],
        "executionConfig": {"apiEndpoint": sink.server.url_for("/report"), "apiMethod": "POST",
                            "body": {"contact": "{{dep.0.results.3.body.id}}"}}},
        mutation=True)
    done = server.wait_for(group["id"], {"completed", "failed", "cancelled"}, timeout=90)
    kids = children_of(server, group["id"])
    assert [k["title"] for k in kids] == [f"contact {n}" for n in range(20)]
    assert {k["parentId"] for k in kids} == {group["id"]}
    assert all(k["children"] is None for k in kids)
    assert done["status"] == "completed"
    assert done["children"] == {"total": 20, "completed": 19, "failed": 1, "cancelled": 0}
    results = done["result"]["results"]
    assert results[7] is None
    assert [r["body"]["id"] for i, r in enumerate(results) if i != 7] == \
        [1000 + n for n in range(20) if n != 7]
    assert done["result"]["failed"] == [kids[7]["id"]]
    server.wait_for(report["id"], {"completed"}, timeout=60)
    [posted] = sink.server.requests_to("/report")
    assert posted.json() == {"contact": 1003}
    events = server.call("audit.list", {"targetId": group["id"]})["items"]
    assert {e["action"] for e in events} >= {"tasks.createGroup", "subtasks"}


def test_fail_fast_fails_the_group_and_cancels_the_subtasks_not_yet_running(
        shared_server: ErrandsServer, sink: Sink) -> None:
    server = shared_server
    sink.failing = {3}
    sink.gate.clear()  # the others wait: the failure comes first
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    subtasks = [sink.subtask(n) for n in range(17)]
    # three that are not running whatever the machine's speed: later, and awaiting review
    subtasks += [sink.subtask(17, scheduledFor=later), sink.subtask(18, scheduledFor=later),
                 sink.subtask(19, requiresHumanReview=True)]
    group = server.call("tasks.createGroup", {"title": "fail fast", "subtasks": subtasks},
                        mutation=True)
    assert group["groupPolicy"] == "fail_fast"
    failed = server.wait_for(group["id"], {"completed", "failed", "cancelled"}, timeout=90)
    sink.gate.set()
    kids = children_of(server, group["id"])
    assert failed["status"] == "failed"
    assert kids[3]["id"] in failed["lastError"]
    for n in (17, 18, 19):
        assert kids[n]["status"] == "cancelled"
        assert kids[n]["statusReason"].startswith(f"group {group['id']} failed")
    # the ones running when it failed finish; none is left open; the counts follow
    settled = eventually(lambda: children_of(server, group["id"]),
                         lambda ks: not any(k["status"] in OPEN for k in ks), timeout=60)
    final = server.call("tasks.get", {"id": group["id"]})
    counts = {s: sum(k["status"] == s for k in settled)
              for s in ("completed", "failed", "cancelled")}
    assert final["status"] == "failed"
    assert final["children"] == {"total": 20, **counts}
    assert counts["failed"] == 1 and counts["cancelled"] >= 3


def test_a_subtask_running_when_its_group_failed_is_not_retried_after(
        shared_server: ErrandsServer) -> None:
    server = shared_server
    release = {0: threading.Event(), 1: threading.Event()}

    def answer(request: ReceivedRequest) -> Reply:
        n = int(request.query["n"][0])
        release[n].wait(30)
        return Reply(status=400 if n == 0 else 503, json={"n": n})

    with HttpServer() as site:
        site.route("/held", handler=answer)
        group = server.call("tasks.createGroup", {"title": "held", "subtasks": [
            {"title": f"held {n}", "taskType": "api_call", "maxRetries": 3,
             "executionConfig": {"apiEndpoint": site.url_for("/held"), "query": {"n": n}}}
            for n in (0, 1)]}, mutation=True)
        eventually(lambda: len(site.requests_to("/held")), lambda got: got == 2, timeout=60,
                   what="both subtasks running")
        release[0].set()  # the first fails for good: the group fails, the second runs on
        server.wait_for(group["id"], {"failed"}, timeout=60)
        second = children_of(server, group["id"])[1]
        assert second["status"] == "in_progress"
        release[1].set()  # it fails retryably: with its group failed it is not retried
        done = server.wait_for(second["id"], {"cancelled", "completed", "failed"}, timeout=60)
    assert done["status"] == "cancelled" and done["errorCount"] == 1
    assert done["statusReason"].startswith(f"group {group['id']} failed")
    assert server.call("tasks.get", {"id": group["id"]})["children"] == \
        {"total": 2, "completed": 0, "failed": 1, "cancelled": 1}


def test_retry_of_a_failed_group_retries_its_failed_subtasks(
        shared_server: ErrandsServer, sink: Sink) -> None:
    server = shared_server
    sink.failing = {1}
    sink.gate.clear()
    group = server.call("tasks.createGroup", {
        "title": "retry me", "subtasks": [sink.subtask(n) for n in range(4)]
        + [sink.subtask(4, requiresHumanReview=True)]}, mutation=True)
    server.wait_for(group["id"], {"failed"}, timeout=60)
    sink.gate.set()
    with pytest.raises(TRPCCallError) as early:
        server.call("tasks.execute", {"id": group["id"]}, mutation=True)
    assert early.value.code in {"PRECONDITION_FAILED", "CONFLICT"}
    sink.failing = set()
    eventually(lambda: children_of(server, group["id"]),
               lambda ks: not any(k["status"] in OPEN for k in ks), timeout=60)
    again = server.call("tasks.retry", {"id": group["id"]}, mutation=True)
    assert (again["status"], again["statusReason"]) == ("scheduled", "waiting for subtasks")
    kids = children_of(server, group["id"])
    assert kids[4]["status"] == "awaiting_review"  # re-opened, placed as on create
    server.call("tasks.approve", {"id": kids[4]["id"]}, mutation=True,
                headers={"authorization": "Bearer rev-key"})
    done = server.wait_for(group["id"], {"completed", "failed"}, timeout=60)
    assert done["status"] == "completed"
    assert [r["body"]["id"] if r else None for r in done["result"]["results"]] == \
        [1000, 1001, 1002, 1003, 1004]
    assert done["children"]["completed"] == 5


def test_cancel_of_a_group_cancels_its_open_subtasks(shared_server: ErrandsServer,
                                                       sink: Sink) -> None:
    server = shared_server
    sink.gate.clear()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    group = server.call("tasks.createGroup", {
        "title": "cancel me", "policy": "all_settled",
        "subtasks": [sink.subtask(0), sink.subtask(1, scheduledFor=later),
                     sink.subtask(2, requiresHumanReview=True)]}, mutation=True)
    dependent = server.call("tasks.create", {
        "title": "after", "taskType": "api_call", "dependsOn": [group["id"]],
        "executionConfig": {"apiEndpoint": sink.server.url_for("/report")}}, mutation=True)
    cancelled = server.call("tasks.cancel", {"id": group["id"], "reason": "not needed"},
                            mutation=True)
    sink.gate.set()
    assert cancelled["status"] == "cancelled"
    kids = children_of(server, group["id"])
    assert {k["status"] for k in kids} == {"cancelled"}
    assert cancelled["children"] == {"total": 3, "completed": 0, "failed": 0, "cancelled": 3}
    assert server.call("tasks.get", {"id": dependent["id"]})["status"] == "cancelled"


def test_idempotency_key_applies_to_the_group(shared_server: ErrandsServer,
                                              sink: Sink) -> None:
    server = shared_server
    body = {"title": "once", "idempotencyKey": "group-once",
            "subtasks": [sink.subtask(0), sink.subtask(1)]}
    first = server.call("tasks.createGroup", body, mutation=True)
    second = server.call("tasks.createGroup", body, mutation=True)
    assert second["id"] == first["id"]
    assert len(children_of(server, first["id"])) == 2
    server.wait_for(first["id"], {"completed"}, timeout=60)


@pytest.mark.parametrize(("subtasks", "path"), [
    ("empty", "subtasks"),
    ("101", "subtasks"),
    ("nested", "subtasks.1.taskType"),
    ("bad-config", "subtasks.0.executionConfig.apiEndpoint"),
    ("keyed", "subtasks.0.idempotencyKey"),
])
def test_bad_groups_are_bad_request_naming_the_field(
        shared_server: ErrandsServer, sink: Sink, subtasks: Any, path: str) -> None:
    one = sink.subtask(0)
    given = {"empty": [], "101": [one] * 101,
             "nested": [one, {**one, "taskType": "group", "executionConfig": {}}],
             "bad-config": [{**one, "executionConfig": {"apiEndpoint": 5}}],
             "keyed": [{**one, "idempotencyKey": "k"}]}[subtasks]
    with pytest.raises(TRPCCallError) as bad:
        shared_server.call("tasks.createGroup", {"title": "bad", "subtasks": given},
                           mutation=True)
    assert bad.value.code == "BAD_REQUEST"
    assert path in str(bad.value) or any(
        ".".join(map(str, i["path"])) == path
        for i in bad.value.error.get("data", {}).get("issues", [])), bad.value.error


def test_a_group_is_created_only_through_create_group(shared_server: ErrandsServer) -> None:
    with pytest.raises(TRPCCallError) as bad:
        shared_server.call("tasks.create", {"title": "g", "taskType": "group",
                                            "executionConfig": {}}, mutation=True)
    assert bad.value.code == "BAD_REQUEST" and "taskType" in str(bad.value)
    with pytest.raises(TRPCCallError) as scheduled:
        shared_server.call("schedules.create", {"name": "g", "cron": "0 9 * * *", "task": {
            "title": "g", "taskType": "group", "executionConfig": {}}}, mutation=True)
    assert scheduled.value.code == "BAD_REQUEST" and "task.taskType" in str(scheduled.value)


@pytest.mark.postgres
def test_two_nodes_ending_subtasks_at_once_settle_the_group_exactly(
        pg_url: str, tmp_path: Path) -> None:
    """Subtasks of one group end on two nodes at the same moments: the group's counts stay
    exact (each end counted once), it completes once, and no deadlock is met."""
    release = threading.Event()

    def answer(request: ReceivedRequest) -> Reply:
        release.wait(30)  # every subtask ends at once, on both nodes
        n = int(request.query["n"][0])
        return Reply(status=400 if n == 5 else 200, json={"id": n})

    env = {"WORKER_CONCURRENCY": "32", "HOST_CONCURRENCY": "64"}
    with HttpServer() as site:
        site.route("/both", handler=answer)
        nodes = [ErrandsServer(database_url=pg_url, workdir=tmp_path,
                               env={**env, "NODE_ID": f"node-{n}"}).start() for n in "ab"]
        try:
            group = nodes[0].call("tasks.createGroup", {
                "title": "two nodes", "policy": "all_settled", "subtasks": [
                    {"title": f"s{n}", "taskType": "api_call", "maxRetries": 0,
                     "executionConfig": {"apiEndpoint": site.url_for("/both"),
                                         "query": {"n": n}}} for n in range(40)]},
                mutation=True)
            eventually(lambda: len(site.requests_to("/both")), lambda got: got >= 20,
                       timeout=60, what="subtasks running on the nodes")
            release.set()
            done = nodes[1].wait_for(group["id"], {"completed", "failed"}, timeout=90)
            events = nodes[0].call("audit.list", {"targetId": group["id"], "action": "subtasks"})
        finally:
            for node in nodes:
                node.stop()
                node.client.close()
        logs = "".join(node.log() for node in nodes)
    assert done["status"] == "completed"
    assert done["children"] == {"total": 40, "completed": 39, "failed": 1, "cancelled": 0}
    assert [r is None for r in done["result"]["results"]].count(True) == 1
    assert len(events["items"]) == 1
    assert "deadlock detected" not in logs
    assert " ERROR " not in logs, logs[-3000:]
