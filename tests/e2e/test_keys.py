"""API keys made at run time (CONTRACT §14 ``keys.*``): shown once, revoked on every node, keys
scoped to a client see that client's work only — through the real server's tRPC API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
    sqlite_url,
)
from tests.support.http_servers import HttpServer
from tests.support.node import run_node
from tests.support.server import ErrandsServer, TRPCCallError

TERMINAL = {"completed", "failed", "cancelled", "rejected"}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def hook() -> Iterator[HttpServer]:
    with HttpServer() as server:
        server.route("/hook", json={"ok": True})
        yield server


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandsServer]:
    workdir = tmp_path_factory.mktemp("keys")
    name = None
    if request.param == "sqlite":
        url = sqlite_url(workdir)
    else:
        require_postgres()
        url, name = create_postgres_database()
    running = ErrandsServer(database_url=url, workdir=workdir, api_key="admin-key",
                            env={"ERRANDS_API_KEYS": "admin:admin:admin-key"})
    running.start()
    try:
        yield running
    finally:
        running.stop()
        running.client.close()
        if name is not None:
            drop_postgres_database(name)


def call(server: ErrandsServer, path: str, data: Any = None, *, mutation: bool = False,
         key: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {key}"} if key else None
    return server.call(path, data, mutation=mutation, headers=headers)


def refused(server: ErrandsServer, path: str, data: Any = None, *, mutation: bool = False,
            key: str | None = None) -> str:
    with pytest.raises(TRPCCallError) as caught:
        call(server, path, data, mutation=mutation, key=key)
    return caught.value.code


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_a_key_is_shown_once_works_and_is_refused_once_revoked(server: ErrandsServer) -> None:
    made = call(server, "keys.create", {"name": unique("ci-"), "role": "operator"},
                mutation=True)
    assert made["key"].startswith("erk_") and made["id"].startswith("key_")
    me = call(server, "system.whoami", key=made["key"])
    assert (me["name"], me["role"], me["clientId"]) == (made["name"], "operator", None)
    listed = call(server, "keys.list")
    assert next(k for k in listed if k["id"] == made["id"])["revokedAt"] is None
    assert made["key"] not in msgspec.json.encode(listed).decode()
    assert refused(server, "keys.list", key=made["key"]) == "FORBIDDEN"  # operator
    call(server, "keys.revoke", {"id": made["id"]}, mutation=True)
    assert refused(server, "system.whoami", key=made["key"]) == "UNAUTHORIZED"
    assert made["key"] not in server.log()
    # The configured keys keep working beside them.
    assert call(server, "system.whoami")["name"] == "admin"


def test_an_expired_key_is_refused(server: ErrandsServer) -> None:
    assert refused(server, "keys.create", {
        "name": "old", "role": "viewer",
        "expiresAt": iso(datetime.now(UTC) - timedelta(seconds=1))}, mutation=True) \
        == "BAD_REQUEST"
    made = call(server, "keys.create", {
        "name": unique("short-"), "role": "viewer",
        "expiresAt": iso(datetime.now(UTC) + timedelta(seconds=2))}, mutation=True)
    assert call(server, "system.whoami", key=made["key"])["role"] == "viewer"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            call(server, "system.whoami", key=made["key"])
        except TRPCCallError as exc:
            assert exc.code == "UNAUTHORIZED" and "expired" in str(exc)
            return
        time.sleep(0.2)
    raise AssertionError("the key still works after its expiry")


def _events(server: ErrandsServer, key: str) -> list[dict[str, Any]]:
    """The stored task events a key is shown, replayed from the start."""
    params = {"input": msgspec.json.encode({"lastEventId": "0"}).decode()}
    found: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{server.url}/tasks.onChange", params=params, timeout=10,
                      headers={"authorization": f"Bearer {key}",
                               "accept": "text/event-stream"}) as resp:
        deadline = time.monotonic() + 3
        for line in resp.iter_lines():
            if line.startswith("data:") and '"task"' in line:
                found.append(msgspec.json.decode(line[5:]))
            if time.monotonic() > deadline:
                break
    return found


def test_a_scoped_key_sees_and_acts_on_its_client_only(server: ErrandsServer,
                                                       hook: HttpServer) -> None:
    mine = call(server, "clients.create", {"name": unique("Mine ")}, mutation=True)
    theirs = call(server, "clients.create", {"name": unique("Theirs ")}, mutation=True)
    key = call(server, "keys.create", {"name": unique("agent-"), "role": "operator",
                                       "clientId": mine["id"]}, mutation=True)["key"]
    assert call(server, "system.whoami", key=key)["clientId"] == mine["id"]
    webhook = call(server, "webhooks.create", {"name": "h", "url": hook.url_for("/hook")},
                   mutation=True)

    def notify(client_id: str | None, via: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = call(server, "tasks.create", {
            "title": unique("n "), "taskType": "notification",
            "executionConfig": {"message": "hi", "webhookId": webhook["id"]},
            **({"clientId": client_id} if client_id else {})}, mutation=True, key=via)
        return found

    other = notify(theirs["id"])
    own = notify(None, via=key)  # what the key creates belongs to its client
    assert own["clientId"] == mine["id"]
    for task in (own, other):
        assert server.wait_for(task["id"], TERMINAL)["status"] == "completed"
    assert refused(server, "tasks.create", {
        "title": "x", "taskType": "notification", "clientId": theirs["id"],
        "executionConfig": {"message": "hi", "webhookId": webhook["id"]}}, mutation=True,
        key=key) == "NOT_FOUND"
    assert [t["id"] for t in call(server, "tasks.list", {}, key=key)["items"]] == [own["id"]]
    assert refused(server, "tasks.list", {"clientId": theirs["id"]}, key=key) == "NOT_FOUND"
    assert call(server, "tasks.get", {"id": own["id"]}, key=key)["id"] == own["id"]
    for path, data, mutation in (("tasks.get", {"id": other["id"]}, False),
                                 ("tasks.executions", {"taskId": other["id"]}, False),
                                 ("tasks.retry", {"id": other["id"]}, True),
                                 ("tasks.cancel", {"id": other["id"]}, True),
                                 ("clients.get", {"id": theirs["id"]}, False),
                                 ("system.stats", {"clientId": theirs["id"]}, False),
                                 ("tasks.onChange", {"id": other["id"]}, False)):
        if path == "tasks.onChange":
            params = {"input": msgspec.json.encode(data).decode()}
            with httpx.stream("GET", f"{server.url}/{path}", params=params, timeout=10,
                              headers={"authorization": f"Bearer {key}",
                                       "accept": "text/event-stream"}) as resp:
                first = next(line for line in resp.iter_lines()
                             if line.startswith("data:") and "reconnectAfter" not in line)
            assert "NOT_FOUND" in first, first
            continue
        assert refused(server, path, data, mutation=mutation, key=key) == "NOT_FOUND", path
    stats = call(server, "system.stats", {}, key=key)
    assert stats["tasksByStatus"] == {"completed": 1} and stats["executed"] == 1
    assert [c["id"] for c in call(server, "clients.list", {}, key=key)["items"]] == [mine["id"]]
    messages = call(server, "messages.list", {}, key=key)["items"]
    assert {m["taskId"] for m in messages} == {own["id"]}
    audit = call(server, "audit.list", {"limit": 200}, key=key)["items"]
    assert audit and {e["targetId"] for e in audit} <= {own["id"], mine["id"]}
    assert own["id"] in {e["targetId"] for e in audit}
    events = _events(server, key)
    assert events and {e["task"]["id"] for e in events} == {own["id"]}
    schedule = call(server, "schedules.create", {
        "name": "s", "cron": "0 0 1 1 *", "task": {
            "title": "yearly", "taskType": "notification",
            "executionConfig": {"message": "hi", "webhookId": webhook["id"]}}},
        mutation=True, key=key)
    assert schedule["task"]["clientId"] == mine["id"]
    admins = call(server, "schedules.create", {
        "name": "t", "cron": "0 0 1 1 *", "task": {
            "title": "yearly", "taskType": "notification", "clientId": theirs["id"],
            "executionConfig": {"message": "hi", "webhookId": webhook["id"]}}}, mutation=True)
    assert [s["id"] for s in call(server, "schedules.list", {}, key=key)] == [schedule["id"]]
    assert refused(server, "schedules.pause", {"id": admins["id"]}, mutation=True,
                   key=key) == "NOT_FOUND"
    assert refused(server, "keys.create", {"name": "x", "role": "admin"}, mutation=True,
                   key=key) == "FORBIDDEN"
    boss = call(server, "keys.create", {"name": unique("boss-"), "role": "admin",
                                        "clientId": mine["id"]}, mutation=True)["key"]
    made = call(server, "connections.create", {"name": unique("c-"), "kind": "bearer",
                                               "values": {"token": "t-123456"}},
                mutation=True, key=boss)
    assert made["clientId"] == mine["id"]
    assert refused(server, "connections.update", {"id": made["id"], "patch": {
        "clientId": theirs["id"]}}, mutation=True, key=boss) == "NOT_FOUND"


@pytest.mark.postgres
def test_a_revoked_key_is_refused_by_another_node_within_two_seconds(
        tmp_path: Path, pg_url: str) -> None:
    env = {"ERRANDS_API_KEYS": "admin:admin:admin-key"}
    a = ErrandsServer(database_url=pg_url, workdir=tmp_path, env=env, api_key="admin-key")
    b = ErrandsServer(database_url=pg_url, workdir=tmp_path, env=env, api_key="admin-key")
    try:
        a.start()
        b.start()
        made = call(a, "keys.create", {"name": "roaming", "role": "viewer"}, mutation=True)
        assert call(b, "system.whoami", key=made["key"])["name"] == "roaming"
        time.sleep(1.5)  # B has read the key in a refresh, not only by its first lookup
        assert call(b, "system.whoami", key=made["key"])["name"] == "roaming"
        call(a, "keys.revoke", {"id": made["id"]}, mutation=True)
        revoked = time.monotonic()
        while True:
            try:
                call(b, "system.whoami", key=made["key"])
            except TRPCCallError as exc:
                assert exc.code == "UNAUTHORIZED"
                break
            assert time.monotonic() - revoked < 30, "never refused on the other node"
            time.sleep(0.02)
        print(f"keys.revoke on node A to refusal on node B: "
              f"{time.monotonic() - revoked:.2f} s")
    finally:
        for node in (a, b):
            node.stop()
            node.client.close()


SCOPED_SCRIPT = r"""
import { makeClient, print } from './client.mjs';
const url = process.env.TRPC_URL;
const mine = makeClient({ url, apiKey: process.env.SCOPED, link: 'batch' });
const admin = makeClient({ url, apiKey: 'admin-key', link: 'batch' });
const config = { apiEndpoint: 'https://example.com/' };
const seen = [];
let finish;
const done = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('timed out: ' + JSON.stringify(seen))), 20000);
  finish = () => { clearTimeout(timer); sub.unsubscribe(); resolve(); };
  const sub = mine.tasks.onChange.subscribe({}, {
    onStarted: async () => {
      await admin.tasks.create.mutate({ title: 'theirs', taskType: 'api_call',
        clientId: process.env.THEIRS, executionType: 'manual', executionConfig: config });
      await admin.tasks.create.mutate({ title: 'mine', taskType: 'api_call',
        clientId: process.env.MINE, executionType: 'manual', executionConfig: config });
    },
    onData: (ev) => {
      seen.push({ title: ev.data.task.title, clientId: ev.data.task.clientId });
      if (ev.data.task.title === 'mine') finish();
    },
    onError: (err) => { clearTimeout(timer); reject(err); },
  });
});
await done;
const [tasks, clients, connections] = await Promise.all([
  mine.tasks.list.query({}), mine.clients.list.query({}), mine.connections.list.query({})]);
