"""smaller finished tasks: no task_events.created_at index (old events are pruned by id), and
the claim, lease and destination-host indexes hold only the tasks they serve (queued,
in_progress, queued)

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_task_events_created", table_name="task_events")
    op.drop_index("ix_tasks_lease", table_name="tasks")
    op.drop_index("ix_tasks_dest_host", table_name="tasks")
    op.drop_index("ix_tasks_claim", table_name="tasks")
    in_progress = sa.text("status = 'in_progress'")
    queued = sa.text("status = 'queued'")
    op.create_index("ix_tasks_claim", "tasks",
                    ["status", sa.text("priority_rank DESC"), "queued_at", "id"],
                    sqlite_where=queued, postgresql_where=queued)
    op.create_index("ix_tasks_lease", "tasks", ["status", "lease_expires_at"],
                    sqlite_where=in_progress, postgresql_where=in_progress)
    op.create_index("ix_tasks_dest_host", "tasks", ["status", "dest_host"],
                    sqlite_where=queued, postgresql_where=queued)


def downgrade() -> None:
    op.drop_index("ix_tasks_claim", table_name="tasks")
    op.create_index("ix_tasks_claim", "tasks",
                    ["status", sa.text("priority_rank DESC"), "queued_at", "id"])
    op.drop_index("ix_tasks_dest_host", table_name="tasks")
    op.drop_index("ix_tasks_lease", table_name="tasks")
    op.create_index("ix_tasks_dest_host", "tasks", ["status", "dest_host"])
    op.create_index("ix_tasks_lease", "tasks", ["status", "lease_expires_at"])
    op.create_index("ix_task_events_created", "task_events", ["created_at"])
