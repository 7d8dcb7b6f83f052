"""The tasks table's planner statistics (server/db/planner_stats.py): analyzed when enough
changed, so that a claim over a grown queue goes through ``ix_tasks_claim`` instead of
fetching and sorting every queued task; the Writer counts the changes it commits."""

from __future__ import annotations

from datetime import timedelta

from server.db import repositories as repo
from server.db.engine import Database
from server.db.planner_stats import MIN_CHANGES, PlannerStats
from server.services.changes import Signals, Writer
from tests.integration.test_repositories import T0, task_values
from tests.support.clock import StillClock


async def test_the_writer_counts_the_changes_it_commits(database: Database) -> None:
    writer = Writer(database, Signals(), StillClock())
    await repo_insert(database, 2)
    async with database.read() as conn:
        rows = list((await repo.tasks_by_ids(conn, ["t_00000", "t_00001"])).values())
    async with writer.transaction() as cs:
        for row in rows:
            cs.emit("status", row)
    async with writer.transaction():
        pass
    assert writer.changes == 2


async def repo_insert(db: Database, count: int) -> None:
    async with db.write() as conn:
        await repo.tasks_insert(conn, [
            task_values(f"t_{i:05}", queued_at=T0 + timedelta(milliseconds=i))
            for i in range(count)])


async def test_a_grown_queue_is_analyzed_and_claimed_through_its_index(
        database: Database) -> None:
    changes = [0]
    stats = PlannerStats(database, lambda: changes[0])
    await repo_insert(database, 30_000 if not database.is_sqlite else 10)
    changes[0] = MIN_CHANGES - 1
    assert not await stats.refresh()  # below the threshold: nothing runs
    changes[0] = 30_000
    ran = await stats.refresh()
    if database.is_sqlite:
        assert not ran  # SQLite plans without statistics
        return
    assert ran
    assert not await stats.refresh()  # nothing changed since
    changes[0] += 2_900  # below a tenth of the 30,000 rows it counted
    assert not await stats.refresh()
    changes[0] += 100
    assert await stats.refresh()
    async with database.read() as conn:
        # The claim's pick as the runner sends it; planned on the statistics, nothing
        # switched off. Before the ANALYZE (30,000 rows planned as a handful) it fetched
        # every queued task and sorted them.
        plan = " ".join(r[0] for r in await conn.exec_driver_sql(
            "EXPLAIN SELECT tasks.id, tasks.task_type, tasks.dest_host FROM tasks "
            "WHERE tasks.status = 'queued' ORDER BY tasks.priority_rank DESC, "
            "tasks.deadline, tasks.fair_tag, tasks.queued_at, tasks.id LIMIT 64 "
            "FOR UPDATE SKIP LOCKED"))
    assert "ix_tasks_claim" in plan and "Sort" not in plan, plan
