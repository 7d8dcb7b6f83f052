"""NetworkGuard: which addresses an executor may reach, and how names and URLs are checked."""

from __future__ import annotations

import re
import socket

import pytest

from executors.base import BlockedDestination, PermanentError, RetryableError
from executors.network_guard import NetworkGuard

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
    with pytest.raises(BlockedDestination) as caught:
        await NetworkGuard(allow_private=False).check_host(host, 80)
    assert host.strip("[].").lower() in caught.value.message.lower()
    assert caught.value.retryable is False


async def test_check_host_names_the_resolved_address() -> None:
    with pytest.raises(BlockedDestination, match=r"2130706433: 127\.0\.0\.1 is a loopback"):
        await NetworkGuard(allow_private=False).check_host("2130706433")


async def test_check_host_refuses_a_name_that_resolves_to_loopback() -> None:
    name = socket.gethostname()
    try:
        resolved = {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve")
    if not all(address.startswith("127.") or address == "::1" for address in resolved):
        pytest.skip(f"this machine's name {name!r} does not resolve to loopback only")
    with pytest.raises(BlockedDestination, match=re.escape(name)):
        await NetworkGuard(allow_private=False).check_host(name)


async def test_check_host_returns_the_addresses_when_allowed() -> None:
    assert await NetworkGuard(allow_private=False).check_host("8.8.8.8", 53) == ["8.8.8.8"]
    guard = NetworkGuard(allow_private=False, allowed_networks=["127.0.0.2/32"])
    assert await guard.check_host("127.0.0.2", 8080) == ["127.0.0.2"]
    assert "127.0.0.1" in await NetworkGuard(allow_private=True).check_host("localhost", 80)


async def test_check_host_without_a_resolution_is_retryable() -> None:
    with pytest.raises(RetryableError) as caught:
        await NetworkGuard(allow_private=True).check_host("no-such-host.invalid", 443)
    assert caught.value.error_type == "dns"
    assert "no-such-host.invalid" in caught.value.message


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://2130706433/", "http://127.1/", "http://0x7f000001:8080/x",
    "http://[::1]:8000/", "http://[::ffff:127.0.0.1]/", "https://localhost/",
    "https://user:pw@10.0.0.1/", "http://evil.example\\@127.0.0.1/",
    "http://169.254.169.254/latest/meta-data/", "HTTP://[fe80::1]/",
])
async def test_check_url_refuses_blocked_hosts(url: str) -> None:
    with pytest.raises(BlockedDestination):
        await NetworkGuard(allow_private=False).check_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/f", "javascript:alert(1)", "file:///etc/passwd",
                                 "http:///path", "not a url", "http://[::1", "//example.com/"])
async def test_check_url_refuses_what_is_not_an_http_url_with_a_host(url: str) -> None:
    with pytest.raises(PermanentError) as caught:
        await NetworkGuard(allow_private=True).check_url(url)
    assert not isinstance(caught.value, BlockedDestination)
    assert caught.value.error_type == "invalid_url"


async def test_check_url_accepts_public_and_allowed_destinations() -> None:
    await NetworkGuard(allow_private=False).check_url("https://93.184.216.34/path?q=1")
    await NetworkGuard(allow_private=True).check_url("http://127.0.0.1:9/")
