"""Progress and the live view of browser tasks (CONTRACT §17) through the running server, a
real Chromium and the SSE stream of ``tasks.onChange``, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.support.pages import serve_pages
from tests.support.server import ErrandsServer, TRPCCallError
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser


class _Events:
    """The TaskEvents of one task as ``tasks.onChange`` sends them live, collected in a
    thread until the task ends."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.ended = threading.Event()
        self.subscribed = threading.Event()


@contextmanager
def _watch(server: ErrandsServer, task_id_box: list[str]) -> Iterator[_Events]:
    """Subscribe to every task's events (the task is created after the subscription)."""
    events = _Events()
    stop = threading.Event()

    def run() -> None:
        params = {"input": msgspec.json.encode({}).decode()}
        with httpx.stream("GET", f"{server.url}/tasks.onChange", params=params, timeout=60,
                          headers={**server.headers(), "accept": "text/event-stream"}) as resp:
            events.subscribed.set()
            for line in resp.iter_lines():
                if stop.is_set():
                    return
                if not line.startswith("data:"):
                    continue
                body = line[5:].strip()
                try:
                    data = json.loads(body)
                except ValueError:
                    continue
                if not isinstance(data, dict) or "task" not in data:
                    continue
                if not task_id_box or data["task"]["id"] != task_id_box[0]:
                    continue
                events.raw.append(body)
                events.items.append(data)
                if data["task"]["status"] in ("completed", "failed"):
                    events.ended.set()
                    return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert events.subscribed.wait(30)
        time.sleep(0.3)  # the server has registered the subscription
        yield events
    finally:
        stop.set()
        thread.join(timeout=5)


def test_progress_events_of_a_five_step_task_arrive_in_order_without_secrets(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url)
    secret = f"Sesame-{uuid.uuid4().hex}"
    box: list[str] = []
    with serve_pages() as site, _watch(server, box) as events:
        task = server.call("tasks.create", {
            "title": "five steps", "taskType": "browser_automation", "maxRetries": 0,
            "executionConfig": {"steps": [
                {"action": "navigate", "url": site.url("/form")},
                {"action": "wait", "ms": 800},
                {"action": "type", "selector": "#name", "text": secret, "secret": True},
                {"action": "wait", "ms": 800},
                {"action": "click", "selector": "#next"},
            ]}}, mutation=True)
        box.append(task["id"])
        running = eventually(lambda: server.call("tasks.get", {"id": task["id"]}),
                             lambda t: t["progress"] is not None
                             or t["status"] in ("completed", "failed"),
                             what="progress on the task")
        done = server.wait_for(task["id"], {"completed", "failed"}, timeout=60)
        assert events.ended.wait(30), "the completed event never came"
    assert done["status"] == "completed", done["lastError"]
    assert done["progress"] is None
    progress = [e["task"]["progress"] for e in events.items if e["type"] == "progress"]
    assert [p["done"] for p in progress] == [0, 1, 2, 3, 4, 5], progress
    assert {p["total"] for p in progress} == {5}
    assert progress[2]["message"] == "type '#name'"  # the step's action, not its text
    assert progress[0]["message"].startswith("navigate ")
    assert "message" not in progress[-1] or progress[-1]["message"] is None
    assert all(e["task"]["progress"] is None for e in events.items if e["type"] != "progress"
               and e["task"]["status"] != "in_progress")
    assert events.items[-1]["task"]["progress"] is None
    assert not any(secret in raw for raw in events.raw)
    if running["status"] == "in_progress":  # tasks.get reads it from the row
        assert running["progress"]["total"] == 5
    # Replayed from the table (a client resuming), the same progress in the same order.
    params = {"input": msgspec.json.encode({"id": task["id"], "lastEventId": "0"}).decode()}
    replayed: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{server.url}/tasks.onChange", params=params, timeout=30,
                      headers={**server.headers(), "accept": "text/event-stream"}) as resp:
        for line in resp.iter_lines():
            data = json.loads(line[5:]) if line.startswith("data:") else None
            if isinstance(data, dict) and "task" in data:
                replayed.append(data)
                if data["task"]["status"] == "completed":
                    break
    assert [e["task"]["progress"] for e in replayed if e["type"] == "progress"] == progress


def test_an_api_call_reports_no_progress(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url)
    with serve_pages() as site:
        task = server.call("tasks.create", {
            "title": "api", "taskType": "api_call",
            "executionConfig": {"apiEndpoint": site.url("/products"), "apiMethod": "GET"}},
            mutation=True)
        done = server.wait_for(task["id"], {"completed", "failed"}, timeout=60)
    assert done["progress"] is None
    (attempt,) = server.call("tasks.executions", {"taskId": task["id"]})
    assert attempt["debugUrl"] is None


