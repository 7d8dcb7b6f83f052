"""rateLimits.* (CONTRACT §15) — thin: decode (done by the protocol layer), call the
service, return a schema."""

from __future__ import annotations

from schemas.flow import (
    RateLimit,
    RateLimitDeleted,
    RateLimitKey,
    RateLimitList,
    RateLimitSet,
)
from server.core.errors import Forbidden
from server.procedures.context import Context
from server.rpc.registry import Router


def _unscoped(ctx: Context) -> None:
    if ctx.principal.client_id is not None:
        raise Forbidden("a key scoped to a client cannot manage rate limits (they are shared)")


def register(router: Router) -> None:
    @router.mutation("rateLimits.set", input=RateLimitSet, output=RateLimit,
                     permission="admin")
    async def set_limit(ctx: Context, data: RateLimitSet) -> RateLimit:
        """At most ``limit`` attempt starts of tasks with this ``rateLimitKey`` in any
        ``periodSeconds`` (a sliding window), across all nodes."""
        _unscoped(ctx)
        return await ctx.services.rate_limits.set(data, ctx.actor)

    @router.query("rateLimits.list", input=RateLimitList, output=list[RateLimit],
                  permission="read")
    async def list_limits(ctx: Context, _: RateLimitList) -> list[RateLimit]:
        """Every declared rate limit, by key."""
        return await ctx.services.rate_limits.list()

    @router.mutation("rateLimits.delete", input=RateLimitKey, output=RateLimitDeleted,
                     permission="admin")
    async def delete_limit(ctx: Context, data: RateLimitKey) -> RateLimitDeleted:
        """The key is unlimited from now on."""
        _unscoped(ctx)
        return RateLimitDeleted(key=await ctx.services.rate_limits.delete(data.key, ctx.actor))
