"""Operations in process (CONTRACT §12): /metrics counts after known work, /healthz and
/readyz (including 503 while draining and when a runner loop died), X-Request-ID, and task
retention deleting exactly the right rows — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from server.core.settings import ApiKey, Settings
from server.db import retention
from server.db.tables import outbound_messages, task_events, task_executions, tasks
from server.node.app import Node as ServerNode
from server.node.app import create_app
from server.node.metrics import parse
from tests.support.http_servers import HttpServer
from tests.support.server import free_port
from tests.support.waiting import eventually_async

# server/node/app.py's /artifacts handler uses Litestar's older path-parameter style (not ours).
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*declared using deprecated inferred style:DeprecationWarning")


@dataclass
class Clock:
    offset: timedelta = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Node:
    client: httpx.AsyncClient
    node: ServerNode
    clock: Clock
    app: Any = None  # the Litestar app served

    async def call(self, path: str, data: Any = None, *, mutation: bool = False,
                   headers: dict[str, str] | None = None) -> Any:
        if mutation:
            resp = await self.client.post(f"/trpc/{path}", json=data, headers=headers)
        else:
            params = {} if data is None else {"input": _json(data)}
            resp = await self.client.get(f"/trpc/{path}", params=params, headers=headers)
        body = resp.json()
        assert "error" not in body, body
        return body["result"].get("data")

    async def wait(self, task_id: str, statuses: set[str], timeout: float = 20
                   ) -> dict[str, Any]:
        task: dict[str, Any] = await eventually_async(
            lambda: self.call("tasks.get", {"id": task_id}),
            lambda found: found["status"] in statuses, timeout=timeout,
            what=f"task {task_id} {'/'.join(sorted(statuses))}")
        return task

    async def metrics(self, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]],
                                                   float]:
        resp = await self.client.get("/metrics", headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/plain")
        return parse(resp.text)


def _json(value: Any) -> str:
    import msgspec

    return msgspec.json.encode(value).decode()


@asynccontextmanager
async def node(database_url: str, tmp_path: Path, **settings: Any) -> AsyncIterator[Node]:
    """The app served by uvicorn on this test's event loop, so the test may reach into it."""
    clock = Clock()
    base = dict(database_url=database_url, allow_private_network=True,
                artifacts_dir=tmp_path / "artifacts", retry_base_seconds=0.05,
                secret_key="operations-tests", sse_ping_seconds=0.2,
                shutdown_grace_seconds=1.0)
    app = create_app(Settings(**{**base, **settings}), clock=clock)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           log_level="warning", access_log=False))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        assert not serving.done(), serving.exception()
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            yield Node(client, app.state.node, clock, app)
    finally:
        server.should_exit = True
        await serving


def api_task(url: str, **extra: Any) -> dict[str, Any]:
    return {"title": "ping", "taskType": "api_call", "maxRetries": 0,
            "executionConfig": {"apiEndpoint": url}, **extra}


