"""Aggregates for the console: failed tasks by error, and attempts and tasks per hour.

Each is one SQL aggregate (SQLAlchemy Core, SQLite and PostgreSQL alike); the service
(:mod:`server.services.insights`) shapes the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.tables import task_executions, tasks

# The attempt that failed the task: its number is the task's `attempts` (the runner writes it
# so), one row by uq_task_executions_attempt.
_LAST_ATTEMPT = task_executions.alias("last_attempt")
_FAILED_WITH_ATTEMPT = tasks.outerjoin(_LAST_ATTEMPT, sa.and_(
    _LAST_ATTEMPT.c.task_id == tasks.c.id,
    _LAST_ATTEMPT.c.attempt_number == tasks.c.attempts))


async def failed_error_counts(conn: AsyncConnection, client_id: str | None = None
                              ) -> Sequence[tuple[str | None, str | None, int]]:
    """``(errorType of the last attempt, lastError, count)`` over the failed tasks (of one
    client), one row per distinct pair."""
    stmt = (sa.select(_LAST_ATTEMPT.c.error_type, tasks.c.last_error, sa.func.count())
            .select_from(_FAILED_WITH_ATTEMPT)
            .where(tasks.c.status == "failed")
            .group_by(_LAST_ATTEMPT.c.error_type, tasks.c.last_error))
    if client_id is not None:
        stmt = stmt.where(tasks.c.client_id == client_id)
    return [(t, e, int(n)) for t, e, n in await conn.execute(stmt)]


def failed_with_errors(pairs: Sequence[tuple[str | None, str | None]]) -> sa.ColumnElement[bool]:
    """A condition on `tasks`: failed, with one of these (errorType, lastError) pairs."""
    conditions = []
    for error_type, message in pairs:
        attempt = sa.select(task_executions.c.id).where(
            task_executions.c.task_id == tasks.c.id,
            task_executions.c.attempt_number == tasks.c.attempts,
            task_executions.c.error_type.is_(None) if error_type is None
            else task_executions.c.error_type == error_type)
        same_type = (sa.exists(attempt) if error_type is not None
                     else sa.or_(sa.exists(attempt), ~sa.exists(
                         sa.select(task_executions.c.id).where(
                             task_executions.c.task_id == tasks.c.id,
                             task_executions.c.attempt_number == tasks.c.attempts))))
        same_message = (tasks.c.last_error.is_(None) if message is None
                        else tasks.c.last_error == message)
        conditions.append(sa.and_(same_message, same_type))
    if not conditions:
        return sa.false()
    return sa.and_(tasks.c.status == "failed", sa.or_(*conditions))


def _hour_of(column: sa.ColumnElement[datetime], start: datetime,
             hours: int) -> sa.ColumnElement[int]:
    """The index of the hour ``column`` falls in, 0 .. hours-1 from ``start`` (a CASE on
    bound times: the same SQL on SQLite and PostgreSQL)."""
    return sa.case(*[(column < start + timedelta(hours=i + 1), i) for i in range(hours - 1)],
                   else_=hours - 1)


async def attempts_per_hour(conn: AsyncConnection, start: datetime, hours: int,
                            client_id: str | None = None) -> Sequence[tuple[int, str, int]]:
    """``(hour index, attempt status, count)`` of the attempts started in each hour."""
    end = start + timedelta(hours=hours)
    hour = _hour_of(task_executions.c.started_at, start, hours).label("hour")
    stmt = (sa.select(hour, task_executions.c.status, sa.func.count())
            .where(task_executions.c.started_at >= start, task_executions.c.started_at < end)
            .group_by(hour, task_executions.c.status))
    if client_id is not None:
        stmt = stmt.where(task_executions.c.task_id.in_(
            sa.select(tasks.c.id).where(tasks.c.client_id == client_id)))
    return [(int(h), s, int(n)) for h, s, n in await conn.execute(stmt)]


async def tasks_created_per_hour(conn: AsyncConnection, start: datetime, hours: int,
                                 client_id: str | None = None) -> Sequence[tuple[int, int]]:
    """``(hour index, count)`` of the tasks created in each hour."""
    end = start + timedelta(hours=hours)
    hour = _hour_of(tasks.c.created_at, start, hours).label("hour")
    stmt = (sa.select(hour, sa.func.count())
            .where(tasks.c.created_at >= start, tasks.c.created_at < end)
            .group_by(hour))
    if client_id is not None:
        stmt = stmt.where(tasks.c.client_id == client_id)
    return [(int(h), int(n)) for h, n in await conn.execute(stmt)]
