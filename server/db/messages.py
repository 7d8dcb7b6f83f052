"""Queries on ``outbound_messages``, one function per statement, named noun first.

Every status write is compare-and-set: it names what it expects (status, claim) and returns
the new row, or ``None`` when another writer got there first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.repositories import Row
from server.db.tables import outbound_messages as messages
from server.db.tables import tasks


async def message_insert(conn: AsyncConnection, values: dict[str, Any]) -> Row:
    row: Row = (await conn.execute(messages.insert().values(**values).returning(messages))).one()
    return row


async def message_get(conn: AsyncConnection, message_id: str) -> Row | None:
    return (await conn.execute(sa.select(messages).where(messages.c.id == message_id))
            ).one_or_none()


async def message_get_by_dedupe_key(conn: AsyncConnection, key: str) -> Row | None:
    return (await conn.execute(sa.select(messages).where(messages.c.dedupe_key == key))
            ).one_or_none()


async def message_list(conn: AsyncConnection, *, task_id: str | None, webhook_id: str | None,
                       status: str | None, limit: int, after: tuple[datetime, str] | None,
                       client_id: str | None = None) -> list[Row]:
    """Newest first; ``after`` is the (createdAt, id) of the previous page's last item;
    ``client_id``: the messages of that client's tasks only."""
    stmt = sa.select(messages)
    if client_id is not None:
        stmt = stmt.where(messages.c.task_id.in_(
            sa.select(tasks.c.id).where(tasks.c.client_id == client_id)))
    if task_id is not None:
        stmt = stmt.where(messages.c.task_id == task_id)
    if webhook_id is not None:
        stmt = stmt.where(messages.c.webhook_id == webhook_id)
    if status is not None:
        stmt = stmt.where(messages.c.status == status)
    if after is not None:
        created, last_id = after
        stmt = stmt.where(sa.or_(messages.c.created_at < created,
                                 sa.and_(messages.c.created_at == created,
                                         messages.c.id < last_id)))
    stmt = stmt.order_by(messages.c.created_at.desc(), messages.c.id.desc()).limit(limit)
    return list((await conn.execute(stmt)).all())


async def message_claim(conn: AsyncConnection, message_id: str, expected: Sequence[str],
                        claim_id: str, now: datetime, until: datetime) -> Row | None:
    """CAS: one message from one of ``expected`` statuses to queued, held by ``claim_id``."""
    stmt = (messages.update()
            .where(messages.c.id == message_id, messages.c.status.in_(list(expected)))
            .values(status="queued", claim_id=claim_id, claimed_until=until, updated_at=now)
            .returning(messages))
    row: Row | None = (await conn.execute(stmt)).one_or_none()
    return row


async def message_claim_due(conn: AsyncConnection, *, dialect: str, now: datetime,
                            claim_id: str, until: datetime, limit: int) -> list[Row]:
    """scheduled → queued for up to ``limit`` messages due by ``now``, earliest first.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so several nodes claim disjoint sets; SQLite has a
    single writer. The outer ``status = 'scheduled'`` keeps it a compare-and-set.
    """
    pick = (sa.select(messages.c.id)
            .where(messages.c.status == "scheduled", messages.c.next_attempt_at <= now)
            .order_by(messages.c.next_attempt_at).limit(limit))
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (messages.update()
            .where(messages.c.id.in_(pick.scalar_subquery()), messages.c.status == "scheduled")
            .values(status="queued", claim_id=claim_id, claimed_until=until, updated_at=now)
            .returning(messages))
    return list((await conn.execute(stmt)).all())


async def message_finish(conn: AsyncConnection, message_id: str, claim_id: str,
                         values: dict[str, Any]) -> Row | None:
    """CAS: record an attempt only while the message is still queued under ``claim_id``."""
    stmt = (messages.update()
            .where(messages.c.id == message_id, messages.c.status == "queued",
                   messages.c.claim_id == claim_id)
            .values(claim_id=None, claimed_until=None, **values).returning(messages))
    row: Row | None = (await conn.execute(stmt)).one_or_none()
    return row


async def message_release_stale(conn: AsyncConnection, now: datetime, *,
                                all_claims: bool) -> int:
    """Queued timer-delivered messages whose claim ran out (or, ``all_claims``, any claim)
    go back to scheduled; notifications are excluded (their task's attempt owns them)."""
    stmt = messages.update().where(messages.c.status == "queued",
                                   messages.c.kind != "notification")
    if not all_claims:
        stmt = stmt.where(messages.c.claimed_until < now)
    result = await conn.execute(stmt.values(status="scheduled", claim_id=None,
                                            claimed_until=None, updated_at=now))
    return int(result.rowcount or 0)


async def message_next_due_at(conn: AsyncConnection) -> datetime | None:
    """The earliest time the delivery timer has work: a due message or a claim running out."""
    due = sa.select(sa.func.min(messages.c.next_attempt_at)).where(
        messages.c.status == "scheduled")
    stale = sa.select(sa.func.min(messages.c.claimed_until)).where(
        messages.c.status == "queued", messages.c.kind != "notification")
    found = [t for t in ((await conn.execute(due)).scalar(), (await conn.execute(stale)).scalar())
             if t is not None]
    return min(found) if found else None
