"""Cron expressions, PURE: parse once, then ``next_fire(spec, tz, after)``.

Which wall-clock times an expression names is computed by cronsim (a maintained cron
evaluator); this module adds what is ours: the syntax the contract allows, the day rule, and
how wall-clock times map to instants in an IANA zone across DST changes.

Syntax (docs/CONTRACT.md §2): 5 fields ``minute hour day-of-month month day-of-week``, or 6 with
seconds first ``second minute hour day-of-month month day-of-week`` (node-cron, Spring). Each
field is ``*``, a number, a range ``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n``, or a comma list
of those. Months also take ``jan``..``dec``; days of week ``sun``..``sat``, where 0 and 7 are
Sunday. ``?`` means ``*`` in the day fields (Spring). Macros: ``@yearly`` (``@annually``),
``@monthly``, ``@weekly``, ``@daily`` (``@midnight``), ``@hourly``. cronsim's extensions
(``L``, ``W``, ``#``) are refused: the contract does not have them.

Day rule: when both day-of-month and day-of-week are restricted (not ``*`` or ``?``), a day
matches if EITHER matches; otherwise both must.

Time zones and DST: the expression is matched against the wall-clock time in ``tz``.

- A wall-clock time that does not exist (clocks jump forward) never fires.
- A wall-clock time that happens twice (clocks go back) fires at its first occurrence only,
  unless the hour field is ``*`` (every hour): such a schedule also fires in the repeated
  hour, so an every-minute schedule keeps firing every minute of real time.

``next_fire`` returns an aware UTC datetime strictly after ``after``, or ``None`` when the
expression never fires again within :data:`HORIZON_YEARS`.
This module imports no IO library and never reads the clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

HORIZON_YEARS = 8  # covers Feb 29 and every other calendar pattern

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# The six fields in order, with what each accepts (for error messages).
FIELDS = (("second", "0-59"), ("minute", "0-59"), ("hour", "0-23"), ("day-of-month", "1-31"),
          ("month", "1-12 or jan-dec"), ("day-of-week", "0-7 or sun-sat, 0 and 7 are Sunday"))
_EPOCH = datetime(2000, 1, 1)


class CronError(ValueError):
    """The cron expression is not valid; the message says which field and why."""


@dataclass(frozen=True)
class CronSpec:
    # 6-field expressions for cronsim; a wall time fires when ANY matches (two for the day
    # rule's OR, which cronsim decides by whether a field starts with ``*``; ours does not).
    variants: tuple[str, ...]
    every_hour: bool


def _sim(fields: list[str], after: datetime, reverse: bool = False) -> CronSim:
    return CronSim(" ".join(fields), after, reverse=reverse)


def _checked(fields: list[str]) -> CronSim:
    """cronsim's parse of ``fields``, its error turned into one naming the field and value."""
    try:
        return _sim(fields, _EPOCH)
    except CronSimError as exc:
        name = str(exc).removeprefix("Bad ")
        index = next((i for i, (f, _) in enumerate(FIELDS) if f == name), None)
        if index is None:
            raise CronError(str(exc)) from None
        if index == 3 and _fires_some_month(fields):
            raise CronError(f"day-of-month: {fields[3]!r} never falls in month "
                            f"{fields[4]!r}, so the expression never fires") from None
        raise CronError(f"{name}: {fields[index]!r} is not valid (values {FIELDS[index][1]}; "
                        "*, a-b, */n, a-b/n, a/n, or a comma list)") from None


def _fires_some_month(fields: list[str]) -> bool:
    try:
        _sim([*fields[:4], "*", fields[5]], _EPOCH)
    except CronSimError:
        return False
    return True


def parse(expression: str) -> CronSpec:
    """Parse a 5- or 6-field expression (or a macro); raises CronError naming the field."""
    text = MACROS.get(expression.strip().lower(), expression)
    fields = text.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise CronError(f"expected 5 or 6 fields, got {len(fields)}")
    if "?" in "".join(fields[:3]) + fields[4]:
        raise CronError("'?' is allowed only in the day fields")
    dom, dow = fields[3].replace("?", "*"), fields[5].replace("?", "*")
    if any(c.isalpha() for c in dom):
        raise CronError(f"day-of-month: {dom!r} is not valid (values 1-31)")
    if "#" in dow or "l" in dow.lower():
        raise CronError(f"day-of-week: {dow!r} is not valid (values {FIELDS[5][1]})")
    fields[3], fields[5] = dom, dow
    hours = _checked(fields).hours
    variants = [fields]
    if dom != "*" and dow != "*":
        variants = [[*fields[:5], "*"], [*fields[:3], "*", *fields[4:]]]
        variants = [v for v in variants if _valid(v)]  # e.g. 30 2 mon: Mondays of February
    return CronSpec(variants=tuple(" ".join(v) for v in variants),
                    every_hour=len(hours) == 24)


