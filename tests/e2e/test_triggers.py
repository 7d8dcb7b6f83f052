"""Triggers (CONTRACT §16) through the running server, signed on the sending side by the
official ``standardwebhooks`` library: valid, replayed, tampered, expired, oversized,
unfillable, unknown/disabled, rotated secret, and the trigger's deliveries and audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from standardwebhooks.webhooks import Webhook

from tests.support.server import ErrandsServer, TRPCCallError

TEMPLATE: dict[str, Any] = {
    "title": "Welcome {{event.contact.name}}",
    "taskType": "api_call",
    "executionType": "manual",
    "executionConfig": {"apiEndpoint": "http://127.0.0.1:9/contacts", "apiMethod": "POST",
                        "body": {"message": "{{event.contact.email}} joined"}},
    "metadata": {"event": "{{event}}", "score": "{{event.score}}"},
}


def send(server: ErrandsServer, trigger: dict[str, Any], payload: Any, *,
         msg_id: str = "msg_1", at: datetime | None = None, secret: str | None = None,
         body: bytes | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST ``payload`` to the trigger's url, signed by the official library."""
    content = body if body is not None else msgspec.json.encode(payload)
    stamp = at or datetime.now(UTC)
    signature = Webhook(secret or trigger["secret"]).sign(msg_id, stamp, content.decode())
    sent = {"content-type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(int(stamp.timestamp())), "webhook-signature": signature,
            **(headers or {})}
    return server.client.post(trigger["url"], content=content, headers=sent)


EVENT = {"contact": {"name": "Ada", "email": "ada@example.com"}, "score": 7}


@pytest.fixture
def server(database_url: str, errands_server: Callable[..., ErrandsServer]
           ) -> ErrandsServer:
    return errands_server(database_url, env={"MAX_BODY_BYTES": "4096"})


def test_a_signed_event_creates_a_task_once(server: ErrandsServer) -> None:
    trigger = server.call("triggers.create", {"name": "signup", "template": TEMPLATE},
                          mutation=True)
    assert trigger["id"].startswith("trg_") and trigger["secret"].startswith("whsec_")
    assert trigger["url"] == f"{server.base}/hooks/{trigger['id']}"
    assert trigger["verify"] == "standard_webhooks" and trigger["enabled"] is True
    assert "secret" not in server.call("triggers.get", {"id": trigger["id"]})

    first = send(server, trigger, EVENT)
    assert first.status_code == 202, first.text
    task_id = first.json()["taskId"]
    task = server.call("tasks.get", {"id": task_id})
    assert task["title"] == "Welcome Ada"
    assert task["executionConfig"]["body"] == {"message": "ada@example.com joined"}
    assert task["metadata"] == {"event": EVENT, "score": 7}  # one placeholder keeps its type
    assert task["idempotencyKey"] == f"trigger:{trigger['id']}:msg_1"
    assert task["status"] == "pending"

    again = send(server, trigger, EVENT)  # the same webhook-id: the first answer
    assert (again.status_code, again.json()) == (202, {"taskId": task_id})
    assert server.call("tasks.list", {})["items"] == [task]

    [entry] = server.call("audit.list", {"targetId": task_id})["items"]
    assert (entry["actor"], entry["action"]) == ("trigger:signup", "trigger")
    seen = server.call("triggers.deliveries", {"id": trigger["id"]})
    assert [(d["status"], d["taskId"]) for d in seen] == [(202, task_id), (202, task_id)]
    assert server.call("triggers.get", {"id": trigger["id"]})["lastReceivedAt"] is not None

    metrics = server.client.get(f"{server.base}/metrics").text
    assert f'errands_trigger_calls_total{{outcome="accepted",trigger="{trigger["id"]}"}} 2.0' \
        in metrics


def test_bad_signatures_are_401_and_create_nothing(server: ErrandsServer) -> None:
    trigger = server.call("triggers.create", {"name": "t", "template": TEMPLATE}, mutation=True)
    content = msgspec.json.encode(EVENT)
    tampered = send(server, trigger, None, body=content.replace(b"Ada", b"Eve"), headers={
        "webhook-signature": Webhook(trigger["secret"]).sign(
            "msg_1", datetime.now(UTC), content.decode())})
    expired = send(server, trigger, EVENT, at=datetime.now(UTC) - timedelta(minutes=6))
    future = send(server, trigger, EVENT, at=datetime.now(UTC) + timedelta(minutes=6))
    other_key = send(server, trigger, EVENT, secret="whsec_" + "A" * 44)
    unsigned = server.client.post(trigger["url"], content=content,
                                  headers={"content-type": "application/json"})
    for refused in (tampered, expired, future, other_key, unsigned):
        assert refused.status_code == 401, refused.text
        assert "signature" in refused.json()["error"]
        assert trigger["secret"] not in refused.text
    assert server.call("tasks.list", {})["items"] == []
    assert [d["status"] for d in server.call("triggers.deliveries", {"id": trigger["id"]})] \
        == [401] * 5


