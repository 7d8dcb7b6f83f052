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
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

log = logging.getLogger("errands.scheduling")


class DueTimer:
    """One armed job; ``fire()`` does the due work and returns the next due time, if any.

    Runs never overlap, and none is lost: a run requested while one is in progress (an
    ``arm()`` or a ``run()`` from another path) is remembered, and the run in progress runs
    again as soon as it ends when that time has come, else arms the job for it.
    """

    def __init__(self, scheduler: AsyncIOScheduler, name: str,
                 fire: Callable[[], Awaitable[datetime | None]],
                 clock: Callable[[], datetime]) -> None:
        self.scheduler = scheduler
        self.name = name
        self._fire = fire
        self.clock = clock
        self.armed_for: datetime | None = None
        self.last_lag = 0.0  # seconds the last firing came after its armed time (/metrics)
        self._running = False
        self._requested: datetime | None = None  # earliest time asked for during a run

    def arm(self, at: datetime) -> None:
        """Make sure the timer fires no later than ``at``."""
        if self._running:
            self._request(at)
            return
        if self.armed_for is not None and self.armed_for <= at:
            return
        self.armed_for = at
        # The timer serialises its runs itself (above); APScheduler must never skip one.
        self.scheduler.add_job(self.run, DateTrigger(run_date=max(at, self.clock())),
                               id=f"due:{self.name}", replace_existing=True,
                               misfire_grace_time=None, coalesce=True, max_instances=8)

    def _request(self, at: datetime) -> None:
        self._requested = at if self._requested is None else min(self._requested, at)

    async def run(self) -> None:
        """Do the due work now (again, right after the run in progress if there is one)."""
        if self._running:
            self._request(self.clock())
            return
        self._running = True
        try:
            upcoming = await self._run_until_idle()
        finally:
            self._running = False
        if upcoming is not None:
            self.arm(upcoming)

    async def _run_until_idle(self) -> datetime | None:
        while True:
            if self.armed_for is not None:
                self.last_lag = max(0.0, (self.clock() - self.armed_for).total_seconds())
            self.armed_for = None
            self._requested = None
            try:
                upcoming = await self._fire()
            except Exception:
                log.exception("timer %s failed; trying again in 1 s", self.name)
                upcoming = self.clock().replace(microsecond=0)
                upcoming = datetime.fromtimestamp(upcoming.timestamp() + 1, UTC)
            due = [t for t in (upcoming, self._requested) if t is not None]
            following = min(due) if due else None
            if following is None or following > self.clock():
                return following


class Scheduler(AsyncIOScheduler):  # type: ignore[misc]  # APScheduler has no type hints
    """APScheduler's asyncio scheduler, knowing the asyncio tasks that run its coroutine jobs
    now (``running_jobs``), so that :func:`stop_scheduler` can wait for them."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.running_jobs: set[asyncio.Task[Any]] = set()

    def add_job(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        if inspect.iscoroutinefunction(func):
            func = self._tracked(func)
        return super().add_job(func, *args, **kwargs)

    def _tracked(self, func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(func)
        async def run(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            assert task is not None
            self.running_jobs.add(task)
            try:
                return await func(*args, **kwargs)
            finally:
                self.running_jobs.discard(task)
        return run


async def stop_scheduler(scheduler: Scheduler, timeout: float = 5.0) -> None:
    """Stop firing and wait for the jobs running now to end (they are cancelled).

    ``shutdown(wait=False)`` cancels running coroutine jobs but does not wait for them: a job
    cancelled inside a database call would then hold its connection past the engine's
    ``dispose()``. Called before the database is closed.
    """
    running = [t for t in scheduler.running_jobs if not t.done()]
    scheduler.shutdown(wait=False)
    if running:
        await asyncio.wait(running, timeout=timeout)


def make_scheduler() -> Scheduler:
    return Scheduler(timezone=UTC, job_defaults={"max_instances": 1})
