"""claim index in the claim's own order (priority desc, then oldest first)

The claim orders by priority_rank DESC, queued_at, id; an index in that order lets it read the
first N rows instead of sorting every queued task (which made large bursts slow).

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_tasks_claim", table_name="tasks")
    op.create_index("ix_tasks_claim", "tasks",
                    ["status", sa.text("priority_rank DESC"), "queued_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_claim", table_name="tasks")
    op.create_index("ix_tasks_claim", "tasks", ["status", "priority_rank", "queued_at"])