def _frame(view: dict[str, Any]) -> bytes:
    shot = view["screenshot"]
    assert shot is not None, view
    assert shot["kind"] == "screenshot" and shot["contentType"] == "image/jpeg"
    prefix = "data:image/jpeg;base64,"
    assert shot["url"].startswith(prefix)
    data = base64.b64decode(shot["url"][len(prefix):])
    assert data[:3] == b"\xff\xd8\xff" and len(data) == shot["bytes"]
    return data


def test_the_live_view_frame_changes_while_a_slow_browser_task_runs(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url, api_key="k",
                            env={"ERRANDS_API_KEYS": "boss:admin:k,eye:viewer:v"})
    viewer = {"authorization": "Bearer v"}
    with serve_pages() as site:
        task = server.call("tasks.create", {
            "title": "slow", "taskType": "browser_automation", "maxRetries": 0,
            "executionConfig": {"startUrl": site.url("/ticker"),
                                "steps": [{"action": "wait", "ms": 6000}]}}, mutation=True)
        attempt = eventually(lambda: server.call("tasks.executions", {"taskId": task["id"]}),
                             lambda xs: xs and xs[0]["status"] == "running",
                             what="a running attempt")[0]
        assert attempt["debugUrl"] == f"/live/{attempt['id']}"
        first = eventually(
            lambda: server.call("tasks.liveView", {"executionId": attempt["id"]},
                                headers=viewer),
            lambda v: v["screenshot"] is not None and v["stepIndex"] == 1,
            what="a frame of the waiting step")
        time.sleep(1.5)
        second = server.call("tasks.liveView", {"executionId": attempt["id"]}, headers=viewer)
        assert second["step"] == "wait" and second["stepIndex"] == 1
        assert second["screenshot"]["id"] != first["screenshot"]["id"]
        assert _frame(second) != _frame(first)
        assert second["at"] > first["at"]
        done = server.wait_for(task["id"], {"completed", "failed"}, timeout=60)
    assert done["status"] == "completed", done["lastError"]
    (ended,) = server.call("tasks.executions", {"taskId": task["id"]})
    assert ended["debugUrl"] is None
    assert all(a.get("name") != "live" for a in ended["artifacts"])  # frames are not kept
    with pytest.raises(TRPCCallError) as gone:
        server.call("tasks.liveView", {"executionId": attempt["id"]}, headers=viewer)
    assert gone.value.code == "PRECONDITION_FAILED"
    assert "ended" in str(gone.value)
    with pytest.raises(TRPCCallError) as unknown:
        server.call("tasks.liveView", {"executionId": "exe_nope"}, headers=viewer)
    assert unknown.value.code == "NOT_FOUND"
    with pytest.raises(TRPCCallError) as anonymous:
        server.call("tasks.liveView", {"executionId": attempt["id"]},
                    headers={"authorization": "Bearer wrong"})
    assert anonymous.value.code == "UNAUTHORIZED"


@pytest.mark.postgres
def test_another_node_answers_the_step_without_a_frame(tmp_path: Path, pg_url: str) -> None:
    """PostgreSQL, two nodes: the frames stay on the node running the attempt; the other
    answers the step it wrote to the task's progress, and no screenshot."""
    nodes = [ErrandsServer(database_url=pg_url, workdir=tmp_path) for _ in range(2)]
    try:
        for node in nodes:
            node.start()
        with serve_pages() as site:
            task = nodes[0].call("tasks.create", {
                "title": "slow", "taskType": "browser_automation", "maxRetries": 0,
                "executionConfig": {"startUrl": site.url("/ticker"),
                                    "steps": [{"action": "wait", "ms": 5000}]}}, mutation=True)
            attempt = eventually(
                lambda: nodes[0].call("tasks.executions", {"taskId": task["id"]}),
                lambda xs: xs and xs[0]["status"] == "running", what="a running attempt")[0]
            port = int(attempt["workerId"].split("/")[0].rsplit(":", 1)[1])
            runs = next(n for n in nodes if n.port == port)
            other = next(n for n in nodes if n.port != port)
            here = eventually(
                lambda: runs.call("tasks.liveView", {"executionId": attempt["id"]}),
                lambda v: v["screenshot"] is not None and v["stepIndex"] == 1,
                what="a frame on the running node")
            there = eventually(
                lambda: other.call("tasks.liveView", {"executionId": attempt["id"]}),
                lambda v: v["stepIndex"] == 1, what="the step on the other node")
            assert here["step"] == there["step"] == "wait"
            assert there["screenshot"] is None
            runs.wait_for(task["id"], {"completed", "failed"}, timeout=60)
        with pytest.raises(TRPCCallError) as gone:
            other.call("tasks.liveView", {"executionId": attempt["id"]})
        assert gone.value.code == "PRECONDITION_FAILED"
    finally:
        for node in nodes:
            node.stop()
            node.client.close()
