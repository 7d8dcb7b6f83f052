"""attempts that completed their task share its values: task_executions.output_is_result and
input_is_config (the output / input column is then NULL and read from the task row)

Existing rows keep their own copies (both flags false) and read as before; rows of completed
tasks whose copies equal the task's are converted, so an existing database stops carrying them
(the space is reused by new rows; VACUUM gives it back to the file system).

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_executions") as batch_op:
        batch_op.add_column(sa.Column("output_is_result", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("input_is_config", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    # Outputs only: an input is the config *masked*, which SQL cannot compute, so existing
    # inputs stay. Compared as text (json has no equality on PostgreSQL, and jsonb's would
    # call 1 and 1.0 equal): both sides were written by the same encoder.
    op.execute("""
        UPDATE task_executions SET output = NULL, output_is_result = true
        WHERE id IN (SELECT te.id FROM task_executions te JOIN tasks t ON t.id = te.task_id
                     WHERE te.status = 'success' AND t.status = 'completed'
                       AND te.output IS NOT NULL AND t.result IS NOT NULL
                       AND CAST(te.output AS TEXT) = CAST(t.result AS TEXT))""")


def downgrade() -> None:
    from schemas.secrets import mask_config  # the one masking rule (an input never holds a secret)

    conn = op.get_bind()
    op.execute("""
        UPDATE task_executions SET output = (SELECT t.result FROM tasks t
                                             WHERE t.id = task_executions.task_id)
        WHERE output_is_result""")
    te = sa.table("task_executions", sa.column("id"), sa.column("task_id"),
                  sa.column("input", sa.JSON), sa.column("input_is_config"))
    t = sa.table("tasks", sa.column("id"), sa.column("task_type"),
                 sa.column("execution_config", sa.JSON))
    rows = conn.execute(sa.select(te.c.id, t.c.task_type, t.c.execution_config)
                        .join(t, t.c.id == te.c.task_id).where(te.c.input_is_config)).all()
    for row in rows:
        conn.execute(te.update().where(te.c.id == row.id).values(
            input=mask_config(row.task_type, row.execution_config)))
    with op.batch_alter_table("task_executions") as batch_op:
        batch_op.drop_column("input_is_config")
        batch_op.drop_column("output_is_result")
