"""tasks, continued (CONTRACT §17): tasks.tags and task_tags (the tag filter's index),
tasks.assignee, ix_tasks_manual_queued (manual runs while autorun is paused)

Revision ID: 0013_tasks2
Revises: 0012_inbound
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_tasks2"
down_revision = "0012_inbound"
branch_labels = None
depends_on = None

OPEN_WITH_DEADLINE = ("status IN ('pending', 'awaiting_review', 'scheduled', 'queued', "
                      "'in_progress') AND deadline_missed_at IS NULL "
                      "AND deadline < '9999-12-31 00:00:00'")


def upgrade() -> None:
    op.add_column("tasks", sa.Column("tags", sa.JSON))
    op.add_column("tasks", sa.Column("assignee", sa.String(200)))
    op.create_table(
        "task_tags",
        sa.Column("task_id", sa.String(40), sa.ForeignKey("tasks.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("tag", sa.String(50), primary_key=True),
    )
    op.create_index("ix_task_tags_tag", "task_tags", ["tag", "task_id"])
    op.add_column("tasks", sa.Column("deadline", sa.DateTime(), nullable=False,
                               server_default=sa.text("'9999-12-31 00:00:00'")))
    op.add_column("tasks", sa.Column("deadline_missed_at", sa.DateTime()))
    # The claim index takes deadlines within a priority (CONTRACT §17).
    op.drop_index("ix_tasks_claim", table_name="tasks")
    queued = sa.text("status = 'queued'")
    op.create_index("ix_tasks_claim", "tasks",
                    ["status", sa.text("priority_rank DESC"), "deadline", "queued_at", "id"],
                    sqlite_where=queued, postgresql_where=queued)
    open_ = sa.text(OPEN_WITH_DEADLINE)
    op.create_index("ix_tasks_deadline", "tasks", ["deadline"], sqlite_where=open_,
                    postgresql_where=open_)
    where = sa.text("status = 'queued' AND next_trigger = 'manual'")
    op.create_index("ix_tasks_manual_queued", "tasks", ["status", "next_trigger"],
                    sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_tasks_manual_queued", table_name="tasks")
    op.drop_index("ix_tasks_deadline", table_name="tasks")
    op.drop_index("ix_tasks_claim", table_name="tasks")
    queued = sa.text("status = 'queued'")
    op.create_index("ix_tasks_claim", "tasks",
                    ["status", sa.text("priority_rank DESC"), "queued_at", "id"],
                    sqlite_where=queued, postgresql_where=queued)
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+) rather than a batch's copy of the table: the
    # copy drops the old table, and with it (ON DELETE CASCADE) every attempt of every task.
    for column in ("deadline_missed_at", "deadline"):
        op.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
    op.drop_index("ix_task_tags_tag", table_name="task_tags")
    op.drop_table("task_tags")
    for column in ("assignee", "tags"):
        op.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
