"""Triggers on the wire (docs/CONTRACT.md §16): a signed POST to /hooks/<id> creates a task."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.base import Input, NonEmptyStr, Output, Timestamp
from schemas.tasks import TaskCreate

Verify = Literal["standard_webhooks", "none"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class TriggerCreate(Input):
    name: Name
    # Any string may hold {{event.path}} (a dot path into the received body) or {{event}}.
    template: TaskCreate
    client_id: NonEmptyStr | None = None
    verify: Verify = "standard_webhooks"


class TriggerPatch(Input):
    name: Name | None = None
    template: TaskCreate | None = None
    enabled: bool | None = None


class TriggerUpdate(Input):
    id: NonEmptyStr
    patch: TriggerPatch


class TriggerList(Input):
    pass


class Trigger(Output):
    id: str
    name: str
    url: str  # where to POST the events (absolute when PUBLIC_URL is set, else a path)
    verify: Verify
    client_id: str | None
    enabled: bool
    template: TaskCreate  # secrets in executionConfig read "********"
    created_at: Timestamp
    last_received_at: Timestamp | None


class TriggerCreated(Trigger):
    """The answer to triggers.create and triggers.rotateSecret: the secret, this once."""

    secret: str


class DeliveriesInput(Input):
    id: NonEmptyStr
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class TriggerDelivery(Output):
    at: Timestamp
    status: int  # the HTTP status answered
    task_id: str | None
    error: str | None
