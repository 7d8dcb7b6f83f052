"""The console's server-side views (issue 28), on SQLite and PostgreSQL: failed tasks grouped
by error (tasks.failureGroups, tasks.list errorGroup), dependents (tasks.list dependsOn), the
hourly series (system.series) and schedules.list for every role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from server.services.insights import error_pattern
from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer

VIEW = {"authorization": "Bearer view-key"}


@pytest.fixture(scope="module")
def outside() -> Iterator[HttpServer]:
    with HttpServer() as server:
        server.route("/ok", json={"ok": True})
        yield server


def api(url: str, **extra: Any) -> dict[str, Any]:
    return {"title": "call", "taskType": "api_call", "maxRetries": 0,
            "executionConfig": {"apiEndpoint": url}, **extra}


def create(server: ErrandsServer, data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = server.call("tasks.create", data, mutation=True)
    return found


def listed(server: ErrandsServer, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = server.call("tasks.list", {**query, "limit": 200, "cursor": cursor}, headers=VIEW)
        items.extend(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            return items


def test_error_patterns_hide_what_varies() -> None:
    assert error_pattern("timeout after 30.5 s at 2026-12-07T03:04:05.123456Z") == \
        "timeout after <n> s at <time>"
    assert error_pattern("HTTP 404 from http://10.0.0.1:8080/x/123456?id=12") == \
        "HTTP 404 from http://10.0.0.1:8080/x/<n>?<query>"
    assert error_pattern("no task with id 'tsk_01jf2k3m4n5p6q7r8s9t0v1w2x'") == \
        "no task with id '…'"
    assert error_pattern(None) == ""


def test_failed_tasks_grouped_by_error_and_listed_by_group(
        shared_server: ErrandsServer, outside: HttpServer) -> None:
    server = shared_server
    # two kinds of failure: 404s whose URLs differ in a long number, and a 500
    outside.route("/gone/1001", status=404, json={"error": "gone"})
    outside.route("/gone/2002", status=404, json={"error": "gone"})
    outside.route("/boom", status=500, json={"error": "boom"})
    gone = [create(server, api(outside.url_for(f"/gone/{n}"), title=f"gone {n}"))["id"]
            for n in (1001, 2002, 1001)]
    boom = [create(server, api(outside.url_for("/boom"), title="boom"))["id"] for _ in range(2)]
    for task_id in gone + boom:
        server.wait_for(task_id, {"failed"})

    answer = server.call("tasks.failureGroups", None, headers=VIEW)
    failed = listed(server, status="failed")
    assert answer["total"] == len(failed) == sum(g["count"] for g in answer["groups"])
    by_member: dict[str, dict[str, Any]] = {}
    for group in answer["groups"]:
        members = listed(server, errorGroup=group["key"])
        assert len(members) == group["count"], group  # the count is what the filter lists
        assert all(t["status"] == "failed" for t in members)
        for task in members:
            by_member[task["id"]] = group
    gone_groups = {by_member[i]["key"] for i in gone}
    boom_groups = {by_member[i]["key"] for i in boom}
    assert len(gone_groups) == 1 and len(boom_groups) == 1 and gone_groups != boom_groups
    gone_group = by_member[gone[0]]
    assert gone_group["count"] >= 3 and "<n>" in gone_group["pattern"]
    assert gone_group["example"] is not None and "404" in gone_group["example"]

    assert listed(server, errorGroup="fg_unknown") == []
    # a retried task leaves its group
    server.call("tasks.retry", {"id": boom[0]}, mutation=True)
    server.wait_for(boom[0], {"failed"})
    again = {g["key"]: g["count"] for g in server.call("tasks.failureGroups", None)["groups"]}
    assert again[by_member[boom[0]]["key"]] == by_member[boom[0]]["count"]


def test_dependents_are_listed_by_depends_on(shared_server: ErrandsServer,
                                             outside: HttpServer) -> None:
    server = shared_server
    first = create(server, api(outside.url_for("/ok"), title="first", executionType="manual"))
    second = create(server, api(outside.url_for("/ok"), title="second",
                                dependsOn=[first["id"]]))
    third = create(server, api(outside.url_for("/ok"), title="third",
                               dependsOn=[first["id"], second["id"]]))
    assert {t["id"] for t in listed(server, dependsOn=first["id"])} == {second["id"], third["id"]}
    assert [t["id"] for t in listed(server, dependsOn=second["id"])] == [third["id"]]
    assert listed(server, dependsOn=third["id"]) == []


def test_series_counts_the_last_24_hours_by_hour(shared_server: ErrandsServer,
                                                 outside: HttpServer) -> None:
    server = shared_server
    ids = [create(server, api(outside.url_for("/ok"), title="ok"))["id"] for _ in range(3)]
    for task_id in ids:
        server.wait_for(task_id, {"completed"})
    series = server.call("system.series", None, headers=VIEW)
    hours = series["hours"]
    assert len(hours) == 24 and hours[-1]["start"].endswith(":00:00Z")
    assert [h["start"] for h in hours] == sorted(h["start"] for h in hours)
    stats = server.call("system.stats", None)
    # everything in this module's server happened within the last hour or two
    assert sum(h["created"] for h in hours) == sum(stats["tasksByStatus"].values())
    attempts: dict[str, int] = {}
    for hour in hours:
        for status, n in hour["attempts"].items():
            attempts[status] = attempts.get(status, 0) + n
    assert sum(attempts.values()) == stats["executed"]
    assert attempts.get("success", 0) == stats["succeeded"] >= 3


def test_every_role_reads_schedules(shared_server: ErrandsServer) -> None:
    assert isinstance(shared_server.call("schedules.list", {}, headers=VIEW), list)


def test_a_key_scoped_to_a_client_sees_only_its_clients_failures(
        shared_server: ErrandsServer, outside: HttpServer) -> None:
    server = shared_server
    outside.route("/scoped", status=418, json={"error": "teapot"})
    mine = server.call("clients.create", {"name": "Mine"}, mutation=True)
    other = server.call("clients.create", {"name": "Other"}, mutation=True)
    key = server.call("keys.create", {"name": "mine-viewer", "role": "viewer",
                                      "clientId": mine["id"]}, mutation=True)["key"]
    scoped = {"authorization": f"Bearer {key}"}
    ids = [create(server, api(outside.url_for("/scoped"), title=f"scoped {n}",
                              clientId=client["id"]))["id"]
           for n, client in enumerate([mine, other, other])]
    for task_id in ids:
        server.wait_for(task_id, {"failed"})
    everyone = server.call("tasks.failureGroups", None)
    seen = server.call("tasks.failureGroups", None, headers=scoped)
    (teapot,) = [g for g in everyone["groups"] if "418" in (g["example"] or "")]
    (own,) = [g for g in seen["groups"] if g["key"] == teapot["key"]]
    assert teapot["count"] == 3 and own["count"] == 1 and seen["total"] == 1
    page = server.call("tasks.list", {"errorGroup": teapot["key"]}, headers=scoped)
    assert [t["id"] for t in page["items"]] == [ids[0]]
    series = server.call("system.series", None, headers=scoped)
    assert sum(h["created"] for h in series["hours"]) == 1
