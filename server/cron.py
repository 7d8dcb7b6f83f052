"""Cron expressions, PURE: parse once, then ``next_fire(spec, tz, after)``.

Syntax (docs/CONTRACT.md §2): 5 fields ``minute hour day-of-month month day-of-week``, or 6 with
seconds first ``second minute hour day-of-month month day-of-week`` (node-cron, Spring). Each
field is ``*``, a number, a range ``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n``, or a comma list
of those. Months also take ``jan``..``dec``; days of week ``sun``..``sat``, where 0 and 7 are
Sunday. ``?`` means ``*`` in the day fields (Spring). Macros: ``@yearly`` (``@annually``),
``@monthly``, ``@weekly``, ``@daily`` (``@midnight``), ``@hourly``.

Day rule (as in Vixie cron): when both day-of-month and day-of-week are restricted, a day
matches if EITHER matches; otherwise both must.

Time zones and DST: the expression is matched against the wall-clock time in ``tz``.

- A wall-clock time that does not exist (clocks jump forward) never fires.
- A wall-clock time that happens twice (clocks go back) fires at its first occurrence only,
  unless the hour field is ``*`` (every hour): such a schedule also fires in the repeated
  hour, so an every-minute schedule keeps firing every minute of real time.

``next_fire`` returns an aware UTC datetime strictly after ``after``, or ``None`` when the
expression never fires again within :data:`HORIZON_YEARS` (e.g. ``0 0 30 2 *``).
This module imports no IO library and never reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HORIZON_YEARS = 8  # covers Feb 29 and every other calendar pattern

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


class CronError(ValueError):
    """The cron expression is not valid; the message says which field and why."""


@dataclass(frozen=True)
class CronSpec:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool
    every_hour: bool

    def day_matches(self, day: datetime) -> bool:
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow


def _value(token: str, lo: int, hi: int, names: dict[str, int], field: str) -> int:
    low = token.lower()
    if low in names:
        return names[low]
    if not low.isdigit():
        raise CronError(f"{field}: {token!r} is not a number")
    number = int(low)
    if not lo <= number <= hi:
        raise CronError(f"{field}: {number} is outside {lo}-{hi}")
    return number


def _field(text: str, lo: int, hi: int, field: str,
           names: dict[str, int] | None = None) -> frozenset[int]:
    names = names or {}
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field}: empty item in {text!r}")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base in ("*", "?"):
            start, end = lo, hi
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _value(first, lo, hi, names, field)
            end = _value(last, lo, hi, names, field)
            if start > end:
                raise CronError(f"{field}: range {base!r} runs backwards")
        else:
            start = _value(base, lo, hi, names, field)
            end = hi if slash else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse(expression: str) -> CronSpec:
    """Parse a 5- or 6-field expression (or a macro); raises CronError naming the field."""
    text = MACROS.get(expression.strip().lower(), expression)
    parts = text.split()
    if len(parts) == 5:
        parts = ["0", *parts]
    if len(parts) != 6:
        raise CronError(f"expected 5 or 6 fields, got {len(parts)}")
    second, minute, hour, dom, month, dow = parts
    if "?" in (second + minute + hour + month):
        raise CronError("'?' is allowed only in the day fields")
    weekdays = _field(dow, 0, 7, "day-of-week", _DAYS)
    if 7 in weekdays:
        weekdays = (weekdays - {7}) | {0}
    return CronSpec(
        seconds=_field(second, 0, 59, "second"),
        minutes=_field(minute, 0, 59, "minute"),
        hours=_field(hour, 0, 23, "hour"),
        days=_field(dom, 1, 31, "day-of-month"),
        months=_field(month, 1, 12, "month", _MONTHS),
        weekdays=weekdays,
        days_restricted=dom not in ("*", "?"),
        weekdays_restricted=dow not in ("*", "?"),
        every_hour=len(_field(hour, 0, 23, "hour")) == 24,
    )


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises CronError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name!r}") from None


def _next_wall(spec: CronSpec, start: datetime, limit: datetime) -> datetime | None:
    """The first naive wall-clock time >= ``start`` matching ``spec`` (None past ``limit``)."""
    t = start.replace(microsecond=0)
    if t < start:
        t += timedelta(seconds=1)
    while t <= limit:
        if t.month not in spec.months:
            t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
        elif not spec.day_matches(t):
            t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
        elif t.hour not in spec.hours:
            t = t.replace(minute=0, second=0) + timedelta(hours=1)
        elif t.minute not in spec.minutes:
            t = t.replace(second=0) + timedelta(minutes=1)
        elif t.second not in spec.seconds:
            t += timedelta(seconds=1)
        else:
            return t
    return None


def _instants(spec: CronSpec, wall: datetime, tz: tzinfo) -> list[datetime]:
    """The UTC instants at which wall-clock time ``wall`` fires in ``tz`` (0, 1 or 2)."""
    out: list[datetime] = []
    for fold in (0, 1):
        local = wall.replace(tzinfo=tz, fold=fold)
        instant = local.astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) != wall:
            return []  # the wall time does not exist in tz (clocks jumped over it)
        if instant not in out:
            out.append(instant)
    if len(out) == 2 and not spec.every_hour:
        out = out[:1]  # a repeated fixed time fires once, at its first occurrence
    return out


def _shift_near(tz: tzinfo, instant: datetime) -> timedelta:
    """How much the UTC offset of ``tz`` changes within 3 hours of ``instant`` (0 mostly)."""
    window = timedelta(hours=3)
    before = (instant - window).astimezone(tz).utcoffset() or timedelta(0)
    after = (instant + window).astimezone(tz).utcoffset() or timedelta(0)
    return abs(after - before)


def next_fire(spec: CronSpec, tz: tzinfo, after: datetime) -> datetime | None:
    """The first firing instant strictly after ``after`` (aware), as aware UTC."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    # Wall-clock order and real-time order differ only across a DST change, and then by at
    # most its shift: scan wall times from one shift before ``after`` to one shift past the
    # first instant found.
    start = after.astimezone(tz).replace(tzinfo=None) - _shift_near(tz, after)
    limit = start + timedelta(days=366 * HORIZON_YEARS)
    best: datetime | None = None
    stop: datetime | None = None
    wall = _next_wall(spec, start, limit)
    while wall is not None and (stop is None or wall <= stop):
        for instant in _instants(spec, wall, tz):
            if instant > after and (best is None or instant < best):
                best = instant
                stop = wall + _shift_near(tz, instant)
        wall = _next_wall(spec, wall + timedelta(seconds=1), limit if stop is None else stop)
    return best


