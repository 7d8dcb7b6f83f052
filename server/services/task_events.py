"""The ``tasks.onChange`` stream: replay from ``task_events`` after a resume point, then live.

Every item is ``(event id, payload)`` (sent as the SSE id and data); a client that
reconnects with ``lastEventId`` gets exactly the events after it (events are kept for
EVENT_RETENTION; older resume points replay what is left). Items are sent as pre-encoded
JSON (``msgspec.Raw``): no re-encoding per subscriber.

Stored events are compact: the event type, the task's changing fields (status, reason,
errors, times) and the attempt's (status, error, times) — not the whole task with its config
and result, nor the attempt's output. They are written as MessagePack arrays in a fixed field
order, trailing empty fields left out (``v`` 3, :func:`compact_event`: about a quarter of the
JSON form, v2 :class:`StoredEvent`, which is still read, as are whole v1 TaskEvents).
Subscribers still receive full ``Task`` and ``TaskExecution`` objects: events read from the
table are expanded with the current rows (:func:`expand_events`), whose other fields do not
change once written; a task's ``result`` (and, from v3, ``resultSummary``) shows only in a
``completed`` state, an attempt's ``output``, steps and artifacts only once it
ended. Live events on SQLite are sent as they were built, never re-read — but for those
published without a payload (a bulk change's, which did not read its rows back: the promotion
of due tasks), which a subscriber reads from the table as one that fell behind does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.tasks import TaskEvent, TaskProgress
from server.core.background import BackgroundLoop
from server.core.errors import InvalidInput
from server.core.events import EventHub, PublishedEvent
from server.db import repositories as repo
from server.db.engine import Database
from server.db.repositories import Row
from server.db.rows import ExecutionRow, TaskRow
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
    progress: TaskProgress | None = None


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
    """A stored event read back; as JSON, the ``v`` 2 payload (a JSON payload without ``v``
    is a whole TaskEvent)."""

    v: int
    type: str
    task: TaskState
    execution: AttemptState | None = None


_TASK_STATE = TaskState.__struct_fields__
_ATTEMPT_STATE = tuple(f for f in AttemptState.__struct_fields__ if f != "id")
_stored_decoder = msgspec.json.Decoder(StoredEvent)
_event_encoder = msgspec.json.Encoder()

# v3, MessagePack: [3, type code, [task fields in _V3_TASK order], [attempt fields]?], each
# list cut after its last empty field. The order puts what most events carry first. A time
# equal to the task's updated_at (the event's own time, mostly) is written as ``true``. A
# completed task's result_summary is not written: completed is final, so it is the current
# row's (as its result is).
_V3 = 3
_V3_TASK = ("status", "updated_at", "queued_at", "started_at", "completed_at",
            "result_summary", "status_reason", "error_count", "last_error", "next_attempt_at",
            "reviewed_by", "reviewed_at", "review_notes", "progress")
_V3_ATTEMPT = ("id", "status", "completed_at", "duration_ms", "error", "error_type",
               "retryable")
_V3_TYPES = ("created", "status", "execution", "stalled", "deadline_missed", "progress")
_V3_TYPE_CODE = {name: code for code, name in enumerate(_V3_TYPES)}
_V3_TIMES = frozenset({"queued_at", "started_at", "completed_at", "next_attempt_at",
                       "reviewed_at"})
_msgpack_encoder = msgspec.msgpack.Encoder()
_msgpack_decoder = msgspec.msgpack.Decoder(list[Any])
assert set(_V3_TASK) == set(_TASK_STATE) and set(_V3_ATTEMPT) == {"id", *_ATTEMPT_STATE}


_V3_TASK_GET = attrgetter(*_V3_TASK)
_V3_ATTEMPT_GET = attrgetter(*_V3_ATTEMPT)
_V3_TIME_AT = (frozenset(i for i, n in enumerate(_V3_TASK) if n in _V3_TIMES),
               frozenset(i for i, n in enumerate(_V3_ATTEMPT) if n in _V3_TIMES))
_V3_SUMMARY = _V3_TASK.index("result_summary")
_V3_ERRORS = _V3_TASK.index("error_count")
_V3_PROGRESS = _V3_TASK.index("progress")


def _v3_fields(values: list[Any], times: frozenset[int], at: datetime) -> list[Any]:
    for i in times:
        if values[i] is not None and values[i] == at:
            values[i] = True
    end = len(values)
    while end > 1 and values[end - 1] is None:
        end -= 1
    return values[:end]


def _v3_read(names: tuple[str, ...], values: list[Any], at: datetime | None) -> dict[str, Any]:
    out = dict(zip(names, values, strict=False))
    if out.get("error_count", 0) is None:
        out["error_count"] = 0
    for name in _V3_TIMES.intersection(out):
        if out[name] is True:
            out[name] = at
    return out


# The task fields a stored event holds, besides the task's id: what a bulk change that does
# not read its rows back whole must return (repositories.task_promote_due).
STORED_TASK_FIELDS: tuple[str, ...] = _V3_TASK


# Getters by position for SQLAlchemy rows, by the row's name-to-index map: rows of one cached
# statement share that map, and reading a row by position is far cheaper than by attribute
# (an attribute lookup per field, thirteen an event).
_ROW_GETTERS: dict[int, tuple[dict[str, int], Callable[[Any], tuple[Any, ...]]]] = {}


def _fields(row: Any, names: tuple[str, ...], by_name: Callable[[Any], tuple[Any, ...]]
            ) -> list[Any]:
    """``names`` of ``row`` (a SQLAlchemy row, or any object with those attributes)."""
    index: dict[str, int] | None = getattr(row, "_key_to_index", None)
    if index is None:
        return list(by_name(row))
    kept = _ROW_GETTERS.get(id(index))
    if kept is None or kept[0] is not index:
        if len(_ROW_GETTERS) >= 256:
            _ROW_GETTERS.clear()
        kept = _ROW_GETTERS[id(index)] = (index, itemgetter(*(index[n] for n in names)))
    return list(kept[1](row))


def compact_event(type_: str, task: TaskRow, execution: ExecutionRow | None) -> bytes:
    """The stored form of an event: ids and the changing fields only (v3)."""
    at = task.updated_at
    values = _fields(task, _V3_TASK, _V3_TASK_GET)
    if task.status == "completed":
        values[_V3_SUMMARY] = None
    if values[_V3_ERRORS] == 0:
        values[_V3_ERRORS] = None  # read back as its default, 0
    if task.status != "in_progress":
        values[_V3_PROGRESS] = None  # progress shows only while an attempt runs (views)
    item: list[Any] = [_V3, _V3_TYPE_CODE[type_], _v3_fields(values, _V3_TIME_AT[0], at)]
    if execution is not None:
        item.append(_v3_fields(_fields(execution, _V3_ATTEMPT, _V3_ATTEMPT_GET),
                               _V3_TIME_AT[1], at))
    return _msgpack_encoder.encode(item)


def compact_events(type_: str, rows: Iterable[Any]) -> list[bytes]:
    """:func:`compact_event` of each task (no attempt), each given as a row of its id and
    :data:`STORED_TASK_FIELDS` in that order (as ``task_promote_due`` returns them); tasks
    whose fields are equal share one encoding — the 10,000 tasks of a burst promoted together
    mostly have one."""
    encoded: dict[tuple[Any, ...], bytes] = {}
    out: list[bytes] = []
    for row in rows:
        key = tuple(row[1:])  # by position: cheaper than a row's attributes
        stored = encoded.get(key)
        if stored is None:
            stored = encoded[key] = compact_event(type_, row, None)
        out.append(stored)
    return out


def stored_event(payload: bytes) -> StoredEvent | None:
    """A stored payload read back (v3 or v2); ``None`` for a whole v1 TaskEvent. A v3
    completed task's result_summary is None here: the reader takes the current row's."""
    if payload[:1] and 0x90 <= payload[0] <= 0x9F:  # a MessagePack array: v3
        _, code, task, *rest = _msgpack_decoder.decode(payload)
        fields = _v3_read(_V3_TASK, task, None)
        at = msgspec.convert(fields["updated_at"], datetime)
        state = msgspec.convert(_v3_read(_V3_TASK, task, at), TaskState)
        attempt = msgspec.convert(_v3_read(_V3_ATTEMPT, rest[0], at), AttemptState) \
            if rest else None
        return StoredEvent(_V3, _V3_TYPES[code], state, attempt)
    if payload.startswith(b'{"v":'):
        return _stored_decoder.decode(payload)
    return None


async def expand_events(conn: AsyncConnection, rows: list[Row]) -> list[PublishedEvent]:
    """Stored events as full TaskEvents (two reads for the whole list). An event whose task
    is gone is dropped; whole payloads from before compaction pass through as they are."""
    decoded: list[tuple[Row, StoredEvent | None]] = []
    for row in rows:
        decoded.append((row, stored_event(bytes(row.payload))))
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
        elif stored.v == _V3:
            changes["result_summary"] = current.result_summary
        task = msgspec.structs.replace(task_view(current), **changes)
        execution = None
        if stored.execution is not None and stored.execution.id in attempts:
            ex_changes: dict[str, Any] = {f: getattr(stored.execution, f)
                                          for f in _ATTEMPT_STATE}
            if stored.execution.status == "running":
                ex_changes.update(output=None, steps=[], artifacts=[])
            execution = msgspec.structs.replace(
                execution_view(attempts[stored.execution.id], current), **ex_changes)
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
            # Fell behind, or an event published without its payload (a bulk change's, see
            # ChangeSet.emit_queued): re-read from the table, then carry on live.
            if sub.lagged or (not event.payload and event.id > last):
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


class EventFeed(BackgroundLoop):
    """Feeds the hub from ``task_events`` — the way events reach subscribers on PostgreSQL,
    where other nodes write too.

    It polls every ``interval`` seconds while anyone is subscribed, and at once when this
    node commits (``kick``), so local changes arrive without delay and other nodes' within
    ``interval``. Events are published in id order, each once.
    """

    task_name = "event-feed"

    def __init__(self, db: Database, hub: EventHub, *, interval: float = 0.1) -> None:
        self.db = db
        self.hub = hub
        self.interval = interval
        self._kick = asyncio.Event()

    def kick(self, _events: object = None) -> None:
        self._kick.set()

    async def _run(self) -> None:
        cursor = self.hub.last_id
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):  # no inner task (see runner)
                    await self._kick.wait()
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
