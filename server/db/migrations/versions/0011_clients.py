"""clients, connections, api_keys, ghl_rate_slots; tasks.client_id, schedules.client_id
(CONTRACT §14)

Revision ID: 0010_clients
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_clients"
down_revision = "0010_approval"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("slug", sa.String(60), nullable=False, unique=True),
        sa.Column("ghl_location_id", sa.String(200)),
        sa.Column("meta", sa.JSON),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("archived_at", sa.DateTime()),
    )
    op.create_index("ix_clients_created", "clients", ["created_at", "id"])
    op.create_table(
        "connections",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(60), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(40)),
        sa.Column("description", sa.Text),
        sa.Column("values_sealed", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime()),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("client_id", sa.String(40)),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime()),
        sa.Column("revoked_at", sa.DateTime()),
    )
    op.create_table(
        "ghl_rate_slots",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("location_id", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ghl_rate_slots_location", "ghl_rate_slots",
                    ["location_id", "expires_at"])
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("client_id", sa.String(40)))
    op.create_index("ix_tasks_client", "tasks", ["client_id", "created_at"],
                    sqlite_where=sa.text("client_id IS NOT NULL"),
                    postgresql_where=sa.text("client_id IS NOT NULL"))
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("client_id", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("schedules") as batch:
        batch.drop_column("client_id")
    op.drop_index("ix_tasks_client", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("client_id")
    op.drop_index("ix_ghl_rate_slots_location", table_name="ghl_rate_slots")
    op.drop_table("ghl_rate_slots")
    op.drop_table("api_keys")
    op.drop_table("connections")
    op.drop_index("ix_clients_created", table_name="clients")
    op.drop_table("clients")
