"""Claim caps through a running server: a silent host or a slow task type never starves the
rest (HOST_CONCURRENCY, TYPE_CONCURRENCY); capped tasks wait queued, holding no slot."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer


def _statuses(server: ErrandsServer, ids: list[str]) -> Counter[str]:
    return Counter(server.call("tasks.get", {"id": i})["status"] for i in ids)


def _create(server: ErrandsServer, tasks: list[dict[str, Any]]) -> list[str]:
    return [server.call("tasks.create", t, mutation=True)["id"] for t in tasks]


def test_a_silent_host_does_not_starve_a_healthy_one(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    with HttpServer() as silent, HttpServer() as healthy:
        silent.route("/hang", delay=60.0, json={})  # accepts, never answers in time
        healthy.route("/ok", json={"ok": True})
        server = errands_server(sqlite_database_url, env={"WORKER_CONCURRENCY": "16"})
        hanging = _create(server, [{
            "title": f"silent {i}", "taskType": "api_call", "timeoutSeconds": 120,
            "executionConfig": {"apiEndpoint": silent.url_for("/hang"), "timeoutMs": 120_000},
        } for i in range(16)])
        server.wait_for(hanging[0], {"in_progress"})
        [ok] = _create(server, [{"title": "healthy", "taskType": "api_call",
                                 "executionConfig": {"apiEndpoint": healthy.url_for("/ok")}}])
        done = server.wait_for(ok, {"completed"}, timeout=10)
        stuck = _statuses(server, hanging)
    assert done["result"]["status"] == 200
    # HOST_CONCURRENCY (4): four hang in flight, the other twelve wait queued, none ended.
    assert stuck == {"in_progress": 4, "queued": 12}, stuck
    assert len(silent.requests_to("/hang")) == 4


def test_a_slow_task_type_over_its_cap_waits_queued(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    with HttpServer() as ghl, HttpServer() as healthy:
        ghl.route("/conversations/messages", delay=60.0, json={})
        healthy.route("/ok", json={"ok": True})
        server = errands_server(sqlite_database_url, env={
            "WORKER_CONCURRENCY": "16", "TYPE_CONCURRENCY": "ghl_action=2",
            "GHL_API_KEY": "k", "GHL_LOCATION_ID": "loc", "GHL_BASE_URL": ghl.url})
        slow = _create(server, [{
            "title": f"slow {i}", "taskType": "ghl_action", "timeoutSeconds": 120,
            "executionConfig": {"ghlAction": "send_sms", "contactId": f"c{i}",
                                "message": "hi"},
        } for i in range(50)])
        server.wait_for(slow[0], {"in_progress"})
        fast = _create(server, [{"title": f"api {i}", "taskType": "api_call",
                                 "executionConfig": {"apiEndpoint": healthy.url_for("/ok")}}
                                for i in range(5)])
        for task_id in fast:
            server.wait_for(task_id, {"completed"}, timeout=10)
        waiting = _statuses(server, slow)
    assert waiting == {"in_progress": 2, "queued": 48}, waiting
    assert len(ghl.requests_to("/conversations/messages")) == 2
