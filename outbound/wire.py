"""A lean HTTP/1.1 client on asyncio and httptools, for :meth:`PinnedTransport.open`.

api_call's exchanges are small and many; an aiohttp ``ClientSession`` spends about four times
the CPU of the exchange itself on them. :class:`WirePool` speaks the same HTTP/1.1 on an
``asyncio.Protocol`` with ``httptools.HttpResponseParser`` (llhttp), and keeps what the pinned
transport promises:

- Guard: every new connection resolves its host through
  :meth:`NetworkGuard.check_host` (names and IP literals; every answer must be allowed, its
  :class:`~outbound.guard.OutboundError` passes through untouched) and connects to those very
  addresses, each in turn, never resolving again (``AI_NUMERICHOST``). https: SNI and
  certificate verification by the URL's host, the socket to the checked address.
- Pool: keep-alive connections are reused only for the same (scheme, host, port), never when
  their transport is closing or saw EOF, and expire after ``keepalive_expiry`` seconds idle. At
  most ``max_connections`` are open: at the limit an idle connection of another origin is
  closed to make room, else the request waits for one to be released (the wait counts as
  connecting). At most ``max_keepalive_connections`` are kept idle.
- Request: ``METHOD target HTTP/1.1``, ``Host`` (the URL's host, its port unless the scheme's
  default, trailing dots dropped, as aiohttp writes it) unless the headers carry one, the
  headers as given, and ``Content-Length`` for a body unless the headers carry one (a body
  whose headers say ``Transfer-Encoding: chunked`` is sent as one chunk). Nothing else.
  A line break in the head is :class:`httpx.LocalProtocolError`.
- Response: Content-Length, chunked and close-delimited bodies; 1xx interim responses
  skipped (101 is a protocol error: no upgrades here); 204, 304 and answers to HEAD have no
  body. A head (interim answers included) longer than 256 KiB is a protocol error. The body
  is decoded as ``Content-Encoding`` says (gzip; deflate zlib-wrapped or raw,
  as aiohttp accepts it; any other coding as it came), at most 64 KiB decoded per step (a
  compression bomb costs only what is read). The connection goes back to the pool only when
  the whole message arrived and it may be kept alive (not ``Connection: close``, not
  HTTP/1.0 without keep-alive, not close-delimited).
- Time: ``seconds`` bounds connecting (pool wait, guard, TCP and TLS together:
  :class:`httpx.ConnectTimeout`) and each read (no byte for ``seconds`` while waiting:
  :class:`httpx.ReadTimeout`).
- Errors, as :func:`outbound.transport.translated_errors` gives aiohttp's: refused,
  unreachable or TLS failure → :class:`httpx.ConnectError`; closed before the response head
  → :class:`httpx.RemoteProtocolError` ("Server disconnected without sending a
  response."), or :class:`httpx.WriteError` when the socket failed; closed mid-body → the
  same class ("peer closed connection without sending complete message body"), or
  :class:`httpx.ReadError`; a malformed response or body coding →
  :class:`httpx.RemoteProtocolError`.
- A reused connection the server closed before answering (it timed out idle as the request
  went out) costs nothing: the request is sent once more on a fresh connection.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Final, cast

import httptools
import httpx

from outbound.guard import NetworkGuard

_NUMERIC: Final = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
_DECODED_STEP: Final = 65536  # decoded bytes per step: a bomb inflates only what is read
_HIGH_WATER: Final = 1 << 20  # undelivered body bytes before the socket stops being read
_MAX_HEAD: Final = 1 << 18  # bytes before the final head's end (interim answers included)
_NO_RESPONSE: Final = "Server disconnected without sending a response."
_CUT_BODY: Final = "peer closed connection without sending complete message body"
_READ_TIMEOUT: Final = "Timeout on reading data from socket"  # aiohttp's words
_Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class _Origin:
    """What a URL's ``scheme://authority`` says about where and how to connect."""

    key: _Key  # (scheme, host, port): pooled connections are shared within one
    host: str  # as the guard resolves it (no brackets)
    port: int
    tls: bool
    host_header: str
    server_hostname: str | None  # SNI and the certificate's name, for https


