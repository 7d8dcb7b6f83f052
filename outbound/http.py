"""PURE: the HTTP rules every outbound caller shares (executors and webhook delivery alike).

- :func:`status_retryable`: 408, 429 and 5xx may pass on a later attempt; any other status
  will not.
- :func:`parse_retry_after`: a ``Retry-After`` header (RFC 9110 §10.2.3) as seconds.
- :func:`http_url`: a text as an absolute ``http``/``https`` URL with a host, or
  :class:`NotHttpUrl` saying what it lacks (each caller words its own error from ``reason``);
  :func:`is_http_url` when only yes or no matters.
- :func:`canonical_host`: one spelling for every way of writing a host (case, a trailing dot,
  each numeric IPv4 form a URL parser accepts: ``127.1``, ``2130706433``, ``0x7f000001``,
  ``0177.0.0.1``; IPv6 compressed, an IPv4-mapped one as its IPv4 address); :func:`host_key`
  adds the port unless it is the scheme's default: the key ``HOST_CONCURRENCY`` counts by.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx


def status_retryable(status: int) -> bool:
    """408, 429 and 5xx may pass; any other status (a 4xx, a 3xx) will not."""
    return status in (408, 429) or status >= 500


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait, from delay-seconds (``"120"``; a decimal is read too) or an HTTP-date.

    A date in the past or a negative number gives 0. ``now`` must be timezone-aware. None when
    the header is absent or unreadable (the caller's own backoff applies then).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": a UTC time from a sender that does not know its zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class NotHttpUrl(ValueError):
    """Why a text is not an absolute http(s) URL with a host.

    ``reason``: ``"invalid"`` (not a URL at all; the message says why), ``"scheme"`` (another
    scheme, in ``scheme``; empty for a relative URL) or ``"host"`` (no host).
    """

    def __init__(self, reason: Literal["invalid", "scheme", "host"], message: str,
                 scheme: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.scheme = scheme


def http_url(value: str | httpx.URL) -> httpx.URL:
    """``value`` as an absolute ``http``/``https`` URL with a host; :class:`NotHttpUrl` if not."""
    try:
        url = value if isinstance(value, httpx.URL) else httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise NotHttpUrl("invalid", str(exc)) from None
    if url.scheme not in ("http", "https"):
        raise NotHttpUrl("scheme", f"not an http or https URL: {url.scheme or 'relative'}",
                         scheme=url.scheme)
    if not url.raw_host:
        raise NotHttpUrl("host", "the URL names no host", scheme=url.scheme)
    return url


def is_http_url(value: str) -> bool:
    """Whether :func:`http_url` accepts ``value``."""
    try:
        http_url(value)
    except NotHttpUrl:
        return False
    return True


def _ipv4_number(part: str) -> int | None:
    """One part of a numeric IPv4 host as the WHATWG URL parser reads it (``0x`` hex, a
    leading ``0`` octal, else decimal), or None when it is not a number."""
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
        if not digits:
            return 0
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits.isascii() or not digits.isalnum():
        return None
    try:
        return int(digits, base)
    except ValueError:
        return None


def _numeric_ipv4(host: str) -> str | None:
    """``host`` as dotted-quad text when it is an IPv4 address in any form the WHATWG URL
    parser (browsers) accepts, else None."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    numbers = [_ipv4_number(part) for part in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        return None
    address = last
    for index, n in enumerate(head):
        address += n << (8 * (3 - index))
    return str(ipaddress.IPv4Address(address))


@functools.lru_cache(maxsize=4096)
def canonical_host(host: str) -> str:
    """The one spelling of ``host`` (a URL's host, brackets or not): lower case, no trailing
    dot, an IPv4 address in dotted-quad form whatever its spelling, an IPv6 address compressed
    (one that maps an IPv4 address as that address, zone dropped). Never raises."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if ":" in name:
        try:
            address = ipaddress.IPv6Address(name.partition("%")[0])
        except ValueError:
            return name
        mapped = address.ipv4_mapped
        return str(mapped) if mapped is not None else address.compressed
    name = name.rstrip(".")
    numeric = _numeric_ipv4(name) if name[-1:].isdigit() or "0x" in name else None
    return numeric if numeric is not None else name


def host_key(scheme: str, host: str, port: int | None) -> str:
    """``canonical_host[:port]``, the port left out when it is the scheme's default (or none
    is given): one key per destination, however its URL is spelt."""
    name = canonical_host(host)
    shown = f"[{name}]" if ":" in name else name
    default = 443 if scheme.lower() in ("https", "wss") else 80
    return shown if port is None or port == default else f"{shown}:{port}"


def numeric_host_written_out(url: httpx.URL) -> httpx.URL:
    """``url`` with an IPv4 host spelt another way (``127.1``, ``2130706433``, ``0x7f000001``,
    a trailing dot) written as its dotted quad, as browsers' URL parser does; any other URL
    as it is. The destination is the same: the client then needs no numeric forms of its own."""
    host = url.host
    if not host or ":" in host or not (host[-1:].isdigit() or host.endswith(".") or "0x" in host):
        return url
    numeric = _numeric_ipv4(host)
    return url if numeric is None or numeric == host else url.copy_with(host=numeric)
