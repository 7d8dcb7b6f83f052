"""The audit store in process, on SQLite and PostgreSQL: entries commit with their transaction
(a rolled-back one leaves none), are listed newest first by filters and cursor, masked, and
pruned by age (AUDIT_RETENTION_DAYS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.workflows import AuditList
from server.db.audit import audit_prune
from server.db.engine import Database
from server.services.audit import Actor, AuditService
from server.services.changes import Signals, Writer
from tests.support.databases import query_plan

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


async def test_entries_commit_with_the_change_and_are_pruned_by_age(database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    clock = [START]
    writer = Writer(db, Signals(), lambda: clock[0])
    service = AuditService(db)
    alice = Actor("alice", "operator", "req-1")
    try:
        for day in range(3):
            clock[0] = START + timedelta(days=day)
            async with writer.transaction() as cs:
                cs.audit(alice, "webhooks.create", "webhook", f"whk_{day}",
                         {"headers": {"Authorization": "Bearer s3cret"}, "day": day})
        with pytest.raises(RuntimeError):
            async with writer.transaction() as cs:
                cs.audit(alice, "webhooks.delete", "webhook", "whk_0")
                raise RuntimeError("the change failed")

        page = await service.page(AuditList(limit=2))
        assert [e.target_id for e in page.items] == ["whk_2", "whk_1"]
        assert page.items[0].detail == {"headers": {"Authorization": "********"}, "day": 2}
        assert (page.items[0].actor, page.items[0].role, page.items[0].request_id) == (
            "alice", "operator", "req-1")
        rest = await service.page(AuditList(limit=2, cursor=page.next_cursor))
        assert [e.target_id for e in rest.items] == ["whk_0"] and rest.next_cursor is None
        assert (await service.page(AuditList(action="webhooks.delete"))).items == []
        since = await service.page(AuditList(since=START + timedelta(days=1)))
        assert [e.target_id for e in since.items] == ["whk_2", "whk_1"]
        assert (await service.page(AuditList(actor="bob"))).items == []

        async with db.write() as conn:
            assert await audit_prune(conn, START + timedelta(days=1)) == 1
        left = await service.page(AuditList())
        assert [e.target_id for e in left.items] == ["whk_2", "whk_1"]
    finally:
        await db.dispose()


async def test_one_targets_history_pages_newest_first_through_its_index(
        database: Database) -> None:
    clock = [START]
    writer = Writer(database, Signals(), lambda: clock[0])
    service = AuditService(database)
    alice = Actor("alice", "operator", "req-1")
    for n in range(9):  # three targets, entries interleaved in time
        clock[0] = START + timedelta(minutes=n)
        async with writer.transaction() as cs:
            cs.audit(alice, "tasks.update", "task", f"tsk_{n % 3}", {"n": n})
    first = await service.page(AuditList(target_id="tsk_1", limit=2))
    rest = await service.page(AuditList(target_id="tsk_1", limit=2, cursor=first.next_cursor))
    assert [e.detail["n"] for e in first.items + rest.items] == [7, 4, 1]
    assert rest.next_cursor is None
    query = ("SELECT * FROM audit_entries WHERE target_id = 'tsk_1' "
             "ORDER BY at DESC, id DESC LIMIT 50")
    async with database.read() as conn:
        plan = await query_plan(conn, database.dialect, query)
    assert "ix_audit_entries_target" in plan, plan
