"""inbound (CONTRACT §16): triggers and the calls they received, callback tokens, approval links

Revision ID: 0012_inbound
Revises: 0011_clients
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_inbound"
down_revision = "0011_clients"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("review_expires_at", sa.DateTime()))
    op.add_column("tasks", sa.Column("review_expires_in", sa.Integer))
    op.add_column("tasks", sa.Column("approvals_required", sa.SmallInteger, nullable=False,
                               server_default="1"))
    op.add_column("tasks", sa.Column("approvals", sa.JSON))
    op.create_table(
        "triggers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("verify", sa.String(20), nullable=False),
        sa.Column("client_id", sa.String(40)),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("template", sa.JSON, nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_received_at", sa.DateTime()),
    )
    op.create_index("ix_triggers_created", "triggers", ["created_at", "id"])
    op.create_table(
        "trigger_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trigger_id", sa.String(40),
                  sa.ForeignKey("triggers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("task_id", sa.String(40)),
        sa.Column("error", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_trigger_deliveries_trigger", "trigger_deliveries", ["trigger_id", "id"])
    op.create_table(
        "task_callbacks",
        sa.Column("task_id", sa.String(40), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime()),
    )
    op.create_table(
        "approval_links",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("task_id", sa.String(40), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime()),
    )
    op.create_index("ix_approval_links_task", "approval_links", ["task_id"])


def downgrade() -> None:
    op.drop_table("approval_links")
    op.drop_table("task_callbacks")
    op.drop_table("trigger_deliveries")
    op.drop_table("triggers")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+) rather than a batch's copy of the table:
    # dropping the old tasks table would cascade to task_executions.
    for column in ("approvals", "approvals_required", "review_expires_in", "review_expires_at"):
        op.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