def _valid(fields: list[str]) -> bool:
    try:
        _sim(fields, _EPOCH)
    except CronSimError:
        return False
    return True


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises CronError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name!r}") from None


def _walls(spec: CronSpec, start: datetime, *, reverse: bool = False) -> Iterator[datetime]:
    """Naive wall-clock times matching ``spec`` from ``start`` on (inclusive), ascending, or
    back from ``start`` (inclusive), descending."""
    if reverse:  # cronsim starts at the whole second of a time with microseconds
        sims = [CronSim(v, start.replace(microsecond=0) + timedelta(microseconds=1),
                        reverse=True) for v in spec.variants]
        merged = heapq.merge(*sims, reverse=True)
    else:  # cronsim yields times strictly after its start
        merged = heapq.merge(*(CronSim(v, start - timedelta(microseconds=1))
                               for v in spec.variants))
    last: datetime | None = None
    for wall in merged:
        if wall != last:
            yield wall
        last = wall


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


def _wall(instant: datetime, tz: tzinfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def next_fire(spec: CronSpec, tz: tzinfo, after: datetime) -> datetime | None:
    """The first firing instant strictly after ``after`` (aware), as aware UTC."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    # Wall-clock order and real-time order differ only across a DST change, and then by at
    # most its shift: scan wall times from one shift before ``after`` to one shift past the
    # first instant found.
    start = _wall(after, tz) - _shift_near(tz, after)
    stop = start + timedelta(days=366 * HORIZON_YEARS)
    best: datetime | None = None
    for wall in _walls(spec, start):
        if wall > stop:
            break
        for instant in _instants(spec, wall, tz):
            if instant > after and (best is None or instant < best):
                best = instant
                stop = wall + _shift_near(tz, instant)
    return best


def latest_slot(spec: CronSpec, tz: tzinfo, first: datetime, until: datetime
                ) -> datetime | None:
    """The latest firing instant in ``[first, until]``, or None when there is none.

    Work is bounded: it walks back from ``until``, so a day of missed per-second slots costs
    one step, not 86,400 (the mirror of :func:`next_fire`).
    """
    if first > until:
        return None
    floor = _wall(first, tz) - _shift_near(tz, first)
    stop = _wall(until, tz) + _shift_near(tz, until)
    best: datetime | None = None
    for wall in _walls(spec, stop, reverse=True):
        if wall < floor:
            break
        for instant in _instants(spec, wall, tz):
            if first <= instant <= until and (best is None or instant > best):
                best = instant
                floor = max(floor, wall - _shift_near(tz, instant))
    return best


def closest_slots_seconds(spec: CronSpec, *, horizon_days: int = 4 * 366) -> int | None:
    """How close two consecutive slots of ``spec`` come, in seconds of wall time: the closest
    pair within a firing day (every firing day has the same times of day), and the pair across
    midnight when two consecutive days can both fire (looked for over ``horizon_days`` from
    2000-01-01, a leap cycle). None when no two slots are ever that close to compare (one slot
    a day, never on consecutive days)."""
    first = next(_walls(spec, _EPOCH), None)
    if first is None:
        return None
    day = first.replace(hour=0, minute=0, second=0, microsecond=0)
    gaps: list[int] = []
    previous = last = first
    for wall in _walls(spec, first + timedelta(seconds=1)):
        if wall - day >= timedelta(days=1):
            break
        gaps.append(int((wall - previous).total_seconds()))
        previous = last = wall
        if gaps[-1] <= 1:
            return 1  # nothing comes closer than a second
    wrap = 86_400 - int((last - day).total_seconds()) + int((first - day).total_seconds())
    end = day + timedelta(days=horizon_days)
    while day < end:  # jump from one firing day to the next
        following = next(_walls(spec, day + timedelta(days=1)), None)
        if following is None:
            break
        following_day = following.replace(hour=0, minute=0, second=0, microsecond=0)
        if following_day - day == timedelta(days=1):
            gaps.append(wrap)
            break
        day = following_day
    return min(gaps) if gaps else None
