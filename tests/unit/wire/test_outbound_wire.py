"""PinnedTransport.open's HTTP/1.1 client (outbound/wire.py) against real servers on loopback.

The servers run in the test's own event loop (asyncio streams, TLS included) and answer with
raw bytes, so each test says exactly what goes over the wire; they count connections. Every
test runs on asyncio's loop and on uvloop (conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yarl
from multidict import CIMultiDict

from executors.api_call import ApiCallExecutor
from executors.base import ExecutionContext, TaskSpec
from outbound import AddressRefused, NetworkGuard, PinnedTransport
from outbound.wire import WireResponse, request_head, split_url
from schemas.configs import ApiCallConfig
from tests.unit.test_outbound_guard import Rebinding, _certificate, rebinding_guard

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass(frozen=True)
class Received:
    head: bytes
    body: bytes
    connection: int  # which connection, counted from 0
    number: int  # which request on that connection, counted from 0

    @property
    def method(self) -> str:
        return self.head.split(b" ", 1)[0].decode()


@dataclass(frozen=True)
class Answer:
    data: bytes = b""
    close: bool = False  # close the connection after ``data``
    delay: float = 0.0  # before ``data``
    hang: bool = False  # after ``data``, say nothing more and keep the connection open


@dataclass
class Scripted:
    """An HTTP/1.1 server on 127.0.0.1 whose ``answer`` gives each request's raw reply."""

    answer: Callable[[Received], Answer]
    ssl_context: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    closed: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    async def start(self) -> Scripted:
        self._server = await asyncio.start_server(self._serve, self.host, 0,
                                                  ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        self._stopping.set()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        index = self.connections
        self.connections += 1
        try:
            for number in range(1000):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                request = Received(head, body, index, number)
                self.requests.append(request)
                answer = self.answer(request)
                await asyncio.sleep(answer.delay)
                writer.write(answer.data)
                await writer.drain()
                if answer.hang:
                    await self._stopping.wait()
                if answer.close:
                    return
        except (ConnectionError, ssl.SSLError):
            return
        finally:
            self.closed += 1
            writer.close()
            self._writers.discard(writer)
            self._tasks.discard(task)


@pytest.fixture
async def transport() -> AsyncIterator[PinnedTransport]:
    pinned = PinnedTransport(NetworkGuard(allow_private=True))
    yield pinned
    await pinned.aclose()


async def serve(answer: Callable[[Received], Answer] | bytes,
                **options: Any) -> Scripted:
    fixed = answer
    script = (lambda _request: Answer(fixed)) if isinstance(fixed, bytes) else fixed
    return await Scripted(script, **options).start()


@contextlib.asynccontextmanager
async def serving(answer: Callable[[Received], Answer] | bytes,
                  **options: Any) -> AsyncIterator[Scripted]:
    """:func:`serve` for a block: stopped when it ends (still readable after)."""
    server = await serve(answer, **options)
    try:
        yield server
    finally:
        await server.stop()


async def fetch(transport: PinnedTransport, url: str, *, method: str = "GET",
                headers: list[tuple[str, str]] | None = None, body: bytes | None = None,
                seconds: float = 5.0) -> tuple[WireResponse, bytes]:
    async with asyncio.timeout(10):  # as api_call bounds the exchange: no test hangs
        response = await transport.open(method, url, CIMultiDict(headers or []), body,
                                        seconds=seconds)
        try:
            return response, b"".join([chunk async for chunk in response.content.iter_any()])
        finally:
            response.release()


# --- what is sent ----------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/a?b=%2F&c", "http://[::1]:8080/a", "http://[::1]:80/a",
    "http://Example.COM./x?y", "https://a.b:443/", "https://a.b:8443", "http://h/p?q#frag",
    "http://h?q=1", "http://xn--bcher-kva.example/%C3%A9",
])
async def test_host_header_and_target_are_what_aiohttp_sends(url: str) -> None:
    origin, target = split_url(url)
    ours = yarl.URL(url, encoded=True)
    assert origin.host_header == ours.host_port_subcomponent
    assert target == ours.raw_path_qs
    assert origin.port == ours.port


