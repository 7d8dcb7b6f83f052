"""The rollups (server/db/rollups.py, migrations 0020_rollups and 0021_rollups_all) answer
exactly what the tasks and attempts answer: task_summary, execution_stats (percentiles of
duration buckets included) and the overview's hourly series, for every client and per
client, over whole hours and days and over periods that end mid-hour, on SQLite and
PostgreSQL — after inserts, status
changes, a task moved to another client, deletions, concurrent writers, folds, a rebuild, and
for the rows a migration found there."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command

from server.core import durations
from server.db import reports, rollups
from server.db import repositories as repo
from server.db.engine import Database, alembic_config
from server.db.tables import attempt_durations, attempt_hours, task_executions, task_hours, tasks
from server.services.insights import Insights
from tests.integration.test_repositories import RANK, T0, task_values

TYPES = ("api_call", "notification", "report_generation")
CLIENTS = (None, "cli_a", "cli_b")
ENDS = (("success", None), ("failed", "TimeoutError"), ("failed", "HttpError"),
        ("failed", None), ("cancelled", None))
PERIODS = [(T0 - timedelta(hours=2), T0 + timedelta(hours=30)),  # everything
           (T0 + timedelta(hours=3), T0 + timedelta(hours=9)),
           (T0 + timedelta(hours=5), T0 + timedelta(hours=6)),
           # whole UTC days inside, hours and minutes at either end (rollups and attempts)
           (T0 - timedelta(hours=9, minutes=17), T0 + timedelta(hours=39, seconds=1)),
           (T0 + timedelta(hours=3, minutes=30), T0 + timedelta(hours=20, minutes=15))]


def a_task(rng: random.Random, n: int) -> dict[str, Any]:
    priority = rng.choice(list(RANK))
    return task_values(f"tsk_{n:06d}", status=rng.choice(("queued", "pending", "scheduled")),
                       priority=priority, task_type=rng.choice(TYPES),
                       client_id=rng.choice(CLIENTS),
                       created_at=T0 + timedelta(minutes=rng.randrange(24 * 60)))


def an_attempt(task_id: str, number: int, started: datetime) -> dict[str, Any]:
    return {"id": f"exe_{task_id[4:]}_{number}", "task_id": task_id, "attempt_number": number,
            "triggered_by": "automation", "status": "running", "started_at": started,
            "worker_id": "w1", "steps": [], "artifacts": []}


async def create(db: Database, rng: random.Random, first: int, count: int) -> None:
    async with db.write() as conn:
        for n in range(first, first + count):
            await repo.task_insert(conn, a_task(rng, n), [])


async def run_attempts(db: Database, rng: random.Random, ids: list[str]) -> None:
    """Each task: one to three attempts, each started (running) in one transaction and ended
    in the next, the task's status following; a few stay running."""
    for task_id in ids:
        async with db.read() as conn:
            created = (await conn.execute(sa.select(tasks.c.created_at)
                                          .where(tasks.c.id == task_id))).scalar_one()
        for number in range(1, rng.randint(1, 3) + 1):
            started = created + timedelta(minutes=rng.randrange(180))
            async with db.write() as conn:
                await conn.execute(tasks.update().where(tasks.c.id == task_id)
                                   .values(status="in_progress"))
                await conn.execute(task_executions.insert().values(
                    an_attempt(task_id, number, started)))
            if rng.random() < 0.1:
                break  # left running
            status, error_type = rng.choice(ENDS)
            async with db.write() as conn:
                await conn.execute(task_executions.update().where(
                    task_executions.c.task_id == task_id,
                    task_executions.c.attempt_number == number).values(
                    status=status, error_type=error_type,
                    duration_ms=rng.choice((5, 10, 10, 20, 250, 1000, rng.randrange(2000))),
                    completed_at=started + timedelta(seconds=1)))
                await conn.execute(tasks.update().where(tasks.c.id == task_id).values(
                    status="completed" if status == "success" else "failed"))


