"""Kept counts (``task_counts``, migration 0018): tasks and attempts by client and status,
exact under any concurrency, read by ``system.stats`` without scanning tasks.

Triggers on ``tasks`` and ``task_executions`` append each change's deltas (-1 for what a row
was, +1 for what it is) in the changing transaction itself, so a count moves exactly when
the change commits, and rolls back with it. Appending, never updating a counter row in place:
on PostgreSQL two transactions never wait for each other on a hot row (nor deadlock, as a
claim — task counts, then attempt counts — and a completion — attempt counts, then task
counts — would). A read sums the rows of its (client, kind, status) groups; :func:`fold`
(the node's maintenance, every 5 seconds) replaces the rows by their sums, a bounded range
per short transaction, so a read stays a few hundred rows plus the last seconds' deltas.
:func:`rebuild` (``python -m server counts --rebuild``) recounts from the
tables, should a count ever be doubted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.engine import Database
from server.db.tables import task_counts, task_executions, tasks

Counts = Mapping[tuple[str, str], int]  # (kind "task" | "attempt", status) -> n


async def counts_read(conn: AsyncConnection, client_id: str | None = None) -> dict[
        tuple[str, str], int]:
    """The kept counts, every client's or ``client_id``'s; groups at 0 are left out."""
    n = sa.func.sum(task_counts.c.n)
    stmt = (sa.select(task_counts.c.kind, task_counts.c.status, n)
            .group_by(task_counts.c.kind, task_counts.c.status).having(n != 0))
    if client_id is not None:
        stmt = stmt.where(task_counts.c.client_id == client_id)
    return {(kind, status): int(total) for kind, status, total in await conn.execute(stmt)}


_GROUP = (task_counts.c.client_id, task_counts.c.kind, task_counts.c.status)
# Rows a fold merges per transaction: a few milliseconds of SQLite's write lock.
FOLD_CHUNK = 2000
# PostgreSQL: a fold that removed this many rows vacuums the table, so that reads of it do
# not step over the dead ones until autovacuum comes.
VACUUM_AFTER = 20_000
_FOLD_PG = sa.text("""
WITH gone AS (DELETE FROM task_counts WHERE id > :lo AND id <= :hi
              RETURNING client_id, kind, status, n),
folded AS (INSERT INTO task_counts (client_id, kind, status, n)
           SELECT client_id, kind, status, sum(n) FROM gone
           GROUP BY client_id, kind, status HAVING sum(n) <> 0 RETURNING 1)
SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded)""")


async def fold(db: Database) -> int:
    """Merge the rows appended so far into one row per group (none for a group at 0), up to
    ``FOLD_CHUNK`` rows per transaction, in the order they were appended; a range whose rows
    are all of different groups is left as it is (nothing to merge, no write). Returns how
    many rows went. Exact while triggers append: a transaction deletes exactly the rows it
    sums (PostgreSQL: one ``DELETE … RETURNING`` feeding its ``INSERT``; rows appended
    meanwhile, visible or not, stay for the next fold; SQLite: under the write lock). The
    merged rows are appended after the range, so a fold ends."""
    async with db.read() as conn:
        top = (await conn.execute(sa.select(sa.func.max(task_counts.c.id)))).scalar_one()
    removed, lo = 0, 0
    while top is not None and lo < top:
        async with db.read() as conn:
            ids = list((await conn.scalars(
                sa.select(task_counts.c.id).where(task_counts.c.id > lo, task_counts.c.id <= top)
                .order_by(task_counts.c.id).limit(FOLD_CHUNK))).all())
            if not ids:
                break
            hi = ids[-1]
            groups = (await conn.execute(sa.select(sa.func.count()).select_from(
                sa.select(*_GROUP).where(task_counts.c.id > lo, task_counts.c.id <= hi)
                .distinct().subquery()))).scalar_one()
        if groups < len(ids):
            removed += await _fold_range(db, lo, hi)
            await asyncio.sleep(0)  # a claim waiting for the lock goes first
        lo = hi
    if removed >= VACUUM_AFTER and not db.is_sqlite:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("VACUUM task_counts"))
    return removed


async def _fold_range(db: Database, lo: int, hi: int) -> int:
    """Fold the rows with ``lo < id <= hi``; how many rows went (net)."""
    in_range = (task_counts.c.id > lo, task_counts.c.id <= hi)
    async with db.write() as conn:
        if not db.is_sqlite:
            return int((await conn.execute(_FOLD_PG, {"lo": lo, "hi": hi})).scalar_one())
        sums = (await conn.execute(sa.select(*_GROUP, sa.func.sum(task_counts.c.n))
                                   .where(*in_range).group_by(*_GROUP))).all()
        gone = (await conn.execute(sa.delete(task_counts).where(*in_range))).rowcount
        folded = [{"client_id": c, "kind": k, "status": s, "n": n}
                  for c, k, s, n in sums if n != 0]
        if folded:
            await conn.execute(task_counts.insert(), folded)
        return int(gone) - len(folded)


async def rebuild(db: Database) -> dict[tuple[str, str], int]:
    """Recount from ``tasks`` and ``task_executions``: the kept counts replaced by full counts
    taken in one snapshot (SQLite: under the write lock; PostgreSQL: REPEATABLE READ, so rows
    appended by transactions committing meanwhile stay, and count what this snapshot does
    not see). Returns the counts, every client's."""
    if db.is_sqlite:
        async with db.write() as conn:
            await _recount(conn)
            return await counts_read(conn)
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            await _recount(conn)
            return await counts_read(conn)


async def _recount(conn: AsyncConnection) -> None:
    client = sa.func.coalesce(tasks.c.client_id, "")
    await conn.execute(sa.delete(task_counts))
    await conn.execute(task_counts.insert().from_select(
        ["client_id", "kind", "status", "n"],
        sa.select(client, sa.literal("task"), tasks.c.status, sa.func.count())
        .group_by(client, tasks.c.status)))
    await conn.execute(task_counts.insert().from_select(
        ["client_id", "kind", "status", "n"],
        sa.select(client, sa.literal("attempt"), task_executions.c.status, sa.func.count())
        .select_from(task_executions.join(tasks, tasks.c.id == task_executions.c.task_id))
        .group_by(client, task_executions.c.status)))
