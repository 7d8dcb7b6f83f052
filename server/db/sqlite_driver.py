"""SQLAlchemy's aiosqlite adapter, with each statement in one trip to the database thread.

aiosqlite runs sqlite3 on a thread of its own; every awaited call is a trip there and back
(a queue put, a thread wake-up, a future resolved through the event loop's self-pipe).
SQLAlchemy's adapter makes three or four trips a statement — make the cursor, execute, fetch
the rows, close the cursor — so a write transaction of five statements took some twenty, and
on a busy event loop each trip waits for its turn twice. :class:`OneTripCursor` does the four
steps in one function run on that thread (``aiosqlite.Connection._execute``, the method every
aiosqlite call goes through) and keeps what the cursor told (description, rows, rowcount,
lastrowid) for SQLAlchemy to read.

:class:`OneTripConnection` skips the trip of a commit or rollback when SQLite has no
transaction open. Everything else is SQLAlchemy's: the connection adapter (isolation level),
server-side cursors (still a trip a fetch), the dialect, and the error translation —
aiosqlite raises sqlite3's own exception classes, as before. Used through
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
one thread at a time, as the pool hands it to one user.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import aiosqlite
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, Sequence[Any], int, int | None]


def _statement(db: sqlite3.Connection, operation: str, parameters: Any,
               many: bool) -> _Outcome:
    """One statement from cursor to close (on aiosqlite's thread, or the loop's)."""
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


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement costs one trip to the database thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:  # no cursor is made here
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        return None  # the sqlite3 cursor was closed on the thread already

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            await_(self._run(operation, parameters, False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            await_(self._run(operation, seq_of_parameters, True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: str, parameters: Any, many: bool) -> None:
        # Awaited even on the loop's thread: SQLAlchemy's async engine requires an await in
        # every execute (AwaitRequired), its check that the driver is an async one.
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        if cast(OneTripConnection, self._adapt_connection).on_loop:
            self._keep(_statement(connection._conn, operation, parameters, many))
            return
        async with self._adapt_connection._execute_mutex:
            self._keep(await connection._execute(  # type: ignore[no-untyped-call]
                _statement, connection._conn, operation, parameters, many))

    def _keep(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    def nextset(self) -> None:
        return None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's connection adapter with :class:`OneTripCursor` cursors, whose commit and
    rollback make no trip when SQLite has no transaction open (a connection that only read:
    sqlite3 begins one only before a write)."""

    __slots__ = ("on_loop",)
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.on_loop = False  # statements on the event loop's thread: statements_on_loop()

    def _in_transaction(self) -> bool:
        # sqlite3_get_autocommit() of the database handle: a flag read, safe from this thread
        # while no statement of this connection runs (the pool hands it to one user at once).
        return bool(self._connection._conn.in_transaction)

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The adapter module, whose connections make :class:`OneTripCursor` cursors."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


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
    connection = cast(aiosqlite.Connection, raw.driver_connection)
    adapted = cast(OneTripConnection, raw.dbapi_connection)
    try:
        if adapted.on_loop:
            return _inserts(connection._conn, statements)
        async with adapted._execute_mutex:
            return cast(int, await connection._execute(  # type: ignore[no-untyped-call]
                _inserts, connection._conn, statements))
    except sqlite3.Error as error:
        operation = statements[0][0] if statements else ""
        raise sa_exc.DBAPIError.instance(operation, None, error, sqlite3.Error) from error
