"""Queries on ``approval_links``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.repositories import Row
from server.db.tables import approval_links


async def link_insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(approval_links.insert().values(**values))


async def link_by_hash(conn: AsyncConnection, token_hash: str) -> Row | None:
    return (await conn.execute(sa.select(approval_links)
                               .where(approval_links.c.token_hash == token_hash))
            ).one_or_none()


async def link_use(conn: AsyncConnection, link_id: str, at: datetime | None) -> bool:
    """Mark the link used (``at``), or unused again (None); False when it already was."""
    used = approval_links.c.used_at
    stmt = approval_links.update().where(approval_links.c.id == link_id,
                                         used.is_(None) if at is not None else used.is_not(None))
    result = await conn.execute(stmt.values(used_at=at))
    return bool(result.rowcount)
