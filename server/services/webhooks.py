"""WebhookService: register, list and delete webhooks; their secrets sealed at rest.

- ``create`` validates the URL (http/https with a host: BAD_REQUEST naming ``url``) and the
  caller's ``secret`` when given (BAD_REQUEST naming ``secret``, never quoting it), else
  generates one; the secret is returned by ``create`` only and stored sealed
  (server/services/secrets_box.py). Nothing here logs a secret.
- ``delete`` removes the webhook; its messages stay (history) and any not yet delivered end
  ``failed`` with "webhook deleted" when their turn comes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from outbound.http import NotHttpUrl, http_url
from schemas.base import IdOutput
from schemas.secrets import mask_value
from schemas.webhooks import Webhook, WebhookCreate, WebhookCreated
from server.core.errors import InvalidInput, NotFound
from server.core.ids import new_id
from server.db import webhooks as webhook_rows
from server.db.engine import Database
from server.db.repositories import Row
from server.services import signing
from server.services.audit import SYSTEM, Actor, record
from server.services.secrets_box import SecretBox

_URL_PROBLEMS = {"invalid": "is not a valid URL", "scheme": "must be an http or https URL",
                 "host": "must name a host"}


@dataclass(frozen=True)
class SigningTarget:
    """What a delivery needs of its webhook."""

    url: str
    key: bytes
    active: bool


def webhook_view(row: Row) -> Webhook:
    # The URL's userinfo password and secret query values read "********" (CONTRACT §13).
    return Webhook(id=row.id, name=row.name, url=mask_value(row.url), active=row.active,
                   created_at=row.created_at, last_delivery_at=row.last_delivery_at)


def check_webhook_url(url: str) -> str:
    """The URL if it is http(s) with a host; InvalidInput naming ``url`` otherwise."""
    try:
        http_url(url)
    except NotHttpUrl as exc:
        raise InvalidInput.at(["url"], _URL_PROBLEMS[exc.reason]) from None
    return url


class WebhookService:
    def __init__(self, db: Database, box: SecretBox, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.box = box
        self.clock = clock

    async def create(self, data: WebhookCreate, actor: Actor = SYSTEM) -> WebhookCreated:
        url = check_webhook_url(data.url.strip())
        secret = data.secret if data.secret is not None else signing.new_secret()
        try:
            signing.secret_key(secret)
        except ValueError as exc:
            raise InvalidInput.at(["secret"], str(exc)) from None
        webhook_id = new_id("whk")
        async with self.db.write() as conn:
            row = await webhook_rows.webhook_insert(conn, {
                "id": webhook_id, "name": data.name, "url": url, "active": True,
                "secret_sealed": self.box.seal(secret, context=webhook_id),
                "created_at": self.clock(), "last_delivery_at": None})
            await record(conn, actor, "webhooks.create", "webhook", webhook_id,
                         {"name": data.name, "url": url}, row.created_at)
        view = webhook_view(row)
        return WebhookCreated(id=view.id, name=view.name, url=view.url, active=view.active,
                              created_at=view.created_at,
                              last_delivery_at=view.last_delivery_at, secret=secret)

    async def list(self) -> list[Webhook]:
        async with self.db.read() as conn:
            return [webhook_view(r) for r in await webhook_rows.webhook_list(conn)]

    async def delete(self, webhook_id: str, actor: Actor = SYSTEM) -> IdOutput:
        async with self.db.write() as conn:
            if not await webhook_rows.webhook_delete(conn, webhook_id):
                raise NotFound(f"no webhook with id {webhook_id!r}")
            await record(conn, actor, "webhooks.delete", "webhook", webhook_id, {},
                         self.clock())
        return IdOutput(id=webhook_id)

    async def exists(self, webhook_id: str) -> bool:
        async with self.db.read() as conn:
            return await webhook_rows.webhook_get(conn, webhook_id) is not None

    async def target(self, webhook_id: str) -> SigningTarget | None:
        """URL and signing key, or None when the webhook is gone.

        Raises SecretUnreadable when the server's key cannot open the stored secret.
        """
        async with self.db.read() as conn:
            row = await webhook_rows.webhook_get(conn, webhook_id)
        if row is None:
            return None
        secret = self.box.open(row.secret_sealed, context=row.id)
        return SigningTarget(url=row.url, key=signing.secret_key(secret), active=row.active)
