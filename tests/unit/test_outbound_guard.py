"""NetworkGuard: which addresses outbound calls may reach, how names and URLs are checked, and
the pinned transport connecting to the checked address (DNS rebinding)."""

from __future__ import annotations

import re
import socket
import ssl
import threading
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from outbound import (
    AddressRefused,
    InvalidDestination,
    NetworkGuard,
    OutboundError,
    PinnedTransport,
    ResolutionFailed,
)
from tests.support.http_servers import HttpServer, Reply

REFUSED = [
    # IPv4: loopback, private, link-local (cloud metadata), unspecified, "this network"
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "169.254.169.254", "0.0.0.0", "0.1.2.3",
    # CGNAT, multicast, broadcast, reserved, IETF, benchmarking, documentation
    "100.64.0.1", "100.127.255.255", "224.0.0.1", "239.255.255.250", "255.255.255.255",
    "240.0.0.1", "192.0.0.8", "198.18.0.1", "192.0.2.1", "198.51.100.7", "203.0.113.9",
    # IPv6: loopback, unspecified, link-local (with and without zone), ULA, site-local,
    # multicast, documentation, Teredo space
    "::1", "::", "fe80::1", "fe80::1%1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1",
    "ff0e::1", "2001:db8::1", "2001::1",
    # IPv6 forms wrapping a refused IPv4 address
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:7f00:1",
    "::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::1",
    "2002:7f00:1::1", "2002:a00:1::1",
    # not an address at all
    "", "localhost", "1.2.3", "127.1", "2130706433", "::ffff:999.0.0.1",
]

ALLOWED = [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.0", "172.32.0.1",
    "192.169.0.1", "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8",
    "2002:808:808::1",
]


@pytest.mark.parametrize("ip", REFUSED)
def test_refuses_non_public_addresses(ip: str) -> None:
    assert NetworkGuard(allow_private=False).is_allowed_ip(ip) is False


@pytest.mark.parametrize("ip", ALLOWED)
def test_allows_public_addresses(ip: str) -> None:
    assert NetworkGuard(allow_private=False).is_allowed_ip(ip) is True


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.0.0.1", "::1", "fe80::1", "::ffff:10.0.0.1"])
def test_allow_private_allows_everything(ip: str) -> None:
    assert NetworkGuard(allow_private=True).is_allowed_ip(ip) is True


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("10.1.2.3", True),
        ("10.1.255.255", True),
        ("10.2.0.1", False),
        ("fd00::5", True),
        ("fc00::1", False),
        ("127.0.0.2", True),
        ("::ffff:127.0.0.2", True),  # the mapped form of an allowed address is allowed
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("8.8.8.8", True),  # the allow-list adds to public addresses, it does not replace them
    ],
)
def test_allowed_networks_are_an_explicit_allow_list(ip: str, allowed: bool) -> None:
    guard = NetworkGuard(allow_private=False,
                         allowed_networks=["10.1.0.0/16", "fd00::/8", "127.0.0.2/32"])
    assert guard.is_allowed_ip(ip) is allowed


def test_an_invalid_allowed_network_is_named() -> None:
    with pytest.raises(ValueError, match="not-a-cidr"):
        NetworkGuard(allow_private=False, allowed_networks=["10.0.0.0/8", "not-a-cidr"])


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost", "[::1]", "::1",
                                  "127.0.0.1", "2130706433", "127.1", "0x7f000001",
                                  "017700000001", "0.0.0.0", "169.254.169.254"])
async def test_check_host_refuses_loopback_in_every_spelling(host: str) -> None:
    with pytest.raises(AddressRefused) as caught:
        await NetworkGuard(allow_private=False).check_host(host, 80)
    assert host.strip("[].").lower() in caught.value.message.lower()
    assert caught.value.retryable is False


async def test_check_host_names_the_resolved_address() -> None:
    with pytest.raises(AddressRefused, match=r"2130706433: 127\.0\.0\.1 is a loopback"):
        await NetworkGuard(allow_private=False).check_host("2130706433")


