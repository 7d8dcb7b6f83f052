"""Reports computed in SQL over a period ``[from, to)`` (report_generation, docs/CONTRACT.md §5).

- ``task_summary``: tasks CREATED in the period — ``total``, ``byStatus``, ``byType``,
  ``byPriority``.
- ``execution_stats``: attempts STARTED in the period and finished (not ``running``), per task
  type and overall — ``attempts``, ``succeeded``, ``failed`` (every other end), ``successRate``
  (succeeded / attempts, 4 decimals, null without attempts), ``durationMs`` ``{p50, p95, p99}``
  and ``failuresByErrorType``.
- ``webhook_activity``: outbound messages CREATED in the period — ``total``, ``byStatus``,
  ``byKind``, ``attempts``, ``deliveryLatencyMs`` ``{avg, p50, p95, max}`` (sendAt → delivered,
  delivered messages only) and ``failingWebhooks`` ``[{webhookId, name, failed, delivered}]``
  (webhooks with at least one failed message, most failures first).

Percentiles are nearest-rank: the smallest value whose rank ``r`` (1-based, ascending) has
``r >= p * n``; computed with window functions, so SQLite and PostgreSQL agree exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.db import reports as report_sql
from server.db.engine import Database


class ReportService:
    """The server's :class:`~executors.base.ReportSource`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def generate(self, report_type: str, start: datetime, end: datetime,
                       client_id: str | None = None) -> tuple[dict[str, Any], str]:
        """``(data, summary)`` for ``report_type`` over ``[start, end)``; with ``client_id``,
        that client's tasks only."""
        async with self.db.read() as conn:
            if report_type == "task_summary":
                data = await report_sql.task_summary(conn, start, end, client_id)
                return data, summarize_tasks(data, start, end)
            if report_type == "execution_stats":
                data = await report_sql.execution_stats(conn, start, end, client_id)
                return data, summarize_executions(data, start, end)
            if report_type == "webhook_activity":
                data = await report_sql.webhook_activity(conn, start, end, client_id)
                return data, summarize_webhooks(data, start, end)
        raise ValueError(f"unknown report type {report_type!r}")


# --- summaries (pure) ------------------------------------------------------------------------

def _span(start: datetime, end: datetime) -> str:
    return f"{start.isoformat().replace('+00:00', 'Z')} to {end.isoformat().replace('+00:00', 'Z')}"


def summarize_tasks(data: dict[str, Any], start: datetime, end: datetime) -> str:
    parts = ", ".join(f"{n} {s}" for s, n in data["byStatus"].items()) or "none"
    types = ", ".join(f"{n} {t}" for t, n in data["byType"].items()) or "none"
    return (f"Tasks created from {_span(start, end)}: {data['total']} "
            f"(by status: {parts}; by type: {types}).")


def summarize_executions(data: dict[str, Any], start: datetime, end: datetime) -> str:
    if not data["attempts"]:
        return f"No attempts finished among those started from {_span(start, end)}."
    rate = f"{data['successRate'] * 100:.1f}%"
    lines = [f"Attempts started from {_span(start, end)}: {data['attempts']}, "
             f"{data['succeeded']} succeeded, {data['failed']} failed ({rate} success); "
             f"duration p50 {data['durationMs']['p50']} ms, p95 {data['durationMs']['p95']} ms, "
             f"p99 {data['durationMs']['p99']} ms."]
    for task_type, entry in data["byType"].items():
        failures = ", ".join(f"{k} {v}" for k, v in entry["failuresByErrorType"].items())
        lines.append(f"{task_type}: {entry['attempts']} attempts, {entry['succeeded']} "
                     f"succeeded, p95 {entry['durationMs']['p95']} ms"
                     + (f"; failures: {failures}" if failures else "") + ".")
    return "\n".join(lines)


def summarize_webhooks(data: dict[str, Any], start: datetime, end: datetime) -> str:
    parts = ", ".join(f"{n} {s}" for s, n in data["byStatus"].items()) or "none"
    text = f"Messages created from {_span(start, end)}: {data['total']} ({parts})."
    latency = data["deliveryLatencyMs"]
    if latency["p50"] is not None:
        text += (f" Delivery latency p50 {latency['p50']} ms, p95 {latency['p95']} ms, "
                 f"max {latency['max']} ms.")
    if data["failingWebhooks"]:
        text += " Failing webhooks: " + ", ".join(
            f"{w['name'] or w['webhookId']} ({w['failed']} failed)"
            for w in data["failingWebhooks"]) + "."
    return text
