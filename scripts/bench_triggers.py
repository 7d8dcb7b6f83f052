"""Triggers (CONTRACT §16): how long a signed POST /hooks/<id> takes until its task is
queued, and how many calls a second one trigger accepts.

    .venv/bin/python scripts/bench_triggers.py [--latency 200] [--burst 2000]
        [--concurrency 16] [--database-url URL]

Starts the server (``python -m server``, SQLite in a temporary directory unless
``--database-url``) with TRIGGER_RATE_LIMIT=0, a trigger whose template is an automatic
api_call to the local sink (scripts/bench_sink.py), signs each body with the official
``standardwebhooks`` library. Latency: one call at a time; the 202 answer comes after the
task's transaction committed it ``queued`` (checked on a sample). Throughput: ``--burst``
calls from ``--concurrency`` senders, each a distinct webhook-id; 202s per second.
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

import httpx
import msgspec
from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench_sink import running_sink  # noqa: E402
from tests.support.databases import sqlite_url  # noqa: E402
from tests.support.server import ErrandsServer  # noqa: E402


def signed(hook: Webhook, msg_id: str, body: bytes) -> dict[str, str]:
    now = datetime.now(UTC)
    return {"content-type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": hook.sign(msg_id, now, body.decode())}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def burst(url: str, hook: Webhook, total: int, concurrency: int) -> tuple[int, float]:
    ids = iter(range(total))
    accepted = 0

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        for i in ids:
            body = msgspec.json.encode({"n": i, "name": f"contact {i}"})
            answer = await client.post(url, content=body, headers=signed(hook, f"b{i}", body))
            accepted += answer.status_code == 202

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))
        return accepted, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=int, default=200, help="calls one at a time")
    parser.add_argument("--burst", type=int, default=2000, help="calls for the throughput")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_sink() as sink:
        workdir = Path(tmp)
        with ErrandsServer(database_url=args.database_url or sqlite_url(workdir),
                           workdir=workdir, env={"TRIGGER_RATE_LIMIT": "0",
                                                 "LOG_LEVEL": "WARNING"}) as server:
            trigger = server.call("triggers.create", {"name": "bench", "template": {
                "title": "contact {{event.n}}", "taskType": "api_call",
                "executionConfig": {"apiEndpoint": sink, "apiMethod": "POST",
                                    "body": {"name": "{{event.name}}"}}}}, mutation=True)
            hook = Webhook(trigger["secret"])
            url = trigger["url"]
            times: list[float] = []
            client = httpx.Client(timeout=60)
            for i in range(args.latency + 20):  # 20 to warm up
                body = msgspec.json.encode({"n": i, "name": f"contact {i}"})
                headers = signed(hook, f"l{i}", body)
                started = time.perf_counter()
                answer = client.post(url, content=body, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                assert answer.status_code == 202, answer.text
                if i >= 20:
                    times.append(elapsed)
                if i % 50 == 0:
                    task = server.call("tasks.get", {"id": answer.json()["taskId"]})
                    assert task["queuedAt"] is not None, task
            # the same task through tasks.create, for comparison on the same machine
            creates: list[float] = []
            for i in range(args.latency):
                task_input = {"title": f"contact {i}", "taskType": "api_call",
                              "executionConfig": {"apiEndpoint": sink, "apiMethod": "POST",
                                                  "body": {"name": f"contact {i}"}}}
                started = time.perf_counter()
                server.call("tasks.create", task_input, mutation=True)
                creates.append((time.perf_counter() - started) * 1000)
            client.close()
            print(f"trigger POST -> task queued, {len(times)} calls one at a time: "
                  f"p50 {statistics.median(times):.2f} ms, p99 {percentile(times, 99):.2f} ms")
            print(f"(tasks.create over tRPC, same task, one at a time: "
                  f"p50 {statistics.median(creates):.2f} ms, "
                  f"p99 {percentile(creates, 99):.2f} ms)")
            accepted, seconds = asyncio.run(burst(url, hook, args.burst, args.concurrency))
            print(f"one trigger, {args.burst} calls from {args.concurrency} senders: "
                  f"{accepted} accepted in {seconds:.2f} s = {accepted / seconds:.0f} calls/s")


if __name__ == "__main__":
    main()
