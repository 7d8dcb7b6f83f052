"""Clients and connections end to end (CONTRACT §14): the real server (SQLite and PostgreSQL)
against the fake HighLevel and a local echoing HTTP server, through the tRPC API only."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from tests.fakes.ghl import FakeGhl
from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
    sqlite_url,
)
from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer, TRPCCallError

ENV_TOKEN = "pit-env-0f1e2d3c-ENVTOKEN"
ENV_LOCATION = "loc-env"
TOKEN_A = "pit-client-a-7c6b5a49-TOKEN"
LOCATION_A = "loc-client-a"
TOKEN_B = "pit-client-b-1a2b3c4d-TOKEN"
LOCATION_B = "loc-client-b"
TERMINAL = {"completed", "failed", "cancelled", "rejected"}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGhl]:
    with FakeGhl(tokens={ENV_TOKEN: ENV_LOCATION, TOKEN_A: LOCATION_A,
                         TOKEN_B: LOCATION_B}) as server:
        yield server


@pytest.fixture(scope="module")
def echo() -> Iterator[HttpServer]:
    with HttpServer() as server:
        server.route("/echo", echo=True)
        yield server


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, fake: FakeGhl,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandsServer]:
    workdir = tmp_path_factory.mktemp("clients")
    name = None
    if request.param == "sqlite":
        url = sqlite_url(workdir)
    else:
        require_postgres()
        url, name = create_postgres_database()
    running = ErrandsServer(database_url=url, workdir=workdir, api_key="admin-key", env={
        "ERRANDS_API_KEYS": "admin:admin:admin-key,op:operator:op-key",
        "GHL_BASE_URL": fake.base_url, "GHL_API_KEY": ENV_TOKEN,
        "GHL_LOCATION_ID": ENV_LOCATION, "LOG_LEVEL": "DEBUG"})
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


def new_client(server: ErrandsServer, **fields: Any) -> dict[str, Any]:
    found: dict[str, Any] = call(server, "clients.create",
                                 {"name": unique("Client "), **fields}, mutation=True)
    return found


def new_connection(server: ErrandsServer, kind: str, values: dict[str, str],
                   client_id: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = call(server, "connections.create", {
        "name": unique(f"{kind.replace('_', '-')}-"), "kind": kind, "values": values,
        **({"clientId": client_id} if client_id else {})}, mutation=True)
    return found


def sms_config(contact_id: str, **extra: Any) -> dict[str, Any]:
    return {"ghlAction": "send_sms", "contactId": contact_id, "message": "hello", **extra}


def create_task(server: ErrandsServer, task_type: str, config: dict[str, Any],
                **fields: Any) -> dict[str, Any]:
    found: dict[str, Any] = call(server, "tasks.create", {
        "title": unique("t "), "taskType": task_type, "executionConfig": config, **fields},
        mutation=True)
    return found


def test_clients_are_created_listed_updated_and_archived(server: ErrandsServer) -> None:
    name = unique("Acme Dental ")
    client = call(server, "clients.create", {"name": name, "ghlLocationId": "loc-x",
                                             "metadata": {"tier": "gold"}}, mutation=True)
    assert client["id"].startswith("cli_")
    assert client["slug"] == name.lower().replace(" ", "-")
    assert client["archivedAt"] is None and client["ghlLocationId"] == "loc-x"
    with pytest.raises(TRPCCallError) as taken:
        call(server, "clients.create", {"name": "other", "slug": client["slug"]}, mutation=True)
    assert taken.value.code == "BAD_REQUEST" and "slug" in str(taken.value)
    with pytest.raises(TRPCCallError) as bad:
        call(server, "clients.create", {"name": "x", "slug": "Not A Slug"}, mutation=True)
    assert bad.value.code == "BAD_REQUEST"
    updated = call(server, "clients.update", {"id": client["id"],
                                              "patch": {"ghlLocationId": "loc-y"}},
                   mutation=True)
    assert updated["ghlLocationId"] == "loc-y" and updated["name"] == name
    assert call(server, "clients.get", {"id": client["id"]}) == updated
    page = call(server, "clients.list", {"search": name})
    assert [c["id"] for c in page["items"]] == [client["id"]]
    task = create_task(server, "api_call", {"apiEndpoint": "https://example.com/"},
                       clientId=client["id"], executionType="manual")
    assert task["clientId"] == client["id"]
    listed = call(server, "tasks.list", {"clientId": client["id"]})
    assert [t["id"] for t in listed["items"]] == [task["id"]]
    stats = call(server, "system.stats", {"clientId": client["id"]})
    assert stats["tasksByStatus"] == {"pending": 1}
    archived = call(server, "clients.archive", {"id": client["id"]}, mutation=True)
    assert archived["archivedAt"] is not None
    with pytest.raises(TRPCCallError) as refused:
        create_task(server, "api_call", {"apiEndpoint": "https://example.com/"},
                    clientId=client["id"])
    assert refused.value.code == "CONFLICT"
    assert client["id"] not in [c["id"] for c in call(server, "clients.list",
                                                      {"archived": False})["items"]]
    with pytest.raises(TRPCCallError) as unknown:
        create_task(server, "api_call", {"apiEndpoint": "https://example.com/"},
                    clientId="cli_nope")
    assert unknown.value.code == "BAD_REQUEST"
    assert unknown.value.error["data"]["issues"][0]["path"] == ["clientId"]


def test_a_clients_task_uses_its_highlevel_token_and_location(
        server: ErrandsServer, fake: FakeGhl) -> None:
    client = new_client(server, ghlLocationId=LOCATION_A)
    conn = new_connection(server, "ghl", {"token": TOKEN_A}, client["id"])
    assert conn["values"] == {"token": "********"} and conn["version"] == 1
    email = f"{unique('a')}@example.com"
    task = create_task(server, "ghl_action", {"ghlAction": "add_contact", "email": email},
                       clientId=client["id"])
    done = server.wait_for(task["id"], TERMINAL)
    assert done["status"] == "completed", done["lastError"]
    stored = [c for c in fake.contacts.values() if c.get("email") == email]
    assert [c["locationId"] for c in stored] == [LOCATION_A]  # TOKEN_A may use LOCATION_A only
    (attempt,) = call(server, "tasks.executions", {"taskId": task["id"]})
    assert attempt["input"]["connection"] == f"{conn['name']}@v1"
    assert call(server, "connections.get", {"id": conn["id"]})["lastUsedAt"] is not None
    # No client: the server's GHL_API_KEY and GHL_LOCATION_ID, as before.
    email = f"{unique('e')}@example.com"
    plain = create_task(server, "ghl_action", {"ghlAction": "add_contact", "email": email})
    assert server.wait_for(plain["id"], TERMINAL)["status"] == "completed"
    assert [c["locationId"] for c in fake.contacts.values()
            if c.get("email") == email] == [ENV_LOCATION]


def test_a_named_connection_and_its_location_come_before_the_clients(
        server: ErrandsServer, fake: FakeGhl) -> None:
    client = new_client(server, ghlLocationId=LOCATION_A)
    new_connection(server, "ghl", {"token": TOKEN_A}, client["id"])
    other = new_connection(server, "ghl", {"token": TOKEN_B, "locationId": LOCATION_B})
    email = f"{unique('b')}@example.com"
    task = create_task(server, "ghl_action", {"ghlAction": "add_contact", "email": email,
                                              "connection": other["name"]},
                       clientId=client["id"])
    assert server.wait_for(task["id"], TERMINAL)["status"] == "completed"
    assert [c["locationId"] for c in fake.contacts.values()
            if c.get("email") == email] == [LOCATION_B]


def test_a_rotated_connection_is_used_by_an_already_scheduled_task(
        server: ErrandsServer, fake: FakeGhl) -> None:
    client = new_client(server)
    conn = new_connection(server, "ghl", {"token": "pit-revoked-OLD-TOKEN",
                                          "locationId": LOCATION_B}, client["id"])
    contact = fake.seed_contact(location_id=LOCATION_B, email=f"{unique('r')}@example.com",
                                phone="+15550001234")
    when = (datetime.now(UTC) + timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
    task = create_task(server, "ghl_action", sms_config(contact["id"]), clientId=client["id"],
                       scheduledFor=when)
    assert task["status"] == "scheduled"
    rotated = call(server, "connections.update", {"id": conn["id"], "patch": {
        "values": {"token": TOKEN_B, "locationId": "********"}}}, mutation=True)
    assert rotated["version"] == 2
    done = server.wait_for(task["id"], TERMINAL)
    assert done["status"] == "completed", done["lastError"]
    (attempt,) = call(server, "tasks.executions", {"taskId": task["id"]})
    assert attempt["input"]["connection"] == f"{conn['name']}@v2"
    # Values sent back unchanged ("********") change nothing: the version stays.
    same = call(server, "connections.update", {"id": conn["id"], "patch": {
        "values": {"token": "********", "locationId": "********"}}}, mutation=True)
    assert same["version"] == 2


def test_a_connection_of_another_client_or_an_unknown_one_is_refused_at_create(
        server: ErrandsServer) -> None:
    mine, theirs = new_client(server), new_client(server)
    conn = new_connection(server, "bearer", {"token": "tok-of-theirs-123"}, theirs["id"])
    config = {"apiEndpoint": "https://example.com/", "authType": "connection",
              "connection": conn["name"]}
    for fields in ({"clientId": mine["id"]}, {}):
        with pytest.raises(TRPCCallError) as refused:
            create_task(server, "api_call", config, **fields)
        assert refused.value.code == "BAD_REQUEST"
        assert refused.value.error["data"]["issues"][0]["path"] == [
            "executionConfig", "connection"]
    with pytest.raises(TRPCCallError) as unknown:
        create_task(server, "api_call", {**config, "connection": "no-such-connection"},
                    clientId=theirs["id"])
    assert unknown.value.error["data"]["issues"][0]["path"] == ["executionConfig", "connection"]
    with pytest.raises(TRPCCallError) as missing:
        create_task(server, "api_call", {"apiEndpoint": "https://example.com/",
                                         "authType": "connection"})
    assert missing.value.code == "BAD_REQUEST"
    ghl = new_connection(server, "ghl", {"token": "pit-x-123456"}, theirs["id"])
    with pytest.raises(TRPCCallError) as kind:
        create_task(server, "api_call", {**config, "connection": ghl["name"]},
                    clientId=theirs["id"])
    assert kind.value.error["data"]["issues"][0]["path"] == ["executionConfig", "connection"]
    # The owner's task may use it.
    ok = create_task(server, "api_call", config, clientId=theirs["id"], executionType="manual")
    assert ok["executionConfig"]["connection"] == conn["name"]


def test_connection_values_are_checked_and_only_admins_change_them(
        server: ErrandsServer) -> None:
    with pytest.raises(TRPCCallError) as bad:
        call(server, "connections.create", {"name": unique("b-"), "kind": "basic",
                                            "values": {"username": "u"}}, mutation=True)
    assert bad.value.error["data"]["issues"][0]["path"] == ["values", "password"]
    with pytest.raises(TRPCCallError) as extra:
        call(server, "connections.create", {"name": unique("b-"), "kind": "bearer",
                                            "values": {"token": "t1234", "x": "y"}},
             mutation=True)
    assert extra.value.error["data"]["issues"][0]["path"] == ["values", "x"]
    with pytest.raises(TRPCCallError) as many:
        call(server, "connections.create", {
            "name": unique("h-"), "kind": "headers",
            "values": {f"X-H{i}": "v" for i in range(21)}}, mutation=True)
    assert many.value.code == "BAD_REQUEST"
    with pytest.raises(TRPCCallError) as forbidden:
        call(server, "connections.create", {"name": unique("b-"), "kind": "bearer",
                                            "values": {"token": "t1234"}}, mutation=True,
             key="op-key")
    assert forbidden.value.code == "FORBIDDEN"
    api = new_connection(server, "api_key", {"key": "k-123456"})
    assert api["values"] == {"key": "********", "header": "********"}
    assert call(server, "connections.get", {"id": api["id"]}, key="op-key")["id"] == api["id"]


def test_deleting_a_connection_in_use_names_its_users_unless_forced(
        server: ErrandsServer) -> None:
    conn = new_connection(server, "bearer", {"token": "tok-in-use-123"})
    task = create_task(server, "api_call", {"apiEndpoint": "https://example.com/",
                                            "authType": "connection",
                                            "connection": conn["name"]},
                       executionType="manual")
    with pytest.raises(TRPCCallError) as refused:
        call(server, "connections.delete", {"id": conn["id"]}, mutation=True)
    assert refused.value.code == "CONFLICT" and task["id"] in refused.value.error["message"]
    assert call(server, "connections.delete", {"id": conn["id"], "force": True},
                mutation=True) == {"id": conn["id"]}
    with pytest.raises(TRPCCallError) as gone:
        call(server, "connections.get", {"id": conn["id"]})
    assert gone.value.code == "NOT_FOUND"


def _events(server: ErrandsServer) -> str:
    """Every stored task event, replayed from the start (SSE), as text."""
    params = {"input": msgspec.json.encode({"lastEventId": "0"}).decode()}
    chunks: list[str] = []
    with httpx.stream("GET", f"{server.url}/tasks.onChange", params=params, timeout=10,
                      headers={**server.headers(), "accept": "text/event-stream"}) as resp:
        deadline = time.monotonic() + 3
        for line in resp.iter_lines():
            chunks.append(line)
            if time.monotonic() > deadline:
                break
    return "\n".join(chunks)


def test_no_connection_value_shows_anywhere_even_when_the_remote_echoes_it(
        server: ErrandsServer, echo: HttpServer) -> None:
    marks = {kind: f"MARK-{kind}-{uuid.uuid4().hex[:10]}" for kind in
             ("bearer", "api_key", "basic", "headers", "ghl")}
    client = new_client(server)
    connections = {
        "bearer": new_connection(server, "bearer", {"token": marks["bearer"]}, client["id"]),
        "api_key": new_connection(server, "api_key", {"key": marks["api_key"],
                                                      "header": "X-Secret"}, client["id"]),
        "basic": new_connection(server, "basic", {"username": "someone",
                                                  "password": marks["basic"]}, client["id"]),
        "headers": new_connection(server, "headers", {"X-Custom": marks["headers"]},
                                  client["id"]),
    }
    new_connection(server, "ghl", {"token": marks["ghl"]}, client["id"])
    ids = []
    for kind, conn in connections.items():
        task = create_task(server, "api_call", {
            "apiEndpoint": echo.url_for(f"/echo?k={kind}"), "apiMethod": "POST",
            "authType": "connection", "connection": conn["name"],
            "body": {"note": "hello"}}, clientId=client["id"])
        ids.append(task["id"])
        assert task["executionConfig"]["connection"] == conn["name"]
    # The ghl token is refused by HighLevel (a 401 quoting nothing): the attempt fails.
    ghl = create_task(server, "ghl_action", {"ghlAction": "add_contact",
                                             "email": "m@example.com"},
                      clientId=client["id"], maxRetries=0)
    ids.append(ghl["id"])
    answers: list[Any] = []
    for task_id in ids:
        answers.append(server.wait_for(task_id, TERMINAL))
        answers.append(call(server, "tasks.executions", {"taskId": task_id}))
    assert [a["status"] for a in answers[0:8:2]] == ["completed"] * 4
    for attempts, conn in zip(answers[1:8:2], connections.values(), strict=True):
        assert attempts[0]["input"]["connection"] == f"{conn['name']}@v1"
    received = {r.query["k"][0]: r for r in echo.requests_to("/echo")}
    assert received["bearer"].headers["authorization"] == f"Bearer {marks['bearer']}"
    assert received["api_key"].headers["x-secret"] == marks["api_key"]
    assert marks["basic"] not in received["basic"].headers["authorization"]  # base64
    assert received["headers"].headers["x-custom"] == marks["headers"]
    # What the remote echoed (the credentials included) reached the result, scrubbed.
    assert answers[0]["result"]["body"]["headers"]["authorization"] == "Bearer ********"
    answers.append(call(server, "audit.list", {"limit": 200}))
    answers.append(call(server, "connections.list", {"clientId": client["id"]}))
    answers.append(call(server, "tasks.list", {"clientId": client["id"]}))
    text = msgspec.json.encode(answers).decode() + _events(server) + server.log()

    basic = base64.b64encode(f"someone:{marks['basic']}".encode()).decode()
    for mark in [*marks.values(), basic]:
        assert mark not in text


def test_a_report_with_a_client_covers_that_clients_tasks_only(server: ErrandsServer) -> None:
    client = new_client(server)
    for _ in range(2):
        create_task(server, "api_call", {"apiEndpoint": "https://example.com/"},
                    clientId=client["id"], executionType="manual")
    create_task(server, "api_call", {"apiEndpoint": "https://example.com/"},
                executionType="manual")
    report = create_task(server, "report_generation", {"reportType": "task_summary",
                                                       "clientId": client["id"]})
    done = server.wait_for(report["id"], TERMINAL)
    assert done["status"] == "completed", done["lastError"]
    assert done["result"]["data"]["total"] == 2
    # A client's own report task covers it without naming it, and no other client.
    own = create_task(server, "report_generation", {"reportType": "task_summary"},
                      clientId=client["id"])
    assert server.wait_for(own["id"], TERMINAL)["result"]["data"]["total"] == 3
    with pytest.raises(TRPCCallError) as other:
        create_task(server, "report_generation", {"reportType": "task_summary",
                                                  "clientId": new_client(server)["id"]},
                    clientId=client["id"])
    assert other.value.error["data"]["issues"][0]["path"] == ["executionConfig", "clientId"]
