"""progress of a running attempt (CONTRACT §17): tasks.progress

Revision ID: 0015_live
Revises: 0014_flow
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_live"
down_revision = "0014_flow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("progress", sa.JSON))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, never a batch copy of tasks (it cascades to the attempts).
    op.execute("ALTER TABLE tasks DROP COLUMN progress")
