"""What the console's overview shows: failed tasks grouped by error, attempts per hour.

A failure group is the error type of a failed task's last attempt and the pattern of its
``lastError``: the message with the parts that differ from task to task (times, ids, URLs'
queries, quoted values, long numbers) replaced by placeholders (:func:`error_pattern`).
Counts come from one SQL aggregate over (errorType, lastError); the patterns merge its rows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection

from schemas.system import FailureGroup, FailureGroups, HourCounts, Series
from server.db import insights, rollups
from server.db.engine import Database

_PLACEHOLDERS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"\b[a-z]{2,5}_[0-9a-z]{22}\b"), "<id>"),  # our ids (tsk_..., exe_...)
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{16,}\b", re.I), "<id>"),
    (re.compile(r"\?[^\s'\"]*"), "?<query>"),
    (re.compile(r"'[^']*'"), "'…'"),
    (re.compile(r"\"[^\"]*\""), "\"…\""),
    # numbers, but not in a host (an IP address, a port): those name where the error came from
    (re.compile(r"(?<![\d.:])\d+\.\d+(?![\d.])"), "<n>"),
    (re.compile(r"(?<![\d.:])\d{4,}(?![\d.])"), "<n>"),  # short ones (HTTP statuses) stay
)
MAX_PATTERN = 300


def error_pattern(message: str | None) -> str:
    """The message with what varies between occurrences replaced by placeholders."""
    if message is None:
        return ""
    text = message.strip().splitlines()[0] if message.strip() else ""
    for pattern, placeholder in _PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return text[:MAX_PATTERN]


def group_key(error_type: str | None, pattern: str) -> str:
    """A short stable name of a group, to filter tasks.list by (``errorGroup``)."""
    digest = hashlib.sha256(f"{error_type or ''}\x00{pattern}".encode()).hexdigest()
    return "fg_" + digest[:16]


async def group_members(conn: AsyncConnection, key: str, client_id: str | None = None
                        ) -> Sequence[tuple[str | None, str | None]]:
    """The (errorType, lastError) pairs of one failure group (none for an unknown key)."""
    rows = await insights.failed_error_counts(conn, client_id)
    return [(t, m) for t, m, _ in rows if group_key(t, error_pattern(m)) == key]


class Insights:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock

    async def failure_groups(self, client_id: str | None = None) -> FailureGroups:
        """Over every failed task, or one client's (a key scoped to a client)."""
        async with self.db.read() as conn:
            rows = await insights.failed_error_counts(conn, client_id)
        groups: dict[str, FailureGroup] = {}
        for error_type, message, count in rows:
            pattern = error_pattern(message)
            key = group_key(error_type, pattern)
            group = groups.get(key)
            if group is None:
                groups[key] = FailureGroup(key=key, error_type=error_type, pattern=pattern,
                                           count=count, example=message)
            else:
                group.count += count
        ordered = sorted(groups.values(), key=lambda g: (-g.count, g.pattern))
        return FailureGroups(groups=ordered, total=sum(g.count for g in ordered))

    async def series(self, client_id: str | None = None, hours: int = 24, *,
                     raw: bool = False) -> Series:
        """The last ``hours`` hours up to the current one, oldest first: from the hourly
        rollups (server/db/rollups.py), or with ``raw`` from the tasks and attempts (the same
        counts)."""
        now = self.clock()
        start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
        async with self.db.read() as conn:
            if raw:
                attempts = await insights.attempts_per_hour(conn, start, hours, client_id)
                created = await insights.tasks_created_per_hour(conn, start, hours, client_id)
            else:
                created, attempts = await rollups.hourly_series(conn, start, hours, client_id)
        out = [HourCounts(start=start + timedelta(hours=i), created=0, attempts={})
               for i in range(hours)]
        for hour, status, count in attempts:
            out[hour].attempts[status] = count
        for hour, count in created:
            out[hour].created = count
        return Series(hours=out)
