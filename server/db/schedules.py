"""Queries on ``schedules``, one function per statement, named noun first.

Every write that moves a schedule is compare-and-set on what it expects (enabled, next run)
and returns the new row, or ``None`` when another node got there first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.repositories import Row
from server.db.tables import schedules


async def schedule_insert(conn: AsyncConnection, values: dict[str, Any]) -> Row:
    row: Row = (await conn.execute(schedules.insert().values(**values).returning(schedules))
                ).one()
    return row


async def schedule_get(conn: AsyncConnection, schedule_id: str) -> Row | None:
    return (await conn.execute(sa.select(schedules).where(schedules.c.id == schedule_id))
            ).one_or_none()


async def schedule_list(conn: AsyncConnection) -> list[Row]:
    stmt = sa.select(schedules).order_by(schedules.c.created_at, schedules.c.id)
    return list((await conn.execute(stmt)).all())


async def schedule_due(conn: AsyncConnection, now: datetime, limit: int) -> list[Row]:
    stmt = (sa.select(schedules)
            .where(schedules.c.enabled.is_(True), schedules.c.next_run_at <= now)
            .order_by(schedules.c.next_run_at).limit(limit))
    return list((await conn.execute(stmt)).all())


async def schedule_next_due_at(conn: AsyncConnection) -> datetime | None:
    stmt = sa.select(sa.func.min(schedules.c.next_run_at)).where(schedules.c.enabled.is_(True))
    value: datetime | None = (await conn.execute(stmt)).scalar()
    return value


async def schedule_advance_if(conn: AsyncConnection, schedule_id: str, expected_next: datetime,
                              values: dict[str, Any]) -> Row | None:
    """CAS on (enabled, next_run_at): one node moves a schedule past a slot."""
    stmt = (schedules.update()
            .where(schedules.c.id == schedule_id, schedules.c.enabled.is_(True),
                   schedules.c.next_run_at == expected_next)
            .values(**values).returning(schedules))
    row: Row | None = (await conn.execute(stmt)).one_or_none()
    return row


async def schedule_set_enabled_if(conn: AsyncConnection, schedule_id: str, *, was: bool,
                                  values: dict[str, Any]) -> Row | None:
    """CAS on ``enabled``: pause (was True) or resume (was False)."""
    stmt = (schedules.update()
            .where(schedules.c.id == schedule_id, schedules.c.enabled.is_(was))
            .values(**values).returning(schedules))
    row: Row | None = (await conn.execute(stmt)).one_or_none()
    return row


async def schedule_delete(conn: AsyncConnection, schedule_id: str) -> Row | None:
    stmt = schedules.delete().where(schedules.c.id == schedule_id).returning(schedules)
    return (await conn.execute(stmt)).one_or_none()
