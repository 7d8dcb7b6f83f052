"""The scale seeder (tests/support/scale_seed.py, scripts/bench_scale) writes rows the app
reads: a small seed, read back through the app's own repositories and views."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import sqlalchemy as sa

from server.db import repositories as repo
from server.db.audit import audit_list
from server.db.engine import Database, migrations_head
from server.db.tables import task_events, task_tags, tasks
from server.services.task_events import stored_event
from server.services.views import execution_view, task_view
from tests.support.scale_seed import live_counts, seed

N = 300


async def _read_back(url: str) -> dict[str, Any]:
    db = Database(url)
    out: dict[str, Any] = {}
    try:
        out["revision"] = await db.migrations_current()
        async with db.read() as conn:
            out["by_status"] = await repo.task_counts_by_status(conn)
            out["attempts"] = await repo.execution_counts(conn)
            rows = await repo.task_list(conn, statuses=None, task_type=None, search=None,
                                        limit=N + 1, after=None)
            views, executions = [], 0
            for row in rows:
                views.append(task_view(row))
                for attempt in await repo.executions_for_task(conn, row.id):
                    execution_view(attempt, row)
                    executions += 1
            out["views"], out["executions"] = views, executions
            out["stalled"] = await repo.task_list(conn, statuses=None, task_type=None,
                                                  search=None, limit=N, after=None, stalled=True)
            tag = (await conn.execute(sa.select(task_tags.c.tag).limit(1))).scalar_one()
            out["tagged"] = await repo.task_list(conn, statuses=None, task_type=None,
                                                 search=None, limit=N, after=None, tags=[tag])
            out["tag_rows"] = (await conn.execute(
                sa.select(sa.func.count()).select_from(task_tags)
                .where(task_tags.c.tag == tag))).scalar_one()
            events = (await conn.execute(sa.select(task_events))).all()
            out["events"] = [(e.task_id, stored_event(bytes(e.payload))) for e in events]
            out["ids"] = set((await conn.execute(sa.select(tasks.c.id))).scalars())
            out["audit"] = await audit_list(conn, target_id=None, actor=None, action=None,
                                            since=None, limit=2 * N, after=None)
    finally:
        await db.dispose()
    return out


def test_seed_writes_rows_the_app_reads(database_url: str) -> None:
    plan = seed(database_url, N, live_url="http://127.0.0.1:9/slow", chunk=100)
    got = asyncio.run(_read_back(database_url))

    assert got["revision"] == migrations_head()  # rows written at SEED_REVISION, then upgraded
    queued, live = live_counts(N)
    assert sum(plan.statuses.values()) == N
    assert plan.statuses["queued"] == queued + live
    assert got["by_status"] == dict(plan.statuses)  # every task, in its intended status
    assert {"completed", "failed", "cancelled", "rejected", "awaiting_review",
            "scheduled"} <= set(got["by_status"])
    assert got["by_status"]["completed"] > got["by_status"]["failed"] > 0

    assert len(got["views"]) == N  # every row converts to the wire Task, and its attempts
    assert got["executions"] == sum(got["attempts"].values()) == plan.rows["task_executions"]
    assert got["executions"] / N >= 1.5
    assert len({v.task_type for v in got["views"]}) >= 5
    assert len({v.client_id for v in got["views"]}) >= 10
    assert any(v.assignee for v in got["views"])
    assert all(v.status != "completed" or v.result is not None for v in got["views"])

    assert got["stalled"] and all(t.stalled_since is not None for t in got["stalled"])
    assert len(got["tagged"]) == got["tag_rows"] > 0

    assert got["events"] and all(event is not None and task_id in got["ids"]
                                 for task_id, event in got["events"])
    actions = Counter(entry.action for entry in got["audit"])
    assert actions["tasks.create"] == N
