"""groups (CONTRACT §17): tasks.parent_id (a subtask's group), tasks.group_policy and
tasks.children (a group's subtasks counted), ix_tasks_parent

Revision ID: 0017_groups
Revises: 0016_backlog
"""
import sqlalchemy as sa
from alembic import op

revision = "0017_groups"
down_revision = "0016_backlog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("parent_id", sa.String(40)))
    op.add_column("tasks", sa.Column("group_policy", sa.String(16)))
    op.add_column("tasks", sa.Column("children", sa.JSON))
    where = sa.text("parent_id IS NOT NULL")
    op.create_index("ix_tasks_parent", "tasks", ["parent_id", "status"], sqlite_where=where,
                    postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_tasks_parent", table_name="tasks")
    # ALTER TABLE ... DROP COLUMN, never a batch's copy of the table (it would cascade-delete
    # every attempt of every task).
    for column in ("children", "group_policy", "parent_id"):
        op.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
