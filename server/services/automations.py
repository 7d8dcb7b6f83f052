"""Webhooks, message delivery, reports and cron schedules: what they do together.

Wiring (server/node/app.py): build the webhook, delivery and report services (the notification,
reminder and report executors file through them), build the task service
(``webhook_exists=webhooks.exists``) and the schedule service, then :class:`Automations` over
them; its :meth:`Automations.on_task_ended` goes to ``Signals.connect``. ``start()`` after
the task timer, ``stop()`` after the runner. Procedures find it in ``Services.automations``.

Task-end notices: ``notifyOnComplete`` / ``notifyOnFailure`` file a ``task.completed`` /
``task.failed`` message to the task's ``sourceWebhookId`` from the task-end hook (after
commit), exactly once per end: the message's dedupe key is
``task.<status>:<task id>:<attempts>``, and a task that ends again after ``tasks.retry`` has
more attempts. A process that dies between the commit and the hook loses that notice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from executors.base import NewMessage
from server.core.scheduling import DueTimer
from server.db.rows import TaskRow
from server.services.delivery import DeliveryService
from server.services.reports import ReportService
from server.services.schedules import ScheduleService
from server.services.webhooks import WebhookService

log = logging.getLogger("errands.automations")


class Automations:
    def __init__(self, webhooks: WebhookService, delivery: DeliveryService,
                 reports: ReportService, schedules: ScheduleService,
                 clock: Callable[[], datetime]) -> None:
        self.webhooks = webhooks
        self.delivery = delivery
        self.reports = reports
        self.schedules = schedules
        self.clock = clock
        self._notices: set[asyncio.Task[None]] = set()

    @property
    def timers(self) -> list[DueTimer]:
        """The message and schedule timers (those armed on a scheduler)."""
        return [t for t in (self.delivery.timer, self.schedules.timer) if t is not None]

    async def start(self) -> None:
        """Fire each timer once: delivers what came due while down, re-arms from the DB."""
        for timer in self.timers:
            await timer.run()

    async def stop(self, grace_seconds: float) -> None:
        if self._notices:
            await asyncio.wait(set(self._notices), timeout=grace_seconds)
        await self.delivery.stop(grace_seconds)

    # --- task-end notices ------------------------------------------------------------------

    def on_task_ended(self, row: TaskRow) -> None:
        wanted = (row.status == "completed" and row.notify_on_complete) or \
            (row.status == "failed" and row.notify_on_failure)
        if not wanted or row.source_webhook_id is None:
            return
        notice = asyncio.get_running_loop().create_task(
            self._file_notice(row, row.source_webhook_id))
        self._notices.add(notice)
        notice.add_done_callback(self._notices.discard)

    async def _file_notice(self, row: TaskRow, webhook_id: str) -> None:
        kind = f"task.{row.status}"
        body = (f"Task {row.title!r} completed" if row.status == "completed"
                else f"Task {row.title!r} failed: {row.last_error or 'no error recorded'}")
        task = {"id": row.id, "title": row.title, "taskType": row.task_type,
                "status": row.status, "result": row.result, "resultSummary": row.result_summary,
                "lastError": row.last_error, "errorCount": row.error_count,
                "completedAt": row.completed_at, "metadata": row.meta}
        try:
            await self.delivery.file(NewMessage(
                kind=kind, webhook_id=webhook_id, task_id=row.id, body=body,
                subject=f"Task {row.status}: {row.title}", send_at=self.clock(),
                data={"task": task}, dedupe_key=f"{kind}:{row.id}:{row.attempts}"))
        except Exception:
            log.exception("could not file the %s notice for task %s", kind, row.id)