async def answers(db: Database, *, raw: bool) -> list[Any]:
    out: list[Any] = []
    async with db.read() as conn:
        for start, end in PERIODS:
            for client in (None, *CLIENTS[1:]):
                out.append(await reports.task_summary(conn, start, end, client, raw=raw))
                out.append(await reports.execution_stats(conn, start, end, client, raw=raw))
    for hours_later in (10, 20, 30):
        insights = Insights(db, lambda h=hours_later: T0 + timedelta(hours=h, minutes=17))
        for client in (None, "cli_a"):
            out.append(await insights.series(client, raw=raw))
    return out


async def assert_rollups_agree(db: Database) -> None:
    kept = await answers(db, raw=False)
    assert kept == await answers(db, raw=True)
    async with db.write() as conn:
        await rollups.rollups_fold(conn)
    assert await answers(db, raw=False) == kept


async def test_rollups_answer_what_the_tasks_answer(database: Database) -> None:
    rng = random.Random(29)
    await create(database, rng, 0, 120)
    async with database.read() as conn:
        ids = list((await conn.execute(sa.select(tasks.c.id).order_by(tasks.c.id))).scalars())
    await run_attempts(database, rng, ids[:90])
    await assert_rollups_agree(database)
    async with database.write() as conn:  # a task to another client, one's priority, deletions
        await conn.execute(tasks.update().where(tasks.c.id == ids[3])
                           .values(client_id="cli_b", task_type="notification"))
        await conn.execute(tasks.update().where(tasks.c.id == ids[4]).values(priority="urgent"))
        await conn.execute(tasks.delete().where(tasks.c.id.in_(ids[5:9])))
        await conn.execute(task_executions.delete().where(task_executions.c.task_id == ids[10]))
    await assert_rollups_agree(database)
    data = (await answers(database, raw=False))[:2]
    assert data[0]["total"] == 116 and data[1]["attempts"] > 0  # not vacuous


async def test_concurrent_writers_and_folds_keep_rollups_exact(database: Database) -> None:
    async def writer(k: int) -> None:
        rng = random.Random(k)
        await create(database, rng, k * 1000, 15)
        await run_attempts(database, rng, [f"tsk_{n:06d}" for n in range(k * 1000, k * 1000 + 15)])

    async def folder() -> None:
        for _ in range(10):
            async with database.write() as conn:
                await rollups.rollups_fold(conn)
            await asyncio.sleep(0.01)

    async def node_folder() -> None:  # as the node's maintenance folds
        for _ in range(10):
            await rollups.rollups_fold_db(database)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(writer(k) for k in range(6)), folder(), node_folder())
    await assert_rollups_agree(database)


async def test_the_nodes_fold_folds_every_delta(database: Database) -> None:
    rng = random.Random(11)
    count = 2150  # one task_hours delta each
    async with database.write() as conn:
        for n in range(count):
            await repo.task_insert(conn, a_task(rng, n), [])
    await run_attempts(database, rng, [f"tsk_{n:06d}" for n in range(40)])
    kept = await answers(database, raw=True)
    await rollups.rollups_fold_db(database)
    async with database.read() as conn:
        assert not await rollups.rollups_pending(conn)
        folded = await conn.scalar(sa.select(sa.func.sum(task_hours.c.tasks)).where(
            task_hours.c.client_id == "*"))
    assert folded == count
    assert await answers(database, raw=False) == kept


async def test_a_rebuild_makes_the_same_rows_folded(database: Database) -> None:
    rng = random.Random(7)
    await create(database, rng, 0, 40)
    await run_attempts(database, rng, [f"tsk_{n:06d}" for n in range(40)])
    kept = await answers(database, raw=True)
    async with database.write() as conn:
        await conn.execute(task_hours.delete())  # lost: the rebuild makes them again
        await rollups.rollups_rebuild(conn)
    assert await answers(database, raw=False) == kept
    async with database.read() as conn:
        for table in (task_hours, attempt_hours, attempt_durations):
            deltas = await conn.scalar(sa.select(sa.func.count()).where(table.c.delta))
            assert deltas == 0


async def test_the_migration_counts_the_rows_already_there(database_url: str) -> None:
    db = Database(database_url, timeout_seconds=60)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0019_search"))
        rng = random.Random(3)
        await create(db, rng, 0, 30)
        await run_attempts(db, rng, [f"tsk_{n:06d}" for n in range(20)])
        await db.migrate()
        await run_attempts(db, rng, [f"tsk_{n:06d}" for n in range(20, 30)])
        await assert_rollups_agree(db)
    finally:
        await db.dispose()


