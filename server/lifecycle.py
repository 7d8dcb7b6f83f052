"""PURE: task statuses, the transition table, and what an attempt's outcome does to a task.

docs/CONTRACT.md §4. Nothing here does IO: callers pass ``now`` and the random draw for jitter, and
apply the returned :class:`Transition` with a compare-and-set write (``WHERE status = from``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Literal

from server.retry import RetryPolicy, next_retry_at


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

Action = Literal["approve", "reject", "execute", "cancel", "retry"]

# The statuses from which a person's action is allowed, by action.
ALLOWED_FROM: Final[dict[Action, frozenset[Status]]] = {
    "approve": frozenset({Status.AWAITING_REVIEW}),
    "reject": frozenset({Status.AWAITING_REVIEW}),
    "execute": frozenset({Status.PENDING, Status.SCHEDULED}),
    "cancel": frozenset({Status.PENDING, Status.AWAITING_REVIEW, Status.SCHEDULED,
                         Status.QUEUED, Status.IN_PROGRESS}),
    "retry": frozenset({Status.FAILED}),
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


_EXECUTION_STATUS: Final[dict[OutcomeKind, ExecutionStatus]] = {
    "success": "success",
    "failure": "failed",
    "timeout": "timed_out",
    "interrupted": "cancelled",
    "lost": "lost",
    "cancelled": "cancelled",
}


def after_attempt(*, outcome: Outcome, error_count: int, max_retries: int, now: datetime,
                  policy: RetryPolicy, draw: float) -> Transition:
    """The task's next state after an attempt (which was ``in_progress``).

    - success → completed.
    - interrupted (shutdown) → queued again; spends no retry and counts no error.
    - cancelled → cancelled (the cancel already wrote the task; this is for the attempt row).
    - failure / timeout / lost count an error; retryable ones with ``errors <= maxRetries``
      go to ``scheduled`` at the backoff time (a lost attempt is retried at once), the rest
      end ``failed``.
    """
    ex_status = _EXECUTION_STATUS[outcome.kind]
    if outcome.kind == "success":
        return Transition(Status.COMPLETED, ex_status, error_count)
    if outcome.kind == "interrupted":
        return Transition(Status.QUEUED, ex_status, error_count,
                          reason="interrupted by shutdown; will run again",
                          last_error=outcome.error, spends_attempt=False)
    if outcome.kind == "cancelled":
        return Transition(Status.CANCELLED, ex_status, error_count, last_error=outcome.error)
    errors = error_count + 1
    retryable = outcome.retryable or outcome.kind in ("timeout", "lost")
    if retryable and errors <= max_retries:
        if outcome.kind == "lost":
            return Transition(Status.QUEUED, ex_status, errors,
                              reason="previous attempt was lost; retrying",
                              last_error=outcome.error)
        at = next_retry_at(now, errors, policy, draw, outcome.retry_after)
        return Transition(Status.SCHEDULED, ex_status, errors,
                          reason=f"retry {errors} of {max_retries} at {at.isoformat()}",
                          next_attempt_at=at, last_error=outcome.error)
    why = "retries exhausted" if retryable else "permanent error"
    return Transition(Status.FAILED, ex_status, errors, reason=why, last_error=outcome.error)
