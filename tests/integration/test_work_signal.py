"""Nodes wake each other for new work on PostgreSQL (server/db/work_signal.py): a committed
transaction that makes a task claimable is heard by every other node's listener; a rolled back
one is not; a listener whose connection dies listens again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from server.db import repositories as repo
from server.db.engine import Database
from server.db.work_signal import WorkListener
from server.services.audit import SYSTEM
from server.services.changes import Signals, Writer
from tests.integration.test_repositories import task_values
from tests.support.clock import StillClock

pytestmark = pytest.mark.postgres


class Heard:
    def __init__(self) -> None:
        self.count = 0
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self.event.set()

    async def next(self, timeout: float = 10) -> None:
        """Until the next wake-up (a liveness bound, not a speed check)."""
        await asyncio.wait_for(self.event.wait(), timeout)
        self.event.clear()


@contextlib.asynccontextmanager
async def listening(db: Database, heard: Heard) -> AsyncIterator[WorkListener]:
    """A started listener on ``db``, once it listens (and has woken ``heard`` for that)."""
    listener = WorkListener(db, heard, retry_seconds=0.05)
    listener.start()
    try:
        while not listener.listening:
            await asyncio.sleep(0.01)
        await heard.next()  # once as it starts listening: work filed meanwhile
        yield listener
    finally:
        await listener.stop()


async def test_a_node_hears_of_work_another_node_commits(pg_url: str) -> None:
    node_a, node_b = Database(pg_url), Database(pg_url)
    await node_a.migrate()
    heard = Heard()
    try:
        async with listening(node_b, heard):
            writer = Writer(node_a, Signals(), StillClock())
            async with node_a.write() as conn:
                await repo.tasks_insert(conn, [task_values("t_q"), task_values(
                    "t_s", status="scheduled", queued_at=None)])
            async with node_a.read() as conn:
                rows = await repo.tasks_by_ids(conn, ["t_q", "t_s"])

            # Rolled back: nothing is heard. Nothing claimable: nothing either.
            with pytest.raises(RuntimeError):
                async with writer.transaction() as cs:
                    cs.emit("status", rows["t_q"])
                    raise RuntimeError("the job failed")
            async with writer.transaction() as cs:
                cs.emit("status", rows["t_s"])
            # Committed and claimable: heard.
            async with writer.transaction() as cs:
                cs.emit("status", rows["t_q"])
                cs.emit("status", rows["t_q"])  # one notification for the transaction
            await heard.next()
            await asyncio.sleep(0.2)
            assert heard.count == 2 and not heard.event.is_set()
            # A create (task, event and audit entry in one statement, the NOTIFY in it too).
            async with writer.transaction() as cs:
                row = cs.insert_task(task_values("t_new"))
                cs.emit("created", row)
                cs.audit(SYSTEM, "tasks.create", "task", row.id, {"title": row.title})
            await heard.next()
            assert heard.count == 3
            async with node_b.read() as conn:
                assert (await repo.tasks_by_ids(conn, ["t_new"]))["t_new"].status == "queued"
    finally:
        await node_a.dispose()
        await node_b.dispose()


async def test_a_listener_whose_connection_dies_listens_again(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="errands")
    node = Database(pg_url)
    await node.migrate()
    heard = Heard()
    try:
        async with listening(node, heard) as listener:
            async with node.read() as conn:
                killed = (await conn.exec_driver_sql(
                    # Only this test's own database: other tests' listeners are not ours.
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN%' "
                    "AND pid <> pg_backend_pid()")).scalars().all()
            assert killed == [True]
            await heard.next()  # listening again: the runner looks for what it missed
            assert listener.listening
            said = [r.getMessage() for r in caplog.records if r.name == "errands"]
            assert any("was lost" in m for m in said) and any(
                "listening for other nodes' work again" in m for m in said), said
            writer = Writer(node, Signals(), StillClock())
            async with node.write() as conn:
                await repo.tasks_insert(conn, [task_values("t_q")])
            async with node.read() as conn:
                row = (await repo.tasks_by_ids(conn, ["t_q"]))["t_q"]
            async with writer.transaction() as cs:
                cs.emit("status", row)
            await heard.next()
    finally:
        await node.dispose()
