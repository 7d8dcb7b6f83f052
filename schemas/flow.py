"""Rate limits on the wire (CONTRACT §15 ``rateLimits.*``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from schemas.base import Input, Output, Timestamp
from schemas.tasks import FlowKey


class RateLimitSet(Input):
    key: FlowKey
    limit: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    period_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)]


class RateLimitKey(Input):
    key: FlowKey


class RateLimitList(Input):
    pass


class RateLimit(Output):
    key: str
    limit: int
    period_seconds: int
    created_at: Timestamp
    updated_at: Timestamp
    # tasks queued with this rateLimitKey now (waiting on it or for a slot)
    queued: int


class RateLimitDeleted(Output):
    key: str
