"""api_call through its HTTP client (aiohttp, outbound/transport.py) against hostile servers.

Each server is a scripted raw-socket HTTP/1.1 server on 127.0.0.1 in the test's own event loop,
so each test says exactly what goes over the wire. Tasks run through the api_call executor, as
the runner runs them, on one shared transport: what one task leaves in a pooled connection is
what the next task to that origin would read. Every test runs on asyncio's loop and on uvloop
(conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from executors.api_call import ApiCallExecutor
from executors.base import ExecutionContext, ExecutionResult, ExecutorError, TaskSpec
from outbound import NetworkGuard, PinnedTransport
from schemas.configs import ApiCallConfig

Reply = Callable[["Received"], bytes]


@dataclass(frozen=True)
class Received:
    head: bytes
    body: bytes
    connection: int

    @property
    def target(self) -> str:
        return self.head.split(b" ", 2)[1].decode()


def answer(text: str, **extra: str) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in extra.items())
    return (f"HTTP/1.1 200 OK\r\nContent-Length: {len(text)}\r\n{head}\r\n{text}").encode()


@dataclass
class Scripted:
    """Reads requests framed by their Content-Length, as a server does, and writes ``reply``'s
    bytes for each; ``stream`` (when given) then writes whatever it yields until stopped."""

    reply: Reply
    stream: Callable[[asyncio.StreamWriter], Any] | None = None
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        index = self.connections
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                received = Received(head, body, index)
                self.requests.append(received)
                writer.write(self.reply(received))
                await writer.drain()
                if self.stream is not None:
                    await self.stream(writer)
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()
            self._tasks.discard(task)


@contextlib.asynccontextmanager
async def serving(reply: Reply, stream: Callable[[asyncio.StreamWriter], Any] | None = None
                  ) -> AsyncIterator[Scripted]:
    scripted = Scripted(reply, stream)
    server = await asyncio.start_server(scripted._serve, "127.0.0.1", 0)
    scripted.port = server.sockets[0].getsockname()[1]
    try:
        yield scripted
    finally:
        server.close()
        for task in list(scripted._tasks):
            task.cancel()
        await asyncio.gather(*scripted._tasks, return_exceptions=True)


@pytest.fixture
async def transport() -> AsyncIterator[PinnedTransport]:
    pinned = PinnedTransport(NetworkGuard(allow_private=True))
    yield pinned
    await pinned.aclose()


def executor(transport: PinnedTransport, limit: int = 65536) -> ApiCallExecutor:
    return ApiCallExecutor(transport, transport.guard, response_body_limit=limit)


async def run(exe: ApiCallExecutor, task_id: str = "tsk_1", **wire: Any) -> ExecutionResult:
    """One task's attempt, as the runner makes it (no create-time check: a stored task)."""
    config = msgspec.convert({"apiMethod": "GET", "timeoutMs": 5000, **wire}, ApiCallConfig)
    spec = TaskSpec(id=task_id, title="call", task_type="api_call", config=config,
                    timeout_seconds=30)
    ctx = ExecutionContext(task_id=task_id, execution_id=f"exe_{task_id}", attempt_number=1,
                           triggered_by="create", worker_id="w",
                           clock=lambda: datetime.now(UTC))
    async with asyncio.timeout(20):  # no test hangs, whatever the client does
        return await exe.execute(spec, ctx)


async def fail(exe: ApiCallExecutor, **wire: Any) -> ExecutorError:
    with pytest.raises(ExecutorError) as caught:
        await run(exe, **wire)
    return caught.value


def echo(received: Received) -> bytes:
    return answer(f"you asked {received.target}")


# --- smuggling and mix-ups ---------------------------------------------------------------

SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


async def test_a_task_cannot_smuggle_a_second_request(transport: PinnedTransport) -> None:
    """A task stored with ``Content-Length: 0`` (create refuses it now) and a request in its
    body: the server sees one request, whose body is that text, and the next task to that host
    gets its own answer."""
    exe = executor(transport)
    async with serving(echo) as server:
        first = await run(exe, "tsk_a", apiMethod="POST", apiEndpoint=server.url("/a"),
                          headers={"Content-Length": "0"}, body=SMUGGLED)
        second = await run(exe, "tsk_b", apiEndpoint=server.url("/b"))
    assert first.output["body"] == "you asked /a"
    assert second.output["body"] == "you asked /b"
    assert [r.target for r in server.requests] == ["/a", "/b"]
    assert server.requests[0].body == SMUGGLED.encode()


@pytest.mark.parametrize("stray", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n",  # a head still open
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nstray answer!",  # a whole answer
    b"junk",
], ids=["open-head", "whole-answer", "junk"])
async def test_stray_bytes_after_an_answer_never_reach_the_next_task(
        transport: PinnedTransport, stray: bytes) -> None:
    exe = executor(transport)

    def reply(received: Received) -> bytes:
        own = echo(received)
        return own + stray if received.target == "/a" else own

    async with serving(reply) as server:
        try:  # the answer with bytes after it may be refused; it is never another's
            first = await run(exe, "tsk_a", apiEndpoint=server.url("/a"))
        except ExecutorError as exc:
            assert exc.error_type == "network"
        else:
            assert first.output["body"] == "you asked /a"
        second = await run(exe, "tsk_b", apiEndpoint=server.url("/b"))
    assert second.output["body"] == "you asked /b"


