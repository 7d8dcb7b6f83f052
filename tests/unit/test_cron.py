"""server/core/cron.py: parsing and next_fire by tables, DST included; cross-checked with
APScheduler."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger

from server.core import cron


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


NEXT_FIRE = [
    # expression, zone, after (UTC), expected (UTC) or None
    ("* * * * *", "UTC", "2026-01-01T00:00:00", "2026-01-01T00:01:00"),
    ("* * * * *", "UTC", "2026-01-01T00:00:59.5", "2026-01-01T00:01:00"),
    ("*/5 * * * * *", "UTC", "2026-01-01T00:00:03", "2026-01-01T00:00:05"),
    ("*/5 * * * * *", "UTC", "2026-01-01T00:00:05", "2026-01-01T00:00:10"),
    ("* * * * * *", "UTC", "2026-12-31T23:59:59", "2027-01-01T00:00:00"),
    ("0 0 * * *", "UTC", "2026-01-31T12:00:00", "2026-02-01T00:00:00"),
    ("15 10 * * *", "UTC", "2026-01-01T10:15:00", "2026-01-02T10:15:00"),
    ("0 9 * * 1-5", "America/New_York", "2026-01-02T15:00:00", "2026-01-05T14:00:00"),
    ("0 9 * * mon-fri", "America/New_York", "2026-01-02T13:59:59", "2026-01-02T14:00:00"),
    ("0 0 * * 7", "UTC", "2026-01-01T00:00:00", "2026-01-04T00:00:00"),
    ("0 0 * * 0", "UTC", "2026-01-01T00:00:00", "2026-01-04T00:00:00"),
    ("0 0 * * sun", "UTC", "2026-01-01T00:00:00", "2026-01-04T00:00:00"),
    # day-of-month OR day-of-week when both are restricted (Jan 1 2026 is a Thursday)
    ("0 0 1,15 * 1", "UTC", "2026-01-01T00:00:00", "2026-01-05T00:00:00"),
    ("0 0 1,15 * 1", "UTC", "2026-01-12T00:00:00", "2026-01-15T00:00:00"),
    ("0 0 13 * ?", "UTC", "2026-01-01T00:00:00", "2026-01-13T00:00:00"),
    ("0 12 * jan-mar mon", "UTC", "2026-03-31T00:00:00", "2027-01-04T12:00:00"),
    ("0 0 1 */3 *", "UTC", "2026-02-01T00:00:00", "2026-04-01T00:00:00"),
    ("0 0 31 * *", "UTC", "2026-02-01T00:00:00", "2026-03-31T00:00:00"),
    ("0 0 29 2 *", "UTC", "2026-01-01T00:00:00", "2028-02-29T00:00:00"),
    ("5-10/2 * * * *", "UTC", "2026-01-01T00:05:00", "2026-01-01T00:07:00"),
    ("0 0 5-10/2 * * *", "UTC", "2026-01-01T05:00:00", "2026-01-01T07:00:00"),
    ("10/20 * * * *", "UTC", "2026-01-01T00:10:00", "2026-01-01T00:30:00"),
    ("@hourly", "UTC", "2026-01-01T00:00:00", "2026-01-01T01:00:00"),
    ("@daily", "Europe/Berlin", "2026-01-01T00:00:00", "2026-01-01T23:00:00"),
    ("@weekly", "UTC", "2026-01-01T00:00:00", "2026-01-04T00:00:00"),
    ("@monthly", "UTC", "2026-01-01T00:00:00", "2026-02-01T00:00:00"),
    ("@yearly", "UTC", "2026-01-01T00:00:00", "2027-01-01T00:00:00"),
    ("0 9 * * *", "Asia/Kathmandu", "2026-01-01T00:00:00", "2026-01-01T03:15:00"),
    ("0 9 * * *", "Europe/Berlin", "2026-07-01T00:00:00", "2026-07-01T07:00:00"),
    # DST, New York 2026: clocks jump 02:00 → 03:00 on Mar 8, fall 02:00 → 01:00 on Nov 1.
    ("30 2 * * *", "America/New_York", "2026-03-07T12:00:00", "2026-03-09T06:30:00"),
    ("0 3 * * *", "America/New_York", "2026-03-07T12:00:00", "2026-03-08T07:00:00"),
    ("*/30 * * * *", "America/New_York", "2026-03-08T06:30:00", "2026-03-08T07:00:00"),
    ("30 1 * * *", "America/New_York", "2026-10-31T12:00:00", "2026-11-01T05:30:00"),
    ("30 1 * * *", "America/New_York", "2026-11-01T05:30:00", "2026-11-02T06:30:00"),
    ("*/30 * * * *", "America/New_York", "2026-11-01T05:30:00", "2026-11-01T06:00:00"),
    ("*/30 * * * *", "America/New_York", "2026-11-01T06:00:00", "2026-11-01T06:30:00"),
    ("0 * * * *", "America/New_York", "2026-11-01T05:00:00", "2026-11-01T06:00:00"),
    ("0 1 * * *", "America/New_York", "2026-11-01T04:59:00", "2026-11-01T05:00:00"),
    ("0 1 * * *", "America/New_York", "2026-11-01T05:00:00", "2026-11-02T06:00:00"),
    # Berlin 2026: 02:00 → 03:00 on Mar 29, 03:00 → 02:00 on Oct 25.
    ("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00", "2026-03-30T00:30:00"),
    ("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00", "2026-10-25T00:30:00"),
    ("30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00", "2026-10-26T01:30:00"),
    # Lord Howe moves by 30 minutes: 02:00 → 02:30 on Oct 4 2026.
    ("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00", "2026-10-04T15:15:00"),
]


@pytest.mark.parametrize(("expression", "tz", "after", "expected"), NEXT_FIRE)
def test_next_fire(expression: str, tz: str, after: str, expected: str | None) -> None:
    found = cron.next_fire(cron.parse(expression), cron.zone(tz), utc(after))
    assert found == (utc(expected) if expected else None)


INVALID = [
    ("* * * *", "expected 5 or 6 fields"),
    ("* * * * * * *", "expected 5 or 6 fields"),
    ("", "expected 5 or 6 fields"),
    ("60 * * * *", "minute: '60' is not valid (values 0-59;"),
    ("* 24 * * *", "hour: '24' is not valid (values 0-23;"),
    ("* * 0 * *", "day-of-month: '0' is not valid (values 1-31;"),
    ("* * * 13 *", "month: '13' is not valid (values 1-12 or jan-dec;"),
    ("* * * * 8", "day-of-week: '8' is not valid (values 0-7 or sun-sat"),
    ("60 * * * * *", "second: '60' is not valid (values 0-59;"),
    ("a * * * *", "minute: 'a' is not valid"),
    ("*/0 * * * *", "minute: '*/0' is not valid"),
    ("5-1 * * * *", "minute: '5-1' is not valid"),
    ("1,,2 * * * *", "minute: '1,,2' is not valid"),
    ("? * * * *", "'?' is allowed only in the day fields"),
    ("* * * foo *", "month: 'foo' is not valid"),
    # a day that no month given has: refused at parse (it would never fire)
    ("0 0 30 2 *", "day-of-month: '30' never falls in month '2'"),
    ("0 0 31 4,6 *", "day-of-month: '31' never falls in month '4,6'"),
    # cronsim's extensions, not in the contract
    ("0 0 L * *", "day-of-month: 'L' is not valid"),
    ("0 0 LW * *", "day-of-month: 'LW' is not valid"),
    ("0 0 * * 1#2", "day-of-week: '1#2' is not valid"),
    ("0 0 * * 5L", "day-of-week: '5L' is not valid"),
]


@pytest.mark.parametrize(("expression", "message"), INVALID)
def test_invalid_expressions_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(cron.CronError, match=re.escape(message)):
        cron.parse(expression)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "UTC+5"])
def test_unknown_zone(name: str) -> None:
    with pytest.raises(cron.CronError, match="unknown time zone"):
        cron.zone(name)


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        cron.next_fire(cron.parse("* * * * *"), UTC, datetime(2026, 1, 1))


LATEST = [
    # expression, first slot, until, latest slot in [first, until]
    ("*/2 * * * * *", "2026-01-01T00:00:00", "2026-01-01T00:00:07", "2026-01-01T00:00:06"),
    ("*/2 * * * * *", "2026-01-01T00:00:00", "2026-01-01T00:00:00", "2026-01-01T00:00:00"),
    ("*/2 * * * * *", "2026-01-01T00:00:00", "2026-01-02T03:04:05.5", "2026-01-02T03:04:04"),
    ("0 0 1 1 *", "2020-01-01T00:00:00", "2026-06-01T00:00:00", "2026-01-01T00:00:00"),
    ("0 9 * * *", "2026-01-05T09:00:00", "2026-01-05T08:00:00", None),
    ("0 9 * * *", "2026-01-05T09:00:00", "2026-03-01T10:00:00", "2026-03-01T09:00:00"),
]


@pytest.mark.parametrize(("expression", "first", "until", "expected"), LATEST)
def test_latest_slot(expression: str, first: str, until: str, expected: str | None) -> None:
    found = cron.latest_slot(cron.parse(expression), UTC, utc(first), utc(until))
    assert found == (utc(expected) if expected else None)


CROSS_CHECK = [
    # (ours, APScheduler kwargs) — same meaning in UTC, where APScheduler has no DST rule to
    # differ on; day-of-week is left out because APScheduler 3 numbers Monday 0.
    ("*/7 */3 * * *", {"minute": "*/7", "hour": "*/3"}),
    ("0 5 1,15,28-31 * *", {"minute": "0", "hour": "5", "day": "1,15,28-31"}),
    ("10-50/15 * * 2,11 *", {"minute": "10-50/15", "month": "2,11"}),
    ("*/13 */29 * * * *", {"second": "*/13", "minute": "*/29"}),
    ("0 0 29 2 *", {"minute": "0", "hour": "0", "day": "29", "month": "2"}),
]


@pytest.mark.parametrize(("expression", "kwargs"), CROSS_CHECK)
def test_agrees_with_apscheduler(expression: str, kwargs: dict[str, str]) -> None:
    trigger = CronTrigger(timezone=UTC, **{"second": "0", **kwargs})
    spec = cron.parse(expression)
    ours: datetime | None = utc("2026-01-01T00:00:00")
    theirs: datetime | None = ours
    for _ in range(60):
        assert ours is not None and theirs is not None
        ours = cron.next_fire(spec, UTC, ours)
        # APScheduler returns the first time >= now; ours is strictly after.
        theirs = trigger.get_next_fire_time(None, theirs + timedelta(microseconds=1))
        assert ours == theirs


def test_cron_is_pure() -> None:
    tree = ast.parse((Path(__file__).parents[2] / "server" / "core" / "cron.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "collections", "cronsim", "dataclasses", "datetime",
                        "heapq", "zoneinfo"}, imported


@pytest.mark.parametrize(("expression", "closest"), [
    ("* * * * * *", 1), ("*/4 * * * * *", 4), ("0,59 * * * * *", 1), ("* * * * *", 60),
    ("0 */2 * * *", 7200), ("30 59 23 * * *", 86_400), ("0 0,23 * * *", 3600),
    ("59 23 * * *", 86_400), ("0 0 * * 1", None), ("0 0 29 2 *", None),
    ("59 23 31 * *", None),
    ("0,30 0 0 1 1 *", 30), ("0 0 1,2 * *", 86_400),
])
def test_closest_slots(expression: str, closest: int | None) -> None:
    assert cron.closest_slots_seconds(cron.parse(expression)) == closest
