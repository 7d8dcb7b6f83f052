"""Cron schedules on the wire (docs/CONTRACT.md §2)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.base import Input, Output, Timestamp
from schemas.tasks import TaskCreate

MissedRunPolicy = Literal["skip", "run_once"]


class ScheduleCreate(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    cron: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    task: TaskCreate
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "UTC"
    missed_run_policy: MissedRunPolicy = "run_once"


class ScheduleList(Input):
    pass


class Schedule(Output):
    id: str
    name: str
    cron: str
    timezone: str
    task: TaskCreate  # secrets in executionConfig read "********"
    enabled: bool
    missed_run_policy: MissedRunPolicy
    next_run_at: Timestamp | None  # null while paused
    last_run_at: Timestamp | None
    created_at: Timestamp
