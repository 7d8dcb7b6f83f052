"""tasks.list at scale: each filter, and the common pairs, is served by an index that matches
it and its order (created_at DESC, id DESC), for the first page and for a page deep behind a
cursor — nothing sorted, on SQLite (no statistics, as it runs) and on PostgreSQL (analyzed, as
server/db/planner_stats.py keeps it). The statements are the ones repositories.task_list
sends, caught at the driver and explained with the same parameters.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from server.db import repositories as repo
from server.db.engine import Database
from tests.integration.test_repositories import T0, task_values

# Shaped like a database of a million tasks: most ended well, each other status and each
# task type but the main one a few in a hundred, a client's tasks a few in a hundred.
STATUSES = ["completed"] * 90 + ["failed"] * 2 + ["cancelled"] * 2 + ["queued"] * 2 + \
    ["scheduled"] * 2 + ["pending"] * 2
TYPES = ["api_call"] * 17 + ["notification", "ghl_action", "browser_automation"]

# (filters, the index that must serve them)
CASES: list[tuple[dict[str, Any], str]] = [
    ({}, "ix_tasks_created"),
    ({"statuses": ["failed"]}, "ix_tasks_list_status"),
    ({"task_type": "ghl_action"}, "ix_tasks_list_type"),
    ({"client_id": "cli_3"}, "ix_tasks_client"),
    ({"assignee": "ann"}, "ix_tasks_assignee"),
    ({"stalled": True}, "ix_tasks_stalled"),
    ({"tags": ["vip"]}, "ix_task_tags_created"),
    ({"created": "range"}, "ix_tasks_created"),
    ({"statuses": ["completed"], "task_type": "ghl_action"}, "ix_tasks_list_type_status"),
    ({"statuses": ["completed"], "client_id": "cli_3"}, "ix_tasks_client_status"),
    ({"statuses": ["failed"], "created": "range"}, "ix_tasks_list_status"),
    ({"client_id": "cli_3", "created": "range"}, "ix_tasks_client"),
    ({"tags": ["vip"], "statuses": ["completed"]}, "ix_task_tags_created"),
]


def _rows(count: int) -> list[dict[str, Any]]:
    draw = random.Random(29)
    rows = []
    for i in range(count):
        status = draw.choice(STATUSES)
        rows.append(task_values(
            f"t_{i:06}", status=status, created_at=T0 + timedelta(seconds=i),
            queued_at=T0 if status == "queued" else None,
            task_type=draw.choice(TYPES),
            client_id=f"cli_{draw.randrange(40)}" if draw.random() < 0.7 else None,
            assignee=draw.choice(["ann", "bob", "cy"]) if draw.random() < 0.05 else None,
            stalled_since=T0 if status == "queued" and draw.random() < 0.2 else None))
    return rows


async def _seed(db: Database, count: int) -> None:
    rows = _rows(count)
    async with db.write() as conn:
        for start in range(0, count, 5000):
            await repo.tasks_insert(conn, rows[start:start + 5000])
        for row in rows[::50]:
            await repo.task_tags_set(conn, row["id"], ["vip"], replace=False)
    if not db.is_sqlite:
        async with db.write() as conn:
            await conn.execute(sa.text("ANALYZE"))


@contextmanager
def _caught(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The statements sent to the driver while the block runs, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
               _executemany: bool) -> None:
        sent.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)


async def _plan(db: Database, filters: dict[str, Any], after: Any) -> tuple[str, int]:
    """The plan of task_list's statement for ``filters`` and how many rows it gave."""
    kwargs = dict(filters)
    if kwargs.pop("created", None):
        kwargs["created"] = (T0 + timedelta(seconds=1000), T0 + timedelta(seconds=30_000))
    async with db.read() as conn:
        with _caught(db) as sent:
            rows = await repo.task_list(conn, statuses=kwargs.pop("statuses", None),
                                        task_type=kwargs.pop("task_type", None), search=None,
                                        limit=51, after=after, **kwargs)
        (statement, parameters), = sent
        if db.is_sqlite:
            plan = " | ".join(r[3] for r in await conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters))
        else:
            plan = " | ".join(r[0] for r in await conn.exec_driver_sql(
                "EXPLAIN " + statement, parameters))
    return plan, len(rows)


async def test_every_list_filter_reads_its_index_in_order(database: Database) -> None:
    count = 40_000 if not database.is_sqlite else 8_000
    await _seed(database, count)
    wrong = []
    for filters, index in CASES:
        first, found = await _plan(database, filters, None)
        assert found > 0, filters  # the data has rows for every case
        # A deep cursor: half the tasks, the newer half, paged through already.
        half = count // 2
        deep, _ = await _plan(database, filters, (T0 + timedelta(seconds=half), f"t_{half:06}"))
        for page, plan in (("first", first), ("deep", deep)):
            sorts = "TEMP B-TREE" in plan if database.is_sqlite else "Sort" in plan
            if index not in plan or sorts:
                wrong.append(f"{filters} {page} page: wants {index}, no sort; got {plan}")
        # Deep, the cursor bounds the index scan: it starts there, not at the newest task.
        bound = (")<(?,?)" in deep if database.is_sqlite else
                 any("Index Cond" in line and "< ROW(" in line for line in deep.split(" | ")))
        if not bound:
            wrong.append(f"{filters} deep page: the cursor is no index bound: {deep}")
    assert not wrong, "\n".join(wrong)


async def test_pages_follow_one_another_through_a_filter(database: Database) -> None:
    """The row-value cursor pages through a filter (and a tag's entries) without a gap or a
    repeat, newest first, and the date range bounds the pages."""
    rows = _rows(600)
    async with database.write() as conn:
        await repo.tasks_insert(conn, rows)
        for row in rows[::3]:
            await repo.task_tags_set(conn, row["id"], ["vip"], replace=False)
    created = (T0 + timedelta(seconds=100), T0 + timedelta(seconds=500))
    for filters, expected in (
            ({"statuses": ["completed"]}, [r for r in rows if r["status"] == "completed"]),
            ({"tags": ["vip"]}, rows[::3]),
            ({"created": created},
             [r for r in rows if created[0] <= r["created_at"] < created[1]])):
        seen: list[str] = []
        after = None
        while True:
            async with database.read() as conn:
                page = await repo.task_list(
                    conn, statuses=filters.get("statuses"), task_type=None, search=None,
                    limit=25, after=after, tags=filters.get("tags", ()),
                    created=filters.get("created", (None, None)))
            seen.extend(r.id for r in page)
            if len(page) < 25:
                break
            after = (page[-1].created_at, page[-1].id)
        assert seen == [r["id"] for r in reversed(expected)], filters
