"""Rollups: what the reports (task_summary, execution_stats) and the overview's hourly series
count, kept exactly as work changes it, so a month of a million tasks reads a few thousand
rows instead of a million.

Three tables (server/db/tables.py): ``task_hours`` (tasks by the hour they were created in,
type, client, status, priority), ``attempt_hours`` (attempts by the hour they started in, their
task's type and client, status, failure) and ``attempt_durations`` (ended attempts by the UTC
day they started in, type, client and duration bucket: server/core/durations.py).

**Kept by triggers** (migrations 0020_rollups, 0021_rollups_all), in the transaction of the
change itself: an insert, a delete or a change of a counted column of ``tasks`` or
``task_executions`` appends a delta row (-1 for the old key, +1 for the new) — a plain insert,
so no writer waits on a shared counter row and no two writers can deadlock on them. A task's
deletion deletes its attempts first (their triggers count them out while the task is still
there to name its type); a change of a task's type or client moves its attempts' counts.

**Folded** by :func:`rollups_fold_db` (the node's maintenance, every few seconds): the delta
rows are summed into one row per key (``delta`` false, uq_*_key) and into the key's all-clients
row (client ``'*'``), deleting exactly the deltas it adds (PostgreSQL: in one statement);
folded rows that reach 0 go. A fold reads only the
deltas (their partial index), however many folded rows there are. A reader sums the folded
rows of its client (``'*'`` for every client) and the deltas of the period not folded yet.

**Rebuilt** by :func:`rollups_rebuild` (``python -m server rebuild rollups``): every row made
again from the tables, under a lock that holds writers off meanwhile (PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.core.durations import bucket_sql, bucket_value
from server.db.engine import Database
from server.db.tables import ALL_CLIENTS, attempt_durations, attempt_hours, task_hours

HOUR: Final = timedelta(hours=1)
DAY: Final = timedelta(days=1)


@dataclass(frozen=True)
class _Rollup:
    table: str
    period: str
    keys: tuple[str, ...]  # the columns after period, type and client
    count: str

    def columns(self, client: str = "client_id") -> str:
        """The key columns, ``client`` for the client's."""
        return ", ".join((self.grouped(), client))

    def grouped(self) -> str:
        """The key columns but the client."""
        return ", ".join((self.period, "task_type", *self.keys))


_ROLLUPS: Final = (
    _Rollup("task_hours", "hour", ("status", "priority"), "tasks"),
    _Rollup("attempt_hours", "hour", ("status", "failure"), "attempts"),
    _Rollup("attempt_durations", "day", ("bucket_ms",), "attempts"),
)


