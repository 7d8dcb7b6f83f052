"""Flow control through a running server (CONTRACT §15): fairness across clients, concurrency
keys, rate limits, debounce, a task's own retry policy, and the checks of its fields. The
cross-node parts (two PostgreSQL nodes) are in tests/integration/test_flow_nodes.py."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
import pytest

from tests.support.http_servers import HttpServer, ReceivedRequest, Reply
from tests.support.server import ErrandsServer, TRPCCallError
from tests.support.waiting import eventually


def _api(url: str, **extra: Any) -> dict[str, Any]:
    return {"title": "call", "taskType": "api_call", "executionConfig": {"apiEndpoint": url},
            **extra}


def create_batch(server: ErrandsServer, tasks: list[dict[str, Any]], size: int = 100
                 ) -> list[str]:
    """tasks.create in tRPC batches of ``size``; the ids in order."""
    ids: list[str] = []
    for start in range(0, len(tasks), size):
        part = tasks[start:start + size]
        resp = server.client.post(
            f"{server.url}/{','.join(['tasks.create'] * len(part))}?batch=1",
            content=msgspec.json.encode({str(i): t for i, t in enumerate(part)}),
            headers={"content-type": "application/json"}, timeout=120)
        assert resp.status_code == 200, resp.text[:500]
        ids += [item["result"]["data"]["id"] for item in resp.json()]
    return ids


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_one_task_of_another_client_is_not_behind_ten_thousand(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    """Client A queues 10,000 tasks (to one slow host, so they fill every slot it may
    take), then client B one to the same host: B's task starts at the next free slot, while
    A's backlog is still almost whole (round-robin across clients within a priority)."""
    with HttpServer() as sink:
        sink.route("/slow", delay=0.5, json={"ok": True})
        server = errands_server(sqlite_database_url)
        a = server.call("clients.create", {"name": "client a"}, mutation=True)["id"]
        b = server.call("clients.create", {"name": "client b"}, mutation=True)["id"]
        server.call("system.setAutorun", {"enabled": False}, mutation=True)
        create_batch(server, [_api(sink.url_for("/slow"), clientId=a) for _ in range(10_000)])
        server.call("system.setAutorun", {"enabled": True}, mutation=True)
        eventually(lambda: server.call("system.stats")["running"], lambda n: n >= 40,
                   what="A's tasks running")
        [task_b] = create_batch(server, [_api(sink.url_for("/slow"), clientId=b)])
        done = server.wait_for(task_b, {"completed"}, timeout=60)
        left = server.call("system.stats", {"clientId": a})["tasksByStatus"].get("queued", 0)
        sink.route("/slow", json={"ok": True})  # let the rest go quickly at teardown
    wait_ms = (_at(done["startedAt"]) - _at(done["queuedAt"])).total_seconds() * 1000
    print(f"client B's task waited {wait_ms:.0f} ms behind 10,000 of client A")
    assert left > 9_000, left


