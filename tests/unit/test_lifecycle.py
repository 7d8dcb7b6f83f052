"""The pure lifecycle: placement on create/approve, refusals, and attempt outcomes."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.core import lifecycle
from server.core.lifecycle import Outcome, Status
from server.core.retry import RetryPolicy, backoff_seconds, next_retry_at

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
EARLIER = NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("review", "automatic", "bot", "when", "deps", "status"),
    [
        (True, True, True, None, False, Status.AWAITING_REVIEW),
        (True, False, False, LATER, True, Status.AWAITING_REVIEW),
        (False, True, True, None, False, Status.QUEUED),
        (False, True, True, EARLIER, False, Status.QUEUED),
        (False, True, True, NOW, False, Status.QUEUED),
        (False, True, True, LATER, False, Status.SCHEDULED),
        (False, True, True, None, True, Status.SCHEDULED),
        (False, True, False, None, False, Status.PENDING),
        (False, False, True, None, False, Status.PENDING),
        (False, False, True, LATER, False, Status.PENDING),
    ],
)
def test_initial_placement(review: bool, automatic: bool, bot: bool, when: datetime | None,
                           deps: bool, status: Status) -> None:
    placed = lifecycle.initial(needs_review=review, automatic=automatic, assigned_to_bot=bot,
                               scheduled_for=when, dependencies_open=deps, now=NOW)
    assert placed.status == status


def test_scheduled_for_future_sets_due_time_and_dependencies_do_not() -> None:
    at = lifecycle.place(automatic=True, assigned_to_bot=True, scheduled_for=LATER,
                         dependencies_open=False, now=NOW)
    assert at.due_at == LATER
    waiting = lifecycle.place(automatic=True, assigned_to_bot=True, scheduled_for=LATER,
                              dependencies_open=True, now=NOW)
    assert waiting.due_at is None
    assert waiting.reason == lifecycle.WAITING_FOR_DEPENDENCIES


ALL = list(Status)


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        ("approve", {Status.AWAITING_REVIEW}),
        ("reject", {Status.AWAITING_REVIEW}),
        ("execute", {Status.PENDING, Status.SCHEDULED}),
        ("cancel", {Status.PENDING, Status.AWAITING_REVIEW, Status.SCHEDULED, Status.QUEUED,
                    Status.IN_PROGRESS}),
        ("retry", {Status.FAILED}),
    ],
)
def test_transition_table(action: lifecycle.Action, allowed: set[Status]) -> None:
    for status in ALL:
        refused = lifecycle.refusal(action, status)
        if status in allowed:
            assert refused is None, (action, status)
        else:
            assert refused is not None, (action, status)
            code, message = refused
            assert status.value in message
            expected = ("PRECONDITION_FAILED" if (action, status) == ("execute",
                                                                      Status.AWAITING_REVIEW)
                        else "CONFLICT")
            assert code == expected


POLICY = RetryPolicy(base_seconds=2, cap_seconds=60)


@pytest.mark.parametrize(
    ("outcome", "errors", "max_retries", "status", "ex_status", "new_errors"),
    [
        (Outcome("success"), 0, 3, Status.COMPLETED, "success", 0),
        (Outcome("success"), 2, 3, Status.COMPLETED, "success", 2),
        (Outcome("failure", retryable=True), 0, 3, Status.SCHEDULED, "failed", 1),
        (Outcome("failure", retryable=True), 2, 3, Status.SCHEDULED, "failed", 3),
        (Outcome("failure", retryable=True), 3, 3, Status.FAILED, "failed", 4),
        (Outcome("failure", retryable=True), 0, 0, Status.FAILED, "failed", 1),
        (Outcome("failure", retryable=False), 0, 3, Status.FAILED, "failed", 1),
        (Outcome("timeout"), 0, 3, Status.SCHEDULED, "timed_out", 1),
        (Outcome("timeout"), 3, 3, Status.FAILED, "timed_out", 4),
        (Outcome("lost"), 0, 3, Status.QUEUED, "lost", 0),
        (Outcome("lost"), 3, 3, Status.QUEUED, "lost", 3),
        (Outcome("interrupted"), 1, 3, Status.QUEUED, "cancelled", 1),
        (Outcome("interrupted"), 3, 3, Status.QUEUED, "cancelled", 3),
        (Outcome("cancelled"), 0, 3, Status.CANCELLED, "cancelled", 0),
    ],
)
def test_after_attempt(outcome: Outcome, errors: int, max_retries: int, status: Status,
                       ex_status: str, new_errors: int) -> None:
    tr = lifecycle.after_attempt(outcome=outcome, error_count=errors, max_retries=max_retries,
                                 now=NOW, policy=POLICY, draw=0.5)
    assert (tr.status, tr.execution_status, tr.error_count) == (status, ex_status, new_errors)
    if status == Status.SCHEDULED:
        assert tr.next_attempt_at is not None and tr.next_attempt_at > NOW
    else:
        assert tr.next_attempt_at is None


@pytest.mark.parametrize(
    ("outcome", "streak", "max_lost", "status", "new_streak"),
    [
        (Outcome("lost"), 0, 5, Status.QUEUED, 1),
        (Outcome("lost"), 3, 5, Status.QUEUED, 4),
        (Outcome("lost"), 4, 5, Status.FAILED, 5),
        (Outcome("lost"), 0, 1, Status.FAILED, 1),
        (Outcome("interrupted"), 4, 5, Status.QUEUED, 4),
        (Outcome("success"), 4, 5, Status.COMPLETED, 0),
        (Outcome("failure", retryable=True), 4, 5, Status.SCHEDULED, 0),
        (Outcome("timeout"), 2, 5, Status.SCHEDULED, 0),
    ],
)
def test_lost_attempts_spend_no_retry_and_stop_after_a_streak(
        outcome: Outcome, streak: int, max_lost: int, status: Status, new_streak: int) -> None:
    tr = lifecycle.after_attempt(outcome=outcome, error_count=2, max_retries=3, now=NOW,
                                 policy=POLICY, draw=0.5, lost_streak=streak, max_lost=max_lost)
    assert (tr.status, tr.lost_streak) == (status, new_streak)
    if outcome.kind in ("lost", "interrupted"):
        assert tr.error_count == 2 and not tr.spends_attempt
    if status == Status.FAILED:
        assert tr.reason is not None and f"lost {new_streak} attempts in a row" in tr.reason


def test_retry_after_wins_when_later_than_backoff() -> None:
    tr = lifecycle.after_attempt(outcome=Outcome("failure", retryable=True, retry_after=30),
                                 error_count=0, max_retries=3, now=NOW, policy=POLICY, draw=0.0)
    assert tr.next_attempt_at == NOW + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("errors", "draw", "seconds"),
    [(1, 0.0, 1.0), (1, 1.0, 2.0), (2, 1.0, 4.0), (3, 1.0, 8.0), (3, 0.0, 4.0),
     (10, 1.0, 60.0), (10, 0.0, 30.0), (500, 1.0, 60.0)],
)
def test_backoff_grows_exponentially_with_jitter_and_cap(errors: int, draw: float,
                                                         seconds: float) -> None:
    assert backoff_seconds(errors, POLICY, draw) == pytest.approx(seconds)


def test_next_retry_at_keeps_backoff_when_retry_after_is_shorter() -> None:
    assert next_retry_at(NOW, 3, POLICY, 1.0, retry_after=1) == NOW + timedelta(seconds=8)


@pytest.mark.parametrize("module", ["server/core/lifecycle.py", "server/core/retry.py"])
def test_pure_modules_import_no_io_library(module: str) -> None:
    root = Path(__file__).resolve().parents[2]
    tree = ast.parse((root / module).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    forbidden = {"sqlalchemy", "httpx", "litestar", "playwright", "asyncio", "aiosqlite",
                 "asyncpg", "apscheduler", "time", "random"}
    assert not imported & forbidden, imported & forbidden


# --- dependencies: cascade and redrive, and the stall rule (CONTRACT §10) ------------------

@pytest.mark.parametrize(
    ("dependency", "dependent", "cancels"),
    [
        (Status.FAILED, Status.SCHEDULED, True),
        (Status.FAILED, Status.AWAITING_REVIEW, True),
        (Status.FAILED, Status.PENDING, True),
        (Status.FAILED, Status.QUEUED, True),
        (Status.CANCELLED, Status.SCHEDULED, True),
        (Status.REJECTED, Status.PENDING, True),
        (Status.FAILED, Status.IN_PROGRESS, False),
        (Status.FAILED, Status.COMPLETED, False),
        (Status.FAILED, Status.CANCELLED, False),
        (Status.COMPLETED, Status.SCHEDULED, False),
        (Status.COMPLETED, Status.AWAITING_REVIEW, False),
    ],
)
def test_cascade_cancels_non_terminal_dependents(dependency: Status, dependent: Status,
                                                 cancels: bool) -> None:
    assert lifecycle.cancels_dependent(dependency, dependent) is cancels


@pytest.mark.parametrize(
    ("status", "reason", "reopens"),
    [
        (Status.CANCELLED, "dependency tsk_a failed", True),
        (Status.CANCELLED, "dependency tsk_a cancelled", True),
        (Status.CANCELLED, "dependency tsk_a rejected", True),
        (Status.CANCELLED, "dependency tsk_b failed", False),
        (Status.CANCELLED, "dependency tsk_ab failed", False),
        (Status.CANCELLED, "dependency tsk_a is failed", False),
        (Status.CANCELLED, "cancelled by op", False),
        (Status.CANCELLED, None, False),
        (Status.SCHEDULED, "dependency tsk_a failed", False),
        (Status.COMPLETED, "dependency tsk_a failed", False),
    ],
)
def test_retry_reopens_only_what_the_cascade_cancelled(status: Status, reason: str | None,
                                                       reopens: bool) -> None:
    assert lifecycle.reopens_dependent("tsk_a", status, reason) is reopens


def test_cascade_reason_and_broken_dependency() -> None:
    assert lifecycle.cascade_reason("tsk_a", "failed") == "dependency tsk_a failed"
    assert lifecycle.broken_dependency([("a", Status.COMPLETED), ("b", Status.QUEUED)]) is None
    why = lifecycle.broken_dependency([("a", Status.COMPLETED), ("b", Status.REJECTED)])
    assert why is not None and "b" in why and "rejected" in why


LIMITS = {"pending": timedelta(hours=24), "awaiting_review": timedelta(seconds=2),
          "queued": timedelta(minutes=10), "scheduled": timedelta(minutes=10)}


@pytest.mark.parametrize(
    ("status", "entered", "due", "expected"),
    [
        (Status.AWAITING_REVIEW, NOW - timedelta(seconds=3), None, True),
        (Status.AWAITING_REVIEW, NOW - timedelta(seconds=1), None, False),
        (Status.AWAITING_REVIEW, NOW - timedelta(seconds=2), None, False),  # not longer
        (Status.PENDING, NOW - timedelta(hours=25), None, True),
        (Status.PENDING, NOW - timedelta(hours=23), None, False),
        (Status.QUEUED, NOW - timedelta(minutes=11), None, True),
        (Status.SCHEDULED, NOW - timedelta(days=9), NOW - timedelta(minutes=11), True),
        (Status.SCHEDULED, NOW - timedelta(days=9), NOW - timedelta(minutes=9), False),
        (Status.SCHEDULED, NOW - timedelta(days=9), LATER, False),
        (Status.SCHEDULED, NOW - timedelta(days=9), None, False),  # waits for dependencies
        (Status.IN_PROGRESS, NOW - timedelta(days=9), None, False),
        (Status.COMPLETED, NOW - timedelta(days=9), None, False),
        (Status.QUEUED, None, None, False),
    ],
)
def test_stall_rule(status: Status, entered: datetime | None, due: datetime | None,
                    expected: bool) -> None:
    assert lifecycle.stalled(status=status, entered_at=entered, due_at=due, limits=LIMITS,
                             now=NOW) is expected


def test_update_and_complete_refusals() -> None:
    assert lifecycle.refusal("update", Status.AWAITING_REVIEW) is None
    assert lifecycle.refusal("update", Status.SCHEDULED) is None
    refused = lifecycle.refusal("update", Status.QUEUED)
    assert refused is not None and refused[0] == "CONFLICT" and "queued" in refused[1]
    assert lifecycle.refusal("complete", Status.PENDING) is None
    assert lifecycle.refusal("complete", Status.AWAITING_REVIEW) is not None


# --- groups (CONTRACT §17) ---------------------------------------------------------------------

def _counts(total: int, completed: int = 0, failed: int = 0, cancelled: int = 0
            ) -> dict[str, int]:
    return {"total": total, "completed": completed, "failed": failed, "cancelled": cancelled}


@pytest.mark.parametrize(("policy", "counts", "end"), [
    ("fail_fast", _counts(20), None),
    ("fail_fast", _counts(20, completed=19), None),
    ("fail_fast", _counts(20, completed=20), Status.COMPLETED),
    ("fail_fast", _counts(20, completed=3, failed=1), Status.FAILED),
    ("fail_fast", _counts(20, completed=19, cancelled=1), Status.COMPLETED),
    ("all_settled", _counts(20, completed=3, failed=1), None),
    ("all_settled", _counts(20, completed=19, failed=1), Status.COMPLETED),
    ("all_settled", _counts(3, failed=2, cancelled=1), Status.COMPLETED),
    ("all_settled", _counts(1), None),
])
def test_group_end(policy: str, counts: dict[str, int], end: Status | None) -> None:
    assert lifecycle.group_end(policy, counts) == end


def test_child_counts_count_a_rejected_subtask_as_failed() -> None:
    assert lifecycle.child_counts(5, {"completed": 2, "rejected": 1, "failed": 1,
                                      "queued": 1}) == _counts(5, 2, 2, 0)


def test_group_result_keeps_the_subtasks_order_with_null_for_those_not_completed() -> None:
    children = [("a", "completed", {"x": 1}), ("b", "failed", {"status": 400}),
                ("c", "cancelled", None), ("d", "rejected", None), ("e", "completed", 5)]
    assert lifecycle.group_result(children) == {
        "results": [{"x": 1}, None, None, None, 5], "failed": ["b", "d"]}
