"""ScheduleService: cron schedules that create tasks (docs/CONTRACT.md §2).

- ``create`` validates ``cron`` and ``timezone`` (BAD_REQUEST naming the field; an expression
  that never fires is refused too) and the template ``task`` exactly as ``tasks.create`` would
  (issues under ``["task", ...]``); the template may not carry an ``idempotencyKey``.
- Each slot creates one task through ``TaskService.create(..., triggered_by="automation")``
  with ``idempotencyKey = schedule:<id>:<slot as YYYY-MM-DDTHH:MM:SSZ>``: running a slot twice
  (two nodes, a crash between creating the task and advancing the schedule) creates nothing.
- The database is the truth: ``next_run_at`` is the next slot, and a DueTimer fires
  :meth:`ScheduleService.fire` at the earliest one. Advancing is compare-and-set on
  ``next_run_at``, so on several nodes one wins.
- Missed slots. When ``fire`` finds slots due it takes only the LATEST slot due (several slots
  due at once are never run one by one). If that slot is before this process started, it
  was missed while the server was down: ``run_once`` runs it (one task for the latest missed
  slot), ``skip`` runs nothing. Slots while paused are skipped: ``resume`` starts from the
  next slot after now.
- ``pause`` / ``resume`` are idempotent (pausing a paused schedule returns it unchanged);
  ``delete`` returns the schedule as it was. Tasks already created are not touched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgspec
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from executors.base import Issue
from executors.registry import ExecutorRegistry
from schemas.schedules import Schedule, ScheduleCreate
from schemas.secrets import mask_config
from schemas.tasks import TaskCreate
from schemas.workflows import SchedulePreview, SchedulePreviewInput
from server.core import cron
from server.core.errors import InvalidInput, NotFound
from server.core.ids import new_id
from server.core.scheduling import DueTimer
from server.db import schedules as schedule_rows
from server.db.engine import Database
from server.db.repositories import Row
from server.services.audit import SYSTEM, Actor, record
from server.services.tasks import TaskService, decode_config

log = logging.getLogger("errands.schedules")
BATCH = 500


def slot_key(schedule_id: str, slot: datetime) -> str:
    return f"schedule:{schedule_id}:{slot.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def schedule_view(row: Row) -> Schedule:
    template = dict(row.task)
    template["executionConfig"] = mask_config(template["taskType"],
                                              template.get("executionConfig") or {})
    return Schedule(id=row.id, name=row.name, cron=row.cron, timezone=row.timezone,
                    task=msgspec.convert(template, TaskCreate), enabled=row.enabled,
                    missed_run_policy=row.missed_run_policy, next_run_at=row.next_run_at,
                    last_run_at=row.last_run_at, created_at=row.created_at)


class ScheduleService:
    def __init__(self, db: Database, tasks: TaskService, executors: ExecutorRegistry,
                 webhook_exists: Callable[[str], Awaitable[bool]],
                 clock: Callable[[], datetime], *,
                 scheduler: AsyncIOScheduler | None = None,
                 min_interval_seconds: int = 60) -> None:
        """``scheduler``: where the schedule timer (:meth:`fire` when a slot is due) runs;
        without one nothing is armed and the caller fires (tests with a moved clock)."""
        self.db = db
        self.min_interval_seconds = min_interval_seconds
        self.tasks = tasks
        self.executors = executors
        self.webhook_exists = webhook_exists
        self.clock = clock
        self.started_at = clock()
        self.timer = None if scheduler is None else DueTimer(scheduler, "schedules", self.fire,
                                                              clock)

    def arm(self, at: datetime) -> None:
        """Make sure the schedule timer fires no later than ``at``."""
        if self.timer is not None:
            self.timer.arm(at)

    # --- validation ------------------------------------------------------------------------

    async def _check_template(self, task: TaskCreate) -> None:
        """The same checks as tasks.create, reported under ``["task", ...]``."""
        if task.idempotency_key is not None:
            raise InvalidInput.at(["task", "idempotencyKey"],
                                  "is set per slot by the schedule; leave it out")
        location = await self.tasks.check_client(
            task.task_type, task.execution_config, task.client_id, ("task", "executionConfig"),
            ["task", "clientId"])
        try:
            self.tasks.check_limits(task.task_type, task.execution_config)
            config = decode_config(task.task_type, task.execution_config)
            executor = self.executors.get(task.task_type)
            problems: list[Issue] = [] if executor is None else executor.check(
                config, source_webhook_id=task.source_webhook_id)
            if location and task.task_type == "ghl_action":
                problems = [p for p in problems if p.path != ("locationId",)]
        except InvalidInput as exc:
            raise InvalidInput("task." + exc.message,
                               [{**i, "path": ["task", *i["path"]]} for i in exc.issues]
                               ) from None
        if problems:
            items = [{"path": ["task", "executionConfig", *i.path], "message": i.message}
                     for i in problems]
            raise InvalidInput("; ".join(f"{'.'.join(map(str, i['path']))}: {i['message']}"
                                         for i in items), items)
        if task.source_webhook_id is not None and not await self.webhook_exists(
                task.source_webhook_id):
            raise InvalidInput.at(["task", "sourceWebhookId"],
                                  f"no webhook with id {task.source_webhook_id!r}")

    @staticmethod
    def _parse(expression: str, timezone: str) -> tuple[cron.CronSpec, Any]:
        try:
            spec = cron.parse(expression)
        except cron.CronError as exc:
            raise InvalidInput.at(["cron"], str(exc)) from None
        try:
            tz = cron.zone(timezone)
        except cron.CronError as exc:
            raise InvalidInput.at(["timezone"], str(exc)) from None
        return spec, tz

    # --- actions ---------------------------------------------------------------------------

    async def create(self, data: ScheduleCreate, actor: Actor = SYSTEM) -> Schedule:
        spec, tz = self._parse(data.cron, data.timezone)
        closest = cron.closest_slots_seconds(spec)
        if closest is not None and closest < self.min_interval_seconds:
            raise InvalidInput.at(["cron"], f"fires {closest} s apart at its closest; slots "
                                  f"must be at least {self.min_interval_seconds} s apart "
                                  "(SCHEDULE_MIN_INTERVAL_SECONDS)")
        await self._check_template(data.task)
        now = self.clock()
        first = cron.next_fire(spec, tz, now)
        if first is None:
            raise InvalidInput.at(["cron"], "never fires")
        async with self.db.write() as conn:
            row = await schedule_rows.schedule_insert(conn, {
                "id": new_id("sch"), "name": data.name, "cron": data.cron,
                "timezone": data.timezone, "task": msgspec.to_builtins(data.task),
                "enabled": True, "missed_run_policy": data.missed_run_policy,
                "next_run_at": first, "last_run_at": None, "created_at": now,
                "updated_at": now, "client_id": data.task.client_id})
            await record(conn, actor, "schedules.create", "schedule", row.id,
                         {"name": data.name, "cron": data.cron, "timezone": data.timezone},
                         now)
        self.arm(first)
        return schedule_view(row)

    async def list(self, scope: str | None = None) -> list[Schedule]:
        """Every schedule; with ``scope``, that client's only (a key scoped to it)."""
        async with self.db.read() as conn:
            return [schedule_view(r) for r in await schedule_rows.schedule_list(conn)
                    if scope is None or r.client_id == scope]

    async def check_scope(self, schedule_id: str, scope: str | None) -> None:
        """NOT_FOUND when a key scoped to a client asks for another's schedule."""
        if scope is None:
            return
        async with self.db.read() as conn:
            row = await schedule_rows.schedule_get(conn, schedule_id)
        if row is None or row.client_id != scope:
            raise NotFound(f"no schedule with id {schedule_id!r}")

    async def pause(self, schedule_id: str, actor: Actor = SYSTEM) -> Schedule:
        now = self.clock()
        async with self.db.write() as conn:
            row = await schedule_rows.schedule_set_enabled_if(conn, schedule_id, was=True, values={
                "enabled": False, "next_run_at": None, "updated_at": now})
            row = row or await self._get(conn, schedule_id)
            await record(conn, actor, "schedules.pause", "schedule", row.id, {}, now)
        return schedule_view(row)

    async def resume(self, schedule_id: str, actor: Actor = SYSTEM) -> Schedule:
        now = self.clock()
        async with self.db.write() as conn:
            current = await self._get(conn, schedule_id)
            spec, tz = self._parse(current.cron, current.timezone)
            row = await schedule_rows.schedule_set_enabled_if(conn, schedule_id, was=False, values={
                "enabled": True, "next_run_at": cron.next_fire(spec, tz, now),
                "updated_at": now})
            row = row or await self._get(conn, schedule_id)
            await record(conn, actor, "schedules.resume", "schedule", row.id, {}, now)
        if row.next_run_at is not None:
            self.arm(row.next_run_at)
        return schedule_view(row)

    async def delete(self, schedule_id: str, actor: Actor = SYSTEM) -> Schedule:
        async with self.db.write() as conn:
            row = await schedule_rows.schedule_delete(conn, schedule_id)
            if row is None:
                raise NotFound(f"no schedule with id {schedule_id!r}")
            await record(conn, actor, "schedules.delete", "schedule", row.id, {},
                         self.clock())
        return schedule_view(row)

    def preview(self, data: SchedulePreviewInput) -> SchedulePreview:
        """The next ``count`` fire times after now (CONTRACT §10 schedules.preview)."""
        spec, tz = self._parse(data.cron, data.timezone)
        times: list[datetime] = []
        at = self.clock()
        while len(times) < data.count:
            found = cron.next_fire(spec, tz, at)
            if found is None:
                break
            times.append(found)
            at = found
        return SchedulePreview(times=times)

    @staticmethod
    async def _get(conn: Any, schedule_id: str) -> Row:
        row = await schedule_rows.schedule_get(conn, schedule_id)
        if row is None:
            raise NotFound(f"no schedule with id {schedule_id!r}")
        return row

    # --- the timer -------------------------------------------------------------------------

    async def fire(self) -> datetime | None:
        """Run every schedule whose slot has come; returns the next slot of any schedule."""
        now = self.clock()
        async with self.db.read() as conn:
            due = await schedule_rows.schedule_due(conn, now, BATCH)
        for row in due:
            try:
                await self._run(row, now)
            except Exception:
                log.exception("schedule %s could not run its slot", row.id)
        if len(due) == BATCH:
            return self.clock()
        async with self.db.read() as conn:
            return await schedule_rows.schedule_next_due_at(conn)

    async def _run(self, row: Row, now: datetime) -> None:
        spec, tz = cron.parse(row.cron), cron.zone(row.timezone)
        slot = cron.latest_slot(spec, tz, row.next_run_at, now) or row.next_run_at
        run = slot >= self.started_at or row.missed_run_policy == "run_once"
        if run:
            template = msgspec.convert(row.task, TaskCreate)
            try:
                await self.tasks.create(msgspec.structs.replace(
                    template, idempotency_key=slot_key(row.id, slot)),
                    triggered_by="automation")
            except InvalidInput as exc:  # e.g. its sourceWebhookId was deleted since
                log.warning("schedule %s: slot %s not run: %s", row.id, slot, exc.message)
                run = False
        else:
            log.info("schedule %s: skipping slot %s missed while the server was down",
                     row.id, slot)
        async with self.db.write() as conn:
            await schedule_rows.schedule_advance_if(conn, row.id, row.next_run_at, {
                "next_run_at": cron.next_fire(spec, tz, now),
                "last_run_at": slot if run else row.last_run_at, "updated_at": now})