def test_debounce_leaves_one_task_with_the_last_input(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    with HttpServer() as sink:
        sink.route("/sync", json={"ok": True})
        server = errands_server(sqlite_database_url)
        answers = [server.call("tasks.create", _api(
            sink.url_for(f"/sync?n={i}"), title=f"sync {i}",
            debounce={"key": "sync:contact:42", "seconds": 1.5}), mutation=True)
            for i in range(50)]
        last_create = time.time()
        assert len({t["id"] for t in answers}) == 1
        task = answers[-1]
        assert task["status"] == "scheduled" and task["title"] == "sync 49"
        assert task["debounce"] == {"key": "sync:contact:42", "seconds": 1.5}
        done = server.wait_for(task["id"], {"completed"}, timeout=30)
        page = server.call("tasks.list", {"limit": 200})
        requests = sink.requests_to("/sync")
    assert [t["id"] for t in page["items"]] == [task["id"]]
    assert [r.query for r in requests] == [{"n": ["49"]}]
    assert done["executionConfig"]["apiEndpoint"].endswith("/sync?n=49")
    assert _at(done["startedAt"]).timestamp() >= last_create + 1.0


def test_debounce_after_the_task_started_makes_a_new_one(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    with HttpServer() as sink:
        sink.route("/sync", json={"ok": True})
        server = errands_server(sqlite_database_url)
        first = server.call("tasks.create", _api(
            sink.url_for("/sync"), debounce={"key": "k", "seconds": 0.1}), mutation=True)
        server.wait_for(first["id"], {"completed"})
        second = server.call("tasks.create", _api(
            sink.url_for("/sync"), debounce={"key": "k", "seconds": 0.1}), mutation=True)
        server.wait_for(second["id"], {"completed"})
    assert second["id"] != first["id"]


def test_a_task_s_retry_policy_sets_its_delays(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    """base 1 s, factor 3, max 4 s: the waits before attempts 2, 3, 4 are in [0.5, 1],
    [1.5, 3] and [2, 4] s (the usual jitter keeps at least half)."""
    with HttpServer() as sink:
        sink.route("/down", status=503)
        server = errands_server(sqlite_database_url)
        task = server.call("tasks.create", _api(
            sink.url_for("/down"), maxRetries=3,
            retryPolicy={"baseSeconds": 1, "maxSeconds": 4, "factor": 3}), mutation=True)
        assert task["retryPolicy"] == {"baseSeconds": 1.0, "maxSeconds": 4.0, "factor": 3.0}
        server.wait_for(task["id"], {"failed"}, timeout=60)
        attempts = server.call("tasks.executions", {"taskId": task["id"]})
    assert len(attempts) == 4
    waits = [(_at(b["startedAt"]) - _at(a["completedAt"])).total_seconds()
             for a, b in itertools.pairwise(attempts)]
    for wait, (low, high) in zip(waits, [(0.5, 1), (1.5, 3), (2, 4)], strict=True):
        assert low - 0.05 <= wait <= high + 1.0, waits


def test_a_concurrency_key_holds_its_limit_and_says_so(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def held(_: ReceivedRequest) -> Reply:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.2)
        with lock:
            state["now"] -= 1
        return Reply(json={"ok": True})

    with HttpServer() as sink:
        sink.route("/one", handler=held)
        server = errands_server(sqlite_database_url)
        ids = create_batch(server, [_api(sink.url_for("/one"), concurrencyKey="acct:7",
                                         concurrencyLimit=2) for _ in range(12)])
        reasons = eventually(
            lambda: {server.call("tasks.get", {"id": i})["statusReason"] for i in ids},
            lambda found: "concurrency key (acct:7)" in found, what="the reason",
            interval=0.02)
        for task_id in ids:
            server.wait_for(task_id, {"completed"})
    assert state["most"] == 2
    assert "concurrency key (acct:7)" in reasons


def test_a_rate_limit_makes_tasks_wait_queued_saying_so(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    with HttpServer() as sink:
        sink.route("/crm", json={"ok": True})
        server = errands_server(sqlite_database_url)
        declared = server.call("rateLimits.set", {"key": "crm:acme", "limit": 3,
                                                  "periodSeconds": 60}, mutation=True)
        assert (declared["key"], declared["limit"], declared["periodSeconds"]) == (
            "crm:acme", 3, 60)
        assert [r["key"] for r in server.call("rateLimits.list", {})] == ["crm:acme"]
        ids = create_batch(server, [_api(sink.url_for("/crm"), rateLimitKey="crm:acme")
                                    for _ in range(5)])
        free = create_batch(server, [_api(sink.url_for("/crm"), rateLimitKey="unlimited")])
        server.wait_for(free[0], {"completed"})
        found = eventually(lambda: [server.call("tasks.get", {"id": i}) for i in ids],
                           lambda ts: sum(t["status"] == "completed" for t in ts) == 3
                           and all(t["statusReason"] == "rate limited (crm:acme)"
                                   for t in ts if t["status"] == "queued"),
                           what="three run, two wait")
        assert sorted(t["status"] for t in found) == ["completed"] * 3 + ["queued"] * 2
        time.sleep(0.5)
        assert len(sink.requests_to("/crm")) == 4
        # deleting the limit lets the others run
        assert server.call("rateLimits.delete", {"key": "crm:acme"}, mutation=True) == {
            "key": "crm:acme"}
        server.wait_for(ids[-1], {"completed"}, timeout=30)


def test_the_whole_backlog_of_a_limited_key_says_why_it_waits(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    """A backlog far larger than the free slots (4): every queued task of a used-up rate
    limit and of a full concurrency key gives the reason, not only those a claim looked at."""
    with HttpServer() as sink:
        sink.route("/crm", json={"ok": True})
        sink.route("/held", delay=60.0, json={})
        server = errands_server(sqlite_database_url, env={"WORKER_CONCURRENCY": "4"})
        server.call("rateLimits.set", {"key": "crm:big", "limit": 2, "periodSeconds": 600},
                    mutation=True)
        limited = create_batch(server, [_api(sink.url_for("/crm"), rateLimitKey="crm:big")
                                        for _ in range(40)])
        held = create_batch(server, [_api(sink.url_for("/held"), timeoutSeconds=120,
                                          concurrencyKey="acct:9", concurrencyLimit=1)
                                     for _ in range(40)])

        def reasons(ids: list[str]) -> Counter[tuple[str, str | None]]:
            return Counter((t["status"], t["statusReason"]) for t in
                           (server.call("tasks.get", {"id": i}) for i in ids))

        rated = eventually(lambda: reasons(limited),
                           lambda found: found[("queued", "rate limited (crm:big)")] == 38
                           and found[("completed", None)] == 2,
                           what="every waiting task of crm:big says so")
        keyed = eventually(lambda: reasons(held),
                           lambda found: found[("queued", "concurrency key (acct:9)")] == 39,
                           what="every waiting task of acct:9 says so")
    assert rated == {("completed", None): 2, ("queued", "rate limited (crm:big)"): 38}, rated
    assert keyed == {("in_progress", None): 1, ("queued", "concurrency key (acct:9)"): 39}
    assert len(sink.requests_to("/crm")) == 2


def test_flow_fields_are_checked(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url)
    for given, field in (({"concurrencyKey": "k"}, "concurrencyLimit"),
                         ({"concurrencyLimit": 2}, "concurrencyKey"),
                         ({"concurrencyKey": "k", "concurrencyLimit": 0}, "concurrencyLimit"),
                         ({"rateLimitKey": ""}, "rateLimitKey"),
                         ({"debounce": {"key": "k", "seconds": 0.01}}, "debounce"),
                         ({"retryPolicy": {"factor": 11}}, "retryPolicy")):
        with pytest.raises(TRPCCallError) as err:
            server.call("tasks.create", _api("http://127.0.0.1:9/x", **given), mutation=True)
        assert err.value.code == "BAD_REQUEST", given
        assert field in err.value.error["message"], (given, err.value.error["message"])
    with pytest.raises(TRPCCallError) as err:
        server.call("rateLimits.set", {"key": "k", "limit": 0, "periodSeconds": 1},
                    mutation=True)
    assert err.value.code == "BAD_REQUEST"
    with pytest.raises(TRPCCallError) as err:
        server.call("rateLimits.delete", {"key": "none"}, mutation=True)
    assert err.value.code == "NOT_FOUND"
