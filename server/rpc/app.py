"""``TRPCApp``: a plain ASGI application speaking the tRPC v11 HTTP protocol for a ``Router``.

What it does, in the order ``@trpc/server`` does it (docs/PROTOCOL.md):

1. ``HEAD`` → 204.
2. Request checks, each answered as ONE error object (not an array) because no call ran:
   path encoding (400), content type of a non-GET (415), batch size (400), mixed procedure
   types (400), ``connectionParams`` (``PARSE_ERROR``), a stream that is not a batch (400),
   body size (413, reading stops at the limit), then ``create_context`` (mapped).
3. Per call: unknown path (404), method (405 + ``allow``), ``authorize``, input decoding,
   the handler. Any failure becomes that call's error; the calls of a batch run concurrently.
4. The answer: one JSON object (single call), an array (batch; 207 when statuses differ),
   a JSONL stream (``trpc-accept: application/jsonl``) or SSE (a subscription).

Exceptions that ``map_error`` does not map are reported to ``on_internal_error`` and leave as
``INTERNAL_SERVER_ERROR`` with a generic message: no stack trace or detail goes on the wire.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_plus, unquote_to_bytes

import msgspec

from server.core import tracing
from server.rpc.errors import TRPCError
from server.rpc.inputs import UNDEFINED, InputSpec, check_depth, parse_json
from server.rpc.registry import Procedure, ProcedureKind, Router
from server.rpc.streams import JSON_HEADERS, VARY, Receive, Send, SSEPump, send_jsonl

logger = logging.getLogger("errands.rpc")

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SEPARATORS = str.maketrans({"_": ".", "~": ".", "-": "."})
_RESULT_UNDEFINED: Final = b'{"result":{}}'
_INTERNAL_MESSAGE: Final = "Internal server error"
_METHODS: Final[dict[ProcedureKind, tuple[str, ...]]] = {
    "query": ("GET",), "mutation": ("POST",), "subscription": ("GET",),
}
_METHODS_OVERRIDE: Final[dict[ProcedureKind, tuple[str, ...]]] = {
    "query": ("GET", "POST"), "mutation": ("POST",), "subscription": ("GET", "POST"),
}


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What ``create_context`` learns about a request before any call runs.

    ``path`` is the decoded procedure path from the URL (``"a,b"`` for a batch, whose parts
    are ``paths``); ``kind`` is the procedures' kind, ``None`` when no path resolved;
    ``headers`` has lower-cased names (repeated headers joined by ``", "``);
    ``connection_params`` is the ``?connectionParams=`` object (SSE auth), if sent.
    """

    method: str
    path: str
    paths: tuple[str, ...]
    kind: ProcedureKind | None
    is_batch: bool
    headers: Mapping[str, str]
    connection_params: dict[str, str] | None
    client_host: str | None


def log_internal_error(exc: BaseException, path: str | None) -> None:
    """The default ``on_internal_error``: log with the traceback (server side only)."""
    logger.error("internal error in %s", path or "<request>", exc_info=exc)


class _Entry:
    """A procedure, compiled once: its input decoder and accepted methods."""

    __slots__ = ("allow", "kind", "methods", "procedure", "spec")

    def __init__(self, procedure: Procedure, method_override: bool) -> None:
        self.procedure = procedure
        self.kind: ProcedureKind = procedure.kind
        self.spec = InputSpec(procedure.input_type)
        self.methods = (_METHODS_OVERRIDE if method_override else _METHODS)[procedure.kind]
        self.allow = ", ".join(self.methods)


class _Request:
    """One parsed HTTP request: its calls, raw input and what to answer with."""

    __slots__ = ("_batch_inputs", "calls", "headers", "info", "is_batch", "kind", "method",
                 "params", "raw_input", "stream")

    def __init__(self, method: str, calls: list[tuple[str, _Entry | None]], is_batch: bool,
                 kind: ProcedureKind | None, params: dict[str, str],
                 headers: dict[str, str]) -> None:
        self.method = method
        self.calls = calls
        self.is_batch = is_batch
        self.kind = kind
        self.params = params
        self.headers = headers
        self.raw_input: bytes | str | None = None
        self.stream = False
        self.info: RequestInfo | None = None
        self._batch_inputs: dict[str, Any] | TRPCError | None = None

    def batch_input(self, index: int) -> Any:
        """Call ``index``'s input from the batch's ``{"0": ..}`` object (parsed once)."""
        inputs = self._batch_inputs
        if inputs is None:
            inputs = self._batch_inputs = self._parse_batch_inputs()
        if isinstance(inputs, TRPCError):
            raise TRPCError(inputs.code, inputs.message)
        return inputs.get(str(index), UNDEFINED)

    def _parse_batch_inputs(self) -> dict[str, Any] | TRPCError:
        if not self.raw_input:
            return {}
        try:
            value = parse_json(self.raw_input)
        except TRPCError as exc:
            return exc
        if not isinstance(value, dict):
            return TRPCError("BAD_REQUEST", '"input" needs to be an object when doing a batch call')
        return value

    def last_event_id(self) -> str | None:
        return (self.headers.get("last-event-id") or self.params.get("lastEventId")
                or self.params.get("Last-Event-Id"))