async def test_check_host_refuses_a_name_that_resolves_to_loopback() -> None:
    name = socket.gethostname()
    try:
        resolved = {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve")
    if not all(address.startswith("127.") or address == "::1" for address in resolved):
        pytest.skip(f"this machine's name {name!r} does not resolve to loopback only")
    with pytest.raises(AddressRefused, match=re.escape(name)):
        await NetworkGuard(allow_private=False).check_host(name)


async def test_check_host_returns_the_addresses_when_allowed() -> None:
    assert await NetworkGuard(allow_private=False).check_host("8.8.8.8", 53) == ["8.8.8.8"]
    guard = NetworkGuard(allow_private=False, allowed_networks=["127.0.0.2/32"])
    assert await guard.check_host("127.0.0.2", 8080) == ["127.0.0.2"]
    assert "127.0.0.1" in await NetworkGuard(allow_private=True).check_host("localhost", 80)


async def test_check_host_without_a_resolution_is_retryable() -> None:
    with pytest.raises(ResolutionFailed) as caught:
        await NetworkGuard(allow_private=True).check_host("no-such-host.invalid", 443)
    assert caught.value.retryable is True
    assert caught.value.kind == "dns"
    assert "no-such-host.invalid" in caught.value.message


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://2130706433/", "http://127.1/", "http://0x7f000001:8080/x",
    "http://[::1]:8000/", "http://[::ffff:127.0.0.1]/", "https://localhost/",
    "https://user:pw@10.0.0.1/", "http://evil.example\\@127.0.0.1/",
    "http://169.254.169.254/latest/meta-data/", "HTTP://[fe80::1]/",
])
async def test_check_url_refuses_blocked_hosts(url: str) -> None:
    with pytest.raises(AddressRefused):
        await NetworkGuard(allow_private=False).check_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/f", "javascript:alert(1)", "file:///etc/passwd",
                                 "http:///path", "not a url", "http://[::1", "//example.com/"])
async def test_check_url_refuses_what_is_not_an_http_url_with_a_host(url: str) -> None:
    with pytest.raises(OutboundError) as caught:
        await NetworkGuard(allow_private=True).check_url(url)
    assert isinstance(caught.value, InvalidDestination)
    assert caught.value.retryable is False
    assert caught.value.kind == "invalid_url"


async def test_check_url_accepts_public_and_allowed_destinations() -> None:
    await NetworkGuard(allow_private=False).check_url("https://93.184.216.34/path?q=1")
    await NetworkGuard(allow_private=True).check_url("http://127.0.0.1:9/")


# --- the pinned transport: DNS rebinding -------------------------------------------------------

class Rebinding:
    """A resolver the test controls: each lookup of a name takes the next answer (the last
    one repeats), as a rebinding DNS server with a zero TTL would answer."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    async def __call__(self, name: str, port: int | None) -> list[str]:
        self.lookups.append(name)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def rebinding_guard(resolver: Rebinding) -> NetworkGuard:
    # 127.0.0.2 stands for a public address; 127.0.0.1 is the loopback a rebinder aims at.
    return NetworkGuard(allow_private=False, allowed_networks=["127.0.0.2/32"],
                        resolver=resolver)


async def test_a_check_before_connecting_cannot_be_rebound_to_loopback() -> None:
    """The old hole: check (public answer), then the client resolves again (loopback)."""
    with HttpServer(host="127.0.0.2") as public, \
            HttpServer(host="127.0.0.1", port=public.port) as loopback:
        loopback.route("/who", body="loopback")
        guard = rebinding_guard(Rebinding(["127.0.0.2"], ["127.0.0.1"]))
        url = f"http://rebind.test:{public.port}/who"
        await guard.check_url(url)  # what a caller checks first: the public answer
        async with httpx.AsyncClient(transport=PinnedTransport(guard)) as client:
            with pytest.raises(AddressRefused, match=r"127\.0\.0\.1 is a loopback"):
                await client.get(url)  # the connection resolves once more: refused
    assert loopback.requests == []
    assert public.requests == []


async def test_a_name_that_answers_public_then_loopback_never_reaches_loopback() -> None:
    with HttpServer(host="127.0.0.2") as public, \
            HttpServer(host="127.0.0.1", port=public.port) as loopback:
        loopback.route("/who", body="loopback")
        public.route("/who", body="public")
        resolver = Rebinding(["127.0.0.2"], ["127.0.0.1"])
        guard = rebinding_guard(resolver)
        url = f"http://rebind.test:{public.port}/who"
        no_reuse = httpx.Limits(max_keepalive_connections=0)  # each request connects anew
        async with httpx.AsyncClient(transport=PinnedTransport(guard, limits=no_reuse)) as client:
            first = await client.get(url)
            with pytest.raises(AddressRefused, match=r"127\.0\.0\.1 is a loopback"):
                await client.get(url)
    assert first.text == "public"  # connected to the address it checked ...
    assert public.requests[0].headers["host"] == f"rebind.test:{public.port}"  # ... as the name
    assert loopback.requests == []
    assert resolver.lookups == ["rebind.test", "rebind.test"]  # one lookup per connection


async def test_a_name_with_a_public_and_a_loopback_answer_is_refused_whole() -> None:
    with HttpServer(host="127.0.0.1") as loopback:
        guard = rebinding_guard(Rebinding(["127.0.0.2", "127.0.0.1"]))
        async with httpx.AsyncClient(transport=PinnedTransport(guard)) as client:
            with pytest.raises(AddressRefused):
                await client.get(f"http://mixed.test:{loopback.port}/")
    assert loopback.requests == []


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _tls_server(cert: Path, key: Path, seen_sni: list[str | None]) -> tuple[socket.socket, int]:
    """A one-shot HTTPS server on 127.0.0.2 recording the SNI each handshake names."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: seen_sni.append(name)  # type: ignore
    listener = socket.create_server(("127.0.0.2", 0))

    def serve() -> None:
        with suppress(OSError):
            raw, _ = listener.accept()
            with context.wrap_socket(raw, server_side=True) as conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n"
                             b"connection: close\r\n\r\nok")

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


