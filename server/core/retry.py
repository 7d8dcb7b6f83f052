"""PURE: when the next attempt may run, and whether a failure may be retried.

No IO here; ``now`` and the random draw come from the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``base * factor**(n-1)`` capped at ``cap``, with jitter in
    ``[½, 1]``."""

    base_seconds: float = 2.0
    cap_seconds: float = 3600.0
    factor: float = 2.0

    def overridden(self, given: Mapping[str, Any] | None) -> RetryPolicy:
        """This policy with a task's own ``retryPolicy`` (wire names; CONTRACT §15) over it."""
        if not given:
            return self
        return RetryPolicy(float(given.get("baseSeconds") or self.base_seconds),
                           float(given.get("maxSeconds") or self.cap_seconds),
                           float(given.get("factor") or self.factor))


def backoff_seconds(error_count: int, policy: RetryPolicy, draw: float) -> float:
    """The delay before attempt ``error_count + 1``; ``draw`` is uniform in ``[0, 1)``.

    Jitter keeps tasks that failed together from retrying together ("equal jitter": at
    least half of the exponential delay is kept, so backoff still grows).
    """
    exponent = max(0, error_count - 1)
    try:
        raw = policy.base_seconds * (policy.factor ** min(exponent, 62))
    except OverflowError:
        raw = policy.cap_seconds
    capped = min(raw, policy.cap_seconds)
    return capped * (0.5 + 0.5 * draw)


def next_retry_at(now: datetime, error_count: int, policy: RetryPolicy, draw: float,
                  retry_after: float | None = None) -> datetime:
    """When the next attempt runs: the backoff, or the server's ``Retry-After`` when it is later."""
    delay = backoff_seconds(error_count, policy, draw)
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, policy.cap_seconds * 24)
    return now + timedelta(seconds=delay)
