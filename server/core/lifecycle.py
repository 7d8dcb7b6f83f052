"""PURE: task statuses, the transition table, and what an attempt's outcome does to a task.

docs/CONTRACT.md §4. Nothing here does IO: callers pass ``now`` and the random draw for jitter, and
apply the returned :class:`Transition` with a compare-and-set write (``WHERE status = from``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal

from server.core.retry import RetryPolicy, next_retry_at


class Status(StrEnum):
    PENDING = "pending"
    AWAITING_REVIEW = "awaiting_review"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


TERMINAL: Final[frozenset[Status]] = frozenset(
    {Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.REJECTED}
)
# Ends that cancel the tasks depending on them.
BREAKS_DEPENDENTS: Final[frozenset[Status]] = frozenset(
    {Status.FAILED, Status.CANCELLED, Status.REJECTED}
)

Action = Literal["approve", "reject", "execute", "cancel", "retry", "update", "complete",
                 "reassign"]

# The statuses from which a person's action is allowed, by action.
ALLOWED_FROM: Final[dict[Action, frozenset[Status]]] = {
    "approve": frozenset({Status.AWAITING_REVIEW}),
    "reject": frozenset({Status.AWAITING_REVIEW}),
    "execute": frozenset({Status.PENDING, Status.SCHEDULED}),
    "cancel": frozenset({Status.PENDING, Status.AWAITING_REVIEW, Status.SCHEDULED,
                         Status.QUEUED, Status.IN_PROGRESS}),
    "retry": frozenset({Status.FAILED}),
    "update": frozenset({Status.PENDING, Status.AWAITING_REVIEW, Status.SCHEDULED}),
    "complete": frozenset({Status.PENDING}),
    # CONTRACT §17: any task not running and not ended.
    "reassign": frozenset({Status.PENDING, Status.AWAITING_REVIEW, Status.SCHEDULED,
                           Status.QUEUED}),
}

WAITING_FOR_DEPENDENCIES: Final[str] = "waiting for dependencies"


@dataclass(frozen=True)
class Placement:
    """Where a task goes when it is ready to be run (on create, approval or retry)."""

    status: Status
    reason: str | None
    due_at: datetime | None  # for scheduled: when the timer moves it to queued


def place(*, automatic: bool, assigned_to_bot: bool, scheduled_for: datetime | None,
          dependencies_open: bool, now: datetime) -> Placement:
    """Bot-assigned automatic work is queued now, or scheduled for later / for its
    dependencies; anything else waits as ``pending`` for someone to execute it."""
    if not (automatic and assigned_to_bot):
        return Placement(Status.PENDING, None, None)
    if dependencies_open:
        return Placement(Status.SCHEDULED, WAITING_FOR_DEPENDENCIES, None)
    if scheduled_for is not None and scheduled_for > now:
        return Placement(Status.SCHEDULED, f"scheduled for {scheduled_for.isoformat()}",
                         scheduled_for)
    return Placement(Status.QUEUED, None, None)


def initial(*, needs_review: bool, automatic: bool, assigned_to_bot: bool,
            scheduled_for: datetime | None, dependencies_open: bool, now: datetime
            ) -> Placement:
    """The status of a new task: review first when required, else :func:`place`."""
    if needs_review:
        return Placement(Status.AWAITING_REVIEW, "waiting for a reviewer's approval", None)
    return place(automatic=automatic, assigned_to_bot=assigned_to_bot,
                 scheduled_for=scheduled_for, dependencies_open=dependencies_open, now=now)


def refusal(action: Action, current: Status) -> tuple[Literal["CONFLICT", "PRECONDITION_FAILED"],
                                                       str] | None:
    """Why ``action`` is refused from ``current``, as (code, message); None when allowed."""
    if current in ALLOWED_FROM[action]:
        return None
    if action == "execute" and current == Status.AWAITING_REVIEW:
        return ("PRECONDITION_FAILED",
                "task is awaiting_review: it must be approved before it can run")
    allowed = ", ".join(sorted(ALLOWED_FROM[action]))
    return ("CONFLICT", f"cannot {action} a task that is {current.value} (allowed from: {allowed})")


OutcomeKind = Literal["success", "failure", "timeout", "interrupted", "lost", "cancelled"]
ExecutionStatus = Literal["success", "failed", "timed_out", "cancelled", "lost"]


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended, as the runner saw it."""

    kind: OutcomeKind
    retryable: bool = False
    retry_after: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Transition:
    """What to write: the task's new status, the attempt's status and the error bookkeeping."""

    status: Status
    execution_status: ExecutionStatus
    error_count: int
    reason: str | None = None
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    spends_attempt: bool = True
    # Attempts lost in a row (the worker died under them); any other end but an interruption
    # resets it.
    lost_streak: int = 0