@pytest.mark.parametrize(("certified", "works"), [("tls.test", True), ("other.test", False)])
async def test_the_pinned_transport_verifies_tls_for_the_host_name(
    tmp_path: Path, certified: str, works: bool,
) -> None:
    cert, key = _certificate(tmp_path, certified)
    seen_sni: list[str | None] = []
    listener, port = _tls_server(cert, key, seen_sni)
    trust = ssl.create_default_context(cafile=str(cert))
    guard = rebinding_guard(Rebinding(["127.0.0.2"]))
    try:
        async with httpx.AsyncClient(transport=PinnedTransport(guard, verify=trust)) as client:
            if works:
                answer = await client.get(f"https://tls.test:{port}/")
                assert answer.text == "ok"
            else:
                with pytest.raises(httpx.ConnectError, match="certificate"):
                    await client.get(f"https://tls.test:{port}/")
    finally:
        listener.close()
    assert seen_sni == ["tls.test"]  # the name, not the pinned address


# --- the pinned transport: httpx semantics over its aiohttp wire ---------------------------

async def test_an_ip_literal_passes_the_guard_as_the_connection_opens() -> None:
    """aiohttp resolves no IP literal: the pinned transport still asks the guard for it."""
    with HttpServer(host="127.0.0.1") as loopback:
        loopback.route("/", body="loopback")
        strict = NetworkGuard(allow_private=False)
        async with httpx.AsyncClient(transport=PinnedTransport(strict)) as client:
            with pytest.raises(AddressRefused, match=r"127\.0\.0\.1 is a loopback"):
                await client.get(f"{loopback.url}/")
            with pytest.raises(AddressRefused):
                await client.get(f"http://[::ffff:127.0.0.1]:{loopback.port}/")
    assert loopback.requests == []


async def test_the_pinned_transport_sends_only_the_headers_of_the_request() -> None:
    with HttpServer() as server:
        server.route("/echo", echo=True)
        guard = NetworkGuard(allow_private=True)
        async with httpx.AsyncClient(transport=PinnedTransport(guard)) as client:
            request = httpx.Request("POST", f"{server.url}/echo?a=1&b=%2F",
                                    headers={"X-One": "1"}, content=b"raw bytes")
            answer = await client.send(request)
    assert answer.status_code == 200
    received = server.requests[0]
    assert received.raw_target == "/echo?a=1&b=%2F"  # the URL as httpx encoded it
    assert received.body == b"raw bytes"
    # httpx's Host and Content-Length, nothing added (no User-Agent, Accept, Content-Type)
    assert set(received.headers) == {"host", "x-one", "content-length"}
    assert received.headers["host"] == f"127.0.0.1:{server.port}"


async def test_the_pinned_transport_leaves_decoding_and_redirects_to_httpx() -> None:
    import gzip

    with HttpServer() as server:
        server.route("/zipped", body=gzip.compress(b"hello " * 100),
                     headers=[("Content-Encoding", "gzip"), ("Set-Cookie", "a=1"),
                              ("Set-Cookie", "b=2")])
        server.route("/moved", redirect_to="/zipped")
        guard = NetworkGuard(allow_private=True)
        async with httpx.AsyncClient(transport=PinnedTransport(guard)) as client:
            moved = await client.get(f"{server.url}/moved")
            zipped = await client.get(f"{server.url}/zipped")
    assert moved.status_code == 302  # not followed below httpx
    assert zipped.content == b"hello " * 100  # decoded once, by httpx
    assert zipped.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert zipped.http_version == "HTTP/1.1"
    assert zipped.reason_phrase == "OK"
    assert len(server.requests) == 2


async def test_pinned_transport_failures_are_httpx_errors() -> None:
    with HttpServer() as server:
        server.route("/hangup", reply=Reply(drop=True))
        server.route("/slow", delay=2.0)
        guard = NetworkGuard(allow_private=True)
        async with httpx.AsyncClient(transport=PinnedTransport(guard)) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(f"{server.url}/hangup")
            with pytest.raises(httpx.ReadTimeout):
                await client.get(f"{server.url}/slow", timeout=0.2)
            with pytest.raises(httpx.UnsupportedProtocol):
                await client.get("ftp://127.0.0.1/file")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: the connection is refused
    try:
        async with httpx.AsyncClient(transport=PinnedTransport(guard)) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{closed.getsockname()[1]}/")
    finally:
        closed.close()
