"""Queries of the workflow features (CONTRACT §10): dependencies, stalls, the autorun switch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.tables import system_settings, task_dependencies, tasks

Row = sa.Row[Any]


async def task_dependency_statuses(conn: AsyncConnection, task_id: str, *, lock: bool = False
                                   ) -> list[tuple[str, str]]:
    """(id, status) of every task ``task_id`` depends on; ``lock`` share-locks them
    (PostgreSQL) so that their end waits for this transaction, or this read for their end."""
    stmt = (sa.select(tasks.c.id, tasks.c.status)
            .join(task_dependencies, task_dependencies.c.depends_on_id == tasks.c.id)
            .where(task_dependencies.c.task_id == task_id).order_by(tasks.c.id))
    if lock:
        stmt = stmt.with_for_update(read=True, of=tasks)
    return [(r.id, r.status) for r in await conn.execute(stmt)]


async def task_update_if(conn: AsyncConnection, task_id: str, expected_status: str,
                         values: dict[str, Any]) -> Row | None:
    """CAS edit of a task's fields while it is still in ``expected_status``."""
    if values.get("status", expected_status) != expected_status:
        values = {"stalled_since": None, **values}  # a stall ends with its status
    stmt = (tasks.update().where(tasks.c.id == task_id, tasks.c.status == expected_status)
            .values(**values).returning(tasks))
    row: Row | None = (await conn.execute(stmt)).one_or_none()
    return row


# --- stalled work --------------------------------------------------------------------------

# The time a task entered its status, by status (scheduled counts from its due time).
_ENTERED = {"pending": tasks.c.updated_at, "awaiting_review": tasks.c.updated_at,
            "queued": tasks.c.queued_at, "scheduled": tasks.c.due_at}


async def task_stall_candidates(conn: AsyncConnection, now: datetime,
                                limits: dict[str, timedelta], limit: int = 500) -> list[Row]:
    """Tasks not yet marked that have waited past their status' limit (the caller applies the
    pure rule, lifecycle.stalled, to each)."""
    clauses = [sa.and_(tasks.c.status == status, _ENTERED[status] < now - after)
               for status, after in limits.items() if status in _ENTERED]
    if not clauses:
        return []
    stmt = (sa.select(tasks).where(tasks.c.stalled_since.is_(None), sa.or_(*clauses))
            .order_by(tasks.c.created_at).limit(limit))
    return list((await conn.execute(stmt)).all())


async def task_mark_stalled(conn: AsyncConnection, row: Row, now: datetime) -> Row | None:
    """CAS: mark once, while the task is still in the status it was found in."""
    stmt = (tasks.update()
            .where(tasks.c.id == row.id, tasks.c.status == row.status,
                   tasks.c.stalled_since.is_(None))
            .values(stalled_since=now).returning(tasks))
    found: Row | None = (await conn.execute(stmt)).one_or_none()
    return found


# --- system settings (the autorun switch) --------------------------------------------------

async def setting_get(conn: AsyncConnection, key: str) -> Any:
    stmt = sa.select(system_settings.c.value).where(system_settings.c.key == key)
    return (await conn.execute(stmt)).scalar()


async def setting_put(conn: AsyncConnection, key: str, value: Any, now: datetime) -> None:
    updated = await conn.execute(system_settings.update()
                                 .where(system_settings.c.key == key)
                                 .values(value=value, updated_at=now))
    if not updated.rowcount:
        await conn.execute(system_settings.insert().values(key=key, value=value,
                                                           updated_at=now))


AUTORUN_PAUSED = "autorun paused"


async def tasks_mark_autorun(conn: AsyncConnection, *, everything: bool,
                             types: Sequence[str]) -> None:
    """Queued tasks say why they wait: "autorun paused" while their type is paused, and
    lose that reason when it is resumed."""
    queued = tasks.c.status == "queued"
    paused: sa.ColumnElement[bool]
    if everything:
        paused = sa.true()
    elif types:
        paused = tasks.c.task_type.in_(list(types))
    else:
        paused = sa.false()
    await conn.execute(tasks.update()
                       .where(queued, paused, tasks.c.status_reason.is_(None))
                       .values(status_reason=AUTORUN_PAUSED))
    await conn.execute(tasks.update()
                       .where(queued, sa.not_(paused), tasks.c.status_reason == AUTORUN_PAUSED)
                       .values(status_reason=None))


async def task_statuses_locked(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, str]:
    """Statuses of ``ids``, share-locked (PostgreSQL) until this transaction ends: a task
    filed with dependencies cannot miss their end, which waits for it to commit."""
    stmt = (sa.select(tasks.c.id, tasks.c.status).where(tasks.c.id.in_(list(ids)))
            .order_by(tasks.c.id).with_for_update(read=True))
    return {r.id: r.status for r in await conn.execute(stmt)}


async def task_set_dependencies(conn: AsyncConnection, task_id: str,
                                depends_on: Sequence[str]) -> None:
    """Replace the dependency rows of ``task_id`` (its ``depends_on`` column is the caller's)."""
    await conn.execute(task_dependencies.delete().where(task_dependencies.c.task_id == task_id))
    if depends_on:
        await conn.execute(task_dependencies.insert(),
                           [{"task_id": task_id, "depends_on_id": d} for d in depends_on])