def latest_slot(spec: CronSpec, tz: tzinfo, first: datetime, until: datetime
                ) -> datetime | None:
    """The latest firing instant in ``[first, until]``, or None when there is none.

    Work is bounded: it looks back from ``until`` through growing windows (a minute, an hour,
    a day, a month, a year, the horizon) and walks forward only inside the first window that
    holds a slot, so a day of missed per-second slots costs about sixty steps, not 86,400.
    """
    if first > until:
        return None
    floor = first - timedelta(microseconds=1)
    for window in (timedelta(minutes=1), timedelta(hours=1), timedelta(days=1),
                   timedelta(days=32), timedelta(days=367),
                   timedelta(days=366 * HORIZON_YEARS)):
        candidate = next_fire(spec, tz, max(floor, until - window))
        if candidate is None or candidate > until:
            if until - window <= floor:
                return None
            continue
        while True:
            following = next_fire(spec, tz, candidate)
            if following is None or following > until:
                return candidate
            candidate = following
    return None


def closest_slots_seconds(spec: CronSpec, *, horizon_days: int = 4 * 366) -> int | None:
    """How close two consecutive slots of ``spec`` come, in seconds of wall time: the closest
    pair within a day, and the pair across midnight when two consecutive days can both fire
    (looked for over ``horizon_days`` from 2000-01-01, a leap cycle). None when no two slots
    are ever that close to compare (one slot a day, never on consecutive days)."""
    times = sorted(h * 3600 + m * 60 + s for h in spec.hours for m in spec.minutes
                   for s in spec.seconds)
    if not times:
        return None
    gaps = [times[i + 1] - times[i] for i in range(len(times) - 1)]
    wrap = 86_400 - times[-1] + times[0]
    day = datetime(2000, 1, 1)
    fired_before = False
    for _ in range(horizon_days):
        fires = day.month in spec.months and spec.day_matches(day)
        if fires and fired_before:
            gaps.append(wrap)
            break
        fired_before = fires
        day += timedelta(days=1)
    return min(gaps) if gaps else None
