"""Two nodes on one PostgreSQL share each HighLevel location's budget (CONTRACT §14): a burst
of send_sms tasks run by both meets no 429 from a HighLevel that enforces its limit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.fakes.ghl import FakeGhl
from tests.support.server import ErrandsServer

TOKEN = "pit-nodes-token-1234"
LOCATION = "loc-nodes"
TERMINAL = {"completed", "failed", "cancelled", "rejected"}


def _file(server: ErrandsServer, inputs: list[dict[str, Any]]) -> None:
    resp = server.client.post(
        f"{server.url}/{','.join(['tasks.create'] * len(inputs))}", params={"batch": "1"},
        content=msgspec.json.encode({str(i): c for i, c in enumerate(inputs)}),
        headers={"content-type": "application/json"})
    assert resp.status_code == 200, resp.text


@pytest.mark.postgres
def test_two_nodes_burst_to_one_location_meets_no_429(tmp_path: Path, pg_url: str) -> None:
    limit, window, count = 10, 1.0, 60
    with FakeGhl(token=TOKEN, location_id=LOCATION, rate_limit=limit,
                 rate_window_seconds=window) as fake:
        env = {"GHL_BASE_URL": fake.base_url, "GHL_API_KEY": TOKEN,
               "GHL_LOCATION_ID": LOCATION, "GHL_RATE_LIMIT": str(limit),
               "GHL_RATE_WINDOW_SECONDS": str(window), "WORKER_CONCURRENCY": "16",
               "RETRY_BASE_SECONDS": "5"}
        nodes = [ErrandsServer(database_url=pg_url, workdir=tmp_path, env=env)
                 for _ in range(2)]
        try:
            for node in nodes:
                node.start()
            inputs = []
            for i in range(count):
                contact = fake.seed_contact(phone=f"+1555{i:07d}")
                inputs.append({"title": f"sms {i}", "taskType": "ghl_action",
                               "executionConfig": {"ghlAction": "send_sms",
                                                   "contactId": contact["id"],
                                                   "message": f"hello #{i}"}})
            started = time.monotonic()
            _file(nodes[0], inputs[: count // 2])
            _file(nodes[1], inputs[count // 2:])
            deadline = time.monotonic() + 120
            stats: dict[str, int] = {}
            while time.monotonic() < deadline:
                stats = nodes[0].call("system.stats")["tasksByStatus"]
                if sum(n for s, n in stats.items() if s in TERMINAL) >= count:
                    break
                time.sleep(0.2)
            print(f"burst: {count} tasks, {fake.count_429} 429s, "
                  f"{time.monotonic() - started:.1f} s")
            assert stats == {"completed": count}
            assert fake.count_429 == 0
            workers = {a["workerId"].split("/")[0]
                       for t in nodes[0].call("tasks.list", {"limit": 200})["items"]
                       for a in nodes[0].call("tasks.executions", {"taskId": t["id"]})}
            assert len(workers) == 2, "both nodes should have sent requests"
        finally:
            for node in nodes:
                node.stop()
                node.client.close()
