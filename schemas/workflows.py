"""Workflows and governance on the wire (CONTRACT §10): edits, completion by a person, bulk
actions, the audit log, the autorun switch and schedule previews."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from schemas.base import Input, NonEmptyStr, Output, Timestamp
from schemas.configs import TaskType
from schemas.tasks import Priority, Task

Ids = Annotated[list[NonEmptyStr], msgspec.Meta(min_length=1, max_length=500)]


class TaskPatch(Input):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    description: str | None = None
    execution_config: dict[str, Any] | None = None
    scheduled_for: Timestamp | None = None
    priority: Priority | None = None
    max_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] | None = None
    timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] | None = None
    metadata: dict[str, Any] | None = None
    depends_on: list[NonEmptyStr] | None = None
    client_id: NonEmptyStr | None = None


class TaskUpdate(Input):
    id: NonEmptyStr
    patch: TaskPatch


class CompleteInput(Input):
    id: NonEmptyStr
    result: Any = None
    notes: str | None = None


class ApproveManyInput(Input):
    ids: Ids
    notes: str | None = None


class CancelManyInput(Input):
    ids: Ids
    reason: str | None = None


class RetryManyInput(Input):
    ids: Ids


class BulkError(Output):
    code: str
    message: str


class BulkItem(Output):
    id: str
    ok: bool
    task: Task | None = None
    error: BulkError | None = None


class BulkResult(Output):
    results: list[BulkItem]


AuditTargetType = Literal["task", "webhook", "schedule", "system", "client", "connection",
                          "key"]


class AuditEntry(Output):
    id: str
    at: Timestamp
    actor: str
    role: str | None
    action: str
    target_type: AuditTargetType
    target_id: str | None
    detail: dict[str, Any]
    request_id: str | None


class AuditList(Input):
    target_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: Timestamp | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    cursor: str | None = None


class AuditPage(Output):
    items: list[AuditEntry]
    next_cursor: str | None


class Autorun(Output):
    enabled: bool
    paused_types: list[TaskType]


class SetAutorun(Input):
    enabled: bool | None = None
    paused_types: list[TaskType] | None = None


class SchedulePreviewInput(Input):
    cron: NonEmptyStr
    timezone: str = "UTC"
    count: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5


class SchedulePreview(Output):
    times: list[Timestamp]
