"""rollups for every client at once (issue 29): the fold also keeps an all-clients row per key
(client_id '*'), the folded rows are indexed by client and period, the deltas and the zeros
by partial indexes (a fold reads only them); attempt_durations counts durations by day in
buckets (server/core/durations.py) instead of by hour and exact millisecond. The rollups are
made again from the tables (server/db/rollups.py rebuild_sql makes the same).

Revision ID: 0021_rollups_all
Revises: 0020_rollups
"""
import sqlalchemy as sa
from alembic import op

revision = "0021_rollups_all"
down_revision = "0020_rollups"
branch_labels = None
depends_on = None

_ATTEMPT_COLUMNS = ("status", "error_type", "duration_ms", "started_at")
_COUNTS = {"task_hours": ("hour", ("status", "priority"), "tasks"),
           "attempt_hours": ("hour", ("status", "failure"), "attempts"),
           "attempt_durations": ("day", ("bucket_ms",), "attempts")}


def _trunc(unit: str, column: str, pg: bool) -> str:
    if pg:
        return f"date_trunc('{unit}', {column})"
    return (f"substr({column}, 1, 13) || ':00:00.000000'" if unit == "hour"
            else f"substr({column}, 1, 10) || ' 00:00:00.000000'")


def _bucket(column: str) -> str:
    """server/core/durations.py bucket_sql as of this revision (exact below 128 ms, then 64
    buckets a doubling)."""
    steps = [f"WHEN {column} < 128 THEN {column}"]
    for bit in range(8, 47):
        width = 1 << (bit - 7)
        steps.append(f"WHEN {column} < {1 << bit} THEN {column} / {width} * {width}")
    return f"(CASE {' '.join(steps)} ELSE {column} END)"


def _failure(row: str) -> str:
    return (f"CASE WHEN {row}.status = 'success' THEN '' "
            f"ELSE coalesce({row}.error_type, {row}.status) END")


def _attempts(attempt: str, task: str, source: str, sign: int, pg: bool, *, new: bool) -> str:
    """Attempts counted in or out under their task's type and client (``new``: durations by
    day and bucket; else as 0020_rollups left them, by hour and millisecond)."""
    client = f"coalesce({task}.client_id, '')"
    key = f"{_trunc('hour', attempt + '.started_at', pg)}, {task}.task_type, {client}"
    ended = f"AND {attempt}.status <> 'running' AND {attempt}.duration_ms IS NOT NULL"
    durations = (
        f"INSERT INTO attempt_durations (day, task_type, client_id, bucket_ms, attempts, delta) "
        f"SELECT {_trunc('day', attempt + '.started_at', pg)}, {task}.task_type, {client}, "
        f"{_bucket(attempt + '.duration_ms')}, {sign}, TRUE {source} {ended};" if new else
        f"INSERT INTO attempt_durations (hour, task_type, client_id, duration_ms, attempts, "
        f"delta) SELECT {key}, {attempt}.duration_ms, {sign}, TRUE {source} {ended};")
    return (f"INSERT INTO attempt_hours (hour, task_type, client_id, status, failure, attempts, "
            f"delta) SELECT {key}, {attempt}.status, {_failure(attempt)}, {sign}, TRUE "
            f"{source}; {durations}")


def _attempt(row: str, sign: int, pg: bool, new: bool) -> str:
    return _attempts(row, "t", f"FROM tasks t WHERE t.id = {row}.task_id", sign, pg, new=new)


def _attempts_of(row: str, sign: int, pg: bool, new: bool) -> str:
    return _attempts("e", row, f"FROM task_executions e WHERE e.task_id = {row}.id", sign, pg,
                     new=new)


def _changed(columns: tuple[str, ...], pg: bool) -> str:
    differ = "IS DISTINCT FROM" if pg else "IS NOT"
    return " OR ".join(f"OLD.{c} {differ} NEW.{c}" for c in columns)


def _triggers(pg: bool, new: bool) -> list[tuple[str, str, str, str, str]]:
    """The triggers of 0020_rollups that count attempts (the others stay as they are)."""
    moved = ("task_type", "client_id")
    return [
        ("rollup_task_moved", "AFTER UPDATE OF task_type, client_id", "tasks",
         _attempts_of("OLD", -1, pg, new) + _attempts_of("NEW", 1, pg, new), _changed(moved, pg)),
        ("rollup_attempt_insert", "AFTER INSERT", "task_executions",
         _attempt("NEW", 1, pg, new), ""),
        ("rollup_attempt_update", f"AFTER UPDATE OF {', '.join(_ATTEMPT_COLUMNS)}",
         "task_executions", _attempt("OLD", -1, pg, new) + _attempt("NEW", 1, pg, new),
         _changed(_ATTEMPT_COLUMNS, pg)),
        ("rollup_attempt_delete", "AFTER DELETE", "task_executions",
         _attempt("OLD", -1, pg, new), ""),
    ]


def _replace_triggers(pg: bool, new: bool) -> None:
    for name, event, table, body, when in _triggers(pg, new):
        condition = f" WHEN ({when})" if when else ""
        if pg:  # the trigger stays; its function is replaced
            op.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
                       f"AS $$ BEGIN {body} RETURN NULL; END $$")
        else:
            op.execute(f"DROP TRIGGER {name}")  # SQLite resolves a body's tables when it runs
            op.execute(f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW{condition} "
                       f"BEGIN {body} END")


