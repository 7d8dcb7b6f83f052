"""report_generation through the running server, against rows this test wrote for January
2020 (plus rows just outside it), with exact expected numbers — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from server.db.tables import outbound_messages, task_executions, tasks, webhooks
from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer, TRPCCallError

START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2020, 2, 1, tzinfo=UTC)
PERIOD = {"dateFrom": "2020-01-01T00:00:00Z", "dateTo": "2020-02-01T00:00:00Z"}


def task_row(task_id: str, task_type: str, status: str, priority: str, created: datetime
             ) -> dict[str, Any]:
    return {
        "id": task_id, "title": task_id, "task_type": task_type, "execution_type": "automatic",
        "assigned_to_bot": True, "requires_human_review": False, "execution_config": {},
        "priority": priority, "priority_rank": 1, "max_retries": 3, "timeout_seconds": 60,
        "notify_on_complete": False, "notify_on_failure": False, "depends_on": [],
        "status": status, "error_count": 0, "created_at": created, "updated_at": created,
        "attempts": 0, "next_trigger": "create",
    }


def attempt_row(task_id: str, number: int, status: str, duration: int | None,
                error_type: str | None, started: datetime) -> dict[str, Any]:
    return {
        "id": f"exe_{task_id}_{number}", "task_id": task_id, "attempt_number": number,
        "triggered_by": "create", "status": status, "started_at": started,
        "duration_ms": duration, "worker_id": "seed", "error_type": error_type, "steps": [],
        "artifacts": [],
    }


def seed_rows() -> dict[Any, list[dict[str, Any]]]:
    day = START + timedelta(days=10)
    rows: dict[Any, list[dict[str, Any]]] = {tasks: [], task_executions: [],
                                             webhooks: [], outbound_messages: []}
    # 10 api_call tasks: 6 completed, 3 failed, 1 cancelled; 8 normal, 2 high.
    for i in range(10):
        status = "completed" if i < 6 else "failed" if i < 9 else "cancelled"
        rows[tasks].append(task_row(f"api{i}", "api_call", status,
                                    "high" if i < 2 else "normal", day))
    # 4 notification tasks, completed, low priority.
    for i in range(4):
        rows[tasks].append(task_row(f"note{i}", "notification", "completed", "low", day))
    # Outside the period: one just before, one exactly at its end (excluded: [from, to)).
    rows[tasks].append(task_row("before", "api_call", "completed", "normal",
                                START - timedelta(seconds=1)))
    rows[tasks].append(task_row("after", "reminder", "failed", "urgent", END))
    # 20 api_call attempts, 10..200 ms: 15 success, 3 http_5xx, 2 timeout.
    for n in range(20):
        status, error = ("success", None) if n < 15 else \
            ("failed", "http_5xx") if n < 18 else ("timed_out", "timeout")
        rows[task_executions].append(attempt_row(f"api{n // 2}", n % 2 + 1, status,
                                                 (n + 1) * 10, error, day))
    for i, duration in enumerate((5, 7, 9, 100)):
        rows[task_executions].append(attempt_row(f"note{i}", 1, "success", duration, None, day))
    rows[task_executions].append(attempt_row("note0", 2, "running", None, None, day))
    rows[task_executions].append(attempt_row("before", 1, "failed", 999, "x",
                                             START - timedelta(seconds=1)))
    # Webhooks and messages: "good" delivers 5, "bad" fails 3 and delivers 1.
    for hook_id, name in (("whk_good", "good"), ("whk_bad", "bad")):
        rows[webhooks].append({"id": hook_id, "name": name, "url": "https://example.com/",
                               "secret_sealed": b"unused", "active": True, "created_at": day})
    messages = [("whk_good", "reminder", "delivered", 1, latency)
                for latency in (100, 200, 300, 400, 1000)]
    messages += [("whk_bad", "task.failed", "failed", 6, None)] * 3
    messages += [("whk_bad", "task.failed", "delivered", 1, 50)]
    for i, (hook_id, kind, status, attempts, latency) in enumerate(messages):
        rows[outbound_messages].append(message_row(f"m{i}", hook_id, kind, status, attempts,
                                                   latency, day))
    rows[outbound_messages].append(message_row("m_out", "whk_bad", "report", "failed", 6, None,
                                               END + timedelta(days=1)))
    return rows


def message_row(message_id: str, hook_id: str, kind: str, status: str, attempts: int,
                latency: int | None, created: datetime) -> dict[str, Any]:
    return {
        "id": message_id, "webhook_id": hook_id, "kind": kind, "body": "b", "status": status,
        "send_at": created, "next_attempt_at": created, "attempts": attempts,
        "latency_ms": latency, "created_at": created, "updated_at": created,
        "delivered_at": created if status == "delivered" else None,
    }


async def seed(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for table, rows in seed_rows().items():
                await conn.execute(sa.insert(table), rows)
    finally:
        await engine.dispose()


def run_report(server: ErrandsServer, config: dict[str, Any]) -> dict[str, Any]:
    task = server.call("tasks.create", {"title": "report", "taskType": "report_generation",
                                        "executionConfig": config}, mutation=True)
    done = server.wait_for(task["id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    result: dict[str, Any] = done["result"]
    assert result["period"] == {"from": PERIOD["dateFrom"], "to": PERIOD["dateTo"]}
    assert result["reportType"] == config["reportType"]
    return result


def test_reports_over_seeded_data(database_url: str,
                                  errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url)
    asyncio.run(seed(database_url))

    summary = run_report(server, {"reportType": "task_summary", **PERIOD})
    assert summary["data"] == {
        "total": 14,
        "byStatus": {"cancelled": 1, "completed": 10, "failed": 3},
        "byType": {"api_call": 10, "notification": 4},
        "byPriority": {"high": 2, "low": 4, "normal": 8},
    }
    assert "14" in summary["summary"] and "10 completed" in summary["summary"]

    stats = run_report(server, {"reportType": "execution_stats", **PERIOD})
    assert stats["data"] == {
        "attempts": 24, "succeeded": 19, "failed": 5, "successRate": 0.7917,
        "durationMs": {"p50": 90, "p95": 190, "p99": 200},
        "byType": {
            "api_call": {"attempts": 20, "succeeded": 15, "failed": 5, "successRate": 0.75,
                         "durationMs": {"p50": 100, "p95": 190, "p99": 200},
                         "failuresByErrorType": {"http_5xx": 3, "timeout": 2}},
            "notification": {"attempts": 4, "succeeded": 4, "failed": 0, "successRate": 1.0,
                             "durationMs": {"p50": 7, "p95": 100, "p99": 100},
                             "failuresByErrorType": {}},
        },
    }
    assert "24" in stats["summary"] and "79.2% success" in stats["summary"]

    activity = run_report(server, {"reportType": "webhook_activity", **PERIOD})
    assert activity["data"] == {
        "total": 9, "byStatus": {"delivered": 6, "failed": 3},
        "byKind": {"reminder": 5, "task.failed": 4}, "attempts": 24,
        "deliveryLatencyMs": {"avg": 341.7, "p50": 200, "p95": 1000, "max": 1000},
        "failingWebhooks": [{"webhookId": "whk_bad", "name": "bad", "failed": 3,
                             "delivered": 1}],
    }
    assert "bad (3 failed)" in activity["summary"]


def test_report_defaults_to_the_last_seven_days_and_notify_delivers_it(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url)
    with HttpServer() as receiver:
        receiver.route("/hook", status=204)
        hook = server.call("webhooks.create", {"name": "rx", "url": receiver.url_for("/hook")},
                           mutation=True)
        task = server.call("tasks.create", {
            "title": "weekly", "taskType": "report_generation", "sourceWebhookId": hook["id"],
            "executionConfig": {"reportType": "task_summary", "notify": True}}, mutation=True)
        done = server.wait_for(task["id"], {"completed", "failed"})
        assert done["status"] == "completed", done
        result = done["result"]
        start = datetime.fromisoformat(result["period"]["from"])
        end = datetime.fromisoformat(result["period"]["to"])
        assert end - start == timedelta(days=7)
        assert result["data"]["total"] == 1  # the report task itself
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        [request] = receiver.requests
    body = request.json()
    assert (body["type"], body["taskId"], body["message"]) == \
        ("report", task["id"], result["summary"])
    assert body["data"] == result


def test_report_config_is_checked_at_create(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url)
    for config, path in (
            ({"reportType": "task_summary", "dateFrom": "2020-02-01T00:00:00Z",
              "dateTo": "2020-01-01T00:00:00Z"}, ["executionConfig", "dateTo"]),
            ({"reportType": "task_summary", "notify": True}, ["executionConfig", "webhookId"]),
            ({"reportType": "everything"}, ["executionConfig", "reportType"])):
        with pytest.raises(TRPCCallError) as info:
            server.call("tasks.create", {"title": "r", "taskType": "report_generation",
                                         "executionConfig": config}, mutation=True)
        assert info.value.code == "BAD_REQUEST"
        assert info.value.error["data"]["issues"][0]["path"] == path
