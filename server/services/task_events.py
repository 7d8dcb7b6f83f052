"""The ``tasks.onChange`` stream: replay from ``task_events`` after a resume point, then live.

Every item is ``(event id, payload)`` (sent as the SSE id and data); a client that
reconnects with ``lastEventId`` gets exactly the events after it (events are kept for
EVENT_RETENTION; older resume points replay what is left). Items are sent as pre-encoded
JSON (``msgspec.Raw``): no re-encoding per subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator

import msgspec

from server.db import repositories as repo
from server.db.engine import Database
from server.errors import InvalidInput
from server.events import EventHub, PublishedEvent

log = logging.getLogger("errands.events")


def _parse_event_id(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        parsed = int(value)
    except ValueError:
        raise InvalidInput.at(["lastEventId"], f"{value!r} is not an event id") from None
    if parsed < 0:
        raise InvalidInput.at(["lastEventId"], f"{value!r} is not an event id")
    return parsed


async def task_event_stream(db: Database, hub: EventHub, *, task_id: str | None,
                            last_event_id: str | None
                            ) -> AsyncGenerator[tuple[str, msgspec.Raw], None]:
    after = _parse_event_id(last_event_id)
    sub = hub.subscribe(task_id)
    try:
        if after is not None:
            last = after
            while True:  # replay what came after the resume point
                async with db.read() as conn:
                    rows = await repo.events_after(conn, last, task_id=task_id)
                for row in rows:
                    last = row.id
                    yield str(row.id), msgspec.Raw(row.payload)
                if len(rows) < 1000:
                    break
        else:
            last = hub.last_id
        while True:
            event = await sub.queue.get()
            if sub.lagged:  # fell behind: re-read from the table, then carry on live
                sub.lagged = False
                async with db.read() as conn:
                    rows = await repo.events_after(conn, last, task_id=task_id)
                for row in rows:
                    last = row.id
                    yield str(row.id), msgspec.Raw(row.payload)
                continue
            if event.id <= last:
                continue
            last = event.id
            yield str(event.id), msgspec.Raw(event.payload)
    finally:
        hub.unsubscribe(sub)


class EventFeed:
    """Feeds the hub from ``task_events`` — the way events reach subscribers on PostgreSQL,
    where other nodes write too.

    It polls every ``interval`` seconds while anyone is subscribed, and at once when this
    node commits (``kick``), so local changes arrive without delay and other nodes' within
    ``interval``. Events are published in id order, each once.
    """

    def __init__(self, db: Database, hub: EventHub, *, interval: float = 0.1) -> None:
        self.db = db
        self.hub = hub
        self.interval = interval
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self, _events: object = None) -> None:
        self._kick.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        cursor = self.hub.last_id
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.interval)
            self._kick.clear()
            try:
                async with self.db.read() as conn:
                    if self.hub.subscriber_count == 0:
                        # Nobody listens: only keep the cursor current (one cheap query).
                        cursor = max(cursor, await repo.event_last_id(conn))
                        self.hub.last_id = cursor
                        continue
                    rows = await repo.events_after(conn, cursor, task_id=None)
            except Exception:
                log.exception("reading task events failed")
                continue
            if rows:
                cursor = rows[-1].id
                self.hub.publish([PublishedEvent(r.id, r.task_id, r.payload) for r in rows])
