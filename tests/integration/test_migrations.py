"""The Alembic migrations build exactly the schema of server/db/tables.py, on SQLite and PostgreSQL.

A fresh database is migrated to head the way the server does at start, then alembic's
autogenerate compares it with ``tables.metadata``: any difference (a column, a type, a
nullable, a default, an index, a table) is a migration that is missing or wrong.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server.db.engine import Database
from server.db.tables import metadata

CLAIM_INDEX = "ix_tasks_claim"


def _is_claim_index_reflection(diff: Any) -> bool:
    """The claim index has an expression column (``priority_rank DESC``); SQLite reflects it
    as the plain column ``priority_rank``, so autogenerate reports the index as removed and
    added again although it is the same. Only exactly that pair is ignored; the test below
    checks the DESC in the database itself."""
    return (isinstance(diff, tuple) and diff[0] in ("remove_index", "add_index")
            and diff[1].name == CLAIM_INDEX)


async def _differences(url: str) -> list[Any]:
    db = Database(url)
    try:
        await db.migrate()

        def compare(conn: sa.Connection) -> list[Any]:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True})
            return list(compare_metadata(context, metadata))

        async with db.engine.connect() as conn:
            found = await conn.run_sync(compare)
            if db.is_sqlite:
                found = [d for d in found if not _is_claim_index_reflection(d)]
                rows = (await conn.exec_driver_sql(
                    f"PRAGMA index_xinfo('{CLAIM_INDEX}')")).all()
                # (seqno, cid, name, desc, coll, key): priority_rank must be descending
                assert [(r[2], r[3]) for r in rows if r[5]][:2] == [
                    ("status", 0), ("priority_rank", 1)]
            else:
                definition = (await conn.execute(sa.text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                    {"name": CLAIM_INDEX})).scalar_one()
                assert "priority_rank DESC" in definition
        return found
    finally:
        await db.dispose()


async def test_migrations_match_the_tables(database_url: str) -> None:
    assert await _differences(database_url) == []
