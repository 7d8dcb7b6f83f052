"""tasks.* — thin: decode (done by the protocol layer), call the service, return a schema."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import msgspec

from schemas.system import FailureGroups
from schemas.tasks import (
    CancelInput,
    ExecutionsInput,
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
from server.context import Context
from server.rpc.registry import Router, Tracked
from server.services.task_events import task_event_stream


def register(router: Router) -> None:
    @router.mutation("tasks.create", input=TaskCreate, output=Task, permission="create")
    async def create(ctx: Context, data: TaskCreate) -> Task:
        """Create a task; with an idempotencyKey already used, return that task."""
        return await ctx.services.tasks.create(data, actor=ctx.actor)

    @router.query("tasks.get", input=TaskGet, output=Task, permission="read")
    async def get(ctx: Context, data: TaskGet) -> Task:
        return await ctx.services.tasks.get(data.id)

    @router.query("tasks.list", input=TaskList, output=TaskPage, permission="read")
    async def list_(ctx: Context, data: TaskList) -> TaskPage:
        """Newest first, paged by cursor."""
        return await ctx.services.tasks.page(data)

    @router.query("tasks.failureGroups", output=FailureGroups, permission="read")
    async def failure_groups(ctx: Context, _: None) -> FailureGroups:
        """Failed tasks grouped by their last error's type and message pattern, largest
        first; a group's key filters tasks.list (``errorGroup``)."""
        return await ctx.services.insights.failure_groups()

    @router.mutation("tasks.execute", input=TaskGet, output=Task, permission="execute")
    async def execute(ctx: Context, data: TaskGet) -> Task:
        """Queue a pending or scheduled task now; returns before the attempt ends."""
        return await ctx.services.tasks.execute(data.id, actor=ctx.actor)

    @router.mutation("tasks.approve", input=ReviewInput, output=Task, permission="review")
    async def approve(ctx: Context, data: ReviewInput) -> Task:
        return await ctx.services.tasks.approve(data.id, reviewer=ctx.principal.name,
                                                notes=data.notes, actor=ctx.actor)

    @router.mutation("tasks.reject", input=ReviewInput, output=Task, permission="review")
    async def reject(ctx: Context, data: ReviewInput) -> Task:
        return await ctx.services.tasks.reject(data.id, reviewer=ctx.principal.name,
                                               notes=data.notes, actor=ctx.actor)

    @router.mutation("tasks.cancel", input=CancelInput, output=Task, permission="cancel")
    async def cancel(ctx: Context, data: CancelInput) -> Task:
        return await ctx.services.tasks.cancel(data.id, by=ctx.principal.name,
                                               reason=data.reason, actor=ctx.actor)

    @router.mutation("tasks.retry", input=TaskGet, output=Task, permission="retry")
    async def retry(ctx: Context, data: TaskGet) -> Task:
        return await ctx.services.tasks.retry(data.id, actor=ctx.actor)

    @router.query("tasks.executions", input=ExecutionsInput, output=list[TaskExecution],
                  permission="read")
    async def executions(ctx: Context, data: ExecutionsInput) -> list[TaskExecution]:
        """Every attempt of a task, by attemptNumber."""
        return await ctx.services.tasks.executions(data.task_id)

    @router.subscription("tasks.onChange", input=OnChangeInput, output=TaskEvent,
                         permission="read")
    async def on_change(ctx: Context, data: OnChangeInput
                        ) -> AsyncIterator[Tracked[msgspec.Raw]]:
        """Task events (all tasks, or one with ``id``), resumable with ``lastEventId``."""
        if data.id is not None:
            await ctx.services.tasks.get(data.id)  # NOT_FOUND for an unknown id
        return _tracked(task_event_stream(ctx.services.db, ctx.services.hub, task_id=data.id,
                                          last_event_id=data.last_event_id))


async def _tracked(events: AsyncGenerator[tuple[str, msgspec.Raw], None]
                   ) -> AsyncIterator[Tracked[msgspec.Raw]]:
    """Each ``(event id, payload)`` as a tracked item, so the client can resume after it."""
    try:
        async for event_id, payload in events:
            yield Tracked(event_id, payload)
    finally:
        await events.aclose()
