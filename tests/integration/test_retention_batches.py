"""Retention at scale (server/db/retention.py): a clean-up of many old tasks runs in short
batches that claims get in between — they are answered while it is under way, not after it —
and it deletes every old terminal task and nothing else, its candidates read from an index
(no scan of the table, no sort), on SQLite and PostgreSQL. No wall clock: what a claim saw
of the clean-up's progress is the evidence."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from server.db import counts, retention
from server.db import repositories as repo
from server.db.engine import Database
from server.db.rollups import rollups_fold_db, rollups_pending
from server.db.tables import task_counts, task_executions, tasks
from tests.integration.test_counts import full_count, kept
from tests.integration.test_list_plans import _caught
from tests.integration.test_repositories import T0, task_values

OLD = 2000
CUTOFF = T0 - timedelta(days=1)


def _attempt(task_id: str, at: datetime) -> dict[str, Any]:
    return {"id": f"x_{task_id}", "task_id": task_id, "attempt_number": 1,
            "triggered_by": "create", "status": "success", "started_at": at,
            "completed_at": at, "worker_id": "w", "steps": [], "artifacts": []}


async def _seed(db: Database) -> None:
    old_at = T0 - timedelta(days=10)
    old = [task_values(f"old_{i:05}", status="completed" if i % 4 else "failed",
                       created_at=old_at + timedelta(seconds=i), queued_at=None,
                       completed_at=old_at + timedelta(seconds=i, minutes=1))
           for i in range(OLD)]
    # Old but open (never deleted), ended recently (kept), and the queue the claims take.
    old_open = [task_values(f"open_{i:03}", status="pending", created_at=old_at,
                            queued_at=None, completed_at=None) for i in range(30)]
    late = [task_values(f"late_{i:03}", status="completed", created_at=old_at,
                        queued_at=None, completed_at=T0 - timedelta(hours=1))
            for i in range(30)]
    queue = [task_values(f"q_{i:03}", queued_at=T0 + timedelta(milliseconds=i),
                         completed_at=None) for i in range(60)]
    async with db.write() as conn:
        for start in range(0, OLD, 1000):
            await repo.tasks_insert(conn, old[start:start + 1000])
        await repo.tasks_insert(conn, old_open + late + queue)
        await conn.execute(task_executions.insert(),
                           [_attempt(r["id"], r["completed_at"]) for r in old[::2]])


async def _old_left(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(tasks)
                                       .where(tasks.c.id.like("old_%")))).scalar_one())


async def test_claims_are_answered_while_retention_deletes_many_old_tasks(
        database: Database) -> None:
    await _seed(database)
    seen: list[int] = []  # old tasks left, as each claim found them right after it
    claimed: list[str] = []
    cleaning = asyncio.create_task(retention.prune(database, CUTOFF, batch=100))

    while not cleaning.done():  # (once the queue is empty a claim finds nothing)
        async with database.write() as conn:
            picked = await repo.task_claim_candidates(conn, dialect=database.dialect,
                                                      limit=1)
            got = await repo.task_claim_ids(conn, [r.id for r in picked], worker="w",
                                            now=T0, lease_until=T0 + timedelta(seconds=30))
        claimed.extend(r.id for r in got)
        seen.append(await _old_left(database))
    deleted, _ = await cleaning

    assert deleted == OLD
    # Claims were answered between the clean-up's batches, at several points of it — not
    # held until it ended (one long transaction would show them only OLD or 0).
    during = {n for n in seen if 0 < n < OLD}
    assert len(during) >= 3, seen
    async with database.read() as conn:
        left = set(await conn.scalars(sa.select(tasks.c.id)))
        attempts = int((await conn.execute(
            sa.select(sa.func.count()).select_from(task_executions))).scalar_one())
    assert not any(i.startswith("old_") for i in left)
    assert {i for i in left if not i.startswith("q_")} == (
        {f"open_{i:03}" for i in range(30)} | {f"late_{i:03}" for i in range(30)})
    assert len([i for i in left if i.startswith("q_")]) == 60
    assert attempts == 0
    assert await kept(database) == await full_count(database)
    await counts.fold(database)
    assert await kept(database) == await full_count(database)


async def test_retention_reads_its_candidates_from_an_index(database: Database) -> None:
    await _seed(database)
    if not database.is_sqlite:
        async with database.write() as conn:
            await conn.execute(sa.text("ANALYZE"))
    async with database.write() as conn:
        with _caught(database) as sent:
            await retention.expired_task_ids(conn, "completed", CUTOFF, 200,
                                             (T0 - timedelta(days=10), "old_00500"))
        (statement, parameters), = sent
        explain = "EXPLAIN QUERY PLAN " if database.is_sqlite else "EXPLAIN "
        plan = " | ".join(str(r[3] if database.is_sqlite else r[0]) for r in
                          await conn.exec_driver_sql(explain + statement, parameters))
    # Its own status's index, or the creation order's (PostgreSQL's pick when nearly every
    # task has that status): either way read in order from the oldest, bounded, unsorted.
    assert "ix_tasks_list_status" in plan or "ix_tasks_created" in plan, plan
    if database.is_sqlite:
        assert "TEMP B-TREE" not in plan and "SEARCH tasks USING INDEX" in plan, plan
    else:
        assert "Sort" not in plan and "Seq Scan on tasks" not in plan, plan


async def test_retention_folds_the_deltas_its_deletions_leave(database: Database) -> None:
    """SQLite: each batch's deltas (kept counts, hourly rollups) are summed right after it, in
    short transactions of their own, not left for the node's fold to sum tens of thousands of
    them under the one write lock while claims wait (issue 29). PostgreSQL leaves them to the
    node's fold (no lock a claim waits for), which finds them exact."""
    await _seed(database)
    await counts.fold(database)
    await rollups_fold_db(database)
    deleted, _ = await retention.prune(database, CUTOFF, batch=100)
    assert deleted == OLD
    async with database.read() as conn:
        pending = (await rollups_pending(conn), (await conn.execute(
            sa.select(task_counts.c.id).where(~task_counts.c.base))).first() is not None)
    assert pending == ((False, False) if database.is_sqlite else (True, True))
    await counts.fold(database)
    await rollups_fold_db(database)
    assert await kept(database) == await full_count(database)
