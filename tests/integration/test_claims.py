"""Claims: never more than asked (PostgreSQL, fresh table and after ANALYZE), several claimers
take disjoint sets, and the caps per type and per host hold within one claim."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from server.core.claims import Candidate, Caps, fit, room
from server.core.ids import new_id
from server.db import repositories as repo
from server.db.engine import Database
from server.db.tables import tasks

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _task(i: int, task_type: str = "api_call", host: str | None = "a.example") -> dict[str, Any]:
    return {
        "id": new_id("tsk"), "title": f"t{i}", "task_type": task_type,
        "execution_type": "automatic", "assigned_to_bot": True, "requires_human_review": False,
        "execution_config": {}, "priority": "medium", "priority_rank": 2, "max_retries": 3,
        "timeout_seconds": 30, "notify_on_complete": False, "notify_on_failure": False,
        "depends_on": [], "status": "queued", "error_count": 0, "created_at": NOW,
        "updated_at": NOW, "queued_at": NOW + timedelta(microseconds=i), "attempts": 0,
        "next_trigger": "create", "dest_host": host,
    }


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    from tests.support.databases import (
        create_postgres_database,
        drop_postgres_database,
        require_postgres,
    )

    require_postgres()
    url, name = await asyncio.to_thread(create_postgres_database)
    db = Database(url)
    try:
        await db.migrate()
        yield db
    finally:
        await db.dispose()
        await asyncio.to_thread(drop_postgres_database, name)


async def _claim(db: Database, limit: int, worker: str, *, hold: float = 0.0,
                 skip_types: tuple[str, ...] = (), skip_hosts: tuple[str, ...] = ()
                 ) -> list[str]:
    async with db.write() as conn:
        picked = await repo.task_claim_candidates(conn, dialect=db.dialect, limit=limit,
                                                  skip_types=skip_types, skip_hosts=skip_hosts)
        rows = await repo.task_claim_ids(conn, [r.id for r in picked], worker=worker, now=NOW,
                                         lease_until=NOW + timedelta(seconds=30))
        if hold:
            await asyncio.sleep(hold)  # keep the locks while the others claim
        return [r.id for r in rows]


@pytest.mark.postgres
@pytest.mark.parametrize("analyze", [False, True], ids=["fresh", "analyzed"])
async def test_one_claim_never_takes_more_than_asked_on_postgres(
        pg: Database, analyze: bool) -> None:
    async with pg.write() as conn:
        await conn.execute(tasks.insert(), [_task(i) for i in range(3000)])
    if analyze:
        async with pg.write() as conn:
            await conn.execute(sa.text("ANALYZE tasks"))
    # Eight claimers at once, each holding its locks a moment, so each one's statement meets
    # rows locked by the others (what made the sub-select re-run and over-take).
    claims = await asyncio.gather(*(_claim(pg, 16, f"w{i}", hold=0.05) for i in range(8)))
    sizes = [len(c) for c in claims]
    print("tasks per claim:", sizes)
    assert all(size <= 16 for size in sizes), sizes
    assert sum(sizes) == 8 * 16, sizes  # SKIP LOCKED: each still finds its 16
    claimed = [tid for c in claims for tid in c]
    assert len(set(claimed)) == len(claimed)  # disjoint
    async with pg.read() as conn:
        counts = await repo.task_counts_by_status(conn)
        owners = dict((await conn.execute(
            sa.select(tasks.c.lease_owner, sa.func.count()).where(tasks.c.status == "in_progress")
            .group_by(tasks.c.lease_owner))).all())
    assert counts == {"queued": 3000 - 128, "in_progress": 128}
    assert owners == {f"w{i}": 16 for i in range(8)}


@pytest.mark.postgres
async def test_claim_leaves_out_full_types_and_hosts(pg: Database) -> None:
    rows = ([_task(i, "browser_automation", "slow.example") for i in range(50)]
            + [_task(50 + i, "api_call", "silent.example") for i in range(50)]
            + [_task(100 + i, "api_call", "ok.example") for i in range(3)])
    async with pg.write() as conn:
        await conn.execute(tasks.insert(), rows)
    got = await _claim(pg, 16, "w", skip_types=("browser_automation",),
                       skip_hosts=("silent.example",))
    async with pg.read() as conn:
        hosts = Counter(r.dest_host for r in await conn.execute(
            sa.select(tasks.c.dest_host).where(tasks.c.id.in_(got))))
    assert hosts == {"ok.example": 3}


# --- the pure part: what fits --------------------------------------------------------------

def _c(i: int, task_type: str, host: str | None) -> Candidate:
    return Candidate(f"t{i}", task_type, host)


@pytest.mark.parametrize(
    ("running", "candidates", "caps", "paused", "want"),
    [
        # the free slots bound the claim
        ([], [_c(i, "api_call", f"h{i}") for i in range(20)], Caps({}, 4), frozenset(),
         [f"t{i}" for i in range(16)]),
        # one host: at most 4, the others still fit
        ([], [_c(i, "api_call", "slow") for i in range(10)] + [_c(10, "api_call", "ok")],
         Caps({}, 4), frozenset(), ["t0", "t1", "t2", "t3", "t10"]),
        # host already has 3 running: one more
        ([("api_call", "slow")] * 3, [_c(i, "api_call", "slow") for i in range(5)],
         Caps({}, 4), frozenset(), ["t0"]),
        # type cap counts what runs and what this claim takes
        ([("browser_automation", None)], [_c(i, "browser_automation", None) for i in range(9)]
         + [_c(9, "api_call", None)], Caps({"browser_automation": 4}, 4), frozenset(),
         ["t0", "t1", "t2", "t9"]),
        # paused types take nothing; others unaffected
        ([], [_c(0, "ghl_action", None), _c(1, "api_call", None)], Caps({}, 4),
         frozenset({"ghl_action"}), ["t1"]),
        # tasks with no host are not capped by host
        ([], [_c(i, "reminder", None) for i in range(6)], Caps({}, 1), frozenset(),
         [f"t{i}" for i in range(6)]),
    ],
)
def test_fit_respects_free_slots_and_every_cap(
        running: list[tuple[str, str | None]], candidates: list[Candidate], caps: Caps,
        paused: frozenset[str], want: list[str]) -> None:
    left = room(concurrency=16, running=running, caps=caps, paused=paused)
    assert [c.id for c in fit(candidates, left, caps.per_host).chosen] == want


def test_room_names_full_types_and_hosts() -> None:
    left = room(concurrency=6, running=[("browser_automation", "a")] * 2 + [("api_call", "b")],
                caps=Caps({"browser_automation": 2, "data_extraction": 2}, 1),
                paused=frozenset({"ghl_action"}))
    assert left.free == 3
    assert left.full_types == {"browser_automation", "ghl_action"}
    assert left.full_hosts == {"a", "b"}