_EXECUTION_STATUS: Final[dict[OutcomeKind, ExecutionStatus]] = {
    "success": "success",
    "failure": "failed",
    "timeout": "timed_out",
    "interrupted": "cancelled",
    "lost": "lost",
    "cancelled": "cancelled",
}

MAX_LOST_ATTEMPTS: Final[int] = 5


def after_attempt(*, outcome: Outcome, error_count: int, max_retries: int, now: datetime,
                  policy: RetryPolicy, draw: float, lost_streak: int = 0,
                  max_lost: int = MAX_LOST_ATTEMPTS) -> Transition:
    """The task's next state after an attempt (which was ``in_progress``).

    - success → completed.
    - interrupted (shutdown) and lost (the worker died) are the server's fault, not the
      task's: queued again at once, spending no retry and counting no error. A task whose
      attempts are lost ``max_lost`` times in a row (a task that kills its worker) ends
      ``failed`` saying so.
    - cancelled → cancelled (the cancel already wrote the task; this is for the attempt row).
    - failure / timeout count an error; retryable ones with ``errors <= maxRetries`` go to
      ``scheduled`` at the backoff time, the rest end ``failed``.
    """
    ex_status = _EXECUTION_STATUS[outcome.kind]
    if outcome.kind == "success":
        return Transition(Status.COMPLETED, ex_status, error_count)
    if outcome.kind == "interrupted":
        return Transition(Status.QUEUED, ex_status, error_count,
                          reason="interrupted by shutdown; will run again",
                          last_error=outcome.error, spends_attempt=False,
                          lost_streak=lost_streak)
    if outcome.kind == "lost":
        streak = lost_streak + 1
        if streak >= max_lost:
            return Transition(Status.FAILED, ex_status, error_count,
                              reason=f"lost {streak} attempts in a row (the worker stopped "
                                     "each time)",
                              last_error=outcome.error, spends_attempt=False,
                              lost_streak=streak)
        return Transition(Status.QUEUED, ex_status, error_count,
                          reason="previous attempt was lost; will run again",
                          last_error=outcome.error, spends_attempt=False, lost_streak=streak)
    if outcome.kind == "cancelled":
        return Transition(Status.CANCELLED, ex_status, error_count, last_error=outcome.error)
    errors = error_count + 1
    retryable = outcome.retryable or outcome.kind == "timeout"
    if retryable and errors <= max_retries:
        at = next_retry_at(now, errors, policy, draw, outcome.retry_after)
        return Transition(Status.SCHEDULED, ex_status, errors,
                          reason=f"retry {errors} of {max_retries} at {at.isoformat()}",
                          next_attempt_at=at, last_error=outcome.error)
    why = "retries exhausted" if retryable else "permanent error"
    return Transition(Status.FAILED, ex_status, errors, reason=why, last_error=outcome.error)


# --- what an approval covers; who may give it (CONTRACT §13) -------------------------------

# The fields (wire names) an approval covers: changing one withdraws it.
APPROVAL_COVERS: Final[tuple[str, ...]] = (
    "executionConfig", "scheduledFor", "timeoutSeconds", "maxRetries", "dependsOn")

ReviewSeparation = Literal["editor", "creator", "off"]


def withdrawn_approval(*, needs_review: bool, status: Status, reviewed_by: str | None,
                       changed: Iterable[str]) -> tuple[str, ...]:
    """The approved fields an edit changes, when it edits a task that needs review and holds
    an approval not yet used (it has not started); empty when the approval stands."""
    if not needs_review or reviewed_by is None or status == Status.AWAITING_REVIEW \
            or status not in ALLOWED_FROM["update"]:
        return ()
    names = set(changed)
    return tuple(f for f in APPROVAL_COVERS if f in names)


def withdrawal_reason(fields: Iterable[str]) -> str:
    return f"approval withdrawn: {', '.join(fields)} changed"


def separation_refusal(*, rule: ReviewSeparation, approver: str, created_by: str | None,
                       config_changed_by: str | None) -> str | None:
    """Why ``approver`` may not approve this task (four eyes); None when it may."""
    if rule == "off":
        return None
    if config_changed_by is not None and approver == config_changed_by:
        return f"{approver} changed this task's configuration; another reviewer must approve it"
    if rule == "creator" and created_by is not None and approver == created_by:
        return f"{approver} created this task; another reviewer must approve it"
    return None


