"""Queries on ``task_callbacks`` and the tasks waiting for a callback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.repositories import Row
from server.db.tables import task_callbacks, tasks


async def callback_insert(conn: AsyncConnection, task_id: str, token_hash: str,
                          at: datetime) -> None:
    await conn.execute(task_callbacks.insert().values(task_id=task_id, token_hash=token_hash,
                                                      created_at=at, used_at=None))


async def callback_get(conn: AsyncConnection, task_id: str) -> Row | None:
    return (await conn.execute(sa.select(task_callbacks)
                               .where(task_callbacks.c.task_id == task_id))).one_or_none()


async def callback_use(conn: AsyncConnection, task_id: str, at: datetime) -> bool:
    """Mark the callback used; False when it was already."""
    result = await conn.execute(task_callbacks.update().where(
        task_callbacks.c.task_id == task_id, task_callbacks.c.used_at.is_(None))
        .values(used_at=at))
    return bool(result.rowcount)


async def waiting_callbacks(conn: AsyncConnection) -> list[Row]:
    """Callback tasks waiting (pending): id, config, when they started waiting."""
    stmt: sa.Select[Any] = sa.select(tasks.c.id, tasks.c.execution_config, tasks.c.created_at,
                     tasks.c.reviewed_at).where(tasks.c.status == "pending",
                                                tasks.c.task_type == "callback")
    return list((await conn.execute(stmt)).all())