async def test_the_request_is_the_method_target_host_and_the_headers_given(
        transport: PinnedTransport) -> None:
    async with serving(OK) as server:
        await fetch(transport, f"{server.url}/p?a=%2F&b", headers=[("X-One", "1"),
                                                                   ("x-two", "2")])
        await fetch(transport, f"{server.url}/post", method="POST", body=b"raw",
                    headers=[("Content-Type", "text/plain")])
        await fetch(transport, f"{server.url}/delete", method="DELETE")
    get, post, delete = server.requests
    assert get.head == (f"GET /p?a=%2F&b HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                        "X-One: 1\r\nx-two: 2\r\n\r\n").encode()
    assert post.head == (f"POST /post HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                         "Content-Type: text/plain\r\nContent-Length: 3\r\n\r\n").encode()
    assert post.body == b"raw"
    assert delete.head == (f"DELETE /delete HTTP/1.1\r\nHost: 127.0.0.1:{server.port}"
                           "\r\n\r\n").encode()


async def test_header_hooks_see_the_headers_before_they_are_sent() -> None:
    def stamp(headers: Any) -> None:
        headers["traceparent"] = "00-abc-def-01"

    pinned = PinnedTransport(NetworkGuard(allow_private=True), header_hooks=[stamp])
    server = await serve(OK)
    try:
        await fetch(pinned, f"{server.url}/")
    finally:
        await pinned.aclose()
        await server.stop()
    assert b"\r\ntraceparent: 00-abc-def-01\r\n" in server.requests[0].head


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "a\rb"])
async def test_a_line_break_in_a_header_is_refused_before_sending(value: str) -> None:
    origin, target = split_url("http://h/")
    with pytest.raises(httpx.LocalProtocolError):
        request_head("GET", target, origin, [("X-Bad", value)], None)


async def test_a_body_with_transfer_encoding_chunked_is_sent_as_one_chunk() -> None:
    origin, target = split_url("http://h/")
    sent = request_head("POST", target, origin, [("Transfer-Encoding", "chunked")], b"hello")
    assert sent == b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" \
        b"5\r\nhello\r\n0\r\n\r\n"


# --- keep-alive -------------------------------------------------------------------------------

async def test_keep_alive_one_connection_for_several_requests(
        transport: PinnedTransport) -> None:
    async with serving(OK) as server:
        for _ in range(5):
            response, body = await fetch(transport, f"{server.url}/")
            assert (response.status, body) == (200, b"ok")
    assert server.connections == 1
    assert len(server.requests) == 5


async def test_a_connection_is_reused_only_for_its_own_origin(
        transport: PinnedTransport) -> None:
    first, second = await serve(OK), await serve(OK)
    try:
        for server in (first, second, first, second):
            await fetch(transport, f"{server.url}/")
    finally:
        await first.stop()
        await second.stop()
    assert (first.connections, second.connections) == (1, 1)


async def test_an_idle_connection_the_server_closed_is_not_reused(
        transport: PinnedTransport) -> None:
    async with serving(lambda request: Answer(OK, close=request.number == 0)) as server:
        await fetch(transport, f"{server.url}/")
        await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
        response, body = await fetch(transport, f"{server.url}/")
    assert (response.status, body) == (200, b"ok")
    assert server.connections == 2


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_request_on_a_connection_closed_as_it_arrives_is_sent_again(
        transport: PinnedTransport, method: str) -> None:
    """The race a keep-alive timeout makes: the request goes out on a connection the server
    is closing; nothing comes back. It is sent once more on a fresh connection."""
    async with serving(lambda request: Answer(close=True) if request.number == 1
                         else Answer(OK)) as server:
        await fetch(transport, f"{server.url}/")
        response, body = await fetch(transport, f"{server.url}/again", method=method,
                                     body=b"x" if method == "POST" else None)
    assert (response.status, body) == (200, b"ok")
    assert [(r.connection, r.number, r.method) for r in server.requests] == [
        (0, 0, "GET"), (0, 1, method), (1, 0, method)]


