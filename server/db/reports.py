"""The SQL of the reports (server/services/reports.py documents what each holds).

One function per report over ``[start, end)``, returning the report's ``data``. Percentiles
are nearest-rank: the smallest value whose rank ``r`` (1-based, ascending) has
``r >= p * n``; computed with window functions, so SQLite and PostgreSQL agree exactly —
execution_stats's durations in buckets (server/core/durations.py: exact below 128 ms, within
0.8 % above), as its rollups keep them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.core.durations import bucket_of
from server.db import rollups
from server.db.tables import outbound_messages as messages
from server.db.tables import task_executions, tasks, webhooks

PERCENTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def _counts(conn: AsyncConnection, column: sa.ColumnElement[Any],
                  where: sa.ColumnElement[bool]) -> dict[str, int]:
    stmt = sa.select(column, sa.func.count()).where(where).group_by(column).order_by(column)
    return {str(key): int(n) for key, n in await conn.execute(stmt)}


async def _percentiles(conn: AsyncConnection, value: sa.ColumnElement[Any],
                       group: sa.ColumnElement[Any] | None, source: Any,
                       where: sa.ColumnElement[bool],
                       names: tuple[tuple[str, float], ...] = PERCENTILES
                       ) -> dict[str | None, dict[str, int | None]]:
    """Nearest-rank percentiles of ``value`` per ``group`` (or overall, key None)."""
    partition = [group] if group is not None else []
    ranked = (sa.select(
        (group if group is not None else sa.literal(None)).label("grp"),
        value.label("v"),
        sa.func.row_number().over(partition_by=partition, order_by=value).label("rn"),
        sa.func.count().over(partition_by=partition).label("n"))
        .select_from(source).where(where, value.is_not(None)).subquery())
    return await rollups.nearest_ranks(conn, ranked, names)


def _of_client(client_id: str | None) -> sa.ColumnElement[bool]:
    return sa.true() if client_id is None else tasks.c.client_id == client_id


async def task_summary(conn: AsyncConnection, start: datetime, end: datetime,
                       client_id: str | None = None, *, raw: bool = False) -> dict[str, Any]:
    """The whole hours of the period from the hourly rollups (server/db/rollups.py: the same
    counts), the rest — or, with ``raw``, all — from the tasks."""
    hours = None if raw else rollups.whole(start, end, rollups.HOUR)
    columns = ("status", "task_type", "priority")
    counts: dict[str, Counter[str]] = {column: Counter() for column in columns}
    for a, b in rollups.outside(start, end, hours):
        period = sa.and_(tasks.c.created_at >= a, tasks.c.created_at < b, _of_client(client_id))
        for column in columns:
            counts[column].update(await _counts(conn, tasks.c[column], period))
    if hours is not None:
        for column in columns:
            counts[column].update(await rollups.task_counts(conn, column, *hours, client_id))
    by_status, by_type, by_priority = (
        {key: n for key, n in sorted(counts[c].items()) if n} for c in columns)
    return {"total": sum(by_status.values()), "byStatus": by_status, "byType": by_type,
            "byPriority": by_priority}


def _type_entry(attempts: int, succeeded: int) -> dict[str, Any]:
    return {"attempts": attempts, "succeeded": succeeded, "failed": attempts - succeeded,
            "successRate": _rate(succeeded, attempts), "durationMs": {},
            "failuresByErrorType": {}}


def _ended(start: datetime, end: datetime, client_id: str | None) -> tuple[Any, Any]:
    """The attempts started in ``[start, end)`` and ended, joined to their task."""
    te = task_executions
    # The client tested on each attempt's task, not looked up by its index: SQLite, without
    # statistics, would otherwise read every task of a big client to keep a day of attempts.
    client = (sa.true() if client_id is None
              else sa.func.coalesce(tasks.c.client_id, "") == client_id)
    return (te.join(tasks, tasks.c.id == te.c.task_id),
            sa.and_(te.c.started_at >= start, te.c.started_at < end, te.c.status != "running",
                    client))


async def _attempt_rows(conn: AsyncConnection, start: datetime, end: datetime,
                        client_id: str | None) -> Sequence[tuple[str, str, str, int]]:
    """What rollups.attempt_counts answers, from the attempts: ``(task_type, status,
    failure, attempts)``."""
    te = task_executions
    source, where = _ended(start, end, client_id)
    failure = sa.case((te.c.status == "success", ""),
                      else_=sa.func.coalesce(te.c.error_type, te.c.status))
    stmt = (sa.select(tasks.c.task_type, te.c.status, failure, sa.func.count())
            .select_from(source).where(where).group_by(tasks.c.task_type, te.c.status, failure))
    return [(t, s, f, int(n)) for t, s, f, n in await conn.execute(stmt)]


async def _duration_rows(conn: AsyncConnection, start: datetime, end: datetime,
                         client_id: str | None) -> Sequence[tuple[str, int, int]]:
    """What rollups.duration_buckets answers, from the attempts: ``(task_type, bucket,
    attempts)``."""
    te = task_executions
    source, where = _ended(start, end, client_id)
    stmt = (sa.select(tasks.c.task_type, te.c.duration_ms, sa.func.count())
            .select_from(source).where(where, te.c.duration_ms.is_not(None))
            .group_by(tasks.c.task_type, te.c.duration_ms))
    return [(t, bucket_of(int(ms)), int(n)) for t, ms, n in await conn.execute(stmt)]


async def execution_stats(conn: AsyncConnection, start: datetime, end: datetime,
                          client_id: str | None = None, *, raw: bool = False) -> dict[str, Any]:
    """Counts: the whole hours of the period from attempt_hours; durations: its whole UTC days
    from attempt_durations (server/db/rollups.py); the rest — or, with ``raw``, all — from the
    attempts. The same answer either way: percentiles are of duration buckets
    (server/core/durations.py)."""
    hours = None if raw else rollups.whole(start, end, rollups.HOUR)
    rows = [row for a, b in rollups.outside(start, end, hours)
            for row in await _attempt_rows(conn, a, b, client_id)]
    if hours is not None:
        rows += await rollups.attempt_counts(conn, *hours, client_id)
    days = None if raw else rollups.whole(start, end, rollups.DAY)
    buckets = [row for a, b in rollups.outside(start, end, days)
               for row in await _duration_rows(conn, a, b, client_id)]
    if days is not None:
        buckets += await rollups.duration_buckets(conn, *days, client_id)

    counts: dict[str, list[int]] = {}
    failures: dict[str, Counter[str]] = {}
    for task_type, status, failure, n in rows:
        if status == "running":
            continue
        n_ok = counts.setdefault(task_type, [0, 0])
        n_ok[0] += n
        if status == "success":
            n_ok[1] += n
        else:
            failures.setdefault(task_type, Counter())[failure] += n
    histograms: dict[str | None, Counter[int]] = {None: Counter()}
    for task_type, bucket, n in buckets:
        histograms.setdefault(task_type, Counter())[bucket] += n
        histograms[None][bucket] += n
    none: dict[str, int | None] = {name: None for name, _ in PERCENTILES}

    def durations(key: str | None) -> dict[str, int | None]:
        histogram = +histograms.get(key, Counter())
        return rollups.bucket_percentiles(histogram, PERCENTILES) if histogram else none

    by_type = {}
    for task_type, (n, ok) in sorted(counts.items()):
        if not n:
            continue
        entry = _type_entry(n, ok)
        entry["failuresByErrorType"] = {k: v for k, v in
                                        sorted(failures.get(task_type, Counter()).items()) if v}
        entry["durationMs"] = durations(task_type)
        by_type[task_type] = entry
    attempts = sum(e["attempts"] for e in by_type.values())
    succeeded = sum(e["succeeded"] for e in by_type.values())
    return {"attempts": attempts, "succeeded": succeeded, "failed": attempts - succeeded,
            "successRate": _rate(succeeded, attempts), "durationMs": durations(None),
            "byType": by_type}


async def webhook_activity(conn: AsyncConnection, start: datetime, end: datetime,
                           client_id: str | None = None) -> dict[str, Any]:
    m = messages
    period = sa.and_(m.c.created_at >= start, m.c.created_at < end)
    if client_id is not None:
        period = sa.and_(period, m.c.task_id.in_(
            sa.select(tasks.c.id).where(tasks.c.client_id == client_id)))
    by_status = await _counts(conn, m.c.status, period)
    attempts = (await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(m.c.attempts), 0))
                                   .where(period))).scalar()
    delivered = sa.and_(period, m.c.status == "delivered")
    agg = (await conn.execute(sa.select(sa.func.avg(m.c.latency_ms), sa.func.max(m.c.latency_ms))
                              .where(delivered, m.c.latency_ms.is_not(None)))).one()
    pct = await _percentiles(conn, m.c.latency_ms, None, m, delivered,
                             (("p50", 0.5), ("p95", 0.95)))
    latency: dict[str, Any] = {"avg": None if agg[0] is None else round(float(agg[0]), 1),
                               **pct.get(None, {"p50": None, "p95": None}),
                               "max": None if agg[1] is None else int(agg[1])}
    failed = sa.func.sum(sa.case((m.c.status == "failed", 1), else_=0))
    ok = sa.func.sum(sa.case((m.c.status == "delivered", 1), else_=0))
    failing_stmt = (sa.select(m.c.webhook_id, webhooks.c.name, failed.label("failed"),
                              ok.label("delivered"))
                    .select_from(m.outerjoin(webhooks, webhooks.c.id == m.c.webhook_id))
                    .where(period).group_by(m.c.webhook_id, webhooks.c.name)
                    .having(failed > 0).order_by(failed.desc(), m.c.webhook_id))
    failing = [{"webhookId": r.webhook_id, "name": r.name, "failed": int(r.failed),
                "delivered": int(r.delivered)} for r in await conn.execute(failing_stmt)]
    return {"total": sum(by_status.values()), "byStatus": by_status,
            "byKind": await _counts(conn, m.c.kind, period), "attempts": int(attempts or 0),
            "deliveryLatencyMs": latency, "failingWebhooks": failing}
