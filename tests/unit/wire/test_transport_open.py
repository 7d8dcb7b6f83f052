"""PinnedTransport.open (api_call's way out, over the aiohttp session) and the guard: names
resolved once through the public resolver seam (GuardedResolver), IP literals checked before
the request, TLS by the URL's name to the checked address, framing headers never sent. Real
servers on loopback; every test runs on asyncio's loop and on uvloop (conftest.py)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest
from multidict import CIMultiDict

from outbound import AddressRefused, NetworkGuard, PinnedTransport
from outbound.transport import Opened
from tests.unit.test_outbound_guard import Rebinding, _certificate, rebinding_guard
from tests.unit.wire.test_hostile_servers import Received, Scripted, answer, serving


def ok(_received: Received) -> bytes:
    return answer("ok")


async def fetch(transport: PinnedTransport, url: str, *, method: str = "GET",
                headers: list[tuple[str, str]] | None = None,
                body: bytes | None = None) -> tuple[Opened, bytes]:
    async with asyncio.timeout(10):
        response = await transport.open(method, url, CIMultiDict(headers or []), body,
                                        seconds=5)
        try:
            return response, b"".join([chunk async for chunk in response.chunks()])
        finally:
            response.release()


async def test_framing_headers_given_are_not_sent_the_client_frames_the_body() -> None:
    pinned = PinnedTransport(NetworkGuard(allow_private=True))
    try:
        async with serving(ok) as server:
            await fetch(pinned, server.url("/a"), method="POST", body=b"hello", headers=[
                ("Content-Length", "0"), ("Transfer-Encoding", "chunked"), ("Host", "evil"),
                ("Connection", "upgrade"), ("Upgrade", "h2c"), ("TE", "trailers"),
                ("Proxy-Authorization", "x"), ("X-Kept", "yes")])
            await fetch(pinned, server.url("/b"), method="POST")
    finally:
        await pinned.aclose()
    first, second = server.requests
    lines = [line.lower() for line in first.head.split(b"\r\n")]
    assert b"content-length: 5" in lines and first.body == b"hello"
    assert f"host: 127.0.0.1:{server.port}".encode() in lines
    assert b"x-kept: yes" in lines
    for name in (b"transfer-encoding", b"upgrade", b"te", b"proxy-authorization"):
        assert not [line for line in lines if line.startswith(name + b":")]
    assert b"content-length: 0" in [line.lower() for line in second.head.split(b"\r\n")]


@pytest.mark.parametrize(("certified", "works"), [("tls.test", True), ("other.test", False)])
async def test_https_verifies_the_host_name_and_connects_to_the_checked_address(
        tmp_path: Path, certified: str, works: bool) -> None:
    cert, key = _certificate(tmp_path, certified)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    seen_sni: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: seen_sni.append(name)  # type: ignore
    scripted = Scripted(ok)
    server = await asyncio.start_server(scripted._serve, "127.0.0.2", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    resolver = Rebinding(["127.0.0.2"])
    pinned = PinnedTransport(rebinding_guard(resolver),
                             verify=ssl.create_default_context(cafile=str(cert)))
    url = f"https://tls.test:{port}/"
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
        server.close()
    assert seen_sni == ["tls.test"]  # the name, once: the second request reused the connection
    assert resolver.lookups == ["tls.test"]
    if works:
        assert f"Host: tls.test:{port}".encode() in scripted.requests[0].head.split(b"\r\n")


async def test_the_guard_refuses_literals_and_a_name_resolving_to_a_refused_address() -> None:
    strict = PinnedTransport(NetworkGuard(allow_private=False))
    named = PinnedTransport(rebinding_guard(Rebinding(["127.0.0.2", "127.0.0.1"])))
    try:
        async with serving(ok) as server:
            with pytest.raises(AddressRefused, match=r"127\.0\.0\.1 is a loopback"):
                await fetch(strict, server.url("/"))
            for host in ("[::ffff:127.0.0.1]", "[::1]", "0x7f000001", "localhost"):
                with pytest.raises(AddressRefused):
                    await fetch(strict, f"http://{host}:{server.port}/")
            with pytest.raises(AddressRefused, match=r"127\.0\.0\.1 is a loopback"):
                await fetch(named, f"http://mixed.test:{server.port}/")
    finally:
        await strict.aclose()
        await named.aclose()
    assert server.connections == 0


async def test_a_rebinding_name_is_resolved_once_per_connection() -> None:
    # public (127.0.0.2 stands for it) first, loopback next: the connection goes to the first
    # answer, the one the guard checked, and the next connection's lookup is refused
    resolver = Rebinding(["127.0.0.2"], ["127.0.0.1"])
    pinned = PinnedTransport(rebinding_guard(resolver), limits=httpx.Limits(
        max_connections=10, max_keepalive_connections=0))
    scripted = Scripted(ok)
    server = await asyncio.start_server(scripted._serve, "127.0.0.2", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        response, body = await fetch(pinned, f"http://rebind.test:{port}/")
        assert (response.status, body) == (200, b"ok")
        with pytest.raises(AddressRefused):
            await fetch(pinned, f"http://rebind.test:{port}/")
    finally:
        await pinned.aclose()
        server.close()
    assert resolver.lookups == ["rebind.test", "rebind.test"]
    assert scripted.connections == 1


async def test_each_checked_address_is_tried_in_turn() -> None:
    scripted = Scripted(ok)
    server = await asyncio.start_server(scripted._serve, "127.0.0.2", 0)
    port = server.sockets[0].getsockname()[1]
    # 127.0.0.3 listens on nothing: refused, then the next checked address answers
    guard = NetworkGuard(allow_private=False, allowed_networks=["127.0.0.2/31"],
                         resolver=Rebinding(["127.0.0.3", "127.0.0.2"]))
    pinned = PinnedTransport(guard)
    try:
        response, body = await fetch(pinned, f"http://two.test:{port}/")
    finally:
        await pinned.aclose()
        server.close()
    assert (response.status, body) == (200, b"ok")
