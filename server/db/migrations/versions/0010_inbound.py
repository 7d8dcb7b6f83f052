"""inbound (CONTRACT §16): triggers and the calls they received

Revision ID: 0010_inbound
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_inbound"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_table("trigger_deliveries")
    op.drop_table("triggers")
