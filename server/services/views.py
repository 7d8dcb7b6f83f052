"""Rows to wire schemas, with secrets masked (rules: ``schemas.secrets``). Nothing secret
leaves through these."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from schemas.secrets import mask_config, mask_metadata, mask_result, mask_value
from schemas.tasks import (
    Approval,
    Artifact,
    ChildCounts,
    Debounced,
    ExecutionStatus,
    GroupPolicy,
    RetryPolicyOutput,
    StepRecord,
    Task,
    TaskExecution,
    TaskProgress,
    TaskStatus,
)
from server.db.rows import ExecutionRow, TaskRow
from server.db.tables import NO_DEADLINE

__all__ = ["execution_view", "mask_config", "task_view"]


def task_view(row: TaskRow) -> Task:
    return Task(
        id=row.id, title=row.title, description=row.description, task_type=row.task_type,
        execution_type=row.execution_type, assigned_to_bot=row.assigned_to_bot,
        requires_human_review=row.requires_human_review,
        execution_config=mask_config(row.task_type, row.execution_config),
        scheduled_for=row.scheduled_for, priority=row.priority, max_retries=row.max_retries,
        timeout_seconds=row.timeout_seconds, notify_on_complete=row.notify_on_complete,
        notify_on_failure=row.notify_on_failure, source_webhook_id=row.source_webhook_id,
        idempotency_key=row.idempotency_key, depends_on=list(row.depends_on or []),
        metadata=mask_metadata(row.meta), status=cast(TaskStatus, row.status),
        status_reason=row.status_reason,
        error_count=row.error_count, last_error=row.last_error, result=mask_result(row.result),
        result_summary=row.result_summary, reviewed_by=row.reviewed_by,
        reviewed_at=row.reviewed_at, review_notes=row.review_notes, created_at=row.created_at,
        updated_at=row.updated_at, queued_at=row.queued_at, started_at=row.started_at,
        completed_at=row.completed_at, next_attempt_at=row.next_attempt_at,
        stalled_since=row.stalled_since, config_changed_by=row.config_changed_by,
        client_id=row.client_id,
        review_expires_in_seconds=row.review_expires_in,
        approvals_required=row.approvals_required or 1,
        approvals=[Approval(by=a["by"], at=datetime.fromisoformat(a["at"]), notes=a.get("notes"))
                   for a in row.approvals or []],
        tags=list(row.tags or []), assignee=row.assignee,
        deadline=row.deadline if row.deadline < NO_DEADLINE else None,
        concurrency_key=row.concurrency_key, concurrency_limit=row.concurrency_limit,
        rate_limit_key=row.rate_limit_key,
        debounce=Debounced(key=row.debounce["key"], seconds=row.debounce["seconds"])
        if row.debounce else None,
        retry_policy=RetryPolicyOutput(base_seconds=row.retry_policy.get("baseSeconds"),
                                       max_seconds=row.retry_policy.get("maxSeconds"),
                                       factor=row.retry_policy.get("factor"))
        if row.retry_policy else None,
        progress=_progress(row),
        parent_id=row.parent_id,
        children=ChildCounts(**row.children) if row.children is not None else None,
        group_policy=cast(GroupPolicy, row.group_policy) if row.group_policy else None,
    )


def _progress(row: TaskRow) -> TaskProgress | None:
    """The running attempt's progress; null whenever no attempt runs (a cancel or a lost
    lease may leave the column behind until the attempt's end clears it)."""
    value = row.progress
    if not value or row.status != "in_progress":
        return None
    return TaskProgress(done=value["done"], total=value["total"], message=value.get("message"))


def execution_view(row: ExecutionRow, task: TaskRow) -> TaskExecution:
    """An attempt of ``task`` as clients see it. An attempt that completed its task shares
    the task's values instead of storing copies (``output_is_result``, ``input_is_config``:
    server/db/tables.py); they are read back here from ``task``, the attempt's own task."""
    output = task.result if row.output_is_result else row.output
    input_ = (mask_config(task.task_type, task.execution_config) if row.input_is_config
              else row.input)
    return TaskExecution(
        id=row.id, task_id=row.task_id, attempt_number=row.attempt_number,
        triggered_by=row.triggered_by, status=cast(ExecutionStatus, row.status),
        started_at=row.started_at,
        completed_at=row.completed_at, duration_ms=row.duration_ms, worker_id=row.worker_id,
        output=mask_result(output), error=row.error, error_type=row.error_type,
        retryable=row.retryable,
        steps=[StepRecord(**s) for s in _snake(mask_value(row.steps))],
        artifacts=[Artifact(**a) for a in _snake(row.artifacts)],
        browser_session_id=row.browser_session_id, debug_url=row.debug_url,
        input=input_,
    )


def _snake(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Stored step/artifact dicts are camelCase (wire form); Struct kwargs are snake_case."""
    out = []
    for item in items or []:
        out.append({_to_snake(k): v for k, v in item.items()})
    return out


def _to_snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)
