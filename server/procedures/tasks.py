"""tasks.* — thin: decode (done by the protocol layer), call the service, return a schema."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import msgspec

from schemas.system import FailureGroups
from schemas.tasks import (
    CancelInput,
    ExecutionsInput,
    GroupCreate,
    LiveView,
    LiveViewInput,
    OnChangeInput,
    ReviewInput,
    Task,
    TaskCreate,
    TaskEvent,
    TaskExecution,
    TaskGet,
    TaskList,
    TaskPage,
)
from schemas.workflows import DuplicateInput, RetryInput
from server.core.errors import NotFound
from server.procedures.context import Context, check_task_scope, owned
from server.rpc.registry import Router, Tracked
from server.services.task_events import task_event_stream


def register(router: Router) -> None:
    @router.mutation("tasks.create", input=TaskCreate, output=Task, permission="create")
    async def create(ctx: Context, data: TaskCreate) -> Task:
        """Create a task; with an idempotencyKey already used, return that task."""
        return ctx.services.callbacks.shown(
            await ctx.services.tasks.create(owned(ctx, data), actor=ctx.actor),
            ctx.principal.role)

    @router.mutation("tasks.createGroup", input=GroupCreate, output=Task, permission="create")
    async def create_group(ctx: Context, data: GroupCreate) -> Task:
        """A group of 1..100 subtasks, created with them in one transaction: it completes
        with their results in order, or fails at the first failed one (``fail_fast``)."""
        data = owned(ctx, data)
        data = msgspec.structs.replace(data, subtasks=[owned(ctx, s) for s in data.subtasks])
        return await ctx.services.tasks.create_group(data, actor=ctx.actor)

    @router.query("tasks.get", input=TaskGet, output=Task, permission="read")
    async def get(ctx: Context, data: TaskGet) -> Task:
        await check_task_scope(ctx, data.id)
        return ctx.services.callbacks.shown(await ctx.services.tasks.get(data.id),
                                            ctx.principal.role)

    @router.query("tasks.list", input=TaskList, output=TaskPage, permission="read")
    async def list_(ctx: Context, data: TaskList) -> TaskPage:
        """Newest first, paged by cursor."""
        page = await ctx.services.tasks.page(_own_list(ctx, data))
        return msgspec.structs.replace(page, items=[
            ctx.services.callbacks.shown(t, ctx.principal.role) for t in page.items])

    @router.query("tasks.failureGroups", output=FailureGroups, permission="read")
    async def failure_groups(ctx: Context, _: None) -> FailureGroups:
        """Failed tasks grouped by their last error's type and message pattern, largest
        first; a group's key filters tasks.list (``errorGroup``)."""
        return await ctx.services.insights.failure_groups(ctx.principal.client_id)

    _register_actions(router)
    _register_history(router)


def _register_actions(router: Router) -> None:
    """The state changes of one task (execute, review, cancel, retry, duplicate)."""
    @router.mutation("tasks.execute", input=TaskGet, output=Task, permission="execute")
    async def execute(ctx: Context, data: TaskGet) -> Task:
        """Queue a pending or scheduled task now; returns before the attempt ends."""
        await check_task_scope(ctx, data.id)
        return await ctx.services.tasks.execute(data.id, actor=ctx.actor)

    @router.mutation("tasks.approve", input=ReviewInput, output=Task, permission="review")
    async def approve(ctx: Context, data: ReviewInput) -> Task:
        await check_task_scope(ctx, data.id)
        return await ctx.services.tasks.approve(data.id, reviewer=ctx.principal.name,
                                                notes=data.notes, actor=ctx.actor)

    @router.mutation("tasks.reject", input=ReviewInput, output=Task, permission="review")
    async def reject(ctx: Context, data: ReviewInput) -> Task:
        await check_task_scope(ctx, data.id)
        return await ctx.services.tasks.reject(data.id, reviewer=ctx.principal.name,
                                               notes=data.notes, actor=ctx.actor)

    @router.mutation("tasks.cancel", input=CancelInput, output=Task, permission="cancel")
    async def cancel(ctx: Context, data: CancelInput) -> Task:
        await check_task_scope(ctx, data.id)
        return await ctx.services.tasks.cancel(data.id, by=ctx.principal.name,
                                               reason=data.reason, actor=ctx.actor)

    @router.mutation("tasks.retry", input=RetryInput, output=Task, permission="retry")
    async def retry(ctx: Context, data: RetryInput) -> Task:
        """A failed task again; ``patch`` changes it first, as tasks.update would."""
        await check_task_scope(ctx, data.id)
        return await ctx.services.tasks.retry(data.id, actor=ctx.actor, patch=data.patch)

    @router.mutation("tasks.duplicate", input=DuplicateInput, output=Task, permission="create")
    async def duplicate(ctx: Context, data: DuplicateInput) -> Task:
        """A new task with the same fields (``metadata.duplicateOf``), changed by ``patch``."""
        await check_task_scope(ctx, data.id)
        return await ctx.services.tasks.duplicate(data.id, data.patch, actor=ctx.actor)


