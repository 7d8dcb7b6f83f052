"""What resolving a connection costs an attempt (CONTRACT §14), in microseconds.

    python scripts/bench_connections.py [--rounds 2000] [--database sqlite|postgres|both]

Migrates a fresh database (a temporary SQLite file, or a new PostgreSQL database dropped
afterwards), makes a client with a ``ghl`` connection and a ``bearer`` connection through
:class:`server.services.clients.ConnectionService`, then times what the runner does at an
attempt's start (``resolve``: the rows read, the values opened with AES-GCM, and for api_call
the credentials put in the config), for an api_call naming its connection and a ghl_action of
the client. Prints the mean and p50/p99 per resolution (wall time) and this process's CPU time per
resolution (threads included: aiosqlite's), which a loaded machine disturbs less.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.clients import ClientCreate, ConnectionCreate
from server.db import repositories as repo
from server.db.engine import Database
from server.services.clients import (
    ClientService,
    ConnectionService,
    apply_to_api_call,
)
from server.services.secrets_box import SecretBox
from tests.support.databases import postgres_database, sqlite_url


def now() -> datetime:
    return datetime.now(UTC)


async def measure(url: str, rounds: int) -> None:
    db = Database(url)
    await db.migrate()
    try:
        clients = ClientService(db, now)
        connections = ConnectionService(db, SecretBox(b"bench-secret-key"), now)
        client = await clients.create(ClientCreate(name="Bench", ghl_location_id="loc-1"))
        await connections.create(ConnectionCreate(name="bench-ghl", kind="ghl",
                                                  values={"token": "pit-bench-123456"},
                                                  client_id=client.id))
        await connections.create(ConnectionCreate(name="bench-bearer", kind="bearer",
                                                  values={"token": "tok-bench-123456"}))
        api = {"apiEndpoint": "https://example.com/", "authType": "connection",
               "connection": "bench-bearer"}
        ghl = {"ghlAction": "send_sms", "contactId": "c1", "message": "hi"}
        for label, task_type, config, client_id in (
                ("api_call, named bearer connection", "api_call", api, None),
                ("ghl_action, the client's ghl connection", "ghl_action", ghl, client.id)):
            times: list[float] = []
            cpu = time.process_time()
            for _ in range(rounds):
                started = time.perf_counter()
                resolved = await connections.resolve(task_type, config, client_id)
                assert resolved is not None
                if task_type == "api_call" and resolved.kind is not None:
                    apply_to_api_call(config, resolved.kind, resolved.values)
                times.append((time.perf_counter() - started) * 1e6)
            cpu = (time.process_time() - cpu) / rounds * 1e6
            times.sort()
            print(f"  {label}: mean {statistics.fmean(times):.0f} µs, "
                  f"p50 {times[len(times) // 2]:.0f} µs, p99 {times[int(len(times) * .99)]:.0f} µs;"
                  f" this process's CPU {cpu:.0f} µs")
        times = []
        cpu = time.process_time()
        for _ in range(rounds):  # the yardstick: one read of one row by key, same machine
            started = time.perf_counter()
            async with db.read() as conn:
                await repo.task_get(conn, "tsk_none")
            times.append((time.perf_counter() - started) * 1e6)
        cpu = (time.process_time() - cpu) / rounds * 1e6
        times.sort()
        print(f"  for comparison, one task read by id (no such task): "
              f"mean {statistics.fmean(times):.0f} µs, p50 {times[len(times) // 2]:.0f} µs; "
              f"CPU {cpu:.0f} µs")
        plain = {"ghlAction": "send_sms", "contactId": "c1", "message": "hi"}
        started = time.perf_counter()
        for _ in range(rounds):
            await connections.resolve("ghl_action", plain, None)
        print(f"  ghl_action without client or connection (no read): "
              f"{(time.perf_counter() - started) / rounds * 1e6:.2f} µs")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    if args.database in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            print(f"SQLite, {args.rounds} resolutions each")
            asyncio.run(measure(sqlite_url(Path(tmp)), args.rounds))
    if args.database in ("postgres", "both"):
        with postgres_database() as url:
            print(f"PostgreSQL, {args.rounds} resolutions each")
            asyncio.run(measure(url, args.rounds))


if __name__ == "__main__":
    main()
