"""report_generation: a report computed in SQL over ``[dateFrom, dateTo)`` (docs/CONTRACT.md §5).

The period defaults to the 7 days before now (either end may be given alone). ``notify``
files a ``report`` message (body: the summary; data: the result) to ``webhookId`` or the
task's ``sourceWebhookId``; ``check`` refuses ``notify`` without a webhook and a period that
does not run forwards. Result: ``{reportType, period: {from, to}, data, summary}``; the
report service documents each report's data (server/services/reports.py).
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
    ReportSource,
    Resources,
    TaskSpec,
)
from executors.notification import NO_WEBHOOK
from schemas.configs import ReportConfig

DEFAULT_SPAN = timedelta(days=7)


class ReportExecutor:
    task_type: ClassVar[str] = "report_generation"

    @classmethod
    def build(cls, resources: Resources) -> ReportExecutor:
        return cls(resources.reports, resources.delivery)

    def __init__(self, reports: ReportSource, delivery: Outbox) -> None:
        self.reports = reports
        self.delivery = delivery

    def check(self, config: ReportConfig, *, source_webhook_id: str | None) -> list[Issue]:
        issues: list[Issue] = []
        if config.date_from and config.date_to and config.date_from >= config.date_to:
            issues.append(Issue(("dateTo",), "must be after dateFrom"))
        if config.notify and config.webhook_id is None and source_webhook_id is None:
            issues.append(Issue(("webhookId",), "notify needs a webhookId when the task has "
                                                "no sourceWebhookId"))
        return issues

    async def execute(self, task: TaskSpec[ReportConfig], ctx: ExecutionContext) -> ExecutionResult:
        config = task.config
        end = config.date_to or ((config.date_from + DEFAULT_SPAN) if config.date_from
                                 else ctx.clock())
        start = config.date_from or end - DEFAULT_SPAN
        data, summary = await self.reports.generate(config.report_type, start, end,
                                                    config.client_id or task.client_id)
        result = {"reportType": config.report_type, "period": {"from": start, "to": end},
                  "data": data, "summary": summary}
        webhook_id = config.webhook_id or task.source_webhook_id
        if config.notify and webhook_id is not None:
            await self.delivery.file(NewMessage(
                kind="report", webhook_id=webhook_id, task_id=task.id, body=summary,
                subject=f"Report: {config.report_type}", send_at=ctx.clock(), data=result,
                dedupe_key=f"report:{task.id}:{ctx.attempt_number}"))
        elif config.notify:
            summary += f"\n({NO_WEBHOOK}: not sent)"
        return ExecutionResult(result, summary=summary)
