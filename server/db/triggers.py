"""Queries on ``triggers`` and ``trigger_deliveries``, one function per statement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.repositories import Row
from server.db.tables import trigger_deliveries, triggers


async def trigger_insert(conn: AsyncConnection, values: dict[str, Any]) -> Row:
    row: Row = (await conn.execute(triggers.insert().values(**values).returning(triggers))).one()
    return row


async def trigger_get(conn: AsyncConnection, trigger_id: str) -> Row | None:
    return (await conn.execute(sa.select(triggers).where(triggers.c.id == trigger_id))
            ).one_or_none()


async def trigger_list(conn: AsyncConnection) -> list[Row]:
    stmt = sa.select(triggers).order_by(triggers.c.created_at, triggers.c.id)
    return list((await conn.execute(stmt)).all())


async def trigger_update(conn: AsyncConnection, trigger_id: str, values: dict[str, Any]
                         ) -> Row | None:
    stmt = triggers.update().where(triggers.c.id == trigger_id).values(**values) \
        .returning(triggers)
    row: Row | None = (await conn.execute(stmt)).one_or_none()
    return row


async def trigger_delete(conn: AsyncConnection, trigger_id: str) -> bool:
    await conn.execute(trigger_deliveries.delete()
                       .where(trigger_deliveries.c.trigger_id == trigger_id))
    result = await conn.execute(triggers.delete().where(triggers.c.id == trigger_id))
    return bool(result.rowcount)


async def delivery_insert(conn: AsyncConnection, trigger_id: str, at: datetime, status: int,
                          task_id: str | None, error: str | None) -> None:
    await conn.execute(trigger_deliveries.insert().values(
        trigger_id=trigger_id, at=at, status=status, task_id=task_id, error=error))
    await conn.execute(triggers.update().where(triggers.c.id == trigger_id)
                       .values(last_received_at=at))


async def deliveries_last(conn: AsyncConnection, trigger_id: str, limit: int) -> list[Row]:
    stmt = (sa.select(trigger_deliveries)
            .where(trigger_deliveries.c.trigger_id == trigger_id)
            .order_by(trigger_deliveries.c.id.desc()).limit(limit))
    return list((await conn.execute(stmt)).all())


async def deliveries_prune(conn: AsyncConnection, trigger_id: str, keep: int) -> None:
    """Keep the newest ``keep`` calls of a trigger."""
    newest = (sa.select(trigger_deliveries.c.id)
              .where(trigger_deliveries.c.trigger_id == trigger_id)
              .order_by(trigger_deliveries.c.id.desc()).offset(keep).limit(1)
              .scalar_subquery())
    await conn.execute(trigger_deliveries.delete().where(
        trigger_deliveries.c.trigger_id == trigger_id, trigger_deliveries.c.id <= newest))
