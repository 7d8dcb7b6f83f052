"""flow control, continued (CONTRACT §15 statusReason): partial indexes on the queued
backlog of each rate-limit key and concurrency key, through which a key found used up or
full gives every task waiting on it its reason

Revision ID: 0016_backlog
Revises: 0015_live
"""
import sqlalchemy as sa
from alembic import op

revision = "0016_backlog"
down_revision = "0015_live"
branch_labels = None
depends_on = None

_INDEXES = (("ix_tasks_rate_queued", "rate_limit_key"),
            ("ix_tasks_key_queued", "concurrency_key"))


def upgrade() -> None:
    for name, column in _INDEXES:
        where = sa.text(f"status = 'queued' AND {column} IS NOT NULL")
        op.create_index(name, "tasks", [column], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, _ in _INDEXES:
        op.drop_index(name, table_name="tasks")
