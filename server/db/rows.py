"""Typed views of the rows services read most: a ``tasks`` row and a ``task_executions`` row.

The repositories return SQLAlchemy rows (``sa.Row[Any]``); these read-only Protocols say what
a row of each table holds, so a service reading ``row.status`` gets a ``str`` and a typo is a
type error. A ``sa.Row`` satisfies them structurally (its attributes are the columns);
tests/unit/test_rows.py checks they list the table's columns, nullability included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from schemas.configs import TaskType
from schemas.tasks import ExecutionType, Priority, TriggeredBy


class TaskRow(Protocol):
    """A row of ``tasks``."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def description(self) -> str | None: ...

    @property
    def task_type(self) -> TaskType: ...

    @property
    def execution_type(self) -> ExecutionType: ...

    @property
    def assigned_to_bot(self) -> bool: ...

    @property
    def requires_human_review(self) -> bool: ...

    @property
    def execution_config(self) -> Any: ...

    @property
    def scheduled_for(self) -> datetime | None: ...

    @property
    def priority(self) -> Priority: ...

    @property
    def priority_rank(self) -> int: ...

    @property
    def max_retries(self) -> int: ...

    @property
    def timeout_seconds(self) -> int: ...

    @property
    def notify_on_complete(self) -> bool: ...

    @property
    def notify_on_failure(self) -> bool: ...

    @property
    def source_webhook_id(self) -> str | None: ...

    @property
    def idempotency_key(self) -> str | None: ...

    @property
    def depends_on(self) -> Any: ...

    @property
    def meta(self) -> Any: ...

    @property
    def status(self) -> str: ...  # a server.core.lifecycle.Status value

    @property
    def status_reason(self) -> str | None: ...

    @property
    def error_count(self) -> int: ...

    @property
    def last_error(self) -> str | None: ...

    @property
    def result(self) -> Any: ...

    @property
    def result_summary(self) -> str | None: ...

    @property
    def reviewed_by(self) -> str | None: ...

    @property
    def reviewed_at(self) -> datetime | None: ...

    @property
    def review_notes(self) -> str | None: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def updated_at(self) -> datetime: ...

    @property
    def queued_at(self) -> datetime | None: ...

    @property
    def started_at(self) -> datetime | None: ...

    @property
    def completed_at(self) -> datetime | None: ...

    @property
    def next_attempt_at(self) -> datetime | None: ...

    @property
    def due_at(self) -> datetime | None: ...

    @property
    def attempts(self) -> int: ...

    @property
    def next_trigger(self) -> str: ...

    @property
    def lease_owner(self) -> str | None: ...

    @property
    def lease_expires_at(self) -> datetime | None: ...

    @property
    def stalled_since(self) -> datetime | None: ...

    @property
    def lost_streak(self) -> int: ...

    @property
    def dest_host(self) -> str | None: ...

    @property
    def created_by(self) -> str | None: ...

    @property
    def config_changed_by(self) -> str | None: ...

    @property
    def client_id(self) -> str | None: ...

    @property
    def review_expires_at(self) -> datetime | None: ...

    @property
    def review_expires_in(self) -> int | None: ...

    @property
    def approvals_required(self) -> int: ...  # None in a row built from insert values: 1

    @property
    def approvals(self) -> Any: ...

    @property
    def tags(self) -> list[str] | None: ...

    @property
    def assignee(self) -> str | None: ...

    @property
    def deadline(self) -> datetime: ...

    @property
    def deadline_missed_at(self) -> datetime | None: ...

    @property
    def concurrency_key(self) -> str | None: ...

    @property
    def concurrency_limit(self) -> int | None: ...

    @property
    def rate_limit_key(self) -> str | None: ...

    @property
    def debounce(self) -> Any: ...  # {"key", "seconds"} as asked, or None

    @property
    def debounce_key(self) -> str | None: ...

    @property
    def retry_policy(self) -> Any: ...  # {"baseSeconds"?, "maxSeconds"?, "factor"?} or None

    @property
    def lane(self) -> int: ...

    @property
    def fair_tag(self) -> int: ...

    @property
    def progress(self) -> dict[str, Any] | None: ...  # {done, total, message?} while running

    @property
    def parent_id(self) -> str | None: ...

    @property
    def group_policy(self) -> str | None: ...

    @property
    def children(self) -> Any: ...


class ExecutionRow(Protocol):
    """A row of ``task_executions`` (one attempt)."""

    @property
    def id(self) -> str: ...

    @property
    def task_id(self) -> str: ...

    @property
    def attempt_number(self) -> int: ...

    @property
    def triggered_by(self) -> TriggeredBy: ...

    @property
    def status(self) -> str: ...  # an ExecutionStatus value

    @property
    def started_at(self) -> datetime: ...

    @property
    def completed_at(self) -> datetime | None: ...

    @property
    def duration_ms(self) -> int | None: ...

    @property
    def worker_id(self) -> str: ...

    @property
    def output(self) -> Any: ...

    @property
    def error(self) -> str | None: ...

    @property
    def error_type(self) -> str | None: ...

    @property
    def retryable(self) -> bool | None: ...

    @property
    def steps(self) -> Any: ...

    @property
    def artifacts(self) -> Any: ...

    @property
    def browser_session_id(self) -> str | None: ...

    @property
    def debug_url(self) -> str | None: ...

    @property
    def input(self) -> Any: ...

    @property
    def output_is_result(self) -> bool: ...  # output is the task's result (tables.py)

    @property
    def input_is_config(self) -> bool: ...  # input is the task's executionConfig, masked
