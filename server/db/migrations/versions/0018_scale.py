"""scale (issue 29): kept counts (task_counts, maintained by triggers, filled here from a full
count), the indexes every tasks.list filter is served by in its order (created_at, id), and
task_tags.created_at (a tag's tasks, newest first, from its index alone)

Revision ID: 0018_scale
Revises: 0017_groups
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_scale"
down_revision = "0017_groups"
branch_labels = None
depends_on = None

# (name, table, columns, partial condition)
LIST_INDEXES: tuple[tuple[str, str, list[str], str | None], ...] = (
    ("ix_tasks_list_status", "tasks", ["status", "created_at", "id"], None),
    ("ix_tasks_list_type", "tasks", ["task_type", "created_at", "id"], None),
    ("ix_tasks_list_type_status", "tasks", ["task_type", "status", "created_at", "id"], None),
    ("ix_tasks_client", "tasks", ["client_id", "created_at", "id"], "client_id IS NOT NULL"),
    ("ix_tasks_client_status", "tasks", ["client_id", "status", "created_at", "id"],
     "client_id IS NOT NULL"),
    ("ix_tasks_assignee", "tasks", ["assignee", "created_at", "id"], "assignee IS NOT NULL"),
    ("ix_tasks_stalled", "tasks", ["created_at", "id"], "stalled_since IS NOT NULL"),
    ("ix_task_tags_created", "task_tags", ["tag", "created_at", "task_id"], None),
)

# Kept counts: every change of a task's status or client, and of an attempt's status, appends
# its deltas (-1 for what it was, +1 for what it is) as rows of task_counts; nothing is ever
# updated in place, so two transactions never wait for one another on a hot counter row (on
# PostgreSQL they would, and deadlock: a claim moves task counts then attempt counts, a
# completion attempt counts then task counts). server/db/counts.py sums them, and folds them
# into one base row per group (base = true, written by folds alone) every few seconds. An attempt counts under its task's client: a task that changes client
# moves its attempts' counts along. (An attempt must be deleted before its task, as
# retention does: deleted after, it would count under no client.)
TRIGGERS = (("tr_task_counts_insert", "tasks"), ("tr_task_counts_update", "tasks"),
            ("tr_task_counts_client", "tasks"), ("tr_task_counts_delete", "tasks"),
            ("tr_attempt_counts_insert", "task_executions"),
            ("tr_attempt_counts_update", "task_executions"),
            ("tr_attempt_counts_delete", "task_executions"))

_OLD_TASK = "(coalesce(OLD.client_id, ''), 'task', OLD.status, -1)"
_NEW_TASK = "(coalesce(NEW.client_id, ''), 'task', NEW.status, 1)"
_MOVE_ATTEMPTS = """
    INSERT INTO task_counts (client_id, kind, status, n)
    SELECT coalesce({row}.client_id, ''), 'attempt', status, {sign}count(*)
    FROM task_executions WHERE task_id = {row}.id GROUP BY status"""
_CLIENT_OF = "coalesce((SELECT client_id FROM tasks WHERE tasks.id = {row}.task_id), '')"
_INSERT = "INSERT INTO task_counts (client_id, kind, status, n) VALUES "

TRIGGERS_SQLITE = (
    f"""CREATE TRIGGER tr_task_counts_insert AFTER INSERT ON tasks BEGIN
    {_INSERT}{_NEW_TASK}; END""",
    f"""CREATE TRIGGER tr_task_counts_update AFTER UPDATE OF status, client_id ON tasks
    WHEN OLD.status IS NOT NEW.status OR OLD.client_id IS NOT NEW.client_id BEGIN
    {_INSERT}{_OLD_TASK}, {_NEW_TASK}; END""",
    f"""CREATE TRIGGER tr_task_counts_client AFTER UPDATE OF client_id ON tasks
    WHEN OLD.client_id IS NOT NEW.client_id BEGIN
    {_MOVE_ATTEMPTS.format(row="OLD", sign="-")};
    {_MOVE_ATTEMPTS.format(row="NEW", sign="")}; END""",
    f"""CREATE TRIGGER tr_task_counts_delete AFTER DELETE ON tasks BEGIN
    {_INSERT}{_OLD_TASK}; END""",
    f"""CREATE TRIGGER tr_attempt_counts_insert AFTER INSERT ON task_executions BEGIN
    {_INSERT}({_CLIENT_OF.format(row="NEW")}, 'attempt', NEW.status, 1); END""",
    f"""CREATE TRIGGER tr_attempt_counts_update AFTER UPDATE OF status ON task_executions
    WHEN OLD.status IS NOT NEW.status BEGIN
    {_INSERT}({_CLIENT_OF.format(row="OLD")}, 'attempt', OLD.status, -1),
    ({_CLIENT_OF.format(row="NEW")}, 'attempt', NEW.status, 1); END""",
    f"""CREATE TRIGGER tr_attempt_counts_delete AFTER DELETE ON task_executions BEGIN
    {_INSERT}({_CLIENT_OF.format(row="OLD")}, 'attempt', OLD.status, -1); END""",
)

TRIGGERS_PG = (
    f"""CREATE FUNCTION task_counts_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_INSERT}{_NEW_TASK};
    ELSIF TG_OP = 'DELETE' THEN
        {_INSERT}{_OLD_TASK};
    ELSE
        {_INSERT}{_OLD_TASK}, {_NEW_TASK};
        IF OLD.client_id IS DISTINCT FROM NEW.client_id THEN
            {_MOVE_ATTEMPTS.format(row="OLD", sign="-")};
            {_MOVE_ATTEMPTS.format(row="NEW", sign="")};
        END IF;
    END IF;
    RETURN NULL;
