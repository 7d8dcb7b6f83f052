"""claim caps and lost attempts: tasks.dest_host (indexed) and tasks.lost_streak

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("lost_streak", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("dest_host", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_tasks_dest_host", ["status", "dest_host"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index("ix_tasks_dest_host")
        batch_op.drop_column("dest_host")
        batch_op.drop_column("lost_streak")
