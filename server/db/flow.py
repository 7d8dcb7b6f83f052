"""Queries of flow control (CONTRACT §15): attempts in flight per concurrency key and per
client, the rate limits and their sliding windows (``rate_limits``, ``rate_limit_starts``),
the reasons waiting tasks give, and the advisory locks that make each count hold across
PostgreSQL nodes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.core.claims import Window
from server.db.tables import rate_limit_starts, rate_limits, tasks

# the partial indexes name the statuses: written into the SQL, not bound
_IN_PROGRESS: sa.ColumnElement[str] = sa.literal_column("'in_progress'")
_QUEUED: sa.ColumnElement[str] = sa.literal_column("'queued'")


def lock_id(kind: str, key: str) -> int:
    """A signed 64-bit advisory lock number for a key (collisions only serialize more)."""
    digest = hashlib.blake2b(f"errands:{kind}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def locks_take(conn: AsyncConnection, ids: Sequence[int]) -> None:
    """PostgreSQL: hold these advisory locks to the end of the transaction, taken in one
    order (sorted) by every claim, so two claims never deadlock on them."""
    for lock in sorted(set(ids)):
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))


async def _count_by(conn: AsyncConnection, column: sa.Column[Any],
                    status: sa.ColumnElement[str], values: Sequence[str],
                    *where: sa.ColumnElement[bool]) -> dict[str, int]:
    """Tasks in ``status`` per value of ``column`` among ``values`` (each through its partial
    index: the status is a literal)."""
    if not values:
        return {}
    rows = await conn.execute(
        sa.select(column, sa.func.count())
        .where(tasks.c.status == status, column.in_(sorted(values)), *where)
        .group_by(column))
    return {k: int(n) for k, n in rows}


async def running_by_key(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, int]:
    """Attempts in flight (every node) per concurrency key (ix_tasks_running_key)."""
    return await _count_by(conn, tasks.c.concurrency_key, _IN_PROGRESS, keys)


async def running_by_client(conn: AsyncConnection, clients: Sequence[str]) -> dict[str, int]:
    """Attempts in flight (every node) per client, of tasks without a concurrency key."""
    return await _count_by(conn, tasks.c.client_id, _IN_PROGRESS, clients,
                           tasks.c.concurrency_key.is_(None))


async def rate_windows(conn: AsyncConnection, keys: Sequence[str], now: datetime
                       ) -> dict[str, Window]:
    """The declared limits of ``keys`` (a key without one is unlimited: absent) with the
    starts counted in the last period, i.e. in (now - period, now]; older starts of these
    keys are deleted here."""
    if not keys:
        return {}
    declared = (await conn.execute(
        sa.select(rate_limits.c.key, rate_limits.c.limit, rate_limits.c.period_seconds)
        .where(rate_limits.c.key.in_(sorted(keys))))).all()
    found: dict[str, Window] = {}
    s = rate_limit_starts.c
    for key, limit, period_seconds in declared:
        period = timedelta(seconds=period_seconds)
        since = now - period
        await conn.execute(rate_limit_starts.delete().where(s.key == key, s.started_at <= since))
        used, first = (await conn.execute(
            sa.select(sa.func.count(), sa.func.min(s.started_at))
            .where(s.key == key, s.started_at > since))).one()
        found[key] = Window(int(limit), period, int(used), first)
    return found


async def starts_insert(conn: AsyncConnection, starts: Mapping[str, int], now: datetime
                        ) -> None:
    """Count ``n`` attempt starts at ``now`` against each key."""
    rows = [{"key": key, "started_at": now} for key, n in starts.items() for _ in range(n)]
    if rows:
        await conn.execute(rate_limit_starts.insert(), rows)


async def reasons_set(conn: AsyncConnection, waiting: Mapping[str, str]) -> None:
    """Write each waiting task's reason, where it is not that already (a reason is written
    once, not at every claim)."""
    by_reason: dict[str, list[str]] = {}
    for task_id, reason in waiting.items():
        by_reason.setdefault(reason, []).append(task_id)
    for reason, ids in by_reason.items():
        await conn.execute(
            tasks.update()
            .where(tasks.c.id.in_(sorted(ids)), tasks.c.status == _QUEUED,
                   sa.or_(tasks.c.status_reason.is_(None), tasks.c.status_reason != reason))
            .values(status_reason=reason))


_BACKLOG_COLUMN = {"rate": tasks.c.rate_limit_key, "key": tasks.c.concurrency_key}


def _backlog_reason(column: sa.Column[Any], dialect: str) -> sa.Update:
    reason = sa.bindparam("reason", type_=tasks.c.status_reason.type)
    waiting = (column == sa.bindparam("key", type_=column.type), tasks.c.status == _QUEUED,
               sa.or_(tasks.c.status_reason.is_(None), tasks.c.status_reason != reason))
    if dialect == "postgresql":
        # Not the rows another node's claim holds (its candidates, FOR UPDATE): that claim
        # waits for this one's advisory lock on the key, so waiting for its rows would
        # deadlock; it clears or sets their reason itself.
        free = sa.select(tasks.c.id).where(*waiting).with_for_update(skip_locked=True)
        return tasks.update().where(tasks.c.id.in_(free.scalar_subquery())).values(
            status_reason=reason)
    return tasks.update().where(*waiting).values(status_reason=reason)


# built once (a statement keeps its compiled-cache key); through ix_tasks_rate_queued and
# ix_tasks_key_queued
_BACKLOG_REASON = {(kind, dialect): _backlog_reason(column, dialect)
                   for kind, column in _BACKLOG_COLUMN.items()
                   for dialect in ("sqlite", "postgresql")}


async def backlog_reasons_set(conn: AsyncConnection,
                              marks: Mapping[tuple[str, str], str]) -> None:
    """Give every queued task of a rate-limit key (kind "rate") or concurrency key ("key")
    the reason it waits, where it is not that already — the backlog the claim never reaches
    (claims.backlogs_to_mark says which, and how seldom)."""
    for (kind, key), reason in sorted(marks.items()):
        dialect = "postgresql" if conn.dialect.name == "postgresql" else "sqlite"
        await conn.execute(_BACKLOG_REASON[kind, dialect], {"key": key, "reason": reason})


# --- rate_limits (rateLimits.set / list / delete) --------------------------------------------

async def rate_limit_set(conn: AsyncConnection, key: str, limit: int, period_seconds: int,
                         now: datetime) -> Any:
    existing = await rate_limit_get(conn, key)
    if existing is None:
        await conn.execute(rate_limits.insert().values(
            key=key, limit=limit, period_seconds=period_seconds, created_at=now,
            updated_at=now))
    else:
        await conn.execute(rate_limits.update().where(rate_limits.c.key == key).values(
            limit=limit, period_seconds=period_seconds, updated_at=now))
    return await rate_limit_get(conn, key)


async def rate_limit_get(conn: AsyncConnection, key: str) -> Any:
    return (await conn.execute(sa.select(rate_limits).where(rate_limits.c.key == key))
            ).one_or_none()


async def rate_limit_list(conn: AsyncConnection) -> list[Any]:
    return list((await conn.execute(sa.select(rate_limits).order_by(rate_limits.c.key))).all())


async def queued_by_rate_key(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, int]:
    """Tasks queued per rate-limit key (ix_tasks_rate_queued)."""
    return await _count_by(conn, tasks.c.rate_limit_key, _QUEUED, keys)


async def rate_limit_delete(conn: AsyncConnection, key: str) -> bool:
    await conn.execute(rate_limit_starts.delete().where(rate_limit_starts.c.key == key))
    gone = await conn.execute(rate_limits.delete().where(rate_limits.c.key == key))
    return bool(gone.rowcount)
