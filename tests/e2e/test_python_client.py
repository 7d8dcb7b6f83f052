"""The Python client package (clients/python, errands_client) against the real server: typed
calls, errors, batches, subscriptions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from errands_client import AsyncErrands, Call, Errands, ErrandsError, Tracked
from errands_client.models import (
    Health,
    MessagePage,
    Schedule,
    Task,
    TaskCreate,
    TaskEvent,
    TaskExecution,
    Webhook,
    WebhookCreated,
)

from tests.support.server import ErrandsServer, free_port

KEY = "py-client-key"
KEYS = {"ERRANDS_API_KEYS": f"py:admin:{KEY},looker:viewer:viewer-key"}
YEARLY = "0 0 1 1 *"  # a schedule that fires on no test's watch


def manual(title: str, **extra: Any) -> TaskCreate:
    """An api_call task that waits (manual): nothing runs behind the test's back."""
    return TaskCreate(title=title, task_type="api_call", execution_type="manual",
                      execution_config={"apiEndpoint": "http://127.0.0.1:9/unused"}, **extra)


@pytest.fixture
def server(sqlite_database_url: str,
           errands_server: Callable[..., ErrandsServer]) -> ErrandsServer:
    return errands_server(sqlite_database_url, env=KEYS, api_key=KEY)


@pytest.fixture
def errands(server: ErrandsServer) -> Iterator[Errands]:
    with Errands(server.url, api_key=KEY) as client:
        yield client


def test_typed_calls(errands: Errands) -> None:
    health = errands.system.health()
    assert isinstance(health, Health) and health.status == "ok"
    task = errands.tasks.create(manual("first", priority="high", metadata={"k": [1, 2]}))
    assert isinstance(task, Task)
    assert (task.status, task.priority, task.metadata) == ("pending", "high", {"k": [1, 2]})
    assert task.created_at.tzinfo is not None
    assert errands.tasks.get(task.id) == task
    page = errands.tasks.list(status=["pending"], task_type="api_call", limit=10)
    assert [t.id for t in page.items] == [task.id] and page.next_cursor is None
    assert errands.tasks.execute(task.id).status == "queued"
    review = errands.tasks.create(manual("review", requires_human_review=True))
    assert review.status == "awaiting_review"
    approved = errands.tasks.approve(review.id, notes="fine")
    assert (approved.status, approved.reviewed_by, approved.review_notes) == (
        "pending", "py", "fine")
    other = errands.tasks.create(manual("other", requires_human_review=True))
    assert errands.tasks.reject(other.id, notes="no").status == "rejected"
    assert errands.tasks.cancel(approved.id, reason="later").status == "cancelled"
    executions = errands.tasks.executions(task.id)
    assert all(isinstance(e, TaskExecution) for e in executions)
    assert errands.system.stats().tasks_by_status.get("rejected") == 1


def test_errors_carry_the_trpc_code_status_and_issues(errands: Errands,
                                                      server: ErrandsServer) -> None:
    with pytest.raises(ErrandsError) as missing:
        errands.tasks.get("t_does_not_exist")
    assert (missing.value.code, missing.value.http_status, missing.value.path) == (
        "NOT_FOUND", 404, "tasks.get")
    with pytest.raises(ErrandsError) as invalid:
        errands.tasks.create(TaskCreate(title="bad", task_type="api_call",
                                        execution_config={"apiEndpoint": 42}))
    assert (invalid.value.code, invalid.value.http_status) == ("BAD_REQUEST", 400)
    assert invalid.value.issues[0]["path"][:2] == ["executionConfig", "apiEndpoint"]
    task = errands.tasks.create(manual("cancel me"))
    errands.tasks.cancel(task.id)
    with pytest.raises(ErrandsError) as conflict:
        errands.tasks.retry(task.id)
    assert conflict.value.code == "CONFLICT" and conflict.value.rpc_code == -32009
    with Errands(server.url, api_key="wrong") as stranger, pytest.raises(ErrandsError) as auth:
        stranger.tasks.list()
    assert (auth.value.code, auth.value.http_status) == ("UNAUTHORIZED", 401)
    with Errands(server.url, api_key="viewer-key") as viewer, pytest.raises(ErrandsError) as role:
        viewer.tasks.create(manual("not allowed"))
    assert (role.value.code, role.value.http_status) == ("FORBIDDEN", 403)


def test_no_answer_is_a_network_error() -> None:
    with Errands(f"http://127.0.0.1:{free_port()}/trpc", timeout=2) as nobody, \
            pytest.raises(ErrandsError) as error:
        nobody.system.health()
    assert (error.value.code, error.value.http_status) == ("NETWORK_ERROR", 0)
    assert isinstance(error.value.__cause__, httpx.ConnectError)


