"""system.* outputs."""

from __future__ import annotations

from typing import Literal

from schemas.base import Input, Output, Timestamp


class Health(Output):
    status: Literal["ok"]
    database: Literal["ok"]
    scheduler: Literal["running"]
    version: str


class Stats(Output):
    tasks_by_status: dict[str, int]
    executed: int
    succeeded: int
    failed: int
    running: int
    queued: int
    uptime_seconds: float


Role = Literal["admin", "operator", "reviewer", "viewer"]


class SubscriptionToken(Output):
    """Stands for the caller's key in subscription connectionParams only, until expiresAt
    (at most 300 s): an API key never has to appear in a URL (CONTRACT §13)."""

    token: str
    expires_at: Timestamp


class WhoAmI(Output):
    """The caller's API key: its name (null when no keys are configured), role and permissions."""

    name: str | None
    role: Role
    permissions: list[str]
    client_id: str | None = None  # a key scoped to one client (CONTRACT §14)


class StatsInput(Input):
    client_id: str | None = None


class FailureGroup(Output):
    """Failed tasks whose last attempt ended with the same error type and message pattern
    (the message with its numbers, ids, quoted values and times replaced by placeholders)."""

    key: str
    error_type: str | None
    pattern: str
    count: int
    example: str | None


class FailureGroups(Output):
    groups: list[FailureGroup]
    total: int


class HourCounts(Output):
    """One hour: tasks created in it, and the attempts started in it by their status."""

    start: Timestamp
    created: int
    attempts: dict[str, int]


class Series(Output):
    hours: list[HourCounts]