def test_whole_hours_and_days_and_what_is_outside_them() -> None:
    hour, day = rollups.HOUR, rollups.DAY
    assert rollups.whole(T0, T0 + 3 * hour, hour) == (T0, T0 + 3 * hour)
    assert rollups.whole(T0, T0 + timedelta(minutes=30), hour) is None
    odd = T0 + timedelta(microseconds=1)
    assert rollups.whole(odd, T0 + 2 * hour, hour) == (T0 + hour, T0 + 2 * hour)
    assert rollups.outside(odd, T0 + 2 * hour, (T0 + hour, T0 + 2 * hour)) == [
        (odd, T0 + hour)]
    midnight = T0.replace(hour=0)  # T0 is 09:00 UTC
    assert rollups.whole(T0, T0 + 2 * day, day) == (midnight + day, midnight + 2 * day)
    assert rollups.outside(T0, T0 + 2 * day, (midnight + day, midnight + 2 * day)) == [
        (T0, midnight + day), (midnight + 2 * day, T0 + 2 * day)]
    assert rollups.outside(T0, T0 + hour, None) == [(T0, T0 + hour)]


def test_duration_buckets_in_python_and_in_sql_agree() -> None:
    import sqlite3

    values = [*range(300), 1000, 1023, 1024, 1039, 1040, 5000, 65_535, 65_536, 3_600_000,
              86_400_000, 2**45 + 12345]
    conn = sqlite3.connect(":memory:")
    in_sql = [conn.execute(f"SELECT {durations.bucket_sql('?')}".replace("?", str(v)))
              .fetchone()[0] for v in values]
    assert in_sql == [durations.bucket_of(v) for v in values]
    for v in values:
        lowest = durations.bucket_of(v)
        assert lowest <= v < lowest + durations.bucket_width(lowest)
        assert abs(durations.bucket_value(lowest) - v) <= v / 128
    assert [durations.bucket_of(v) for v in (127, 128, 129, 130)] == [127, 128, 128, 130]
    assert durations.bucket_value(1024) == 1031  # [1024, 1040): its middle


async def explain(db: Database, statement: str) -> str:
    """The plan of ``statement``; on PostgreSQL with sequential scans priced out, since a
    test's few rows are cheaper to scan: the plan shows whether an index can serve it."""
    async with db.read() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if not sqlite:
            await conn.exec_driver_sql("SET enable_seqscan = off")
        try:
            rows = await conn.exec_driver_sql(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ")
                                              + statement)
            return "\n".join(str(row[-1] if sqlite else row[0]) for row in rows)
        finally:
            if not sqlite:
                await conn.exec_driver_sql("RESET enable_seqscan")


async def test_a_fold_reads_only_the_deltas_and_a_read_only_its_client_and_period(
        database: Database) -> None:
    """However many folded rows a year leaves, a fold reads the deltas (and the zeros) through
    their partial indexes, and a report reads one client's (or the all-clients') folded rows of
    its period through uq_*_key, plus the period's deltas."""
    rng = random.Random(5)
    await create(database, rng, 0, 30)
    await run_attempts(database, rng, [f"tsk_{n:06d}" for n in range(30)])
    async with database.read() as conn:
        dialect = conn.dialect
    for rollup in rollups._ROLLUPS:
        fold_insert, *_, zeros = rollups._fold_sql(rollup, dialect.name)
        assert f"ix_{rollup.table}_deltas" in await explain(database, fold_insert)
        assert f"ix_{rollup.table}_zeros" in await explain(database, zeros)
    t = task_hours
    for client in (None, "cli_a"):
        rows = rollups._rows(t, T0, T0 + timedelta(days=30), client, t.c.status, t.c.tasks)
        plan = await explain(database, str(sa.select(rows.c.status, sa.func.sum(rows.c.tasks))
                                           .group_by(rows.c.status).compile(
            dialect=dialect, compile_kwargs={"literal_binds": True})))
        assert "uq_task_hours_key" in plan and "ix_task_hours_deltas" in plan, plan
