"""The one-trip SQLite cursor (server/db/sqlite_driver.py) as SQLAlchemy uses it: rows,
rowcounts, last row ids, errors, one trip to the database thread a statement — and none for
the statements of a write transaction run on the loop's thread."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from executors.registry import ExecutorRegistry
from schemas.tasks import TaskCreate
from server.db import repositories, sqlite_driver
from server.db.aiosqlite_thread import on_thread
from server.db.audit import audit_list
from server.db.engine import Database
from server.db.sqlite_driver import OneTripConnection, OneTripCursor
from server.services.changes import Signals, Writer
from server.services.tasks import TaskService
from tests.support.clock import StillClock


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with database.write() as conn:
        await conn.execute(sa.text(
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE)"))
    yield database
    await database.dispose()


@pytest.fixture
def trips() -> list[str]:
    """What each trip to a database thread ran (after count_trips)."""
    return []


def count_trips(monkeypatch: pytest.MonkeyPatch, trips: list[str]) -> None:
    """Record each trip: the one-trip connection's off the loop's thread, and aiosqlite's
    (its commit and rollback; a cursor or an execute of its own would be a trip too)."""
    real_run = OneTripConnection.run

    async def run(self: OneTripConnection, fn: Any, *args: Any) -> Any:
        if not self.on_loop:
            trips.append(getattr(fn, "__name__", "?"))
        return await real_run(self, fn, *args)

    monkeypatch.setattr(OneTripConnection, "run", run)
    for name in ("commit", "rollback", "cursor", "execute", "executemany"):
        real = getattr(aiosqlite.Connection, name)

        def counted(self: aiosqlite.Connection, *args: Any, _real: Any = real,
                    _name: str = name) -> Any:
            trips.append(_name)
            return _real(self, *args)

        monkeypatch.setattr(aiosqlite.Connection, name, counted)


def threads_running(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Which thread ran each statement (sqlite_driver's _statement and _inserts) from now."""
    ran_on: list[tuple[str, str]] = []
    for name in ("_statement", "_inserts"):
        real = getattr(sqlite_driver, name)

        def run(*args: object, _real: object = real, _name: str = name) -> object:
            ran_on.append((_name, threading.current_thread().name))
            return _real(*args)  # type: ignore[operator]

        monkeypatch.setattr(sqlite_driver, name, run)
    return ran_on


async def test_a_write_on_the_loop_runs_its_statements_there_and_commits_on_the_thread(
        db: Database, monkeypatch: pytest.MonkeyPatch, trips: list[str]) -> None:
    async with db.read() as conn:
        await conn.execute(sa.text("SELECT 1"))  # the pooled connections are made
    count_trips(monkeypatch, trips)
    ran_on = threads_running(monkeypatch)
    async with db.write(on_loop=True) as conn:
        await conn.execute(sa.text("INSERT INTO t (name) VALUES ('a')"))
        returned = await conn.execute(sa.text("UPDATE t SET name = 'b' RETURNING id, name"))
        assert returned.all() == [(1, "b")]
    loop_thread = threading.main_thread().name
    assert ran_on == [("_statement", loop_thread)] * 2
    assert trips == ["commit"]
    # Only for that transaction: the connection's next user goes to the database thread.
    ran_on.clear()
    async with db.write() as conn:
        await conn.execute(sa.text("INSERT INTO t (name) VALUES ('c')"))
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT name FROM t ORDER BY id"))).all() == [
            ("b",), ("c",)]
    assert len(ran_on) == 2 and all(thread != loop_thread for _, thread in ran_on)
    # And a rollback on the loop's transaction leaves nothing.
    with pytest.raises(RuntimeError):
        async with db.write(on_loop=True) as conn:
            await conn.execute(sa.text("INSERT INTO t (name) VALUES ('d')"))
            raise RuntimeError("the caller failed")
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar_one() == 2


