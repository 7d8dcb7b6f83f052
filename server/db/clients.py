"""Queries on ``clients``, ``connections`` and ``api_keys``, one function per statement, named
noun first (see repositories.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.repositories import Row
from server.db.tables import api_keys, clients, connections, schedules, tasks

# --- clients -----------------------------------------------------------------------------------


async def client_insert(conn: AsyncConnection, values: dict[str, Any]) -> Row:
    row: Row = (await conn.execute(clients.insert().values(**values).returning(clients))).one()
    return row


async def client_get(conn: AsyncConnection, client_id: str) -> Row | None:
    return (await conn.execute(sa.select(clients).where(clients.c.id == client_id))
            ).one_or_none()


async def client_slug_taken(conn: AsyncConnection, slug: str) -> bool:
    stmt = sa.select(clients.c.id).where(clients.c.slug == slug)
    return (await conn.execute(stmt)).first() is not None


async def client_update(conn: AsyncConnection, client_id: str, values: dict[str, Any]
                        ) -> Row | None:
    stmt = clients.update().where(clients.c.id == client_id).values(**values)
    row: Row | None = (await conn.execute(stmt.returning(clients))).one_or_none()
    return row


async def client_list(conn: AsyncConnection, *, archived: bool | None, search: str | None,
                      limit: int, after: tuple[datetime, str] | None,
                      only: str | None = None) -> list[Row]:
    """Newest first; ``only`` keeps one client (a key scoped to it)."""
    stmt = sa.select(clients)
    if only is not None:
        stmt = stmt.where(clients.c.id == only)
    if archived is not None:
        stmt = stmt.where(clients.c.archived_at.is_not(None) if archived
                          else clients.c.archived_at.is_(None))
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(sa.or_(clients.c.name.ilike(pattern, escape="\\"),
                                 clients.c.slug.ilike(pattern, escape="\\")))
    if after is not None:
        created, last_id = after
        stmt = stmt.where(sa.or_(clients.c.created_at < created,
                                 sa.and_(clients.c.created_at == created,
                                         clients.c.id < last_id)))
    stmt = stmt.order_by(clients.c.created_at.desc(), clients.c.id.desc()).limit(limit)
    return list((await conn.execute(stmt)).all())


# --- connections -------------------------------------------------------------------------------


async def connection_insert(conn: AsyncConnection, values: dict[str, Any]) -> Row:
    stmt = connections.insert().values(**values).returning(connections)
    row: Row = (await conn.execute(stmt)).one()
    return row


async def connection_get(conn: AsyncConnection, connection_id: str) -> Row | None:
    return (await conn.execute(sa.select(connections)
                               .where(connections.c.id == connection_id))).one_or_none()


# Built once: an attempt's start runs these (a statement built per call costs more than the
# database's work for it).
_BY_NAME = sa.select(connections).where(connections.c.name == sa.bindparam("name"))


async def connection_by_name(conn: AsyncConnection, name: str) -> Row | None:
    return (await conn.execute(_BY_NAME, {"name": name})).one_or_none()


async def connection_ghl_of_client(conn: AsyncConnection, client_id: str) -> Row | None:
    """The client's connection of kind ``ghl`` (the oldest, if it has several)."""
    stmt = (sa.select(connections)
            .where(connections.c.client_id == client_id, connections.c.kind == "ghl")
            .order_by(connections.c.created_at, connections.c.id).limit(1))
    return (await conn.execute(stmt)).one_or_none()


async def connection_for_ghl(conn: AsyncConnection, client_id: str, name: str | None
                             ) -> Row | None:
    """In one statement, what a ghl_action of ``client_id`` resolves: the connection named
    ``name`` (else the client's oldest of kind ghl; its columns None when it has none) with the
    client's ``ghl_location_id``. None when the named connection, or the client, is gone."""
    if name is not None:
        stmt, params = _GHL_NAMED, {"client_id": client_id, "name": name}
    else:
        stmt, params = _GHL_OF_CLIENT, {"client_id": client_id}
    row: Row | None = (await conn.execute(stmt, params)).first()
    return row


