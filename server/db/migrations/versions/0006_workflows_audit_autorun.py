"""workflows: audit_entries, system_settings, tasks.stalled_since, task_executions.input

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(40)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("request_id", sa.String(200)),
    )
    op.create_index("ix_audit_entries_at", "audit_entries", ["at", "id"])
    op.create_index("ix_audit_entries_target", "audit_entries", ["target_id", "at"])
    op.create_table(
        "system_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("stalled_since", sa.DateTime()))
    with op.batch_alter_table("task_executions") as batch:
        batch.add_column(sa.Column("input", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("task_executions") as batch:
        batch.drop_column("input")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("stalled_since")
    op.drop_table("system_settings")
    op.drop_index("ix_audit_entries_target", table_name="audit_entries")
    op.drop_index("ix_audit_entries_at", table_name="audit_entries")
    op.drop_table("audit_entries")
