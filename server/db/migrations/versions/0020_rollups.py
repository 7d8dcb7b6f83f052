"""hourly rollups (issue 29): task_hours, attempt_hours, attempt_durations, kept by triggers on
tasks and task_executions (delta rows, folded by the node) and built for the rows already there
(server/db/rollups.py)

Revision ID: 0020_rollups
Revises: 0019_search
"""
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0020_rollups"
down_revision = "0019_search"
branch_labels = None
depends_on = None

_TASK_COLUMNS = ("status", "priority", "task_type", "client_id", "created_at")
_ATTEMPT_COLUMNS = ("status", "error_type", "duration_ms", "started_at")


def _hour(column: str, pg: bool) -> str:
    return f"date_trunc('hour', {column})" if pg else f"substr({column}, 1, 13) || ':00:00.000000'"


def _failure(row: str) -> str:
    return (f"CASE WHEN {row}.status = 'success' THEN '' "
            f"ELSE coalesce({row}.error_type, {row}.status) END")


def _task(row: str, sign: int, pg: bool) -> str:
    return ("INSERT INTO task_hours (hour, task_type, client_id, status, priority, tasks, delta) "
            f"VALUES ({_hour(row + '.created_at', pg)}, {row}.task_type, "
            f"coalesce({row}.client_id, ''), {row}.status, {row}.priority, {sign}, TRUE);")


def _attempts(attempt: str, task: str, source: str, sign: int, pg: bool) -> str:
    """Attempts counted in or out under their task's type and client: ``attempt`` and ``task``
    name the rows, ``source`` the FROM .. WHERE that joins them."""
    key = (f"{_hour(attempt + '.started_at', pg)}, {task}.task_type, "
           f"coalesce({task}.client_id, '')")
    return (f"INSERT INTO attempt_hours (hour, task_type, client_id, status, failure, attempts, "
            f"delta) SELECT {key}, {attempt}.status, {_failure(attempt)}, {sign}, TRUE "
            f"{source}; "
            f"INSERT INTO attempt_durations (hour, task_type, client_id, duration_ms, attempts, "
            f"delta) SELECT {key}, {attempt}.duration_ms, {sign}, TRUE {source} "
            f"AND {attempt}.status <> 'running' AND {attempt}.duration_ms IS NOT NULL;")


def _attempt(row: str, sign: int, pg: bool) -> str:
    """One attempt (``row``: NEW or OLD) counted in or out."""
    return _attempts(row, "t", f"FROM tasks t WHERE t.id = {row}.task_id", sign, pg)


def _attempts_of(row: str, sign: int, pg: bool) -> str:
    """A task's attempts counted in or out under the task ``row``'s type and client."""
    return _attempts("e", row, f"FROM task_executions e WHERE e.task_id = {row}.id", sign, pg)


def _changed(columns: tuple[str, ...], pg: bool) -> str:
    differ = "IS DISTINCT FROM" if pg else "IS NOT"
    return " OR ".join(f"OLD.{c} {differ} NEW.{c}" for c in columns)


def _triggers(pg: bool) -> list[tuple[str, str, str, str, str]]:
    """(name, timing and event, table, body, condition or "") of every trigger."""
    task_cols = ", ".join(_TASK_COLUMNS)
    attempt_cols = ", ".join(_ATTEMPT_COLUMNS)
    moved = ("task_type", "client_id")
    return [
        ("rollup_task_insert", "AFTER INSERT", "tasks", _task("NEW", 1, pg), ""),
        ("rollup_task_update", f"AFTER UPDATE OF {task_cols}", "tasks",
         _task("OLD", -1, pg) + _task("NEW", 1, pg), _changed(_TASK_COLUMNS, pg)),
        ("rollup_task_moved", "AFTER UPDATE OF task_type, client_id", "tasks",
         _attempts_of("OLD", -1, pg) + _attempts_of("NEW", 1, pg), _changed(moved, pg)),
        # its attempts go first, counted out while the task still names their type and client
        ("rollup_task_delete_attempts", "BEFORE DELETE", "tasks",
         "DELETE FROM task_executions WHERE task_id = OLD.id;", ""),
        ("rollup_task_delete", "AFTER DELETE", "tasks", _task("OLD", -1, pg), ""),
        ("rollup_attempt_insert", "AFTER INSERT", "task_executions", _attempt("NEW", 1, pg),
         ""),
        ("rollup_attempt_update", f"AFTER UPDATE OF {attempt_cols}", "task_executions",
         _attempt("OLD", -1, pg) + _attempt("NEW", 1, pg), _changed(_ATTEMPT_COLUMNS, pg)),
        ("rollup_attempt_delete", "AFTER DELETE", "task_executions", _attempt("OLD", -1, pg),
         ""),
    ]


