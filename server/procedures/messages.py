"""messages.* — outbound messages, newest first, paged by cursor."""

from __future__ import annotations

from schemas.webhooks import MessageList, MessagePage
from server.procedures.context import Context
from server.procedures.webhooks import automations
from server.rpc.registry import Router


def register(router: Router) -> None:
    @router.query("messages.list", input=MessageList, output=MessagePage, permission="read")
    async def list_(ctx: Context, data: MessageList) -> MessagePage:
        """Outbound messages filtered by taskId, webhookId and status."""
        return await automations(ctx).delivery.page(data, scope=ctx.principal.client_id)