# --- dependencies: cascade and redrive (CONTRACT §10) --------------------------------------

def cascade_reason(dependency_id: str, dependency_status: str) -> str:
    return f"dependency {dependency_id} {dependency_status}"


def cancels_dependent(dependency_status: Status, dependent_status: Status) -> bool:
    """A dependency that ended failed/cancelled/rejected cancels a dependent that is not yet
    running and not ended — whatever it waits for (review, a person, its time, dependencies)."""
    return (dependency_status in BREAKS_DEPENDENTS and dependent_status not in TERMINAL
            and dependent_status != Status.IN_PROGRESS)


def reopens_dependent(retried_id: str, dependent_status: Status,
                      dependent_reason: str | None) -> bool:
    """On ``tasks.retry`` of ``retried_id``: a dependent the cascade cancelled because of it
    (directly or further down: the reason names the task that broke) is placed again."""
    return (dependent_status == Status.CANCELLED and dependent_reason is not None
            and dependent_reason.startswith(f"dependency {retried_id} ")
            and dependent_reason.removeprefix(f"dependency {retried_id} ")
            in {s.value for s in BREAKS_DEPENDENTS})


def broken_dependency(dependencies: list[tuple[str, Status]]) -> str | None:
    """Why a task cannot be approved or executed: the first dependency that broke."""
    for dep_id, status in dependencies:
        if status in BREAKS_DEPENDENTS:
            return f"dependency {dep_id} is {status.value}: it can no longer complete"
    return None


# --- stalled work (CONTRACT §10) --------------------------------------------------------------

STALLABLE: Final[frozenset[Status]] = frozenset(
    {Status.PENDING, Status.AWAITING_REVIEW, Status.QUEUED, Status.SCHEDULED})


def stalled(*, status: Status, entered_at: datetime | None, due_at: datetime | None,
            limits: dict[str, timedelta], now: datetime) -> bool:
    """Waiting longer than its status' limit: pending/awaiting_review/queued since
    ``entered_at``; scheduled past its due time (a task waiting for dependencies has none)."""
    limit = limits.get(status.value)
    if status not in STALLABLE or limit is None:
        return False
    if status == Status.SCHEDULED:
        return due_at is not None and now - due_at > limit
    return entered_at is not None and now - entered_at > limit


# --- groups: fan-out / fan-in (CONTRACT §17) -------------------------------------------------

#: A group's reason while it waits: it is ``scheduled`` with no due time, so no timer queues
#: it and no runner claims it; its subtasks' ends move it.
GROUP_WAITING: Final[str] = "waiting for subtasks"
GroupPolicy = Literal["all_settled", "fail_fast"]
#: Subtask ends a group counts as failed (a rejected subtask did not do its work either).
FAILS_GROUP: Final[frozenset[Status]] = frozenset({Status.FAILED, Status.REJECTED})
#: Subtasks ``fail_fast`` cancels when the group fails: those not yet running.
NOT_YET_RUNNING: Final[frozenset[Status]] = frozenset(
    {Status.PENDING, Status.AWAITING_REVIEW, Status.SCHEDULED, Status.QUEUED})


def child_counts(total: int, by_status: Mapping[str, int]) -> dict[str, int]:
    """A group's ``children`` from its subtasks counted by status."""
    return {"total": total, "completed": by_status.get(Status.COMPLETED, 0),
            "failed": sum(by_status.get(s, 0) for s in FAILS_GROUP),
            "cancelled": by_status.get(Status.CANCELLED, 0)}


def group_end(policy: str, counts: Mapping[str, int]) -> Status | None:
    """What a waiting group becomes: ``failed`` at its first failed subtask under
    ``fail_fast``; ``completed`` once every subtask ended; None while it waits."""
    if policy == "fail_fast" and counts["failed"] > 0:
        return Status.FAILED
    if counts["completed"] + counts["failed"] + counts["cancelled"] >= counts["total"]:
        return Status.COMPLETED
    return None


def group_result(children: Iterable[tuple[str, str, object]]) -> dict[str, list[object]]:
    """A completed group's result from its subtasks' (id, status, result) in order: each
    completed subtask's result (null for the others), and the ids of those that failed."""
    items = list(children)
    return {"results": [result if status == Status.COMPLETED else None
                        for _, status, result in items],
            "failed": [task_id for task_id, status, _ in items if status in FAILS_GROUP]}


def group_failed_reason(group_id: str) -> str:
    """The reason of a subtask ``fail_fast`` cancelled (``tasks.retry`` of the group re-opens
    the subtasks whose reason starts so)."""
    return f"group {group_id} failed"
