"""who created a task and who last changed its executionConfig: tasks.created_by and
tasks.config_changed_by (REVIEW_SEPARATION, CONTRACT §13); NULL for existing tasks

Revision ID: 0010_approval
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_approval"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("created_by", sa.String(length=200), nullable=True))
    op.add_column("tasks", sa.Column("config_changed_by", sa.String(length=200),
                                  nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+) rather than a batch's copy of the table: the
    # copy drops the old table, and with it (ON DELETE CASCADE) every attempt of every task.
    for column in ("config_changed_by", "created_by"):
        op.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
