"""tasks.update, tasks.complete and the bulk actions (CONTRACT §10) — thin, like tasks.*."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from schemas.tasks import Task
from schemas.workflows import (
    ApproveManyInput,
    BulkResult,
    CancelManyInput,
    CompleteInput,
    ReassignInput,
    RetryManyInput,
    TaskUpdate,
)
from server.core.auth import ROLE_PERMISSIONS
from server.core.errors import NotFound
from server.procedures.context import Context, check_task_scope
from server.rpc.registry import Router


def register(router: Router) -> None:
    @router.mutation("tasks.update", input=TaskUpdate, output=Task, permission="read")
    async def update(ctx: Context, data: TaskUpdate) -> Task:
        """Edit a task before it runs (operator; a reviewer only while awaiting_review)."""
        may_edit_any = "create" in ROLE_PERMISSIONS[ctx.principal.role]
        if not may_edit_any:
            ctx.principal.require("review")
        await check_task_scope(ctx, data.id)
        if data.patch.client_id not in (None, ctx.principal.client_id) \
                and ctx.principal.client_id is not None:
            raise NotFound(f"no client with id {data.patch.client_id!r}")
        return await ctx.services.tasks.update(data.id, data.patch, actor=ctx.actor,
                                               may_edit_any=may_edit_any)

    @router.mutation("tasks.complete", input=CompleteInput, output=Task, permission="execute")
    async def complete(ctx: Context, data: CompleteInput) -> Task:
        """A person did a pending task: completed with ``result`` as its output."""
        await check_task_scope(ctx, data.id)
        return await ctx.services.tasks.complete(data.id, result=data.result, notes=data.notes,
                                                 actor=ctx.actor)

    @router.mutation("tasks.reassign", input=ReassignInput, output=Task, permission="execute")
    async def reassign(ctx: Context, data: ReassignInput) -> Task:
        """To the bot (placed as on create) or to a person (pending, with that assignee)."""
        await check_task_scope(ctx, data.id)
        return await ctx.services.tasks.reassign(data.id, to_bot=data.assigned_to_bot,
                                                 assignee=data.assignee, actor=ctx.actor)

    @router.mutation("tasks.approveMany", input=ApproveManyInput, output=BulkResult,
                     permission="review")
    async def approve_many(ctx: Context, data: ApproveManyInput) -> BulkResult:
        """Approve each task; per-id results in input order."""
        service = ctx.services.tasks
        return await service.many(data.ids, lambda i: _scoped(ctx, i, service.approve(
            i, reviewer=ctx.principal.name, notes=data.notes, actor=ctx.actor,
            action="tasks.approveMany")))

    @router.mutation("tasks.cancelMany", input=CancelManyInput, output=BulkResult,
                     permission="cancel")
    async def cancel_many(ctx: Context, data: CancelManyInput) -> BulkResult:
        """Cancel each task; per-id results in input order."""
        service = ctx.services.tasks
        return await service.many(data.ids, lambda i: _scoped(ctx, i, service.cancel(
            i, by=ctx.principal.name, reason=data.reason, actor=ctx.actor,
            action="tasks.cancelMany")))

    @router.mutation("tasks.retryMany", input=RetryManyInput, output=BulkResult,
                     permission="retry")
    async def retry_many(ctx: Context, data: RetryManyInput) -> BulkResult:
        """Retry each failed task; per-id results in input order."""
        service = ctx.services.tasks
        return await service.many(data.ids, lambda i: _scoped(ctx, i, service.retry(
            i, actor=ctx.actor, action="tasks.retryMany")))


async def _scoped(ctx: Context, task_id: str, action: Coroutine[Any, Any, Task]) -> Task:
    """``action`` on a task the caller may see (a key scoped to a client: its tasks only)."""
    try:
        await check_task_scope(ctx, task_id)
    except BaseException:
        action.close()
        raise
    return await action
