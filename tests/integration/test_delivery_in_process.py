"""Webhook delivery and its retries in process, with a clock the test moves, on SQLite and
PostgreSQL; the receiver is a real HTTP server on 127.0.0.1.

``fire()`` is what the delivery timer calls; it starts deliveries in the background, and
``stop()`` waits for them, so each step is awaited rather than slept for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from executors.base import NewMessage
from outbound import NetworkGuard
from schemas.webhooks import MessageList, WebhookCreate
from server.db.engine import Database
from server.services.delivery import DeliveryService
from server.services.secrets_box import SecretBox
from server.services.webhooks import WebhookService
from tests.support.clock import T0, StillClock
from tests.support.http_servers import HttpServer, Reply

DELAYS = (5.0, 30.0)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def _setup(database: Database, http: httpx.AsyncClient, url: str
                 ) -> tuple[DeliveryService, str, StillClock]:
    clock = StillClock()
    webhooks = WebhookService(database, SecretBox(b"k" * 32), clock)
    delivery = DeliveryService(database, http, NetworkGuard(allow_private=True), webhooks, clock,
                               retry_delays=DELAYS, timeout_seconds=5)
    hook = await webhooks.create(WebhookCreate(name="rx", url=url))
    return delivery, hook.id, clock


async def _message(delivery: DeliveryService, webhook_id: str) -> tuple[str, int, int | None]:
    [row] = (await delivery.page(MessageList(webhook_id=webhook_id))).items
    return row.status, row.attempts, row.response_status


async def test_a_retryable_answer_is_retried_on_the_delay_schedule_then_delivered(
        database: Database, http: httpx.AsyncClient) -> None:
    with HttpServer() as receiver:
        receiver.route("/hook", sequence=[Reply(status=503), Reply(status=429),
                                          Reply(status=204)])
        delivery, webhook_id, clock = await _setup(database, http, receiver.url_for("/hook"))
        filed = await delivery.file(NewMessage(kind="reminder", webhook_id=webhook_id, body="hi",
                                               send_at=T0, dedupe_key="reminder:t_1"))
        again = await delivery.file(NewMessage(kind="reminder", webhook_id=webhook_id,
                                               body="other", send_at=T0,
                                               dedupe_key="reminder:t_1"))
        assert again == filed  # idempotent on the dedupe key

        # claimed and started; the timer's next time is when that claim would run out
        assert await delivery.fire() == T0 + timedelta(seconds=5 + 30)
        await delivery.stop(10)
        assert await _message(delivery, webhook_id) == ("scheduled", 1, 503)
        assert await delivery.fire() == T0 + timedelta(seconds=DELAYS[0])  # not due yet

        clock.now = T0 + timedelta(seconds=DELAYS[0])
        await delivery.fire()
        await delivery.stop(10)
        assert await _message(delivery, webhook_id) == ("scheduled", 2, 429)
        assert await delivery.fire() == clock.now + timedelta(seconds=DELAYS[1])

        clock.now += timedelta(seconds=DELAYS[1])
        await delivery.fire()
        await delivery.stop(10)
        assert await _message(delivery, webhook_id) == ("delivered", 3, 204)
        requests = receiver.requests_to("/hook")
    assert len(requests) == 3
    assert {r.headers["webhook-id"] for r in requests} == {filed.id}  # one id on every try
    assert [int(r.headers["webhook-timestamp"]) for r in requests] == [
        int((T0 + timedelta(seconds=s)).timestamp()) for s in (0, DELAYS[0], sum(DELAYS))]


async def test_retries_end_failed_after_the_last_delay_and_4xx_fails_at_once(
        database: Database, http: httpx.AsyncClient) -> None:
    with HttpServer() as receiver:
        receiver.route("/hook", status=500)
        delivery, webhook_id, clock = await _setup(database, http, receiver.url_for("/hook"))
        await delivery.file(NewMessage(kind="reminder", webhook_id=webhook_id, body="hi",
                                       send_at=T0, dedupe_key="reminder:t_2"))
        for _ in range(len(DELAYS) + 1):
            await delivery.fire()
            await delivery.stop(10)
            clock.now += timedelta(hours=1)
        assert await _message(delivery, webhook_id) == ("failed", len(DELAYS) + 1, 500)
        assert await delivery.fire() is None

        receiver.route("/hook", status=404)
        sent, attempt = await delivery.send_now(NewMessage(
            kind="notification", webhook_id=webhook_id, body="now", send_at=clock.now,
            dedupe_key="notification:t_3"))
    assert (attempt.delivered, attempt.retryable, attempt.response_status) == (False, False, 404)
    assert sent.status == "failed"
