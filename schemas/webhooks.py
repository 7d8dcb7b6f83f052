"""Webhooks and outbound messages on the wire (docs/CONTRACT.md §2, §7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from schemas.base import Input, NonEmptyStr, Output, Timestamp

MessageKind = Literal["notification", "reminder", "task.completed", "task.failed", "report",
                      "task.stalled", "review.requested"]
MessageStatus = Literal["scheduled", "queued", "delivered", "failed"]


class WebhookCreate(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    # "whsec_" + base64 of 24..64 bytes; generated when not given.
    secret: str | None = None


class WebhookList(Input):
    pass


class Webhook(Output):
    id: str
    name: str
    url: str
    active: bool
    created_at: Timestamp
    last_delivery_at: Timestamp | None


class WebhookCreated(Webhook):
    """The answer to webhooks.create: the only place the secret is ever shown."""

    secret: str


class MessageList(Input):
    task_id: NonEmptyStr | None = None
    webhook_id: NonEmptyStr | None = None
    status: MessageStatus | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    cursor: str | None = None


class OutboundMessage(Output):
    id: str
    webhook_id: str
    task_id: str | None
    kind: MessageKind
    recipient: str | None
    subject: str | None
    body: str
    status: MessageStatus
    send_at: Timestamp
    attempts: int
    last_error: str | None
    response_status: int | None
    delivered_at: Timestamp | None
    created_at: Timestamp
    # When the next delivery attempt is due while status is "scheduled" (a retry, or sendAt).
    next_attempt_at: Timestamp | None = None


class MessagePage(Output):
    items: list[OutboundMessage]
    next_cursor: str | None


class DeliveryPayload(msgspec.Struct, rename="camel", kw_only=True):
    """The JSON body POSTed to a webhook."""

    type: str
    message_id: str
    task_id: str | None
    recipient: str | None
    subject: str | None
    message: str
    data: Any
    sent_at: Timestamp
