"""Tasks, attempts and task events on the wire (docs/CONTRACT.md §3, §4, §6, §7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from schemas.base import IdInput, Input, NonEmptyStr, Output, Timestamp
from schemas.configs import CreatableTaskType, TaskType

TaskStatus = Literal[
    "pending",
    "awaiting_review",
    "scheduled",
    "queued",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
    "rejected",
]
Priority = Literal["low", "normal", "high", "urgent"]
ExecutionType = Literal["automatic", "manual"]
TriggeredBy = Literal["create", "manual", "approval", "schedule", "retry", "recovery", "automation",
                      "callback"]
ExecutionStatus = Literal["running", "success", "failed", "timed_out", "cancelled", "lost"]
ArtifactKind = Literal["screenshot", "trace", "report"]
# CONTRACT §17: at most 20 tags of 1..50 characters from [A-Za-z0-9:_.-].
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9:_.-]+$")]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=20)]
Person = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# CONTRACT §15 flow control: keys of 1..200 characters.
FlowKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Debounce(Input):
    """Creates with the same ``key`` within ``seconds`` of each other leave one task, with the
    last input, starting ``seconds`` after the last create (CONTRACT §15)."""

    key: FlowKey
    seconds: Annotated[float, msgspec.Meta(ge=0.1, le=86_400)]


class RetryPolicyInput(Input):
    """The task's own backoff: ``min(maxSeconds, baseSeconds * factor^(n-1))`` with jitter;
    a field left out takes the server's default (RETRY_BASE_SECONDS, 3600, 2)."""

    base_seconds: Annotated[float, msgspec.Meta(ge=0.1, le=3600)] | None = None
    max_seconds: Annotated[float, msgspec.Meta(ge=1, le=86_400)] | None = None
    factor: Annotated[float, msgspec.Meta(ge=1, le=10)] | None = None


class Debounced(Output):
    key: str
    seconds: float


class RetryPolicyOutput(Output):
    base_seconds: float | None = None
    max_seconds: float | None = None
    factor: float | None = None
GroupPolicy = Literal["all_settled", "fail_fast"]


class TaskCreate(Input):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    task_type: CreatableTaskType
    execution_config: dict[str, Any]
    description: str | None = None
    execution_type: ExecutionType = "automatic"
    assigned_to_bot: bool = True
    requires_human_review: bool = False
    scheduled_for: Timestamp | None = None
    priority: Priority = "normal"
    max_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 3
    timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] | None = None
    notify_on_complete: bool = False
    notify_on_failure: bool = False
    source_webhook_id: str | None = None
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    depends_on: list[NonEmptyStr] | None = None
    metadata: dict[str, Any] | None = None
    client_id: NonEmptyStr | None = None
    tags: Tags | None = None
    assignee: Person | None = None
    deadline: Timestamp | None = None
    # Review rules (CONTRACT §16)
    review_expires_in_seconds: Annotated[int, msgspec.Meta(ge=60, le=2_592_000)] | None = None
    approvals_required: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    # Flow control (CONTRACT §15)
    concurrency_key: FlowKey | None = None
    concurrency_limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None
    rate_limit_key: FlowKey | None = None
    debounce: Debounce | None = None
    retry_policy: RetryPolicyInput | None = None


class GroupCreate(Input):
    """``tasks.createGroup`` (CONTRACT §17): the group and its subtasks, in one transaction."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    subtasks: Annotated[list[TaskCreate], msgspec.Meta(min_length=1, max_length=100)]
    policy: GroupPolicy = "fail_fast"
    description: str | None = None
    client_id: NonEmptyStr | None = None
    tags: Tags | None = None
    depends_on: list[NonEmptyStr] | None = None
    metadata: dict[str, Any] | None = None
    notify_on_complete: bool = False
    notify_on_failure: bool = False
    source_webhook_id: str | None = None
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class ChildCounts(Output):
    """A group's subtasks by how they ended (CONTRACT §17)."""

    total: int
    completed: int
    failed: int
    cancelled: int


class Approval(Output):
    by: str
    at: Timestamp
    notes: str | None


