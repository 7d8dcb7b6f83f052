"""tasks.update, tasks.complete and the bulk actions (CONTRACT §10) — thin, like tasks.*."""

from __future__ import annotations

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
from server.auth import ROLE_PERMISSIONS
from server.context import Context
from server.rpc.registry import Router


def register(router: Router) -> None:
    @router.mutation("tasks.update", input=TaskUpdate, output=Task, permission="read")
    async def update(ctx: Context, data: TaskUpdate) -> Task:
        """Edit a task before it runs (operator; a reviewer only while awaiting_review)."""
        may_edit_any = "create" in ROLE_PERMISSIONS[ctx.principal.role]
        if not may_edit_any:
            ctx.principal.require("review")
        return await ctx.services.tasks.update(data.id, data.patch, actor=ctx.actor,
                                               may_edit_any=may_edit_any)

    @router.mutation("tasks.complete", input=CompleteInput, output=Task, permission="execute")
    async def complete(ctx: Context, data: CompleteInput) -> Task:
        """A person did a pending task: completed with ``result`` as its output."""
        return await ctx.services.tasks.complete(data.id, result=data.result, notes=data.notes,
                                                 actor=ctx.actor)

    @router.mutation("tasks.reassign", input=ReassignInput, output=Task, permission="execute")
    async def reassign(ctx: Context, data: ReassignInput) -> Task:
        """To the bot (placed as on create) or to a person (pending, with that assignee)."""
        return await ctx.services.tasks.reassign(data.id, to_bot=data.assigned_to_bot,
                                                 assignee=data.assignee, actor=ctx.actor)

    @router.mutation("tasks.approveMany", input=ApproveManyInput, output=BulkResult,
                     permission="review")
    async def approve_many(ctx: Context, data: ApproveManyInput) -> BulkResult:
        """Approve each task; per-id results in input order."""
        service = ctx.services.tasks
        return await service.many(data.ids, lambda i: service.approve(
            i, reviewer=ctx.principal.name, notes=data.notes, actor=ctx.actor,
            action="tasks.approveMany"))

    @router.mutation("tasks.cancelMany", input=CancelManyInput, output=BulkResult,
                     permission="cancel")
    async def cancel_many(ctx: Context, data: CancelManyInput) -> BulkResult:
        """Cancel each task; per-id results in input order."""
        service = ctx.services.tasks
        return await service.many(data.ids, lambda i: service.cancel(
            i, by=ctx.principal.name, reason=data.reason, actor=ctx.actor,
            action="tasks.cancelMany"))

    @router.mutation("tasks.retryMany", input=RetryManyInput, output=BulkResult,
                     permission="retry")
    async def retry_many(ctx: Context, data: RetryManyInput) -> BulkResult:
        """Retry each failed task; per-id results in input order."""
        service = ctx.services.tasks
        return await service.many(data.ids, lambda i: service.retry(
            i, actor=ctx.actor, action="tasks.retryMany"))
