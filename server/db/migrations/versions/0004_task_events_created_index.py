"""index task_events.created_at, for pruning old events without a full scan

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_task_events_created", "task_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_task_events_created", table_name="task_events")
