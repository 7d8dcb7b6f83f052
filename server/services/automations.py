"""Webhooks, message delivery, reports and cron schedules, built together for app.py.

Wiring (server/app.py): build :class:`Automations` before the task service, add
:meth:`Automations.executors` to the registry, give the task service
``webhook_exists=automations.webhooks.exists``, call :meth:`Automations.attach` once the
scheduler and the task service exist, then ``start()`` after the task timer and ``stop()``
after the runner. Procedures find it in ``Services.extra["automations"]``.

Task-end notices: ``notifyOnComplete`` / ``notifyOnFailure`` file a ``task.completed`` /
``task.failed`` message to the task's ``sourceWebhookId`` from the ``Signals.task_ended``
hook (after commit), exactly once per end: the message's dedupe key is
``task.<status>:<task id>:<attempts>``, and a task that ends again after ``tasks.retry`` has
more attempts. A process that dies between the commit and the hook loses that notice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from executors.base import Executor, NewMessage
from executors.notification import NotificationExecutor
from executors.registry import ExecutorRegistry
from executors.reminder import ReminderExecutor
from executors.report import ReportExecutor
from outbound import NetworkGuard
from server.db.engine import Database
from server.db.repositories import Row
from server.scheduling import DueTimer
from server.services.changes import Signals
from server.services.delivery import DeliveryService
from server.services.reports import ReportService
from server.services.schedules import ScheduleService
from server.services.secrets_box import load_secret_box
from server.services.tasks import TaskService
from server.services.webhooks import WebhookService
from server.settings import Settings

log = logging.getLogger("errands.automations")


class Automations:
    def __init__(self, settings: Settings, db: Database, http: httpx.AsyncClient,
                 guard: NetworkGuard, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock
        self.webhooks = WebhookService(db, load_secret_box(settings), clock)
        self.delivery = DeliveryService(db, http, guard, self.webhooks, clock,
                                        retry_delays=settings.delivery_retry_seconds,
                                        timeout_seconds=settings.delivery_timeout_seconds)
        self.reports = ReportService(db)
        self._notices: set[asyncio.Task[None]] = set()
        self._schedules: ScheduleService | None = None
        self._timers: list[DueTimer] = []

    def executors(self) -> list[Executor]:
        return [NotificationExecutor(self.delivery), ReminderExecutor(self.delivery),
                ReportExecutor(self.reports, self.delivery)]

    def attach(self, scheduler: AsyncIOScheduler, signals: Signals, tasks: TaskService,
               executors: ExecutorRegistry) -> None:
        """Create the two timers and the schedule service; hook task ends."""
        self._schedules = ScheduleService(self.db, tasks, executors, self.webhooks.exists,
                                          self.clock)
        messages = DueTimer(scheduler, "messages", self.delivery.fire, self.clock)
        schedules = DueTimer(scheduler, "schedules", self._schedules.fire, self.clock)
        self.delivery.arm = messages.arm
        self._schedules.arm = schedules.arm
        self._timers = [messages, schedules]
        signals.task_ended.append(self.on_task_ended)

    @property
    def schedules(self) -> ScheduleService:
        if self._schedules is None:
            raise RuntimeError("Automations.attach() was not called")
        return self._schedules

    async def start(self) -> None:
        """Fire each timer once: delivers what came due while down, re-arms from the DB."""
        for timer in self._timers:
            await timer.run()

    async def stop(self, grace_seconds: float) -> None:
        if self._notices:
            await asyncio.wait(set(self._notices), timeout=grace_seconds)
        await self.delivery.stop(grace_seconds)

    # --- task-end notices ------------------------------------------------------------------

    def on_task_ended(self, row: Row) -> None:
        wanted = (row.status == "completed" and row.notify_on_complete) or \
            (row.status == "failed" and row.notify_on_failure)
        if not wanted or row.source_webhook_id is None:
            return
        notice = asyncio.get_running_loop().create_task(self._file_notice(row))
        self._notices.add(notice)
        notice.add_done_callback(self._notices.discard)

    async def _file_notice(self, row: Row) -> None:
        kind = f"task.{row.status}"
        body = (f"Task {row.title!r} completed" if row.status == "completed"
                else f"Task {row.title!r} failed: {row.last_error or 'no error recorded'}")
        task = {"id": row.id, "title": row.title, "taskType": row.task_type,
                "status": row.status, "result": row.result, "resultSummary": row.result_summary,
                "lastError": row.last_error, "errorCount": row.error_count,
                "completedAt": row.completed_at, "metadata": row.meta}
        try:
            await self.delivery.file(NewMessage(
                kind=kind, webhook_id=row.source_webhook_id, task_id=row.id, body=body,
                subject=f"Task {row.status}: {row.title}", send_at=self.clock(),
                data={"task": task}, dedupe_key=f"{kind}:{row.id}:{row.attempts}"))
        except Exception:
            log.exception("could not file the %s notice for task %s", kind, row.id)
