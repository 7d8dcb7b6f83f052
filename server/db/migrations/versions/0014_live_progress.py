"""progress of a running attempt (CONTRACT §17): tasks.progress

Revision ID: 0014_live
Revises: 0013_tasks2
"""
import sqlalchemy as sa
from alembic import op

revision = "0014_live"
down_revision = "0013_tasks2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("progress", sa.JSON))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, never a batch copy of tasks (it cascades to the attempts).
    op.execute("ALTER TABLE tasks DROP COLUMN progress")
