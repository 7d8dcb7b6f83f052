"""PURE: the HTTP rules every outbound caller shares (executors and webhook delivery alike).

- :func:`status_retryable`: 408, 429 and 5xx may pass on a later attempt; any other status
  will not.
- :func:`parse_retry_after`: a ``Retry-After`` header (RFC 9110 §10.2.3) as seconds.
- :func:`http_url`: a text as an absolute ``http``/``https`` URL with a host, or
  :class:`NotHttpUrl` saying what it lacks (each caller words its own error from ``reason``);
  :func:`is_http_url` when only yes or no matters.
"""

from __future__ import annotations

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