async def test_rows_rowcounts_and_last_row_ids(db: Database) -> None:
    async with db.write() as conn:
        many = await conn.execute(sa.text("INSERT INTO t (name) VALUES (:n)"),
                                  [{"n": "a"}, {"n": "b"}, {"n": "c"}])
        assert many.rowcount == 3  # summed over the executemany
        one = await conn.execute(sa.text("INSERT INTO t (name) VALUES ('d')"))
        assert one.lastrowid == 4
        returned = await conn.execute(sa.text(
            "UPDATE t SET name = name || '!' WHERE id > 2 RETURNING id, name"))
        assert sorted(returned.all()) == [(3, "c!"), (4, "d!")]
        assert (await conn.execute(sa.text("DELETE FROM t WHERE id = 1"))).rowcount == 1
    async with db.read() as conn:
        result = await conn.execute(sa.text("SELECT id, name FROM t ORDER BY id"))
        assert list(result.keys()) == ["id", "name"]
        assert result.all() == [(2, "b"), (3, "c!"), (4, "d!")]
        assert (await conn.execute(sa.text("SELECT name FROM t WHERE id = 99"))).first() is None


@pytest.mark.parametrize("on_loop", [False, True])
async def test_errors_come_out_as_sqlalchemy_errors_and_roll_back(db: Database,
                                                                  on_loop: bool) -> None:
    with pytest.raises(exc.IntegrityError):
        async with db.write(on_loop=on_loop) as conn:
            await conn.execute(sa.text("INSERT INTO t (name) VALUES ('x')"))
            await conn.execute(sa.text("INSERT INTO t (name) VALUES ('x')"))
    with pytest.raises(exc.OperationalError, match="no such table"):
        async with db.read() as conn:
            await conn.execute(sa.text("SELECT * FROM missing"))
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_a_statement_is_one_trip_to_the_database_thread(
        db: Database, monkeypatch: pytest.MonkeyPatch, trips: list[str]) -> None:
    async with db.read() as conn:
        await conn.execute(sa.text("SELECT 1"))  # the pooled connection is made
        count_trips(monkeypatch, trips)
        cursor_types: list[type] = []
        sa.event.listen(conn.sync_engine, "before_cursor_execute",
                        lambda _c, cursor, *_a: cursor_types.append(type(cursor)))
        rows = (await conn.execute(sa.text("SELECT name FROM t"))).all()
    assert rows == []
    assert cursor_types == [OneTripCursor]
    assert trips.count("_statement") == 1
    assert "cursor" not in trips and "fetchall" not in trips


async def test_a_write_is_its_statements_and_a_commit_and_a_read_ends_without_a_trip(
        db: Database, monkeypatch: pytest.MonkeyPatch, trips: list[str]) -> None:
    async with db.read() as conn:
        await conn.execute(sa.text("SELECT 1"))  # the pooled connections are made
    count_trips(monkeypatch, trips)
    async with db.write() as conn:
        await conn.execute(sa.text("INSERT INTO t (name) VALUES ('a')"))
    assert trips == ["_statement", "commit"]  # no rollback from the pool after the commit
    trips.clear()
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT name FROM t"))).all() == [("a",)]
    assert trips == ["_statement"]  # nothing to roll back: SQLite began no transaction
    trips.clear()
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await conn.execute(sa.text("INSERT INTO t (name) VALUES ('b')"))
            raise RuntimeError("the caller failed")
    assert trips == ["_statement", "rollback"]
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar_one() == 1


async def test_a_create_is_one_trip_its_commit(
        db: Database, monkeypatch: pytest.MonkeyPatch, trips: list[str]) -> None:
    """The task, its event and its audit entry go in one trip (changes_insert_sqlite)."""
    await db.migrate()
    clock = StillClock()
    writer = Writer(db, Signals(), clock)
    service = TaskService(db, writer, ExecutorRegistry([]), review_required_types=frozenset(),
                          clock=clock)

    def task(title: str) -> TaskCreate:
        return TaskCreate(title=title, task_type="api_call",
                          execution_config={"apiEndpoint": "https://example.test/hook"})

    await service.create(task("warm-up"))  # the pooled connection is made
    count_trips(monkeypatch, trips)
    ran_on = threads_running(monkeypatch)
    created = await service.create(task("counted"))
    monkeypatch.undo()

    # The task, its event and its audit entry: one driver call, on the loop's thread; the
    # commit, on the database thread.
    assert ran_on == [("_inserts", threading.main_thread().name)]
    assert trips == ["commit"]
    async with db.read() as conn:
        (row,) = (await repositories.tasks_by_ids(conn, [created.id])).values()
        events = await repositories.events_after(conn, 0, task_id=created.id)
        audits = await audit_list(conn, target_id=created.id, actor=None, action=None,
                                  since=None, limit=10, after=None)
    assert row.title == "counted" and row.created_at == clock() and row.status == "queued"
    assert len(events) == 1 and [a.action for a in audits] == ["tasks.create"]


