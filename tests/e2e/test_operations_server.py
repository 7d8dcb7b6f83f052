"""Operations on a running server (``python -m server``): the JSON log lines of a task's life,
and SIGTERM with open subscriptions and 16 attempts in flight."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer

SECRET_TOKEN = "tok-very-secret-4711"


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_logs_tell_a_tasks_life(sqlite_database_url: str, tmp_path: Path) -> None:
    env = {"LOG_FORMAT": "json", "ACCESS_LOG": "true"}
    with HttpServer() as outside:
        outside.route("/ok", json={"ok": True})
        server = ErrandsServer(database_url=sqlite_database_url, workdir=tmp_path, env=env)
        with server:
            resp = server.client.post(f"{server.url}/tasks.create", headers={
                "content-type": "application/json", "x-request-id": "req-from-client-1"},
                json={"title": "logged", "taskType": "api_call", "executionConfig": {
                    "apiEndpoint": outside.url_for("/ok"), "authType": "bearer",
                    "bearerToken": SECRET_TOKEN}})
            task = resp.json()["result"]["data"]
            server.wait_for(task["id"], {"completed"})
            execution = server.call("tasks.executions", {"taskId": task["id"]})[0]
        text = server.log()
    assert resp.headers["x-request-id"] == "req-from-client-1"
    lines = _json_lines(text)
    assert lines, text
    # Every line the server wrote is JSON (uvicorn's own logs included).
    assert [line for line in text.splitlines() if line.strip() and not line.startswith("{")] == []
    for line in lines:
        assert {"ts", "level", "logger", "msg"} <= line.keys()
    mine = [line for line in lines if line.get("taskId") == task["id"]]
    started = [line for line in mine if line["msg"].startswith("attempt started")]
    ended = [line for line in mine if line["msg"].startswith("attempt ended")]
    assert len(started) == len(ended) == 1, mine
    for line in (*started, *ended):
        assert line["level"] == "INFO"
        assert line["executionId"] == execution["id"]
        assert line["attempt"] == 1
        assert line["workerId"] == execution["workerId"]
    assert ended[0]["outcome"] == "success"
    assert isinstance(ended[0]["durationMs"], int)
    access = [line for line in lines if line["logger"] == "errands.access"
              and line.get("requestId") == "req-from-client-1"]
    assert len(access) == 1
    assert (access[0]["path"], access[0]["status"]) == ("/trpc/tasks.create", 200)
    assert SECRET_TOKEN not in text


def _subscribe(base: str, ended: list[float], stop: threading.Event) -> None:
    with httpx.Client(timeout=60) as client, client.stream(
            "GET", f"{base}/trpc/tasks.onChange", params={"input": "{}"}) as stream:
        for _ in stream.iter_lines():
            if stop.is_set():
                break
    ended.append(time.monotonic())


def test_sigterm_with_subscriptions_and_16_attempts_in_flight(
        database_url: str, tmp_path: Path) -> None:
    env = {"WORKER_CONCURRENCY": "16", "HOST_CONCURRENCY": "16", "SHUTDOWN_GRACE_SECONDS": "10"}
    with HttpServer() as outside:
        outside.route("/slow", delay=120.0, json={"slow": True})
        first = ErrandsServer(database_url=database_url, workdir=tmp_path, env=env).start()
        ended: list[float] = []
        stop = threading.Event()
        readers = [threading.Thread(target=_subscribe, args=(first.base, ended, stop))
                   for _ in range(3)]
        try:
            for reader in readers:
                reader.start()
            ids = [first.call("tasks.create", {
                "title": f"slow {i}", "taskType": "api_call", "maxRetries": 0,
                "timeoutSeconds": 600,
                "executionConfig": {"apiEndpoint": outside.url_for("/slow"),
                                    "timeoutMs": 600_000}},
                mutation=True)["id"] for i in range(18)]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                page = first.call("tasks.list", {"status": ["in_progress"], "limit": 100})
                if len(page["items"]) == 16:
                    break
                time.sleep(0.1)
            everything = first.call("tasks.list", {"limit": 100})["items"]
            assert len(page["items"]) == 16, [(t["status"], t["lastError"]) for t in everything]
            signalled = time.monotonic()
            code = first.stop(signal.SIGTERM, timeout=60)
            exited = time.monotonic() - signalled
        finally:
            stop.set()
            for reader in readers:
                reader.join(10)
            first.client.close()
        log = first.log()
        assert code == 0, log  # a clean drain exits 0 (CONTRACT §13 "Shutdown")
        assert "Traceback" not in log
        assert len(ended) == 3
        closed = max(ended) - signalled
        print(f"\nSIGTERM with 16 attempts in flight and 3 subscriptions: subscriptions closed "
              f"after {closed:.2f} s, process exited after {exited:.2f} s "
              f"(SHUTDOWN_GRACE_SECONDS=10)")
        assert closed < exited
        assert exited < 30

        # Nothing lost: every task runs again on the next start, without spending a retry.
        outside.route("/slow", json={"fast": True})
        with ErrandsServer(database_url=database_url, workdir=tmp_path, env=env) as second:
            done = [second.wait_for(task_id, {"completed", "failed"}, timeout=60)
                    for task_id in ids]
    assert [(t["status"], t["errorCount"]) for t in done] == [("completed", 0)] * 18
