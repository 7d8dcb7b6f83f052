"""Alembic environment: uses the connection handed over by Database.migrate(), or, from the
command line (``alembic -c alembic.ini upgrade head``), DATABASE_URL from the environment/.env."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from server.db.tables import metadata


def run_with(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_from_settings() -> None:
    from server.core.settings import Settings
    from server.db.engine import Database

    async def go() -> None:
        db = Database(Settings.from_env().database_url)
        async with db.engine.begin() as conn:
            await conn.run_sync(run_with)
        await db.dispose()

    asyncio.run(go())


connection = context.config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    run_from_settings()
