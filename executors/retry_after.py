"""Reading an HTTP ``Retry-After`` header (RFC 9110 §10.2.3). Pure: ``now`` is an argument."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait, from delay-seconds (``"120"``) or an HTTP-date.

    A date in the past gives 0. ``now`` must be timezone-aware. None when the header is
    absent or unreadable (the caller's own backoff applies then).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": a UTC time from a sender that does not know its zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
