"""tasks.approvalLink — a link by which a named reviewer decides without a key (§16)."""

from __future__ import annotations

from schemas.approvals import ApprovalLink, ApprovalLinkInput
from server.procedures.context import Context, check_task_scope
from server.rpc.registry import Router


def register(router: Router) -> None:
    @router.mutation("tasks.approvalLink", input=ApprovalLinkInput, output=ApprovalLink,
                     permission="review")
    async def approval_link(ctx: Context, data: ApprovalLinkInput) -> ApprovalLink:
        """A single-use link to a page where ``reviewer`` approves or rejects the task
        (awaiting_review), valid for ``expiresInSeconds`` and while its config is unchanged."""
        await check_task_scope(ctx, data.id)
        return await ctx.services.approval_links.create(data, ctx.actor)
