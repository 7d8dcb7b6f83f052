"""Progress' cost per browser task (CONTRACT §17): CPU ms of the server's process with and
without progress reports.

    .venv/bin/python scripts/bench_progress.py [--tasks 40] [--rounds 3] [--step-ms 0]
                                               [--database-url URL]

One in-process node (SQLite in a temporary directory unless ``--database-url`` names a
PostgreSQL database) runs ``--tasks`` browser_automation tasks of 8 steps (the /form flow of
tests/support/pages.py: navigate, type, click, type, click, wait, extract, screenshot; with
``--step-ms`` a wait of that many ms after each) in a real Chromium, with one live
subscriber to task events (as an open console is). "with" is the node as it runs; "without"
gives its runner no LiveBoard, so nothing is reported. Rounds alternate the two; the table
shows the median CPU ms per task of this process (event loop, the SQLite thread; not
Chromium, whose work does not change, nor PostgreSQL's server), the difference, and the
progress writes (transactions with their event) per task. The machine is shared: the load
average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.tasks import TaskCreate
from server.core.settings import Settings
from server.db import tables
from server.node.app import Node
from tests.support.pages import serve_pages


def _steps(site_url: str, step_ms: int) -> list[dict[str, object]]:
    steps: list[dict[str, object]] = [
        {"action": "navigate", "url": site_url},
        {"action": "type", "selector": "#name", "text": "Ada"},
        {"action": "click", "selector": "#next"},
        {"action": "type", "selector": "#email", "text": "ada@example.com"},
        {"action": "click", "selector": "#submit"},
        {"action": "wait", "selector": "#result"},
        {"action": "extract", "name": "thanks", "selector": "#result"},
        {"action": "screenshot", "name": "done"},
    ]
    if not step_ms:
        return steps
    out: list[dict[str, object]] = []
    for step in steps:
        out += [step, {"action": "wait", "ms": step_ms}]
    return out


async def _round(node: Node, steps: list[dict[str, object]], tasks: int, live: bool
                 ) -> tuple[float, float]:
    """(CPU ms per task, progress writes per task) of real browser tasks."""
    node.runner.live = node.live if live else None
    writes = node.live.writes
    ids = []
    cpu = time.process_time()
    for n in range(tasks):
        created = await node.tasks.create(TaskCreate(
            title=f"bench {n}", task_type="browser_automation",
            execution_config={"steps": steps}, max_retries=0))
        ids.append(created.id)
    pending = set(ids)
    while pending:
        await asyncio.sleep(0.05)
        for task_id in list(pending):
            if (await node.tasks.get(task_id)).status in ("completed", "failed"):
                pending.discard(task_id)
    spent = (time.process_time() - cpu) * 1000
    return spent / tasks, (node.live.writes - writes) / tasks


async def _reports(node: Node, steps: list[dict[str, object]], tasks: int, gap: float,
                   live: bool) -> tuple[float, float]:
    """(CPU ms per task, writes per task) of ``reports`` progress reports ``gap`` seconds
    apart for each of ``tasks`` running tasks of ``steps`` (8 at a time), without a browser:
    the progress machinery alone. ``live`` False: the same loop, reporting nothing."""
    reports = len(steps) + 1
    ids = []
    for n in range(tasks):
        created = await node.tasks.create(TaskCreate(
            title=f"reports {n}", task_type="browser_automation", execution_type="manual",
            execution_config={"steps": steps}))
        ids.append(created.id)
    async with node.db.write() as conn:  # running under this node's lease, as if claimed
        await conn.execute(tables.tasks.update().where(tables.tasks.c.id.in_(ids)).values(
            status="in_progress", lease_owner=node.worker_id))
    writes = node.live.writes

    async def one(task_id: str) -> None:
        attempt = node.live.start(task_id, f"exe_{task_id}", lambda: ()) if live else None
        for i in range(reports):
            if attempt is not None:
                attempt.progress(i, reports - 1, f"click '#step-{i}'")
            await asyncio.sleep(gap)
        if live:
            await node.live.end(f"exe_{task_id}")

    cpu = time.process_time()
    for at in range(0, tasks, 8):
        await asyncio.gather(*(one(t) for t in ids[at:at + 8]))
    spent = (time.process_time() - cpu) * 1000
    return spent / tasks, (node.live.writes - writes) / tasks


async def _drain(queue: asyncio.Queue[object]) -> None:
    while True:
        await queue.get()


def _median(rows: list[tuple[float, float]], at: int) -> float:
    return statistics.median(r[at] for r in rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--step-ms", type=int, default=0)
    parser.add_argument("--database-url")
    parser.add_argument("--no-browser", action="store_true",
                        help="only the progress machinery, without Chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="errands-bench-progress-") as tmp, \
            serve_pages() as site:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        settings = Settings.from_env({
            "DATABASE_URL": url, "ALLOW_PRIVATE_NETWORK": "true", "ERRANDS_API_KEYS": "",
            "ERRANDS_SECRET_KEY": "bench-progress-" + "0" * 32,
            "ARTIFACTS_DIR": f"{tmp}/artifacts", "WORKER_CONCURRENCY": "8",
            "BROWSER_CONCURRENCY": "4", "LOG_LEVEL": "WARNING",
            "CHROMIUM_PATH": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")},
            dotenv=None)
        node = Node(settings, lambda: datetime.now(UTC))
        await node.start()
        sub = node.hub.subscribe(None)  # an open console
        drain = asyncio.create_task(_drain(sub.queue))  # type: ignore[arg-type]
        steps = _steps(site.url("/form"), args.step_ms)
        machinery: dict[tuple[str, bool], list[tuple[float, float]]] = {}
        real: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        try:
            for _ in range(args.rounds):
                for name, gap in (("slow steps (0.3 s)", 0.3), ("fast steps (burst)", 0.0)):
                    for live in (False, True):
                        machinery.setdefault((name, live), []).append(
                            await _reports(node, steps, args.tasks, gap, live))
            if not args.no_browser:
                await _round(node, steps, 4, True)  # warm up: Chromium, the pool, caches
                for _ in range(args.rounds):
                    for live in (False, True):
                        real[live].append(await _round(node, steps, args.tasks, live))
        finally:
            drain.cancel()
            node.hub.unsubscribe(sub)
            await node.stop()
    db = "PostgreSQL (its server's CPU not counted)" if url.startswith("postgresql") \
        else "SQLite"
    print(f"{db}; {args.tasks} tasks x {args.rounds} rounds (medians); load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"progress machinery alone: {len(steps) + 1} reports a task ({len(steps)} steps), "
          "one live subscriber")
    print(f"  {'':24} {'CPU ms/task':>12} {'writes/task':>12}")
    for name in ("slow steps (0.3 s)", "fast steps (burst)"):
        cost = _median(machinery[(name, True)], 0) - _median(machinery[(name, False)], 0)
        print(f"  {name:24} {cost:12.2f} {_median(machinery[(name, True)], 1):12.1f}")
    if real[True]:
        without, with_ = _median(real[False], 0), _median(real[True], 0)
        print(f"real browser tasks of {len(steps)} steps (this process's CPU; noisy when "
              f"the machine is loaded)")
        print(f"  without progress {without:8.1f} ms/task; with {with_:8.1f} ms/task "
              f"({_median(real[True], 1):.1f} writes/task): {with_ - without:+.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
