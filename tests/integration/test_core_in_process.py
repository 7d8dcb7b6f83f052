"""The core in process, on real SQLite files and PostgreSQL, with a clock the test moves.

No server subprocess and no sleeping for time: the runner, the group-commit Writer and the
task service are built as server/node/app.py builds them, around an executor the test scripts
(the Executor seam of executors/base.py). Waiting is for events (a task reaching a status),
bounded by ``asyncio.wait_for`` only so that a bug fails instead of hanging.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

import msgspec
import pytest

from executors.base import (
    ExecutionContext,
    ExecutionResult,
    Issue,
    PermanentError,
    RetryableError,
    TaskSpec,
)
from executors.registry import ExecutorRegistry
from schemas.tasks import TaskCreate
from server.core.events import EventHub, PublishedEvent
from server.core.retry import RetryPolicy, backoff_seconds
from server.db import repositories as repo
from server.db.engine import Database
from server.node.runner import Runner, RunnerConfig
from server.services.changes import ChangeSet, Listeners, Signals, Writer
from server.services.task_events import expand_events, task_event_stream
from server.services.tasks import TaskService
from tests.support.clock import T0, StillClock

POLICY = RetryPolicy(2.0)


class ScriptedExecutor:
    """``api_call`` whose attempts follow ``script``: an exception to raise or an output."""

    task_type: ClassVar[str] = "api_call"

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.seen: list[tuple[str, int, str]] = []

    def check(self, config: Any, *, source_webhook_id: str | None) -> list[Issue]:
        return []

    async def execute(self, task: TaskSpec, ctx: ExecutionContext) -> ExecutionResult:
        self.seen.append((task.id, ctx.attempt_number, ctx.triggered_by))
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return ExecutionResult(step, summary="done")


@dataclass
class Core:
    db: Database
    clock: StillClock
    writer: Writer
    tasks: TaskService
    runner: Runner
    statuses: dict[str, list[str]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    unread: set[int] = field(default_factory=set)  # events published without a payload

    def on_publish(self, events: list[PublishedEvent]) -> None:
        for event in events:
            if event.payload:
                self._saw(event.task_id, _status_of(event.payload))
            else:
                self.unread.add(event.id)
        self.changed.set()

    def _saw(self, task_id: str, status: str) -> None:
        seen = self.statuses.setdefault(task_id, [])
        if not seen or seen[-1] != status:
            seen.append(status)

    async def read_unread(self) -> None:
        """Events published without a payload, read from the table as a subscriber does."""
        if not self.unread:
            return
        ids, self.unread = self.unread, set()
        async with self.db.read() as conn:
            rows = await repo.events_after(conn, min(ids) - 1, task_id=None)
            events = await expand_events(conn, [r for r in rows if r.id in ids])
        assert {e.id for e in events} == ids
        for event in events:
            self._saw(event.task_id, _status_of(event.payload))
        self.changed.set()

    async def until(self, task_id: str, status: str) -> None:
        async def wait() -> None:
            while status not in self.statuses.get(task_id, []):
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), 10)

    async def promote_due(self) -> None:
        """What the task timer does when it fires (server/node/app.py)."""
        await self.tasks.promote_due()
        await self.read_unread()


def _status_of(payload: bytes) -> str:
    decoded: dict[str, Any] = msgspec.json.decode(payload)
    return str(decoded["task"]["status"])


@pytest.fixture
def build(database: Database) -> Callable[[ScriptedExecutor], Core]:
    def make(executor: ScriptedExecutor) -> Core:
        clock = StillClock()
        signals = Signals()
        writer = Writer(database, signals, clock)
        registry = ExecutorRegistry([executor])
        tasks = TaskService(database, writer, registry, review_required_types=frozenset(),
                            clock=clock)
        runner = Runner(db=database, writer=writer, executors=registry,
                        config=RunnerConfig(concurrency=4, lease_seconds=30, poll_seconds=60,
                                            retry=POLICY),
                        clock=clock, worker_id="test-worker", draw=lambda: 1.0)
        core = Core(database, clock, writer, tasks, runner)
        signals.publish = core.on_publish
        signals.connect(Listeners(wake_runner=runner.wake, arm_timer=lambda _at: None,
                                  cancel_attempt=runner.cancel_local))
        return core
    return make


def _task(title: str, **extra: Any) -> TaskCreate:
    return TaskCreate(title=title, task_type="api_call",
                      execution_config={"apiEndpoint": "https://example.test/"}, **extra)


async def test_runner_claims_records_schedules_a_retry_and_succeeds_on_it(
        build: Callable[[ScriptedExecutor], Core]) -> None:
    executor = ScriptedExecutor([RetryableError("upstream 503"), {"ok": True}])
    core = build(executor)
    await core.runner.start()
    try:
        task = await core.tasks.create(_task("flaky"))
        await core.until(task.id, "scheduled")  # the failed attempt scheduled a retry
        async with core.db.read() as conn:
            row = await repo.task_get(conn, task.id)
        assert row is not None
        delay = backoff_seconds(1, POLICY, 1.0)
        assert (row.error_count, row.next_trigger, row.last_error) == (1, "retry", "upstream 503")
        assert row.due_at == T0 + timedelta(seconds=delay)

        core.clock.now = T0 + timedelta(seconds=delay - 0.001)
        await core.promote_due()  # not yet due
        assert core.statuses[task.id][-1] == "scheduled"
        core.clock.now = T0 + timedelta(seconds=delay)
        await core.promote_due()
        await core.until(task.id, "completed")
    finally:
        await core.runner.stop(5)
    assert executor.seen == [(task.id, 1, "create"), (task.id, 2, "retry")]
    done = await core.tasks.get(task.id)
    assert (done.status, done.result, done.error_count) == ("completed", {"ok": True}, 1)
    attempts = await core.tasks.executions(task.id)
    assert [(a.attempt_number, a.status, a.triggered_by) for a in attempts] == [
        (1, "failed", "create"), (2, "success", "retry")]
    assert attempts[0].started_at == T0 and attempts[1].started_at == core.clock.now


async def test_a_burst_is_promoted_whole_and_reaches_a_live_subscriber(
        database: Database) -> None:
    """Tasks due together become queued in one promotion, one status event each; the
    promotion reads back only what the events store and publishes them without payloads, and
    a live subscriber still gets every promoted task whole (read from the table), secrets
    masked. The next promotion finds nothing: a task is promoted once."""
    clock = StillClock()
    hub = EventHub()
    signals = Signals(publish=hub.publish, wants_payloads=lambda: hub.subscriber_count > 0)
    writer = Writer(database, signals, clock)
    tasks = TaskService(database, writer, ExecutorRegistry([ScriptedExecutor([])]),
                        review_required_types=frozenset(), clock=clock)
    due = T0 + timedelta(minutes=1)
    created = await asyncio.gather(*(tasks.create(TaskCreate(
        title=f"burst {i}", task_type="api_call", scheduled_for=due,
        execution_config={"apiEndpoint": "https://example.test/", "authType": "bearer",
                          "bearerToken": "tok-secret"})) for i in range(5)))
    later = await tasks.create(_task("later", scheduled_for=due + timedelta(minutes=1)))
    assert {t.status for t in created} == {"scheduled"}

    received: list[bytes] = []
    stream = task_event_stream(database, hub, task_id=None, last_event_id=None)

    async def listen() -> None:
        async for _event_id, raw in stream:
            received.append(bytes(raw))
            if len(received) == len(created):
                return

    listening = asyncio.create_task(listen())
    while hub.subscriber_count == 0:
        await asyncio.sleep(0)
    clock.now = due
    assert await tasks.promote_due() == later.scheduled_for
    await asyncio.wait_for(listening, 10)
    await stream.aclose()
    assert await tasks.promote_due() == later.scheduled_for  # nothing promoted twice

    events = [msgspec.json.decode(raw) for raw in received]
    now = [msgspec.json.decode(msgspec.json.encode(await tasks.get(t.id))) for t in created]
    assert sorted(e["task"]["id"] for e in events) == sorted(t.id for t in created)
    assert {e["type"] for e in events} == {"status"}
    assert sorted((e["task"] for e in events), key=lambda t: t["id"]) == sorted(
        now, key=lambda t: t["id"])  # whole tasks, as tasks.get shows them
    assert {t["status"] for t in now} == {"queued"} and {t["queuedAt"] for t in now} == {
        "2030-05-01T09:01:00Z"}
    assert not any(b"tok-secret" in raw for raw in received)
    assert (await tasks.get(later.id)).status == "scheduled"
    async with database.read() as conn:
        stored = await repo.events_after(conn, 0, task_id=None)
    assert sorted(r.task_id for r in stored if r.created_at == due) == sorted(
        t.id for t in created)  # one stored status event each


async def test_a_permanent_error_fails_the_task_without_a_retry(
        build: Callable[[ScriptedExecutor], Core]) -> None:
    executor = ScriptedExecutor([PermanentError("HTTP 404", error_type="http_status")])
    core = build(executor)
    await core.runner.start()
    try:
        task = await core.tasks.create(_task("missing page"))
        await core.until(task.id, "failed")
    finally:
        await core.runner.stop(5)
    failed = await core.tasks.get(task.id)
    assert (failed.error_count, failed.last_error) == (1, "HTTP 404")
    assert [a.error_type for a in await core.tasks.executions(task.id)] == ["http_status"]


async def test_writer_group_commits_and_one_bad_job_fails_alone(
        build: Callable[[ScriptedExecutor], Core]) -> None:
    core = build(ScriptedExecutor([]))
    transactions: list[ChangeSet] = []  # kept alive, so their ids stay distinct

    def job(n: int) -> Callable[[ChangeSet], Any]:
        async def run(cs: ChangeSet) -> int:
            transactions.append(cs)
            if n == 3:
                raise ValueError("job 3 is bad")
            await repo.task_insert(cs.conn, {**_row(f"t_{n}"), "created_at": cs.now,
                                             "updated_at": cs.now}, [])
            return n
        return run

    outcomes = await asyncio.gather(*[core.writer.run(job(n)) for n in range(6)],
                                    return_exceptions=True)
    assert outcomes[:3] == [0, 1, 2] and outcomes[4:] == [4, 5]
    assert isinstance(outcomes[3], ValueError)
    # jobs 0-3 ran in one transaction, which job 3 rolled back; then each job ran alone
    assert len(transactions) == 4 + 6
    assert len({id(cs) for cs in transactions[:4]}) == 1
    assert len({id(cs) for cs in transactions[4:]}) == 6
    async with core.db.read() as conn:
        rows = await repo.tasks_by_ids(conn, [f"t_{n}" for n in range(6)])
    assert sorted(rows) == ["t_0", "t_1", "t_2", "t_4", "t_5"]
    assert {r.created_at for r in rows.values()} == {T0}

    transactions.clear()
    good = await asyncio.gather(*[core.writer.run(job(n)) for n in range(10, 15)])
    assert good == [10, 11, 12, 13, 14]
    assert len(transactions) == 5 and len({id(cs) for cs in transactions}) == 1  # one commit


def _row(task_id: str) -> dict[str, Any]:
    return {
        "id": task_id, "title": task_id, "description": None, "task_type": "api_call",
        "execution_type": "manual", "assigned_to_bot": False, "requires_human_review": False,
        "execution_config": {}, "scheduled_for": None, "priority": "normal",
        "priority_rank": 1, "max_retries": 0, "timeout_seconds": 30,
        "notify_on_complete": False, "notify_on_failure": False, "source_webhook_id": None,
        "idempotency_key": None, "depends_on": [], "meta": None, "status": "pending",
        "status_reason": None, "error_count": 0, "last_error": None, "result": None,
        "result_summary": None, "queued_at": None, "due_at": None, "attempts": 0,
        "next_trigger": "manual",
    }


async def test_creates_with_one_idempotency_key_in_one_group_commit_make_one_task(
        build: Callable[[ScriptedExecutor], Core]) -> None:
    """The duplicate key is found as the group's closing inserts run (in one trip on SQLite):
    the group is rolled back, each create runs alone, and every caller gets the one task."""
    core = build(ScriptedExecutor([]))
    created = await asyncio.gather(*[
        core.tasks.create(_task(f"same {n}", idempotency_key="order-7")) for n in range(4)])
    others = await asyncio.gather(*[core.tasks.create(_task(f"other {n}")) for n in range(3)])

    assert len({task.id for task in created}) == 1
    assert len({task.id for task in others}) == 3
    async with core.db.read() as conn:
        counts = await repo.task_counts_by_status(conn)
        events = await repo.events_after(conn, 0, task_id=created[0].id)
    assert sum(counts.values()) == 4
    assert len(events) == 1  # its created event, once