class Task(Output):
    id: str
    title: str
    description: str | None
    task_type: TaskType
    execution_type: ExecutionType
    assigned_to_bot: bool
    requires_human_review: bool
    execution_config: dict[str, Any]
    scheduled_for: Timestamp | None
    priority: Priority
    max_retries: int
    timeout_seconds: int
    notify_on_complete: bool
    notify_on_failure: bool
    source_webhook_id: str | None
    idempotency_key: str | None
    depends_on: list[str]
    metadata: dict[str, Any] | None
    status: TaskStatus
    status_reason: str | None
    error_count: int
    last_error: str | None
    result: Any
    result_summary: str | None
    reviewed_by: str | None
    reviewed_at: Timestamp | None
    review_notes: str | None
    created_at: Timestamp
    updated_at: Timestamp
    queued_at: Timestamp | None
    started_at: Timestamp | None
    completed_at: Timestamp | None
    next_attempt_at: Timestamp | None
    stalled_since: Timestamp | None = None
    # The key that last changed executionConfig (CONTRACT §13); null when nobody has.
    config_changed_by: str | None = None
    client_id: str | None = None
    # A callback task's URL (CONTRACT §16), shown to operators and admins; null otherwise.
    callback_url: str | None = None
    review_expires_in_seconds: int | None = None
    approvals_required: int = 1
    approvals: list[Approval] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)
    assignee: str | None = None
    deadline: Timestamp | None = None
    # Flow control (CONTRACT §15), as given
    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    rate_limit_key: str | None = None
    debounce: Debounced | None = None
    retry_policy: RetryPolicyOutput | None = None
    # While an attempt runs and its executor reports (CONTRACT §17); null otherwise.
    progress: TaskProgress | None = None
    # Groups (CONTRACT §17): a subtask's group; a group's subtasks counted. Null otherwise.
    parent_id: str | None = None
    children: ChildCounts | None = None
    group_policy: GroupPolicy | None = None


class TaskProgress(Output):
    """How far the running attempt is: ``done`` of ``total`` steps; ``message`` names the
    step running now (its action and selector or URL, never typed text)."""

    done: int
    total: int
    message: str | None = None


class TaskGet(IdInput):
    pass


class TaskList(Input):
    status: TaskStatus | list[TaskStatus] | None = None
    task_type: TaskType | None = None
    search: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    cursor: str | None = None
    stalled: bool | None = None
    # tasks that depend on this task (its dependents)
    depends_on: NonEmptyStr | None = None
    # failed tasks of one failure group (FailureGroup.key, tasks.failureGroups)
    error_group: NonEmptyStr | None = None
    client_id: str | None = None
    tags: Tags | None = None
    assignee: Person | None = None
    # the subtasks of this group (CONTRACT §17)
    parent_id: NonEmptyStr | None = None
    # "newest" (createdAt descending, CONTRACT §2) or "oldest" first (a review queue's order);
    # a cursor continues in the order of the page that gave it
    order: Literal["newest", "oldest"] = "newest"
    # created at or after createdFrom, and before createdBefore
    created_from: Timestamp | None = None
    created_before: Timestamp | None = None


class TaskPage(Output):
    items: list[Task]
    next_cursor: str | None


class ReviewInput(Input):
    id: NonEmptyStr
    notes: str | None = None


class CancelInput(Input):
    id: NonEmptyStr
    reason: str | None = None


class ExecutionsInput(Input):
    task_id: NonEmptyStr


class StepRecord(Output):
    index: int
    action: str
    status: Literal["success", "failed", "skipped"]
    started_at: Timestamp
    duration_ms: int
    detail: Any = None


class Artifact(Output):
    id: str
    kind: ArtifactKind
    content_type: str
    bytes: int
    url: str
    name: str | None = None


class TaskExecution(Output):
    id: str
    task_id: str
    attempt_number: int
    triggered_by: TriggeredBy
    status: ExecutionStatus
    started_at: Timestamp
    completed_at: Timestamp | None
    duration_ms: int | None
    worker_id: str
    output: Any
    error: str | None
    error_type: str | None
    retryable: bool | None
    steps: list[StepRecord]
    artifacts: list[Artifact]
    browser_session_id: str | None = None
    debug_url: str | None = None
    input: Any = None


class OnChangeInput(Input):
    id: str | None = None
    last_event_id: str | None = None


class TaskEvent(Output):
    type: Literal["created", "status", "execution", "stalled", "deadline_missed", "progress"]
    task: Task
    execution: TaskExecution | None = None


class LiveViewInput(Input):
    execution_id: NonEmptyStr


class LiveView(Output):
    """A running browser attempt as it is now (CONTRACT §17): the step running (its action,
    never typed text), its index, and a recent frame of the page — a JPEG inlined as a
    ``data:`` URL, kept in memory by the node running the attempt and never stored."""

    step: str | None
    step_index: int | None
    screenshot: Artifact | None
    at: Timestamp
