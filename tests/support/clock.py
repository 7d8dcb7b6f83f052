"""A clock that stands still until a test moves it: time in process without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)  # 11:00 in Paris (CEST)


class StillClock:
    """``clock()`` returns ``now``; tests set or ``advance`` it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
