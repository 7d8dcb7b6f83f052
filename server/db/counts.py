"""Kept counts (``task_counts``, migration 0018): tasks and attempts by client and status,
exact under any concurrency, read by ``system.stats`` without scanning tasks.

Triggers on ``tasks`` and ``task_executions`` append each change's deltas (-1 for what a row
was, +1 for what it is) in the changing transaction itself, so a count moves exactly when
the change commits, and rolls back with it. Appending, never updating a counter row in place:
on PostgreSQL two transactions never wait for each other on a hot row (nor deadlock, as a
claim — task counts, then attempt counts — and a completion — attempt counts, then task
counts — would). A read sums the rows of its (client, kind, status) groups; :func:`fold`
(the node's maintenance, every 5 seconds) adds the deltas into one base row per group, a
bounded chunk per short transaction, so a read is the base rows plus the last seconds'
deltas.
:func:`rebuild` (``python -m server counts --rebuild``) recounts from the
tables, should a count ever be doubted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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
# Deltas a fold takes per transaction: a few milliseconds of SQLite's write lock.
FOLD_CHUNK = 2000
# PostgreSQL: a fold that took this many deltas vacuums the table, so that reads of it do
# not step over the dead rows until autovacuum comes.
VACUUM_AFTER = 20_000
_FOLD_PG = sa.text("""
WITH chunk AS (SELECT id FROM task_counts WHERE NOT base ORDER BY id LIMIT :chunk),
gone AS (DELETE FROM task_counts WHERE id IN (SELECT id FROM chunk) AND NOT base
         RETURNING client_id, kind, status, n),
merged AS (INSERT INTO task_counts (client_id, kind, status, n, base)
           SELECT client_id, kind, status, sum(n), true FROM gone
           GROUP BY client_id, kind, status ORDER BY client_id, kind, status
           ON CONFLICT (client_id, kind, status) WHERE base
           DO UPDATE SET n = task_counts.n + excluded.n)
SELECT count(*) FROM gone""")
_DELTAS = (sa.select(task_counts.c.id).where(~task_counts.c.base)
           .order_by(task_counts.c.id).limit(FOLD_CHUNK))


async def fold(db: Database) -> int:
    """Add the deltas appended so far into their groups' base rows, ``FOLD_CHUNK`` per short
    transaction, oldest first; returns how many deltas went. Idle (no deltas), it only reads.
    Exact while triggers append: a transaction adds exactly the deltas it deletes
    (PostgreSQL: one ``DELETE … RETURNING`` feeding its upsert; deltas appended meanwhile,
    visible or not, stay for the next fold; SQLite: under the write lock). Base rows are
    written by folds alone, in group order, so two nodes' folds wait for each other at most
    and never deadlock; triggers never touch them."""
    async with db.read() as conn:
        if (await conn.execute(_DELTAS.limit(1))).first() is None:
            return 0
    folded = 0
    while True:
        async with db.write() as conn:
            took = await (_fold_chunk_sqlite(conn) if db.is_sqlite else _fold_chunk_pg(conn))
        folded += took
        if took < FOLD_CHUNK:
            break
        await asyncio.sleep(0)  # a claim waiting for the lock goes first
    if folded >= VACUUM_AFTER and not db.is_sqlite:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("VACUUM task_counts"))
    return folded


async def _fold_chunk_pg(conn: AsyncConnection) -> int:
    return int((await conn.execute(_FOLD_PG, {"chunk": FOLD_CHUNK})).scalar_one())


async def _fold_chunk_sqlite(conn: AsyncConnection) -> int:
    ids = list((await conn.scalars(_DELTAS)).all())
    if not ids:
        return 0
    chunk = (~task_counts.c.base, task_counts.c.id <= ids[-1])
    sums = (await conn.execute(sa.select(*_GROUP, sa.func.sum(task_counts.c.n))
                               .where(*chunk).group_by(*_GROUP))).all()
    await conn.execute(sa.delete(task_counts).where(*chunk))
    await _add_to_base(conn, [{"client_id": c, "kind": k, "status": s, "n": n}
                              for c, k, s, n in sums])
    return len(ids)


async def _add_to_base(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Add ``rows``' n to their groups' base rows (made when missing), in group order."""
    if not rows:
        return
    rows = sorted(rows, key=lambda r: (r["client_id"], r["kind"], r["status"]))
    insert = (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(task_counts)
    stmt = insert.values([{**r, "base": True} for r in rows])
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=list(_GROUP), index_where=task_counts.c.base,
        set_={"n": task_counts.c.n + stmt.excluded.n}))


async def rebuild(db: Database) -> dict[tuple[str, str], int]:
    """Recount from ``tasks`` and ``task_executions``: the kept counts replaced by base rows
    of full counts taken in one snapshot (SQLite: under the write lock; PostgreSQL:
    REPEATABLE READ, so deltas appended by transactions committing meanwhile stay, and count
    what this snapshot does not see). Returns the counts, every client's."""
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
        ["client_id", "kind", "status", "n", "base"],
        sa.select(client, sa.literal("task"), tasks.c.status, sa.func.count(), sa.true())
        .group_by(client, tasks.c.status)))
    await conn.execute(task_counts.insert().from_select(
        ["client_id", "kind", "status", "n", "base"],
        sa.select(client, sa.literal("attempt"), task_executions.c.status, sa.func.count(),
                  sa.true())
        .select_from(task_executions.join(tasks, tasks.c.id == task_executions.c.task_id))
        .group_by(client, task_executions.c.status)))
