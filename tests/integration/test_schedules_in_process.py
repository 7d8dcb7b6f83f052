"""Cron schedules in process with a clock the test moves (no waiting for a slot), on SQLite
and PostgreSQL: the next run in the schedule's time zone, one task per slot, missed slots
after a restart by ``missedRunPolicy``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from executors.base import ExecutionContext, ExecutionResult, Issue, TaskSpec
from executors.registry import ExecutorRegistry
from schemas.schedules import MissedRunPolicy, ScheduleCreate
from schemas.tasks import TaskCreate, TaskList
from server.db.engine import Database
from server.services.changes import Signals, Writer
from server.services.schedules import ScheduleService, slot_key
from server.services.tasks import TaskService
from tests.support.clock import StillClock

PARIS_9AM = datetime(2030, 5, 2, 7, 0, tzinfo=UTC)


class NeverRuns:
    task_type: ClassVar[str] = "api_call"

    def check(self, config: Any, *, source_webhook_id: str | None) -> list[Issue]:
        return []

    async def execute(self, task: TaskSpec, ctx: ExecutionContext) -> ExecutionResult:
        raise AssertionError("no runner here")


def _services(db: Database, clock: StillClock) -> tuple[TaskService, ScheduleService]:
    registry = ExecutorRegistry([NeverRuns()])
    tasks = TaskService(db, Writer(db, Signals(), clock), registry,
                        review_required_types=frozenset(), clock=clock)
    return tasks, ScheduleService(db, tasks, registry, _no_webhooks, clock)


async def _no_webhooks(_webhook_id: str) -> bool:
    return False


def _schedule(name: str, policy: MissedRunPolicy = "run_once") -> ScheduleCreate:
    template = TaskCreate(title=name, task_type="api_call", execution_type="manual",
                          execution_config={"apiEndpoint": "https://example.test/"})
    return ScheduleCreate(name=name, cron="0 9 * * *", task=template, timezone="Europe/Paris",
                          missed_run_policy=policy)


async def _keys(tasks: TaskService, name: str) -> list[str | None]:
    page = await tasks.page(TaskList(search=name, limit=50))
    return sorted(t.idempotency_key for t in page.items)


async def test_one_task_per_slot_at_the_next_run_in_the_time_zone(database: Database) -> None:
    clock = StillClock()
    tasks, schedules = _services(database, clock)
    created = await schedules.create(_schedule("daily"))
    assert created.next_run_at == PARIS_9AM
    assert await schedules.fire() == PARIS_9AM  # nothing due yet
    assert await _keys(tasks, "daily") == []

    clock.now = PARIS_9AM
    assert await schedules.fire() == PARIS_9AM + timedelta(days=1)
    assert await schedules.fire() == PARIS_9AM + timedelta(days=1)  # the slot ran once
    assert await _keys(tasks, "daily") == [slot_key(created.id, PARIS_9AM)]
    [listed] = await schedules.list()
    assert (listed.last_run_at, listed.next_run_at) == (PARIS_9AM, PARIS_9AM + timedelta(days=1))


async def test_slots_missed_while_down_run_once_or_are_skipped(database: Database) -> None:
    clock = StillClock()
    _, before = _services(database, clock)
    once = await before.create(_schedule("once"))
    skip = await before.create(_schedule("skip", "skip"))

    clock.now = PARIS_9AM + timedelta(days=3, hours=1)  # down for three slots, then restart
    tasks, after = _services(database, clock)
    assert await after.fire() == PARIS_9AM + timedelta(days=4)
    assert await _keys(tasks, "once") == [slot_key(once.id, PARIS_9AM + timedelta(days=3))]
    assert await _keys(tasks, "skip") == []
    assert {s.id: s.next_run_at for s in await after.list()} == {
        once.id: PARIS_9AM + timedelta(days=4), skip.id: PARIS_9AM + timedelta(days=4)}
