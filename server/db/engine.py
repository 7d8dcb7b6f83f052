"""The database: engine per dialect, the write discipline, and migrations at start.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every write goes
through one asyncio lock — a single writer — so concurrent requests never meet "database is
locked"; reads run beside it. PostgreSQL needs no lock: row locks and ``FOR UPDATE SKIP
LOCKED`` claims let several processes share the work.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from server.core.errors import DatabaseTimeout, database_unavailable, storage_unavailable
from server.db.shared_reads import SharedCall
from server.db.sqlite_driver import OneTripDBAPI, statements_on_loop

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("errands")
MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK = 0x45_52_52_41  # "ERRA": one node migrates at a time
# The key space of node identities (pg_try_advisory_lock(space, hashtext(NODE_ID))): a
# two-key lock never meets the one-key migration lock above.
_IDENTITY_LOCKS = 0x4E_4F_44_45  # "NODE"
# A pooled PostgreSQL connection idle longer than this is pinged before use (a ping through
# SQLAlchemy's asyncpg adapter is BEGIN; ";"; ROLLBACK — three round trips, too dear per call).
PING_IDLE_SECONDS = 5.0
# Prepared statements kept per PostgreSQL connection (asyncpg's LRU; its default is 100). A
# statement over a list (IN, multi-row VALUES) is a new one for each length, so with 100 a
# slot, connections kept preparing and holding variants and RSS kept growing with the number
# of tasks (docs/performance.md, P6). The hot statements are far fewer than this and stay
# cached. Overridden by ``?prepared_statement_cache_size=`` in DATABASE_URL.
PREPARED_STATEMENTS_PER_CONNECTION = 24


WAL_BACKSTOP_PAGES = 10_000  # about 40 MB of WAL (SQLite's own default: 1,000 pages)


def _json_serializer(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Checkpoints are the node's maintenance's (Database.checkpoint, every second), off the
    # write path: an automatic one runs in the commit that crosses the threshold, inside the
    # server's write lock, so every claim and create waited for it to copy pages into the
    # database file and fsync it. This threshold is only the backstop, should the node's
    # checkpoints stop (or a process other than a node write a lot).
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
    cursor.close()


def _pg_on_checkin(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        record.info["errands_idle_since"] = time.monotonic()


def _pg_on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Pessimistic disconnect handling, but only for connections that sat idle a while.

    A connection used within ``PING_IDLE_SECONDS`` is taken as is; an older one is pinged and,
    if dead, replaced (``DisconnectionError`` makes the pool retry with a new connection). A
    database restart between two uses is still caught by SQLAlchemy's disconnect detection,
    which invalidates the whole pool on the first error.
    """
    idle_since = record.info.get("errands_idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_IDLE_SECONDS:
        return
    try:
        dbapi_conn.ping()
    except Exception as error:
        raise exc.DisconnectionError(f"stale pooled connection: {error}") from error


def alembic_config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config  # only when migrating: see migrations_head

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def migrations_head() -> str:
    """The head revision, read from the migration files without importing Alembic: importing
    it (with Mako) keeps megabytes resident for the life of the process, and a server whose
    database is already at head (every start but the first) needs nothing else from it.
    Each file names its ``revision`` and ``down_revision``; the head is the one revision no
    other file revises. A history this cannot read (no single head) is a ``RuntimeError``;
    tests/integration/test_migrations.py checks the answer against Alembic's own."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = {target.id: ast.literal_eval(node.value)
                 for node in ast.parse(path.read_text()).body if isinstance(node, ast.Assign)
                 for target in node.targets
                 if isinstance(target, ast.Name)
                 and target.id in ("revision", "down_revision")}
        if not isinstance(found.get("revision"), str):
            raise RuntimeError(f"{path.name} names no revision")
        revisions.add(found["revision"])
        if found.get("down_revision") is not None:
            revised.add(found["down_revision"])
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


class Faults:
    """What the database's failures say right now (CONTRACT §13): ``storage`` while the last
    write failed for want of storage (disk full, read-only), ``outage`` while it does not
    answer. Each period is logged once: a warning when it begins, a line when it ends."""

    def __init__(self) -> None:
        self.storage = False
        self.outage = False

    def failed(self, exc: BaseException) -> None:
        if storage_unavailable(exc):
            if not self.storage:
                self.storage = True
                # The driver's message only: the statement's parameters may hold secrets.
                orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
                log.warning("storage unavailable (disk full or database read-only): "
                            "answering SERVICE_UNAVAILABLE and retrying until it takes "
                            "writes again (%s: %s)", type(orig).__name__, orig)
        elif database_unavailable(exc) and not self.outage:
            self.outage = True
            log.warning("the database is unavailable (%s): answering SERVICE_UNAVAILABLE "
                        "until it answers again", type(exc).__name__)

    def answered(self, *, wrote: bool) -> None:
        if self.outage:
            self.outage = False
            log.info("the database answers again")
        if wrote:
            self.wrote()

    def wrote(self) -> None:
        if self.storage:
            self.storage = False
            log.info("storage takes writes again")


class Database:
    """The engine plus the write discipline. Use ``write()`` for every transaction that writes."""

    def __init__(self, url: str, *, echo: bool = False, timeout_seconds: float = 5.0) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        # PostgreSQL (CONTRACT §13): connection, pool wait and statements together; a use of
        # the database that outlives it is cut (its connection closed) and answers 503.
        self.timeout_seconds = timeout_seconds
        self.faults = Faults()
        kwargs: dict[str, Any] = {
            "echo": echo,
            "json_serializer": _json_serializer,
            "json_deserializer": msgspec.json.decode,
        }
        if self.dialect == "sqlite":
            self._ensure_sqlite_dir(url)
            kwargs["module"] = OneTripDBAPI()  # a statement is one trip to aiosqlite's thread
            # No rollback on return to the pool: every use ends its transaction itself
            # (engine.begin() commits or rolls back, a closed Connection rolls back what it
            # began), and on aiosqlite the pool's extra rollback was one more trip to the
            # database thread after each commit — before the runner was woken for new work.
            kwargs["pool_reset_on_return"] = None
            kwargs["pool_size"] = 8
            # Used by the loop's thread and aiosqlite's, one at a time (sqlite_driver).
            kwargs["connect_args"] = {"timeout": 10, "check_same_thread": False}
        else:
            # At most 30 connections, as before (10 + 20 overflow), but all kept once opened:
            # overflow connections were closed on return and reopened under the next burst
            # (a connect, a TLS probe and fresh prepared statements each time).
            kwargs["pool_size"] = 30
            kwargs["max_overflow"] = 0
            kwargs["pool_timeout"] = timeout_seconds
            # The server's side of the bound: a transaction whose client fell silent (a
            # partition) is rolled back, so statements held in the network and delivered
            # after the client gave up (and answered 503) are never committed.
            connect_args: dict[str, Any] = {"timeout": timeout_seconds, "server_settings": {
                "idle_in_transaction_session_timeout": str(int(timeout_seconds * 1000))}}
            if "prepared_statement_cache_size" not in sa.engine.make_url(url).query:
                connect_args["prepared_statement_cache_size"] = PREPARED_STATEMENTS_PER_CONNECTION
            kwargs["connect_args"] = connect_args
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        # Reads on PostgreSQL run in autocommit: one round trip per SELECT instead of
        # BEGIN + SELECT + ROLLBACK. Every read is a plain SELECT under READ COMMITTED, where
        # each statement takes its own snapshot anyway, so what a read sees is unchanged.
        # (SQLite's driver issues no BEGIN before a SELECT, so it keeps the plain engine.)
        self._read_engine: AsyncEngine = self.engine
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
        else:
            event.listen(self.engine.sync_engine, "checkin", _pg_on_checkin)
            event.listen(self.engine.sync_engine, "checkout", _pg_on_checkout)
            self._read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._pings = SharedCall(self._ping_once)
        self._held: list[AsyncConnection] = []  # connections holding session locks

    @staticmethod
    def _ensure_sqlite_dir(url: str) -> None:
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def write(self, *, on_loop: bool = False) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed on exit, rolled back on error.

        ``on_loop`` (SQLite): its statements run on the event loop's thread, not aiosqlite's
        (server/db/sqlite_driver.py) — for the short transactions of the hot path (the
        writer's: creates, claims, records); a long one (pruning) would hold the loop.
        PostgreSQL: bounded by ``timeout_seconds`` (:meth:`_bounded`)."""
        if self._write_lock is None:
            async with self._bounded(self.engine, begin=True) as conn:
                yield conn
            return
        try:
            async with self._write_lock, self.engine.begin() as conn:
                if on_loop:
                    async with statements_on_loop(conn):
                        yield conn
                else:
                    yield conn
        except Exception as exc:
            self.faults.failed(exc)
            raise
        self.faults.wrote()

    async def checkpoint(self) -> tuple[int, int, int] | None:
        """SQLite: copy what the WAL holds into the database file (PRAGMA wal_checkpoint
        PASSIVE, on a reading connection: writers go on meanwhile, and no write lock of the
        server's is taken); ``(busy, frames in the WAL, frames copied)``. PostgreSQL: None."""
        if not self.is_sqlite:
            return None
        async with self.read() as conn:
            busy, frames, copied = tuple((await conn.exec_driver_sql(
                "PRAGMA wal_checkpoint(PASSIVE)")).one())
        return int(busy), int(frames), int(copied)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for SELECTs only (autocommit on PostgreSQL): never write through it."""
        if self._write_lock is None:
            async with self._bounded(self._read_engine, begin=False) as conn:
                yield conn
            return
        async with self._read_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def _bounded(self, engine: AsyncEngine, *, begin: bool
                       ) -> AsyncIterator[AsyncConnection]:
        """A PostgreSQL connection (a transaction if ``begin``) that lives at most
        ``timeout_seconds`` from now: the pool wait and the connect are cancelled at the
        deadline, and a use still running then has its connection closed under it (no
        ROLLBACK round trip into a partition), so it fails at once: ``DatabaseTimeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds
        conn = engine.connect()
        try:
            async with asyncio.timeout_at(deadline):
                await conn.start()
        except TimeoutError:
            self.faults.failed(DatabaseTimeout())
            raise DatabaseTimeout() from None
        except Exception as exc:
            self.faults.failed(exc)
            raise
        cut = False

        def cut_off() -> None:
            # Found only now (rarely needed): get_raw_connection() would cost a greenlet
            # switch for every transaction.
            nonlocal cut
            cut = True
            try:
                driver: Any = conn.sync_connection.connection.driver_connection \
                    if conn.sync_connection is not None else None
            except sa.exc.SQLAlchemyError:  # already invalidated: nothing left to close
                return
            if driver is not None:
                driver.terminate()  # asyncpg's Connection: closed at once, no round trip

        timer = loop.call_at(deadline, cut_off)
        try:
            if begin:
                async with conn.begin():
                    yield conn
            else:
                yield conn
        except Exception as exc:
            error: Exception = DatabaseTimeout() if cut else exc
            self.faults.failed(error)
            if cut:
                raise error from exc
            raise
        finally:
            timer.cancel()
            await asyncio.shield(conn.close())
        if cut:  # it ended after the cut without noticing: its commit did not happen
            self.faults.failed(DatabaseTimeout())
            raise DatabaseTimeout()
        self.faults.answered(wrote=begin)

    async def migrate(self) -> None:
        """Apply Alembic migrations up to head (one node at a time on PostgreSQL). A database
        already at head is left alone without importing Alembic (``migrations_head``)."""
        if await self.migrations_current() == migrations_head():
            return

        def upgrade(sync_conn: sa.Connection) -> None:
            from alembic import command

            command.upgrade(alembic_config(sync_conn), "head")

        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Waiting for another node's migration, or importing Alembic, is no outage.
                await conn.execute(sa.text("SET LOCAL idle_in_transaction_session_timeout = 0"))
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                                   {"k": _ADVISORY_LOCK})
            await conn.run_sync(upgrade)

    async def migrations_current(self) -> str | None:
        """The revision the database is at; None before the first migration."""
        exists = ("SELECT to_regclass('alembic_version') IS NOT NULL"
                  if self.dialect == "postgresql" else
                  "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                  " AND name = 'alembic_version'")
        async with self._read_engine.connect() as conn:
            if not await conn.scalar(sa.text(exists)):
                return None
            version = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
            return None if version is None else str(version)

    async def storage_writable(self) -> bool:
        """After a storage fault: whether a write gets through now (one no-op UPDATE), for
        /readyz; True at once while no fault is known."""
        if not self.faults.storage:
            return True
        try:
            async with self.write() as conn:
                await conn.execute(sa.text(
                    "UPDATE alembic_version SET version_num = version_num"))
        except Exception:
            return False
        return True

    async def ping(self) -> bool:
        """Whether the database answers a ``SELECT 1`` (the pings asked for in the same loop
        turn share one: server/db/shared_reads.py)."""
        return await self._pings.call()

    async def _ping_once(self) -> bool:
        try:
            async with self._read_engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception:
            return False
        return True

    async def hold_identity(self, name: str) -> bool:
        """PostgreSQL: take the session-level advisory lock on ``name`` (a node's NODE_ID) on
        a connection of its own, kept until :meth:`dispose`; False if a live session holds
        it. The lock goes with its connection, so a node killed with -9 frees it at once."""
        conn = await self._read_engine.connect()  # autocommit: no transaction stays open
        try:
            held = bool(await conn.scalar(
                sa.text("SELECT pg_try_advisory_lock(:space, hashtext(:name))"),
                {"space": _IDENTITY_LOCKS, "name": name}))
        except BaseException:
            await conn.close()
            raise
        if not held:
            await conn.close()
            return False
        self._held.append(conn)
        return True

    async def dispose(self) -> None:
        for conn in self._held:  # closed, not returned to the pool still holding the lock
            await conn.invalidate()
            await conn.close()
        self._held.clear()
        await self.engine.dispose()
