"""Kept counts (server/db/counts.py, migration 0018's triggers): after concurrent creates,
claims, completions, cancels, a change of client, deletes by retention and folds, on SQLite
and PostgreSQL, the kept counts equal a full count, every client's and each one's; a rebuild
restores counts that were tampered with."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from executors.base import PermanentError
from server.db import counts, retention
from server.db import repositories as repo
from server.db.engine import Database
from server.db.tables import task_counts, tasks
from tests.integration.test_core_in_process import Core, ScriptedExecutor, _task, build
from tests.support.clock import T0

__all__ = ["build"]  # the fixture, used here as it is there

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"completed", "failed", "cancelled"}


async def full_count(db: Database, client_id: str | None = None) -> dict[tuple[str, str], int]:
    """What system.stats reported before counts were kept: a scan of both tables."""
    async with db.read() as conn:
        by_status = await repo.task_counts_by_status(conn, client_id)
        attempts = await repo.execution_counts(conn, client_id)
    return ({("task", s): n for s, n in by_status.items() if n}
            | {("attempt", s): n for s, n in attempts.items() if n})


async def kept(db: Database, client_id: str | None = None) -> dict[tuple[str, str], int]:
    async with db.read() as conn:
        return await counts.counts_read(conn, client_id)


async def settled(core: Core, ids: list[str]) -> None:
    async def wait() -> None:
        while True:
            async with core.db.read() as conn:
                rows = await repo.tasks_by_ids(conn, ids)
            if all(rows[i].status in TERMINAL for i in ids if i in rows):
                return
            await asyncio.sleep(0.02)
    await asyncio.wait_for(wait(), 60)


async def test_kept_counts_equal_a_full_count_after_concurrent_work(
        build: Callable[[ScriptedExecutor], Core]) -> None:
    script: list[object] = [{"ok": i} if i % 3 else PermanentError("refused")
                            for i in range(200)]
    core = build(ScriptedExecutor(script))
    db = core.db
    assert await kept(db) == {}
    folding = True

    async def fold_meanwhile() -> None:
        while folding:
            await counts.fold(db)
            await asyncio.sleep(0.005)

    folder = asyncio.create_task(fold_meanwhile())
    await core.runner.start()
    try:
        first = await asyncio.gather(*(core.tasks.create(_task(f"a{i}")) for i in range(40)))
        # Held back (manual): cancelled while the runner works on the others.
        held = await asyncio.gather(*(core.tasks.create(_task(f"h{i}", execution_type="manual"))
                                      for i in range(10)))
        await asyncio.gather(*(core.tasks.cancel(t.id, by="test", reason="no")
                               for t in held[:5]))
        await settled(core, [t.id for t in first])
        # Some tasks change client, their attempts' counts with them.
        async with db.write() as conn:
            await conn.execute(tasks.update().where(tasks.c.id.in_([t.id for t in first[:10]]))
                               .values(client_id="cli_a"))
            await conn.execute(tasks.update().where(tasks.c.id.in_([t.id for t in held[5:8]]))
                               .values(client_id="cli_b"))
        # Retention deletes the ended ones while a second wave is created and run.
        core.clock.now = T0 + timedelta(days=1)
        second = [core.tasks.create(_task(f"b{i}")) for i in range(40)]
        pruned, made = await asyncio.gather(retention.prune(db, T0 + timedelta(hours=1),
                                                            batch=7),
                                            asyncio.gather(*second))
        await settled(core, [t.id for t in made])
    finally:
        await core.runner.stop(5)
        folding = False
        await folder
    assert pruned[0] == 45  # the first wave and the cancelled ones
    full = await full_count(db)
    assert full[("task", "completed")] + full[("task", "failed")] == 40
    assert await kept(db) == full
    for client in ("cli_a", "cli_b", "cli_none"):
        assert await kept(db, client) == await full_count(db, client)
    await counts.fold(db)
    assert await kept(db) == full
    async with db.read() as conn:  # folded: the base rows alone, one per group
        deltas = (await conn.execute(sa.select(sa.func.count()).select_from(task_counts)
                                     .where(~task_counts.c.base))).scalar_one()
    assert deltas == 0


async def test_a_rebuild_restores_tampered_counts(database: Database) -> None:
    async with database.write() as conn:
        await repo.tasks_insert(conn, [_row(f"t{i}", "queued" if i % 2 else "completed")
                                       for i in range(6)])
        await conn.execute(task_counts.insert(), [
            {"client_id": "", "kind": "task", "status": "queued", "n": 40},
            {"client_id": "cli_x", "kind": "attempt", "status": "success", "n": -2}])
    assert await kept(database) != await full_count(database)
    rebuilt = await counts.rebuild(database)
    assert rebuilt == await full_count(database) == {("task", "queued"): 3,
                                                     ("task", "completed"): 3}
    assert await kept(database) == rebuilt


async def test_a_fold_takes_many_deltas_in_chunks_into_one_base_row_per_group(
        database: Database) -> None:
    deltas = [{"client_id": f"cli_{i % 3}", "kind": "task", "status": "queued",
               "n": 1 if i % 4 else -1} for i in range(2 * counts.FOLD_CHUNK + 500)]
    async with database.write() as conn:
        await conn.execute(task_counts.insert(), deltas)
    before = await kept(database)
    assert await counts.fold(database) == len(deltas)
    assert await counts.fold(database) == 0  # nothing left: it only read
    assert await kept(database) == before
    for client in ("cli_0", "cli_1", "cli_2"):
        expected = sum(d["n"] for d in deltas if d["client_id"] == client)
        assert await kept(database, client) == {("task", "queued"): expected}
    async with database.read() as conn:
        rows = (await conn.execute(sa.select(task_counts.c.client_id, task_counts.c.base))).all()
    assert sorted(rows) == [("cli_0", True), ("cli_1", True), ("cli_2", True)]


def test_the_rebuild_command(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'errands.db'}"
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "server", "counts", "--rebuild"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    wrong = subprocess.run([sys.executable, "-m", "server", "counts"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert wrong.returncode == 2 and "counts --rebuild" in wrong.stderr


def _row(task_id: str, status: str) -> dict[str, object]:
    from tests.integration.test_repositories import task_values

    return task_values(task_id, status=status)
