"""schedules.* — cron schedules that create tasks."""

from __future__ import annotations

import msgspec

from schemas.base import IdInput
from schemas.schedules import Schedule, ScheduleCreate, ScheduleList
from schemas.workflows import SchedulePreview, SchedulePreviewInput
from server.procedures.context import Context, owned
from server.procedures.webhooks import automations
from server.rpc.registry import Router


def register(router: Router) -> None:
    @router.mutation("schedules.create", input=ScheduleCreate, output=Schedule,
                     permission="schedules")
    async def create(ctx: Context, data: ScheduleCreate) -> Schedule:
        """A schedule; each cron slot creates one task from ``task``."""
        scope = ctx.principal.client_id
        if scope is not None:
            data = msgspec.structs.replace(data, task=owned(ctx, data.task))
        return await automations(ctx).schedules.create(data, ctx.actor)

    @router.query("schedules.list", input=ScheduleList, output=list[Schedule],
                  permission="read")
    async def list_(ctx: Context, _: ScheduleList) -> list[Schedule]:
        return await automations(ctx).schedules.list(scope=ctx.principal.client_id)

    @router.mutation("schedules.pause", input=IdInput, output=Schedule, permission="schedules")
    async def pause(ctx: Context, data: IdInput) -> Schedule:
        await automations(ctx).schedules.check_scope(data.id, ctx.principal.client_id)
        return await automations(ctx).schedules.pause(data.id, ctx.actor)

    @router.mutation("schedules.resume", input=IdInput, output=Schedule, permission="schedules")
    async def resume(ctx: Context, data: IdInput) -> Schedule:
        """Enable again from the next slot after now (slots while paused are skipped)."""
        await automations(ctx).schedules.check_scope(data.id, ctx.principal.client_id)
        return await automations(ctx).schedules.resume(data.id, ctx.actor)

    @router.mutation("schedules.delete", input=IdInput, output=Schedule, permission="schedules")
    async def delete(ctx: Context, data: IdInput) -> Schedule:
        await automations(ctx).schedules.check_scope(data.id, ctx.principal.client_id)
        return await automations(ctx).schedules.delete(data.id, ctx.actor)

    @router.query("schedules.preview", input=SchedulePreviewInput, output=SchedulePreview,
                  permission="read")
    async def preview(ctx: Context, data: SchedulePreviewInput) -> SchedulePreview:
        """The next ``count`` times a cron expression fires in ``timezone``."""
        return automations(ctx).schedules.preview(data)
