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
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("config_changed_by", sa.String(length=200),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("config_changed_by")
        batch_op.drop_column("created_by")