def _durations_table(new: bool) -> None:
    period, value = (("day", "bucket_ms") if new else ("hour", "duration_ms"))
    op.create_table("attempt_durations",
                    sa.Column(period, sa.DateTime(), nullable=False),
                    sa.Column("task_type", sa.String(32), nullable=False),
                    sa.Column("client_id", sa.String(40), nullable=False),
                    sa.Column(value, sa.BigInteger if new else sa.Integer, nullable=False),
                    sa.Column("attempts", sa.Integer, nullable=False),
                    sa.Column("delta", sa.Boolean, nullable=False))


def _new_indexes(name: str) -> None:
    period, keys, count = _COUNTS[name]
    folded = sa.text("NOT delta")
    op.create_index(f"uq_{name}_key", name, ["client_id", period, "task_type", *keys],
                    unique=True, sqlite_where=folded, postgresql_where=folded)
    op.create_index(f"ix_{name}_deltas", name, [period], sqlite_where=sa.text("delta"),
                    postgresql_where=sa.text("delta"))
    zero = sa.text(f"NOT delta AND {count} = 0")
    op.create_index(f"ix_{name}_zeros", name, [period], sqlite_where=zero,
                    postgresql_where=zero)


def _rebuild(pg: bool) -> None:
    attempts = "FROM task_executions e JOIN tasks t ON t.id = e.task_id"
    client = "coalesce(t.client_id, '')"
    hour = _trunc("hour", "e.started_at", pg)
    for name in _COUNTS:
        op.execute(f"DELETE FROM {name}")
    op.execute("INSERT INTO task_hours (hour, task_type, client_id, status, priority, tasks, "
               f"delta) SELECT {_trunc('hour', 't.created_at', pg)}, t.task_type, {client}, "
               "t.status, t.priority, count(*), FALSE FROM tasks t GROUP BY 1, 2, 3, 4, 5")
    op.execute("INSERT INTO attempt_hours (hour, task_type, client_id, status, failure, "
               f"attempts, delta) SELECT {hour}, t.task_type, {client}, e.status, "
               f"{_failure('e')}, count(*), FALSE {attempts} GROUP BY 1, 2, 3, 4, 5")
    op.execute("INSERT INTO attempt_durations (day, task_type, client_id, bucket_ms, attempts, "
               f"delta) SELECT {_trunc('day', 'e.started_at', pg)}, t.task_type, {client}, "
               f"{_bucket('e.duration_ms')}, count(*), FALSE {attempts} "
               "WHERE e.status <> 'running' AND e.duration_ms IS NOT NULL GROUP BY 1, 2, 3, 4")
    for name, (period, keys, count) in _COUNTS.items():
        columns = ", ".join((period, "task_type", *keys))
        op.execute(f"INSERT INTO {name} ({columns}, client_id, {count}, delta) "
                   f"SELECT {columns}, '*', sum({count}), FALSE FROM {name} "
                   f"GROUP BY {columns}")


def upgrade() -> None:
    pg = op.get_context().dialect.name == "postgresql"
    op.drop_table("attempt_durations")
    _durations_table(True)
    for name in ("task_hours", "attempt_hours"):
        op.drop_index(f"ix_{name}_hour", name)
        op.drop_index(f"uq_{name}_key", name)
    for name in _COUNTS:
        _new_indexes(name)
    _replace_triggers(pg, True)
    _rebuild(pg)


def downgrade() -> None:
    pg = op.get_context().dialect.name == "postgresql"
    for name in ("task_hours", "attempt_hours"):
        op.execute(f"DELETE FROM {name} WHERE client_id = '*'")
    for name in _COUNTS:
        for index in (f"uq_{name}_key", f"ix_{name}_deltas", f"ix_{name}_zeros"):
            op.drop_index(index, name)
    folded = sa.text("NOT delta")
    for name, (_period, keys, _count) in _COUNTS.items():
        if name == "attempt_durations":
            continue
        op.create_index(f"ix_{name}_hour", name, ["hour"])
        op.create_index(f"uq_{name}_key", name, ["hour", "task_type", "client_id", *keys],
                        unique=True, sqlite_where=folded, postgresql_where=folded)
    op.drop_table("attempt_durations")
    _durations_table(False)
    op.create_index("ix_attempt_durations_read", "attempt_durations",
                    ["task_type", "duration_ms", "hour", "client_id", "attempts"])
    op.create_index("uq_attempt_durations_key", "attempt_durations",
                    ["hour", "task_type", "client_id", "duration_ms"], unique=True,
                    sqlite_where=folded, postgresql_where=folded)
    _replace_triggers(pg, False)
    op.execute("INSERT INTO attempt_durations (hour, task_type, client_id, duration_ms, "
               f"attempts, delta) SELECT {_trunc('hour', 'e.started_at', pg)}, t.task_type, "
               "coalesce(t.client_id, ''), e.duration_ms, count(*), FALSE "
               "FROM task_executions e JOIN tasks t ON t.id = e.task_id "
               "WHERE e.status <> 'running' AND e.duration_ms IS NOT NULL GROUP BY 1, 2, 3, 4")