print({ seen, tasks: tasks.items.map((t) => t.clientId), clients: clients.items.map((c) => c.id),
        connections: connections.map((c) => [c.clientId, c.values]) });
"""


def test_the_official_client_with_a_scoped_key_sees_its_client_only(
        server: ErrandsServer) -> None:
    mine = call(server, "clients.create", {"name": unique("Mine ")}, mutation=True)
    theirs = call(server, "clients.create", {"name": unique("Theirs ")}, mutation=True)
    for client in (mine, theirs):
        call(server, "connections.create", {"name": unique("tok-"), "kind": "bearer",
                                            "values": {"token": "secret-token-1234"},
                                            "clientId": client["id"]}, mutation=True)
    key = call(server, "keys.create", {"name": unique("js-"), "role": "viewer",
                                       "clientId": mine["id"]}, mutation=True)["key"]
    out = run_node(SCOPED_SCRIPT, {"TRPC_URL": server.url, "SCOPED": key,
                                   "MINE": mine["id"], "THEIRS": theirs["id"]})
    assert out["seen"] and {e["clientId"] for e in out["seen"]} == {mine["id"]}
    assert out["tasks"] and set(out["tasks"]) == {mine["id"]}
    assert out["clients"] == [mine["id"]]
    assert out["connections"] == [[mine["id"], {"token": "********"}]]


def test_a_scoped_key_reassigns_and_duplicates_its_client_only(server: ErrandsServer,
                                                               hook: HttpServer) -> None:
    """tasks.reassign and tasks.duplicate (CONTRACT §17) obey a key's client like every
    other action; a duplicate belongs to its original's client."""
    mine = call(server, "clients.create", {"name": unique("Mine ")}, mutation=True)
    theirs = call(server, "clients.create", {"name": unique("Theirs ")}, mutation=True)
    key = call(server, "keys.create", {"name": unique("agent-"), "role": "operator",
                                       "clientId": mine["id"]}, mutation=True)["key"]
    webhook = call(server, "webhooks.create", {"name": "h", "url": hook.url_for("/hook")},
                   mutation=True)

    def manual(client_id: str) -> dict[str, Any]:
        found: dict[str, Any] = call(server, "tasks.create", {
            "title": unique("m "), "taskType": "notification", "executionType": "manual",
            "clientId": client_id,
            "executionConfig": {"message": "hi", "webhookId": webhook["id"]}}, mutation=True)
        return found

    own, other = manual(mine["id"]), manual(theirs["id"])
    for path, data in (("tasks.reassign", {"id": other["id"], "assignedToBot": False,
                                           "assignee": "ann"}),
                       ("tasks.duplicate", {"id": other["id"]})):
        assert refused(server, path, data, mutation=True, key=key) == "NOT_FOUND", path
    copy = call(server, "tasks.duplicate", {"id": own["id"]}, mutation=True, key=key)
    assert (copy["clientId"], copy["metadata"]["duplicateOf"]) == (mine["id"], own["id"])
    assert call(server, "tasks.get", {"id": copy["id"]}, key=key)["id"] == copy["id"]
    admins_copy = call(server, "tasks.duplicate", {"id": other["id"]}, mutation=True)
    assert admins_copy["clientId"] == theirs["id"]
    moved = call(server, "tasks.reassign", {"id": own["id"], "assignedToBot": False,
                                            "assignee": "ann"}, mutation=True, key=key)
    assert moved["assignee"] == "ann"
