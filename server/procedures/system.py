"""system.* — health, statistics and the caller's identity."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import cast

from schemas.system import Health, Role, Series, Stats, StatsInput, SubscriptionToken, WhoAmI
from schemas.workflows import Autorun, SetAutorun
from server.core.auth import ROLE_PERMISSIONS
from server.core.errors import ErrandsError, NotFound
from server.db.counts import counts_read
from server.procedures.context import Context
from server.rpc.registry import Router


class Unavailable(ErrandsError):
    """A dependency of the server is not available."""

    code = "SERVICE_UNAVAILABLE"


def register(router: Router) -> None:
    @router.query("system.health", output=Health, permission=None)
    async def health(ctx: Context, _: None) -> Health:
        """ok when the database answers and the scheduler runs; SERVICE_UNAVAILABLE if not."""
        services = ctx.services
        if not await services.db.ping():
            raise Unavailable("database is not reachable")
        if not services.scheduler_running():
            raise Unavailable("scheduler is not running")
        return Health(status="ok", database="ok", scheduler="running", version=services.version)

    @router.query("system.autorun", output=Autorun, permission="read")
    async def autorun(ctx: Context, _: None) -> Autorun:
        """The autorun switch: whether attempts start, and the task types paused."""
        return await ctx.services.autorun.get()

    @router.mutation("system.setAutorun", input=SetAutorun, output=Autorun, permission="admin")
    async def set_autorun(ctx: Context, data: SetAutorun) -> Autorun:
        """Stop or resume starting attempts, on every node within 2 s (running ones finish)."""
        return await ctx.services.autorun.set(data, ctx.actor)

    @router.query("system.stats", input=StatsInput, output=Stats, permission="read")
    async def stats(ctx: Context, data: StatsInput) -> Stats:
        """Counts of tasks and attempts; with ``clientId``, that client's only."""
        client_id = data.client_id
        scope = ctx.principal.client_id
        if scope is not None:
            if client_id is not None and client_id != scope:
                raise NotFound(f"no client with id {client_id!r}")
            client_id = scope
        async with ctx.services.db.read() as conn:  # kept counts: no scan (server/db/counts.py)
            counts = await counts_read(conn, client_id)
        by_status = {status: n for (kind, status), n in counts.items() if kind == "task"}
        attempts = {status: n for (kind, status), n in counts.items() if kind == "attempt"}
        return Stats(
            tasks_by_status=by_status,
            executed=sum(attempts.values()),
            succeeded=attempts.get("success", 0),
            failed=sum(n for s, n in attempts.items() if s not in ("success", "running")),
            running=attempts.get("running", 0),
            queued=by_status.get("queued", 0),
            uptime_seconds=round(time.monotonic() - ctx.services.started_monotonic, 3),
        )

    @router.query("system.series", output=Series, permission="read")
    async def series(ctx: Context, _: None) -> Series:
        """Tasks created and attempts started (by status) per hour, the last 24 hours (a key
        scoped to a client: that client's)."""
        return await ctx.services.insights.series(ctx.principal.client_id)
    @router.mutation("system.subscriptionToken", output=SubscriptionToken, permission="read")
    async def subscription_token(ctx: Context, _: None) -> SubscriptionToken:
        """A token for subscription connectionParams only, valid 300 s, with this key's role:
        the key itself never has to appear in a URL."""
        token, expires = ctx.services.keyring.subscription_token(ctx.principal)
        return SubscriptionToken(token=token,
                                 expires_at=datetime.fromtimestamp(expires, UTC))

    @router.query("system.whoami", output=WhoAmI, permission="read")
    async def whoami(ctx: Context, _: None) -> WhoAmI:
        """The caller's key name and role, and what that role may do (for the console)."""
        principal = ctx.principal
        open_mode = not ctx.services.settings.api_keys  # loopback, no keys: everyone is admin
        return WhoAmI(name=None if open_mode else principal.name,
                      role=cast(Role, principal.role),
                      permissions=sorted(ROLE_PERMISSIONS[principal.role]),
                      client_id=principal.client_id)