def sample(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


# --- /metrics -------------------------------------------------------------------------------

async def test_metrics_count_known_work_exactly(database_url: str, tmp_path: Path) -> None:
    with HttpServer() as outside:
        outside.route("/ok", json={"ok": True})
        outside.route("/bad", status=400, json={"error": "no"})
        async with node(database_url, tmp_path) as n:
            ids = [(await n.call("tasks.create", api_task(outside.url_for(path)),
                                 mutation=True))["id"]
                   for path in ("/ok", "/ok", "/ok", "/bad", "/bad")]
            manual = await n.call("tasks.create", api_task(outside.url_for("/ok"),
                                                           executionType="manual"),
                                  mutation=True)
            for task_id in ids:
                await n.wait(task_id, {"completed", "failed"})
            failed = await n.call("tasks.executions", {"taskId": ids[-1]})
            got = await n.metrics()
            again = await n.metrics()

    assert manual["status"] == "pending"
    assert sample(got, "errands_tasks", status="completed", task_type="api_call") == 3
    assert sample(got, "errands_tasks", status="failed", task_type="api_call") == 2
    assert sample(got, "errands_tasks", status="pending", task_type="api_call") == 1
    assert sample(got, "errands_pickup_latency_seconds_count", task_type="api_call") == 5
    assert sample(got, "errands_attempt_duration_seconds_count", task_type="api_call",
                  outcome="success") == 3
    assert sample(got, "errands_attempt_duration_seconds_count", task_type="api_call",
                  outcome="failure") == 2
    error_type = failed[0]["errorType"]
    assert sample(got, "errands_attempt_errors_total", error_type=error_type) == 2
    assert sample(got, "errands_lease_recoveries_total") == 0
    assert sample(got, "errands_metrics_database_ok") == 1
    assert sample(got, "errands_attempts_in_flight") == 0
    assert sample(got, "errands_subscriptions_open") == 0
    assert sample(got, "errands_ghl_rate_limited_total") == 0
    assert sample(got, "errands_oldest_undelivered_message_age_seconds") == 0
    # Nothing is queued: no oldest-queued series at all.
    assert not [k for k in got if k[0] == "errands_oldest_queued_task_age_seconds"]
    assert sample(got, "errands_timer_lag_seconds", timer="tasks") is not None
    # The second scrape, within the cache interval, ran no SQL and saw the same counts.
    assert n.node.metrics.sql_refreshes == 1
    assert sample(again, "errands_tasks", status="completed", task_type="api_call") == 3


async def test_metrics_need_a_viewer_key_unless_public(sqlite_database_url: str,
                                                       tmp_path: Path) -> None:
    keys = (ApiKey("ops", "viewer", "viewer-key-123"),)
    async with node(sqlite_database_url, tmp_path, api_keys=keys) as n:
        refused = await n.client.get("/metrics")
        wrong = await n.client.get("/metrics", headers={"authorization": "Bearer nope"})
        allowed = await n.client.get("/metrics",
                                     headers={"authorization": "Bearer viewer-key-123"})
    async with node(sqlite_database_url, tmp_path / "public", api_keys=keys,
                    metrics_public=True) as n:
        public = await n.client.get("/metrics")
    assert (refused.status_code, wrong.status_code, allowed.status_code) == (401, 401, 200)
    assert "viewer-key-123" not in refused.text + wrong.text
    assert public.status_code == 200
    assert "errands_tasks" in public.text


async def test_queued_age_and_subscriptions_are_gauged(sqlite_database_url: str,
                                                       tmp_path: Path) -> None:
    async with node(sqlite_database_url, tmp_path, worker_concurrency=1) as n:
        await n.node.runner.stop(0)
        await n.call("tasks.create", api_task("http://127.0.0.1:9/", executionType="automatic"),
                     mutation=True)
        n.clock.offset = timedelta(seconds=90)
        async with n.client.stream("GET", "/trpc/tasks.onChange",
                                   params={"input": "{}"}) as stream:
            lines = stream.aiter_lines()  # kept: a dropped iterator closes the stream
            await anext(lines)  # connected; the subscription follows
            for _ in range(100):
                if n.node.hub.subscriber_count:
                    break
                await asyncio.sleep(0.01)
            got = await n.metrics()
    assert sample(got, "errands_subscriptions_open") == 1
    age = sample(got, "errands_oldest_queued_task_age_seconds", task_type="api_call")
    assert age is not None and 90 <= age < 120


# --- probes and request ids -----------------------------------------------------------------

async def test_healthz_and_readyz(sqlite_database_url: str, tmp_path: Path) -> None:
    async with node(sqlite_database_url, tmp_path) as n:
        health = await n.client.get("/healthz")
        ready = await n.client.get("/readyz")
        # A runner loop that died makes the node unready (liveness is unaffected).
        claim_loop = next(t for t in n.node.runner._tasks if t.get_name() == "runner-claim")
        claim_loop.cancel()
        await asyncio.sleep(0.05)
        dead = await n.client.get("/readyz")
        alive = await n.client.get("/healthz")
        n.node.drain.begin()
        draining = await n.client.get("/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert dead.status_code == 503
    assert dead.json()["problems"] == ["runner-claim loop stopped"]
    assert alive.status_code == 200
    assert (draining.status_code, draining.json()["problems"]) == (503, ["draining"])


async def test_readyz_is_503_when_the_database_is_unreachable(sqlite_database_url: str,
                                                              tmp_path: Path) -> None:
    async with node(sqlite_database_url, tmp_path) as n:
        await n.node.db.engine.dispose()
        real_read = n.node.db.read

        @asynccontextmanager
        async def broken() -> AsyncIterator[Any]:
            raise ConnectionRefusedError("database down")
            yield  # pragma: no cover

        n.node.db.read = broken  # type: ignore[method-assign]
        try:
            down = await n.client.get("/readyz")
            live = await n.client.get("/healthz")
            scraped = await n.metrics()  # still answers, saying its SQL gauges are stale
        finally:
            n.node.db.read = real_read  # type: ignore[method-assign]
    assert down.status_code == 503
    assert down.json()["problems"] == ["database unreachable"]
    assert live.status_code == 200
    assert sample(scraped, "errands_metrics_database_ok") == 0


async def test_request_id_is_echoed_everywhere(sqlite_database_url: str, tmp_path: Path
                                               ) -> None:
    async with node(sqlite_database_url, tmp_path) as n:
        given = await n.client.get("/trpc/system.health", headers={"x-request-id": "abc-123"})
        made = await n.client.get("/trpc/system.health")
        error = await n.client.get("/trpc/no.such", headers={"x-request-id": "err-1"})
        bad = await n.client.get("/trpc/system.health", headers={"x-request-id": "a b\tc"})
        probe = await n.client.get("/readyz", headers={"x-request-id": "probe-7"})
        async with n.client.stream("GET", "/trpc/tasks.onChange", params={"input": "{}"},
                                   headers={"x-request-id": "sse-9"}) as stream:
            sse_id = stream.headers["x-request-id"]
    assert given.headers["x-request-id"] == "abc-123"
    assert made.headers["x-request-id"].startswith("req_")
    assert len(made.headers["x-request-id"]) == 20
    assert (error.status_code, error.headers["x-request-id"]) == (404, "err-1")
    assert bad.headers["x-request-id"].startswith("req_")  # not a sane token: replaced
    assert probe.headers["x-request-id"] == "probe-7"
    assert sse_id == "sse-9"


async def test_draining_ends_open_subscriptions(sqlite_database_url: str, tmp_path: Path
                                                ) -> None:
    async with node(sqlite_database_url, tmp_path) as n:
        async with n.client.stream("GET", "/trpc/tasks.onChange",
                                   params={"input": "{}"}) as stream:
            lines = stream.aiter_lines()
            assert (await anext(lines)) == "event: connected"
            for _ in range(100):
                if n.node.hub.subscriber_count:
                    break
                await asyncio.sleep(0.01)
            assert n.node.hub.subscriber_count == 1
            n.node.drain.begin()
            rest = [line async for line in lines]
        assert n.node.hub.subscriber_count == 0
    # The stream simply ended: no "return" event, so the client reconnects elsewhere.
    assert "event: return" not in rest
    assert "event: serialized-error" not in rest


# --- retention ------------------------------------------------------------------------------

async def _count(n: Node, table: sa.Table, ids: list[str]) -> int:
    async with n.node.db.read() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)
                                     .where(table.c.task_id.in_(ids))) or 0)


