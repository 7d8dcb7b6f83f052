"""The PostgreSQL read path: autocommit reads, and pinging only connections that sat idle."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from server.db import engine as engine_module
from server.db.engine import Database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url)
    try:
        yield database
    finally:
        await database.dispose()


async def _in_transaction(conn: sa.ext.asyncio.AsyncConnection) -> bool:
    raw = await conn.get_raw_connection()
    return bool(raw.driver_connection.is_in_transaction())  # type: ignore[union-attr]


async def _backend_pid(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def test_reads_run_outside_a_transaction_and_writes_inside_one(db: Database) -> None:
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
        assert not await _in_transaction(conn)
    async with db.write() as conn:
        await conn.execute(sa.text("SELECT 1"))
        assert await _in_transaction(conn)
    # the pooled connection went back to its default: a plain connect() begins again
    async with db.engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
        assert await _in_transaction(conn)


async def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async with db.engine.connect() as other:  # held: the pool has one other connection
        pid = await _backend_pid(db)
        await other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await other.commit()
        monkeypatch.setattr(engine_module, "PING_IDLE_SECONDS", 0.0)  # all count as idle
        assert await _backend_pid(db) != pid  # pinged, found dead, replaced: no error
        assert await db.ping()


async def test_a_recently_used_connection_is_not_pinged_but_the_pool_recovers(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "PING_IDLE_SECONDS", 3600.0)
    async with db.engine.connect() as other:
        pid = await _backend_pid(db)
        await other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await other.commit()
        with pytest.raises(DBAPIError):  # the one use of the dead connection fails ...
            await _backend_pid(db)
        assert await _backend_pid(db) != pid  # ... the pool was invalidated: the next works


@pytest.mark.parametrize("query", ["", "?prepared_statement_cache_size=7"])
async def test_prepared_statements_per_connection_are_bounded(pg_url: str, query: str) -> None:
    """Each connection keeps at most PREPARED_STATEMENTS_PER_CONNECTION statements (RSS
    stays flat as list lengths vary), unless DATABASE_URL says otherwise."""
    database = Database(pg_url + query)
    try:
        async with database.engine.connect() as conn:
            for n in range(1, 40):  # forty lengths of one IN list: forty statements
                await conn.execute(sa.select(sa.literal(1)).where(
                    sa.literal(1).in_(list(range(n)))))
            raw = await conn.get_raw_connection()
            cache = raw.dbapi_connection._prepared_statement_cache
            expected = 7 if query else engine_module.PREPARED_STATEMENTS_PER_CONNECTION
            assert cache.capacity == expected
            # SQLAlchemy's LRU trims in steps, to its capacity once 1.5 times over it
            assert len(cache) <= expected * 1.5 < 39
    finally:
        await database.dispose()
