"""Hourly rollups: what the reports (task_summary, execution_stats) and the overview's hourly
series count, kept exactly as work changes it, so a month of a million tasks reads a few
thousand rows instead of a million.

Three tables (server/db/tables.py): ``task_hours`` (tasks by the hour they were created in,
type, client, status, priority), ``attempt_hours`` (attempts by the hour they started in, their
task's type and client, status, failure) and ``attempt_durations`` (ended attempts' durations
per exact millisecond, for exact nearest-rank percentiles).

**Kept by triggers** (migration 0020_rollups), in the transaction of the change itself: an
insert, a delete or a change of a counted column of ``tasks`` or ``task_executions`` appends
a delta row (-1 for the old key, +1 for the new) — a plain insert, so no writer waits on a
shared counter row and no two writers can deadlock on them. A task's deletion deletes its
attempts first (their triggers count them out while the task is still there to name its type);
a change of a task's type or client moves its attempts' counts.

**Folded** by :func:`rollups_fold` (the node's maintenance, every few seconds): the delta rows
are summed into one row per key (``delta`` false, uq_*_key) in one transaction, so a reader
sees either the deltas or their sum. Readers sum every row of the hours asked, folded or not.

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

from server.db.tables import attempt_durations, attempt_hours, task_hours


@dataclass(frozen=True)
class _Rollup:
    table: str
    keys: tuple[str, ...]
    count: str


_ROLLUPS: Final = (
    _Rollup("task_hours", ("hour", "task_type", "client_id", "status", "priority"), "tasks"),
    _Rollup("attempt_hours", ("hour", "task_type", "client_id", "status", "failure"),
            "attempts"),
    _Rollup("attempt_durations", ("hour", "task_type", "client_id", "duration_ms"), "attempts"),
)


def is_whole_hours(start: datetime, end: datetime) -> bool:
    """Whether ``[start, end)`` is made of whole hours: then the rollups answer it."""
    return all(t.minute == t.second == t.microsecond == 0 for t in (start, end))


def _fold_sql(r: _Rollup, dialect: str) -> list[str]:
    keys = ", ".join(r.keys)
    upsert = (f"ON CONFLICT ({keys}) WHERE NOT delta "
              f"DO UPDATE SET {r.count} = {r.table}.{r.count} + excluded.{r.count}")
    zeros = f"DELETE FROM {r.table} WHERE NOT delta AND {r.count} = 0"
    if dialect == "postgresql":
        # One statement: the deltas it sums are exactly the ones it deletes (a concurrent fold
        # skips them); ordered by key, so two folds take the folded rows' locks in one order.
        return [f"WITH gone AS (DELETE FROM {r.table} WHERE delta RETURNING {keys}, {r.count}) "
                f"INSERT INTO {r.table} ({keys}, {r.count}, delta) "
                f"SELECT {keys}, sum({r.count}), FALSE FROM gone GROUP BY {keys} "
                f"ORDER BY {keys} {upsert}", zeros]
    return [f"INSERT INTO {r.table} ({keys}, {r.count}, delta) "  # one writer: no race
            f"SELECT {keys}, sum({r.count}), FALSE FROM {r.table} WHERE delta "
            f"GROUP BY {keys} {upsert}", f"DELETE FROM {r.table} WHERE delta", zeros]


async def rollups_fold(conn: AsyncConnection) -> None:
    """Sum the delta rows into the folded rows (one per key); keys summing to 0 go."""
    for rollup in _ROLLUPS:
        for statement in _fold_sql(rollup, conn.dialect.name):
            await conn.exec_driver_sql(statement)


def _hour(column: str, dialect: str) -> str:
    if dialect == "postgresql":
        return f"date_trunc('hour', {column})"
    return f"substr({column}, 1, 13) || ':00:00.000000'"  # the stored text's hour


def rebuild_sql(dialect: str) -> list[str]:
    """Every rollup row made again from ``tasks`` and ``task_executions`` (all folded)."""
    failure = "CASE WHEN e.status = 'success' THEN '' ELSE coalesce(e.error_type, e.status) END"
    attempts = "FROM task_executions e JOIN tasks t ON t.id = e.task_id"
    return [*(f"DELETE FROM {r.table}" for r in _ROLLUPS),
            "INSERT INTO task_hours (hour, task_type, client_id, status, priority, tasks, delta) "
            f"SELECT {_hour('created_at', dialect)}, task_type, coalesce(client_id, ''), status, "
            "priority, count(*), FALSE FROM tasks GROUP BY 1, 2, 3, 4, 5",
            "INSERT INTO attempt_hours (hour, task_type, client_id, status, failure, attempts, "
            f"delta) SELECT {_hour('e.started_at', dialect)}, t.task_type, "
            f"coalesce(t.client_id, ''), e.status, {failure}, count(*), FALSE {attempts} "
            "GROUP BY 1, 2, 3, 4, 5",
            "INSERT INTO attempt_durations (hour, task_type, client_id, duration_ms, attempts, "
            f"delta) SELECT {_hour('e.started_at', dialect)}, t.task_type, "
            f"coalesce(t.client_id, ''), e.duration_ms, count(*), FALSE {attempts} "
            "WHERE e.status <> 'running' AND e.duration_ms IS NOT NULL GROUP BY 1, 2, 3, 4"]


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

def _period(table: sa.Table, start: datetime, end: datetime,
            client_id: str | None) -> sa.ColumnElement[bool]:
    where = sa.and_(table.c.hour >= start, table.c.hour < end)
    return where if client_id is None else sa.and_(where, table.c.client_id == client_id)


async def task_counts(conn: AsyncConnection, column: str, start: datetime, end: datetime,
                      client_id: str | None) -> dict[str, int]:
    """Tasks created in ``[start, end)`` (whole hours) by ``column`` (status, task_type,
    priority), ordered by it: what ``GROUP BY column`` over the tasks answers."""
    key = task_hours.c[column]
    total = sa.func.sum(task_hours.c.tasks)
    stmt = (sa.select(key, total).where(_period(task_hours, start, end, client_id))
            .group_by(key).having(total != 0).order_by(key))
    return {str(k): int(n) for k, n in await conn.execute(stmt)}


async def attempt_counts(conn: AsyncConnection, start: datetime, end: datetime,
                         client_id: str | None) -> Sequence[tuple[str, str, str, int]]:
    """``(task_type, status, failure, attempts)`` of the attempts started in the hours."""
    total = sa.func.sum(attempt_hours.c.attempts)
    keys = (attempt_hours.c.task_type, attempt_hours.c.status, attempt_hours.c.failure)
    stmt = (sa.select(*keys, total).where(_period(attempt_hours, start, end, client_id))
            .group_by(*keys).having(total != 0))
    return [(t, s, f, int(n)) for t, s, f, n in await conn.execute(stmt)]


async def duration_percentiles(conn: AsyncConnection, start: datetime, end: datetime,
                               client_id: str | None, names: Sequence[tuple[str, float]]
                               ) -> dict[str | None, dict[str, int | None]]:
    """Nearest-rank percentiles of the ended attempts' durations per task type and overall
    (key None): the smallest duration whose running count reaches ``p * n`` — the same value
    as the smallest whose rank among the attempts does (server/db/reports.py). One read of
    the histogram (ix_attempt_durations_read), the ranks counted here."""
    d = attempt_durations
    total = sa.func.sum(d.c.attempts)
    stmt = (sa.select(d.c.task_type, d.c.duration_ms, total)
            .where(_period(d, start, end, client_id))
            .group_by(d.c.task_type, d.c.duration_ms).having(total > 0)
            .order_by(d.c.task_type, d.c.duration_ms))
    by_type: dict[str | None, dict[int, int]] = {None: {}}
    for task_type, duration, n in await conn.execute(stmt):
        by_type.setdefault(task_type, {})[duration] = int(n)
        by_type[None][duration] = by_type[None].get(duration, 0) + int(n)
    return {key: nearest_rank(counts, names) for key, counts in by_type.items() if counts}


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
    created_n = sa.func.sum(task_hours.c.tasks)
    created = (sa.select(task_hours.c.hour, created_n)
               .where(_period(task_hours, start, end, client_id))
               .group_by(task_hours.c.hour).having(created_n != 0))
    started_n = sa.func.sum(attempt_hours.c.attempts)
    started = (sa.select(attempt_hours.c.hour, attempt_hours.c.status, started_n)
               .where(_period(attempt_hours, start, end, client_id))
               .group_by(attempt_hours.c.hour, attempt_hours.c.status).having(started_n != 0))

    def index(hour: datetime) -> int:
        return (hour - start) // timedelta(hours=1)

    return ([(index(h), int(n)) for h, n in await conn.execute(created)],
            [(index(h), s, int(n)) for h, s, n in await conn.execute(started)])
