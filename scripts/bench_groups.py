"""Groups (CONTRACT §17): a group of 100 api_call subtasks, from ``tasks.createGroup`` to the
group ``completed``, against 100 separate tasks, from their create (one tRPC batch of 100
``tasks.create``) to the last one ``completed``.

    .venv/bin/python scripts/bench_groups.py [--subtasks 100] [--rounds 5]
        [--postgres | --database-url URL]

Starts the server (``python -m server``, SQLite in a temporary directory; ``--postgres``: a
fresh database on the local PostgreSQL, dropped after; or ``--database-url``); every api_call
POSTs to the local sink (scripts/bench_sink.py, a separate process). The end is seen by
polling every 10 ms (``tasks.get`` of the group;
``system.stats`` completed count for the separate tasks), so each figure may be up to ~10 ms
late. Rounds alternate the two; the median and the range are printed, with the load average
(the machine is shared: figures move with it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench_sink import running_sink  # noqa: E402
from tests.support.databases import postgres_database, sqlite_url  # noqa: E402
from tests.support.server import ErrandsServer  # noqa: E402


def subtask(sink: str, n: int) -> dict[str, Any]:
    return {"title": f"contact {n}", "taskType": "api_call",
            "executionConfig": {"apiEndpoint": sink, "apiMethod": "POST",
                                "body": {"contact": n}}}


def group_round(server: ErrandsServer, sink: str, n: int, r: int) -> float:
    started = time.perf_counter()
    group = server.call("tasks.createGroup", {
        "title": f"round {r}", "subtasks": [subtask(sink, i) for i in range(n)]},
        mutation=True)
    while True:
        got = server.call("tasks.get", {"id": group["id"]})
        if got["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    assert got["status"] == "completed", got["statusReason"]
    assert len(got["result"]["results"]) == n
    return elapsed


def completed(server: ErrandsServer) -> int:
    return int(server.call("system.stats")["tasksByStatus"].get("completed", 0))


def separate_round(server: ErrandsServer, sink: str, n: int) -> float:
    before = completed(server)
    body = msgspec.json.encode({str(i): subtask(sink, i) for i in range(n)})
    started = time.perf_counter()
    answer = server.client.post(f"{server.url}/{','.join(['tasks.create'] * n)}?batch=1",
                                content=body, headers={"content-type": "application/json",
                                                       **server.headers()})
    assert answer.status_code == 200, answer.text[:500]
    while completed(server) < before + n:
        time.sleep(0.01)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subtasks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    if args.postgres:
        with postgres_database() as url:
            run(args, url)
    else:
        run(args, args.database_url)


def run(args: argparse.Namespace, database_url: str | None) -> None:
    load_before = os.getloadavg()
    groups: list[float] = []
    separate: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, running_sink() as sink:
        workdir = Path(tmp)
        url = database_url or sqlite_url(workdir)
        with ErrandsServer(database_url=url, workdir=workdir,
                           env={"LOG_LEVEL": "WARNING"}) as server:
            group_round(server, sink, args.subtasks, -1)  # warm up both paths
            separate_round(server, sink, args.subtasks)
            for r in range(args.rounds):
                groups.append(group_round(server, sink, args.subtasks, r))
                separate.append(separate_round(server, sink, args.subtasks))
    load_after = os.getloadavg()
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"{database}, {args.subtasks} api_call tasks to a local sink, {args.rounds} rounds "
          f"(load average {load_before[0]:.2f} before, {load_after[0]:.2f} after, "
          f"{os.cpu_count()} cores, shared machine)")
    for name, values in (("group: createGroup -> group completed", groups),
                         ("separate: batch of tasks.create -> last completed", separate)):
        print(f"  {name:52s} median {statistics.median(values):.3f} s "
              f"(min {min(values):.3f}, max {max(values):.3f})")
    ratio = statistics.median(groups) / statistics.median(separate)
    print(f"  group / separate: {ratio:.2f}")


if __name__ == "__main__":
    main()
