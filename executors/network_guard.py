"""The network guard: executors reach public addresses only, unless told otherwise.

Used before every outbound connection an executor makes on a task's behalf (api_call and
each of its redirect hops, the browser's navigations, webhook delivery), because a task's URL
comes from outside and must not reach the server's own loopback, the cloud metadata service
(169.254.169.254) or the private network around it.

Contract:

- :meth:`NetworkGuard.is_allowed_ip` is pure. An address is refused when it is private,
  loopback, link-local, unspecified, multicast, reserved, shared (CGNAT, 100.64.0.0/10),
  benchmarking/documentation, IPv6 site-local or unique-local, or an IPv6 form that wraps
  such an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible, NAT64
  ``64:ff9b::/96``, 6to4 ``2002::/16``). ``allow_private=True`` allows everything (tests,
  single-tenant installs: ``ALLOW_PRIVATE_NETWORK``); ``allowed_networks`` is an explicit
  allow-list of CIDRs that wins over the refusal.
- :meth:`NetworkGuard.check_host` resolves the name through the event loop's
  ``getaddrinfo`` (so ``2130706433``, ``0x7f000001`` and ``127.1`` are normalised by the same
  resolver that the connection will use) and refuses with :class:`BlockedDestination` when
  ANY resolved address is refused — a name with one public and one private address is
  refused. ``localhost`` and ``*.localhost`` are refused without asking DNS (RFC 6761).
  A name that does not resolve is a :class:`RetryableError` (``error_type="dns"``).
- :meth:`NetworkGuard.check_url` accepts ``http``/``https`` URLs with a host only.

The check happens before connecting and the connection resolves the name again, so a DNS
answer that changes between the two (rebinding with a near-zero TTL) is not caught here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence

import httpx

from executors.base import BlockedDestination, PermanentError, RetryableError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ranges refused beyond what the ``ipaddress`` predicates cover, or covered only by some
# Python versions.
_REFUSED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",          # "this network"
        "100.64.0.0/10",      # shared address space (CGNAT)
        "192.0.0.0/24",       # IETF protocol assignments
        "198.18.0.0/15",      # benchmarking
        "fec0::/10",          # site-local (deprecated, still routed by some stacks)
        "fc00::/7",           # unique local
        "64:ff9b:1::/48",     # local-use NAT64
        "100::/64",           # discard-only
        "2001::/23",          # IETF protocol assignments (Teredo, ORCHID ...)
        "2001:db8::/32",      # documentation
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, when it is one of the wrapping forms."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public destination, or None when it is one."""
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_loopback, "loopback"),
        (address.is_unspecified, "unspecified"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "site-local"),
        (address.is_reserved, "reserved"),
        (any(address in network for network in _REFUSED_NETWORKS), "non-public"),
        (not address.is_global, "non-public"),
    )
    for refused, reason in checks:
        if refused:
            return reason
    return None


class NetworkGuard:
    """Refuses destinations that are not public addresses; see the module docstring."""

    def __init__(self, *, allow_private: bool, allowed_networks: Sequence[str] = ()) -> None:
        """``allowed_networks``: CIDR strings ("10.1.2.0/24", "fd00::/8", "127.0.0.2/32").

        Raises ValueError naming a CIDR that does not parse.
        """
        self.allow_private = allow_private
        networks: list[IPNetwork] = []
        for cidr in allowed_networks:
            try:
                networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"allowed network {cidr!r} is not a CIDR: {exc}") from None
        self.allowed_networks: tuple[IPNetwork, ...] = tuple(networks)

    def is_allowed_ip(self, ip: str) -> bool:
        """True when ``ip`` may be connected to; False for refused or unparsable input."""
        return self._refusal(ip) is None

    def _refusal(self, ip: str) -> str | None:
        if self.allow_private:
            return None
        try:
            address: IPAddress = ipaddress.ip_address(ip)
        except ValueError:
            return "malformed"
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address):
            if address.scope_id is not None:
                address = ipaddress.IPv6Address(ip.partition("%")[0])
                candidates = [address]
            embedded = _embedded_ipv4(address)
            if address.ipv4_mapped is not None:
                candidates = [address.ipv4_mapped]  # the very same destination
            elif embedded is not None:
                candidates.insert(0, embedded)  # both must pass: the wrapper is routed too
        if any(c in network for c in candidates for network in self.allowed_networks):
            return None
        for candidate in candidates:
            reason = refusal_reason(candidate)
            if reason is not None:
                return reason if candidate is address else f"{reason} ({candidate} in IPv6 form)"
        return None

    async def check_host(self, host: str, port: int | None = None) -> list[str]:
        """Resolve ``host`` and return its addresses when all of them are allowed.

        Raises BlockedDestination naming the host and the first refused address,
        RetryableError(error_type="dns") when the name does not resolve, and
        PermanentError(error_type="invalid_url") for an empty or malformed name.
        """
        name = host.strip().removeprefix("[").removesuffix("]")
        if not name:
            raise PermanentError("the URL has no host", error_type="invalid_url")
        if not self.allow_private and _is_localhost_name(name):
            raise BlockedDestination(f"refusing to connect to {name}: a loopback name")
        addresses = await _resolve(name, port)
        for address in addresses:
            reason = self._refusal(address)
            if reason is not None:
                raise BlockedDestination(
                    f"refusing to connect to {name}: {address} is a {reason} address"
                )
        return addresses

    async def check_url(self, url: str) -> None:
        """Refuse anything but an http(s) URL with a host, then :meth:`check_host` it."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise PermanentError(f"invalid URL: {exc}", error_type="invalid_url") from None
        if parsed.scheme not in ("http", "https"):
            raise PermanentError(
                f"only http and https URLs are allowed, not {parsed.scheme or 'none'!r}",
                error_type="invalid_url",
            )
        if not parsed.raw_host:
            raise PermanentError("the URL has no host", error_type="invalid_url")
        await self.check_host(parsed.raw_host.decode("ascii"), parsed.port)


def _is_localhost_name(name: str) -> bool:
    lowered = name.lower().rstrip(".")
    return lowered == "localhost" or lowered.endswith(".localhost")


async def _resolve(name: str, port: int | None) -> list[str]:
    """Every address ``name`` resolves to, in resolver order, without duplicates."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return [name]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except UnicodeError:
        raise PermanentError(f"{name!r} is not a valid host name",
                             error_type="invalid_url") from None
    except OSError as exc:  # socket.gaierror and friends
        raise RetryableError(f"could not resolve {name}: {exc.strerror or exc}",
                             error_type="dns") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RetryableError(f"could not resolve {name}: no addresses", error_type="dns")
    return addresses
