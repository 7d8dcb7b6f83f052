"""lookups of one task's events and one entity's audit entries: hash indexes on task_events
.task_id and audit_entries.target_id on PostgreSQL (4-byte hash codes instead of 26-byte ids,
in pages that do not split half-empty); plain single-column indexes on SQLite (a task's events
stay in id order: each entry ends with the rowid, the event id)

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_task_events_task", table_name="task_events")
    op.create_index("ix_task_events_task", "task_events", ["task_id"],
                    postgresql_using="hash")
    op.drop_index("ix_audit_entries_target", table_name="audit_entries")
    op.create_index("ix_audit_entries_target", "audit_entries", ["target_id"],
                    postgresql_using="hash")


def downgrade() -> None:
    op.drop_index("ix_audit_entries_target", table_name="audit_entries")
    op.create_index("ix_audit_entries_target", "audit_entries", ["target_id", "at"])
    op.drop_index("ix_task_events_task", table_name="task_events")
    op.create_index("ix_task_events_task", "task_events", ["task_id", "id"])
