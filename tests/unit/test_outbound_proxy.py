"""GuardedProxy: SOCKS5 on loopback that connects only where the network guard allows, to the
address it checked, and relays bytes both ways (a raw SOCKS5 client here, Chromium in
tests/integration/test_browser.py)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from outbound import (
    AddressRefused,
    DestinationUnreachable,
    GuardedProxy,
    NetworkGuard,
    OutboundError,
)

ALLOWED = "127.0.0.2"  # the strict guard below treats it as public


@dataclass
class Echo:
    """A TCP server that answers ``echo:`` + what it read, until the client half-closes."""

    host: str
    port: int = 0
    accepted: int = 0
    server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> Echo:
        self.server = await asyncio.start_server(self._serve, self.host, port)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        data = await reader.read()  # to the client's half-close
        writer.write(b"echo:" + data)
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


@dataclass
class Names:
    """A resolver with fixed answers that counts its calls (answers popped in turn)."""

    answers: dict[str, list[list[str]]]
    calls: list[str] = field(default_factory=list)

    async def __call__(self, name: str, port: int | None) -> list[str]:
        self.calls.append(name)
        queue = self.answers[name]
        return queue.pop(0) if len(queue) > 1 else queue[0]


async def socks_connect(proxy: GuardedProxy, host: str, port: int, *, command: int = 1
                        ) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter]:
    """A SOCKS5 client: the answer code and the stream (relayed when the code is 0)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"\x05\x01\x00")
    assert await reader.readexactly(2) == b"\x05\x00"
    try:
        target = b"\x01" + ipaddress.IPv4Address(host).packed
    except ValueError:
        target = b"\x03" + bytes((len(host),)) + host.encode()
    writer.write(bytes((5, command, 0)) + target + port.to_bytes(2, "big"))
    version, code, _, kind = await reader.readexactly(4)
    assert version == 5
    await reader.readexactly((4 if kind == 1 else 16) + 2)
    return code, reader, writer


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    server = await Echo(ALLOWED).start()
    yield server
    await server.stop()


async def started(guard: NetworkGuard, failures: list[OutboundError] | None = None
                  ) -> GuardedProxy:
    proxy = GuardedProxy(guard, on_failure=None if failures is None else failures.append)
    await proxy.start()
    return proxy


def strict(resolver: Names | None = None) -> NetworkGuard:
    return NetworkGuard(allow_private=False, allowed_networks=[f"{ALLOWED}/32"],
                        resolver=resolver)


async def test_an_allowed_destination_is_relayed_both_ways(echo: Echo) -> None:
    proxy = await started(strict())
    try:
        code, reader, writer = await socks_connect(proxy, ALLOWED, echo.port)
        assert code == 0
        writer.write(b"hello ")
        writer.write(b"world")
        writer.write_eof()  # the half-close reaches the destination, its answer comes back
        assert await reader.read() == b"echo:hello world"
        writer.close()
    finally:
        await proxy.close()


async def test_a_refused_destination_is_never_connected_and_says_why(echo: Echo) -> None:
    private = await Echo("127.0.0.1").start()
    failures: list[OutboundError] = []
    proxy = await started(strict(), failures)
    try:
        code, _, writer = await socks_connect(proxy, "127.0.0.1", private.port)
        writer.close()
        localhost, _, writer = await socks_connect(proxy, "localhost", private.port)
        writer.close()
    finally:
        await proxy.close()
        await private.stop()
    assert (code, localhost) == (2, 2)  # "connection not allowed by ruleset"
    assert private.accepted == 0
    assert [type(f) for f in failures] == [AddressRefused, AddressRefused]
    assert "127.0.0.1" in failures[0].message


async def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected(
        echo: Echo) -> None:
    # The second answer would be loopback (rebinding): the proxy must not ask again.
    private = await Echo("127.0.0.1").start(echo.port)
    names = Names({"shop.test": [[ALLOWED], ["127.0.0.1"]]})
    proxy = await started(strict(names))
    try:
        code, reader, writer = await socks_connect(proxy, "shop.test", echo.port)
        writer.write_eof()
        assert code == 0
        assert await reader.read() == b"echo:"
        writer.close()
    finally:
        await proxy.close()
        await private.stop()
    assert names.calls == ["shop.test"]
    assert (echo.accepted, private.accepted) == (1, 0)


async def test_a_name_with_any_private_address_is_refused(echo: Echo) -> None:
    names = Names({"mixed.test": [[ALLOWED, "10.0.0.7"]]})
    failures: list[OutboundError] = []
    proxy = await started(strict(names), failures)
    try:
        code, _, writer = await socks_connect(proxy, "mixed.test", echo.port)
        writer.close()
    finally:
        await proxy.close()
    assert code == 2
    assert echo.accepted == 0
    assert "10.0.0.7" in failures[0].message


async def test_an_allowed_destination_that_does_not_answer_is_unreachable_not_refused() -> None:
    closed = await Echo(ALLOWED).start()
    await closed.stop()  # nothing listens on its port now
    failures: list[OutboundError] = []
    proxy = await started(strict(), failures)
    try:
        code, _, writer = await socks_connect(proxy, ALLOWED, closed.port)
        writer.close()
    finally:
        await proxy.close()
    assert code == 5  # "connection refused"
    assert [type(f) for f in failures] == [DestinationUnreachable]
    assert failures[0].retryable


async def test_only_connect_is_served(echo: Echo) -> None:
    proxy = await started(strict())
    try:
        code, _, writer = await socks_connect(proxy, ALLOWED, echo.port, command=2)  # BIND
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"\x05\x01\x02")  # username/password only
        assert await reader.read() == b"\x05\xff"
        writer.close()
    finally:
        await proxy.close()
    assert code == 7
    assert echo.accepted == 0


async def test_close_cuts_the_connections_it_relays(echo: Echo) -> None:
    proxy = await started(strict())
    code, reader, writer = await socks_connect(proxy, ALLOWED, echo.port)
    assert code == 0
    await proxy.close()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", proxy.port)
