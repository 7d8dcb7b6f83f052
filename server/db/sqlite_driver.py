"""SQLAlchemy's aiosqlite adapter, with each statement in one trip to a database thread.

aiosqlite runs sqlite3 on a thread of its own; every awaited call is a trip there and back
(a queue put, a thread wake-up, a future resolved through the event loop's self-pipe).
SQLAlchemy's adapter makes three or four trips a statement — make the cursor, execute, fetch
the rows, close the cursor — so a write transaction of five statements took some twenty, and
on a busy event loop each trip waits for its turn twice. :class:`OneTripCursor` does the four
steps in one function run on that thread (server/db/aiosqlite_thread.py: the one use of an
aiosqlite internal) and keeps what the cursor told (description, rows, rowcount, lastrowid)
for SQLAlchemy to read.

The sqlite3 connection is the one aiosqlite opens: ``aiosqlite.connect`` hands its keyword
arguments to ``sqlite3.connect``, whose ``factory`` (a ``sqlite3.Connection`` subclass) notes
it as it is made (:class:`OneTripDBAPI`). aiosqlite keeps the connection's opening, commits,
rollbacks and closing; SQLAlchemy keeps the connection adapter (isolation level), server-side
cursors, the dialect and the error translation — sqlite3's own exception classes come out,
as aiosqlite raises them. :class:`OneTripConnection` skips the trip of a commit or rollback
when SQLite has no transaction open. Used through
``create_async_engine(url, module=OneTripDBAPI())`` (server/db/engine.py).

:func:`insert_in_one_trip` goes further for a write transaction's closing inserts (its new
tasks, events and audit entries: server/db/repositories.py ``changes_insert``): they are run
together, in one trip, where each was a trip of its own.

A write transaction's statements go further still: they run on the event loop's own thread
(:func:`statements_on_loop`, which ``Database.write`` uses), no trip at all. A trip costs
more than a short statement (the hand-over of Python's GIL between the two threads, each
way, and the future resolved through the loop), and the write transactions are short by
design and run one at a time under the process's write lock, so no statement of theirs waits
for a lock this process holds (WAL: readers never block a writer). Their commit still goes
to the database thread: the commit writes the WAL and may checkpoint, I/O that the loop
should not wait for. The sqlite3 connections are opened with ``check_same_thread=False``
(SQLite itself is built serialized: ``sqlite3.threadsafety == 3``); a connection is used by
one thread at a time, as the pool hands it to one user and each call is awaited.

What this module takes of SQLAlchemy beyond its documented API — the adapter classes it
subclasses, and ``_async_soft_close``, which SQLAlchemy's async result calls on every cursor
— is checked by tests/integration/test_sqlite_driver.py
(``test_the_sqlalchemy_adapter_is_what_this_module_was_written_for``); pyproject.toml bounds
SQLAlchemy's version to the releases those hold for.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import aiosqlite
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util.concurrency import await_

from server.db.aiosqlite_thread import on_thread

_Outcome = tuple[Any, Sequence[Any], int, int | None]
_T = TypeVar("_T")


def _statement(db: sqlite3.Connection, operation: str, parameters: Any,
               many: bool) -> _Outcome:
    """One statement from cursor to close (on the connection's thread, or the loop's)."""
    cursor = db.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else ()
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor:
    """A client-side DBAPI cursor whose statement costs one trip to the database thread:
    what SQLAlchemy's adapter cursor offers, its rows kept after the statement ran."""

    server_side = False
    arraysize = 1
    description: Any = None  # of the last statement, as its sqlite3 cursor told them
    rowcount = -1
    lastrowid: int | None = None

    def __init__(self, connection: OneTripConnection) -> None:
        self._owner = connection
        self._rows: collections.deque[Any] = collections.deque()

    async def _async_soft_close(self) -> None:
        """Called by SQLAlchemy's async result on each cursor: the sqlite3 cursor was closed
        on the thread already."""

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> None:
        await_(self._run(operation, parameters, False))

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        await_(self._run(operation, seq_of_parameters, True))

    async def _run(self, operation: str, parameters: Any, many: bool) -> None:
        # Awaited even on the loop's thread: SQLAlchemy's async engine requires an await in
        # every execute (AwaitRequired), its check that the driver is an async one.
        self.description, rows, self.rowcount, self.lastrowid = await self._owner.run(
            _statement, operation, parameters, many)
        self._rows = collections.deque(rows)

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None

    def __enter__(self) -> OneTripCursor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's connection adapter with :class:`OneTripCursor` cursors, whose commit and
    rollback make no trip when SQLite has no transaction open (a connection that only read:
    sqlite3 begins one only before a write)."""

    __slots__ = ("on_loop", "sqlite")

    def __init__(self, dbapi: Any, connection: aiosqlite.Connection,
                 sqlite: sqlite3.Connection) -> None:
        super().__init__(dbapi, cast(Any, connection))
        self.sqlite = sqlite  # the sqlite3 connection aiosqlite opened
        self.on_loop = False  # statements on the event loop's thread: statements_on_loop()

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(sqlite, *args)`` on aiosqlite's thread, or the loop's when ``on_loop``."""
        if self.on_loop:
            return fn(self.sqlite, *args)
        return await on_thread(self.driver_connection, fn, self.sqlite, *args)

    def cursor(self, server_side: bool = False) -> Any:
        return super().cursor(server_side=True) if server_side else OneTripCursor(self)

    def commit(self) -> None:
        # sqlite3_get_autocommit() of the database handle: a flag read, safe from this thread
        # while no statement of this connection runs (the pool hands it to one user at once).
        if self.sqlite.in_transaction:
            super().commit()

    def rollback(self) -> None:
        if self.sqlite.in_transaction:
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The adapter module, whose connections make :class:`OneTripCursor` cursors."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        opened: list[sqlite3.Connection] = []

        class Noted(sqlite3.Connection):
            """sqlite3.connect's ``factory``: the connection, noted as it is made."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                opened.append(self)

        adapted = super().connect(*arg, factory=Noted, **kw)
        return OneTripConnection(self, adapted.driver_connection, opened[0])


@asynccontextmanager
async def statements_on_loop(conn: AsyncConnection) -> AsyncIterator[None]:
    """Within: ``conn``'s statements run on the event loop's thread (see the module
    docstring) — only for a write transaction under the process's write lock. Its commit or
    rollback, after, goes to the database thread as before."""
    raw = await conn.get_raw_connection()
    adapted = cast(OneTripConnection, raw.dbapi_connection)
    adapted.on_loop = True
    try:
        yield
    finally:
        adapted.on_loop = False


def _inserts(db: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]
             ) -> int:
    """Each INSERT over its rows; the last row id after them (on either thread)."""
    cursor = db.cursor()
    try:
        for operation, rows in statements:
            if rows:
                cursor.executemany(operation, rows)
        cursor.execute("SELECT last_insert_rowid()")
        return int(cursor.fetchone()[0])
    finally:
        cursor.close()


async def insert_in_one_trip(conn: AsyncConnection,
                             statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> int:
    """Run ``statements`` (driver-level INSERTs, qmark parameters already converted) in the
    connection's open transaction, all in one trip to the database thread (none when its
    statements run on the loop's thread: :func:`statements_on_loop`); the
    ``last_insert_rowid()`` after them. A driver error comes out as SQLAlchemy's (an
    ``IntegrityError`` for a duplicate key ...), as ``conn.execute`` raises it."""
    raw = await conn.get_raw_connection()
    adapted = cast(OneTripConnection, raw.dbapi_connection)
    try:
        return await adapted.run(_inserts, statements)
    except sqlite3.Error as error:
        operation = statements[0][0] if statements else ""
        raise sa_exc.DBAPIError.instance(operation, None, error, sqlite3.Error) from error
