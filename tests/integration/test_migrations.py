"""The Alembic migrations build exactly the schema of server/db/tables.py, on SQLite and PostgreSQL.

A fresh database is migrated to head the way the server does at start, then alembic's
autogenerate compares it with ``tables.metadata``: any difference (a column, a type, a
nullable, a default, an index, a table) is a migration that is missing or wrong.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server.db.engine import Database, alembic_config, migrations_head
from server.db.tables import metadata
from server.db.text_search import SEARCH_OBJECTS

CLAIM_INDEX = "ix_tasks_claim"
ROOT = Path(__file__).resolve().parents[2]


def _is_claim_index_reflection(diff: Any) -> bool:
    """The claim index has an expression column (``priority_rank DESC``); SQLite reflects it
    as the plain column ``priority_rank``, so autogenerate reports the index as removed and
    added again although it is the same. Only exactly that pair is ignored; the test below
    checks the DESC in the database itself."""
    return (isinstance(diff, tuple) and diff[0] in ("remove_index", "add_index")
            and diff[1].name == CLAIM_INDEX)


def _not_text_search(name: str | None, _type: str, _parent: Any) -> bool:
    """The text index is no table of tables.py: FTS5's table (and its shadow tables
    ``tasks_fts_*``) on SQLite, an expression index on PostgreSQL (test_text_search.py)."""
    return name is None or not (name in SEARCH_OBJECTS or name.startswith("tasks_fts_"))


async def _differences(url: str) -> list[Any]:
    db = Database(url)
    try:
        await db.migrate()

        def compare(conn: sa.Connection) -> list[Any]:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True,
                            "include_name": _not_text_search})
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


def test_migrations_head_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    assert migrations_head() == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_a_database_at_head_starts_without_alembic_or_cryptography(
        database_url: str) -> None:
    """The second start (database at head) imports neither Alembic nor cryptography, which
    would stay resident for the life of the process (~15 MB); the first start migrates."""
    db = Database(database_url)
    try:
        assert await db.migrations_current() is None
        await db.migrate()
        assert await db.migrations_current() == migrations_head()
    finally:
        await db.dispose()
    script = textwrap.dedent("""
        import asyncio, sys
        from server.node.app import create_app
        from server.core.settings import Settings

        async def main():  # the whole ASGI lifespan: startup (migrate ...), then shutdown
            app = create_app(Settings.from_env())
            events = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
            sent = []
            async def receive():
                return events.pop(0)
            async def send(message):
                sent.append(message["type"])
            await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                      receive, send)
            assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"], sent

        asyncio.run(main())
        print(sorted(m for m in ("alembic", "cryptography") if m in sys.modules))
        """)
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT),
           "ERRANDS_SECRET_KEY": "k"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
