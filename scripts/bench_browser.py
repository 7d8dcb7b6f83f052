"""P5, browser tasks per second: Errands against a browser launched per task.

    .venv/bin/python scripts/bench_browser.py [--tasks 20] [--concurrency 4]

Each task is browser_automation on a local page (navigate, extract, screenshot).
"server" files the tasks through the running server (one tRPC batch) and times them from the
create to the last completion, with BROWSER_CONCURRENCY=--concurrency; "shared" runs them on
one BrowserPool through the executor directly, with the network guard off as the server
runs here (ALLOW_PRIVATE_NETWORK=true: the page is on loopback) and on ("guard on": every
connection through the guard's proxy, the page's loopback address allow-listed as a public
one would pass); "per task" gives every task its own pool, so
its own Chromium launch and shutdown (the peer: what a script without a pool does). All keep
``--concurrency`` tasks in flight. The table shows tasks/s, the ratio to the peer (target:
>= 5 tasks/s through the server on 2 cores) and the CPU seconds per task of the whole process
tree (this script, the server, Playwright's driver and Chromium's processes, the ones that
ended during the run included), which drifts far less than throughput on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec

from executors.base import ExecutionContext, TaskSpec
from executors.browser import BrowserAutomationExecutor
from executors.browser_pool import BrowserPool
from outbound import NetworkGuard
from schemas.configs import BrowserAutomationConfig
from server.node.artifacts import FileArtifactStore
from tests.support.pages import serve_pages


def _tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and its descendants, children already reaped included
    (utime + stime + cutime + cstime of every live process in the tree)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = sum(int(v) for v in fields[11:15])
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(ticks.get(pid, 0) for pid in tree) / tick


class _Cpu:
    """CPU seconds of this process tree between ``start`` and ``stop``."""

    def start(self) -> None:
        self.began = _tree_cpu(os.getpid())

    def stop(self) -> float:
        self.spent = _tree_cpu(os.getpid()) - self.began
        return self.spent


def _task(url: str) -> TaskSpec:
    config = msgspec.convert({"steps": [
        {"action": "navigate", "url": url},
        {"action": "extract", "name": "prices", "selector": ".price", "all": True},
        {"action": "screenshot", "name": "page"},
    ]}, BrowserAutomationConfig)
    return TaskSpec(id="bench", title="bench", task_type="browser_automation", config=config,
                    timeout_seconds=300)


def _context(store: FileArtifactStore) -> ExecutionContext:
    return ExecutionContext(task_id="bench", execution_id="bench", attempt_number=1,
                            triggered_by="manual", worker_id="bench",
                            clock=lambda: datetime.now(UTC), artifacts_sink=store)


def _pool(concurrency: int, *, guarded: bool = False) -> BrowserPool:
    guard = (NetworkGuard(allow_private=False, allowed_networks=["127.0.0.1/32"]) if guarded
             else NetworkGuard(allow_private=True))
    return BrowserPool(chromium_path=None, concurrency=concurrency, guard=guard)


async def _shared(url: str, tasks: int, concurrency: int, store: FileArtifactStore,
                  cpu: _Cpu, *, guarded: bool = False) -> float:
    pool = _pool(concurrency, guarded=guarded)
    executor = BrowserAutomationExecutor(pool)
    async with pool.context():  # launch outside the timing, as a running server would have
        pass
    cpu.start()
    started = time.perf_counter()
    await asyncio.gather(*(executor.execute(_task(url), _context(store)) for _ in range(tasks)))
    elapsed = time.perf_counter() - started
    cpu.stop()
    await pool.close()
    return elapsed


async def _per_task(url: str, tasks: int, concurrency: int, store: FileArtifactStore,
                    cpu: _Cpu) -> float:
    slots = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with slots:
            pool = _pool(1)
            try:
                await BrowserAutomationExecutor(pool).execute(_task(url), _context(store))
            finally:
                await pool.close()

    cpu.start()
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(tasks)))
    elapsed = time.perf_counter() - started
    cpu.stop()
    return elapsed


def _through_server(url: str, tasks: int, concurrency: int, workdir: Path, cpu: _Cpu) -> float:
    from tests.support.server import ErrandsServer

    env = {"BROWSER_CONCURRENCY": str(concurrency), "WORKER_CONCURRENCY": str(concurrency * 2),
           "LOG_LEVEL": "WARNING"}
    config = {"steps": [{"action": "navigate", "url": url},
                        {"action": "extract", "name": "prices", "selector": ".price",
                         "all": True},
                        {"action": "screenshot", "name": "page"}]}
    with ErrandsServer(database_url=f"sqlite+aiosqlite:///{workdir / 'b.db'}",
                       workdir=workdir, env=env) as server:
        warm = server.call("tasks.create", {"title": "warm-up", "taskType": "browser_automation",
                                            "executionConfig": config}, mutation=True)
        server.wait_for(warm["id"], {"completed"}, timeout=120)  # the browser is launched
        body = {str(i): {"title": f"b{i}", "taskType": "browser_automation",
                         "executionConfig": config} for i in range(tasks)}
        cpu.start()
        started = time.perf_counter()
        resp = server.client.post(f"{server.url}/{','.join(['tasks.create'] * tasks)}?batch=1",
                                  content=msgspec.json.encode(body),
                                  headers={"content-type": "application/json"})
        ids = [item["result"]["data"]["id"] for item in resp.json()]
        for task_id in ids:
            done = server.wait_for(task_id, {"completed", "failed"}, timeout=300)
            if done["status"] != "completed":
                raise RuntimeError(f"task failed: {done['lastError']}")
        elapsed = time.perf_counter() - started
        cpu.stop()
        return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with serve_pages("127.0.0.1") as site, tempfile.TemporaryDirectory() as tmp:
        store = FileArtifactStore(Path(tmp))
        url = site.url("/products")
        cpus = (_Cpu(), _Cpu(), _Cpu(), _Cpu())
        served = await asyncio.to_thread(_through_server, url, args.tasks, args.concurrency,
                                         Path(tmp), cpus[0])
        shared = await _shared(url, args.tasks, args.concurrency, store, cpus[1])
        guarded = await _shared(url, args.tasks, args.concurrency, store, cpus[2],
                                guarded=True)
        per_task = await _per_task(url, args.tasks, args.concurrency, store, cpus[3])
    peer = args.tasks / per_task
    print(f"P5 — {args.tasks} browser tasks (navigate + extract + screenshot, local page), "
          f"{args.concurrency} at a time; machine: {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'':<32} {'tasks/s':>8} {'seconds':>8} {'vs peer':>8} {'CPU s/task':>11}")
    for label, elapsed, cpu in (("errands, through the server", served, cpus[0]),
                                ("errands executor, shared pool", shared, cpus[1]),
                                ("  the same, guard on", guarded, cpus[2]),
                                ("peer: a browser per task", per_task, cpus[3])):
        rate = args.tasks / elapsed
        print(f"{label:<32} {rate:>8.2f} {elapsed:>8.2f} {rate / peer:>7.2f}x "
              f"{cpu.spent / args.tasks:>11.3f}")
    print("(target: >= 5 tasks/s through the server on 2 cores)")


if __name__ == "__main__":
    asyncio.run(main())
