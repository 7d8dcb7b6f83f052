"""Prometheus metrics (``GET /metrics``): every metric Errands exports is defined here.

One :class:`Metrics` per app, with its own ``CollectorRegistry`` (never the global default),
so several apps can live in one process (tests). Three kinds of source:

- events counted where they happen, through one-line hooks: the runner calls
  :meth:`Metrics.attempt_started` / :meth:`attempt_ended` / :meth:`lease_recovered`;
- plain counters kept by components that must not import this module (executors, the
  delivery service, timers) and read at scrape time by :class:`_Readings`;
- aggregates that need SQL (tasks by status and type, oldest queued task, oldest undelivered
  message, stalled tasks), computed by :mod:`server.db.gauges` at most once per
  ``cache_seconds`` however often anyone scrapes — never per task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from server.db import gauges
from server.db.engine import Database

log = logging.getLogger("errands.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                    30, 60, 300)
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
                     300, 900, 3600)


@dataclass
class Sources:
    """What the scrape reads besides the database; each a callable so wiring stays lazy."""

    subscriptions: Callable[[], int] = lambda: 0
    db_pool_in_use: Callable[[], int] = lambda: 0
    browser_contexts: Callable[[], int] = lambda: 0
    ghl_budget_waits: Callable[[], int] = lambda: 0
    ghl_rate_limited: Callable[[], int] = lambda: 0
    deliveries: Callable[[], dict[str, int]] = dict
    timer_lag: Callable[[], dict[str, float]] = dict
    attempts_in_flight: Callable[[], int] = lambda: 0


@dataclass(eq=False)
class _Readings(Collector):
    """Yields the SQL snapshot (cached) and the component counters at scrape time."""

    sources: Sources
    snapshot: gauges.Snapshot = field(default_factory=gauges.Snapshot)
    sql_ok: bool = True

    def describe(self) -> Iterator[Metric]:
        """Nothing at registration: the sources read parts the node builds after the metrics
        (the runner), so they are read at scrape time only."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        yield from self._sql()
        src = self.sources
        yield _gauge("errands_subscriptions_open", "Open tasks.onChange subscriptions.",
                     src.subscriptions())
        yield _gauge("errands_db_pool_in_use", "Database connections checked out of the pool.",
                     src.db_pool_in_use())
        yield _gauge("errands_browser_contexts_in_use", "Browser contexts open now.",
                     src.browser_contexts())
        yield _gauge("errands_attempts_in_flight", "Attempts running in this process.",
                     src.attempts_in_flight())
        waits = CounterMetricFamily("errands_ghl_budget_waits",
                                    "GoHighLevel requests that waited for the rate budget.")
        waits.add_metric([], src.ghl_budget_waits())
        yield waits
        limited = CounterMetricFamily("errands_ghl_rate_limited",
                                      "GoHighLevel answers with HTTP 429.")
        limited.add_metric([], src.ghl_rate_limited())
        yield limited
        deliveries = CounterMetricFamily("errands_webhook_deliveries",
                                         "Webhook delivery attempts by outcome "
                                         "(delivered, retry, failed).", labels=["outcome"])
        for outcome, n in sorted(src.deliveries().items()):
            deliveries.add_metric([outcome], n)
        yield deliveries
        lag = GaugeMetricFamily("errands_timer_lag_seconds",
                                "How late the last firing of each due-timer was.",
                                labels=["timer"])
        for name, seconds in sorted(src.timer_lag().items()):
            lag.add_metric([name], seconds)
        yield lag

    def _sql(self) -> Iterable[Metric]:
        snap = self.snapshot
        yield _gauge("errands_metrics_database_ok",
                     "1 when the last read of the database gauges worked (else they are stale).",
                     1 if self.sql_ok else 0)
        by_status = GaugeMetricFamily("errands_tasks", "Tasks by status and type.",
                                      labels=["status", "task_type"])
        for (status, task_type), n in sorted(snap.tasks.items()):
            by_status.add_metric([status, task_type], n)
        yield by_status
        oldest = GaugeMetricFamily("errands_oldest_queued_task_age_seconds",
                                   "Age of the oldest queued task, by type.",
                                   labels=["task_type"])
        for task_type, seconds in sorted(snap.oldest_queued.items()):
            oldest.add_metric([task_type], seconds)
        yield oldest
        yield _gauge("errands_oldest_undelivered_message_age_seconds",
                     "Seconds since the oldest due, undelivered webhook message was due.",
                     snap.oldest_undelivered)
        if snap.stalled is not None:
            yield _gauge("errands_stalled_tasks", "Tasks marked stalled.", snap.stalled)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class Metrics:
    def __init__(self, sources: Sources | None = None, *, cache_seconds: float = 5.0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.cache_seconds = cache_seconds
        self._refreshed = -float("inf")
        self.sql_refreshes = 0
        self.pickup_latency = Histogram(
            "errands_pickup_latency_seconds", "From queued to an attempt starting, by type.",
            ["task_type"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.attempt_duration = Histogram(
            "errands_attempt_duration_seconds", "Attempt duration by type and outcome.",
            ["task_type", "outcome"], buckets=_DURATION_BUCKETS, registry=self.registry)
        self.attempt_errors = Counter(
            "errands_attempt_errors", "Attempts that did not succeed, by errorType.",
            ["error_type"], registry=self.registry)
        self.lease_recoveries = Counter(
            "errands_lease_recoveries", "Attempts ended as lost after their lease expired.",
            registry=self.registry)
        self.trigger_calls = Counter(
            "errands_trigger_calls", "Calls to POST /hooks/<trigger> by trigger and outcome "
            "(received, accepted, refused).", ["trigger", "outcome"], registry=self.registry)
        self.readings = _Readings(sources or Sources())
        self.registry.register(self.readings)

    # --- hooks (one line each at the call site) --------------------------------------------

    def attempt_started(self, task_type: str, queued_at: datetime | None,
                        now: datetime) -> None:
        if queued_at is not None:
            self.pickup_latency.labels(task_type).observe(
                max(0.0, (now - queued_at).total_seconds()))

    def attempt_ended(self, task_type: str, outcome: str, error_type: str | None,
                      duration_ms: int) -> None:
        self.attempt_duration.labels(task_type, outcome).observe(duration_ms / 1000)
        if error_type is not None:
            self.attempt_errors.labels(error_type).inc()

    def lease_recovered(self, count: int) -> None:
        if count:
            self.lease_recoveries.inc(count)

    def trigger_call(self, trigger_id: str, outcome: str) -> None:
        self.trigger_calls.labels(trigger_id, outcome).inc()

    # --- scraping --------------------------------------------------------------------------

    async def refresh(self, db: Database, now: datetime) -> None:
        """Re-read the SQL aggregates unless they are younger than ``cache_seconds``."""
        if time.monotonic() - self._refreshed < self.cache_seconds:
            return
        self._refreshed = time.monotonic()
        try:
            async with asyncio.timeout(5), db.read() as conn:
                self.readings.snapshot = await gauges.snapshot(conn, now)
        except Exception as exc:  # the database is down: serve the last values, say so
            self.readings.sql_ok = False
            log.warning("metrics: the database gauges could not be read (%s)",
                        type(exc).__name__)
            return
        self.readings.sql_ok = True
        self.sql_refreshes += 1

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of an exposition as ``{(name, sorted labels): value}`` (for tests and tools)."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples
