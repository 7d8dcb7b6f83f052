"""Progress writes (server/services/live.py) in process, on SQLite and PostgreSQL: a burst of
reports is written as its first and its last; reports a throttle interval apart are each
written, in order; nothing is written for a task no longer running under this node's lease;
a report's message is scrubbed of the attempt's secrets."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from executors.registry import ExecutorRegistry
from schemas.tasks import TaskCreate
from server.db import repositories as repo
from server.db import tables
from server.db.engine import Database
from server.services.changes import Signals, Writer
from server.services.live import PROGRESS_INTERVAL, LiveBoard
from server.services.task_events import stored_event
from server.services.tasks import TaskService
from tests.support.clock import StillClock

NODE = "node-a"


async def _running_task(database: Database, writer: Writer, clock: StillClock,
                        owner: str = NODE) -> str:
    service = TaskService(database, writer, ExecutorRegistry([]),
                          review_required_types=frozenset(), clock=clock)
    task = await service.create(TaskCreate(
        title="steps", task_type="browser_automation", execution_type="manual",
        execution_config={"steps": [{"action": "wait", "ms": 1}]}))
    async with database.write() as conn:  # as a claim by ``owner`` leaves it
        await conn.execute(tables.tasks.update().where(tables.tasks.c.id == task.id)
                           .values(status="in_progress", lease_owner=owner))
    return task.id


async def _progress_events(database: Database, task_id: str) -> list[dict[str, Any]]:
    async with database.read() as conn:
        rows = await repo.events_after(conn, 0, task_id=task_id)
    out = []
    for row in rows:
        stored = stored_event(bytes(row.payload))
        assert stored is not None
        if stored.type == "progress":
            assert stored.task.progress is not None
            progress = stored.task.progress
            out.append({"done": progress.done, "message": progress.message})
    return out


async def test_a_burst_is_written_as_its_first_and_last_report(database: Database) -> None:
    clock = StillClock()
    writer = Writer(database, Signals(), clock)
    board = LiveBoard(database, writer, clock, NODE)
    task_id = await _running_task(database, writer, clock)
    attempt = board.start(task_id, "exe_1", lambda: ())
    attempt.progress(0, 8, "click '#b0'")
    await asyncio.sleep(0)  # the first is written at the loop's next turn
    for done in range(1, 8):  # the rest within the interval: only the last is written
        attempt.progress(done, 8, f"click '#b{done}'")
    await board.end("exe_1")
    assert [e["done"] for e in await _progress_events(database, task_id)] == [0, 7]
    async with database.read() as conn:
        row = await repo.task_get(conn, task_id)
    assert row is not None and row.progress == {"done": 7, "total": 8, "message": "click '#b7'"}
    assert board.writes == 2


async def test_reports_an_interval_apart_are_each_written_in_order(database: Database) -> None:
    clock = StillClock()
    writer = Writer(database, Signals(), clock)
    board = LiveBoard(database, writer, clock, NODE)
    task_id = await _running_task(database, writer, clock)
    attempt = board.start(task_id, "exe_2", lambda: ("hunter2-secret",))
    for done in range(4):
        attempt.progress(done, 3, "navigate 'https://x.test/?k=hunter2-secret'" if done == 1
                         else None)
        await asyncio.sleep(PROGRESS_INTERVAL * 2)
    await board.end("exe_2")
    events = await _progress_events(database, task_id)
    assert [e["done"] for e in events] == [0, 1, 2, 3]
    assert events[1]["message"] == "navigate 'https://x.test/?k=********'"


async def test_nothing_is_written_for_a_task_this_node_no_longer_runs(
        database: Database) -> None:
    clock = StillClock()
    writer = Writer(database, Signals(), clock)
    board = LiveBoard(database, writer, clock, NODE)
    task_id = await _running_task(database, writer, clock, owner="node-b")
    attempt = board.start(task_id, "exe_3", lambda: None)
    attempt.progress(1, 2, "wait")
    await board.end("exe_3")
    assert await _progress_events(database, task_id) == []
    async with database.read() as conn:
        progress = (await conn.execute(sa.select(tables.tasks.c.progress).where(
            tables.tasks.c.id == task_id))).scalar()
    assert progress is None