# --- hostile answers ---------------------------------------------------------------------

async def _forever(writer: asyncio.StreamWriter, piece: bytes) -> None:
    while True:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0)


async def test_endless_headers_are_refused(transport: PinnedTransport) -> None:
    async def headers(writer: asyncio.StreamWriter) -> None:
        await _forever(writer, b"X-More: yes\r\n" * 64)

    async with serving(lambda _r: b"HTTP/1.1 200 OK\r\n", headers) as server:
        error = await fail(executor(transport), apiEndpoint=server.url())
    assert error.error_type == "network"
    assert "RemoteProtocolError" in error.message


async def test_a_gzip_bomb_costs_only_what_is_kept(transport: PinnedTransport) -> None:
    bomb = gzip.compress(b"\0" * (256 << 20), compresslevel=9)  # 256 MiB in ~250 KiB
    head = (f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(bomb)}\r\n\r\n").encode()
    async with serving(lambda _r: head + bomb) as server:
        tracemalloc.start()
        try:
            result = await run(executor(transport, limit=65536), apiEndpoint=server.url())
            _size, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.output["bodyTruncated"] is True
    assert len(result.output["body"]) + sum(
        len(k) + len(v) for k, v in result.output["headers"].items()) <= 65536
    assert peak < 64 << 20  # nowhere near the 256 MiB the body inflates to


async def test_a_never_ending_body_is_cut_at_the_limit(transport: PinnedTransport) -> None:
    async def body(writer: asyncio.StreamWriter) -> None:
        await _forever(writer, b"4000\r\n" + b"x" * 0x4000 + b"\r\n")

    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
    async with serving(lambda _r: head, body) as server:
        result = await run(executor(transport, limit=100_000), apiEndpoint=server.url())
    assert result.output["bodyTruncated"] is True
    assert 0 < len(result.output["body"]) <= 100_000


@pytest.mark.parametrize("chunks", [
    b"fffffffffffffffffffffff\r\nxx\r\n0\r\n\r\n",  # a size past any integer
    b"-5\r\nxx\r\n0\r\n\r\n",  # negative
    b"zz\r\nxx\r\n0\r\n\r\n",  # not hex
    b"2\r\nxxxxxxxx\r\n0\r\n\r\n",  # more than announced
], ids=["huge", "negative", "not-hex", "overrun"])
async def test_chunk_abuse_is_a_protocol_error(transport: PinnedTransport,
                                               chunks: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    exe = executor(transport)
    async with serving(lambda r: head + chunks if r.target == "/bad" else echo(r)) as server:
        error = await fail(exe, apiEndpoint=server.url("/bad"))
        after = await run(exe, "tsk_b", apiEndpoint=server.url("/b"))
    assert error.error_type == "network"
    assert after.output["body"] == "you asked /b"


# --- response headers count toward RESPONSE_BODY_LIMIT ----------------------------------

async def test_stored_headers_count_toward_the_body_limit(transport: PinnedTransport) -> None:
    many = {f"X-H{i}": "v" * 1000 for i in range(100)}  # ~100 KB of headers
    async with serving(lambda _r: answer("body", **many)) as server:
        result = await run(executor(transport, limit=20_000), apiEndpoint=server.url())
    output = result.output
    stored = sum(len(k) + len(v) for k, v in output["headers"].items())
    assert stored <= 20_000
    assert output["headersTruncated"] is True
    assert output["bodyTruncated"] is True and output["body"] == ""


async def test_the_body_gets_the_room_the_headers_leave(transport: PinnedTransport) -> None:
    async with serving(lambda _r: answer("b" * 1000, **{"X-Pad": "p" * 300})) as server:
        result = await run(executor(transport, limit=1000), apiEndpoint=server.url())
    output = result.output
    stored = sum(len(k) + len(v) for k, v in output["headers"].items())
    assert output["bodyTruncated"] is True
    assert "headersTruncated" not in output
    assert len(output["body"]) == 1000 - stored


# --- framing headers are refused at create -----------------------------------------------

@pytest.mark.parametrize("name", [
    "Content-Length", "transfer-encoding", "CONNECTION", "Keep-Alive", "TE", "Trailer",
    "Upgrade", "Host", "Proxy-Authorization", "proxy-connection"])
def test_a_framing_header_is_refused_at_create(transport: PinnedTransport, name: str) -> None:
    config = msgspec.convert({"apiMethod": "GET", "apiEndpoint": "http://example.com/",
                              "headers": {name: "0", "X-Fine": "yes"}}, ApiCallConfig)
    issues = executor(transport).check(config, source_webhook_id=None)
    assert [issue.path for issue in issues] == [("headers", name)]


@pytest.mark.parametrize("name", ["Content-Length", "host", "Proxy-Authorization"])
def test_the_api_key_header_cannot_be_a_framing_header(transport: PinnedTransport,
                                                       name: str) -> None:
    config = msgspec.convert({"apiMethod": "GET", "apiEndpoint": "http://example.com/",
                              "authType": "api_key", "apiKeyHeader": name, "apiKey": "0"},
                             ApiCallConfig)
    issues = executor(transport).check(config, source_webhook_id=None)
    assert [issue.path for issue in issues] == [("apiKeyHeader",)]
