"""Queries on ``webhooks``, one function per statement, named noun first (see repositories.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.repositories import Row
from server.db.tables import webhooks


async def webhook_insert(conn: AsyncConnection, values: dict[str, Any]) -> Row:
    row: Row = (await conn.execute(webhooks.insert().values(**values).returning(webhooks))).one()
    return row


async def webhook_get(conn: AsyncConnection, webhook_id: str) -> Row | None:
    return (await conn.execute(sa.select(webhooks).where(webhooks.c.id == webhook_id))
            ).one_or_none()


async def webhook_list(conn: AsyncConnection) -> list[Row]:
    stmt = sa.select(webhooks).order_by(webhooks.c.created_at, webhooks.c.id)
    return list((await conn.execute(stmt)).all())


async def webhook_delete(conn: AsyncConnection, webhook_id: str) -> bool:
    result = await conn.execute(webhooks.delete().where(webhooks.c.id == webhook_id))
    return bool(result.rowcount)


async def webhook_touch(conn: AsyncConnection, webhook_id: str, at: datetime) -> None:
    await conn.execute(webhooks.update().where(webhooks.c.id == webhook_id)
                       .values(last_delivery_at=at))
