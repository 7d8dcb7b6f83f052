"""DueTimer in process, on a real APScheduler, with a clock the test holds still.

The fired work blocks on an event the test releases, so "a request arrives while the timer
runs" is arranged exactly rather than by timing. ``asyncio.wait_for`` bounds are only there to
turn a lost run into a failure instead of a hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from server.core.scheduling import DueTimer, make_scheduler, stop_scheduler

# The timer's clock stands still at the moment the tests were loaded. APScheduler runs on real
# time, for which NOW has just passed: a job armed for NOW is due at once, and a job armed an
# hour later is still waiting when the test ends (its time is read, never waited for).
NOW = datetime.now(UTC).replace(microsecond=0)


class BlockingWork:
    """``fire()`` for the timer: counts runs; the first blocks until ``release()``."""

    def __init__(self, upcoming: datetime | None = None) -> None:
        self.runs = 0
        self.started = asyncio.Event()
        self.ran_again = asyncio.Event()
        self.gate = asyncio.Event()
        self.upcoming = upcoming

    async def fire(self) -> datetime | None:
        self.runs += 1
        if self.runs == 1:
            self.started.set()
            await self.gate.wait()
        else:
            self.ran_again.set()
        return self.upcoming


@pytest.fixture
async def scheduler() -> AsyncIterator[AsyncIOScheduler]:
    scheduler = make_scheduler()
    scheduler.start()
    yield scheduler
    scheduler.shutdown(wait=False)


async def test_an_arm_for_now_during_a_run_runs_again_right_after(
        scheduler: AsyncIOScheduler) -> None:
    work = BlockingWork()
    timer = DueTimer(scheduler, "t", work.fire, lambda: NOW)
    timer.arm(NOW)  # the scheduler starts the first run
    await asyncio.wait_for(work.started.wait(), 5)
    timer.arm(NOW)  # new work is due now while the first run is still going
    work.gate.set()
    await asyncio.wait_for(work.ran_again.wait(), 5)
    assert work.runs == 2


async def test_a_run_requested_during_a_run_is_not_lost(scheduler: AsyncIOScheduler) -> None:
    work = BlockingWork()
    timer = DueTimer(scheduler, "t", work.fire, lambda: NOW)
    first = asyncio.create_task(timer.run())
    await asyncio.wait_for(work.started.wait(), 5)
    await asyncio.wait_for(timer.run(), 5)  # e.g. the maintenance poll: returns at once
    assert work.runs == 1
    work.gate.set()
    await asyncio.wait_for(first, 5)
    assert work.runs == 2


async def test_a_later_arm_during_a_run_arms_the_job_for_that_time(
        scheduler: AsyncIOScheduler) -> None:
    later = NOW + timedelta(hours=1)
    work = BlockingWork(upcoming=NOW + timedelta(hours=2))
    timer = DueTimer(scheduler, "t", work.fire, lambda: NOW)
    first = asyncio.create_task(timer.run())
    await asyncio.wait_for(work.started.wait(), 5)
    timer.arm(later)
    work.gate.set()
    await asyncio.wait_for(first, 5)
    assert work.runs == 1
    assert timer.armed_for == later  # earlier than what fire() returned
    job = scheduler.get_job("due:t")
    assert job is not None and job.next_run_time == later


async def test_fire_returning_a_later_time_arms_for_it_and_an_earlier_arm_replaces_it(
        scheduler: AsyncIOScheduler) -> None:
    upcoming = NOW + timedelta(hours=2)
    work = BlockingWork(upcoming=upcoming)
    work.gate.set()
    timer = DueTimer(scheduler, "t", work.fire, lambda: NOW)
    await timer.run()
    assert timer.armed_for == upcoming
    timer.arm(NOW + timedelta(hours=3))  # later: ignored
    assert timer.armed_for == upcoming
    timer.arm(NOW + timedelta(hours=1))
    job = scheduler.get_job("due:t")
    assert job is not None and job.next_run_time == NOW + timedelta(hours=1)


async def test_a_failing_fire_retries_a_second_later(scheduler: AsyncIOScheduler) -> None:
    async def fail() -> datetime | None:
        raise RuntimeError("database away")

    timer = DueTimer(scheduler, "t", fail, lambda: NOW)
    await timer.run()
    assert timer.armed_for == NOW + timedelta(seconds=1)


async def test_stop_scheduler_cancels_the_running_job_and_waits_for_its_end() -> None:
    scheduler = make_scheduler()
    scheduler.start()
    started, ended = asyncio.Event(), asyncio.Event()
    blocker = asyncio.Event()  # never set: the job runs until it is cancelled

    async def job() -> None:
        started.set()
        try:
            await blocker.wait()
        finally:
            await asyncio.sleep(0.05)  # clean-up that itself awaits (e.g. a connection's)
            ended.set()

    scheduler.add_job(job, "date", run_date=NOW, misfire_grace_time=None)
    await asyncio.wait_for(started.wait(), 10)
    assert len(scheduler.running_jobs) == 1
    await asyncio.wait_for(stop_scheduler(scheduler), 10)
    assert ended.is_set() and not scheduler.running_jobs and not scheduler.running


async def test_stop_scheduler_without_running_jobs_returns_at_once() -> None:
    scheduler = make_scheduler()
    scheduler.start()
    await asyncio.wait_for(stop_scheduler(scheduler), 10)
    assert not scheduler.running
