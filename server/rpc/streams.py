"""The two streamed answers: JSONL batches (``httpBatchStreamLink``) and SSE subscriptions.

Both are written straight to the ASGI ``send`` and stop as soon as the client disconnects
(an ``http.disconnect`` from ``receive``): pending calls are cancelled and a subscription's
async iterator is closed (``aclose``), so a handler's ``finally`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Final

from server.rpc.registry import Tracked

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

VARY: Final = (b"vary", b"trpc-accept, accept")
JSON_HEADERS: Final = [(b"content-type", b"application/json"), VARY]
SSE_HEADERS: Final = [
    (b"cache-control", b"no-cache, no-transform"),
    (b"connection", b"keep-alive"),
    (b"content-type", b"text/event-stream"),
    VARY,
    (b"x-accel-buffering", b"no"),
]

SSE_PING: Final = b"event: ping\ndata: \n\n\n"
SSE_RETURN: Final = b"event: return\ndata: \n\n\n"


async def wait_disconnect(receive: Receive) -> None:
    """Return when the client has gone (the request body, if any, was read before)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _jsonl_head(count: int) -> bytes:
    parts = ",".join(f'"{i}":[[0],[null,0,{i}]]' for i in range(count))
    return ("{" + parts + "}\n").encode()


async def send_jsonl(send: Send, receive: Receive,
                     calls: Sequence[Awaitable[bytes]]) -> None:
    """Stream a batch: the head line, then ``[i,0,[[envelope]]]`` per call as each completes.

    ``calls[i]`` yields call ``i``'s envelope (``{"result":..}`` or ``{"error":..}``) and
    never raises. Every call runs concurrently; a slow one does not hold back the others.
    """
    await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
    await send({"type": "http.response.body", "body": _jsonl_head(len(calls)),
                "more_body": True})
    tasks: dict[asyncio.Future[Any], int] = {
        asyncio.ensure_future(call): i for i, call in enumerate(calls)}
    watcher: asyncio.Future[Any] = asyncio.ensure_future(wait_disconnect(receive))
    pending: set[asyncio.Future[Any]] = set(tasks)
    try:
        while pending:
            done, pending = await asyncio.wait(pending | {watcher},
                                               return_when=asyncio.FIRST_COMPLETED)
            if watcher in done:
                return
            pending.discard(watcher)
            lines = [b"[%d,0,[[%b]]]\n" % (tasks[t], t.result())
                     for t in sorted(done, key=tasks.__getitem__)]
            await send({"type": "http.response.body", "body": b"".join(lines),
                        "more_body": bool(pending)})
    finally:
        watcher.cancel()
        for task in pending:
            task.cancel()
        await asyncio.gather(watcher, *pending, return_exceptions=True)


def sse_event(data: bytes, *, event: str | None = None, event_id: str | None = None) -> bytes:
    """One SSE event as tRPC writes it (fields, then a blank line, then another)."""
    head = b"" if event is None else b"event: " + event.encode() + b"\n"
    tail = b"" if event_id is None else b"id: " + event_id.encode() + b"\n"
    return head + b"data: " + data + b"\n" + tail + b"\n\n"


def _valid_id(event_id: str | None) -> str | None:
    if event_id and not any(c in event_id for c in "\0\r\n"):
        return event_id
    return None


class SSEPump:
    """Writes a subscription's items as SSE events until it ends, fails or the client leaves.

    ``encode`` turns an item's data into JSON bytes; ``error_data`` turns an exception into
    the JSON bytes of a ``serialized-error`` event. An item without an id that follows an
    item with one is sent with an empty id and then a ``restore-id`` event, exactly as
    ``@trpc/server`` does, so a reconnecting EventSource still resumes from the last id.
    """

    def __init__(self, send: Send, receive: Receive, *, ping_seconds: float,
                 encode: Callable[[Any], bytes],
                 error_data: Callable[[BaseException], bytes],
                 last_event_id: str | None) -> None:
        self._send = send
        self._receive = receive
        self._ping = ping_seconds
        self._encode = encode
        self._error_data = error_data
        self._last_id = _valid_id(last_event_id)

    async def _write(self, chunk: bytes) -> None:
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def error(self, exc: BaseException) -> None:
        await self._write(sse_event(self._error_data(exc), event="serialized-error"))

    async def _item(self, item: Any) -> None:
        if isinstance(item, Tracked):
            event_id = _valid_id(item.id)
            if event_id is None:
                raise ValueError("a tracked event id must be a non-empty single line")
            self._last_id = event_id
            await self._write(sse_event(self._encode(item.data), event_id=event_id))
        elif self._last_id is None:
            await self._write(sse_event(self._encode(item)))
        else:
            await self._write(sse_event(self._encode(item), event_id="")
                              + sse_event(b"", event="restore-id", event_id=self._last_id))

    async def run(self, open_iterator: Callable[[], Awaitable[AsyncIterator[Any]]],
                  connected: bytes) -> None:
        """Start the response, send ``connected``, then pump the iterator to its end."""
        await self._send({"type": "http.response.start", "status": 200,
                          "headers": SSE_HEADERS})
        await self._write(sse_event(connected, event="connected"))
        watcher = asyncio.ensure_future(wait_disconnect(self._receive))
        try:
            try:
                iterator = await open_iterator()
            except Exception as exc:
                await self.error(exc)
            else:
                if not await self._pump(iterator, watcher):
                    return
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    async def _pump(self, iterator: AsyncIterator[Any], watcher: asyncio.Future[None]) -> bool:
        """Send items; ``False`` when the client left (nothing more may be sent)."""
        following: asyncio.Future[Any] | None = None
        try:
            while True:
                if following is None:
                    following = asyncio.ensure_future(anext(iterator))
                done, _ = await asyncio.wait({following, watcher}, timeout=self._ping,
                                             return_when=asyncio.FIRST_COMPLETED)
                if watcher in done:
                    return False
                if not done:
                    await self._write(SSE_PING)
                    continue
                task, following = following, None
                try:
                    await self._item(task.result())
                except StopAsyncIteration:
                    await self._write(SSE_RETURN)
                    return True
                except Exception as exc:
                    await self.error(exc)
                    return True
        finally:
            if following is not None:
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
