"""Tables (SQLAlchemy Core). Migrations in server/db/migrations create exactly these.

Timestamps are stored as naive UTC and come back as aware UTC (:class:`UTCDateTime`).
JSON columns are encoded with msgspec (see engine.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every dialect."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Used only where SQLAlchemy renders a time as a literal; binds take
        :meth:`bind_processor`."""
        return None if value is None else _naive_utc(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        """What the driver is given, in one step: on SQLite the stored text itself (the form
        SQLAlchemy's DATETIME writes, ``2030-05-01 09:00:00.000000``), elsewhere the naive UTC
        datetime. A write of many rows binds the same ``now`` many times: the last value's
        answer is kept (immutable values, compared by identity)."""
        return _sqlite_bind if dialect.name == "sqlite" else _naive_bind

    def result_processor(self, dialect: Dialect, coltype: Any
                         ) -> Callable[[Any], datetime | None]:
        """Stored values back as aware UTC datetimes (the only way results are converted): a
        task row has ten timestamps, and ``datetime.replace(tzinfo=...)`` parses keywords,
        where epoch arithmetic or parsing the text with its offset costs a fraction of that."""
        return _utc_result


_NAIVE_EPOCH = datetime(1970, 1, 1)
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc_result(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite: "2030-05-01 09:00:00.000000", naive UTC
        try:
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:  # not the stored form (an offset of its own?): the slow way
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    if value.tzinfo is not None:
        return value.replace(tzinfo=UTC)
    return _UTC_EPOCH + (value - _NAIVE_EPOCH)  # naive UTC (asyncpg) → aware


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return _NAIVE_EPOCH + (value - _UTC_EPOCH)


class _LastKept:
    """A conversion of bound times that keeps its last answer: a write of many rows binds the
    same ``now`` many times (immutable values, compared by identity)."""

    def __init__(self, convert: Callable[[datetime], Any]) -> None:
        self._convert = convert
        self._last: tuple[object, Any] = (None, None)

    def __call__(self, value: datetime | None) -> Any:
        if value is None:
            return None
        last, answer = self._last
        if value is last:
            return answer
        answer = self._convert(value)
        self._last = (value, answer)
        return answer


_naive_bind = _LastKept(_naive_utc)
_sqlite_bind = _LastKept(lambda value: _naive_utc(value).isoformat(" ", "microseconds"))


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)
OPEN_WITH_DEADLINE = ("status IN ('pending', 'awaiting_review', 'scheduled', 'queued', "
                      "'in_progress') AND deadline_missed_at IS NULL "
                      "AND deadline < '9999-12-31 00:00:00'")

tasks = sa.Table(
    "tasks", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("task_type", sa.String(32), nullable=False),
    sa.Column("execution_type", sa.String(16), nullable=False),
    sa.Column("assigned_to_bot", sa.Boolean, nullable=False),
    sa.Column("requires_human_review", sa.Boolean, nullable=False),
    sa.Column("execution_config", sa.JSON, nullable=False),
    sa.Column("scheduled_for", UTCDateTime),
    sa.Column("priority", sa.String(8), nullable=False),
    sa.Column("priority_rank", sa.SmallInteger, nullable=False),
    sa.Column("max_retries", sa.Integer, nullable=False),
    sa.Column("timeout_seconds", sa.Integer, nullable=False),
    sa.Column("notify_on_complete", sa.Boolean, nullable=False),
    sa.Column("notify_on_failure", sa.Boolean, nullable=False),
    sa.Column("source_webhook_id", sa.String(40)),
    sa.Column("idempotency_key", sa.String(200), unique=True),
    sa.Column("depends_on", sa.JSON, nullable=False),
    sa.Column("meta", sa.JSON),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("status_reason", sa.Text),
    sa.Column("error_count", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("result", sa.JSON),
    sa.Column("result_summary", sa.Text),
    sa.Column("reviewed_by", sa.String(200)),
    sa.Column("reviewed_at", UTCDateTime),
    sa.Column("review_notes", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("queued_at", UTCDateTime),
    sa.Column("started_at", UTCDateTime),
    sa.Column("completed_at", UTCDateTime),
    sa.Column("next_attempt_at", UTCDateTime),
    # When a scheduled task is due to be queued (scheduledFor or a retry time); NULL otherwise.
    sa.Column("due_at", UTCDateTime),
    # Attempts started so far; the next attempt is number attempts + 1.
    sa.Column("attempts", sa.Integer, nullable=False),
    # How the next attempt is triggered (docs/CONTRACT.md §6 triggeredBy).
    sa.Column("next_trigger", sa.String(16), nullable=False),
    sa.Column("lease_owner", sa.String(80)),
    sa.Column("lease_expires_at", UTCDateTime),
    # When the task was found waiting too long in its status (CONTRACT §10); NULL otherwise.
    sa.Column("stalled_since", UTCDateTime),
    # Attempts lost in a row (the worker died under them); MAX_LOST_ATTEMPTS ends the task.
    sa.Column("lost_streak", sa.Integer, nullable=False, server_default="0"),
    # The host[:port] the task's requests go to (HOST_CONCURRENCY), computed at create.
    sa.Column("dest_host", sa.String(255)),
    # Who created the task and who last changed its executionConfig (key names; NULL for the
    # system): REVIEW_SEPARATION (CONTRACT §13) bars them from approving it.
    sa.Column("created_by", sa.String(200)),
    sa.Column("config_changed_by", sa.String(200)),
    # The client the task is done for (CONTRACT §14); NULL for none.
    sa.Column("client_id", sa.String(40)),
    # Review rules (CONTRACT §16, migration 0012): when a task still awaiting_review is
    # rejected (and the seconds asked), how many distinct reviewers must approve, who did.
    sa.Column("review_expires_at", UTCDateTime),
    sa.Column("review_expires_in", sa.Integer),
    sa.Column("approvals_required", sa.SmallInteger, nullable=False, server_default="1"),
    sa.Column("approvals", sa.JSON),
    # CONTRACT §17: the tags as given (read with the task; task_tags serves the filter) and
    # the person the task is assigned to.
    sa.Column("tags", sa.JSON),
    sa.Column("assignee", sa.String(200)),
    # The deadline (CONTRACT §17); NO_DEADLINE when none, so that the claim index orders
    # tasks with one first within a priority on both databases (NULLs sort first on SQLite).
    sa.Column("deadline", UTCDateTime, nullable=False,
              server_default=sa.text("'9999-12-31 00:00:00'")),
    # When the deadline was found missed (reported once); NULL otherwise.
    sa.Column("deadline_missed_at", UTCDateTime),
    # Flow control (CONTRACT §15, migration 0014): the concurrency key and its limit, the
    # rate-limit key, the debounce asked ({key, seconds}; ``debounce_key`` while the task
    # waits for it, cleared when an attempt starts) and the task's own retry policy.
    sa.Column("concurrency_key", sa.String(200)),
    sa.Column("concurrency_limit", sa.Integer),
    sa.Column("rate_limit_key", sa.String(200)),
    sa.Column("debounce", sa.JSON),
    sa.Column("debounce_key", sa.String(200)),
    sa.Column("retry_policy", sa.JSON),
    # Fairness (start-time fair queuing): the task's lane (client, concurrency key, host:
    # claims.lane_of) and its place in line within its priority, given as it enters queued.
    sa.Column("lane", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("fair_tag", sa.BigInteger, nullable=False, server_default="0"),
    # The running attempt's progress {done, total, message?} (CONTRACT §17), written by the
    # runner at most a few times a second; NULL when no attempt runs.
    sa.Column("progress", sa.JSON),
    # Groups (CONTRACT §17, migration 0017): a subtask's group (subtasks' ids sort in their
    # order in the group); a group's policy and its subtasks counted ({total, completed,
    # failed, cancelled}, rewritten under the group's row lock as each subtask ends).
    sa.Column("parent_id", sa.String(40)),
    sa.Column("group_policy", sa.String(16)),
    sa.Column("children", sa.JSON),
    # Partial (claim, lease, dest_host): a finished task leaves no entry in these (DB bytes
    # per task, P6). A query meant for one names its status as a literal
    # (repositories.QUEUED_LITERAL), so the planners (SQLite; PostgreSQL's generic plans) can
    # prove that it applies.
    sa.Index("ix_tasks_claim", "status", sa.text("priority_rank DESC"), "deadline", "fair_tag",
             "queued_at", "id",
             sqlite_where=sa.text("status = 'queued'"),
             postgresql_where=sa.text("status = 'queued'")),
    # A lane's last place in line (fair tags, CONTRACT §15).
    sa.Index("ix_tasks_lane", "lane", "fair_tag",
             sqlite_where=sa.text("status = 'queued'"),
             postgresql_where=sa.text("status = 'queued'")),
    # Attempts in flight per concurrency key and per client, across nodes (CONTRACT §15).
    sa.Index("ix_tasks_running_key", "concurrency_key",
             sqlite_where=sa.text("status = 'in_progress' AND concurrency_key IS NOT NULL"),
             postgresql_where=sa.text("status = 'in_progress' AND concurrency_key IS NOT NULL")),
    sa.Index("ix_tasks_running_client", "client_id",
             sqlite_where=sa.text("status = 'in_progress' AND client_id IS NOT NULL"),
             postgresql_where=sa.text("status = 'in_progress' AND client_id IS NOT NULL")),
    # A key's queued backlog, given its waiting reason (flow.backlog_reasons_set).
    sa.Index("ix_tasks_rate_queued", "rate_limit_key",
             sqlite_where=sa.text("status = 'queued' AND rate_limit_key IS NOT NULL"),
             postgresql_where=sa.text("status = 'queued' AND rate_limit_key IS NOT NULL")),
    sa.Index("ix_tasks_key_queued", "concurrency_key",
             sqlite_where=sa.text("status = 'queued' AND concurrency_key IS NOT NULL"),
             postgresql_where=sa.text("status = 'queued' AND concurrency_key IS NOT NULL")),
    # One task waits per debounce key.
    sa.Index("ix_tasks_debounce", "debounce_key", unique=True,
             sqlite_where=sa.text("status = 'scheduled' AND debounce_key IS NOT NULL"),
             postgresql_where=sa.text("status = 'scheduled' AND debounce_key IS NOT NULL")),
    # Full: it also serves counts by status (system.stats, gauges).
    sa.Index("ix_tasks_due", "status", "due_at"),
    sa.Index("ix_tasks_created", "created_at", "id"),
    sa.Index("ix_tasks_lease", "status", "lease_expires_at",
             sqlite_where=sa.text("status = 'in_progress'"),
             postgresql_where=sa.text("status = 'in_progress'")),
    sa.Index("ix_tasks_dest_host", "status", "dest_host",
             sqlite_where=sa.text("status = 'queued'"),
             postgresql_where=sa.text("status = 'queued'")),
    # tasks.list: each filter has an index ending in its order (created_at, id), so a page —
    # the first or one deep behind a cursor — reads only its rows (migration 0018). A
    # client's tasks also serve scoped keys; partial: most tasks have no client, assignee,
    # stall.
    sa.Index("ix_tasks_list_status", "status", "created_at", "id"),
    sa.Index("ix_tasks_list_type", "task_type", "created_at", "id"),
    sa.Index("ix_tasks_list_type_status", "task_type", "status", "created_at", "id"),
    sa.Index("ix_tasks_client", "client_id", "created_at", "id",
             sqlite_where=sa.text("client_id IS NOT NULL"),
             postgresql_where=sa.text("client_id IS NOT NULL")),
    sa.Index("ix_tasks_client_status", "client_id", "status", "created_at", "id",
             sqlite_where=sa.text("client_id IS NOT NULL"),
             postgresql_where=sa.text("client_id IS NOT NULL")),
    sa.Index("ix_tasks_assignee", "assignee", "created_at", "id",
             sqlite_where=sa.text("assignee IS NOT NULL"),
             postgresql_where=sa.text("assignee IS NOT NULL")),
    sa.Index("ix_tasks_stalled", "created_at", "id",
             sqlite_where=sa.text("stalled_since IS NOT NULL"),
             postgresql_where=sa.text("stalled_since IS NOT NULL")),
    # Open tasks with a deadline not yet found missed (the deadline check reads only these).
    sa.Index("ix_tasks_deadline", "deadline", sqlite_where=sa.text(OPEN_WITH_DEADLINE),
             postgresql_where=sa.text(OPEN_WITH_DEADLINE)),
    # A group's subtasks, counted by status from the index alone (partial: most tasks have
    # no group).
    sa.Index("ix_tasks_parent", "parent_id", "status",
             sqlite_where=sa.text("parent_id IS NOT NULL"),
             postgresql_where=sa.text("parent_id IS NOT NULL")),
    # The queued tasks a person asked to run (tasks.execute): claimed while autorun is
    # paused (CONTRACT §17). Only those are in it.
    sa.Index("ix_tasks_manual_queued", "status", "next_trigger",
             sqlite_where=sa.text("status = 'queued' AND next_trigger = 'manual'"),
             postgresql_where=sa.text("status = 'queued' AND next_trigger = 'manual'")),
)

task_executions = sa.Table(
    "task_executions", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("task_id", sa.String(40), sa.ForeignKey("tasks.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("attempt_number", sa.Integer, nullable=False),
    sa.Column("triggered_by", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("completed_at", UTCDateTime),
    sa.Column("duration_ms", sa.Integer),
    sa.Column("worker_id", sa.String(80), nullable=False),
    sa.Column("output", sa.JSON),
    sa.Column("error", sa.Text),
    sa.Column("error_type", sa.String(64)),
    sa.Column("retryable", sa.Boolean),
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("artifacts", sa.JSON, nullable=False),
    sa.Column("browser_session_id", sa.String(80)),
    sa.Column("debug_url", sa.Text),
    # The executionConfig with placeholders resolved, secrets masked (CONTRACT §10).
    sa.Column("input", sa.JSON),
    # An attempt that completed its task does not store a second copy of what the task row
    # holds (DB bytes per task, P6): with output_is_result its output is the task's result,
    # with input_is_config its input is the task's executionConfig masked, and the column
    # itself is NULL. Set only when the task is `completed` (terminal: neither value changes
    # again) and the copies are equal (server.node.runner.shared_with_task); read back by
    # server.services.views.execution_view.
    sa.Column("output_is_result", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("input_is_config", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("task_id", "attempt_number", name="uq_task_executions_attempt"),
    sa.Index("ix_task_executions_started", "started_at"),
)

task_dependencies = sa.Table(
    "task_dependencies", metadata,
    sa.Column("task_id", sa.String(40), sa.ForeignKey("tasks.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("depends_on_id", sa.String(40), sa.ForeignKey("tasks.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Index("ix_task_dependencies_on", "depends_on_id"),
)

# One row per tag of a task (CONTRACT §17): tasks.list ``tags`` looks each up by its index.
task_tags = sa.Table(
    "task_tags", metadata,
    sa.Column("task_id", sa.String(40), sa.ForeignKey("tasks.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("tag", sa.String(50), primary_key=True),
    # The task's created_at (migration 0018): a tag's tasks newest first from
    # ix_task_tags_created alone (tasks.list tags), the way the tasks' own indexes end.
    sa.Column("created_at", UTCDateTime),
    sa.Index("ix_task_tags_tag", "tag", "task_id"),
    sa.Index("ix_task_tags_created", "tag", "created_at", "task_id"),
)

# Kept counts (system.stats): tasks (kind "task") and attempts (kind "attempt") by client
# ('' for none) and status, as deltas appended by triggers on tasks and task_executions
# (migration 0018) and folded, a range of ids at a time, into one base row per (client,
# kind, status) every few seconds (server/db/counts.py). Never updated in place: no transaction
# waits on a counter row.
task_counts = sa.Table(
    "task_counts", metadata,
    # The order rows were appended in: a fold takes them a bounded range at a time.
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    # One base row per group, written by folds only (triggers append deltas, base false).
    sa.Column("base", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_task_counts", "client_id", "kind", "status", "n"),
    sa.Index("ix_task_counts_base", "client_id", "kind", "status", unique=True,
             sqlite_where=sa.text("base"), postgresql_where=sa.text("base")),
)

# Every change a subscriber may see, in order; ids are the SSE event ids (resume point).
task_events = sa.Table(
    "task_events", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(40), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # No index on created_at: events are pruned by id (repositories.events_prune).
    # One task's events (a subscription to one task, retention). A hash index on PostgreSQL:
    # 4-byte hash codes instead of the 26-byte ids, in pages that do not split half-empty
    # when a task's later events arrive (bytes per task, P6); the few events of a task are
    # sorted by id after it. On SQLite, a plain index on task_id (its rowid, the event id,
    # follows each entry: in id order already).
    sa.Index("ix_task_events_task", "task_id", postgresql_using="hash"),
    sqlite_autoincrement=True,
)

# --- webhooks, outbound messages, schedules (migration 0002) --------------------------------

webhooks = sa.Table(
    "webhooks", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    # nonce + AES-GCM ciphertext of the signing secret (server/services/secrets_box.py)
    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_delivery_at", UTCDateTime),
    sa.Index("ix_webhooks_created", "created_at", "id"),
)

outbound_messages = sa.Table(
    "outbound_messages", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("webhook_id", sa.String(40), nullable=False),
    sa.Column("task_id", sa.String(40)),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("recipient", sa.Text),
    sa.Column("subject", sa.Text),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("data", sa.JSON),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("send_at", UTCDateTime, nullable=False),  # when it was asked to be sent
    # When the next delivery attempt is due (send_at, then each retry); the timer's index.
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("response_status", sa.Integer),
    sa.Column("delivered_at", UTCDateTime),
    # Milliseconds from send_at to delivery (for webhook_activity reports).
    sa.Column("latency_ms", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # A delivery in flight holds the message (status queued) with a claim until this time.
    sa.Column("claim_id", sa.String(40)),
    sa.Column("claimed_until", UTCDateTime),
    # One message per cause ("task.completed:<task>:<attempt>", "reminder:<task>" ...).
    sa.Column("dedupe_key", sa.String(200), unique=True),
    sa.Index("ix_outbound_messages_due", "status", "next_attempt_at"),
    sa.Index("ix_outbound_messages_created", "created_at", "id"),
    sa.Index("ix_outbound_messages_task", "task_id"),
    sa.Index("ix_outbound_messages_webhook", "webhook_id", "created_at"),
)

schedules = sa.Table(
    "schedules", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("cron", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("task", sa.JSON, nullable=False),  # the TaskCreate template, wire form
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("missed_run_policy", sa.String(10), nullable=False),
    sa.Column("next_run_at", UTCDateTime),  # NULL while paused
    sa.Column("last_run_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("client_id", sa.String(40)),  # the template's clientId (CONTRACT §14)
    sa.Index("ix_schedules_due", "enabled", "next_run_at"),
    sa.Index("ix_schedules_created", "created_at", "id"),
)

# --- workflows and governance (migration 0006, CONTRACT §10) ---------------------------------

# One row per successful mutation (and per system action); never edited, pruned after
# AUDIT_RETENTION_DAYS.
audit_entries = sa.Table(
    "audit_entries", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20)),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_type", sa.String(16), nullable=False),
    sa.Column("target_id", sa.String(40)),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("request_id", sa.String(200)),
    sa.Index("ix_audit_entries_at", "at", "id"),
    # One entity's history (audit.list targetId): a few entries each, sorted after the
    # lookup; a hash index on PostgreSQL like ix_task_events_task (bytes per task, P6).
    sa.Index("ix_audit_entries_target", "target_id", postgresql_using="hash"),
)

# Small settings shared by every node (the autorun switch), one JSON value per key.
system_settings = sa.Table(
    "system_settings", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# --- clients, connections, API keys, the HighLevel budget (migration 0011, CONTRACT §14) ------

clients = sa.Table(
    "clients", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("slug", sa.String(60), nullable=False, unique=True),
    sa.Column("ghl_location_id", sa.String(200)),
    sa.Column("meta", sa.JSON),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("archived_at", UTCDateTime),
    sa.Index("ix_clients_created", "created_at", "id"),
)

# Named credentials; ``values_sealed`` is the AES-GCM sealed JSON object of the kind's values
# (server/services/secrets_box.py, the connection id as associated data).
connections = sa.Table(
    "connections", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(60), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("client_id", sa.String(40)),
    sa.Column("description", sa.Text),
    sa.Column("values_sealed", sa.LargeBinary, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime),
)

# Keys made at run time (keys.create); only a SHA-256 of each key is kept.
api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("client_id", sa.String(40)),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
)

# The HighLevel request budget shared by the nodes of one PostgreSQL database: one row per
# request counted against a location, until ``expires_at`` (epoch seconds).
ghl_rate_slots = sa.Table(
    "ghl_rate_slots", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("location_id", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_ghl_rate_slots_location", "location_id", "expires_at"),
)

# --- flow control (migration 0014, CONTRACT §15) ---------------------------------------------

# Declared rate limits: at most ``limit`` attempt starts of tasks with this rateLimitKey in
# any ``period_seconds``.
rate_limits = sa.Table(
    "rate_limits", metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("limit", sa.Integer, nullable=False),
    sa.Column("period_seconds", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# One row per attempt start counted against a rate limit (the sliding window); rows older
# than the key's period are deleted as the key is counted.
rate_limit_starts = sa.Table(
    "rate_limit_starts", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Index("ix_rate_limit_starts_key", "key", "started_at"),
)

# --- inbound: triggers (migration 0012, CONTRACT §16) ----------------------------------------

triggers = sa.Table(
    "triggers", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("verify", sa.String(20), nullable=False),
    sa.Column("client_id", sa.String(40)),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("template", sa.JSON, nullable=False),  # the TaskCreate template, wire form
    # nonce + AES-GCM ciphertext of the signing secret (server/services/secrets_box.py)
    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_received_at", UTCDateTime),
    sa.Index("ix_triggers_created", "created_at", "id"),
)

# The calls a trigger received (triggers.deliveries), newest last.
trigger_deliveries = sa.Table(
    "trigger_deliveries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trigger_id", sa.String(40), sa.ForeignKey("triggers.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("task_id", sa.String(40)),
    sa.Column("error", sa.Text),
    sa.Index("ix_trigger_deliveries_trigger", "trigger_id", "id"),
    sqlite_autoincrement=True,
)

# A callback task's token, hashed (SHA-256 hex); ``used_at`` once called (single use).
task_callbacks = sa.Table(
    "task_callbacks", metadata,
    sa.Column("task_id", sa.String(40), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
)

# Approval links (tasks.approvalLink): the token hashed; the task's config fingerprint when made.
approval_links = sa.Table(
    "approval_links", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("task_id", sa.String(40), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("reviewer", sa.String(200), nullable=False),
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
    sa.Index("ix_approval_links_task", "task_id"),
)

# Rollups (server/db/rollups.py, migrations 0020_rollups and 0021_rollups_all): what the
# reports and the overview's hourly series count, kept by triggers on tasks and
# task_executions. A trigger only appends a delta row (``delta``: +1 / -1, no lock on a shared
# row); folding merges them into one row per key (``delta`` false, unique), and into the
# all-clients row of the key (``client_id`` '*'), so that a read of every client reads one row
# per key, not one per client. ``client_id`` is '' for a task of no client. A read sums the
# folded rows of its client ('*' for all) and the deltas not folded yet.
ALL_CLIENTS = "*"
_FOLDED = sa.text("NOT delta")
_DELTA = sa.text("delta")


def _rollup(name: str, period: str, key: tuple[sa.Column[Any], ...], count: str) -> sa.Table:
    """A rollup table: the ``period`` it counts in (an hour or a day), type, client, the
    ``key`` columns, the ``count`` column and ``delta``. Indexes: the folded rows by client
    and period (unique per key: the fold's upsert and every read), the deltas by period (the
    fold and the reads of the last seconds), the folded rows summing to 0 (the fold drops
    them)."""
    names = ("client_id", period, "task_type", *(c.name for c in key))
    return sa.Table(
        name, metadata,
        sa.Column(period, UTCDateTime, nullable=False),
        sa.Column("task_type", sa.String(32), nullable=False),
        sa.Column("client_id", sa.String(40), nullable=False),
        *key,
        sa.Column(count, sa.Integer, nullable=False),
        sa.Column("delta", sa.Boolean, nullable=False),
        sa.Index(f"uq_{name}_key", *names, unique=True, sqlite_where=_FOLDED,
                 postgresql_where=_FOLDED),
        sa.Index(f"ix_{name}_deltas", period, sqlite_where=_DELTA, postgresql_where=_DELTA),
        sa.Index(f"ix_{name}_zeros", period, sqlite_where=sa.text(f"NOT delta AND {count} = 0"),
                 postgresql_where=sa.text(f"NOT delta AND {count} = 0")),
    )


# Tasks by the hour they were created in, their type, client, status and priority.
task_hours = _rollup(
    "task_hours", "hour", (sa.Column("status", sa.String(16), nullable=False),
                           sa.Column("priority", sa.String(8), nullable=False)), "tasks")
# Attempts by the hour they started in, their task's type and client, their status and (ended
# otherwise than in success) ``failure``: their errorType, or their status without one.
attempt_hours = _rollup(
    "attempt_hours", "hour", (sa.Column("status", sa.String(16), nullable=False),
                              sa.Column("failure", sa.String(64), nullable=False)), "attempts")
# The durations of ended attempts (not ``running``, a duration recorded) by the UTC day they
# started in: how many fell in each duration bucket (``bucket_ms``, its lowest value:
# server/core/durations.py — exact below 128 ms, then 64 buckets per doubling). A month's
# percentiles read a few thousand rows; the reports' percentiles are the buckets' (within
# 0.8 %).
attempt_durations = _rollup(
    "attempt_durations", "day", (sa.Column("bucket_ms", sa.BigInteger, nullable=False),),
    "attempts")

