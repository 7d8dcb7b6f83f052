"""The running server, end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.server import ErrandsServer


def test_api_call_task_completes(database_url: str,
                                 errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url)
    health = server.call("system.health")
    assert health["status"] == "ok"
    task = server.call("tasks.create", {
        "title": "ping", "taskType": "api_call",
        "executionConfig": {"apiEndpoint": f"{server.base}/healthz"}}, mutation=True)
    done = server.wait_for(task["id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    attempts = server.call("tasks.executions", {"taskId": task["id"]})
    assert [a["status"] for a in attempts] == ["success"]
    assert attempts[0]["triggeredBy"] == "create"
