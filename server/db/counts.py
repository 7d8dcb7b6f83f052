"""Kept counts (``task_counts``, migration 0018): tasks and attempts by client and status,
exact under any concurrency, read by ``system.stats`` without scanning tasks.

Triggers on ``tasks`` and ``task_executions`` append each change's deltas (-1 for what a row
was, +1 for what it is) in the changing transaction itself, so a count moves exactly when
the change commits, and rolls back with it. Appending, never updating a counter row in place:
on PostgreSQL two transactions never wait for each other on a hot row (nor deadlock, as a
claim — task counts, then attempt counts — and a completion — attempt counts, then task
counts — would). A read sums the rows of its (client, kind, status) groups; :func:`fold`
(the node's maintenance, every few seconds) replaces the rows by their sums so a read stays a
few hundred rows. :func:`rebuild` (``python -m server counts --rebuild``) recounts from the
tables, should a count ever be doubted.
"""

from __future__ import annotations

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
_FOLD_PG = sa.text("""
WITH gone AS (DELETE FROM task_counts RETURNING client_id, kind, status, n)
INSERT INTO task_counts (client_id, kind, status, n)
SELECT client_id, kind, status, sum(n) FROM gone
GROUP BY client_id, kind, status HAVING sum(n) <> 0""")


async def fold(db: Database) -> bool:
    """Replace the deltas by one row per group (none for a group at 0); False when there was
    nothing to fold (then no write is taken). Exact while triggers append: on PostgreSQL the
    DELETE takes exactly the rows its INSERT sums (rows appended meanwhile stay for the next
    fold); on SQLite the write lock keeps appends out."""
    async with db.read() as conn:
        rows, groups = (await conn.execute(_SIZE)).one()
    if rows == groups:
        return False
    async with db.write() as conn:
        if not db.is_sqlite:
            await conn.execute(_FOLD_PG)
            return True
        sums = (await conn.execute(sa.select(*_GROUP, sa.func.sum(task_counts.c.n))
                                   .group_by(*_GROUP))).all()
        await conn.execute(sa.delete(task_counts))
        folded = [{"client_id": c, "kind": k, "status": s, "n": n}
                  for c, k, s, n in sums if n != 0]
        if folded:
            await conn.execute(task_counts.insert(), folded)
    return True


_SIZE = sa.select(sa.func.count(), sa.select(sa.func.count()).select_from(
    sa.select(*_GROUP).distinct().subquery()).scalar_subquery()).select_from(task_counts)


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
