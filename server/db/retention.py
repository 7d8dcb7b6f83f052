"""``TASK_RETENTION_DAYS``: delete old terminal tasks with their executions, dependencies,
events and outbound messages, a small batch per transaction.

A task goes when it is terminal (completed, failed, cancelled, rejected), ended
(``completed_at``, else ``updated_at``) before the cut-off, no task that is still open depends
on it, and none of its messages is still waiting to be delivered (a reminder filed by a task
that ended long ago is delivered first). Audit entries are never touched. Each batch is its own
short transaction, so the runner's claims and records interleave with a long clean-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.engine import Database
from server.db.tables import (
    outbound_messages,
    task_dependencies,
    task_events,
    task_executions,
    task_tags,
    tasks,
)

TERMINAL = ("completed", "failed", "cancelled", "rejected")
UNDELIVERED = ("scheduled", "queued")


async def expired_task_ids(conn: AsyncConnection, cutoff: datetime, limit: int) -> list[str]:
    """Up to ``limit`` ids of tasks that may go (see the module docstring), oldest first."""
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
    stmt = (sa.select(tasks.c.id)
            .where(tasks.c.status.in_(TERMINAL), ended < cutoff,
                   ~sa.exists(open_dependent), ~sa.exists(waiting_message))
            .order_by(ended, tasks.c.id).limit(limit)
            # PostgreSQL: lock them, so a concurrent tasks.retry waits and then finds none.
            .with_for_update(of=tasks, skip_locked=True))
    return list((await conn.scalars(stmt)).all())


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


async def prune(db: Database, cutoff: datetime, *, batch: int = 200) -> tuple[int, list[str]]:
    """Delete every expired task, ``batch`` per transaction; returns how many went and the
    artifact ids to remove."""
    deleted, artifacts = 0, []
    while True:
        async with db.write() as conn:
            ids = await expired_task_ids(conn, cutoff, batch)
            artifacts.extend(await delete_tasks(conn, ids))
        deleted += len(ids)
        if len(ids) < batch:
            return deleted, artifacts
        await asyncio.sleep(0.05)  # let claims and records in between batches
