"""Heartbeats, completions, claims and rescues of two nodes under load on PostgreSQL lock task
rows in one order (by id): repeated runs finish every task and never meet a deadlock."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.support.http_servers import HttpServer, Reply
from tests.support.server import ErrandsServer

TASKS = 240


@pytest.mark.postgres
@pytest.mark.parametrize("run", [1, 2])
def test_heartbeats_and_completions_under_load_never_deadlock(
        pg_url: str, tmp_path: Path, run: int) -> None:
    # A short lease: heartbeats every 0.4 s over rows that completions end at the same time.
    env = {"LEASE_SECONDS": "1.2", "WORKER_CONCURRENCY": "48", "HOST_CONCURRENCY": "64"}
    pace = random.Random(run)
    with HttpServer() as outside:
        outside.route("/work", handler=lambda _req: Reply(json={}, delay=pace.uniform(0, 0.8)))
        nodes = [ErrandsServer(database_url=pg_url, workdir=tmp_path,
                               env={**env, "NODE_ID": f"node-{n}"}).start() for n in "ab"]
        try:
            batch = [{"title": f"t{i}", "taskType": "api_call",
                      "executionConfig": {"apiEndpoint": outside.url_for("/work")}}
                     for i in range(TASKS)]
            ids: list[str] = []
            for i in range(0, TASKS, 20):
                node = nodes[(i // 20) % 2]
                ids += [node.call("tasks.create", t, mutation=True)["id"]
                        for t in batch[i:i + 20]]
            deadline = time.monotonic() + 120
            while True:
                done = nodes[0].call("system.stats")["tasksByStatus"].get("completed", 0)
                if done >= TASKS or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            statuses = {nodes[0].call("tasks.get", {"id": i})["status"] for i in ids}
        finally:
            for node in nodes:
                node.stop()
                node.client.close()
        logs = "".join(node.log() for node in nodes)
    assert statuses == {"completed"}
    assert "deadlock detected" not in logs
    assert " ERROR " not in logs, logs[-3000:]
