"""tasks, continued (CONTRACT §17): tasks.tags and task_tags (the tag filter's index),
tasks.assignee, ix_tasks_manual_queued (manual runs while autorun is paused)

Revision ID: 0010_tasks2
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_tasks2"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("tags", sa.JSON))
        batch.add_column(sa.Column("assignee", sa.String(200)))
    op.create_table(
        "task_tags",
        sa.Column("task_id", sa.String(40), sa.ForeignKey("tasks.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("tag", sa.String(50), primary_key=True),
    )
    op.create_index("ix_task_tags_tag", "task_tags", ["tag", "task_id"])
    where = sa.text("status = 'queued' AND next_trigger = 'manual'")
    op.create_index("ix_tasks_manual_queued", "tasks", ["status", "next_trigger"],
                    sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_tasks_manual_queued", table_name="tasks")
    op.drop_index("ix_task_tags_tag", table_name="task_tags")
    op.drop_table("task_tags")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("assignee")
        batch.drop_column("tags")
