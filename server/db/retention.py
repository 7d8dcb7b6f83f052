"""``TASK_RETENTION_DAYS``: delete old terminal tasks with their executions, dependencies,
events and outbound messages, a small batch per transaction.

A task goes when it is terminal (completed, failed, cancelled, rejected), ended
(``completed_at``, else ``updated_at``) before the cut-off, no task that is still open depends
on it, and none of its messages is still waiting to be delivered (a reminder filed by a task
that ended long ago is delivered first). Audit entries are never touched. Each batch is its own
short transaction, its candidates read from an index, with a pause after it, so the runner's
claims and records interleave with a long clean-up (half a million tasks: issue 29). The kept
counts (server/db/counts.py) and the hourly rollups (server/db/rollups.py) follow by their
triggers' delta rows, which each batch folds after it (its own short transactions) rather than
leaving the node's fold, every 5 seconds, tens of thousands of them to sum under one write
lock; attempts are deleted before their tasks, so that they count off under their task's
client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db import counts
from server.db.engine import Database
from server.db.rollups import rollups_fold_db
from server.db.tables import (
    outbound_messages,
    task_dependencies,
    task_events,
    task_executions,
    task_tags,
    tasks,
)

TERMINAL = ("completed", "failed", "cancelled", "rejected")
# A transaction (its tasks, their attempts, events, tags and messages, the kept counts'
# deltas) is the longest a claim waits behind retention: sized to last about BUDGET_SECONDS,
# between MIN_BATCH and BATCH tasks (prune).
BATCH = 500
FIRST_BATCH = 50
MIN_BATCH = 10
BUDGET_SECONDS = 0.02
PAUSE_SECONDS = 0.01
UNDELIVERED = ("scheduled", "queued")


async def expired_task_ids(conn: AsyncConnection, status: str, cutoff: datetime, limit: int,
                           after: tuple[datetime, str] | None = None
                           ) -> list[tuple[datetime, str]]:
    """Up to ``limit`` (created_at, id) of ``status`` tasks that may go (see the module
    docstring), oldest created first, after ``after``.

    Read from ix_tasks_list_status (status, created_at, id) from the oldest on: a task that
    ended before the cut-off was created before it too, so a batch reads its own rows and the
    few kept ones (depended on, a message waiting) before them — never the whole table; the
    caller passes the last one of a batch as ``after``, so a kept task is read once a run."""
    ended = sa.func.coalesce(tasks.c.completed_at, tasks.c.updated_at)
    dependent = tasks.alias("dependent")
    open_dependent = (
        sa.select(sa.literal(1)).select_from(
            task_dependencies.join(dependent, dependent.c.id == task_dependencies.c.task_id))
        .where(task_dependencies.c.depends_on_id == tasks.c.id,
               dependent.c.status.not_in(TERMINAL)))
    waiting_message = (
        sa.select(sa.literal(1)).select_from(outbound_messages)
        .where(outbound_messages.c.task_id == tasks.c.id,
               outbound_messages.c.status.in_(UNDELIVERED)))
    stmt = (sa.select(tasks.c.created_at, tasks.c.id)
            .where(tasks.c.status == status, tasks.c.created_at < cutoff, ended < cutoff,
                   ~sa.exists(open_dependent), ~sa.exists(waiting_message))
            .order_by(tasks.c.created_at, tasks.c.id).limit(limit)
            # PostgreSQL: lock them, so a concurrent tasks.retry waits and then finds none.
            .with_for_update(of=tasks, skip_locked=True))
    if after is not None:
        stmt = stmt.where(sa.tuple_(tasks.c.created_at, tasks.c.id) > sa.tuple_(
            sa.literal(after[0], tasks.c.created_at.type), sa.literal(after[1], tasks.c.id.type)))
    return [(created, task_id) for created, task_id in await conn.execute(stmt)]


async def delete_tasks(conn: AsyncConnection, ids: Sequence[str]) -> list[str]:
    """Delete ``ids`` and everything hanging off them; returns the artifact ids they held
    (the files are removed by the caller, after commit)."""
    if not ids:
        return []
    artifacts: list[str] = []
    rows = await conn.execute(sa.select(task_executions.c.artifacts)
                              .where(task_executions.c.task_id.in_(ids)))
    for (listed,) in rows:
        artifacts.extend(_artifact_ids(listed))
    await conn.execute(sa.delete(task_executions).where(task_executions.c.task_id.in_(ids)))
    await conn.execute(sa.delete(task_dependencies).where(sa.or_(
        task_dependencies.c.task_id.in_(ids), task_dependencies.c.depends_on_id.in_(ids))))
    await conn.execute(sa.delete(task_tags).where(task_tags.c.task_id.in_(ids)))
    await conn.execute(sa.delete(task_events).where(task_events.c.task_id.in_(ids)))
    await conn.execute(sa.delete(outbound_messages).where(outbound_messages.c.task_id.in_(ids)))
    await conn.execute(sa.delete(tasks).where(tasks.c.id.in_(ids)))
    return artifacts


def _artifact_ids(listed: Any) -> list[str]:
    if not isinstance(listed, list):
        return []
    return [a["id"] for a in listed if isinstance(a, dict) and isinstance(a.get("id"), str)]


async def prune(db: Database, cutoff: datetime, *, batch: int = BATCH,
                budget: float = BUDGET_SECONDS, pause: float = PAUSE_SECONDS
                ) -> tuple[int, list[str]]:
    """Delete every expired task in short transactions; returns how many went and the
    artifact ids to remove.

    A transaction takes as many tasks as fit in ``budget`` seconds (at most ``batch``): the
    size halves after a longer one and doubles after one under half of it, so on a slow disk
    or a busy machine a transaction still holds SQLite's write lock about ``budget`` at most.
    After each, a pause as long as it took (``pause`` at least) lets the claims and records
    waiting for the lock (handed over in turn, server/db/engine.py) or for rows go first: a
    clean-up of hundreds of thousands of tasks holds the runner up by one short transaction
    at a time and takes at most about half of the writing time. The candidates come from an
    index (:func:`expired_task_ids`).

    SQLite: the deltas a transaction leaves (kept counts, rollups) are folded right after it,
    in their own transactions, which take about as long again (their cost follows the
    transaction's size, so they are not counted in its budget) and count in the pause. Left to
    the node's fold every 5 s, 7,500 deleted tasks' deltas held the write lock 300 ms at once
    (1,000,000 tasks); counting the folds in the budget shrank the transactions to
    ``MIN_BATCH`` and the clean-up to a sixth of its pace. PostgreSQL leaves them to the
    node's fold: it holds no lock a claim waits for, and folding after every batch slowed the
    clean-up five times over."""
    deleted, artifacts = 0, []
    size = min(batch, FIRST_BATCH)
    for status in TERMINAL:
        after: tuple[datetime, str] | None = None
        while True:
            started = time.perf_counter()
            async with db.write() as conn:
                found = await expired_task_ids(conn, status, cutoff, size, after)
                artifacts.extend(await delete_tasks(conn, [task_id for _, task_id in found]))
            took = time.perf_counter() - started
            if found and db.is_sqlite:
                await counts.fold(db)
                await rollups_fold_db(db)
            deleted += len(found)
            if len(found) < size:
                break
            after = found[-1]
            if took > budget:
                size = max(min(MIN_BATCH, batch), size // 2)
            elif took < budget / 2:
                size = min(batch, size * 2)
            # let claims and records in between
            await asyncio.sleep(max(pause, time.perf_counter() - started))
    return deleted, artifacts
