"""The SQL behind the /metrics gauges: a few aggregate queries, run at most once per scrape
interval (server/node/metrics.py caches them), never per task."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.tables import outbound_messages, tasks

UNDELIVERED = ("scheduled", "queued")


@dataclass
class Snapshot:
    tasks: dict[tuple[str, str], int] = field(default_factory=dict)  # (status, type) -> n
    oldest_queued: dict[str, float] = field(default_factory=dict)  # type -> seconds
    oldest_undelivered: float = 0.0  # seconds since the oldest due, undelivered message
    stalled: int | None = None  # None: this schema has no stalled_since column


async def snapshot(conn: AsyncConnection, now: datetime) -> Snapshot:
    snap = Snapshot()
    counts = await conn.execute(
        sa.select(tasks.c.status, tasks.c.task_type, sa.func.count())
        .group_by(tasks.c.status, tasks.c.task_type))
    snap.tasks = {(status, task_type): n for status, task_type, n in counts}
    oldest = await conn.execute(
        sa.select(tasks.c.task_type, sa.func.min(tasks.c.queued_at))
        .where(tasks.c.status == "queued").group_by(tasks.c.task_type))
    for task_type, queued_at in oldest:
        if queued_at is not None:
            snap.oldest_queued[task_type] = max(0.0, (now - queued_at).total_seconds())
    first_due = await conn.scalar(
        sa.select(sa.func.min(outbound_messages.c.send_at))
        .where(outbound_messages.c.status.in_(UNDELIVERED),
               outbound_messages.c.send_at <= now))
    if first_due is not None:
        snap.oldest_undelivered = max(0.0, (now - first_due).total_seconds())
    # Stalled work (CONTRACT §10, workflows): counted once the column exists.
    stalled_since = tasks.c.get("stalled_since")
    if stalled_since is not None:
        snap.stalled = int(await conn.scalar(
            sa.select(sa.func.count()).select_from(tasks).where(stalled_since.is_not(None)))
            or 0)
    return snap
