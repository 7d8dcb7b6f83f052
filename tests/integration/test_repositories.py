"""Conformance suite of server/db/repositories.py: every test runs on SQLite and on PostgreSQL.

Each test migrates a fresh database as the server does and calls the query functions directly,
with times it chooses (no clock is read). Two concurrent writers are played by two connections
in turn where a race matters (compare-and-set).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc

from server.db import repositories as repo
from server.db.audit import audit_list
from server.db.engine import Database
from server.db.tables import tasks
from server.services.audit import Actor, entry_values

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


@pytest.fixture
def db(database: Database) -> Database:
    return database  # tests/conftest.py: a migrated database


def task_values(task_id: str, *, status: str = "queued", priority: str = "normal",
                queued_at: datetime | None = T0, due_at: datetime | None = None,
                created_at: datetime = T0, **extra: Any) -> dict[str, Any]:
    return {
        "id": task_id, "title": f"task {task_id}", "description": None,
        "task_type": "api_call", "execution_type": "automatic", "assigned_to_bot": True,
        "requires_human_review": False, "execution_config": {"apiEndpoint": "https://x.test"},
        "scheduled_for": None, "priority": priority, "priority_rank": RANK[priority],
        "max_retries": 3, "timeout_seconds": 30, "notify_on_complete": False,
        "notify_on_failure": False, "source_webhook_id": None, "idempotency_key": None,
        "depends_on": [], "meta": None, "status": status, "status_reason": None,
        "error_count": 0, "last_error": None, "result": None, "result_summary": None,
        "created_at": created_at, "updated_at": created_at, "queued_at": queued_at,
        "due_at": due_at, "attempts": 0, "next_trigger": "create", **extra,
    }


async def insert(db: Database, *values: dict[str, Any]) -> None:
    async with db.write() as conn:
        for v in values:
            await repo.task_insert(conn, v, [])


async def claim(db: Database, limit: int, worker: str = "w1",
                now: datetime = T0) -> list[Any]:
    """Both steps of a claim in one transaction, as the runner does."""
    async with db.write() as conn:
        picked = await repo.task_claim_candidates(conn, dialect=db.dialect, limit=limit)
        return await repo.task_claim_ids(conn, [r.id for r in picked], worker=worker, now=now,
                                         lease_until=now + timedelta(seconds=30))


async def test_claim_takes_the_most_urgent_first_then_the_oldest(db: Database) -> None:
    await insert(db,
                 task_values("t_low", priority="low", queued_at=T0),
                 task_values("t_old", queued_at=T0),
                 task_values("t_new", queued_at=T0 + timedelta(seconds=5)),
                 task_values("t_urgent", priority="urgent", queued_at=T0 + timedelta(minutes=1)),
                 task_values("t_sched", status="scheduled", queued_at=None,
                             due_at=T0 - timedelta(hours=1)))
    first = await claim(db, 2)
    assert sorted(r.id for r in first) == ["t_old", "t_urgent"]
    assert {(r.status, r.lease_owner, r.attempts) for r in first} == {("in_progress", "w1", 1)}
    assert {r.lease_expires_at for r in first} == {T0 + timedelta(seconds=30)}
    rest = await claim(db, 10, worker="w2")
    assert sorted(r.id for r in rest) == ["t_low", "t_new"]  # never a scheduled task
    assert await claim(db, 10) == []


async def test_claim_never_returns_more_than_asked(db: Database) -> None:
    await insert(db, *[task_values(f"t_{i:02}") for i in range(12)])
    assert len(await claim(db, 5)) == 5
    assert len(await claim(db, 5)) == 5
    assert len(await claim(db, 5)) == 2


async def test_set_status_if_losing_a_race_returns_none(db: Database) -> None:
    await insert(db, task_values("t_1", status="pending", queued_at=None))
    async with db.write() as conn:
        won = await repo.task_set_status_if(conn, "t_1", ["pending"],
                                            {"status": "queued", "queued_at": T0})
    assert won is not None and won.status == "queued"
    async with db.write() as conn:  # a second writer that read "pending" before the first won
        lost = await repo.task_set_status_if(conn, "t_1", ["pending"],
                                             {"status": "cancelled"})
        missing = await repo.task_set_status_if(conn, "t_none", ["pending"],
                                                {"status": "cancelled"})
    assert lost is None and missing is None
    async with db.read() as conn:
        row = await repo.task_get(conn, "t_1")
    assert row is not None and row.status == "queued"


async def test_promote_due_queues_only_what_came_due(db: Database) -> None:
    await insert(db,
                 task_values("t_due", status="scheduled", queued_at=None, due_at=T0),
                 task_values("t_later", status="scheduled", queued_at=None,
                             due_at=T0 + timedelta(minutes=5)),
                 task_values("t_waiting", status="scheduled", queued_at=None, due_at=None))
    async with db.write() as conn:
        promoted = await repo.task_promote_due(conn, T0,
                                               returning=("status", "queued_at", "due_at"))
        upcoming = await repo.task_next_due_at(conn)
    assert [(r.id, r.status, r.queued_at, r.due_at) for r in promoted] == [
        ("t_due", "queued", T0, None)]
    assert upcoming == T0 + timedelta(minutes=5)
    async with db.write() as conn:
        assert await repo.task_promote_due(conn, T0) == []
        later = await repo.task_promote_due(conn, T0 + timedelta(hours=1))
        assert [tuple(r) for r in later] == [("t_later",)]  # the id alone unless asked
        assert await repo.task_next_due_at(conn) is None  # dependency waits have no time


async def test_heartbeat_extends_only_the_leases_the_worker_holds(db: Database) -> None:
    await insert(db, task_values("t_a"), task_values("t_b"), task_values("t_c"))
    await claim(db, 2, worker="w1")  # t_a, t_b (same rank: by queued_at, then id)
    await claim(db, 1, worker="w2")  # t_c
    until = T0 + timedelta(minutes=2)
    async with db.write() as conn:
        held = await repo.task_heartbeat(conn, "w1", ["t_a", "t_b", "t_c", "t_none"], until)
        assert await repo.task_heartbeat(conn, "w1", [], until) == set()
        rows = await repo.tasks_by_ids(conn, ["t_a", "t_b", "t_c"])
    assert held == {"t_a", "t_b"}
    assert rows["t_a"].lease_expires_at == until and rows["t_b"].lease_expires_at == until
    assert rows["t_c"].lease_expires_at == T0 + timedelta(seconds=30)


async def test_lease_expired_finds_run_out_leases_or_other_owners(db: Database) -> None:
    await insert(db, task_values("t_a"), task_values("t_b"), task_values("t_q"))
    await claim(db, 1, worker="w1", now=T0)  # t_a, lease until T0+30s
    await claim(db, 1, worker="w2", now=T0 + timedelta(minutes=1))  # t_b, until T0+90s
    at = T0 + timedelta(seconds=60)
    async with db.read() as conn:
        expired = await repo.task_lease_expired(conn, at)
        with_own = await repo.task_lease_expired(conn, at, owner="w2")  # w2 restarted
        every = await repo.task_lease_expired(conn, T0, every=True)  # SQLite at start
        none_yet = await repo.task_lease_expired(conn, T0)
    assert [r.id for r in expired] == ["t_a"]
    assert [r.id for r in with_own] == ["t_a", "t_b"]
    assert [r.id for r in every] == ["t_a", "t_b"]
    assert none_yet == []


async def test_events_keep_their_order_and_resume_after_an_id(db: Database) -> None:
    async with db.write() as conn:
        assert await repo.event_last_id(conn) == 0
        ids = await repo.event_insert(conn, [
            {"task_id": t, "payload": f'{{"n":{n}}}'.encode(), "created_at": T0 + timedelta(
                seconds=n)} for n, t in enumerate(["t_a", "t_b", "t_a", "t_c"])])
    assert ids == sorted(ids) and len(set(ids)) == 4
    async with db.read() as conn:
        everything = await repo.events_after(conn, 0, task_id=None)
        of_a = await repo.events_after(conn, ids[0], task_id="t_a")
        page = await repo.events_after(conn, 0, task_id=None, limit=2)
        assert await repo.event_last_id(conn) == ids[-1]
    assert [r.id for r in everything] == ids
    assert [(r.id, r.payload) for r in of_a] == [(ids[2], b'{"n":2}')]
    assert [r.id for r in page] == ids[:2]
    async with db.write() as conn:
        pruned = await repo.events_prune(conn, T0 + timedelta(seconds=2))
    async with db.read() as conn:
        left = await repo.events_after(conn, 0, task_id=None)
    assert pruned == 2 and [r.id for r in left] == ids[2:]


async def test_tasks_by_ids_returns_the_tasks_that_exist_by_id(db: Database) -> None:
    await insert(db, task_values("t1"), task_values("t2"), task_values("t3"))
    async with db.read() as conn:
        found = await repo.tasks_by_ids(conn, ["t3", "t1", "nope"])
        one = await repo.tasks_by_ids(conn, ["t2"])
        none = await repo.tasks_by_ids(conn, ["nope"])
        # every length goes through the same statement (no expanding IN on PostgreSQL)
        many = await repo.tasks_by_ids(conn, [f"x{i}" for i in range(40)] + ["t2"])
    assert sorted(found) == ["t1", "t3"] and found["t3"].title == "task t3"
    assert list(one) == ["t2"] and none == {} and list(many) == ["t2"]


async def test_event_insert_returns_the_ids_in_the_order_of_the_rows(db: Database) -> None:
    rows = [{"task_id": f"t{i % 7}", "payload": f"p{i}".encode(), "created_at": T0}
            for i in range(2500)]  # several INSERT statements (1,000 rows a page)
    async with db.write() as conn:
        ids = await repo.event_insert(conn, rows)
        stored = {r.id: (r.task_id, bytes(r.payload)) for r in
                  await repo.events_after(conn, 0, task_id=None, limit=5000)}
    assert len(set(ids)) == 2500
    assert [stored[i] for i in ids] == [(r["task_id"], r["payload"]) for r in rows]


async def test_timestamps_come_back_aware_utc_to_the_microsecond(db: Database) -> None:
    at = datetime(2030, 5, 1, 9, 0, 1, 123456, tzinfo=UTC)
    local = at.astimezone(timezone(timedelta(hours=-5)))  # any zone in: UTC out
    await insert(db, task_values("t1", created_at=local, due_at=datetime.max.replace(tzinfo=UTC)))
    async with db.read() as conn:
        row = await repo.task_get(conn, "t1")
    assert row is not None
    assert row.created_at == at and row.created_at.tzinfo is UTC
    assert row.due_at == datetime.max.replace(tzinfo=UTC) and row.queued_at == T0
    assert row.started_at is None


async def test_promote_due_takes_a_burst_of_ten_thousand_in_one_statement(db: Database) -> None:
    """10,000 due in the same second become queued together (P4), the rest next time."""
    rows = [task_values(f"t{i:05d}", status="scheduled", queued_at=None, due_at=T0)
            for i in range(10_001)]
    async with db.write() as conn:
        for start in range(0, len(rows), 2000):
            await conn.execute(tasks.insert(), rows[start:start + 2000])
    async with db.write() as conn:
        promoted = await repo.task_promote_due(conn, T0, returning=("queued_at",))
        assert len(promoted) == 10_000 and {r.queued_at for r in promoted} == {T0}
        assert await repo.task_next_due_at(conn) == T0  # one left: the timer runs again
        assert len(await repo.task_promote_due(conn, T0)) == 1


async def test_event_insert_returns_each_event_its_id_in_order(db: Database) -> None:
    """Several events go in one driver-level statement; the ids come back in the order given,
    each the id of its own row (task, payload and time as given)."""
    rows = [{"task_id": f"t_{i % 7}", "payload": bytes([i % 251]) * (1 + i % 3),
             "created_at": T0 + timedelta(seconds=i % 2)} for i in range(300)]
    async with db.write() as conn:
        ids = await repo.event_insert(conn, rows)
        single = await repo.event_insert(conn, [rows[0]])
    async with db.read() as conn:
        stored = {r.id: r for r in await repo.events_after(conn, 0, task_id=None)}
    assert len(set(ids)) == 300 and ids == sorted(ids) and single[0] > ids[-1]
    assert [(stored[i].task_id, bytes(stored[i].payload), stored[i].created_at) for i in ids] == [
        (r["task_id"], r["payload"], r["created_at"]) for r in rows]


async def test_event_pruning_keeps_every_event_younger_than_the_cut(db: Database) -> None:
    """Pruning bisects the ids; an event whose time is out of id order is kept, never one
    younger than the cut deleted, and gaps in the ids change nothing."""
    seconds = [0, 1, 2, 9, 3, 4, 5, 6, 7, 8]  # the fourth event came late (another node)
    async with db.write() as conn:
        ids = await repo.event_insert(conn, [
            {"task_id": "t_a", "payload": b"{}", "created_at": T0 + timedelta(seconds=n)}
            for n in seconds])
        gone = await repo.events_prune(conn, T0 - timedelta(seconds=1))
        none_left_out = await repo.events_prune(conn, T0 + timedelta(seconds=5))
    async with db.read() as conn:
        left = [r.id for r in await repo.events_after(conn, 0, task_id=None)]
    assert gone == 0
    young = {i for i, n in zip(ids, seconds, strict=True) if n >= 5}
    assert young <= set(left) and ids[3] in left  # the late one (9 s) stays
    assert none_left_out == 5 and len(left) == 5  # 0, 1, 2, 3 and 4 s went
    async with db.write() as conn:
        everything = await repo.events_prune(conn, T0 + timedelta(days=1))
        again = await repo.events_prune(conn, T0 + timedelta(days=1))
    assert everything == len(left) and again == 0
    async with db.write() as conn:  # ids go on after the deleted ones, as returned
        more = await repo.event_insert(conn, [
            {"task_id": "t_b", "payload": b"{}", "created_at": T0} for _ in range(3)])
    async with db.read() as conn:
        assert [r.id for r in await repo.events_after(conn, 0, task_id=None)] == more
    assert more[0] > ids[-1]


async def test_inserted_tasks_are_the_rows_their_values_say(db: Database) -> None:
    """tasks.create does not read its row back: task_row_of(values) is what the database
    returns for that row, column for column (times in UTC whatever their offset)."""
    plus2 = timezone(timedelta(hours=2))
    given = [task_values("t_a", scheduled_for=datetime(2030, 5, 1, 11, 30, tzinfo=plus2),
                         meta={"k": [1, "x"]}, description="d"),
             task_values("t_b", execution_config={"apiEndpoint": "https://y.test", "n": 1.5},
                         depends_on=["t_a"])]
    async with db.write() as conn:
        await repo.tasks_insert(conn, given)
    async with db.read() as conn:
        for values in given:
            stored = await repo.task_get(conn, values["id"])
            assert stored is not None
            assert tuple(repo.task_row_of(values)) == tuple(stored)  # type: ignore[arg-type]


async def test_a_transactions_closing_inserts_write_what_their_values_say(db: Database) -> None:
    """A write transaction's new tasks, events and audit entries, inserted together
    (changes_insert_sqlite: one driver call; changes_insert_pg: one statement): each task is
    task_row_of its values, the events' ids come back in the order given, the audit entries
    are there with their details."""
    given = [task_values("t_a", meta={"k": [1, "x"]}, description="d", notify_on_failure=True),
             task_values("t_b", execution_config={"apiEndpoint": "https://y.test", "n": 1.5},
                         meta=None, scheduled_for=T0 + timedelta(hours=1))]
    events = [{"task_id": task_id, "payload": payload, "created_at": T0}
              for task_id, payload in (("t_b", b"b1"), ("t_a", b"a1"), ("t_b", b"b2"))]
    audits = [entry_values(Actor("ops", "admin", "req-1"), "tasks.create", "task", v["id"],
                           {"title": v["title"], "n": [1, {"x": None}]}, T0) for v in given]
    async with db.write() as conn:
        insert = repo.changes_insert_sqlite if db.is_sqlite else repo.changes_insert_pg
        ids = await insert(conn, given, events, audits)
    assert ids == sorted(ids) and len(set(ids)) == 3
    async with db.read() as conn:
        for values in given:
            stored = await repo.task_get(conn, values["id"])
            assert stored is not None
            assert tuple(repo.task_row_of(values)) == tuple(stored)  # type: ignore[arg-type]
        stored_events = await repo.events_after(conn, 0, task_id=None)
        entries = await audit_list(conn, target_id=None, actor="ops", action=None, since=None,
                                   limit=10, after=None)
    assert [(e.id, e.task_id, bytes(e.payload)) for e in stored_events] == [
        (i, e["task_id"], e["payload"]) for i, e in zip(ids, events, strict=True)]
    assert sorted((a.target_id, a.detail["title"], a.detail["n"], a.role, a.request_id)
                  for a in entries) == [("t_a", "task t_a", [1, {"x": None}], "admin", "req-1"),
                                        ("t_b", "task t_b", [1, {"x": None}], "admin", "req-1")]


async def test_inserted_attempts_are_the_rows_their_values_say(db: Database) -> None:
    """A claim does not read its attempts back on SQLite: execution_row_of(values) is what the
    database returns for that row (and what execution_insert returns on either database)."""
    await insert(db, task_values("t_a"), task_values("t_b"))
    plus2 = timezone(timedelta(hours=2))
    given = [{"id": f"exe_{t}", "task_id": t, "attempt_number": 1, "triggered_by": "create",
              "status": "running", "started_at": datetime(2030, 5, 1, 11, 0, tzinfo=plus2),
              "worker_id": "w1", "steps": [], "artifacts": [{"id": "art_1"}]}
             for t in ("t_a", "t_b")]
    async with db.write() as conn:
        returned = await repo.execution_insert(conn, given)
    async with db.read() as conn:
        stored = await repo.executions_by_ids(conn, [v["id"] for v in given])
    for values, row in zip(given, returned, strict=True):
        assert tuple(repo.execution_row_of(values)) == tuple(stored[values["id"]])
        assert tuple(row) == tuple(stored[values["id"]])


async def test_closing_inserts_are_all_or_nothing_and_fail_as_sqlalchemy_errors(
        db: Database) -> None:
    """A create's closing inserts run alone (PostgreSQL: in autocommit when the transaction
    sent nothing before them) or after other statements; a duplicate is SQLAlchemy's
    IntegrityError either way, and none of that statement's rows stay."""
    insert = repo.changes_insert_sqlite if db.is_sqlite else repo.changes_insert_pg
    await repo_insert_one(db, "t_a")
    for read_first in (False, True):
        with pytest.raises(sa_exc.IntegrityError):
            async with db.write() as conn:
                if read_first:
                    assert await repo.task_get(conn, "t_a") is not None
                await insert(conn, [task_values("t_new"), task_values("t_a")],
                             [{"task_id": "t_new", "payload": b"x", "created_at": T0}],
                             [entry_values(Actor("ops", None), "tasks.create", "task", "t_new",
                                           {}, T0)])
        async with db.read() as conn:
            assert await repo.task_get(conn, "t_new") is None
            assert await repo.events_after(conn, 0, task_id="t_new") == []
            assert await audit_list(conn, target_id="t_new", actor=None, action=None,
                                    since=None, limit=10, after=None) == []
    async with db.write() as conn:  # the connection is fine afterwards
        assert await insert(conn, [task_values("t_new")], [
            {"task_id": "t_new", "payload": b"x", "created_at": T0}], [])


async def repo_insert_one(db: Database, task_id: str) -> None:
    async with db.write() as conn:
        await repo.tasks_insert(conn, [task_values(task_id)])