def test_generic_call_reaches_any_procedure(errands: Errands) -> None:
    health = errands.call(Call("system.health", "query", None, Health))
    assert health.status == "ok"
    with pytest.raises(ErrandsError) as unknown:
        errands.call(Call("tasks.nope", "query", None, Health))
    assert unknown.value.code == "NOT_FOUND"


def test_batch_sends_one_request_per_run_of_one_kind(server: ErrandsServer) -> None:
    sent: list[str] = []
    http = httpx.Client(timeout=30, event_hooks={
        "request": [lambda request: sent.append(f"{request.method} {request.url.path}")]})
    with http, Errands(server.url, api_key=KEY, http=http) as errands:
        first = errands.tasks.create(manual("batched"))
        sent.clear()
        with errands.batch() as batch:
            got = batch.tasks.get(first.id)
            health = batch.system.health()
            missing = batch.tasks.get("t_missing")
            assert not got.sent
        assert sent == ["GET /trpc/tasks.get,system.health,tasks.get"]
        assert got.result() == first
        assert health.result().status == "ok"
        assert missing.error is not None and missing.error.code == "NOT_FOUND"
        with pytest.raises(ErrandsError):
            missing.result()

        sent.clear()
        with errands.batch() as batch:
            created = [batch.tasks.create(manual(f"b{i}")) for i in range(2)]
            cancelled = batch.tasks.cancel(first.id)
            after = batch.tasks.get(first.id)  # a query after the mutations sees them
        assert sent == ["POST /trpc/tasks.create,tasks.create,tasks.cancel",
                        "GET /trpc/tasks.get"]
        assert [p.result().title for p in created] == ["b0", "b1"]
        assert cancelled.result().status == after.result().status == "cancelled"


def test_batch_result_before_send_and_no_send_on_error(errands: Errands) -> None:
    with pytest.raises(ZeroDivisionError), errands.batch() as batch:
        pending = batch.system.health()
        raise ZeroDivisionError
    with pytest.raises(RuntimeError, match="not been sent"):
        pending.result()


def test_on_change_resumes_after_the_server_dies(errands: Errands,
                                                 server: ErrandsServer) -> None:
    first = errands.tasks.create(manual("a"))
    second = errands.tasks.create(manual("b"))
    events = errands.tasks.on_change(last_event_id="0")
    a, b = next(events), next(events)
    assert isinstance(a, Tracked) and isinstance(a.data, TaskEvent)
    assert [(e.data.type, e.data.task.id) for e in (a, b)] == [
        ("created", first.id), ("created", second.id)]
    server.kill()  # the connection drops with no `return`
    server.start()
    third = server.call("tasks.create", {"title": "c", "taskType": "api_call",
                                         "executionType": "manual",
                                         "executionConfig": {"apiEndpoint": "http://x.test"}},
                        mutation=True)
    c = next(events)  # reconnects with Last-Event-ID: b.id, so a and b do not come again
    assert (c.data.type, c.data.task.id) == ("created", third["id"])
    assert int(c.id) > int(b.id)
    events.close()


def test_on_change_of_one_task_and_its_errors(errands: Errands) -> None:
    mine = errands.tasks.create(manual("mine"))
    errands.tasks.create(manual("not mine"))
    events = errands.tasks.on_change(id=mine.id, last_event_id="0")
    errands.tasks.cancel(mine.id)
    seen = [next(events), next(events)]
    assert [(e.data.type, e.data.task.status) for e in seen] == [
        ("created", "pending"), ("status", "cancelled")]
    with pytest.raises(ErrandsError) as unknown:
        next(errands.tasks.on_change(id="t_unknown"))
    assert unknown.value.code == "NOT_FOUND"


async def test_async_client(server: ErrandsServer) -> None:
    async with AsyncErrands(server.url, api_key=KEY) as errands:
        assert (await errands.system.health()).status == "ok"
        task = await errands.tasks.create(manual("async"))
        assert (await errands.tasks.get(task.id)).title == "async"
        async with errands.batch() as batch:
            got = batch.tasks.get(task.id)
            page = batch.tasks.list(search="async")
        assert got.result() == task
        assert [t.id for t in page.result().items] == [task.id]
        with pytest.raises(ErrandsError) as missing:
            await errands.tasks.cancel("t_missing")
        assert missing.value.code == "NOT_FOUND"

        later = await errands.tasks.create(manual("async later"))
        stream = errands.tasks.on_change(last_event_id="0")
        seen = [await anext(stream), await anext(stream)]
        assert [e.data.task.id for e in seen] == [task.id, later.id]
        await stream.aclose()
        resumed = errands.tasks.on_change(last_event_id=seen[0].id)
        assert (await anext(resumed)).data.task.id == later.id
        await resumed.aclose()


