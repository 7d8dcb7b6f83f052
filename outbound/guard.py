"""The network guard: outbound connections reach public addresses only, unless told otherwise.

Used for every outbound connection made on a task's behalf (api_call and each of its
redirect hops, GoHighLevel, the browser's requests, webhook delivery), because a task's URL
comes from outside and must not reach the server's own loopback, the cloud metadata service
(169.254.169.254) or the private network around it. :mod:`outbound.transport` connects to
the very addresses the guard checked (no second DNS answer, no rebinding).

Contract:

- :meth:`NetworkGuard.is_allowed_ip` is pure. An address is refused when it is private,
  loopback, link-local, unspecified, multicast, reserved, shared (CGNAT, 100.64.0.0/10),
  benchmarking/documentation, IPv6 site-local or unique-local, or an IPv6 form that wraps
  such an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible, NAT64
  ``64:ff9b::/96``, 6to4 ``2002::/16``). ``allow_private=True`` allows everything (tests,
  single-tenant installs: ``ALLOW_PRIVATE_NETWORK``); ``allowed_networks`` is an explicit
  allow-list of CIDRs that wins over the refusal.
- :meth:`NetworkGuard.check_host` resolves the name through the event loop's
  ``getaddrinfo`` (so ``2130706433``, ``0x7f000001`` and ``127.1`` are normalised by the
  system resolver), or through the ``resolver`` given (tests), and refuses with
  :class:`AddressRefused` when ANY resolved address is refused — a name with one public and
  one private address is refused. ``localhost`` and ``*.localhost`` are refused without
  asking DNS (RFC 6761). A name that does not resolve is :class:`ResolutionFailed`
  (retryable); an empty or malformed name :class:`InvalidDestination`.
- :meth:`NetworkGuard.check_url` accepts ``http``/``https`` URLs with a host only.

Errors are this package's own (:class:`OutboundError`); executors translate them into
their error tree at their boundary, webhook delivery reads them as they are.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

from outbound.http import NotHttpUrl, http_url

#: ``(host, port) -> addresses``: how names are resolved (default: the event loop's).
Resolver = Callable[[str, int | None], Awaitable[list[str]]]


class OutboundError(Exception):
    """A destination the guard will not connect to; ``retryable`` says whether it may pass."""

    retryable = False
    kind = "invalid_url"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AddressRefused(OutboundError):
    """The destination is a private, loopback, link-local (...) address."""

    kind = "blocked_destination"


class InvalidDestination(OutboundError):
    """Not an http(s) URL with a valid host name."""

    kind = "invalid_url"


class ResolutionFailed(OutboundError):
    """The name did not resolve (may pass: DNS is sometimes down)."""

    retryable = True
    kind = "dns"

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

    def __init__(self, *, allow_private: bool, allowed_networks: Sequence[str] = (),
                 resolver: Resolver | None = None) -> None:
        """``allowed_networks``: CIDR strings ("10.1.2.0/24", "fd00::/8", "127.0.0.2/32").
        ``resolver`` replaces the system's (tests control DNS answers with it).

        Raises ValueError naming a CIDR that does not parse.
        """
        self.allow_private = allow_private
        self._resolver: Resolver = resolver or _system_resolve
        networks: list[IPNetwork] = []
        for cidr in allowed_networks:
            try:
                networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"allowed network {cidr!r} is not a CIDR: {exc}") from None
        self.allowed_networks: tuple[IPNetwork, ...] = tuple(networks)
        self._refusals: dict[str, str | None] = {}

    def is_allowed_ip(self, ip: str) -> bool:
        """True when ``ip`` may be connected to; False for refused or unparsable input."""
        return self._refusal(ip) is None

    def _refusal(self, ip: str) -> str | None:
        """Why ``ip`` is refused, or None; the answers for the last 1,024 addresses kept (they
        depend on the address and this guard's settings only, and every request asks)."""
        if self.allow_private:
            return None
        try:
            return self._refusals[ip]
        except KeyError:
            pass
        if len(self._refusals) >= 1024:
            self._refusals.clear()
        reason = self._refusals[ip] = self._find_refusal(ip)
        return reason

    def _find_refusal(self, ip: str) -> str | None:
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

        Raises AddressRefused naming the host and the first refused address,
        ResolutionFailed when the name does not resolve, and InvalidDestination for an
        empty or malformed name.
        """
        name = host.strip().removeprefix("[").removesuffix("]")
        if not name:
            raise InvalidDestination("the URL has no host")
        if not self.allow_private and _is_localhost_name(name):
            raise AddressRefused(f"refusing to connect to {name}: a loopback name")
        addresses = await self._resolve(name, port)
        for address in addresses:
            reason = self._refusal(address)
            if reason is not None:
                raise AddressRefused(
                    f"refusing to connect to {name}: {address} is a {reason} address"
                )
        return addresses

    async def check_url(self, url: str) -> None:
        """Refuse anything but an http(s) URL with a host, then :meth:`check_host` it."""
        try:
            parsed = http_url(url)
        except NotHttpUrl as exc:
            if exc.reason == "invalid":
                raise InvalidDestination(f"invalid URL: {exc}") from None
            if exc.reason == "scheme":
                raise InvalidDestination(
                    f"only http and https URLs are allowed, not {exc.scheme or 'none'!r}") from None
            raise InvalidDestination("the URL has no host") from None
        await self.check_host(parsed.raw_host.decode("ascii"), parsed.port)

    async def _resolve(self, name: str, port: int | None) -> list[str]:
        """Every address ``name`` resolves to, in resolver order, without duplicates."""
        if is_ip_literal(name):
            return [name]
        addresses = list(dict.fromkeys(await self._resolver(name, port)))
        if not addresses:
            raise ResolutionFailed(f"could not resolve {name}: no addresses")
        return addresses


@functools.lru_cache(maxsize=1024)
def is_ip_literal(name: str) -> bool:
    """Whether ``name`` is an IPv4 or IPv6 address written out (no brackets)."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_localhost_name(name: str) -> bool:
    lowered = name.lower().rstrip(".")
    return lowered == "localhost" or lowered.endswith(".localhost")


async def _system_resolve(name: str, port: int | None) -> list[str]:
    """The event loop's ``getaddrinfo`` answers for ``name``, in resolver order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except UnicodeError:
        raise InvalidDestination(f"{name!r} is not a valid host name") from None
    except OSError as exc:  # socket.gaierror and friends
        raise ResolutionFailed(f"could not resolve {name}: {exc.strerror or exc}") from exc
    return [str(sockaddr[0]) for _family, _type, _proto, _canonname, sockaddr in infos]