_GHL_NAMED = sa.select(
    connections, sa.select(clients.c.ghl_location_id)
    .where(clients.c.id == sa.bindparam("client_id")).scalar_subquery()
    .label("ghl_location_id")).where(connections.c.name == sa.bindparam("name"))
_GHL_OF_CLIENT = (
    sa.select(connections, clients.c.ghl_location_id)
    .select_from(clients.outerjoin(connections, sa.and_(
        connections.c.client_id == clients.c.id, connections.c.kind == "ghl")))
    .where(clients.c.id == sa.bindparam("client_id"))
    .order_by(connections.c.created_at, connections.c.id).limit(1))


async def connection_list(conn: AsyncConnection, *, client_id: str | None, kind: str | None
                          ) -> list[Row]:
    stmt = sa.select(connections)
    if client_id is not None:
        stmt = stmt.where(connections.c.client_id == client_id)
    if kind is not None:
        stmt = stmt.where(connections.c.kind == kind)
    stmt = stmt.order_by(connections.c.name)
    return list((await conn.execute(stmt)).all())


async def connection_update_if(conn: AsyncConnection, connection_id: str, version: int,
                               values: dict[str, Any]) -> Row | None:
    """CAS on ``version``: None when someone changed the connection meanwhile."""
    stmt = (connections.update()
            .where(connections.c.id == connection_id, connections.c.version == version)
            .values(**values).returning(connections))
    row: Row | None = (await conn.execute(stmt)).one_or_none()
    return row


async def connection_delete(conn: AsyncConnection, connection_id: str) -> bool:
    result = await conn.execute(connections.delete().where(connections.c.id == connection_id))
    return bool(result.rowcount)


async def connection_touch(conn: AsyncConnection, connection_id: str, at: datetime) -> None:
    await conn.execute(connections.update().where(connections.c.id == connection_id)
                       .values(last_used_at=at))


async def tasks_open_with_configs(conn: AsyncConnection, task_types: Sequence[str],
                                  open_statuses: Sequence[str]) -> list[Row]:
    """(id, execution_config) of the tasks of these types not yet ended."""
    stmt = (sa.select(tasks.c.id, tasks.c.execution_config)
            .where(tasks.c.task_type.in_(list(task_types)),
                   tasks.c.status.in_(list(open_statuses))))
    return list((await conn.execute(stmt)).all())  # type: ignore[arg-type]


async def schedule_templates(conn: AsyncConnection) -> list[Row]:
    stmt = sa.select(schedules.c.id, schedules.c.task)
    return list((await conn.execute(stmt)).all())  # type: ignore[arg-type]


# --- API keys ----------------------------------------------------------------------------------


async def key_insert(conn: AsyncConnection, values: dict[str, Any]) -> Row:
    row: Row = (await conn.execute(api_keys.insert().values(**values).returning(api_keys))).one()
    return row


async def key_list(conn: AsyncConnection) -> list[Row]:
    stmt = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    return list((await conn.execute(stmt)).all())


async def key_by_hash(conn: AsyncConnection, key_hash: str) -> Row | None:
    return (await conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == key_hash))
            ).one_or_none()


async def keys_live(conn: AsyncConnection) -> list[Row]:
    """Every key not revoked (expiry is checked at use)."""
    stmt = sa.select(api_keys).where(api_keys.c.revoked_at.is_(None))
    return list((await conn.execute(stmt)).all())


async def key_revoke(conn: AsyncConnection, key_id: str, at: datetime) -> Row | None:
    stmt = (api_keys.update().where(api_keys.c.id == key_id)
            .values(revoked_at=sa.func.coalesce(api_keys.c.revoked_at, at))
            .returning(api_keys))
    row: Row | None = (await conn.execute(stmt)).one_or_none()
    return row