def test_webhooks_messages_and_schedules(errands: Errands) -> None:
    hook = errands.webhooks.create("ops", "https://example.com/hook")
    assert isinstance(hook, WebhookCreated) and hook.secret.startswith("whsec_")
    assert (hook.name, hook.url, hook.active, hook.last_delivery_at) == (
        "ops", "https://example.com/hook", True, None)
    listed = errands.webhooks.list()
    assert [(type(w), w.id) for w in listed] == [(Webhook, hook.id)]
    assert not hasattr(listed[0], "secret")
    page = errands.messages.list()
    assert isinstance(page, MessagePage) and (page.items, page.next_cursor) == ([], None)
    assert errands.messages.list(webhook_id=hook.id, status="failed", limit=5).items == []

    schedule = errands.schedules.create("yearly", YEARLY, manual("from schedule"),
                                        timezone="Europe/Paris", missed_run_policy="skip")
    assert isinstance(schedule, Schedule)
    assert (schedule.enabled, schedule.timezone, schedule.missed_run_policy,
            schedule.task.title) == (True, "Europe/Paris", "skip", "from schedule")
    assert schedule.next_run_at is not None
    assert [s.id for s in errands.schedules.list()] == [schedule.id]
    paused = errands.schedules.pause(schedule.id)
    assert (paused.enabled, paused.next_run_at) == (False, None)
    resumed = errands.schedules.resume(schedule.id)
    assert resumed.enabled and resumed.next_run_at is not None
    assert errands.schedules.delete(schedule.id).id == schedule.id
    assert errands.schedules.list() == []

    with pytest.raises(ErrandsError) as invalid:
        errands.webhooks.create("bad", "ftp://example.com")
    assert invalid.value.code == "BAD_REQUEST" and invalid.value.issues[0]["path"] == ["url"]
    assert errands.webhooks.delete(hook.id).id == hook.id
    with pytest.raises(ErrandsError) as gone:
        errands.webhooks.delete(hook.id)
    assert gone.value.code == "NOT_FOUND"


def test_batch_mixes_webhooks_and_schedules(server: ErrandsServer) -> None:
    sent: list[str] = []
    http = httpx.Client(timeout=30, event_hooks={
        "request": [lambda request: sent.append(f"{request.method} {request.url.path}")]})
    with http, Errands(server.url, api_key=KEY, http=http) as errands:
        sent.clear()
        with errands.batch() as batch:
            hook = batch.webhooks.create("batched", "https://example.com/b")
            schedule = batch.schedules.create("batched", YEARLY, manual("batched"))
            hooks = batch.webhooks.list()
            schedules = batch.schedules.list()
            messages = batch.messages.list()
        assert sent == ["POST /trpc/webhooks.create,schedules.create",
                        "GET /trpc/webhooks.list,schedules.list,messages.list"]
        assert hook.result().secret.startswith("whsec_")
        assert [w.id for w in hooks.result()] == [hook.result().id]
        assert [s.id for s in schedules.result()] == [schedule.result().id]
        assert messages.result().items == []

        with errands.batch() as batch:
            paused = batch.schedules.pause(schedule.result().id)
            missing = batch.schedules.resume("sch_missing")
            deleted = batch.webhooks.delete(hook.result().id)
        assert paused.result().enabled is False
        assert missing.error is not None and missing.error.code == "NOT_FOUND"
        assert deleted.result().id == hook.result().id


async def test_async_webhooks_messages_and_schedules(server: ErrandsServer) -> None:
    async with AsyncErrands(server.url, api_key=KEY) as errands:
        hook = await errands.webhooks.create("async", "https://example.com/a")
        assert hook.secret.startswith("whsec_")
        assert [w.id for w in await errands.webhooks.list()] == [hook.id]
        assert (await errands.messages.list(task_id="t_none")).items == []
        schedule = await errands.schedules.create("async", YEARLY, manual("async"))
        assert (await errands.schedules.pause(schedule.id)).enabled is False
        assert (await errands.schedules.resume(schedule.id)).enabled is True
        async with errands.batch() as batch:
            hooks = batch.webhooks.list()
            schedules = batch.schedules.list()
        assert [w.id for w in hooks.result()] == [hook.id]
        assert [s.id for s in schedules.result()] == [schedule.id]
        assert (await errands.schedules.delete(schedule.id)).id == schedule.id
        assert await errands.schedules.list() == []
        assert (await errands.webhooks.delete(hook.id)).id == hook.id
        assert await errands.webhooks.list() == []
