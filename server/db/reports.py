"""The SQL of the reports (server/services/reports.py documents what each holds).

One function per report over ``[start, end)``, returning the report's ``data``. Percentiles
are nearest-rank: the smallest value whose rank ``r`` (1-based, ascending) has
``r >= p * n``; computed with window functions, so SQLite and PostgreSQL agree exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

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
    """From the hourly rollups when the period is whole hours (server/db/rollups.py: the same
    counts), else — or with ``raw`` — from the tasks."""
    if not raw and rollups.is_whole_hours(start, end):
        by_status = await rollups.task_counts(conn, "status", start, end, client_id)
        by_type = await rollups.task_counts(conn, "task_type", start, end, client_id)
        by_priority = await rollups.task_counts(conn, "priority", start, end, client_id)
    else:
        period = sa.and_(tasks.c.created_at >= start, tasks.c.created_at < end,
                         _of_client(client_id))
        by_status = await _counts(conn, tasks.c.status, period)
        by_type = await _counts(conn, tasks.c.task_type, period)
        by_priority = await _counts(conn, tasks.c.priority, period)
    return {"total": sum(by_status.values()), "byStatus": by_status, "byType": by_type,
            "byPriority": by_priority}


def _type_entry(attempts: int, succeeded: int) -> dict[str, Any]:
    return {"attempts": attempts, "succeeded": succeeded, "failed": attempts - succeeded,
            "successRate": _rate(succeeded, attempts), "durationMs": {},
            "failuresByErrorType": {}}


async def _attempts_by_type(conn: AsyncConnection, start: datetime, end: datetime,
                            client_id: str | None) -> dict[str, dict[str, Any]]:
    """Each task type's entry of execution_stats but its durations, from the attempts."""
    te = task_executions
    source = te.join(tasks, tasks.c.id == te.c.task_id)
    where = sa.and_(te.c.started_at >= start, te.c.started_at < end, te.c.status != "running",
                    _of_client(client_id))
    totals = sa.select(tasks.c.task_type, sa.func.count().label("n"),
                       sa.func.sum(sa.case((te.c.status == "success", 1), else_=0)).label("ok")
                       ).select_from(source).where(where).group_by(tasks.c.task_type)
    failures = (sa.select(tasks.c.task_type, sa.func.coalesce(te.c.error_type, te.c.status),
                          sa.func.count()).select_from(source)
                .where(where, te.c.status != "success")
                .group_by(tasks.c.task_type, sa.func.coalesce(te.c.error_type, te.c.status)))
    by_type = {task_type: _type_entry(int(n), int(ok or 0))
               for task_type, n, ok in await conn.execute(totals)}
    for task_type, error_type, n in await conn.execute(failures):
        by_type[task_type]["failuresByErrorType"][str(error_type)] = int(n)
    return by_type


async def _rolled_up_by_type(conn: AsyncConnection, start: datetime, end: datetime,
                             client_id: str | None) -> dict[str, dict[str, Any]]:
    """The same as :func:`_attempts_by_type`, from attempt_hours."""
    counts: dict[str, list[int]] = {}
    failures: dict[str, dict[str, int]] = {}
    for task_type, status, failure, n in await rollups.attempt_counts(conn, start, end,
                                                                      client_id):
        if status == "running":
            continue
        n_ok = counts.setdefault(task_type, [0, 0])
        n_ok[0] += n
        if status == "success":
            n_ok[1] += n
        else:
            of_type = failures.setdefault(task_type, {})
            of_type[failure] = of_type.get(failure, 0) + n
    by_type = {t: _type_entry(n, ok) for t, (n, ok) in counts.items()}
    for task_type, entry in by_type.items():
        entry["failuresByErrorType"] = dict(sorted(failures.get(task_type, {}).items()))
    return by_type


async def execution_stats(conn: AsyncConnection, start: datetime, end: datetime,
                          client_id: str | None = None, *, raw: bool = False) -> dict[str, Any]:
    """From the hourly rollups when the period is whole hours (server/db/rollups.py: the same
    counts and the same percentiles), else — or with ``raw`` — from the attempts."""
    if not raw and rollups.is_whole_hours(start, end):
        by_type = await _rolled_up_by_type(conn, start, end, client_id)
        durations = await rollups.duration_percentiles(conn, start, end, client_id,
                                                       PERCENTILES)
        overall = durations
    else:
        te = task_executions
        source = te.join(tasks, tasks.c.id == te.c.task_id)
        where = sa.and_(te.c.started_at >= start, te.c.started_at < end,
                        te.c.status != "running", _of_client(client_id))
        by_type = await _attempts_by_type(conn, start, end, client_id)
        durations = await _percentiles(conn, te.c.duration_ms, tasks.c.task_type, source,
                                       where)
        overall = await _percentiles(conn, te.c.duration_ms, None, source, where)
    for task_type, entry in by_type.items():
        entry["durationMs"] = durations.get(task_type, {name: None for name, _ in PERCENTILES})
    attempts = sum(e["attempts"] for e in by_type.values())
    succeeded = sum(e["succeeded"] for e in by_type.values())
    return {"attempts": attempts, "succeeded": succeeded, "failed": attempts - succeeded,
            "successRate": _rate(succeeded, attempts),
            "durationMs": overall.get(None, {name: None for name, _ in PERCENTILES}),
            "byType": dict(sorted(by_type.items()))}


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
