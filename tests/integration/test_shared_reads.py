"""Reads asked in the same loop turn share one query (server/db/shared_reads.py): who joins
which read, what each caller gets, failures, and the task and health reads built on it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest
import sqlalchemy as sa

from executors.registry import ExecutorRegistry
from server.core.errors import NotFound
from server.db.engine import Database
from server.db.shared_reads import KeyedReads, SharedCall
from server.node.app import utc_now
from server.services.changes import Signals, Writer
from server.services.tasks import TaskService


class Store:
    """A fetch that records each call and can be held open or made to fail."""

    def __init__(self, data: Mapping[str, int]) -> None:
        self.data = dict(data)
        self.calls: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.failure: Exception | None = None

    async def fetch(self, keys: Sequence[str]) -> dict[str, int]:
        self.calls.append(list(keys))
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        return {k: self.data[k] for k in keys if k in self.data}


async def test_questions_of_one_loop_turn_share_one_fetch() -> None:
    store = Store({"a": 1, "b": 2})
    reads = KeyedReads(store.fetch)
    got = await asyncio.gather(reads.get("a"), reads.get("b"), reads.get("a"), reads.get("z"))
    assert got == [1, 2, 1, None]
    assert store.calls == [["a", "b", "z"]]  # distinct keys, in the order asked


async def test_a_question_never_joins_a_read_already_started() -> None:
    store = Store({"a": 1})
    store.gate = asyncio.Event()
    reads = KeyedReads(store.fetch)
    first = asyncio.ensure_future(reads.get("a"))
    while not store.calls:
        await asyncio.sleep(0)
    store.data["a"] = 2  # changed after the first read began
    second = asyncio.ensure_future(reads.get("a"))
    await asyncio.sleep(0)
    store.gate.set()
    await first
    assert await second == 2  # from a read that began after the question
    assert len(store.calls) == 2


async def test_a_failed_read_fails_every_question_of_its_group_only() -> None:
    store = Store({"a": 1})
    store.failure = RuntimeError("database went away")
    reads = KeyedReads(store.fetch)
    results = await asyncio.gather(reads.get("a"), reads.get("b"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    store.failure = None
    assert await reads.get("a") == 1


async def test_a_cancelled_question_leaves_the_others_answered() -> None:
    store = Store({"a": 1, "b": 2})
    store.gate = asyncio.Event()
    reads = KeyedReads(store.fetch)
    a = asyncio.ensure_future(reads.get("a"))
    b = asyncio.ensure_future(reads.get("b"))
    while not store.calls:
        await asyncio.sleep(0)
    a.cancel()
    store.gate.set()
    assert await b == 2
    with pytest.raises(asyncio.CancelledError):
        await a


async def test_large_groups_are_split_at_max_keys() -> None:
    store = Store({str(i): i for i in range(10)})
    reads = KeyedReads(store.fetch, max_keys=4)
    got = await asyncio.gather(*(reads.get(str(i)) for i in range(10)))
    assert got == list(range(10))
    assert [len(c) for c in store.calls] == [4, 4, 2]


async def test_shared_call_answers_every_caller_of_the_turn_with_one_call() -> None:
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        return "pong"

    shared = SharedCall(fetch)
    assert await asyncio.gather(*(shared.call() for _ in range(5))) == ["pong"] * 5
    assert calls == 1
    assert await shared.call() == "pong" and calls == 2


async def test_concurrent_task_gets_share_one_query(database: Database) -> None:
    """A tRPC batch of gets runs its calls concurrently: one SELECT serves them all."""
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM tasks" in statement:
            statements.append(statement)

    async with database.write() as conn:
        await conn.execute(sa.text(
            "INSERT INTO tasks (id, title, task_type, execution_type, assigned_to_bot, "
            "requires_human_review, execution_config, priority, priority_rank, max_retries, "
            "timeout_seconds, notify_on_complete, notify_on_failure, depends_on, status, "
            "error_count, created_at, updated_at, attempts, next_trigger) VALUES "
            "(:id, 't', 'api_call', 'manual', true, false, '{}', 'normal', 1, 3, 30, false, "
            "false, '[]', 'pending', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0, 'create')"),
            [{"id": f"tsk_{i}"} for i in range(3)])
    service = TaskService(database, Writer(database, Signals(), utc_now),
                          ExecutorRegistry([]), review_required_types=frozenset(),
                          clock=utc_now)
    sa.event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        got = await asyncio.gather(*(service.get(f"tsk_{i}") for i in (2, 0, 1, 0)),
                                   service.get("tsk_missing"), return_exceptions=True)
    finally:
        sa.event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    assert [t.id for t in got[:4]] == ["tsk_2", "tsk_0", "tsk_1", "tsk_0"]  # type: ignore[union-attr]
    assert isinstance(got[4], NotFound)
    assert len(statements) == 1


async def test_concurrent_pings_share_one_select(database: Database) -> None:
    selects: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        selects.append(statement)

    sa.event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await asyncio.gather(*(database.ping() for _ in range(8))) == [True] * 8
    finally:
        sa.event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    assert selects.count("SELECT 1") == 1

