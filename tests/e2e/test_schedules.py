"""Cron schedules through the running server: one task per slot across a restart (run_once
and skip), pause/resume/delete, validation — on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.server import ErrandsServer, TRPCCallError
from tests.support.waiting import eventually

TEMPLATE = {"taskType": "report_generation", "executionConfig": {"reportType": "task_summary"}}
# Crons of every second or every 4 s: allowed only with SCHEDULE_MIN_INTERVAL_SECONDS lowered.
EVERY_SECOND = {"SCHEDULE_MIN_INTERVAL_SECONDS": "1"}


def slots_of(server: ErrandsServer, schedule: dict[str, Any]) -> list[float]:
    """Slot times (epoch seconds) of the tasks the schedule created, ascending."""
    prefix = f"schedule:{schedule['id']}:"
    page = server.call("tasks.list", {"search": schedule["name"], "limit": 200})
    keys = [t["idempotencyKey"] for t in page["items"]]
    assert all(k.startswith(prefix) for k in keys), keys
    assert len(keys) == len(set(keys))
    return sorted(datetime.fromisoformat(k.removeprefix(prefix)).timestamp() for k in keys)


def create(server: ErrandsServer, name: str, cron: str, **extra: Any) -> dict[str, Any]:
    schedule: dict[str, Any] = server.call("schedules.create", {
        "name": name, "cron": cron, "task": {"title": name, **TEMPLATE}, **extra},
        mutation=True)
    return schedule


def test_seconds_cron_creates_one_task_per_slot_across_a_restart(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    first = errands_server(database_url, env=EVERY_SECOND)
    once = create(first, "every4-once", "*/4 * * * * *")
    skip = create(first, "every4-skip", "*/4 * * * * *", missedRunPolicy="skip")
    assert (once["missedRunPolicy"], skip["missedRunPolicy"]) == ("run_once", "skip")
    assert once["nextRunAt"].endswith("Z") and once["lastRunAt"] is None
    eventually(lambda: min(len(slots_of(first, once)), len(slots_of(first, skip))) >= 2,
               timeout=15)
    assert first.stop() == 0
    stopped = time.time()
    # Come back at least two slots later: the slots in (stopped, boundary] are surely missed
    # while down. How long the restart takes is the machine's business: the slots that fall
    # due while it starts may count as missed or as on time, and nothing below depends on it.
    boundary = 4 * math.ceil((stopped + 8) / 4)
    eventually(lambda: time.time() > boundary + 0.1, timeout=30)
    second = errands_server(database_url, env=EVERY_SECOND)
    # On time again: two slots after the restart, for the skip schedule too.
    eventually(lambda: len([s for s in slots_of(second, skip) if s > stopped]) >= 2
               and len([s for s in slots_of(second, once) if s > stopped]) >= 2, timeout=60)
    once_slots, skip_slots = slots_of(second, once), slots_of(second, skip)

    assert all(s % 4 == 0 for s in once_slots + skip_slots)
    before_once = [s for s in once_slots if s <= stopped]
    before_skip = [s for s in skip_slots if s <= stopped]
    for before in (before_once, before_skip):  # while running: every slot, each once
        assert len(before) >= 2
        assert before == [before[0] + 4 * i for i in range(len(before))]
    after_once = [s for s in once_slots if s > stopped]
    after_skip = [s for s in skip_slots if s > stopped]
    # run_once: one task for the latest missed slot (boundary or later, never one before it),
    # then every slot on time, each once.
    assert after_once[0] >= boundary
    assert after_once == [after_once[0] + 4 * i for i in range(len(after_once))]
    # skip: nothing for the missed slots; its first is on time, after run_once's catch-up.
    assert after_skip[0] > boundary and after_skip[0] >= after_once[0]
    assert after_skip == [after_skip[0] + 4 * i for i in range(len(after_skip))]

    page = second.call("tasks.list", {"search": once["name"], "limit": 1})
    [latest] = page["items"]
    attempts = second.call("tasks.executions", {"taskId": latest["id"]})
    assert [a["triggeredBy"] for a in attempts] == ["automation"]


def test_pause_resume_and_delete(database_url: str,
                                 errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url, env=EVERY_SECOND)
    schedule = create(server, "each-second", "* * * * * *")
    eventually(lambda: len(slots_of(server, schedule)) >= 1, timeout=10)
    paused = server.call("schedules.pause", {"id": schedule["id"]}, mutation=True)
    paused_at = time.time()
    assert (paused["enabled"], paused["nextRunAt"]) == (False, None)
    assert server.call("schedules.pause", {"id": schedule["id"]}, mutation=True) == paused
    time.sleep(0.5)  # a slot being created as we paused may still land
    count = len(slots_of(server, schedule))
    time.sleep(2.5)
    assert len(slots_of(server, schedule)) == count

    resumed = server.call("schedules.resume", {"id": schedule["id"]}, mutation=True)
    resumed_at = time.time()
    assert resumed["enabled"] is True
    assert datetime.fromisoformat(resumed["nextRunAt"]).timestamp() > paused_at
    eventually(lambda: len(slots_of(server, schedule)) >= count + 2, timeout=10)
    slots = slots_of(server, schedule)
    assert not [s for s in slots if paused_at + 0.5 < s < resumed_at - 1]  # no catch-up
    listed = server.call("schedules.list", {})
    assert [s["id"] for s in listed] == [schedule["id"]]
    assert listed[0]["lastRunAt"] is not None

    deleted = server.call("schedules.delete", {"id": schedule["id"]}, mutation=True)
    assert deleted["id"] == schedule["id"]
    assert server.call("schedules.list", {}) == []
    with pytest.raises(TRPCCallError) as info:
        server.call("schedules.pause", {"id": schedule["id"]}, mutation=True)
    assert info.value.code == "NOT_FOUND"
    time.sleep(1.5)
    final = len(slots_of(server, schedule))
    time.sleep(1.5)
    assert len(slots_of(server, schedule)) == final


INVALID = [
    ({"cron": "61 * * * *"}, ["cron"]),
    ({"cron": "* * *"}, ["cron"]),
    ({"cron": "0 0 30 2 *"}, ["cron"]),
    ({"timezone": "Mars/Olympus_Mons"}, ["timezone"]),
    ({"task": {"title": "t", "taskType": "api_call", "executionConfig": {}}},
     ["task", "executionConfig", "apiEndpoint"]),
    ({"task": {"title": "t", "taskType": "reminder",
               "executionConfig": {"message": "m", "delaySeconds": 1}}},
     ["task", "executionConfig", "webhookId"]),
    ({"task": {**TEMPLATE, "title": "t", "idempotencyKey": "k"}}, ["task", "idempotencyKey"]),
    ({"task": {**TEMPLATE, "title": "t", "sourceWebhookId": "whk_nope"}},
     ["task", "sourceWebhookId"]),
    ({"missedRunPolicy": "catch_up"}, ["missedRunPolicy"]),
    ({"enabled": False}, None),
]


@pytest.mark.parametrize(("change", "path"), INVALID)
def test_invalid_schedules_are_refused_naming_the_field(
        change: dict[str, Any], path: list[str] | None, sqlite_database_url: str,
        errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url)
    data = {"name": "bad", "cron": "0 9 * * *", "task": {"title": "t", **TEMPLATE}, **change}
    with pytest.raises(TRPCCallError) as info:
        server.call("schedules.create", data, mutation=True)
    assert info.value.code == "BAD_REQUEST"
    field = next(iter(change))
    assert field in info.value.error["message"]
    if path is not None:
        assert info.value.error["data"]["issues"][0]["path"] == path
    assert server.call("schedules.list", {}) == []


def test_time_zone_is_honoured_and_template_secrets_are_masked(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url,
                            env={"ERRANDS_API_KEYS": "op:operator:k1,view:viewer:k2"},
                            api_key="k1")
    schedule = server.call("schedules.create", {
        "name": "nine-in-new-york", "cron": "0 9 * * *", "timezone": "America/New_York",
        "task": {"title": "t", "taskType": "api_call", "executionConfig": {
            "apiEndpoint": "https://example.com/", "authType": "bearer",
            "bearerToken": "tok-secret"}}}, mutation=True)
    next_run = datetime.fromisoformat(schedule["nextRunAt"]).astimezone(UTC)
    assert (next_run.hour, next_run.minute) in ((13, 0), (14, 0))  # 09:00 EDT / EST
    assert schedule["task"]["executionConfig"]["bearerToken"] == "********"
    assert "tok-secret" not in str(server.call("schedules.list", {}))
    # a viewer reads schedules (issue 28), masked alike, and may not change them
    seen = server.call("schedules.list", {}, headers={"authorization": "Bearer k2"})
    assert [s["id"] for s in seen] == [schedule["id"]] and "tok-secret" not in str(seen)
    with pytest.raises(TRPCCallError) as info:
        server.call("schedules.pause", {"id": schedule["id"]}, mutation=True,
                    headers={"authorization": "Bearer k2"})
    assert info.value.code == "FORBIDDEN"