@functools.lru_cache(maxsize=1024)
def _origin(prefix: str) -> _Origin:
    """``prefix`` is ``scheme://authority``. Raises :class:`httpx.UnsupportedProtocol` for a
    scheme other than http(s), :class:`httpx.InvalidURL` for a malformed authority (not
    cached)."""
    scheme, _, authority = prefix.partition("://")
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(
            f"Request URL has an unsupported protocol '{scheme}://'.")
    authority = authority.rpartition("@")[2]
    if authority.startswith("["):
        close = authority.find("]")
        host, rest = authority[1:close], authority[close + 1:]
        if close < 0 or (rest and not rest.startswith(":")):
            raise httpx.InvalidURL(f"invalid authority {authority!r}")
        port_text = rest[1:]
    else:
        host, _, port_text = authority.partition(":")
    tls = scheme == "https"
    default = 443 if tls else 80
    try:
        port = int(port_text) if port_text else default
    except ValueError:
        raise httpx.InvalidURL(f"invalid port {port_text!r}") from None
    if not host or not 0 < port < 65536:
        raise httpx.InvalidURL(f"invalid authority {authority!r}")
    name = host.rstrip(".")
    shown = f"[{name}]" if ":" in name else name
    return _Origin(key=(scheme, host.lower(), port), host=host, port=port, tls=tls,
                   host_header=shown if port == default else f"{shown}:{port}",
                   server_hostname=name if tls else None)


def split_url(url: str) -> tuple[_Origin, str]:
    """The origin and the request target (path and query as the URL writes them, without
    the fragment; ``/`` when the path is empty)."""
    start = url.find("://")
    if start < 0:
        raise httpx.UnsupportedProtocol(f"Request URL is missing a protocol: {url!r}.")
    end = len(url)
    for mark in "/?#":
        found = url.find(mark, start + 3)
        if 0 <= found < end:
            end = found
    target = url[end:].partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    return _origin(url[:end]), target


def request_head(method: str, target: str, origin: _Origin,
                 headers: Iterable[tuple[str, str]], body: bytes | None) -> bytes:
    """The request's bytes, head and body: see the module docstring for what is added."""
    lines = [f"{method} {target} HTTP/1.1"]
    has_host = has_length = chunked = False
    for name, value in headers:
        lines.append(f"{name}: {value}")
        lowered = name.lower()
        if lowered == "host":
            has_host = True
        elif lowered == "content-length":
            has_length = True
        elif lowered == "transfer-encoding":
            chunked = "chunked" in value.lower()
    if not has_host:
        lines.insert(1, f"Host: {origin.host_header}")
    if body is not None and not has_length and not chunked:
        lines.append(f"Content-Length: {len(body)}")
    text = "\r\n".join(lines)
    # Every line break in the head must be one of ours: a value carrying CR or LF would
    # smuggle a header (api_call refuses them at create time; this is the wire's own check).
    if text.count("\n") != len(lines) - 1 or text.count("\r") != len(lines) - 1:
        raise httpx.LocalProtocolError("a request header holds a line break")
    try:
        head = (text + "\r\n\r\n").encode("utf-8")
    except UnicodeEncodeError as exc:
        raise httpx.LocalProtocolError(str(exc)) from None
    if body is None:
        return head
    if chunked:
        return head + (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
                       if body else b"0\r\n\r\n")
    return head + body


