"""The ``tasks.onChange`` stream: replay from ``task_events`` after a resume point, then live.

Every item is ``(event id, payload)`` (sent as the SSE id and data); a client that
reconnects with ``lastEventId`` gets exactly the events after it (events are kept for
EVENT_RETENTION; older resume points replay what is left). Items are sent as pre-encoded
JSON (``msgspec.Raw``): no re-encoding per subscriber.

Stored events are compact (:class:`StoredEvent`): the event type, the task's changing fields
(status, reason, errors, times) and the attempt's (status, error, times) — not the whole task
with its config and result, nor the attempt's output. Subscribers still receive full ``Task``
and ``TaskExecution`` objects: events read from the table are expanded with the current rows
(:func:`expand_events`), whose other fields do not change once written; a task's ``result``
shows only in a ``completed`` state, an attempt's ``output``, steps and artifacts only once it
ended. Live events on SQLite are sent as they were built, never re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.tasks import TaskEvent
from server.db import repositories as repo
from server.db.engine import Database
from server.db.repositories import Row
from server.db.rows import ExecutionRow, TaskRow
from server.errors import InvalidInput
from server.events import EventHub, PublishedEvent
from server.services.views import execution_view, task_view

log = logging.getLogger("errands.events")


class TaskState(msgspec.Struct, omit_defaults=True):
    """The fields of a Task that change over its life, as they were at the event."""

    status: str
    updated_at: datetime
    status_reason: str | None = None
    error_count: int = 0
    last_error: str | None = None
    result_summary: str | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_notes: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    next_attempt_at: datetime | None = None


class AttemptState(msgspec.Struct, omit_defaults=True):
    """The fields of a TaskExecution that change when it ends, as they were at the event."""

    id: str
    status: str
    completed_at: datetime | None = None
    duration_ms: int | None = None
    error: str | None = None
    error_type: str | None = None
    retryable: bool | None = None


class StoredEvent(msgspec.Struct, omit_defaults=True):
    """A ``task_events`` payload: ``v`` 2 (a payload without it is a whole TaskEvent)."""

    v: int
    type: str
    task: TaskState
    execution: AttemptState | None = None


_TASK_STATE = TaskState.__struct_fields__
_ATTEMPT_STATE = tuple(f for f in AttemptState.__struct_fields__ if f != "id")
_stored_encoder = msgspec.json.Encoder()
_stored_decoder = msgspec.json.Decoder(StoredEvent)
_event_encoder = msgspec.json.Encoder()


def compact_event(type_: str, task: TaskRow, execution: ExecutionRow | None) -> bytes:
    """The stored form of an event: ids and the changing fields only."""
    state = TaskState(**{f: getattr(task, f) for f in _TASK_STATE})
    attempt = None if execution is None else AttemptState(
        id=execution.id, **{f: getattr(execution, f) for f in _ATTEMPT_STATE})
    return _stored_encoder.encode(StoredEvent(2, type_, state, attempt))


async def expand_events(conn: AsyncConnection, rows: list[Row]) -> list[PublishedEvent]:
    """Stored events as full TaskEvents (two reads for the whole list). An event whose task
    is gone is dropped; whole payloads from before compaction pass through as they are."""
    decoded: list[tuple[Row, StoredEvent | None]] = []
    for row in rows:
        payload = bytes(row.payload)
        decoded.append((row, _stored_decoder.decode(payload) if payload.startswith(b'{"v":')
                        else None))
    tasks = await repo.tasks_by_ids(conn, list({r.task_id for r, e in decoded if e is not None}))
    attempt_ids = [e.execution.id for _, e in decoded if e is not None and e.execution]
    attempts = await repo.executions_by_ids(conn, attempt_ids)
    out: list[PublishedEvent] = []
    for row, stored in decoded:
        if stored is None:
            out.append(PublishedEvent(row.id, row.task_id, bytes(row.payload)))
            continue
        current = tasks.get(row.task_id)
        if current is None:
            continue
        changes: dict[str, Any] = {f: getattr(stored.task, f) for f in _TASK_STATE}
        if stored.task.status != "completed":
            changes["result"] = None
        task = msgspec.structs.replace(task_view(current), **changes)
        execution = None
        if stored.execution is not None and stored.execution.id in attempts:
            ex_changes: dict[str, Any] = {f: getattr(stored.execution, f)
                                          for f in _ATTEMPT_STATE}
            if stored.execution.status == "running":
                ex_changes.update(output=None, steps=[], artifacts=[])
            execution = msgspec.structs.replace(
                execution_view(attempts[stored.execution.id]), **ex_changes)
        event = TaskEvent(type=stored.type, task=task,  # type: ignore[arg-type]
                          execution=execution)
        out.append(PublishedEvent(row.id, row.task_id, _event_encoder.encode(event)))
    return out


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
                    events = await expand_events(conn, rows)
                for item in events:
                    yield str(item.id), msgspec.Raw(item.payload)
                if rows:
                    last = rows[-1].id
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
                    events = await expand_events(conn, rows)
                for item in events:
                    yield str(item.id), msgspec.Raw(item.payload)
                if rows:
                    last = rows[-1].id
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
                    events = await expand_events(conn, rows)
            except Exception:
                log.exception("reading task events failed")
                continue
            if rows:
                cursor = rows[-1].id
                self.hub.publish(events)
