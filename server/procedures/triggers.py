"""triggers.* — signed inbound calls that create tasks (CONTRACT §16); thin."""

from __future__ import annotations

from schemas.base import IdInput, IdOutput
from schemas.triggers import (
    DeliveriesInput,
    Trigger,
    TriggerCreate,
    TriggerCreated,
    TriggerDelivery,
    TriggerList,
    TriggerUpdate,
)
from server.procedures.context import Context
from server.rpc.registry import Router
from server.services.triggers import TriggerService


def triggers(ctx: Context) -> TriggerService:
    return ctx.services.triggers


def register(router: Router) -> None:
    @router.mutation("triggers.create", input=TriggerCreate, output=TriggerCreated,
                     permission="create")
    async def create(ctx: Context, data: TriggerCreate) -> TriggerCreated:
        """A trigger: each verified POST to its url creates a task from ``template``; the
        answer shows its signing secret, this once."""
        return await triggers(ctx).create(data, ctx.actor)

    @router.query("triggers.list", input=TriggerList, output=list[Trigger], permission="read")
    async def list_(ctx: Context, _: TriggerList) -> list[Trigger]:
        """Every trigger, oldest first, without secrets."""
        return await triggers(ctx).list()

    @router.query("triggers.get", input=IdInput, output=Trigger, permission="read")
    async def get(ctx: Context, data: IdInput) -> Trigger:
        return await triggers(ctx).get(data.id)

    @router.mutation("triggers.update", input=TriggerUpdate, output=Trigger,
                     permission="create")
    async def update(ctx: Context, data: TriggerUpdate) -> Trigger:
        """Rename, replace the template (a "********" keeps a stored secret), enable or
        disable."""
        return await triggers(ctx).update(data.id, data.patch, ctx.actor)

    @router.mutation("triggers.rotateSecret", input=IdInput, output=TriggerCreated,
                     permission="create")
    async def rotate_secret(ctx: Context, data: IdInput) -> TriggerCreated:
        """A new signing secret, shown this once; the old one stops working at once."""
        return await triggers(ctx).rotate_secret(data.id, ctx.actor)

    @router.mutation("triggers.delete", input=IdInput, output=IdOutput, permission="create")
    async def delete(ctx: Context, data: IdInput) -> IdOutput:
        return await triggers(ctx).delete(data.id, ctx.actor)

    @router.query("triggers.deliveries", input=DeliveriesInput, output=list[TriggerDelivery],
                  permission="read")
    async def deliveries(ctx: Context, data: DeliveriesInput) -> list[TriggerDelivery]:
        """The last calls the trigger received, newest first."""
        return await triggers(ctx).deliveries(data.id, data.limit)
