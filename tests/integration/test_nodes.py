"""Several processes on one PostgreSQL share the work; each task runs once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
)
from tests.support.http_servers import HttpServer
from tests.support.server import ROOT, ErrandsServer, free_port


@pytest.mark.postgres
def test_two_nodes_share_tasks_and_run_each_once(tmp_path: Path) -> None:
    require_postgres()
    url, name = create_postgres_database()
    try:
        with HttpServer() as outside:
            outside.route("/work", delay=0.02, json={"ok": True})
            a = ErrandsServer(database_url=url, workdir=tmp_path, env={"LEASE_SECONDS": "5"})
            b = ErrandsServer(database_url=url, workdir=tmp_path, env={"LEASE_SECONDS": "5"})
            a.start()
            b.start()
            try:
                count = 120
                for node, start in ((a, 0), (b, count // 2)):
                    body = {str(i): {"title": f"n{start + i}", "taskType": "api_call",
                                     "executionConfig": {"apiEndpoint": outside.url_for("/work")}}
                            for i in range(count // 2)}
                    resp = node.client.post(
                        f"{node.url}/{','.join(['tasks.create'] * (count // 2))}?batch=1",
                        content=msgspec.json.encode(body),
                        headers={"content-type": "application/json"})
                    assert resp.status_code == 200
                deadline = time.monotonic() + 60
                stats = a.call("system.stats")
                while time.monotonic() < deadline:
                    stats = a.call("system.stats")
                    if stats["tasksByStatus"].get("completed", 0) == count:
                        break
                    time.sleep(0.1)
                assert stats["tasksByStatus"] == {"completed": count}
                assert stats["executed"] == count and stats["succeeded"] == count
                assert len(outside.requests_to("/work")) == count
                workers = set()
                page = a.call("tasks.list", {"limit": 200})
                for task in page["items"]:
                    (attempt,) = a.call("tasks.executions", {"taskId": task["id"]})
                    workers.add(attempt["workerId"])
                assert len(workers) == 2, "both nodes should have taken work"
            finally:
                a.stop()
                b.stop()
                a.client.close()
                b.client.close()
    finally:
        drop_postgres_database(name)


def test_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    env = {"HOST": "0.0.0.0", "PORT": str(free_port()), "ERRANDS_API_KEYS": "",
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "server"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "without ERRANDS_API_KEYS" in done.stderr


def test_invalid_setting_is_named_at_start(tmp_path: Path) -> None:
    env = {"PORT": "eighty", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "server"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "PORT" in done.stderr and "eighty" in done.stderr


@pytest.mark.postgres
def test_subscribers_see_changes_made_on_another_node(tmp_path: Path) -> None:
    require_postgres()
    url, name = create_postgres_database()
    try:
        a = ErrandsServer(database_url=url, workdir=tmp_path).start()
        b = ErrandsServer(database_url=url, workdir=tmp_path).start()
        try:
            with httpx.Client(timeout=20) as client, client.stream(
                    "GET", f"{a.url}/tasks.onChange", params={"input": "{}"},
                    headers={"accept": "text/event-stream"}) as stream:
                lines = stream.iter_lines()
                assert next(lines) == "event: connected"
                task = b.call("tasks.create", {
                    "title": "remote", "taskType": "api_call", "executionType": "manual",
                    "executionConfig": {"apiEndpoint": "https://example.com"}}, mutation=True)
                b.call("tasks.cancel", {"id": task["id"]}, mutation=True)
                seen: list[tuple[str, str]] = []
                deadline = time.monotonic() + 15  # pings (every 1 s) keep the loop turning
                for line in lines:
                    if time.monotonic() > deadline:
                        break
                    if line.startswith("data: {"):
                        event = msgspec.json.decode(line[6:])
                        if event.get("task", {}).get("id") == task["id"]:
                            seen.append((event["type"], event["task"]["status"]))
                    if len(seen) == 2:
                        break
            assert seen == [("created", "pending"), ("status", "cancelled")]
        finally:
            for node in (a, b):
                node.stop()
                node.client.close()
    finally:
        drop_postgres_database(name)