END $$""",
    f"""CREATE FUNCTION task_counts_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_INSERT}({_CLIENT_OF.format(row="NEW")}, 'attempt', NEW.status, 1);
    ELSIF TG_OP = 'DELETE' THEN
        {_INSERT}({_CLIENT_OF.format(row="OLD")}, 'attempt', OLD.status, -1);
    ELSE
        {_INSERT}({_CLIENT_OF.format(row="OLD")}, 'attempt', OLD.status, -1),
        ({_CLIENT_OF.format(row="NEW")}, 'attempt', NEW.status, 1);
    END IF;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER tr_task_counts_insert AFTER INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_counts_tasks()""",
    """CREATE TRIGGER tr_task_counts_update AFTER UPDATE OF status, client_id ON tasks
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.client_id IS DISTINCT FROM NEW.client_id)
    EXECUTE FUNCTION task_counts_tasks()""",
    """CREATE TRIGGER tr_task_counts_delete AFTER DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_counts_tasks()""",
    """CREATE TRIGGER tr_attempt_counts_insert AFTER INSERT ON task_executions
    FOR EACH ROW EXECUTE FUNCTION task_counts_attempts()""",
    """CREATE TRIGGER tr_attempt_counts_update AFTER UPDATE OF status ON task_executions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION task_counts_attempts()""",
    """CREATE TRIGGER tr_attempt_counts_delete AFTER DELETE ON task_executions
    FOR EACH ROW EXECUTE FUNCTION task_counts_attempts()""",
)

# The counts as they are when migrating (server/db/counts.py rebuilds them the same way).
FILL_TASKS = """INSERT INTO task_counts (client_id, kind, status, n, base)
SELECT coalesce(client_id, ''), 'task', status, count(*), true FROM tasks
GROUP BY coalesce(client_id, ''), status"""
FILL_ATTEMPTS = """INSERT INTO task_counts (client_id, kind, status, n, base)
SELECT coalesce(tasks.client_id, ''), 'attempt', task_executions.status, count(*), true
FROM task_executions JOIN tasks ON tasks.id = task_executions.task_id
GROUP BY coalesce(tasks.client_id, ''), task_executions.status"""


def upgrade() -> None:
    op.create_table(
        "task_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("client_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("base", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_task_counts", "task_counts", ["client_id", "kind", "status", "n"])
    op.create_index("ix_task_counts_base", "task_counts", ["client_id", "kind", "status"],
                    unique=True, sqlite_where=sa.text("base"), postgresql_where=sa.text("base"))
    op.add_column("task_tags", sa.Column("created_at", sa.DateTime()))
    op.execute("UPDATE task_tags SET created_at = "
               "(SELECT created_at FROM tasks WHERE tasks.id = task_tags.task_id)")
    op.drop_index("ix_tasks_client", table_name="tasks")  # (client_id, created_at): now with id
    for name, table, columns, where in LIST_INDEXES:
        condition = None if where is None else sa.text(where)
        op.create_index(name, table, columns, sqlite_where=condition,
                        postgresql_where=condition)
    dialect = op.get_bind().dialect.name
    for statement in (TRIGGERS_SQLITE if dialect == "sqlite" else TRIGGERS_PG):
        op.execute(statement)
    op.execute(FILL_TASKS)
    op.execute(FILL_ATTEMPTS)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" if dialect == "sqlite" else
                   f"DROP TRIGGER IF EXISTS {name} ON {table}")
    if dialect != "sqlite":
        op.execute("DROP FUNCTION task_counts_tasks()")
        op.execute("DROP FUNCTION task_counts_attempts()")
    for name, table, _, _ in reversed(LIST_INDEXES):
        op.drop_index(name, table_name=table)
    where = sa.text("client_id IS NOT NULL")
    op.create_index("ix_tasks_client", "tasks", ["client_id", "created_at"],
                    sqlite_where=where, postgresql_where=where)
    # ALTER TABLE ... DROP COLUMN, never a batch's copy of the table.
    op.execute("ALTER TABLE task_tags DROP COLUMN created_at")
    op.drop_index("ix_task_counts_base", table_name="task_counts")
    op.drop_index("ix_task_counts", table_name="task_counts")
    op.drop_table("task_counts")