class ResponseHeaders:
    """A response's headers by case-insensitive name (the first of a repeated one), decoded
    as aiohttp decodes them (UTF-8, undecodable bytes kept as surrogates)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: tuple[tuple[bytes, bytes], ...]) -> None:
        self._raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower().encode("latin-1")
        for raw_name, raw_value in self._raw:
            if raw_name.lower() == wanted:
                return raw_value.decode("utf-8", "surrogateescape")
        return default


class WireResponse:
    """One exchange's response: ``status``, ``headers``, ``raw_headers`` (names as sent), the
    body through ``content.iter_any()``, and :meth:`release`, which the caller must call."""

    def __init__(self, connection: _Connection, loop: asyncio.AbstractEventLoop,
                 head_only: bool) -> None:
        self.status = 0
        self.raw_headers: tuple[tuple[bytes, bytes], ...] = ()
        self._connection = connection
        self._loop = loop
        self._head_only = head_only
        self._head_arrived: asyncio.Future[None] = loop.create_future()
        self._head_done = False
        self._got_bytes = False
        self._head_bytes = 0
        self._done = False  # the whole message arrived
        self._error: BaseException | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._keep_alive = False
        self._close_delimited = False
        self._encoding: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._released = False

    @property
    def headers(self) -> ResponseHeaders:
        return ResponseHeaders(self.raw_headers)

    @property
    def content(self) -> WireResponse:
        return self

    def iter_any(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive, decoded; raises the httpx errors of the module
        docstring."""
        if self._encoding is None:
            return self._raw_chunks()
        return self._decoded_chunks(self._encoding)

    async def _raw_chunks(self) -> AsyncIterator[bytes]:
        while True:
            data = await self._next_data()
            if data is None:
                return
            yield data

    async def _decoded_chunks(self, encoding: str) -> AsyncIterator[bytes]:
        decoder: zlib._Decompress | None = None
        try:
            while True:
                data = await self._next_data()
                if data is None:
                    if decoder is not None:
                        tail = decoder.flush()
                        if tail:
                            yield tail
                    return
                if decoder is None:
                    # deflate is zlib-wrapped by the RFC, raw by some servers: both accepted
                    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else \
                        zlib.MAX_WBITS if data[0] & 0x0F == 8 else -zlib.MAX_WBITS
                    decoder = zlib.decompressobj(wbits)
                piece = decoder.decompress(data, _DECODED_STEP)
                if piece:
                    yield piece
                while decoder.unconsumed_tail:
                    piece = decoder.decompress(decoder.unconsumed_tail, _DECODED_STEP)
                    if piece:
                        yield piece
        except zlib.error as exc:
            error = httpx.RemoteProtocolError(f"Can not decode content-encoding: {encoding}")
            self._fail(error)  # the connection is closed on release
            raise error from exc

    async def _next_data(self) -> bytes | None:
        """The bytes that arrived since the last call (waiting for some), None at the end."""
        while True:
            chunks = self._chunks
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                if self._buffered > _HIGH_WATER:
                    self._connection.resume()
                self._buffered = 0
                return data
            if self._error is not None:
                raise self._error
            if self._done:
                return None
            waiter = self._waiter = self._loop.create_future()
            self._connection.last_read = self._loop.time()
            try:
                await waiter
            finally:
                self._waiter = None

    def release(self) -> None:
        """Back to the pool when the whole message arrived and the connection may be kept
        alive; closed otherwise. Idempotent."""
        if self._released:
            return
        self._released = True
        if self._timer is not None:
            self._timer.cancel()
        connection = self._connection
        connection.response = None
        if self._done and self._error is None and self._keep_alive and connection.clean:
            connection.pool.put_idle(connection)
        else:
            connection.close()

    # --- called by the connection ------------------------------------------------------------

    def _wake(self) -> None:
        if not self._head_arrived.done():
            self._head_arrived.set_result(None)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self._error is None and not self._done:
            self._error = error
        if self._timer is not None:
            self._timer.cancel()
        self._wake()

    def _finish(self) -> None:
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
        self._wake()


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; parses the responses of the requests sent on it."""

    def __init__(self, pool: WirePool, key: _Key) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: WireResponse | None = None
        self.clean = True  # nothing seen that makes the next response's framing doubtful
        self.closed = False
        self.counted = False  # holds one of the pool's max_connections
        self.reused = False
        self.idle_since = 0.0
        self.last_read = 0.0
        self.seconds = 0.0
        self._headers: list[tuple[bytes, bytes]] = []
        self._interim = False
        self._fresh_parser = False
        self._paused = False
        self.lost: asyncio.Future[None] | None = None

    def send(self, request: bytes, head_only: bool, seconds: float,
             loop: asyncio.AbstractEventLoop) -> WireResponse:
        if self._fresh_parser:
            self.parser = httptools.HttpResponseParser(self)
            self._fresh_parser = False
        response = self.response = WireResponse(self, loop, head_only)
        self.seconds = seconds
        self.last_read = now = loop.time()
        response._timer = loop.call_at(now + seconds, self._on_timer)
        assert self.transport is not None
        self.transport.write(request)
        return response

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.pool.forget(self)

    def usable(self) -> bool:
        transport = self.transport
        return not self.closed and self.clean and transport is not None \
            and not transport.is_closing()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None or response._done:
            # Bytes nobody asked for (an idle connection, or after a whole response): the
            # framing of anything after them is doubtful.
            self.clean = False
            if response is None:
                self.close()
            return
        response._got_bytes = True
        self.last_read = response._loop.time()
        if not response._head_done:
            response._head_bytes += len(data)
            if response._head_bytes > _MAX_HEAD:  # llhttp sets no limit: a server could
                self._broken(response, "the response head is too large")  # send headers
                return  # without end
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._broken(response, "the server switched protocols (101): not supported")
        except httptools.HttpParserError as exc:
            self._broken(response, f"malformed response: {exc}")

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)
        self.pool.forget(self)
        response = self.response
        if response is None or response._done or response._error is not None:
            return
        if not response._head_done:
            error: Exception = httpx.WriteError(str(exc)) if isinstance(exc, OSError) \
                else httpx.RemoteProtocolError(_NO_RESPONSE)
            response._fail(error)
        elif response._close_delimited and exc is None:
            response._keep_alive = False
            response._finish()
        else:
            response._fail(httpx.ReadError(str(exc)) if isinstance(exc, OSError)
                           else httpx.RemoteProtocolError(_CUT_BODY))

    def _broken(self, response: WireResponse, message: str) -> None:
        response._fail(httpx.RemoteProtocolError(message))
        self.clean = False
        self.close()

    def _on_timer(self) -> None:
        response = self.response
        if response is None or response._done or response._error is not None:
            return
        loop = response._loop
        now = loop.time()
        waiting = not response._head_done or response._waiter is not None
        due = self.last_read + self.seconds
        if waiting and now >= due - 0.001:
            response._fail(httpx.ReadTimeout(_READ_TIMEOUT))
            self.clean = False
            self.close()
        else:
            response._timer = loop.call_at(max(due, now + 0.001) if waiting
                                           else now + self.seconds, self._on_timer)

    # --- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        response = self.response
        if response is None or response._head_done:
            self.clean = False
            return
        parser = self.parser
        status = parser.get_status_code()
        if status < 200:  # interim (100 Continue, 103 Early Hints): the answer follows
            self._interim = True
            return
        headers = tuple(self._headers)
        response.status = status
        response.raw_headers = headers
        has_length = chunked = False
        for name, value in headers:
            size = len(name)
            if size == 16 and name.lower() == b"content-encoding":
                coding = value.strip().lower()
                response._encoding = "gzip" if coding == b"gzip" else \
                    "deflate" if coding == b"deflate" else None
            elif size == 14 and name.lower() == b"content-length":
                has_length = True
            elif size == 17 and name.lower() == b"transfer-encoding":
                chunked = value.lower().rstrip().endswith(b"chunked")
        response._keep_alive = parser.should_keep_alive()
        no_body = response._head_only or status in (204, 304)
        response._close_delimited = not (no_body or has_length or chunked)
        response._head_done = True
        if no_body:
            response._encoding = None
        if response._head_only:
            # llhttp cannot be told the request was HEAD: it expects the body the headers
            # announce. The message ends here; the next response gets a fresh parser.
            self._fresh_parser = True
            response._finish()
        else:
            response._wake()

    def on_body(self, body: bytes) -> None:
        response = self.response
        if response is None or response._done:
            self.clean = False  # a body after HEAD's answer, or after the message
            return
        response._chunks.append(body)
        response._buffered += len(body)
        if response._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        waiter = response._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        response = self.response
        if response is not None and not response._done:
            response._finish()


class WirePool:
    """HTTP/1.1 connections by origin, opened through the guard; see the module docstring."""

    def __init__(self, guard: NetworkGuard, ssl_context: ssl.SSLContext, *,
                 max_connections: int | None, max_keepalive_connections: int | None,
                 keepalive_expiry: float | None) -> None:
        self._guard = guard
        self._ssl_context = ssl_context
        self._max = max_connections if max_connections is not None else 1 << 30
        self._max_idle = max_keepalive_connections if max_keepalive_connections is not None \
            else 1 << 30
        self._expiry = keepalive_expiry
        self._open = 0  # connections counted against max_connections (opening ones too)
        self._all: set[_Connection] = set()
        self._idle: dict[_Key, dict[_Connection, None]] = {}
        self._idle_count = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    async def request(self, method: str, url: str, headers: Iterable[tuple[str, str]],
                      body: bytes | None, *, seconds: float) -> WireResponse:
        """Send one request; return once the response head arrived. The caller reads the body
        and must ``release()`` the response."""
        origin, target = split_url(url)
        request = request_head(method, target, origin, headers, body)
        head_only = method == "HEAD"
        loop = asyncio.get_running_loop()
        connection = self._take_idle(origin.key, loop)
        if connection is not None:
            response = connection.send(request, head_only, seconds, loop)
            try:
                await self._head(response)
                return response
            except (httpx.RemoteProtocolError, httpx.WriteError):
                if response._got_bytes:
                    raise
                # The server closed the kept-alive connection as the request went out,
                # before answering a byte (its idle timeout won the race): send once more on
                # a fresh connection, whatever the method. A server closing an idle
                # connection has not begun the request; and should one have acted on it,
                # the requests sent here (api_call's) all carry an Idempotency-Key, which
                # makes the replay recognisable: RFC 9112 §9.3.1 allows a client to retry a
                # non-idempotent request it knows to be idempotent by such means.
            finally:
                if response._error is not None or not response._head_done:
                    response.release()
        connection = await self._connect(origin, seconds, loop)
        response = connection.send(request, head_only, seconds, loop)
        try:
            await self._head(response)
        except BaseException:
            response.release()
            raise
        return response

    @staticmethod
    async def _head(response: WireResponse) -> None:
        await response._head_arrived
        if response._error is not None:
            raise response._error

    def _take_idle(self, key: _Key, loop: asyncio.AbstractEventLoop) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = loop.time()
        while idle:
            connection = idle.popitem()[0]
            self._idle_count -= 1
            if connection.usable() and (self._expiry is None
                                        or now - connection.idle_since < self._expiry):
                connection.reused = True
                return connection
            connection.close()
        return None

    async def _connect(self, origin: _Origin, seconds: float,
                       loop: asyncio.AbstractEventLoop) -> _Connection:
        try:
            async with asyncio.timeout(seconds):
                while self._open >= self._max:
                    if self._idle_count:
                        self._close_oldest_idle()
                        continue
                    await self._wait_for_slot(loop)
                    connection = self._take_idle(origin.key, loop)
                    if connection is not None:
                        return connection
                self._open += 1
                try:
                    return await self._open_connection(origin, loop)
                except BaseException:
                    self._open -= 1
                    self._wake_one()
                    raise
        except TimeoutError:
            raise httpx.ConnectTimeout(f"Connection timeout to host {origin.host_header}") \
                from None

    async def _open_connection(self, origin: _Origin,
                               loop: asyncio.AbstractEventLoop) -> _Connection:
        if self._closed:
            raise httpx.ConnectError("the client is closed")
        addresses = await self._guard.check_host(origin.host, origin.port)
        key = origin.key
        failure: OSError | None = None
        for address in addresses:  # each checked address in turn, never resolving again
            try:
                transport, connection = await loop.create_connection(
                    lambda: _Connection(self, key), address, origin.port,
                    ssl=self._ssl_context if origin.tls else None,
                    server_hostname=origin.server_hostname, flags=_NUMERIC)
            except OSError as exc:  # refused, unreachable, TLS (ssl.SSLError is an OSError)
                failure = exc
                continue
            # uvloop may call connection_made after create_connection returns
            connection.transport = transport
            connection.counted = True
            self._all.add(connection)
            return connection
        detail = f"{type(failure).__name__}: {failure}" if isinstance(failure, ssl.SSLError) \
            else (failure.strerror or str(failure)) if failure is not None else "no address"
        raise httpx.ConnectError(f"Cannot connect to host {origin.host_header} "
                                 f"ssl:{'default' if origin.tls else False} [{detail}]")

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop) -> None:
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # the slot it was given goes to the next in line
            else:
                self._waiters.remove(waiter)
            raise

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _close_oldest_idle(self) -> None:
        oldest: _Connection | None = None
        for idle in self._idle.values():
            for connection in idle:  # insertion order: the first is the longest idle
                if oldest is None or connection.idle_since < oldest.idle_since:
                    oldest = connection
                break
        if oldest is not None:
            oldest.close()

    def put_idle(self, connection: _Connection) -> None:
        """Keep ``connection`` for its origin's next request, or close it when the pool is
        closed or holds enough idle connections."""
        if self._closed or self._idle_count >= self._max_idle or not connection.usable():
            connection.close()
            return
        loop = asyncio.get_running_loop()
        connection.idle_since = loop.time()
        self._idle.setdefault(connection.key, {})[connection] = None
        self._idle_count += 1
        if self._sweeper is None and self._expiry is not None:
            self._sweeper = loop.call_later(self._expiry, self._sweep)
        if self._waiters:
            self._wake_one()

    def forget(self, connection: _Connection) -> None:
        """``connection`` is closed: out of the idle set, its slot free. Called once or more."""
        idle = self._idle.get(connection.key)
        if idle is not None and connection in idle:
            del idle[connection]
            self._idle_count -= 1
        if connection.counted:
            connection.counted = False
            self._open -= 1
            self._all.discard(connection)
            self._wake_one()

    def _sweep(self) -> None:
        self._sweeper = None
        if self._expiry is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() - self._expiry
        expired = [connection for idle in self._idle.values() for connection in idle
                   if connection.idle_since <= deadline]
        for connection in expired:
            connection.close()
        if self._idle_count:
            self._sweeper = loop.call_later(self._expiry, self._sweep)

    async def aclose(self) -> None:
        """Close every connection, idle or in use; wait (briefly) until they are gone."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        connections = list(self._all)
        loop = asyncio.get_running_loop()
        for connection in connections:
            connection.lost = loop.create_future()
            connection.close()
        waiting = [c.lost for c in connections if c.lost is not None and not c.lost.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=1.0)
