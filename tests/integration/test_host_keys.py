"""The host key HOST_CONCURRENCY counts by (server/core/claims.py ``dest_host``), as stored with
each task on SQLite and PostgreSQL: canonical whatever the spelling, found for a ``{{dep.N}}``
endpoint once its dependency has completed, kept fresh by an edit, and a notification's is its
webhook receiver's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from executors.base import ExecutionContext, ExecutionResult, Issue, TaskSpec
from executors.registry import ExecutorRegistry
from schemas.tasks import TaskCreate
from schemas.workflows import TaskPatch
from server.db import repositories as repo
from server.db import webhooks as webhook_db
from server.db.engine import Database
from server.node.runner import Runner, RunnerConfig
from server.services.audit import SYSTEM
from server.services.changes import Listeners, Signals, Writer
from server.services.tasks import TaskService


class Answering:
    """``api_call`` that answers each task with ``{"next": <the URL its title names>}``."""

    task_type: ClassVar[str] = "api_call"

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.ran: list[str] = []

    def check(self, config: Any, *, source_webhook_id: str | None) -> list[Issue]:
        return []

    async def execute(self, task: TaskSpec, ctx: ExecutionContext) -> ExecutionResult:
        self.ran.append(task.id)
        self.done.set()
        return ExecutionResult({"next": "http://0x7F000001.:8080/x"})


class Notifying:
    task_type: ClassVar[str] = "notification"

    def check(self, config: Any, *, source_webhook_id: str | None) -> list[Issue]:
        return []

    async def execute(self, task: TaskSpec, ctx: ExecutionContext) -> ExecutionResult:
        return ExecutionResult({})


@dataclass
class Core:
    db: Database
    tasks: TaskService
    runner: Runner
    api: Answering

    async def host_of(self, task_id: str) -> str | None:
        async with self.db.read() as conn:
            row = await repo.task_get(conn, task_id)
        assert row is not None
        return row.dest_host

    async def status_of(self, task_id: str) -> str:
        async with self.db.read() as conn:
            row = await repo.task_get(conn, task_id)
        assert row is not None
        return row.status


@pytest.fixture
async def core(database: Database) -> AsyncIterator[Core]:
    signals = Signals()
    writer = Writer(database, signals, lambda: datetime.now(UTC))
    api = Answering()
    registry = ExecutorRegistry([api, Notifying()])
    tasks = TaskService(database, writer, registry, review_required_types=frozenset(),
                        clock=lambda: datetime.now(UTC))
    runner = Runner(db=database, writer=writer, executors=registry,
                    config=RunnerConfig(concurrency=4, poll_seconds=0.2),
                    clock=lambda: datetime.now(UTC), worker_id="node-h")
    signals.connect(Listeners(wake_runner=runner.wake, arm_timer=lambda _at: None,
                              cancel_attempt=runner.cancel_local))
    yield Core(database, tasks, runner, api)
    await runner.stop(1)


def api_call(url: str, **extra: Any) -> TaskCreate:
    return TaskCreate(title="call", task_type="api_call",
                      execution_config={"apiEndpoint": url}, **extra)


async def test_spellings_of_one_host_share_one_key(core: Core) -> None:
    urls = ["http://127.0.0.1:8080/a", "http://127.1:8080/b", "http://2130706433:8080/",
            "http://0x7f000001:8080/", "http://127.0.0.1.:8080/", "HTTP://[::ffff:127.0.0.1]:8080"]
    created = [await core.tasks.create(api_call(url, execution_type="manual")) for url in urls]
    assert {await core.host_of(t.id) for t in created} == {"127.0.0.1:8080"}
    named = [await core.tasks.create(api_call(url, execution_type="manual")) for url in (
        "https://API.Example.COM./x", "https://api.example.com:443/y")]
    assert {await core.host_of(t.id) for t in named} == {"api.example.com"}


async def test_a_placeholder_endpoint_gets_its_key_when_its_dependency_completes(
        core: Core) -> None:
    first = await core.tasks.create(api_call("http://first.example/", execution_type="manual"))
    second = await core.tasks.create(api_call("{{dep.0.next}}", depends_on=[first.id]))
    assert await core.host_of(second.id) is None  # not known yet
    await core.runner.start()
    await core.tasks.execute(first.id, actor=SYSTEM)
    async with asyncio.timeout(30):
        while second.id not in core.api.ran:
            core.api.done.clear()
            await core.api.done.wait()
    assert await core.host_of(second.id) == "127.0.0.1:8080"


async def test_an_edit_of_the_endpoint_moves_the_key(core: Core) -> None:
    task = await core.tasks.create(api_call("http://a.example/", execution_type="manual"))
    await core.tasks.update(task.id, TaskPatch(execution_config={
        "apiEndpoint": "http://B.example:81/"}), actor=SYSTEM, may_edit_any=True)
    assert await core.host_of(task.id) == "b.example:81"


async def test_a_notification_counts_under_its_webhook_receiver(core: Core) -> None:
    async with core.db.write() as conn:
        await webhook_db.webhook_insert(conn, {
            "id": "wh_1", "name": "receiver", "url": "https://Hooks.Example.:443/in",
            "secret_sealed": b"x", "active": True, "created_at": datetime.now(UTC)})
    named = await core.tasks.create(TaskCreate(
        title="n", task_type="notification", execution_type="manual",
        execution_config={"message": "hi", "webhookId": "wh_1"}))
    by_source = await core.tasks.create(TaskCreate(
        title="n", task_type="notification", execution_type="manual", source_webhook_id="wh_1",
        execution_config={"message": "hi"}))
    assert await core.host_of(named.id) == "hooks.example"
    assert await core.host_of(by_source.id) == "hooks.example"
