"""Flow control across two PostgreSQL nodes (CONTRACT §15): a concurrency key's limit and a
rate limit's sliding window hold for the nodes together."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_flow_control import create_batch
from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
)
from tests.support.http_servers import HttpServer, ReceivedRequest, Reply
from tests.support.server import ErrandsServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.postgres


@pytest.fixture
def two_nodes(tmp_path: Path, request: pytest.FixtureRequest
              ) -> Iterator[tuple[ErrandsServer, ErrandsServer]]:
    """Two nodes on one new PostgreSQL database; ``@pytest.mark.node_env({...})`` adds to
    their settings."""
    require_postgres()
    url, name = create_postgres_database()
    marker = request.node.get_closest_marker("node_env")
    extra: dict[str, str] = marker.args[0] if marker else {}
    nodes = [ErrandsServer(database_url=url, workdir=tmp_path,
                           env={"NODE_ID": f"node-{i}", **extra}) for i in range(2)]
    try:
        for node in nodes:
            node.start()
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            node.stop()
            node.client.close()
        drop_postgres_database(name)


def _in_progress(node: ErrandsServer) -> int:
    return len(node.call("tasks.list", {"status": "in_progress", "limit": 200})["items"])


def test_a_concurrency_key_of_two_is_never_exceeded_across_nodes(
        two_nodes: tuple[ErrandsServer, ErrandsServer]) -> None:
    a, b = two_nodes
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def held(_: ReceivedRequest) -> Reply:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return Reply(json={"ok": True})

    with HttpServer() as sink:
        sink.route("/one", handler=held)
        task = {"title": "k", "taskType": "api_call", "concurrencyKey": "acct:1",
                "concurrencyLimit": 2, "executionConfig": {"apiEndpoint": sink.url_for("/one")}}
        ids = create_batch(a, [task] * 20) + create_batch(b, [task] * 20)
        samples: list[int] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            samples.append(_in_progress(a))  # the database's view: both nodes' attempts
            if a.call("system.stats")["tasksByStatus"].get("completed", 0) == len(ids):
                break
            time.sleep(0.05)
    assert a.call("system.stats")["tasksByStatus"] == {"completed": 40}
    # both nodes claim (each is woken by the other's new work); the key's count is shared
    assert max(samples) <= 2 and state["most"] == 2, (max(samples), state["most"])


@pytest.mark.node_env({"WORKER_CONCURRENCY": "2", "HOST_CONCURRENCY": "2"})
def test_a_rate_limit_holds_in_every_window_across_nodes(
        two_nodes: tuple[ErrandsServer, ErrandsServer]) -> None:
    """20 per 2 s, 70 tasks created on both nodes: in any 2 s, at most 20 attempts start
    (by the attempts' start times, which the claims write). Each node has two slots and each
    request takes 0.25 s, so one node alone starts at most 16 in 2 s: both nodes run attempts
    (with every slot free, a loaded machine once let one node claim all 70), and together they
    could start more than the limit allows."""
    a, b = two_nodes
    a.call("rateLimits.set", {"key": "crm:acme", "limit": 20, "periodSeconds": 2},
           mutation=True)
    with HttpServer() as sink:
        sink.route("/crm", json={"ok": True}, delay=0.25)
        task: dict[str, Any] = {"title": "r", "taskType": "api_call", "rateLimitKey": "crm:acme",
                                "executionConfig": {"apiEndpoint": sink.url_for("/crm")}}
        ids = create_batch(a, [task] * 35) + create_batch(b, [task] * 35)
        for task_id in ids:
            a.wait_for(task_id, {"completed"}, timeout=60)
        assert len(sink.requests_to("/crm")) == 70
    starts = sorted(datetime.fromisoformat(x["startedAt"].replace("Z", "+00:00")).timestamp()
                    for i in ids for x in a.call("tasks.executions", {"taskId": i}))
    workers = {x["workerId"].split("/")[0] for i in ids
               for x in a.call("tasks.executions", {"taskId": i})}
    assert len(starts) == 70
    for i, t in enumerate(starts):
        in_window = sum(1 for u in starts[i:] if u - t < 2.0)
        assert in_window <= 20, (i, in_window)
    assert workers == {"node-0", "node-1"}


def test_the_backlog_of_a_used_up_key_says_so_on_both_nodes_without_deadlock(
        two_nodes: tuple[ErrandsServer, ErrandsServer]) -> None:
    """400 tasks of a key limited to 5 an hour, filed on both nodes at once: both claim, every
    queued one reads the reason (far more than the claims' candidates), and neither node's
    claims deadlock over the backlog's rows (the claim that marks them skips the rows the
    other's claim holds)."""
    a, b = two_nodes
    a.call("rateLimits.set", {"key": "crm:slow", "limit": 5, "periodSeconds": 3600},
           mutation=True)
    with HttpServer() as sink:
        sink.route("/crm", json={"ok": True})
        task: dict[str, Any] = {"title": "r", "taskType": "api_call", "rateLimitKey": "crm:slow",
                                "executionConfig": {"apiEndpoint": sink.url_for("/crm")}}
        made: list[list[str]] = [[], []]
        senders = [threading.Thread(target=lambda n=n, node=node: made[n].extend(
            create_batch(node, [task] * 200, size=20))) for n, node in enumerate((a, b))]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        ids = made[0] + made[1]

        def reasons() -> dict[str, int]:
            found: dict[str, int] = {}
            for i in ids:
                got = a.call("tasks.get", {"id": i})
                label = f"{got['status']}: {got['statusReason']}"
                found[label] = found.get(label, 0) + 1
            return found

        found = eventually(reasons, lambda r: r.get("queued: rate limited (crm:slow)") == 395,
                           what="every waiting task says why", timeout=60)
        a.call("rateLimits.delete", {"key": "crm:slow"}, mutation=True)  # let them go
    assert found == {"completed: None": 5, "queued: rate limited (crm:slow)": 395}, found
    for node in (a, b):
        assert "deadlock" not in node.log().lower()
