"""notification: deliver one signed message to a webhook now (docs/CONTRACT.md §5).

The webhook is ``webhookId`` or else the task's ``sourceWebhookId`` (``check`` refuses a task
with neither, at ``["webhookId"]``). One message per task (``notification:<task id>``): each
attempt of the task tries it once; a message already delivered is not sent again.
5xx, 408, 429, timeouts and network errors → RetryableError (the task's retry policy applies);
other statuses, a refused address and a deleted webhook → PermanentError.
Result: ``{messageId, deliveredAt, responseStatus}``.
"""

from __future__ import annotations

from typing import ClassVar

from executors.base import (
    ExecutionContext,
    ExecutionResult,
    Issue,
    NewMessage,
    Outbox,
    PermanentError,
    Resources,
    RetryableError,
    TaskSpec,
)
from schemas.configs import NotificationConfig

NO_WEBHOOK = "a webhookId is required when the task has no sourceWebhookId"


class NotificationExecutor:
    task_type: ClassVar[str] = "notification"

    @classmethod
    def build(cls, resources: Resources) -> NotificationExecutor:
        return cls(resources.delivery)

    def __init__(self, delivery: Outbox) -> None:
        self.delivery = delivery

    def check(self, config: NotificationConfig, *, source_webhook_id: str | None) -> list[Issue]:
        if config.webhook_id is None and source_webhook_id is None:
            return [Issue(("webhookId",), NO_WEBHOOK)]
        return []

    async def execute(self, task: TaskSpec[NotificationConfig],
                      ctx: ExecutionContext) -> ExecutionResult:
        config = task.config
        webhook_id = config.webhook_id or task.source_webhook_id
        if webhook_id is None:
            raise PermanentError(NO_WEBHOOK, error_type="invalid_config")
        row, attempt = await self.delivery.send_now(NewMessage(
            kind="notification", webhook_id=webhook_id, task_id=task.id, body=config.message,
            recipient=config.recipient, subject=config.subject, send_at=ctx.clock(),
            data={"title": task.title, "metadata": task.metadata},
            dedupe_key=f"notification:{task.id}"))
        if not attempt.delivered:
            error = attempt.error or "delivery failed"
            if attempt.retryable:
                raise RetryableError(error, error_type="delivery")
            raise PermanentError(error, error_type="delivery")
        return ExecutionResult(
            {"messageId": row.id, "deliveredAt": row.delivered_at,
             "responseStatus": row.response_status},
            summary=f"delivered to webhook {webhook_id} (HTTP {row.response_status})")