def _register_history(router: Router) -> None:
    """A task's attempts and its live events."""
    @router.query("tasks.executions", input=ExecutionsInput, output=list[TaskExecution],
                  permission="read")
    async def executions(ctx: Context, data: ExecutionsInput) -> list[TaskExecution]:
        """Every attempt of a task, by attemptNumber."""
        await check_task_scope(ctx, data.task_id)
        return await ctx.services.tasks.executions(data.task_id)

    @router.query("tasks.liveView", input=LiveViewInput, output=LiveView, permission="read")
    async def live_view(ctx: Context, data: LiveViewInput) -> LiveView:
        """A running browser attempt now: its step and a frame of its page, about a second
        old (the console's ``/live/<executionId>``); an ended attempt is
        PRECONDITION_FAILED."""
        task_id, view = await ctx.services.live.view(data.execution_id)
        await check_task_scope(ctx, task_id)
        return view

    @router.subscription("tasks.onChange", input=OnChangeInput, output=TaskEvent,
                         permission="read")
    async def on_change(ctx: Context, data: OnChangeInput
                        ) -> AsyncIterator[Tracked[msgspec.Raw]]:
        """Task events (all tasks, or one with ``id``), resumable with ``lastEventId``."""
        if data.id is not None:
            await ctx.services.tasks.get(data.id)  # NOT_FOUND for an unknown id
            await check_task_scope(ctx, data.id)
        return _tracked(task_event_stream(ctx.services.db, ctx.services.hub, task_id=data.id,
                                          last_event_id=data.last_event_id),
                        ctx.principal.client_id)


def _own_list(ctx: Context, data: TaskList) -> TaskList:
    """A key scoped to a client lists that client's tasks (another client is NOT_FOUND)."""
    scope = ctx.principal.client_id
    if scope is None:
        return data
    if data.client_id not in (None, scope):
        raise NotFound(f"no client with id {data.client_id!r}")
    return msgspec.structs.replace(data, client_id=scope)


class _EventTask(msgspec.Struct, rename="camel"):
    client_id: str | None = None


class _EventOf(msgspec.Struct):
    task: _EventTask


_event_client = msgspec.json.Decoder(_EventOf)


def _client_of(payload: msgspec.Raw) -> str | None:
    """The clientId of an event's task (its payload decoded no further)."""
    return _event_client.decode(bytes(payload)).task.client_id


async def _tracked(events: AsyncGenerator[tuple[str, msgspec.Raw], None],
                   scope: str | None = None) -> AsyncIterator[Tracked[msgspec.Raw]]:
    """Each ``(event id, payload)`` as a tracked item, so the client can resume after it;
    with ``scope`` (a key scoped to a client), that client's tasks' events only."""
    try:
        async for event_id, payload in events:
            if scope is not None and _client_of(payload) != scope:
                continue
            yield Tracked(event_id, payload)
    finally:
        await events.aclose()
