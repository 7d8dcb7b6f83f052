"""``python -m server rebuild <what>``: build a derived index again from the tables it
derives from, on the DATABASE_URL of the settings (the database migrated first), then exit.

- ``rollups``: the hourly rollups of the reports and the overview (server/db/rollups.py) —
  should they ever disagree with the tasks (a change made with the triggers dropped);
  PostgreSQL writers of tasks and attempts wait until it commits.
- ``search``: the text index of tasks (server/db/text_search.py) — on SQLite after a
  ``VACUUM``, which may renumber the rowids the FTS5 index is keyed by.

Safe while nodes serve: each rebuild is one write transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection

from server.core.settings import Settings
from server.db import rollups, text_search
from server.db.engine import Database

REBUILDS: Final[dict[str, Callable[[AsyncConnection], Awaitable[object]]]] = {
    "rollups": rollups.rollups_rebuild,
    "search": text_search.search_rebuild,
}


async def rebuild(settings: Settings, what: str) -> None:
    """Rebuild ``what`` (a key of :data:`REBUILDS`)."""
    db = Database(settings.database_url, timeout_seconds=3600)
    try:
        await db.migrate()
        async with db.write() as conn:
            await REBUILDS[what](conn)
    finally:
        await db.dispose()
