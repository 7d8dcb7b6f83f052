"""The HighLevel request budget: 100 requests per 10 s per location by default.

HighLevel counts requests per app per location over a sliding window and answers 429 past the
limit. Every request the ``ghl_action`` executor sends takes a slot from a :class:`RateBudget`
first, so a burst of tasks waits here instead of collecting 429s.

:class:`RateBudget` is the seam (a cross-node budget, e.g. one kept in PostgreSQL, can be added
later); :class:`LocalRateBudget` is the in-process implementation, shared by every task of one
process and bound to the event loop that first uses it.

Why a slot lives until the answer is back plus one window: the server counts a request when it
*arrives*, which is after we send it and before we read its answer. Holding each slot from
``acquire`` until ``release`` + window covers that arrival whatever the network delay, so no
sliding window on the server can ever see more than the limit from this process. A small safety
margin (a few slots and a sliver of time) is kept on top for clock granularity.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

# How long a location is held after the daily budget reads 0 (HighLevel does not say when the
# day rolls over); the next answer's headers tell the truth again.
DAILY_HOLD_SECONDS: Final[float] = 3600.0


class RateBudgetExhausted(Exception):
    """The location's daily request budget is spent; ``retry_after`` says when to look again."""

    def __init__(self, location_id: str, retry_after: float) -> None:
        super().__init__(f"the daily HighLevel request budget of location {location_id} is spent")
        self.location_id = location_id
        self.retry_after = retry_after


class RateBudget(Protocol):
    """A request budget per HighLevel location.

    Callers do ``await acquire(loc)`` before sending, then, whatever happens, ``release(loc)``
    once the answer (or the failure) is back, and ``observe(loc, headers)`` on every answer.
    """

    async def acquire(self, location_id: str) -> None:
        """Wait (never fail for the short window) until a request may be sent.

        Raises :class:`RateBudgetExhausted` when the daily budget is known to be spent.
        Cancellation while waiting takes no slot.
        """
        ...

    def release(self, location_id: str) -> None:
        """The request taken by ``acquire`` is finished (answered, failed or cancelled)."""
        ...

    def observe(self, location_id: str, headers: Mapping[str, str]) -> None:
        """Learn from an answer's ``X-RateLimit-*`` headers (names read case-insensitively)."""
        ...

    def penalize(self, location_id: str, retry_after: float | None) -> None:
        """A 429 came anyway: send nothing here for ``retry_after`` seconds (else one window)."""
        ...


@dataclass
class _Location:
    limit: int
    window: float
    in_flight: int = 0
    # Times at which finished requests stop counting (release time + window + margin).
    expiries: deque[float] = field(default_factory=deque)
    hold_until: float = 0.0
    daily_remaining: int | None = None
    daily_hold_until: float = 0.0
    gate: asyncio.Lock = field(default_factory=asyncio.Lock)
    released: asyncio.Event = field(default_factory=asyncio.Event)


