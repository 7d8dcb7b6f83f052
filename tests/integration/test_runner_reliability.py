"""The runner in-process on SQLite: the autorun pause, caps between claims, and a lost
attempt that spends no retry until MAX_LOST_ATTEMPTS in a row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa

from executors.base import ExecutionContext, ExecutionResult, Issue, TaskSpec
from executors.registry import ExecutorRegistry
from server.core.claims import Caps
from server.core.ids import new_id
from server.db import repositories as repo
from server.db.engine import Database
from server.db.tables import tasks
from server.node.runner import Runner, RunnerConfig
from server.services.changes import Listeners, Signals, Writer


class Gate:
    """An api_call stand-in whose attempts wait until released."""

    task_type: ClassVar[str] = "api_call"

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()

    def check(self, config: Any, *, source_webhook_id: str | None) -> list[Issue]:
        return []

    async def execute(self, task: TaskSpec, ctx: ExecutionContext) -> ExecutionResult:
        self.started.append(task.id)
        await self.release.wait()
        return ExecutionResult(output={"ok": True})


def _row(i: int, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": new_id("tsk"), "title": f"t{i}", "task_type": "api_call",
        "execution_type": "automatic", "assigned_to_bot": True, "requires_human_review": False,
        "execution_config": {"apiEndpoint": f"http://h{i % 2}.example/"}, "priority": "medium",
        "priority_rank": 2, "max_retries": 3, "timeout_seconds": 30,
        "notify_on_complete": False, "notify_on_failure": False, "depends_on": [],
        "status": "queued", "error_count": 0, "created_at": now, "updated_at": now,
        "queued_at": now, "attempts": 0, "next_trigger": "create",
        "dest_host": f"h{i % 2}.example", **extra,
    }


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    await database.migrate()
    yield database
    await database.dispose()


def _runner(db: Database, gate: Gate, caps: Caps) -> Runner:
    signals = Signals()
    runner = Runner(db=db, writer=Writer(db, signals, lambda: datetime.now(UTC)),
                    executors=ExecutorRegistry([gate]),
                    config=RunnerConfig(concurrency=8, caps=caps, max_lost_attempts=3),
                    clock=lambda: datetime.now(UTC), worker_id="node-t")
    signals.connect(Listeners(wake_runner=runner.wake, arm_timer=lambda _at: None,
                              cancel_attempt=runner.cancel_local))
    return runner


async def _statuses(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return await repo.task_counts_by_status(conn)


async def _settle(gate: Gate, count: int) -> None:
    for _ in range(200):
        if len(gate.started) >= count:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # and nothing more starts


async def test_pause_holds_everything_or_some_types_and_caps_hold_across_claims(
        db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(tasks.insert(), [_row(i) for i in range(10)])
    gate = Gate()
    runner = _runner(db, gate, Caps({"api_call": 5}, per_host=2))
    runner.pause(True, frozenset())
    await runner.start()
    try:
        await _settle(gate, 1)
        assert gate.started == [] and await _statuses(db) == {"queued": 10}
        runner.pause(False, frozenset({"api_call"}))
        await _settle(gate, 1)
        assert gate.started == []
        runner.pause(False, frozenset())
        await _settle(gate, 4)
        # two hosts, two each: four run although the type allows five and eight slots are free
        assert len(gate.started) == 4
        assert await _statuses(db) == {"in_progress": 4, "queued": 6}
        assert runner.claimed_max <= 8
        gate.release.set()
        for _ in range(300):
            if (await _statuses(db)).get("completed") == 10:
                break
            await asyncio.sleep(0.02)
        assert await _statuses(db) == {"completed": 10}
    finally:
        gate.release.set()
        await runner.stop(1)


@pytest.mark.parametrize(("streak", "status", "new_streak"),
                         [(0, "queued", 1), (1, "queued", 2), (2, "failed", 3)])
async def test_a_lost_attempt_spends_no_retry_until_the_streak_limit(
        db: Database, streak: int, status: str, new_streak: int) -> None:
    past = datetime.now(UTC) - timedelta(seconds=60)
    row = _row(0, status="in_progress", lease_owner="dead-node", lease_expires_at=past,
               attempts=1, error_count=2, lost_streak=streak)
    async with db.write() as conn:
        await conn.execute(tasks.insert(), [row])
        await repo.execution_insert(conn, [{
            "id": new_id("exe"), "task_id": row["id"], "attempt_number": 1,
            "triggered_by": "create", "status": "running", "started_at": past,
            "worker_id": "dead-node/1", "steps": [], "artifacts": []}])
    runner = _runner(db, Gate(), Caps())
    assert await runner.rescue_expired() == 1
    async with db.read() as conn:
        after = (await conn.execute(sa.select(tasks).where(tasks.c.id == row["id"]))).one()
        [attempt] = await repo.executions_for_task(conn, row["id"])
    assert (after.status, after.error_count, after.lost_streak) == (status, 2, new_streak)
    assert attempt.status == "lost"
    if status == "failed":
        assert after.status_reason.startswith("lost 3 attempts in a row")
    else:
        assert after.next_trigger == "recovery"
