"""Rate limits (CONTRACT §15 ``rateLimits.set / list / delete``): at most ``limit`` attempt
starts of the tasks carrying a ``rateLimitKey`` in any ``periodSeconds``, counted by every
node's claims (server/node/runner.py ``_admit``, server/db/flow.py). A key with no declared
limit is unlimited. Keys are global names, like connection names: a key scoped to a client
may list them but not set or delete them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from schemas.flow import RateLimit, RateLimitSet
from server.core.errors import NotFound
from server.db import flow as flow_db
from server.db.engine import Database
from server.services.audit import Actor, record


def rate_limit_view(row: Any, queued: int = 0) -> RateLimit:
    return RateLimit(key=row.key, limit=row.limit, period_seconds=row.period_seconds,
                     created_at=row.created_at, updated_at=row.updated_at, queued=queued)


class RateLimitService:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock

    async def set(self, data: RateLimitSet, actor: Actor) -> RateLimit:
        """Declare or change a key's limit; it applies from the next claim on every node."""
        now = self.clock()
        async with self.db.write() as conn:
            row = await flow_db.rate_limit_set(conn, data.key, data.limit, data.period_seconds,
                                               now)
            await record(conn, actor, "rateLimits.set", "rate_limit", data.key,
                         {"limit": data.limit, "periodSeconds": data.period_seconds}, now)
            queued = await flow_db.queued_by_rate_key(conn, [data.key])
        return rate_limit_view(row, queued.get(data.key, 0))

    async def list(self) -> list[RateLimit]:
        async with self.db.read() as conn:
            rows = await flow_db.rate_limit_list(conn)
            queued = await flow_db.queued_by_rate_key(conn, [r.key for r in rows])
        return [rate_limit_view(r, queued.get(r.key, 0)) for r in rows]

    async def delete(self, key: str, actor: Actor) -> str:
        """The key is unlimited from now on; NOT_FOUND when it has no limit."""
        now = self.clock()
        async with self.db.write() as conn:
            if not await flow_db.rate_limit_delete(conn, key):
                raise NotFound(f"no rate limit with key {key!r}")
            await record(conn, actor, "rateLimits.delete", "rate_limit", key, {}, now)
        return key