def _create_triggers(pg: bool) -> None:
    for name, event, table, body, when in _triggers(pg):
        condition = f" WHEN ({when})" if when else ""
        if not pg:
            op.execute(f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW{condition} "
                       f"BEGIN {body} END")
            continue
        result = "OLD" if event.startswith("BEFORE") else "NULL"
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN {body} RETURN {result}; END $$")
        op.execute(f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW{condition} "
                   f"EXECUTE FUNCTION {name}()")


def _table(name: str, keys: list[sa.Column[Any]], count: str) -> None:
    """A rollup table: its key columns, its count, ``delta``; an index on the hour and a
    unique one on the key of its folded rows."""
    common: list[sa.Column[Any]] = [sa.Column("hour", sa.DateTime(), nullable=False),
              sa.Column("task_type", sa.String(32), nullable=False),
              sa.Column("client_id", sa.String(40), nullable=False)]
    op.create_table(name, *common, *keys, sa.Column(count, sa.Integer, nullable=False),
                    sa.Column("delta", sa.Boolean, nullable=False))
    if name == "attempt_durations":  # covering, in a report's order (type, duration)
        op.create_index("ix_attempt_durations_read", name, ["task_type", "duration_ms", "hour",
                                                            "client_id", "attempts"])
    else:
        op.create_index(f"ix_{name}_hour", name, ["hour"])
    folded = sa.text("NOT delta")
    op.create_index(f"uq_{name}_key", name, [c.name for c in common + keys], unique=True,
                    sqlite_where=folded, postgresql_where=folded)


def upgrade() -> None:
    pg = op.get_context().dialect.name == "postgresql"
    _table("task_hours", [sa.Column("status", sa.String(16), nullable=False),
                          sa.Column("priority", sa.String(8), nullable=False)], "tasks")
    _table("attempt_hours", [sa.Column("status", sa.String(16), nullable=False),
                             sa.Column("failure", sa.String(64), nullable=False)], "attempts")
    _table("attempt_durations", [sa.Column("duration_ms", sa.Integer, nullable=False)],
           "attempts")
    _create_triggers(pg)
    failure = _failure("e")
    attempts = "FROM task_executions e JOIN tasks t ON t.id = e.task_id"
    key = f"{_hour('e.started_at', pg)}, t.task_type, coalesce(t.client_id, '')"
    # the rows already there (server/db/rollups.py rebuild_sql makes the same)
    op.execute("INSERT INTO task_hours (hour, task_type, client_id, status, priority, tasks, "
               f"delta) SELECT {_hour('created_at', pg)}, task_type, coalesce(client_id, ''), "
               "status, priority, count(*), FALSE FROM tasks GROUP BY 1, 2, 3, 4, 5")
    op.execute("INSERT INTO attempt_hours (hour, task_type, client_id, status, failure, "
               f"attempts, delta) SELECT {key}, e.status, {failure}, count(*), FALSE "
               f"{attempts} GROUP BY 1, 2, 3, 4, 5")
    op.execute("INSERT INTO attempt_durations (hour, task_type, client_id, duration_ms, "
               f"attempts, delta) SELECT {key}, e.duration_ms, count(*), FALSE {attempts} "
               "WHERE e.status <> 'running' AND e.duration_ms IS NOT NULL GROUP BY 1, 2, 3, 4")


def downgrade() -> None:
    pg = op.get_context().dialect.name == "postgresql"
    for name, _event, table, _body, _when in _triggers(pg):
        op.execute(f"DROP TRIGGER {name} ON {table}" if pg else f"DROP TRIGGER {name}")
        if pg:
            op.execute(f"DROP FUNCTION {name}()")
    for name in ("attempt_durations", "attempt_hours", "task_hours"):
        op.drop_table(name)
