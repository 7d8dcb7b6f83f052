"""webhooks.* — thin: decode (done by the protocol layer), call the service, return a schema."""

from __future__ import annotations

from schemas.base import IdInput, IdOutput
from schemas.webhooks import Webhook, WebhookCreate, WebhookCreated, WebhookList
from server.procedures.context import Context
from server.rpc.registry import Router
from server.services.automations import Automations


def automations(ctx: Context) -> Automations:
    return ctx.services.automations


def register(router: Router) -> None:
    @router.mutation("webhooks.create", input=WebhookCreate, output=WebhookCreated,
                     permission="webhooks")
    async def create(ctx: Context, data: WebhookCreate) -> WebhookCreated:
        """Register a webhook; the answer shows its signing secret, this once."""
        return await automations(ctx).webhooks.create(data, ctx.actor)

    @router.query("webhooks.list", input=WebhookList, output=list[Webhook],
                  permission="webhooks")
    async def list_(ctx: Context, _: WebhookList) -> list[Webhook]:
        """Every webhook, oldest first, without secrets."""
        return await automations(ctx).webhooks.list()

    @router.mutation("webhooks.delete", input=IdInput, output=IdOutput, permission="webhooks")
    async def delete(ctx: Context, data: IdInput) -> IdOutput:
        """Remove a webhook; its undelivered messages will fail."""
        return await automations(ctx).webhooks.delete(data.id, ctx.actor)