def whole(start: datetime, end: datetime, unit: timedelta) -> tuple[datetime, datetime] | None:
    """The whole ``unit``s (hours, UTC days) inside ``[start, end)``, if any."""
    epoch = datetime(1970, 1, 1, tzinfo=start.tzinfo)
    first = epoch + -((epoch - start) // unit) * unit  # start rounded up
    last = epoch + ((end - epoch) // unit) * unit  # end rounded down
    return (first, last) if first < last else None


def outside(start: datetime, end: datetime, inner: tuple[datetime, datetime] | None
            ) -> list[tuple[datetime, datetime]]:
    """The parts of ``[start, end)`` outside ``inner`` (all of it without one)."""
    if inner is None:
        return [(start, end)] if start < end else []
    return [(a, b) for a, b in ((start, inner[0]), (inner[1], end)) if a < b]


def _fold_sql(r: _Rollup, dialect: str) -> list[str]:
    keys = r.columns()
    per_key = f"SELECT {keys}, sum({r.count}) AS n FROM deltas GROUP BY {keys}"
    every = r.columns(f"'{ALL_CLIENTS}'")
    all_clients = (f"SELECT {every}, sum({r.count}) AS n FROM deltas "
                   f"GROUP BY {r.grouped()}")
    upsert = (f"ON CONFLICT (client_id, {r.period}, task_type, {', '.join(r.keys)}) "
              f"WHERE NOT delta DO UPDATE SET {r.count} = {r.table}.{r.count} + "
              f"excluded.{r.count}")
    zeros = f"DELETE FROM {r.table} WHERE NOT delta AND {r.count} = 0"
    insert = f"INSERT INTO {r.table} ({keys}, {r.count}, delta) SELECT {keys}, n, FALSE"
    if dialect == "postgresql":
        # One statement: the deltas it sums are exactly the ones it deletes (a concurrent fold
        # skips them); ordered by key, so two folds take the folded rows' locks in one order.
        return [f"WITH deltas AS (DELETE FROM {r.table} WHERE delta RETURNING {keys}, "
                f"{r.count}), sums AS ({per_key} UNION ALL {all_clients}) "
                f"{insert} FROM sums ORDER BY {keys} {upsert}", zeros]
    return [f"WITH deltas AS (SELECT * FROM {r.table} WHERE delta), "  # one writer: no race
            f"sums AS ({per_key} UNION ALL {all_clients}) {insert} FROM sums WHERE true "
            f"{upsert}", f"DELETE FROM {r.table} WHERE delta", zeros]


async def rollups_pending(conn: AsyncConnection) -> bool:
    """Whether any rollup has deltas to fold (read through their partial indexes)."""
    for r in _ROLLUPS:
        if (await conn.exec_driver_sql(
                f"SELECT 1 FROM {r.table} WHERE delta LIMIT 1")).first() is not None:
            return True
    return False


async def rollups_fold(conn: AsyncConnection) -> None:
    """Sum the delta rows into the folded rows (one per key, and one per key for every client);
    keys summing to 0 go. All of them, in this transaction."""
    for rollup in _ROLLUPS:
        for statement in _fold_sql(rollup, conn.dialect.name):
            await conn.exec_driver_sql(statement)


async def rollups_fold_db(db: Database) -> None:
    """What the node's maintenance runs: nothing when there are no deltas (a read, no write
    lock), else :func:`rollups_fold` in one transaction. (Folding SQLite's deltas 2,000 per
    transaction was tried: each chunk found its bound by reading every delta again, and
    claims during retention waited longer, p99 66 → 194 ms.)"""
    async with db.read() as conn:
        if not await rollups_pending(conn):
            return
    async with db.write() as conn:
        await rollups_fold(conn)


def _trunc(unit: str, column: str, dialect: str) -> str:
    if dialect == "postgresql":
        return f"date_trunc('{unit}', {column})"
    # the stored text's hour or day
    return (f"substr({column}, 1, 13) || ':00:00.000000'" if unit == "hour"
            else f"substr({column}, 1, 10) || ' 00:00:00.000000'")


def rebuild_sql(dialect: str) -> list[str]:
    """Every rollup row made again from ``tasks`` and ``task_executions`` (all folded)."""
    failure = "CASE WHEN e.status = 'success' THEN '' ELSE coalesce(e.error_type, e.status) END"
    attempts = "FROM task_executions e JOIN tasks t ON t.id = e.task_id"
    client = "coalesce(t.client_id, '')"
    return [*(f"DELETE FROM {r.table}" for r in _ROLLUPS),
            "INSERT INTO task_hours (hour, task_type, client_id, status, priority, tasks, delta) "
            f"SELECT {_trunc('hour', 't.created_at', dialect)}, t.task_type, {client}, "
            "t.status, t.priority, count(*), FALSE FROM tasks t GROUP BY 1, 2, 3, 4, 5",
            "INSERT INTO attempt_hours (hour, task_type, client_id, status, failure, attempts, "
            f"delta) SELECT {_trunc('hour', 'e.started_at', dialect)}, t.task_type, {client}, "
            f"e.status, {failure}, count(*), FALSE {attempts} GROUP BY 1, 2, 3, 4, 5",
            "INSERT INTO attempt_durations (day, task_type, client_id, bucket_ms, attempts, "
            f"delta) SELECT {_trunc('day', 'e.started_at', dialect)}, t.task_type, {client}, "
            f"{bucket_sql('e.duration_ms')}, count(*), FALSE {attempts} "
            "WHERE e.status <> 'running' AND e.duration_ms IS NOT NULL GROUP BY 1, 2, 3, 4",
            *(f"INSERT INTO {r.table} ({r.columns()}, {r.count}, delta) "
              f"SELECT {r.columns(repr(ALL_CLIENTS))}, sum({r.count}), FALSE FROM {r.table} "
              f"GROUP BY {r.grouped()}" for r in _ROLLUPS)]


async def rollups_rebuild(conn: AsyncConnection) -> None:
    """Make every rollup row again from the tables, in this transaction (PostgreSQL: writers
    of tasks and attempts wait until it commits, so no change is counted twice or missed)."""
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql(
            "LOCK TABLE tasks, task_executions, task_hours, attempt_hours, attempt_durations "
            "IN SHARE ROW EXCLUSIVE MODE")
    for statement in rebuild_sql(conn.dialect.name):
        await conn.exec_driver_sql(statement)


# --- reads -----------------------------------------------------------------------------------

def _rows(table: sa.Table, start: datetime, end: datetime, client_id: str | None,
          *columns: sa.ColumnElement[object]) -> sa.Subquery:
    """``columns`` of the rows that count ``[start, end)`` (whole periods) for ``client_id``
    (None: every client): its folded rows (uq_*_key: client, then period), and the deltas of
    the period not folded yet (ix_*_deltas)."""
    period = table.c[table.c.keys()[0]]
    span = sa.and_(period >= start, period < end)
    # as the partial indexes spell them (SQLAlchemy would write delta = 0 on SQLite, which
    # SQLite does not match with NOT delta)
    folded = sa.select(*columns).where(
        sa.text("NOT delta"),
        table.c.client_id == (ALL_CLIENTS if client_id is None else client_id), span)
    deltas = sa.select(*columns).where(sa.text("delta"), span)
    if client_id is not None:
        deltas = deltas.where(table.c.client_id == client_id)
    return sa.union_all(folded, deltas).subquery()


async def task_counts(conn: AsyncConnection, column: str, start: datetime, end: datetime,
                      client_id: str | None) -> dict[str, int]:
    """Tasks created in ``[start, end)`` (whole hours) by ``column`` (status, task_type,
    priority): what ``GROUP BY column`` over the tasks answers."""
    rows = _rows(task_hours, start, end, client_id, task_hours.c[column], task_hours.c.tasks)
    total = sa.func.sum(rows.c.tasks)
    stmt = (sa.select(rows.c[column], total).group_by(rows.c[column]).having(total != 0))
    return {str(k): int(n) for k, n in await conn.execute(stmt)}


async def attempt_counts(conn: AsyncConnection, start: datetime, end: datetime,
                         client_id: str | None) -> Sequence[tuple[str, str, str, int]]:
    """``(task_type, status, failure, attempts)`` of the attempts started in the hours."""
    a = attempt_hours
    rows = _rows(a, start, end, client_id, a.c.task_type, a.c.status, a.c.failure, a.c.attempts)
    total = sa.func.sum(rows.c.attempts)
    keys = (rows.c.task_type, rows.c.status, rows.c.failure)
    stmt = sa.select(*keys, total).group_by(*keys).having(total != 0)
    return [(t, s, f, int(n)) for t, s, f, n in await conn.execute(stmt)]


async def duration_buckets(conn: AsyncConnection, start: datetime, end: datetime,
                           client_id: str | None) -> Sequence[tuple[str, int, int]]:
    """``(task_type, bucket, attempts)`` of the ended attempts started in ``[start, end)``
    (whole UTC days)."""
    d = attempt_durations
    rows = _rows(d, start, end, client_id, d.c.task_type, d.c.bucket_ms, d.c.attempts)
    total = sa.func.sum(rows.c.attempts)
    stmt = (sa.select(rows.c.task_type, rows.c.bucket_ms, total)
            .group_by(rows.c.task_type, rows.c.bucket_ms).having(total > 0))
    return [(t, int(b), int(n)) for t, b, n in await conn.execute(stmt)]


def nearest_rank(counts: dict[int, int], names: Sequence[tuple[str, float]]
                 ) -> dict[str, int | None]:
    """Each percentile ``p`` of a histogram (value → how many): the smallest value whose
    running count reaches ``p * n``."""
    n = sum(counts.values())
    out: dict[str, int | None] = {name: None for name, _ in names}
    running = 0
    for value in sorted(counts):
        running += counts[value]
        for name, p in names:
            if out[name] is None and running >= p * n:
                out[name] = value
    return out


def bucket_percentiles(buckets: dict[int, int], names: Sequence[tuple[str, float]]
                       ) -> dict[str, int | None]:
    """Nearest-rank percentiles of a duration histogram by bucket (server/core/durations.py),
    each given as its bucket's value."""
    ranks = nearest_rank(buckets, names)
    return {name: None if b is None else bucket_value(b) for name, b in ranks.items()}


async def nearest_ranks(conn: AsyncConnection, ranked: sa.Subquery,
                        names: Sequence[tuple[str, float]]
                        ) -> dict[str | None, dict[str, int | None]]:
    """Per ``grp`` of ``ranked`` (columns grp, v, rn, n: a value, its rank, the group's
    count), each percentile ``p``: the smallest ``v`` whose ``rn >= p * n``."""
    stmt = sa.select(ranked.c.grp, *[
        sa.func.min(sa.case((ranked.c.rn >= p * ranked.c.n, ranked.c.v))).label(name)
        for name, p in names]).group_by(ranked.c.grp)
    out: dict[str | None, dict[str, int | None]] = {}
    for row in await conn.execute(stmt):
        out[row.grp] = {name: None if row[i + 1] is None else int(row[i + 1])
                        for i, (name, _) in enumerate(names)}
    return out


async def hourly_series(conn: AsyncConnection, start: datetime, hours: int,
                        client_id: str | None
                        ) -> tuple[Sequence[tuple[int, int]], Sequence[tuple[int, str, int]]]:
    """``([(hour index, tasks created)], [(hour index, attempt status, attempts started)])``
    of the ``hours`` hours from ``start`` (whole hours)."""
    end = start + timedelta(hours=hours)
    t, a = task_hours, attempt_hours
    made = _rows(t, start, end, client_id, t.c.hour, t.c.tasks)
    created_n = sa.func.sum(made.c.tasks)
    created = sa.select(made.c.hour, created_n).group_by(made.c.hour).having(created_n != 0)
    ran = _rows(a, start, end, client_id, a.c.hour, a.c.status, a.c.attempts)
    started_n = sa.func.sum(ran.c.attempts)
    started = (sa.select(ran.c.hour, ran.c.status, started_n)
               .group_by(ran.c.hour, ran.c.status).having(started_n != 0))

    def index(hour: datetime) -> int:
        return (hour - start) // timedelta(hours=1)

    return ([(index(h), int(n)) for h, n in await conn.execute(created)],
            [(index(h), s, int(n)) for h, s, n in await conn.execute(started)])
