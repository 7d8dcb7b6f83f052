"""APScheduler wiring. APScheduler is only the timer: what is due lives in the database.

- :class:`DueTimer` keeps ONE date job per kind of due thing, armed for the earliest due
  time known; when it fires it does the due work (e.g. ``scheduled → queued``) and re-arms
  itself from the database. Arming for an earlier time replaces the job; a later one is
  ignored. At start every timer fires once, which re-arms it from what the database holds —
  so 100,000 scheduled tasks cost one query at start, not 100,000 jobs.
- Maintenance runs on an interval: rescue attempts whose lease expired, and catch work
  made due by other nodes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

log = logging.getLogger("errands.scheduling")


class DueTimer:
    """One armed job; ``fire()`` does the due work and returns the next due time, if any."""

    def __init__(self, scheduler: AsyncIOScheduler, name: str,
                 fire: Callable[[], Awaitable[datetime | None]],
                 clock: Callable[[], datetime]) -> None:
        self.scheduler = scheduler
        self.name = name
        self._fire = fire
        self.clock = clock
        self.armed_for: datetime | None = None
        self.last_lag = 0.0  # seconds the last firing came after its armed time (/metrics)
        self._lock = asyncio.Lock()

    def arm(self, at: datetime) -> None:
        """Make sure the timer fires no later than ``at``."""
        if self.armed_for is not None and self.armed_for <= at:
            return
        self.armed_for = at
        self.scheduler.add_job(self.run, DateTrigger(run_date=max(at, self.clock())),
                               id=f"due:{self.name}", replace_existing=True,
                               misfire_grace_time=None, coalesce=True)

    async def run(self) -> None:
        async with self._lock:
            if self.armed_for is not None:
                self.last_lag = max(0.0, (self.clock() - self.armed_for).total_seconds())
            self.armed_for = None
            try:
                upcoming = await self._fire()
            except Exception:
                log.exception("timer %s failed; trying again in 1 s", self.name)
                upcoming = self.clock().replace(microsecond=0)
                upcoming = datetime.fromtimestamp(upcoming.timestamp() + 1, UTC)
            if upcoming is not None:
                self.arm(upcoming)


async def stop_scheduler(scheduler: AsyncIOScheduler, timeout: float = 5.0) -> None:
    """Stop firing and wait for the jobs running now to end (they are cancelled).

    ``shutdown(wait=False)`` cancels running coroutine jobs but does not wait for them: a job
    cancelled inside a database call would then hold its connection past the engine's
    ``dispose()``. Called before the database is closed.
    """
    executor = scheduler._lookup_executor("default")
    pending = [f for f in getattr(executor, "_pending_futures", ()) if not f.done()]
    scheduler.shutdown(wait=False)
    if pending:
        await asyncio.wait(pending, timeout=timeout)


def make_scheduler() -> AsyncIOScheduler:
    return AsyncIOScheduler(timezone=UTC, job_defaults={"max_instances": 1})