class LocalRateBudget:
    """In-process sliding-window budget, ``limit`` requests per ``window_seconds`` per location.

    ``margin_slots`` (default: 5 % of the limit) are never used, and every slot is held
    ``margin_seconds`` (default: 2 % of the window) longer than the window. Waiters are served
    first come, first served. ``clock`` is a monotonic clock in seconds.
    """

    def __init__(
        self,
        limit: int = 100,
        window_seconds: float = 10.0,
        *,
        margin_slots: int | None = None,
        margin_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("limit must be >= 1 and window_seconds > 0")
        self._limit = limit
        self._window = window_seconds
        self._margin_slots = margin_slots
        self._margin_seconds = margin_seconds
        self._clock = clock
        self._locations: dict[str, _Location] = {}
        self.waits = 0  # requests that had to wait for the budget (read by /metrics)

    # --- the RateBudget protocol ----------------------------------------------------------

    async def acquire(self, location_id: str) -> None:
        loc = self._location(location_id)
        async with loc.gate:  # one waiter at a time looks at the window: FIFO, no herd
            while True:
                delay = self.delay(location_id)
                if delay == 0.0:
                    loc.in_flight += 1
                    return
                loc.released.clear()
                self.waits += 1
                try:
                    async with asyncio.timeout(delay):
                        await loc.released.wait()
                except TimeoutError:
                    pass

    def release(self, location_id: str) -> None:
        loc = self._location(location_id)
        if loc.in_flight > 0:
            loc.in_flight -= 1
        loc.expiries.append(self._clock() + self._hold(loc))
        loc.released.set()

    def observe(self, location_id: str, headers: Mapping[str, str]) -> None:
        h = {k.lower(): v for k, v in headers.items()}
        loc = self._location(location_id)
        now = self._clock()
        limit = _int_header(h, "x-ratelimit-max")
        if limit is not None and limit >= 1:
            loc.limit = min(limit, self._limit)  # never more than configured
        interval_ms = _int_header(h, "x-ratelimit-interval-milliseconds")
        if interval_ms is not None and interval_ms > 0:
            loc.window = max(self._window, interval_ms / 1000.0)
        remaining = _int_header(h, "x-ratelimit-remaining")
        if remaining is not None and limit is not None:
            # The server's count includes this request, which is still ours (in flight).
            # Anything beyond what we hold was spent by someone else with the same app: count
            # it until it surely left the server's window.
            self._expire(loc, now)
            foreign = (limit - remaining) - (loc.in_flight + len(loc.expiries))
            for _ in range(max(0, foreign)):
                loc.expiries.append(now + self._hold(loc))
        daily = _int_header(h, "x-ratelimit-daily-remaining")
        if daily is not None:
            loc.daily_remaining = daily
            loc.daily_hold_until = now + DAILY_HOLD_SECONDS if daily <= 0 else 0.0

    def penalize(self, location_id: str, retry_after: float | None) -> None:
        loc = self._location(location_id)
        pause = retry_after if retry_after is not None and retry_after > 0 else loc.window
        loc.hold_until = max(loc.hold_until, self._clock() + pause)

    # --- inspection ------------------------------------------------------------------------

    def delay(self, location_id: str) -> float | None:
        """Seconds before a request to this location may go: 0.0 now, ``None`` when only an
        answer in flight can free a slot. Raises :class:`RateBudgetExhausted` (daily budget)."""
        loc = self._location(location_id)
        now = self._clock()
        if loc.daily_hold_until > now:
            raise RateBudgetExhausted(location_id, loc.daily_hold_until - now)
        if loc.hold_until > now:
            return loc.hold_until - now
        self._expire(loc, now)
        if loc.in_flight + len(loc.expiries) < self.capacity(location_id):
            return 0.0
        if loc.expiries:
            return max(loc.expiries[0] - now, 1e-3)
        return None

    def capacity(self, location_id: str) -> int:
        """How many requests may be outstanding (in flight or within the window) at once."""
        loc = self._location(location_id)
        margin = self._margin_slots if self._margin_slots is not None else loc.limit // 20
        return max(1, loc.limit - margin)

    def hold_seconds(self, location_id: str) -> float:
        """How long a finished request keeps counting: its window plus the margin."""
        return self._hold(self._location(location_id))

    # --- internals -------------------------------------------------------------------------

    def _location(self, location_id: str) -> _Location:
        loc = self._locations.get(location_id)
        if loc is None:
            loc = self._locations[location_id] = _Location(self._limit, self._window)
        return loc

    def _hold(self, loc: _Location) -> float:
        margin = self._margin_seconds if self._margin_seconds is not None else loc.window / 50
        return loc.window + margin

    @staticmethod
    def _expire(loc: _Location, now: float) -> None:
        while loc.expiries and loc.expiries[0] <= now:
            loc.expiries.popleft()


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return int(value) if math.isfinite(value) else None
