"""task_events by task: a hash index on task_id on PostgreSQL (a plain index on SQLite, whose
entries end with the rowid, the event id, as the (task_id, id) index's did)

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_task_events_task", table_name="task_events")
    op.create_index("ix_task_events_task", "task_events", ["task_id"],
                    postgresql_using="hash")


def downgrade() -> None:
    op.drop_index("ix_task_events_task", table_name="task_events")
    op.create_index("ix_task_events_task", "task_events", ["task_id", "id"])
