"""flow control (CONTRACT §15): tasks' concurrency and rate-limit keys, debounce, retry
policy, fair tags and lanes (the claim index orders by fair_tag within a deadline); tables
rate_limits and rate_limit_starts

Revision ID: 0014_flow
Revises: 0013_tasks2
"""
import sqlalchemy as sa
from alembic import op

revision = "0014_flow"
down_revision = "0013_tasks2"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("tasks", sa.Column("concurrency_key", sa.String(200)))
    op.add_column("tasks", sa.Column("concurrency_limit", sa.Integer))
    op.add_column("tasks", sa.Column("rate_limit_key", sa.String(200)))
    op.add_column("tasks", sa.Column("debounce", sa.JSON))
    op.add_column("tasks", sa.Column("debounce_key", sa.String(200)))
    op.add_column("tasks", sa.Column("retry_policy", sa.JSON))
    op.add_column("tasks", sa.Column("lane", sa.BigInteger, nullable=False,
                                     server_default="0"))
    op.add_column("tasks", sa.Column("fair_tag", sa.BigInteger, nullable=False,
                                     server_default="0"))
    queued = sa.text("status = 'queued'")
    op.drop_index("ix_tasks_claim", table_name="tasks")
    op.create_index("ix_tasks_claim", "tasks",
                    ["status", sa.text("priority_rank DESC"), "deadline", "fair_tag",
                     "queued_at", "id"],
                    sqlite_where=queued, postgresql_where=queued)
    op.create_index("ix_tasks_lane", "tasks", ["lane", "fair_tag"], sqlite_where=queued,
                    postgresql_where=queued)
    key = sa.text("status = 'in_progress' AND concurrency_key IS NOT NULL")
    op.create_index("ix_tasks_running_key", "tasks", ["concurrency_key"], sqlite_where=key,
                    postgresql_where=key)
    client = sa.text("status = 'in_progress' AND client_id IS NOT NULL")
    op.create_index("ix_tasks_running_client", "tasks", ["client_id"], sqlite_where=client,
                    postgresql_where=client)
    debounce = sa.text("status = 'scheduled' AND debounce_key IS NOT NULL")
    op.create_index("ix_tasks_debounce", "tasks", ["debounce_key"], unique=True,
                    sqlite_where=debounce, postgresql_where=debounce)
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("limit", sa.Integer, nullable=False),
        sa.Column("period_seconds", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "rate_limit_starts",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_rate_limit_starts_key", "rate_limit_starts", ["key", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_rate_limit_starts_key", table_name="rate_limit_starts")
    op.drop_table("rate_limit_starts")
    op.drop_table("rate_limits")
    for name in ("ix_tasks_debounce", "ix_tasks_running_client", "ix_tasks_running_key",
                 "ix_tasks_lane", "ix_tasks_claim"):
        op.drop_index(name, table_name="tasks")
    queued = sa.text("status = 'queued'")
    op.create_index("ix_tasks_claim", "tasks",
                    ["status", sa.text("priority_rank DESC"), "deadline", "queued_at", "id"],
                    sqlite_where=queued, postgresql_where=queued)
    # ALTER TABLE ... DROP COLUMN, never a batch copy of tasks (it cascades to attempts).
    for column in ("fair_tag", "lane", "retry_policy", "debounce_key", "debounce",
                   "rate_limit_key", "concurrency_limit", "concurrency_key"):
        op.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
