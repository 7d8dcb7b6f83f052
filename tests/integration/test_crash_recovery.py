"""A server killed mid-attempt, and a server shut down gracefully, on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer
from tests.support.waiting import eventually


def _wait_attempts(server: ErrandsServer, task_id: str, count: int,
                   timeout: float = 20) -> list[dict[str, object]]:
    attempts: list[dict[str, object]] = eventually(
        lambda: server.call("tasks.executions", {"taskId": task_id}),
        lambda found: len(found) >= count, timeout=timeout, what=f"{count} attempts")
    return attempts


def test_sigkill_mid_attempt_is_recovered_as_lost(
        database_url: str, tmp_path: Path) -> None:
    env = {"LEASE_SECONDS": "2"}
    with HttpServer() as outside:
        outside.route("/slow", delay=5.0, json={"slow": True})
        first = ErrandsServer(database_url=database_url, workdir=tmp_path, env=env).start()
        try:
            task = first.call("tasks.create", {
                "title": "interrupted", "taskType": "api_call",
                "executionConfig": {"apiEndpoint": outside.url_for("/slow")}}, mutation=True)
            first.wait_for(task["id"], {"in_progress"})
            first.stop(signal.SIGKILL)
        finally:
            first.client.close()
        outside.route("/slow", json={"fast": True})
        second = ErrandsServer(database_url=database_url, workdir=tmp_path, env=env).start()
        try:
            done = second.wait_for(task["id"], {"completed", "failed"}, timeout=30)
            attempts = second.call("tasks.executions", {"taskId": task["id"]})
        finally:
            second.stop()
            second.client.close()
    assert done["status"] == "completed", done
    assert [a["status"] for a in attempts] == ["lost", "success"]
    assert [a["triggeredBy"] for a in attempts] == ["create", "recovery"]
    assert attempts[0]["workerId"] != attempts[1]["workerId"]
    assert done["errorCount"] == 0  # a lost attempt spends no retry


def test_graceful_shutdown_interrupts_without_spending_a_retry(
        sqlite_database_url: str, tmp_path: Path,
        errands_server: Callable[..., ErrandsServer]) -> None:
    env = {"SHUTDOWN_GRACE_SECONDS": "0.5"}
    with HttpServer() as outside:
        outside.route("/slow", delay=20.0, json={"slow": True})
        first = ErrandsServer(database_url=sqlite_database_url, workdir=tmp_path,
                              env=env).start()
        try:
            task = first.call("tasks.create", {
                "title": "long", "taskType": "api_call", "maxRetries": 0,
                "executionConfig": {"apiEndpoint": outside.url_for("/slow")}}, mutation=True)
            first.wait_for(task["id"], {"in_progress"})
            assert first.stop(signal.SIGTERM) == 0  # a clean drain exits 0
            assert "Traceback" not in first.log()
        finally:
            first.client.close()
        outside.route("/slow", json={"fast": True})
        second = errands_server(sqlite_database_url, env=env)
        done = second.wait_for(task["id"], {"completed", "failed"}, timeout=30)
        attempts = _wait_attempts(second, task["id"], 2)
    # maxRetries is 0: had the interruption spent a retry, the task would have failed.
    assert done["status"] == "completed"
    assert done["errorCount"] == 0
    assert [a["status"] for a in attempts] == ["cancelled", "success"]
    assert attempts[0]["error"] == "interrupted by server shutdown"
    assert [a["triggeredBy"] for a in attempts] == ["create", "recovery"]