async def test_a_transaction_that_inserts_nothing_makes_no_trip(
        db: Database, monkeypatch: pytest.MonkeyPatch, trips: list[str]) -> None:
    """A claim that found nothing ends without a trip to the database thread."""
    writer = Writer(db, Signals(), StillClock())
    async with db.read() as conn:
        await conn.execute(sa.text("SELECT 1"))  # the pooled connection is made
    count_trips(monkeypatch, trips)
    async with writer.transaction():
        pass
    assert trips == []


async def test_the_sqlalchemy_adapter_is_what_this_module_was_written_for(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """What sqlite_driver takes of SQLAlchemy beyond its documented API still holds: its
    async result soft-closes each cursor through ``_async_soft_close``, the cursor offers all
    SQLAlchemy's adapter cursor offers, the adapter's connect hands ``factory`` on to
    sqlite3.connect, and the version is within pyproject.toml's bound."""
    soft_closed: list[OneTripCursor] = []

    async def noted(self: OneTripCursor) -> None:
        soft_closed.append(self)

    monkeypatch.setattr(OneTripCursor, "_async_soft_close", noted)
    async with db.read() as conn:
        await conn.execute(sa.text("SELECT 1"))
        raw = await conn.get_raw_connection()
        adapted = raw.dbapi_connection
    assert len(soft_closed) == 1
    assert isinstance(adapted, OneTripConnection)
    assert type(adapted.sqlite).__name__ == "Noted" and adapted.driver_connection is not None

    from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_cursor
    offered = {n for n in dir(AsyncAdapt_dbapi_cursor) if not n.startswith("_")}
    assert "_async_soft_close" in dir(AsyncAdapt_dbapi_cursor)
    assert offered <= set(dir(OneTripCursor)), offered - set(dir(OneTripCursor))
    major, minor = (int(p) for p in sa.__version__.split(".")[:2])
    assert (2, 0) <= (major, minor) < (2, 2)  # pyproject.toml: sqlalchemy>=2.0.36,<2.2


async def test_aiosqlite_runs_our_function_on_the_thread_of_its_own_calls(
        tmp_path: Path) -> None:
    """server/db/aiosqlite_thread.py's one aiosqlite internal still does what it is used for:
    our function runs on the connection's thread (where aiosqlite's public calls run), in
    order after them, and its answer or its error comes back."""
    seen: list[int] = []
    async with aiosqlite.connect(tmp_path / "t.db") as connection:
        await connection.create_function("thread_id", 0, threading.get_ident)
        async with connection.execute("SELECT thread_id()") as cursor:
            (aiosqlite_thread,) = await cursor.fetchone()  # type: ignore[misc]
        ran_on = await on_thread(connection, lambda: seen.append(1) or threading.get_ident())
        assert ran_on == aiosqlite_thread != threading.get_ident()

        def fails(n: int) -> None:
            raise ValueError(f"failed with {n}")

        with pytest.raises(ValueError, match="failed with 3"):
            await on_thread(connection, fails, 3)
    assert seen == [1]


async def test_commits_leave_checkpoints_to_the_node_which_copies_the_wal_into_the_file(
        db: Database, tmp_path: Path) -> None:
    """A commit no longer checkpoints at SQLite's 1,000 pages (inside the server's write
    lock): the WAL keeps what was written until Database.checkpoint (the node's maintenance,
    every second) copies it into the database file."""
    async with db.write() as conn:
        for n in range(30):  # well over 1,000 pages of WAL
            await conn.execute(sa.text("INSERT INTO t (name) VALUES (:name)"),
                               {"name": f"{n}-" + "x" * 200_000})
    wal = tmp_path / "driver.db-wal"
    assert wal.stat().st_size > 1_000 * 4096  # not checkpointed by the commit
    before = (tmp_path / "driver.db").stat().st_size
    result = await db.checkpoint()
    assert result is not None
    busy, frames, copied = result
    assert busy == 0 and frames > 1_000 and copied == frames
    assert (tmp_path / "driver.db").stat().st_size > before + 1_000 * 4096
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar_one() == 30
