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
    """Under the defaults (CONTRACT §15: no fixed HOST_CONCURRENCY; one host may use every
    slot but an eighth): 40 tasks to a silent host all go in flight, and a healthy host's
    task still completes while every one of them still hangs."""
    with HttpServer() as silent, HttpServer() as healthy:
        silent.route("/hang", delay=60.0, json={})  # accepts, never answers in time
        healthy.route("/ok", json={"ok": True})
        server = errands_server(sqlite_database_url)
        hanging = _create(server, [{
            "title": f"silent {i}", "taskType": "api_call", "timeoutSeconds": 120,
            "executionConfig": {"apiEndpoint": silent.url_for("/hang"), "timeoutMs": 120_000},
        } for i in range(40)])
        for task_id in hanging:
            server.wait_for(task_id, {"in_progress"})
        [ok] = _create(server, [{"title": "healthy", "taskType": "api_call",
                                 "executionConfig": {"apiEndpoint": healthy.url_for("/ok")}}])
        done = server.wait_for(ok, {"completed"}, timeout=10)
        stuck = _statuses(server, hanging)
    assert done["result"]["status"] == 200
    assert stuck == {"in_progress": 40}, stuck  # none ended: it did not wait for them


def test_a_silent_host_keeps_a_reserve_free(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    """With 16 slots and no HOST_CONCURRENCY, one host holds at most 14 (an eighth kept):
    the rest wait queued, holding no slot, and say so; another host's task runs at once."""
    with HttpServer() as silent, HttpServer() as healthy:
        silent.route("/hang", delay=60.0, json={})
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
        reasons = {server.call("tasks.get", {"id": i})["statusReason"] for i in hanging
                   if server.call("tasks.get", {"id": i})["status"] == "queued"}
    assert done["result"]["status"] == 200
    assert stuck == {"in_progress": 14, "queued": 2}, stuck
    assert len(silent.requests_to("/hang")) == 14
    assert reasons <= {None, f"host cap ({silent.url.split('//')[1].rstrip('/')})"}


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


SPELLINGS = ("127.0.0.1", "127.1", "2130706433", "0x7f000001", "127.0.0.1.")


def test_a_silent_host_spelt_five_ways_and_its_webhooks_hold_one_host_s_slots(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    """HOST_CONCURRENCY counts by the canonical host (case, trailing dot, every numeric IPv4
    spelling), and a notification task counts under its webhook receiver's host: 20 api_calls
    to one silent server spelt five ways and 40 notifications to a webhook on it hold four of
    the sixteen slots, so a healthy task is claimed while they all still wait."""
    with HttpServer() as silent, HttpServer() as healthy:
        silent.route("/hang", delay=60.0, json={})
        silent.route("/hook", delay=60.0, json={})
        healthy.route("/ok", json={"ok": True})
        server = errands_server(sqlite_database_url, env={"WORKER_CONCURRENCY": "16",
                                                          "HOST_CONCURRENCY": "4"})
        hanging = _create(server, [{
            "title": f"silent {i}", "taskType": "api_call", "timeoutSeconds": 120,
            "executionConfig": {"timeoutMs": 120_000, "apiEndpoint": silent.url_for(
                "/hang").replace("127.0.0.1", SPELLINGS[i % len(SPELLINGS)])},
        } for i in range(20)])
        hook = server.call("webhooks.create", {
            "name": "silent receiver",
            "url": silent.url_for("/hook").replace("127.0.0.1", "0x7F000001")}, mutation=True)
        hanging += _create(server, [{
            "title": f"notify {i}", "taskType": "notification", "timeoutSeconds": 120,
            "executionConfig": {"message": "hi", "webhookId": hook["id"]},
        } for i in range(40)])
        server.wait_for(hanging[0], {"in_progress"})
        [ok] = _create(server, [{"title": "healthy", "taskType": "api_call",
                                 "executionConfig": {"apiEndpoint": healthy.url_for("/ok")}}])
        done = server.wait_for(ok, {"completed"}, timeout=45)
        stuck = _statuses(server, hanging)
        answered = len(silent.requests_to("/hang")) + len(silent.requests_to("/hook"))
    assert done["result"]["status"] == 200
    # one host: four in flight, the other 56 queued, none ended before the healthy task ran
    assert stuck == {"in_progress": 4, "queued": 56}, stuck
    assert answered == 4
