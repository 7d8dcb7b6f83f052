"""reminder: file a message due at ``remindAt`` or now + ``delaySeconds`` (docs/CONTRACT.md §5).

The task completes at once with ``{messageId, sendAt}``; the delivery timer sends the message
at its time (also after a restart) and retries it on the delivery schedule. ``check`` wants
exactly one of ``remindAt`` / ``delaySeconds`` and a webhook (``webhookId`` or the task's
``sourceWebhookId``). One message per task (``reminder:<task id>``): a retried attempt
returns the message filed first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from executors.base import (
    ExecutionContext,
    ExecutionResult,
    Issue,
    NewMessage,
    Outbox,
    PermanentError,
    Resources,
    TaskSpec,
)
from executors.notification import NO_WEBHOOK
from schemas.configs import ReminderConfig


class ReminderExecutor:
    task_type: ClassVar[str] = "reminder"

    @classmethod
    def build(cls, resources: Resources) -> ReminderExecutor:
        return cls(resources.delivery)

    def __init__(self, delivery: Outbox) -> None:
        self.delivery = delivery

    def check(self, config: ReminderConfig, *, source_webhook_id: str | None) -> list[Issue]:
        issues: list[Issue] = []
        if (config.remind_at is None) == (config.delay_seconds is None):
            issues.append(Issue(("remindAt",), "give exactly one of remindAt or delaySeconds"))
        if config.webhook_id is None and source_webhook_id is None:
            issues.append(Issue(("webhookId",), NO_WEBHOOK))
        return issues

    async def execute(self, task: TaskSpec[ReminderConfig],
                      ctx: ExecutionContext) -> ExecutionResult:
        config = task.config
        webhook_id = config.webhook_id or task.source_webhook_id
        if webhook_id is None:
            raise PermanentError(NO_WEBHOOK, error_type="invalid_config")
        send_at = config.remind_at or ctx.clock() + timedelta(seconds=config.delay_seconds or 0)
        row = await self.delivery.file(NewMessage(
            kind="reminder", webhook_id=webhook_id, task_id=task.id, body=config.message,
            recipient=config.recipient, subject=config.subject, send_at=send_at,
            data={"title": task.title, "metadata": task.metadata},
            dedupe_key=f"reminder:{task.id}"))
        return ExecutionResult({"messageId": row.id, "sendAt": row.send_at},
                               summary=f"reminder due at {row.send_at.isoformat()}")
