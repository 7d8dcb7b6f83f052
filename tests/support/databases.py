"""Databases for tests: a fresh SQLite file, or a fresh PostgreSQL database.

PostgreSQL tests run whenever 127.0.0.1:5432 answers and are skipped with a reason when it
does not; with ERRANDS_REQUIRE_POSTGRES=1 (set by .ci/run) they fail instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PG_HOST = os.environ.get("ERRANDS_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ERRANDS_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("ERRANDS_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("ERRANDS_TEST_PG_DB", "test")


def postgres_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skip (laptop) or fail (CI) when PostgreSQL is not reachable."""
    if postgres_reachable():
        return
    if os.environ.get("ERRANDS_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required (ERRANDS_REQUIRE_POSTGRES=1) but "
                    f"{PG_HOST}:{PG_PORT} does not answer")
    pytest.skip(f"PostgreSQL not reachable on {PG_HOST}:{PG_PORT}")


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_postgres_database() -> tuple[str, str]:
    """A new empty database; returns (SQLAlchemy URL, database name)."""
    name = f"errands_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}", name


def drop_postgres_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new empty database's SQLAlchemy URL while the block runs; dropped after."""
    url, name = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'errands.db'}"


async def query_plan(conn: Any, dialect: str, query: str) -> str:
    """The plan of ``query`` as one line. On PostgreSQL sequential scans are switched off for
    it: a test table of a few rows would be scanned whole, and the question is whether an
    index can serve the query at all."""
    if dialect == "postgresql":
        await conn.exec_driver_sql("SET enable_seqscan = off")
        plan = " ".join(r[0] for r in await conn.exec_driver_sql("EXPLAIN " + query))
        await conn.exec_driver_sql("RESET enable_seqscan")
        return plan
    return " ".join(r[3] for r in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + query))