def test_rotated_secret_replaces_the_old_one(server: ErrandsServer) -> None:
    trigger = server.call("triggers.create", {"name": "t", "template": TEMPLATE}, mutation=True)
    rotated = server.call("triggers.rotateSecret", {"id": trigger["id"]}, mutation=True)
    assert rotated["secret"] != trigger["secret"]
    assert send(server, trigger, EVENT).status_code == 401
    assert send(server, rotated, EVENT).status_code == 202


def test_oversized_unfillable_invalid_unknown_and_disabled(server: ErrandsServer) -> None:
    trigger = server.call("triggers.create", {"name": "t", "template": TEMPLATE}, mutation=True)
    big = send(server, trigger, {"contact": {"name": "x" * 5000, "email": "e"}})
    assert big.status_code == 413, big.text

    unfillable = send(server, trigger, {"contact": {"name": "Ada"}, "score": 1}, msg_id="m2")
    assert unfillable.status_code == 422
    assert "{{event.contact.email}}" in unfillable.json()["error"]

    strict = server.call("triggers.create", {"name": "s", "template": {
        "title": "{{event.title}}", "taskType": "api_call", "executionType": "manual",
        "executionConfig": {"apiEndpoint": "http://127.0.0.1:9/x"}}}, mutation=True)
    too_long = send(server, strict, {"title": "x" * 300}, msg_id="m3")
    assert too_long.status_code == 422 and "title" in too_long.json()["error"]
    not_json = send(server, strict, None, body=b"not json", msg_id="m4")
    assert not_json.status_code == 422
    assert server.call("tasks.list", {})["items"] == []

    unknown = server.client.post(f"{server.base}/hooks/trg_nope", content=b"{}")
    assert unknown.status_code == 404
    server.call("triggers.update", {"id": trigger["id"], "patch": {"enabled": False}},
                mutation=True)
    assert send(server, trigger, EVENT, msg_id="m5").status_code == 404
    assert server.call("triggers.delete", {"id": strict["id"]}, mutation=True) == {
        "id": strict["id"]}
    assert send(server, strict, {"title": "t"}, msg_id="m6").status_code == 404


def test_calls_over_the_rate_limit_are_429(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    slow = errands_server(sqlite_database_url, env={"TRIGGER_RATE_LIMIT": "0.001"})
    trigger = slow.call("triggers.create", {"name": "t", "template": TEMPLATE}, mutation=True)
    assert send(slow, trigger, EVENT, msg_id="r1").status_code == 202
    limited = send(slow, trigger, EVENT, msg_id="r2")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert len(slow.call("tasks.list", {})["items"]) == 1
    metrics = slow.client.get(f"{slow.base}/metrics").text
    assert f'errands_trigger_calls_total{{outcome="refused",trigger="{trigger["id"]}"}} 1.0' \
        in metrics
    with pytest.raises(TRPCCallError) as reserved:
        slow.call("tasks.create", {**TEMPLATE, "title": "x", "idempotencyKey": "trigger:x:y"},
                  mutation=True)
    assert reserved.value.error["data"]["issues"][0]["path"] == ["idempotencyKey"]


def test_templates_are_checked_at_create(server: ErrandsServer) -> None:
    with pytest.raises(TRPCCallError) as bad:
        server.call("triggers.create", {"name": "t", "template": {
            "title": "t", "taskType": "api_call", "executionType": "manual",
            "executionConfig": {"apiEndpoint": "{{ event..x }}"}}}, mutation=True)
    assert bad.value.code == "BAD_REQUEST"
    assert bad.value.error["data"]["issues"][0]["path"] == ["template", "executionConfig",
                                                           "apiEndpoint"]
    with pytest.raises(TRPCCallError) as keyed:
        server.call("triggers.create", {"name": "t", "template": {
            **TEMPLATE, "idempotencyKey": "k"}}, mutation=True)
    assert keyed.value.error["data"]["issues"][0]["path"] == ["template", "idempotencyKey"]
    with pytest.raises(TRPCCallError) as config:
        server.call("triggers.create", {"name": "t", "template": {
            "title": "x", "taskType": "api_call", "executionConfig": {"apiMethod": "GET"}}},
            mutation=True)
    assert config.value.error["data"]["issues"][0]["path"][:2] == ["template",
                                                                  "executionConfig"]


def test_unsigned_trigger_and_masked_secrets(server: ErrandsServer) -> None:
    trigger = server.call("triggers.create", {"name": "open", "verify": "none", "template": {
        "title": "call {{event.n}}", "taskType": "api_call", "executionType": "manual",
        "executionConfig": {"apiEndpoint": "http://127.0.0.1:9/x", "authType": "bearer",
                            "bearerToken": "tok-secret-123"}}}, mutation=True)
    assert trigger["template"]["executionConfig"]["bearerToken"] == "********"
    renamed = server.call("triggers.update", {"id": trigger["id"], "patch": {
        "name": "open2", "template": trigger["template"]}}, mutation=True)
    assert renamed["name"] == "open2"
    answer = server.client.post(trigger["url"], json={"n": 3})
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["taskId"]
    assert server.call("tasks.get", {"id": task_id})["title"] == "call 3"
    # the kept secret is the stored one: the task got it (masked in answers)
    assert "tok-secret-123" not in server.client.get(
        f"{server.url}/triggers.list").text
