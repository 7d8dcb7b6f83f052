"""``python -m server <command>``: one-off operations on the database, run beside the nodes."""

from __future__ import annotations

from server.core.settings import Settings
from server.db.counts import rebuild
from server.db.engine import Database


async def rebuild_counts(settings: Settings) -> dict[tuple[str, str], int]:
    """``counts --rebuild``: system.stats' kept counts recounted from the tables (migrating
    the database first, as a starting node would)."""
    db = Database(settings.database_url, timeout_seconds=settings.db_timeout_seconds)
    try:
        await db.migrate()
        return await rebuild(db)
    finally:
        await db.dispose()