def _decode_path(raw: str) -> str:
    if "%" not in raw:
        return raw
    try:
        if _BAD_ESCAPE.search(raw):
            raise ValueError(raw)
        return unquote_to_bytes(raw).decode("utf-8")
    except ValueError:
        raise TRPCError("BAD_REQUEST", f'Invalid URL-encoding in path "{raw}"') from None


def _url_path(scope: Mapping[str, Any]) -> str:
    """The still-encoded procedure part of the URL: the raw path after ``root_path``."""
    raw_path: bytes | None = scope.get("raw_path")
    root: str = scope.get("root_path", "")
    if raw_path is not None:
        raw = raw_path.decode("latin-1").partition("?")[0]  # some ASGI clients keep the query
        if raw.startswith(root):
            return raw[len(root):].lstrip("/")
    path: str = scope["path"]
    return (path[len(root):] if path.startswith(root) else path).lstrip("/")


def _query_params(query: bytes) -> dict[str, str]:
    """``URLSearchParams``-like: ``+`` is a space, the first of repeated names wins."""
    params: dict[str, str] = {}
    for pair in query.decode("latin-1").split("&"):
        name, _, value = pair.partition("=")
        if "%" in pair or "+" in pair:
            name, value = unquote_plus(name), unquote_plus(value)
        if name and name not in params:
            params[name] = value
    return params


def _json_content_type(headers: Mapping[str, str]) -> None:
    content_type = headers.get("content-type")
    if content_type is None:
        raise TRPCError("UNSUPPORTED_MEDIA_TYPE", "Missing content-type header")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        # sic: @trpc/server 11 leaves the closing quote out of this message
        raise TRPCError("UNSUPPORTED_MEDIA_TYPE", f'Unsupported content-type "{content_type}')


def _connection_params(raw: str | None) -> dict[str, str] | None:
    if raw is None:
        return None
    try:
        check_depth(raw)
        value = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError, TRPCError):
        raise TRPCError("PARSE_ERROR", "Not JSON-parsable query params") from None
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise TRPCError("PARSE_ERROR", "Invalid connection params shape")
    return value


def _wants_jsonl(headers: Mapping[str, str]) -> bool:
    accept = headers.get("trpc-accept")
    if accept is not None:
        return accept == "application/jsonl"
    return any(t.strip() == "application/jsonl" for t in headers.get("accept", "").split(","))