async def test_a_fresh_connection_closed_before_answering_is_not_retried(
        transport: PinnedTransport) -> None:
    async with serving(lambda _request: Answer(close=True)) as server:
        with pytest.raises(httpx.RemoteProtocolError,
                           match=r"^Server disconnected without sending a response\.$"):
            await fetch(transport, f"{server.url}/")
    assert len(server.requests) == 1


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
], ids=["connection-close", "http-1.0"])
async def test_a_response_that_ends_the_connection_is_not_reused(
        transport: PinnedTransport, reply: bytes) -> None:
    async with serving(reply) as server:
        for _ in range(2):
            response, body = await fetch(transport, f"{server.url}/")
            assert (response.status, body) == (200, b"ok")
    assert server.connections == 2


async def test_http_1_0_with_keep_alive_is_reused(transport: PinnedTransport) -> None:
    async with serving(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                         b"Content-Length: 2\r\n\r\nok") as server:
        for _ in range(2):
            await fetch(transport, f"{server.url}/")
    assert server.connections == 1


async def test_idle_connections_expire() -> None:
    pinned = PinnedTransport(NetworkGuard(allow_private=True),
                             limits=httpx.Limits(keepalive_expiry=0.1))
    server = await serve(OK)
    try:
        await fetch(pinned, f"{server.url}/")
        await asyncio.sleep(0.3)
        assert server.closed == 1  # swept while idle
        await fetch(pinned, f"{server.url}/")
    finally:
        await pinned.aclose()
        await server.stop()
    assert server.connections == 2


async def test_no_connection_is_kept_when_max_keepalive_is_zero() -> None:
    pinned = PinnedTransport(NetworkGuard(allow_private=True),
                             limits=httpx.Limits(max_keepalive_connections=0))
    server = await serve(OK)
    try:
        for _ in range(2):
            await fetch(pinned, f"{server.url}/")
    finally:
        await pinned.aclose()
        await server.stop()
    assert server.connections == 2


async def test_bytes_on_an_idle_connection_spoil_it(transport: PinnedTransport) -> None:
    async with serving(lambda request: Answer(OK + b"HTTP/1.1 408 Request Timeout\r\n\r\n")
                         if request.number == 0 else Answer(OK)) as server:
        await fetch(transport, f"{server.url}/")
        await asyncio.sleep(0.05)
        response, body = await fetch(transport, f"{server.url}/")
    assert (response.status, body) == (200, b"ok")
    assert server.connections == 2


async def test_aclose_closes_pooled_connections() -> None:
    pinned = PinnedTransport(NetworkGuard(allow_private=True))
    async with serving(OK) as server:
        await fetch(pinned, f"{server.url}/")
        await pinned.aclose()
        for _ in range(50):
            if server.closed:
                break
            await asyncio.sleep(0.01)
    assert server.closed == 1


# --- the pool's limit -------------------------------------------------------------------------

async def test_at_most_max_connections_are_open_the_next_request_waits() -> None:
    pinned = PinnedTransport(NetworkGuard(allow_private=True),
                             limits=httpx.Limits(max_connections=1))
    server = await serve(lambda _request: Answer(OK, delay=0.1))
    try:
        results = await asyncio.gather(*(fetch(pinned, f"{server.url}/{n}") for n in range(3)))
    finally:
        await pinned.aclose()
        await server.stop()
    assert [body for _, body in results] == [b"ok"] * 3
    assert server.connections == 1


