"""Outbound messages and their delivery to webhooks.

Message statuses: ``scheduled`` (waiting for ``nextAttemptAt``) → ``queued`` (claimed: a
delivery is in flight) → ``delivered`` | ``failed``; a failed attempt that may be retried goes
back to ``scheduled``. Every move is compare-and-set; the claim carries a ``claim_id`` and only
its holder records the attempt, so a message is never delivered twice by two claims.

Delivery (contract):

- ``POST <webhook url>``, JSON body ``{type, messageId, taskId, recipient, subject, message,
  data, sentAt}``, signed by Standard Webhooks headers (server/services/signing.py); the
  ``webhook-id`` is the message id on every retry, so receivers can de-duplicate.
- The network guard (ALLOW_PRIVATE_NETWORK) is asked first; a refused address fails the
  message at once. The client's pinned transport (``outbound``) connects to the address the
  guard checked as it connects (no DNS rebinding). Redirects are not followed.
- ``DELIVERY_TIMEOUT_SECONDS`` (= 10) per attempt. 2xx delivers. A timeout, a network error,
  408, 429 and 5xx are retryable; any other status (3xx, 4xx) and a missing/inactive webhook
  fail at once.
- Timer-delivered messages (reminder, task.completed, task.failed, report) are retried on
  ``DELIVERY_RETRY_SECONDS`` (= 5, 30, 120, 600, 2700: six tries over about an hour), then end
  ``failed``. A ``notification`` message belongs to its task's attempt: it is tried once per
  attempt and the task's own retry policy retries it (the same message row each time).
- At-least-once across a crash: a claim left by a dead process (SQLite: any claim at start;
  PostgreSQL: a claim past ``claimed_until``) is released and delivered again with the same
  ``webhook-id``. A graceful stop waits for deliveries in flight, so a restart delivers a
  message exactly once.

``DueTimer`` calls :meth:`DeliveryService.fire`; the database is the truth, so messages due
while the server was down are delivered when it starts.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import msgspec
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import IntegrityError

from executors.base import DeliveryAttempt, FiledMessage, NewMessage
from outbound import NetworkGuard, OutboundError
from outbound.http import status_retryable
from schemas.webhooks import DeliveryPayload, MessageList, MessagePage, OutboundMessage
from server.core.ids import new_id
from server.core.scheduling import DueTimer
from server.db import messages as message_rows
from server.db import webhooks as webhook_rows
from server.db.engine import Database
from server.db.repositories import Row
from server.services.pagination import decode_cursor, page_of
from server.services.secrets_box import SecretUnreadable
from server.services.signing import signed_headers
from server.services.webhooks import WebhookService

log = logging.getLogger("errands.delivery")
_encoder = msgspec.json.Encoder()


# --- pure --------------------------------------------------------------------------------------

Attempt = DeliveryAttempt  # one delivery attempt's outcome (executors/base.py)


def classify(status: int) -> Attempt:
    """2xx delivered; 408, 429 and 5xx retryable; anything else fails at once."""
    if 200 <= status < 300:
        return Attempt(True, response_status=status)
    return Attempt(False, retryable=status_retryable(status), response_status=status,
                   error=f"webhook answered HTTP {status}")


def attempt_values(attempt: Attempt, *, attempts_before: int, send_at: datetime,
                   now: datetime, retry_delays: Sequence[float] | None) -> dict[str, Any]:
    """The message columns one attempt writes. ``retry_delays=None``: no timer retries."""
    attempts = attempts_before + 1
    values: dict[str, Any] = {"attempts": attempts, "updated_at": now,
                              "response_status": attempt.response_status}
    if attempt.delivered:
        latency = max(0, int((now - send_at).total_seconds() * 1000))
        values.update(status="delivered", delivered_at=now, latency_ms=latency,
                      last_error=None)
        return values
    values["last_error"] = attempt.error
    if attempt.retryable and retry_delays is not None and attempts <= len(retry_delays):
        values.update(status="scheduled",
                      next_attempt_at=now + timedelta(seconds=retry_delays[attempts - 1]))
    else:
        values["status"] = "failed"
    return values


def outcome_of(recorded: Row | None) -> str:
    """A delivery attempt's outcome label: delivered, retry, failed (or lost: not recorded)."""
    if recorded is None:
        return "lost"
    return "retry" if recorded.status == "scheduled" else str(recorded.status)


def payload(row: Row, now: datetime) -> bytes:
    return _encoder.encode(DeliveryPayload(
        type=row.kind, message_id=row.id, task_id=row.task_id, recipient=row.recipient,
        subject=row.subject, message=row.body, data=row.data, sent_at=now))


