"""The ``tasks.onChange`` stream: replay from ``task_events`` after a resume point, then live.

Every item carries its event id; a client that reconnects with ``lastEventId`` gets exactly
the events after it (events are kept for EVENT_RETENTION; older resume points replay what is
left). Items are sent as pre-encoded JSON (``msgspec.Raw``): no re-encoding per subscriber.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from server.db import repositories as repo
from server.db.engine import Database
from server.errors import InvalidInput
from server.events import EventHub
from server.rpc.registry import Tracked


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
                            ) -> AsyncIterator[Tracked[msgspec.Raw]]:
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
                    yield Tracked(str(row.id), msgspec.Raw(row.payload))
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
                    yield Tracked(str(row.id), msgspec.Raw(row.payload))
                continue
            if event.id <= last:
                continue
            last = event.id
            yield Tracked(str(event.id), msgspec.Raw(event.payload))
    finally:
        hub.unsubscribe(sub)
