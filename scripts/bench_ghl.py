"""send_sms tasks through the running server against the fake HighLevel: time and 429s.

    python scripts/bench_ghl.py [--tasks 300] [--rate-limit 100] [--window 2] \
        [--database sqlite|postgres] [--workers 16] [--nodes 1]

Starts the fake HighLevel in this process and the real server (``python -m server``) as a
subprocess on a fresh database (a temporary SQLite file, or a new PostgreSQL database
dropped afterwards), both with the same rate window, files ``--tasks`` send_sms tasks in batched
``tasks.create`` POSTs (100 a batch), and waits until all have ended. ``--nodes 2`` (PostgreSQL)
starts two servers on the one database and files half the tasks through each: they share the
location's budget through the database (server/services/ghl_budget.py). Prints the elapsed time,
the floor the rate limit sets (the executor keeps 5 % of the window's slots spare and holds a
slot for a window after its answer), and how many 429s the fake answered.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec

from tests.fakes.ghl import FakeGhl
from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    sqlite_url,
)
from tests.support.server import ErrandsServer

TOKEN = "pit-bench-token"
LOCATION = "loc-bench"
TERMINAL = {"completed", "failed", "cancelled", "rejected"}


def _file(server: ErrandsServer, inputs: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(inputs), 100):
        chunk = inputs[start:start + 100]
        resp = server.client.post(
            f"{server.url}/{','.join(['tasks.create'] * len(chunk))}", params={"batch": "1"},
            content=msgspec.json.encode({str(i): c for i, c in enumerate(chunk)}),
            headers={"content-type": "application/json"})
        resp.raise_for_status()
        ids += [answer["result"]["data"]["id"] for answer in resp.json()]
    return ids


def _statuses(server: ErrandsServer) -> dict[str, int]:
    counts: dict[str, int] = server.call("system.stats")["tasksByStatus"]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--rate-limit", type=int, default=100)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--nodes", type=int, default=1)
    args = parser.parse_args()
    if args.nodes > 1 and args.database != "postgres":
        parser.error("--nodes > 1 needs --database postgres")
    pg_name = None
    try:
        if args.database == "postgres":
            url, pg_name = create_postgres_database()
            run(args, url)
        else:
            run(args, None)
    finally:
        if pg_name is not None:
            drop_postgres_database(pg_name)


def run(args: argparse.Namespace, database_url: str | None) -> None:

    with tempfile.TemporaryDirectory() as tmp, FakeGhl(
            token=TOKEN, location_id=LOCATION, rate_limit=args.rate_limit,
            rate_window_seconds=args.window) as fake:
        workdir = Path(tmp)
        env = {"GHL_BASE_URL": fake.base_url, "GHL_API_KEY": TOKEN,
               "GHL_LOCATION_ID": LOCATION, "GHL_RATE_LIMIT": str(args.rate_limit),
               "GHL_RATE_WINDOW_SECONDS": str(args.window),
               "WORKER_CONCURRENCY": str(args.workers)}
        servers = [ErrandsServer(database_url=database_url or sqlite_url(workdir),
                                 workdir=workdir, env=env) for _ in range(args.nodes)]
        try:
            for server in servers:
                server.start()
            inputs: list[dict[str, Any]] = []
            for i in range(args.tasks):
                contact = fake.seed_contact(phone=f"+1555{i:07d}")
                inputs.append({"title": f"sms {i}", "taskType": "ghl_action",
                               "executionConfig": {"ghlAction": "send_sms",
                                                   "contactId": contact["id"],
                                                   "message": f"hello #{i}"}})
            started = time.monotonic()
            share = math.ceil(len(inputs) / len(servers))
            for n, server in enumerate(servers):
                _file(server, inputs[n * share:(n + 1) * share])
            filed = time.monotonic() - started
            server = servers[0]
            while True:
                counts = _statuses(server)
                if sum(n for s, n in counts.items() if s in TERMINAL) >= args.tasks:
                    break
                time.sleep(0.1)
            elapsed = time.monotonic() - started
        finally:
            for server in servers:
                server.stop()
    slots = max(1, args.rate_limit - args.rate_limit // 20)
    floor = (math.ceil(args.tasks / slots) - 1) * args.window * 1.02
    print(f"{args.tasks} send_sms tasks, {args.rate_limit} requests per {args.window:g} s, "
          f"{args.workers} workers, {args.nodes} node(s), {server.database_url.split(':')[0]}")
    print(f"  filed in {filed:.2f} s; all ended in {elapsed:.2f} s "
          f"(rate-limit floor about {floor:.1f} s); {args.tasks / elapsed:.1f} tasks/s")
    print(f"  by status: {counts}; 429 answers from HighLevel: {fake.count_429}; "
          f"messages sent: {len(fake.messages)}")


if __name__ == "__main__":
    main()