async def test_at_the_limit_an_idle_connection_of_another_origin_makes_room() -> None:
    pinned = PinnedTransport(NetworkGuard(allow_private=True),
                             limits=httpx.Limits(max_connections=1))
    first, second = await serve(OK), await serve(OK)
    try:
        await fetch(pinned, f"{first.url}/")
        response, _ = await fetch(pinned, f"{second.url}/")
        await asyncio.sleep(0.05)
    finally:
        await pinned.aclose()
        await first.stop()
        await second.stop()
    assert response.status == 200
    assert first.closed == 1


async def test_waiting_for_a_connection_counts_as_connecting() -> None:
    pinned = PinnedTransport(NetworkGuard(allow_private=True),
                             limits=httpx.Limits(max_connections=1))
    server = await serve(lambda _request: Answer(OK, delay=1.0))
    try:
        held = asyncio.ensure_future(fetch(pinned, f"{server.url}/held"))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.ConnectTimeout):
            await fetch(pinned, f"{server.url}/waits", seconds=0.2)
        await held
    finally:
        await pinned.aclose()
        await server.stop()
    assert len(server.requests) == 1


# --- framing ----------------------------------------------------------------------------------

async def test_a_chunked_body(transport: PinnedTransport) -> None:
    async with serving(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n") as server:
        for _ in range(2):
            _, body = await fetch(transport, f"{server.url}/")
            assert body == b"hello world"
    assert server.connections == 1  # reused after the last chunk


async def test_a_close_delimited_body(transport: PinnedTransport) -> None:
    async with serving(lambda _request: Answer(b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
                                                 close=True)) as server:
        for _ in range(2):
            response, body = await fetch(transport, f"{server.url}/")
            assert (response.status, body) == (200, b"until the end")
    assert server.connections == 2


async def test_interim_responses_are_skipped(transport: PinnedTransport) -> None:
    async with serving(b"HTTP/1.1 100 Continue\r\n\r\n"
                         b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n" + OK) as server:
        for _ in range(2):
            response, body = await fetch(transport, f"{server.url}/", method="POST",
                                         body=b"x")
            assert (response.status, body) == (200, b"ok")
            assert response.raw_headers == ((b"Content-Length", b"2"),)
    assert server.connections == 1


async def test_switching_protocols_is_a_protocol_error(transport: PinnedTransport) -> None:
    async with serving(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\n\r\n") as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await fetch(transport, f"{server.url}/")


@pytest.mark.parametrize(("method", "reply"), [
    ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/html\r\n\r\n"),
    ("HEAD", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
    ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n"),
])
async def test_answers_without_a_body(transport: PinnedTransport, method: str,
                                      reply: bytes) -> None:
    async with serving(lambda request: Answer(reply if request.number == 0 else OK)) as server:
        _, body = await fetch(transport, f"{server.url}/", method=method)
        assert body == b""
        after, after_body = await fetch(transport, f"{server.url}/")
    assert (after.status, after_body) == (200, b"ok")  # the next answer parses ...
    assert server.connections == 1  # ... on the same connection


async def test_a_body_after_a_head_answer_spoils_the_connection(
        transport: PinnedTransport) -> None:
    async with serving(lambda request: Answer(
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody" if request.method == "HEAD"
        else OK)) as server:
        response, body = await fetch(transport, f"{server.url}/", method="HEAD")
        await asyncio.sleep(0.05)
        _, after_body = await fetch(transport, f"{server.url}/")
    assert (response.status, body) == (200, b"")
    assert after_body == b"ok"
    assert server.connections == 2


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
], ids=["content-length", "chunked"])
async def test_a_body_cut_short(transport: PinnedTransport, reply: bytes) -> None:
    async with serving(lambda _request: Answer(reply, close=True)) as server:
        with pytest.raises(httpx.RemoteProtocolError, match=(
                r"^peer closed connection without sending complete message body$")):
            await fetch(transport, f"{server.url}/")


@pytest.mark.parametrize("reply", [b"garbage\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n",
                                   b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"])
async def test_a_malformed_response(transport: PinnedTransport, reply: bytes) -> None:
    async with serving(lambda _request: Answer(reply, hang=True)) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await fetch(transport, f"{server.url}/")


async def test_a_head_without_end_is_a_protocol_error(transport: PinnedTransport) -> None:
    endless = b"HTTP/1.1 200 OK\r\n" + (b"X-Filler: " + b"y" * 1000 + b"\r\n") * 300
    async with serving(lambda _request: Answer(endless, hang=True)) as server:
        with pytest.raises(httpx.RemoteProtocolError, match="head is too large"):
            await fetch(transport, f"{server.url}/")


# --- time -------------------------------------------------------------------------------------

async def test_no_answer_is_a_read_timeout(transport: PinnedTransport) -> None:
    async with serving(lambda _request: Answer(hang=True)) as server:
        with pytest.raises(httpx.ReadTimeout):
            await fetch(transport, f"{server.url}/", seconds=0.2)


async def test_a_body_that_stalls_is_a_read_timeout(transport: PinnedTransport) -> None:
    async with serving(lambda _request: Answer(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", hang=True)) as server:
        with pytest.raises(httpx.ReadTimeout):
            await fetch(transport, f"{server.url}/", seconds=0.2)


async def test_each_read_has_its_own_time(transport: PinnedTransport) -> None:
    """Bytes every 0.1 s for 0.5 s with 0.3 s per read: no timeout."""
    class Dribble(Scripted):
        async def _serve(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
            for byte in b"abcde":
                await asyncio.sleep(0.1)
                writer.write(bytes([byte]))
            writer.close()

    server = await Dribble(lambda _request: Answer()).start()
    try:
        _, body = await fetch(transport, f"{server.url}/", seconds=0.3)
    finally:
        await server.stop()
    assert body == b"abcde"


async def test_a_refused_connection_is_a_connect_error(transport: PinnedTransport) -> None:
    server = await serve(OK)
    url = server.url
    await server.stop()
    with pytest.raises(httpx.ConnectError, match="Cannot connect to host"):
        await fetch(transport, f"{url}/")


# --- decoding ---------------------------------------------------------------------------------

TEXT = b"hello, encoded world " * 50


@pytest.mark.parametrize(("coding", "packed"), [
    ("gzip", gzip.compress(TEXT)),
    ("deflate", zlib.compress(TEXT)),
    ("deflate", zlib.compress(TEXT)[2:-4]),  # raw deflate, as some servers send it
    ("GZip", gzip.compress(TEXT)),
], ids=["gzip", "deflate-zlib", "deflate-raw", "case"])
async def test_a_compressed_body_arrives_decoded(transport: PinnedTransport, coding: str,
                                                 packed: bytes) -> None:
    header = f"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\n".encode()
    reply = header + f"Content-Length: {len(packed)}\r\n\r\n".encode() + packed
    async with serving(reply) as server:
        _, body = await fetch(transport, f"{server.url}/")
        _, again = await fetch(transport, f"{server.url}/")
    assert body == again == TEXT
    assert server.connections == 1


async def test_an_unknown_coding_passes_as_it_came(transport: PinnedTransport) -> None:
    async with serving(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n"
                         b"Content-Length: 4\r\n\r\n\x0b\x01\x80\x03") as server:
        response, body = await fetch(transport, f"{server.url}/")
    assert body == b"\x0b\x01\x80\x03"
    assert response.headers.get("CONTENT-ENCODING") == "br"


async def test_a_body_that_does_not_decode(transport: PinnedTransport) -> None:
    async with serving(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                         b"Content-Length: 9\r\n\r\nnot gzip!") as server:
        with pytest.raises(httpx.RemoteProtocolError, match="content-encoding"):
            await fetch(transport, f"{server.url}/")


async def test_a_body_larger_than_the_limit_leaves_its_connection_unused(
        transport: PinnedTransport) -> None:
    big = b"x" * 200_000
    server = await serve(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         + f"Content-Length: {len(big)}\r\n\r\n".encode() + big)
    executor = ApiCallExecutor(transport, NetworkGuard(allow_private=True),
                               response_body_limit=1000)
    context = ExecutionContext(task_id="task-1", execution_id="exec-1", attempt_number=1,
                               triggered_by="create", worker_id="w",
                               clock=lambda: datetime.now(UTC))
    spec = TaskSpec(id="task-1", title="t", task_type="api_call", timeout_seconds=10,
                    config=ApiCallConfig(api_endpoint=f"{server.url}/big"))
    try:
        first = await executor.execute(spec, context)
        second = await executor.execute(spec, context)
    finally:
        await server.stop()
    assert first.output is not None and second.output is not None
    assert first.output["bodyTruncated"] is True
    assert len(first.output["body"]) == 1000
    assert server.connections == 2  # the cut body's connection was closed, not pooled


# --- TLS and the guard ------------------------------------------------------------------------

@pytest.mark.parametrize(("certified", "works"), [("tls.test", True), ("other.test", False)])
async def test_https_verifies_the_host_name_and_connects_to_the_checked_address(
        tmp_path: Path, certified: str, works: bool) -> None:
    cert, key = _certificate(tmp_path, certified)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    seen_sni: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: seen_sni.append(name)  # type: ignore
    server = await serve(OK, ssl_context=context, host="127.0.0.2")
    resolver = Rebinding(["127.0.0.2"])
    pinned = PinnedTransport(rebinding_guard(resolver),
                             verify=ssl.create_default_context(cafile=str(cert)))
    url = f"https://tls.test:{server.port}/"
    try:
        if works:
            for _ in range(2):
                response, body = await fetch(pinned, url)
                assert (response.status, body) == (200, b"ok")
        else:
            with pytest.raises(httpx.ConnectError, match="certificate"):
                await fetch(pinned, url)
    finally:
        await pinned.aclose()
        await server.stop()
    assert seen_sni == ["tls.test"]  # the name, once: the second request reused the connection
    assert resolver.lookups == ["tls.test"]
    if works:
        assert server.requests[0].head.split(b"\r\n")[1] == f"Host: tls.test:{server.port}".encode()


async def test_the_guard_refuses_a_literal_and_a_name_resolving_to_a_refused_address() -> None:
    server = await serve(OK)
    strict = PinnedTransport(NetworkGuard(allow_private=False))
    named = PinnedTransport(rebinding_guard(Rebinding(["127.0.0.2", "127.0.0.1"])))
    try:
        with pytest.raises(AddressRefused, match=r"127\.0\.0\.1 is a loopback"):
            await fetch(strict, f"{server.url}/")
        with pytest.raises(AddressRefused):
            await fetch(strict, f"http://[::ffff:127.0.0.1]:{server.port}/")
        with pytest.raises(AddressRefused, match=r"127\.0\.0\.1 is a loopback"):
            await fetch(named, f"http://mixed.test:{server.port}/")
    finally:
        await strict.aclose()
        await named.aclose()
        await server.stop()
    assert server.connections == 0


async def test_each_checked_address_is_tried_in_turn() -> None:
    server = await serve(OK, host="127.0.0.2")
    # 127.0.0.3 listens on nothing: refused, then the next checked address answers
    guard = NetworkGuard(allow_private=False, allowed_networks=["127.0.0.2/31"],
                         resolver=Rebinding(["127.0.0.3", "127.0.0.2"]))
    pinned = PinnedTransport(guard)
    try:
        response, body = await fetch(pinned, f"http://two.test:{server.port}/")
    finally:
        await pinned.aclose()
        await server.stop()
    assert (response.status, body) == (200, b"ok")
