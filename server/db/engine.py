"""The database: engine per dialect, the write discipline, and migrations at start.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every write goes
through one asyncio lock — a single writer — so concurrent requests never meet "database is
locked"; reads run beside it. PostgreSQL needs no lock: row locks and ``FOR UPDATE SKIP
LOCKED`` claims let several processes share the work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK = 0x45_52_52_41  # "ERRA": one node migrates at a time


def _json_serializer(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class Database:
    """The engine plus the write discipline. Use ``write()`` for every transaction that writes."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        kwargs: dict[str, Any] = {
            "echo": echo,
            "json_serializer": _json_serializer,
            "json_deserializer": msgspec.json.decode,
        }
        if self.dialect == "sqlite":
            self._ensure_sqlite_dir(url)
            kwargs["pool_size"] = 8
            kwargs["connect_args"] = {"timeout": 10}
        else:
            kwargs["pool_size"] = 10
            kwargs["max_overflow"] = 20
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    @staticmethod
    def _ensure_sqlite_dir(url: str) -> None:
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed on exit, rolled back on error."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def migrate(self) -> None:
        """Apply Alembic migrations up to head (one node at a time on PostgreSQL)."""

        def upgrade(sync_conn: sa.Connection) -> None:
            command.upgrade(alembic_config(sync_conn), "head")

        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                                   {"k": _ADVISORY_LOCK})
            await conn.run_sync(upgrade)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
