"""Queries on ``ghl_rate_slots`` (the HighLevel budget shared by nodes, PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.tables import ghl_rate_slots


async def slot_take(conn: AsyncConnection, lock: int, location_id: str, slot_id: str, *,
                    now: float, capacity: int, until: float) -> float | None:
    """Take a slot of ``location_id`` (counting until ``until``) when fewer than ``capacity``
    count at ``now``: None when taken, else the seconds until the first one stops counting.
    Holds the location's advisory lock to the end of the transaction, so that two nodes never
    both take the last slot."""
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
    c = ghl_rate_slots.c
    await conn.execute(ghl_rate_slots.delete().where(c.location_id == location_id,
                                                     c.expires_at <= now))
    count, first = (await conn.execute(
        sa.select(sa.func.count(), sa.func.min(c.expires_at))
        .where(c.location_id == location_id))).one()
    if int(count) < capacity:
        await conn.execute(ghl_rate_slots.insert().values(id=slot_id, location_id=location_id,
                                                          expires_at=until))
        return None
    return float(first) - now


async def slot_release(conn: AsyncConnection, slot_id: str, until: float) -> None:
    """The request of ``slot_id`` is answered: it counts until ``until`` (never longer than it
    would have in flight)."""
    c = ghl_rate_slots.c
    await conn.execute(ghl_rate_slots.update().where(c.id == slot_id)
                       .values(expires_at=sa.func.least(c.expires_at, until)))
