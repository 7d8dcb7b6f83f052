"""Tasks, continued (CONTRACT §17) through the running server, on SQLite and PostgreSQL: tags
and the tag filter, people (assignee, tasks.reassign)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa

from server.db import repositories as repo
from server.db import retention
from server.db.engine import Database
from server.db.tables import NO_DEADLINE, task_tags
from tests.integration.test_repositories import task_values
from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer, TRPCCallError
from tests.support.waiting import eventually

OP = {"authorization": "Bearer op-key"}
VIEW = {"authorization": "Bearer view-key"}


@pytest.fixture(scope="module")
def outside() -> Iterator[HttpServer]:
    with HttpServer() as server:
        server.route("/ok", json={"ok": True})
        yield server


def api(url: str, **extra: Any) -> dict[str, Any]:
    return {"title": "call", "taskType": "api_call", "executionConfig": {"apiEndpoint": url},
            **extra}


def create(server: ErrandsServer, data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = server.call("tasks.create", data, mutation=True)
    return found


def error_of(fn: Callable[[], Any]) -> TRPCCallError:
    with pytest.raises(TRPCCallError) as info:
        fn()
    return info.value


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**(delta or {"days": 1}))).isoformat()


def ids(server: ErrandsServer, **query: Any) -> set[str]:
    return {t["id"] for t in server.call("tasks.list", query)["items"]}


# --- tags ------------------------------------------------------------------------------------

def test_tags_are_kept_and_filter_tasks_holding_all_of_them(
        shared_server: ErrandsServer, outside: HttpServer) -> None:
    server = shared_server
    a_tag, b_tag = f"a:{uuid.uuid4().hex[:8]}", f"b.{uuid.uuid4().hex[:8]}"
    both = create(server, api(outside.url_for("/ok"), tags=[a_tag, b_tag, a_tag],
                              scheduledFor=later()))
    only_a = create(server, api(outside.url_for("/ok"), tags=[a_tag], scheduledFor=later()))
    create(server, api(outside.url_for("/ok"), scheduledFor=later()))
    assert both["tags"] == [a_tag, b_tag]
    assert server.call("tasks.get", {"id": only_a["id"]})["tags"] == [a_tag]

    assert ids(server, tags=[a_tag]) == {both["id"], only_a["id"]}
    assert ids(server, tags=[a_tag, b_tag]) == {both["id"]}
    assert ids(server, tags=[b_tag], status="scheduled") == {both["id"]}
    assert ids(server, tags=[f"none-{uuid.uuid4().hex[:6]}"]) == set()

    server.call("tasks.update", {"id": only_a["id"], "patch": {"tags": [b_tag, a_tag]}},
                mutation=True, headers=OP)
    assert ids(server, tags=[a_tag, b_tag]) == {both["id"], only_a["id"]}
    server.call("tasks.update", {"id": both["id"], "patch": {"tags": []}}, mutation=True)
    assert ids(server, tags=[a_tag]) == {only_a["id"]}
    assert server.call("tasks.get", {"id": both["id"]})["tags"] == []


@pytest.mark.parametrize(("tags", "path"), [
    (["ok", "no spaces"], ["tags", 1]),
    (["ok", ""], ["tags", 1]),
    (["x" * 51], ["tags", 0]),
    ([f"t{i}" for i in range(21)], ["tags"]),
])
def test_bad_tags_name_the_field(shared_server: ErrandsServer, outside: HttpServer,
                                 tags: list[str], path: list[Any]) -> None:
    error = error_of(lambda: create(shared_server, api(outside.url_for("/ok"), tags=tags)))
    assert error.code == "BAD_REQUEST"
    assert error.error["data"]["issues"][0]["path"] == path
    task = create(shared_server, api(outside.url_for("/ok"), scheduledFor=later()))
    error = error_of(lambda: shared_server.call(
        "tasks.update", {"id": task["id"], "patch": {"tags": tags}}, mutation=True))
    assert error.code == "BAD_REQUEST"
    assert error.error["data"]["issues"][0]["path"] == ["patch", *path]
    error = error_of(lambda: shared_server.call("tasks.list", {"tags": tags}))
    assert error.code == "BAD_REQUEST"


# --- people ----------------------------------------------------------------------------------

def test_reassign_to_a_person_and_back_to_the_bot(shared_server: ErrandsServer,
                                                  outside: HttpServer) -> None:
    server = shared_server
    person = f"Dana {uuid.uuid4().hex[:6]}"
    task = create(server, api(outside.url_for("/ok"), scheduledFor=later()))
    assert task["status"] == "scheduled" and task["assignee"] is None

    mine = server.call("tasks.reassign", {"id": task["id"], "assignedToBot": False,
                                          "assignee": person}, mutation=True, headers=OP)
    assert (mine["status"], mine["assignedToBot"], mine["assignee"]) == \
        ("pending", False, person)
    assert ids(server, assignee=person) == {task["id"]}

    back = server.call("tasks.reassign", {"id": task["id"], "assignedToBot": True},
                       mutation=True, headers=OP)
    assert (back["status"], back["assignedToBot"], back["assignee"]) == \
        ("scheduled", True, None)  # placed as on create: its scheduledFor is still ahead
    assert ids(server, assignee=person) == set()

    entries = server.call("audit.list", {"targetId": task["id"]})["items"]
    assert [e["action"] for e in entries][:2] == ["tasks.reassign", "tasks.reassign"]

    now = create(server, api(outside.url_for("/ok"), executionType="manual",
                             assignedToBot=False))
    assert now["status"] == "pending"
    queued = server.call("tasks.reassign", {"id": now["id"], "assignedToBot": True},
                         mutation=True, headers=OP)
    assert queued["assignedToBot"] is True and queued["status"] == "pending"  # manual stays
    done = server.wait_for(create(server, api(outside.url_for("/ok")))["id"], {"completed"})
    error = error_of(lambda: server.call("tasks.reassign", {
        "id": done["id"], "assignedToBot": False, "assignee": person}, mutation=True))
    assert error.code == "CONFLICT"


def test_reassign_to_the_bot_goes_to_review_when_required(shared_server: ErrandsServer,
                                                          outside: HttpServer) -> None:
    server = shared_server
    task = create(server, api(outside.url_for("/ok"), requiresHumanReview=True,
                              assignedToBot=False, assignee="Sam"))
    assert task["status"] == "awaiting_review" and task["assignee"] == "Sam"
    person = server.call("tasks.reassign", {"id": task["id"], "assignedToBot": False,
                                            "assignee": "Lee"}, mutation=True)
    assert person["status"] == "pending" and person["assignee"] == "Lee"
    bot = server.call("tasks.reassign", {"id": task["id"], "assignedToBot": True},
                      mutation=True)
    assert bot["status"] == "awaiting_review"


def test_reassign_checks_its_input(shared_server: ErrandsServer, outside: HttpServer) -> None:
    task = create(shared_server, api(outside.url_for("/ok"), scheduledFor=later()))
    error = error_of(lambda: shared_server.call(
        "tasks.reassign", {"id": task["id"], "assignedToBot": False}, mutation=True))
    assert error.code == "BAD_REQUEST" and error.error["data"]["issues"][0]["path"] == \
        ["assignee"]
    error = error_of(lambda: shared_server.call(
        "tasks.reassign", {"id": task["id"], "assignedToBot": True}, mutation=True,
        headers=VIEW))
    assert error.code == "FORBIDDEN"


# --- manual runs while paused ----------------------------------------------------------------

def test_execute_runs_a_task_while_autorun_is_paused(
        errands_server: Callable[..., ErrandsServer], database_url: str,
        outside: HttpServer) -> None:
    server = errands_server(database_url, api_key="admin-key")
    server.call("system.setAutorun", {"enabled": False}, mutation=True)
    held = create(server, api(outside.url_for("/ok")))
    manual = create(server, api(outside.url_for("/ok"), executionType="manual"))
    later_one = create(server, api(outside.url_for("/ok"), scheduledFor=later()))
    for task in (manual, later_one):
        assert server.call("tasks.execute", {"id": task["id"]}, mutation=True)["status"] == \
            "queued"
        done = server.wait_for(task["id"], {"completed", "failed"})
        assert done["status"] == "completed", done
        (attempt,) = server.call("tasks.executions", {"taskId": task["id"]})
        assert attempt["triggeredBy"] == "manual"

    # one type paused: a person's run of that type goes too
    server.call("system.setAutorun", {"enabled": True, "pausedTypes": ["api_call"]},
                mutation=True)
    typed = create(server, api(outside.url_for("/ok"), executionType="manual"))
    server.call("tasks.execute", {"id": typed["id"]}, mutation=True)
    assert server.wait_for(typed["id"], {"completed", "failed"})["status"] == "completed"

    still = server.call("tasks.get", {"id": held["id"]})
    assert (still["status"], still["statusReason"]) == ("queued", "autorun paused")
    server.call("system.setAutorun", {"pausedTypes": []}, mutation=True)
    assert server.wait_for(held["id"], {"completed", "failed"})["status"] == "completed"


# --- retry with changes, duplicate -----------------------------------------------------------

def test_retry_with_a_patch_runs_the_changed_task(shared_server: ErrandsServer,
                                                  outside: HttpServer) -> None:
    server = shared_server
    outside.route("/gone", status=404, json={"error": "no"})
    task = create(server, api(outside.url_for("/gone"), maxRetries=0, tags=["r1"]))
    assert server.wait_for(task["id"], {"failed"})["status"] == "failed"

    error = error_of(lambda: server.call("tasks.retry", {"id": task["id"], "patch": {
        "executionConfig": {"apiEndpoint": "not a url"}}}, mutation=True))
    assert error.code == "BAD_REQUEST"
    assert error.error["data"]["issues"][0]["path"][:2] == ["patch", "executionConfig"]
    error = error_of(lambda: server.call("tasks.retry", {"id": task["id"], "patch": {
        "tags": ["bad tag"]}}, mutation=True))
    assert error.error["data"]["issues"][0]["path"] == ["patch", "tags", 0]
    assert server.call("tasks.get", {"id": task["id"]})["status"] == "failed"

    again = server.call("tasks.retry", {"id": task["id"], "patch": {
        "executionConfig": {"apiEndpoint": outside.url_for("/ok")}, "tags": ["r2"]}},
        mutation=True, headers=OP)
    assert again["status"] == "queued" and again["tags"] == ["r2"]
    done = server.wait_for(task["id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    assert done["result"]["body"] == {"ok": True}
    (entry, *_) = server.call("audit.list", {"targetId": task["id"], "action": "tasks.retry"})[
        "items"]
    assert entry["detail"]["changed"]["executionConfig"]["to"]["apiEndpoint"] == \
        outside.url_for("/ok")


def test_retry_with_a_changed_config_goes_back_to_review(shared_server: ErrandsServer,
                                                         outside: HttpServer) -> None:
    server = shared_server
    outside.route("/gone2", status=404, json={"error": "no"})
    task = create(server, api(outside.url_for("/gone2"), maxRetries=0,
                              requiresHumanReview=True))
    server.call("tasks.approve", {"id": task["id"]}, mutation=True)
    assert server.wait_for(task["id"], {"failed"})["status"] == "failed"
    kept = server.call("tasks.retry", {"id": task["id"], "patch": {"title": "renamed"}},
                       mutation=True)
    assert kept["status"] == "queued"  # a title is not what the approval covered
    assert server.wait_for(task["id"], {"failed"})["title"] == "renamed"
    back = server.call("tasks.retry", {"id": task["id"], "patch": {
        "executionConfig": {"apiEndpoint": outside.url_for("/ok")}}}, mutation=True)
    assert back["status"] == "awaiting_review"
    assert back["statusReason"] == "approval withdrawn: executionConfig changed"
    assert back["reviewedBy"] is None


def test_duplicate_copies_the_task_with_changes(shared_server: ErrandsServer,
                                                outside: HttpServer) -> None:
    server = shared_server
    key = f"dup-{uuid.uuid4().hex}"
    original = create(server, {
        "title": "original", "taskType": "api_call", "idempotencyKey": key,
        "tags": ["x"], "metadata": {"a": 1}, "priority": "high",
        "executionConfig": {"apiEndpoint": outside.url_for("/ok"), "authType": "bearer",
                            "bearerToken": "tok-dup-secret"}})
    server.wait_for(original["id"], {"completed"})
    copy = server.call("tasks.duplicate", {"id": original["id"], "patch": {"title": "copy"}},
                       mutation=True, headers=OP)
    assert copy["id"] != original["id"] and copy["idempotencyKey"] is None
    assert (copy["title"], copy["priority"], copy["tags"]) == ("copy", "high", ["x"])
    assert copy["metadata"] == {"a": 1, "duplicateOf": original["id"]}
    assert copy["executionConfig"]["bearerToken"] == "********"
    done = server.wait_for(copy["id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    (attempt,) = server.call("tasks.executions", {"taskId": copy["id"]})
    assert attempt["triggeredBy"] == "create"

    reviewed = create(server, api(outside.url_for("/ok"), requiresHumanReview=True))
    server.call("tasks.approve", {"id": reviewed["id"]}, mutation=True)
    again = server.call("tasks.duplicate", {"id": reviewed["id"]}, mutation=True)
    assert again["status"] == "awaiting_review"  # placed as on create

    error = error_of(lambda: server.call("tasks.duplicate", {
        "id": original["id"], "patch": {"maxRetries": 99}}, mutation=True))
    assert error.code == "BAD_REQUEST"
    assert error.error["data"]["issues"][0]["path"] == ["patch", "maxRetries"]
    error = error_of(lambda: server.call("tasks.duplicate", {"id": "tsk_nope"}, mutation=True))
    assert error.code == "NOT_FOUND"
    error = error_of(lambda: server.call("tasks.duplicate", {"id": original["id"]},
                                         mutation=True, headers=VIEW))
    assert error.code == "FORBIDDEN"


# --- deadlines, escalation -------------------------------------------------------------------

def test_an_earlier_deadline_is_claimed_first_within_a_priority(
        errands_server: Callable[..., ErrandsServer], database_url: str,
        outside: HttpServer) -> None:
    server = errands_server(database_url, api_key="admin-key",
                            env={"TYPE_CONCURRENCY": "api_call=1"})
    server.call("system.setAutorun", {"pausedTypes": ["api_call"]}, mutation=True)
    none = create(server, api(outside.url_for("/ok"), title="no deadline"))
    late = create(server, api(outside.url_for("/ok"), title="late", deadline=later(hours=2)))
    soon = create(server, api(outside.url_for("/ok"), title="soon", deadline=later(hours=1)))
    urgent = create(server, api(outside.url_for("/ok"), title="urgent", priority="high"))
    assert soon["deadline"] is not None and none["deadline"] is None
    server.call("system.setAutorun", {"pausedTypes": []}, mutation=True)
    started = []
    for task in (none, late, soon, urgent):
        server.wait_for(task["id"], {"completed"})
        (attempt,) = server.call("tasks.executions", {"taskId": task["id"]})
        started.append((attempt["startedAt"], task["title"]))
    # priority first; within one, the earlier deadline, then no deadline (queued order)
    assert [title for _, title in sorted(started)] == ["urgent", "soon", "late", "no deadline"]


def test_a_missed_deadline_is_reported_once_and_escalated(
        errands_server: Callable[..., ErrandsServer], database_url: str,
        outside: HttpServer) -> None:
    server = errands_server(database_url, api_key="admin-key", env={
        "STALLED_CHECK_SECONDS": "0.3", "STALLED_ACTION": "escalate",
        "STALLED_AFTER": "awaiting_review=2s,pending=30s", "ESCALATION_ASSIGNEE": "Ops Lead"})
    task = create(server, api(outside.url_for("/ok"), title="Call the client",
                              executionType="manual", deadline=later(seconds=2)))
    on_time = create(server, api(outside.url_for("/ok"), deadline=later(seconds=2)))
    with httpx.Client(timeout=30) as client, client.stream(
            "GET", f"{server.url}/tasks.onChange",
            params={"input": msgspec.json.encode({"id": task["id"]}).decode()},
            headers={"accept": "text/event-stream", **server.headers()}) as stream:
        kinds = []
        for line in stream.iter_lines():
            if line.startswith("data: {"):
                kinds.append(msgspec.json.decode(line[6:]).get("type"))
                if kinds[-1] == "deadline_missed":
                    break
    missed = server.call("tasks.get", {"id": task["id"]})
    assert (missed["status"], missed["statusReason"]) == ("pending", "deadline missed")
    assert server.wait_for(on_time["id"], {"completed"})["statusReason"] is None
    (entry,) = server.call("audit.list", {"targetId": task["id"],
                                          "action": "deadline_missed"})["items"]
    assert entry["actor"] == "system" and entry["detail"]["status"] == "pending"

    def escalations() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = server.call("tasks.list", {"tags": ["escalation"]})[
            "items"]
        return found
    (escalation,) = eventually(escalations)
    assert escalation["title"] == "Escalation: Call the client"
    assert (escalation["status"], escalation["priority"], escalation["executionType"],
            escalation["taskType"], escalation["assignee"], escalation["tags"]) == \
        ("pending", "urgent", "manual", "notification", "Ops Lead", ["escalation"])
    assert escalation["metadata"] == {"relatedTaskId": task["id"]}

    # a stall escalates too, once per stall
    review = create(server, api(outside.url_for("/ok"), title="Review me",
                                requiresHumanReview=True))
    eventually(lambda: len(escalations()) == 2)
    time.sleep(1.5)  # several more checks: still one escalation each
    titles = sorted(t["title"] for t in escalations())
    assert titles == ["Escalation: Call the client", "Escalation: Review me"]
    related = {t["metadata"]["relatedTaskId"] for t in escalations()}
    assert related == {task["id"], review["id"]}

    # a new deadline is watched afresh
    moved = server.call("tasks.update", {"id": task["id"], "patch": {
        "deadline": later(seconds=1)}}, mutation=True)
    assert moved["deadline"] is not None
    eventually(lambda: len(escalations()) == 3)
    entries = server.call("audit.list", {"targetId": task["id"],
                                         "action": "deadline_missed"})["items"]
    assert len(entries) == 2


def test_an_escalation_that_stalls_is_not_escalated_again(
        errands_server: Callable[..., ErrandsServer], sqlite_database_url: str,
        outside: HttpServer) -> None:
    server = errands_server(sqlite_database_url, api_key="admin-key", env={
        "STALLED_CHECK_SECONDS": "0.3", "STALLED_ACTION": "escalate",
        "STALLED_AFTER": "pending=2s"})
    task = create(server, api(outside.url_for("/ok"), title="Wait", executionType="manual"))
    (escalation,) = eventually(lambda: server.call("tasks.list", {"tags": ["escalation"]})[
        "items"], timeout=30)
    assert escalation["metadata"] == {"relatedTaskId": task["id"]}
    assert escalation["assignee"] is None  # ESCALATION_ASSIGNEE unset
    stalled = eventually(lambda: (t := server.call("tasks.get", {"id": escalation["id"]}))
                         ["stalledSince"] and t, timeout=30)
    assert stalled["status"] == "pending"  # the escalation stalled in turn ...
    time.sleep(1)  # ... and several checks later, nothing escalates it
    assert len(server.call("tasks.list", {"tags": ["escalation"]})["items"]) == 1


async def test_a_batch_of_creates_with_and_without_deadlines_stores_what_it_says(
        database: Database) -> None:
    """One executemany holds tasks with a deadline and without (NO_DEADLINE, not NULL);
    task_row_of(values) is the row the database holds, the claim takes the deadline first."""
    soon = datetime(2030, 1, 1, tzinfo=UTC)
    given = [task_values("t_none", deadline=None), task_values("t_soon", deadline=soon),
             task_values("t_none2", deadline=None)]
    async with database.write() as conn:
        await repo.tasks_insert(conn, given)
        await repo.task_insert(conn, task_values("t_dep", deadline=None), ["t_none"])
    async with database.read() as conn:
        for values in given:
            stored = await repo.task_get(conn, values["id"])
            assert tuple(repo.task_row_of(values)) == tuple(stored)  # type: ignore[arg-type]
        dep = await repo.task_get(conn, "t_dep")
        assert dep is not None and dep.deadline == NO_DEADLINE
    async with database.write() as conn:
        picked = await repo.task_claim_candidates(
            conn, dialect="postgresql" if not database.is_sqlite else "sqlite", limit=2)
    assert [r.id for r in picked] == ["t_soon", "t_dep"]


async def test_retention_deletes_a_tasks_tags_with_it(database: Database) -> None:
    ended = datetime(2020, 1, 1, tzinfo=UTC)
    async with database.write() as conn:
        await repo.tasks_insert(conn, [
            task_values("t_old", status="completed", completed_at=ended, created_at=ended,
                        tags=["keep:x"]),
            task_values("t_new", status="queued", completed_at=None, tags=["keep:x"])])
        await repo.task_tags_set(conn, "t_old", ["keep:x"], replace=False)
        await repo.task_tags_set(conn, "t_new", ["keep:x"], replace=False)
    deleted, _ = await retention.prune(database, datetime(2021, 1, 1, tzinfo=UTC))
    assert deleted == 1
    async with database.read() as conn:
        left = await repo.task_list(conn, statuses=None, task_type=None, search=None, limit=10,
                                    after=None, tags=["keep:x"])
        tagged = (await conn.execute(sa.select(task_tags.c.task_id))).scalars().all()
    assert [r.id for r in left] == ["t_new"] and list(tagged) == ["t_new"]
