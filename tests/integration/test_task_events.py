"""task_events stores ids and changing fields only; a replay still sends full Task and
TaskExecution objects, each as it was at its event."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec

from server.db import repositories as repo
from server.db.engine import Database
from tests.support.databases import query_plan
from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer

BODY = {"marker": "result-body-" + "x" * 2000}


def _replay(server: ErrandsServer, task_id: str, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    params = {"input": msgspec.json.encode({"id": task_id, "lastEventId": "0"}).decode()}
    with httpx.Client(timeout=20) as client, client.stream(
            "GET", f"{server.url}/tasks.onChange", params=params,
            headers={"accept": "text/event-stream"}) as stream:
        deadline = time.monotonic() + 15
        for line in stream.iter_lines():
            if line.startswith("data: {"):
                data = msgspec.json.decode(line[6:])
                if "task" in data:  # not the "connected" message
                    events.append(data)
            if len(events) == count or time.monotonic() > deadline:
                break
    return events


def test_events_are_stored_small_and_replayed_whole(database_url: str, tmp_path: Path) -> None:
    with HttpServer() as sink:
        sink.route("/ok", json=BODY)
        with ErrandsServer(database_url=database_url, workdir=tmp_path) as server:
            task = server.call("tasks.create", {
                "title": "events", "taskType": "api_call", "description": "d" * 500,
                "executionConfig": {"apiEndpoint": sink.url_for("/ok"), "apiMethod": "POST",
                                    "bearerToken": "tok-secret", "authType": "bearer",
                                    "body": {"big": "y" * 1000}}}, mutation=True)
            done = server.wait_for(task["id"], {"completed"})
            [attempt] = server.call("tasks.executions", {"taskId": task["id"]})
            created, started, ended = _replay(server, task["id"], 3)

    assert (created["type"], created["task"]["status"]) == ("created", "queued")
    assert created["task"]["result"] is None and created["task"]["startedAt"] is None
    assert created["task"]["executionConfig"]["bearerToken"] == "********"
    assert created["task"]["description"] == "d" * 500
    assert started["type"] == "execution" and started["task"]["status"] == "in_progress"
    assert started["execution"]["status"] == "running"
    assert started["execution"]["output"] is None and started["execution"]["completedAt"] is None
    assert started["task"]["result"] is None
    assert ended["type"] == "execution"
    assert ended["task"] == done  # the whole task, as tasks.get shows it
    assert ended["execution"] == attempt
    assert ended["execution"]["output"]["body"] == BODY

    if database_url.startswith("sqlite"):
        db = database_url.removeprefix("sqlite+aiosqlite:///")
        with sqlite3.connect(db) as con:
            payloads = [bytes(p) for (p,) in con.execute("SELECT payload FROM task_events")]
        assert len(payloads) == 3
        assert all(len(p) < 600 for p in payloads), [len(p) for p in payloads]
        assert not any(b"result-body" in p or b"tok-secret" in p for p in payloads)


async def test_one_tasks_events_are_read_through_its_index_in_id_order(
        database: Database) -> None:
    at = datetime(2030, 5, 1, 9, tzinfo=UTC)
    async with database.write() as conn:
        ids = await repo.event_insert(conn, [
            {"task_id": f"tsk_{i % 3}", "payload": b"\x90", "created_at": at}
            for i in range(30)])
    async with database.read() as conn:
        mine = await repo.events_after(conn, ids[4], task_id="tsk_1")
        assert [r.id for r in mine] == [i for n, i in enumerate(ids) if n % 3 == 1 and
                                         i > ids[4]]
        assert {r.task_id for r in mine} == {"tsk_1"}
        query = ("SELECT * FROM task_events WHERE id > 5 AND task_id = 'tsk_1' "
                 "ORDER BY id LIMIT 1000")
        plan = await query_plan(conn, database.dialect, query)
        assert "ix_task_events_task" in plan, plan
