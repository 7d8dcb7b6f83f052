"""Audit entries (CONTRACT §10): inserted with the change they record, listed newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.tables import audit_entries, connections, schedules, tasks

Row = sa.Row[Any]


async def audit_insert(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(_AUDIT_INSERT, list(rows))


_AUDIT_INSERT = audit_entries.insert()  # built once: its compiled-cache key is kept


async def audit_list(conn: AsyncConnection, *, target_id: str | None, actor: str | None,
                     action: str | None, since: datetime | None, limit: int,
                     after: tuple[datetime, str] | None, client_id: str | None = None
                     ) -> list[Row]:
    """Newest first; ``after`` is the (at, id) of the last entry of the previous page;
    ``client_id``: the entries about that client, its tasks, schedules and connections."""
    stmt = sa.select(audit_entries)
    if client_id is not None:
        target = audit_entries.c.target_id
        stmt = stmt.where(sa.or_(
            target == client_id,
            target.in_(sa.select(tasks.c.id).where(tasks.c.client_id == client_id)),
            target.in_(sa.select(schedules.c.id).where(schedules.c.client_id == client_id)),
            target.in_(sa.select(connections.c.id)
                       .where(connections.c.client_id == client_id))))
    if target_id is not None:
        stmt = stmt.where(audit_entries.c.target_id == target_id)
    if actor is not None:
        stmt = stmt.where(audit_entries.c.actor == actor)
    if action is not None:
        stmt = stmt.where(audit_entries.c.action == action)
    if since is not None:
        stmt = stmt.where(audit_entries.c.at >= since)
    if after is not None:
        at, last_id = after
        stmt = stmt.where(sa.or_(audit_entries.c.at < at,
                                 sa.and_(audit_entries.c.at == at, audit_entries.c.id < last_id)))
    stmt = stmt.order_by(audit_entries.c.at.desc(), audit_entries.c.id.desc()).limit(limit)
    return list((await conn.execute(stmt)).all())


async def audit_prune(conn: AsyncConnection, before: datetime) -> int:
    result = await conn.execute(audit_entries.delete().where(audit_entries.c.at < before))
    return int(result.rowcount or 0)