async def test_retention_deletes_exactly_old_terminal_tasks(database_url: str,
                                                            tmp_path: Path) -> None:
    with HttpServer() as outside:
        outside.route("/ok", json={"ok": True})
        outside.route("/bad", status=400, json={"error": "no"})
        outside.route("/hook", json={})
        async with node(database_url, tmp_path, task_retention_days=1) as n:
            hook = await n.call("webhooks.create", {"name": "h", "url": outside.url_for("/hook")},
                                mutation=True)
            done = await n.call("tasks.create", api_task(
                outside.url_for("/ok"), notifyOnComplete=True, sourceWebhookId=hook["id"]),
                mutation=True)
            failed = await n.call("tasks.create", api_task(outside.url_for("/bad")),
                                  mutation=True)
            pending = await n.call("tasks.create", api_task(outside.url_for("/ok"),
                                                            executionType="manual"),
                                   mutation=True)
            reminder = await n.call("tasks.create", {
                "title": "later", "taskType": "reminder", "sourceWebhookId": hook["id"],
                "executionConfig": {"message": "in a month",
                                    "remindAt": (datetime.now(UTC) + timedelta(days=30))
                                    .isoformat()}}, mutation=True)
            parent = await n.call("tasks.create", api_task(outside.url_for("/ok")),
                                  mutation=True)
            for task in (done, failed, reminder, parent):
                await n.wait(task["id"], {"completed", "failed"})
            # A manual task waiting on the parent: the parent stays while the child is open.
            child = await n.call("tasks.create", api_task(
                outside.url_for("/ok"), executionType="manual", dependsOn=[parent["id"]]),
                mutation=True)
            for _ in range(100):
                page = await n.call("messages.list", {"webhookId": hook["id"]})
                if any(m["status"] == "delivered" for m in page["items"]):
                    break
                await asyncio.sleep(0.05)
            old = [done["id"], failed["id"]]
            assert await _count(n, task_executions, old) == 2
            assert await _count(n, outbound_messages, [done["id"]]) == 1
            assert await _count(n, task_events, old) > 0

            n.clock.offset = timedelta(days=2)
            recent = await n.call("tasks.create", api_task(outside.url_for("/ok")),
                                  mutation=True)
            await n.wait(recent["id"], {"completed"})
            nothing = await retention.prune(n.node.db, n.clock() - timedelta(days=3))
            deleted = await retention.prune(n.node.db, n.clock() - timedelta(days=1),
                                            batch=1)  # one task per transaction
            again = await n.node.maintenance.prune_tasks()

            async with n.node.db.read() as conn:
                left = set(await conn.scalars(sa.select(tasks.c.id)))
            gone_executions = await _count(n, task_executions, old)
            gone_messages = await _count(n, outbound_messages, old)
            gone_events = await _count(n, task_events, old)
            kept_reminder_messages = await _count(n, outbound_messages, [reminder["id"]])
    assert nothing == (0, [])
    assert deleted == (2, [])
    assert again == 0
    # The manual task is not terminal, the reminder's message is still to be delivered,
    # the recent task is younger than the retention.
    assert left == {pending["id"], reminder["id"], recent["id"], parent["id"], child["id"]}
    assert (gone_executions, gone_messages, gone_events) == (0, 0, 0)
    assert kept_reminder_messages == 1


def test_artifact_files_of_deleted_tasks_are_removed(tmp_path: Path) -> None:
    from server.node.artifacts import FileArtifactStore

    store = FileArtifactStore(tmp_path)
    kept, gone = (asyncio.run(store.save(kind="screenshot", content_type="image/png",
                                         data=b"png")) for _ in range(2))
    assert store.remove([gone.id, "art_" + "0" * 32, "../etc/passwd"]) == 1
    assert store.open(gone.id) is None
    assert store.open(kept.id) is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{kept.id}.bin", f"{kept.id}.json"]


def test_retention_is_off_by_default() -> None:
    assert Settings().task_retention_days == 0

