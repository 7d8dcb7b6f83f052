"""kill -9 with tasks in flight: a node restarted at once (SQLite and PostgreSQL) takes its
own attempts back at start (no wait for its leases); on PostgreSQL a node that never returns
has its work taken over by another once its leases end. Replays carry the same
Idempotency-Key; crashes fail nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer
from tests.support.waiting import eventually

IN_FLIGHT = 6


def _start_work(server: ErrandsServer, outside: HttpServer) -> list[str]:
    ids = [server.call("tasks.create", {
        "title": f"in flight {i}", "taskType": "api_call", "timeoutSeconds": 120,
        "executionConfig": {"apiEndpoint": outside.url_for("/work"), "apiMethod": "POST",
                            "timeoutMs": 120_000}}, mutation=True)["id"]
           for i in range(IN_FLIGHT)]
    eventually(lambda: len(outside.requests_to("/work")) >= IN_FLIGHT, timeout=20,
               interval=0.02, what="the attempts started")
    return ids


def _wait_all(server: ErrandsServer, ids: list[str], timeout: float) -> list[dict[str, Any]]:
    return [server.wait_for(i, {"completed", "failed"}, timeout=timeout) for i in ids]


def _check_replays(server: ErrandsServer, outside: HttpServer, ids: list[str],
                   done: list[dict[str, Any]]) -> None:
    assert [t["status"] for t in done] == ["completed"] * len(ids)
    assert all(t["errorCount"] == 0 for t in done)  # a crash spends no retry
    sent = outside.requests_to("/work")
    print(f"extra requests for one crash: {len(sent) - len(ids)} ({len(ids)} in flight)")
    for task_id in ids:
        mine = [r.headers for r in sent if r.headers["idempotency-key"] == task_id]
        assert len(mine) == 2, mine  # the lost attempt and its replay, same key
        assert mine[0]["x-errands-execution-id"] != mine[1]["x-errands-execution-id"]
        attempts = server.call("tasks.executions", {"taskId": task_id})
        assert [(a["status"], a["triggeredBy"]) for a in attempts] == [
            ("lost", "create"), ("success", "recovery")]


def test_a_node_restarted_at_once_takes_its_own_attempts_back(
        database_url: str, tmp_path: Path) -> None:
    # A 30 s lease: recovery well inside it shows the node did not wait for its leases.
    env = {"NODE_ID": "node-a", "LEASE_SECONDS": "30", "WORKER_CONCURRENCY": "8",
           "HOST_CONCURRENCY": "16"}
    with HttpServer() as outside:
        outside.route("/work", delay=60.0, json={})
        first = ErrandsServer(database_url=database_url, workdir=tmp_path, env=env).start()
        try:
            ids = _start_work(first, outside)
            first.kill()
        finally:
            first.client.close()
        outside.route("/work", json={"ok": True})
        second = ErrandsServer(database_url=database_url, workdir=tmp_path, env=env)
        second.start(timeout=60)
        ready = time.monotonic()
        try:
            # The node took its attempts back while starting: done well inside the 30 s lease.
            done = _wait_all(second, ids, timeout=20)
            print(f"recovered {time.monotonic() - ready:.2f} s after the restarted node was "
                  "ready")
            _check_replays(second, outside, ids, done)
        finally:
            second.stop()
            second.client.close()


@pytest.mark.postgres
def test_a_node_that_never_returns_has_its_work_taken_over(
        pg_url: str, tmp_path: Path) -> None:
    lease = 3.0
    with HttpServer() as outside:
        outside.route("/work", delay=60.0, json={})
        a = ErrandsServer(database_url=pg_url, workdir=tmp_path,
                          env={"NODE_ID": "node-a", "LEASE_SECONDS": str(lease),
                               "HOST_CONCURRENCY": "16"}).start()
        b = None
        try:
            ids = _start_work(a, outside)
            b = ErrandsServer(database_url=pg_url, workdir=tmp_path,
                              env={"NODE_ID": "node-b", "LEASE_SECONDS": str(lease),
                                   "HOST_CONCURRENCY": "16"}).start()
            outside.route("/work", json={"ok": True})
            a.kill()
            killed = time.monotonic()
            done = _wait_all(b, ids, timeout=lease + 15)
            print(f"taken over {time.monotonic() - killed:.2f} s after the kill "
                  f"(LEASE_SECONDS={lease})")
            _check_replays(b, outside, ids, done)
            workers = {a_["workerId"].split("/")[0]
                       for t in ids for a_ in b.call("tasks.executions", {"taskId": t})}
            assert workers == {"node-a", "node-b"}
        finally:
            a.client.close()
            if b is not None:
                b.stop()
                b.client.close()