def message_view(row: Row) -> OutboundMessage:
    return OutboundMessage(
        id=row.id, webhook_id=row.webhook_id, task_id=row.task_id, kind=row.kind,
        recipient=row.recipient, subject=row.subject, body=row.body, status=row.status,
        send_at=row.send_at, attempts=row.attempts, last_error=row.last_error,
        response_status=row.response_status, delivered_at=row.delivered_at,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == "scheduled" else None)


def filed(row: Row) -> FiledMessage:
    return FiledMessage(id=row.id, status=row.status, send_at=row.send_at,
                        response_status=row.response_status, delivered_at=row.delivered_at)


# --- the service -----------------------------------------------------------------------------

def split_userinfo(url: str) -> tuple[str, dict[str, str]]:
    """A webhook URL without its userinfo, and the Basic authorization it stood for
    (``https://user:pass@host/hook`` → ``https://host/hook``, ``Authorization: Basic ...``):
    the user and password are sent as a header, never as part of the URL."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, {}
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), {"authorization": f"Basic {token}"}


class DeliveryService:
    """The server's :class:`~executors.base.Outbox`, and the delivery timer's work."""

    def __init__(self, db: Database, http: httpx.AsyncClient, guard: NetworkGuard,
                 webhooks: WebhookService, clock: Callable[[], datetime], *,
                 retry_delays: Sequence[float], timeout_seconds: float,
                 concurrency: int = 64, batch: int = 500,
                 scheduler: AsyncIOScheduler | None = None) -> None:
        """``scheduler``: where the delivery timer (:meth:`fire` when a message is due) runs;
        without one nothing is armed and the caller fires (tests with a moved clock)."""
        self.db = db
        self.http = http
        self.guard = guard
        self.webhooks = webhooks
        self.clock = clock
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout_seconds
        self.lease = timedelta(seconds=timeout_seconds + 30)
        self.batch = batch
        self.timer = None if scheduler is None else DueTimer(scheduler, "messages", self.fire,
                                                              clock)
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._first_fire = True
        self.outcomes: collections.Counter[str] = collections.Counter()  # read by /metrics

    def arm(self, at: datetime) -> None:
        """Make sure the delivery timer fires no later than ``at``."""
        if self.timer is not None:
            self.timer.arm(at)

    # --- filing ----------------------------------------------------------------------------

    async def file(self, msg: NewMessage) -> FiledMessage:
        """Store a message due at ``send_at`` (idempotent on ``dedupe_key``) and arm the timer.

        A second call with the same ``dedupe_key`` returns the first message unchanged.
        """
        return filed(await self._file(msg))

    async def _file(self, msg: NewMessage) -> Row:
        now = self.clock()
        try:
            async with self.db.write() as conn:
                existing = await message_rows.message_get_by_dedupe_key(conn, msg.dedupe_key)
                if existing is not None:
                    return existing
                row = await message_rows.message_insert(conn, self._values(msg, now, "scheduled"))
        except IntegrityError:  # another node filed it between our read and insert
            async with self.db.read() as conn:
                found = await message_rows.message_get_by_dedupe_key(conn, msg.dedupe_key)
            if found is None:
                raise
            return found
        self.arm(row.next_attempt_at)
        return row

    @staticmethod
    def _values(msg: NewMessage, now: datetime, status: str) -> dict[str, Any]:
        return {
            "id": new_id("msg"), "webhook_id": msg.webhook_id, "task_id": msg.task_id,
            "kind": msg.kind, "recipient": msg.recipient, "subject": msg.subject,
            "body": msg.body, "data": msg.data, "status": status, "send_at": msg.send_at,
            "next_attempt_at": msg.send_at, "attempts": 0, "created_at": now,
            "updated_at": now, "dedupe_key": msg.dedupe_key,
        }

    async def send_now(self, msg: NewMessage) -> tuple[FiledMessage, Attempt]:
        """Deliver ``msg`` now, once, for a task's attempt (no timer retries).

        The same ``dedupe_key`` reuses the same message: a message already delivered is not
        sent again. The message ends ``delivered`` or ``failed``.
        """
        now = self.clock()
        claim = new_id("clm")
        async with self.db.write() as conn:
            row = await message_rows.message_get_by_dedupe_key(conn, msg.dedupe_key)
            if row is None:
                row = await message_rows.message_insert(conn, {
                    **self._values(msg, now, "queued"), "claim_id": claim,
                    "claimed_until": now + self.lease})
            elif row.status == "delivered":
                return filed(row), Attempt(True, response_status=row.response_status)
            else:
                claimed = await message_rows.message_claim(
                    conn, row.id, ["scheduled", "queued", "failed"], claim, now, now + self.lease)
                if claimed is None:
                    return filed(row), Attempt(
                        False, retryable=True, error="the message is being delivered elsewhere")
                row = claimed
        try:
            attempt = await self._attempt(row)
        except asyncio.CancelledError:
            interrupted = Attempt(False, retryable=True, error="delivery interrupted")
            await asyncio.shield(self._record(row, claim, interrupted, retry_delays=None))
            raise
        recorded = await self._record(row, claim, attempt, retry_delays=None)
        return filed(recorded or row), attempt

    # --- the timer -------------------------------------------------------------------------

    async def fire(self) -> datetime | None:
        """Release stale claims, claim due messages, start their deliveries; next due time."""
        now = self.clock()
        claim = new_id("clm")
        async with self.db.write() as conn:
            released = await message_rows.message_release_stale(
                conn, now, all_claims=self._first_fire and self.db.is_sqlite)
            rows = await message_rows.message_claim_due(conn, dialect=self.db.dialect, now=now,
                                             claim_id=claim, until=now + self.lease,
                                             limit=self.batch)
        if released:
            log.warning("released %d message claim(s) left by a stopped delivery", released)
        self._first_fire = False
        for row in rows:
            task = asyncio.create_task(self._deliver(row, claim), name=f"deliver-{row.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        if len(rows) == self.batch:
            return self.clock()
        async with self.db.read() as conn:
            return await message_rows.message_next_due_at(conn)

    async def _deliver(self, row: Row, claim: str) -> None:
        try:
            async with self._slots:
                attempt = await self._attempt(row)
                recorded = await self._record(row, claim, attempt,
                                              retry_delays=self.retry_delays)
        except Exception:
            log.exception("delivering message %s failed unexpectedly", row.id)
            return
        if recorded is not None and recorded.status == "scheduled":
            self.arm(recorded.next_attempt_at)

    async def _attempt(self, row: Row) -> Attempt:
        """One signed POST; never raises for delivery problems."""
        try:
            target = await self.webhooks.target(row.webhook_id)
        except SecretUnreadable as exc:
            return Attempt(False, error=str(exc))
        if target is None:
            return Attempt(False, error="webhook deleted")
        if not target.active:
            return Attempt(False, error="webhook is not active")
        url, credentials = split_userinfo(target.url)
        try:
            await self.guard.check_url(url)
        except OutboundError as exc:
            return Attempt(False, retryable=exc.retryable, error=exc.message)
        now = self.clock()
        body = payload(row, now)
        headers = signed_headers(target.key, row.id, int(now.timestamp()), body)
        headers.update(credentials)
        try:
            async with self.http.stream("POST", url, content=body, headers=headers,
                                        timeout=self.timeout, follow_redirects=False) as resp:
                return classify(resp.status_code)
        except OutboundError as exc:  # the pinned connection's own check (DNS changed)
            return Attempt(False, retryable=exc.retryable, error=exc.message)
        except httpx.TimeoutException:
            return Attempt(False, retryable=True, error=f"timed out after {self.timeout:g} s")
        except httpx.HTTPError as exc:
            return Attempt(False, retryable=True, error=f"{type(exc).__name__}: {exc}")

    async def _record(self, row: Row, claim: str, attempt: Attempt, *,
                      retry_delays: Sequence[float] | None) -> Row | None:
        now = self.clock()
        values = attempt_values(attempt, attempts_before=row.attempts, send_at=row.send_at,
                                now=now, retry_delays=retry_delays)
        async with self.db.write() as conn:
            recorded = await message_rows.message_finish(conn, row.id, claim, values)
            if recorded is not None and attempt.delivered:
                await webhook_rows.webhook_touch(conn, row.webhook_id, now)
        self.outcomes[outcome_of(recorded)] += 1
        if recorded is None:
            log.warning("message %s changed hands during delivery; attempt not recorded", row.id)
        return recorded

    async def stop(self, grace_seconds: float) -> None:
        """Let deliveries in flight finish (up to ``grace_seconds``), then cancel the rest."""
        pending = set(self._in_flight)
        if pending:
            await asyncio.wait(pending, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- reads -----------------------------------------------------------------------------

    async def page(self, query: MessageList, scope: str | None = None) -> MessagePage:
        after = decode_cursor(query.cursor, procedure="messages.list") if query.cursor else None
        async with self.db.read() as conn:
            rows = await message_rows.message_list(conn, task_id=query.task_id,
                                        webhook_id=query.webhook_id, status=query.status,
                                        limit=query.limit + 1, after=after,
                                        client_id=scope)
        kept, cursor = page_of(rows, query.limit)
        return MessagePage(items=[message_view(r) for r in kept], next_cursor=cursor)