def _headers(scope: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _header_list(extra: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    if not extra:
        return JSON_HEADERS
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()] + JSON_HEADERS


async def _send_json(send: Send, status: int, body: bytes,
                     extra: Mapping[str, str] | None = None) -> None:
    headers = _header_list(extra or {})
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class TRPCApp:
    """An ASGI app serving ``router`` over tRPC v11 HTTP (see the module docstring).

    ``create_context(info)`` builds the handlers' ``ctx`` once per request; ``authorize(ctx,
    procedure)`` raises to refuse a call; ``map_error(exc)`` turns application exceptions
    into ``TRPCError`` (``None``: unknown, hence internal). ``TRPCError`` raised anywhere is
    used as is. Mounted under a prefix, the procedure path is what follows ``root_path``
    (``trpc_mount`` sets it for Litestar).
    """

    def __init__(
        self,
        router: Router,
        *,
        create_context: Callable[[RequestInfo], Awaitable[Any]],
        authorize: Callable[[Any, Procedure], None],
        map_error: Callable[[BaseException], TRPCError | None],
        on_internal_error: Callable[[BaseException, str | None], None] = log_internal_error,
        max_batch_size: int = 100,
        max_body_bytes: int = 1_048_576,
        sse_ping_seconds: float = 10.0,
        reconnect_after_inactivity_ms: int = 30_000,
        allow_method_override: bool = True,
    ) -> None:
        self.router = router
        self.create_context = create_context
        self.authorize = authorize
        self.map_error = map_error
        self.on_internal_error = on_internal_error
        self.max_batch_size = max_batch_size
        self.max_body_bytes = max_body_bytes
        self.sse_ping_seconds = sse_ping_seconds
        self.allow_method_override = allow_method_override
        self._connected = msgspec.json.encode(
            {"reconnectAfterInactivityMs": reconnect_after_inactivity_ms})
        self._encode = msgspec.json.Encoder().encode
        self._entries: dict[str, _Entry] = {}

    # ----------------------------------------------------------------- ASGI entry point
    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._not_http(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            await send({"type": "http.response.start", "status": 204, "headers": [VARY]})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        try:
            request = await self._read_request(scope, receive)
            if request.kind == "subscription" and not request.is_batch:
                # The context is made inside the stream: a refused key arrives as a
                # serialized-error the client can read (and does not reconnect for).
                await self._subscribe(request, send, receive)
                return
            ctx = await self._context(request)
        except TRPCError as exc:
            await _send_json(send, exc.http_status, self._error_body(exc, None), exc.headers)
            return
        if request.stream:
            await send_jsonl(send, receive, [self._call_body(ctx, request, i)
                                             for i in range(len(request.calls))])
        else:
            await self._respond(ctx, request, send)

    @staticmethod
    async def _not_http(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        """Lifespan is acknowledged (for standalone use); websockets are refused."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    # ----------------------------------------------------------------- request parsing
    def entry(self, path: str) -> _Entry | None:
        """The compiled procedure for a URL path (``.`` or any of ``_ ~ -`` between parts)."""
        entry = self._entries.get(path)
        if entry is None:
            procedure = self.router.get(path) or self.router.get(path.translate(_SEPARATORS))
            if procedure is None:
                return None
            entry = self._entries[path] = _Entry(procedure, self.allow_method_override)
        return entry

    async def _read_request(self, scope: dict[str, Any], receive: Receive) -> _Request:
        method: str = scope["method"]
        headers = _headers(scope)
        query: bytes = scope.get("query_string", b"")
        params = _query_params(query) if query else {}
        path = _decode_path(_url_path(scope))
        if method != "GET":
            _json_content_type(headers)
        is_batch = params.get("batch") == "1"
        paths = path.split(",") if is_batch else [path]
        if is_batch and len(paths) > self.max_batch_size:
            raise TRPCError("BAD_REQUEST", "Batch call exceeds maximum size")
        calls = [(p, self.entry(p)) for p in paths]
        kinds = list(dict.fromkeys(e.kind for _, e in calls if e is not None))
        if len(kinds) > 1:
            raise TRPCError("BAD_REQUEST",
                            f"Cannot mix procedure types in call: {', '.join(kinds)}")
        request = _Request(method, calls, is_batch, kinds[0] if kinds else None, params, headers)
        connection_params = _connection_params(params.get("connectionParams"))
        request.stream = _wants_jsonl(headers)
        if request.stream and not is_batch:
            raise TRPCError("BAD_REQUEST",
                            "Streaming requests must be batched (you can do a batch of 1)")
        if method == "GET":
            request.raw_input = params.get("input")
        else:
            request.raw_input = await self._read_body(headers, receive)
        client = scope.get("client")
        request.info = RequestInfo(method, path, tuple(paths), request.kind, is_batch, headers,
                                   connection_params, client[0] if client else None)
        return request

    async def _read_body(self, headers: Mapping[str, str], receive: Receive) -> bytes:
        limit = self.max_body_bytes
        too_large = TRPCError("PAYLOAD_TOO_LARGE", f"Request body exceeds {limit} bytes")
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise TRPCError("CLIENT_CLOSED_REQUEST", "Client closed the request")
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _context(self, request: _Request) -> Any:
        assert request.info is not None
        try:
            return await self.create_context(request.info)
        except Exception as exc:
            raise self._to_trpc(exc, None) from None

    # ----------------------------------------------------------------- errors
    def _to_trpc(self, exc: BaseException, path: str | None) -> TRPCError:
        if isinstance(exc, TRPCError):
            return exc
        try:
            mapped = self.map_error(exc)
        except Exception as mapping_failure:
            self.on_internal_error(mapping_failure, path)
            mapped = None
        if mapped is None:
            self.on_internal_error(exc, path)
            return TRPCError("INTERNAL_SERVER_ERROR", _INTERNAL_MESSAGE)
        return mapped

    def _error_body(self, error: TRPCError, path: str | None) -> bytes:
        return b'{"error":' + self._encode(error.shape(path)) + b"}"

    # ----------------------------------------------------------------- calls
    def _prepare_call(self, ctx: Any, request: _Request, index: int) -> tuple[_Entry, Any]:
        """Checks a call and decodes its input; raises ``TRPCError`` (or the app's errors)."""
        path, entry = request.calls[index]
        if entry is None:
            raise TRPCError("NOT_FOUND", f'No procedure found on path "{path}"')
        if request.method not in entry.methods:
            raise TRPCError(
                "METHOD_NOT_SUPPORTED",
                f'Unsupported {request.method}-request to {entry.kind} procedure at path "{path}"',
                headers={"allow": entry.allow})
        if entry.kind == "subscription":
            if request.is_batch:
                raise TRPCError("BAD_REQUEST", "Cannot batch subscription calls")
            self.authorize(ctx, entry.procedure)
            return entry, entry.spec.from_value(self._subscription_input(request))
        self.authorize(ctx, entry.procedure)
        if request.is_batch:
            return entry, entry.spec.from_value(request.batch_input(index))
        return entry, entry.spec.from_json(request.raw_input)

    @staticmethod
    def _subscription_input(request: _Request) -> Any:
        raw = request.raw_input
        value = parse_json(raw) if raw else UNDEFINED
        last_event_id = request.last_event_id()
        if last_event_id:
            if isinstance(value, dict):
                value = {**value, "lastEventId": last_event_id}
            elif value is None or value is UNDEFINED:
                value = {"lastEventId": last_event_id}
        return value

    async def _call(self, ctx: Any, request: _Request,
                    index: int) -> tuple[bytes, TRPCError | None]:
        """Run call ``index`` in its span (server/core/tracing.py; a no-op when tracing is off)."""
        path, entry = request.calls[index]
        with tracing.rpc_call(path, entry.kind if entry else None, request.headers) as call:
            body, error = await self._run_call(ctx, request, index)
            call.ended(error)
        return body, error

    async def _run_call(self, ctx: Any, request: _Request,
                        index: int) -> tuple[bytes, TRPCError | None]:
        """Run call ``index``: its envelope, and its error if it failed. Never raises."""
        path = request.calls[index][0]
        try:
            entry, value = self._prepare_call(ctx, request, index)
            path = entry.procedure.path
            data = await entry.procedure.handler(ctx, value)
            if data is None and entry.procedure.output_type is None:
                return _RESULT_UNDEFINED, None
            return b'{"result":{"data":' + self._encode(data) + b"}}", None
        except Exception as exc:
            error = self._to_trpc(exc, path)
            return self._error_body(error, path), error

    async def _call_body(self, ctx: Any, request: _Request, index: int) -> bytes:
        return (await self._call(ctx, request, index))[0]

    async def _respond(self, ctx: Any, request: _Request, send: Send) -> None:
        if not request.is_batch:
            body, error = await self._call(ctx, request, 0)
            if error is None:
                await _send_json(send, 200, body)
            else:
                await _send_json(send, error.http_status, body, error.headers)
            return
        results = await asyncio.gather(*(self._call(ctx, request, i)
                                         for i in range(len(request.calls))))
        statuses = {200 if error is None else error.http_status for _, error in results}
        extra: dict[str, str] = {}
        for _, error in results:
            if error is not None:
                extra.update(error.headers)
        body = b"[" + b",".join(body for body, _ in results) + b"]"
        await _send_json(send, statuses.pop() if len(statuses) == 1 else 207, body, extra)

    # ----------------------------------------------------------------- subscriptions
    async def _subscribe(self, request: _Request, send: Send, receive: Receive) -> None:
        path = request.calls[0][0]

        async def open_iterator() -> AsyncIterator[Any]:
            ctx = await self._context(request)
            entry, value = self._prepare_call(ctx, request, 0)
            result = entry.procedure.handler(ctx, value)
            if inspect.isawaitable(result):
                result = await result
            if hasattr(result, "__anext__"):
                return result  # type: ignore[no-any-return]
            if hasattr(result, "__aiter__"):
                return result.__aiter__()  # type: ignore[no-any-return]
            raise TypeError(f"subscription {path} did not return an async iterator")

        def error_data(exc: BaseException) -> bytes:
            return self._encode(self._to_trpc(exc, path).shape(path))

        pump = SSEPump(send, receive, ping_seconds=self.sse_ping_seconds, encode=self._encode,
                       error_data=error_data, last_event_id=request.last_event_id())
        await pump.run(open_iterator, self._connected)
