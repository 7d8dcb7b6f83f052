"""Callback tasks (CONTRACT §16) through the running server: a chain completed by a POST to
the callback URL, single use, failure by error, review first, timeout, who sees the URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer, TRPCCallError

KEYS = "boss:admin:key-admin,ops:operator:key-ops,eve:viewer:key-view,rita:reviewer:key-rev"


@pytest.fixture
def server(database_url: str, errands_server: Callable[..., ErrandsServer]
           ) -> ErrandsServer:
    return errands_server(database_url, api_key="key-admin",
                          env={"ERRANDS_API_KEYS": KEYS, "INBOUND_CHECK_SECONDS": "0.2"})


def as_key(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def callback(server: ErrandsServer, **extra: Any) -> dict[str, Any]:
    created: dict[str, Any] = server.call("tasks.create", {
        "title": "wait for the CRM", "taskType": "callback",
        "executionConfig": {"expects": "the contact's id"}, **extra}, mutation=True)
    return created


def test_a_callback_completes_its_task_and_feeds_its_dependent(server: ErrandsServer) -> None:
    a = callback(server)
    assert a["status"] == "pending" and a["assignedToBot"] is False
    url = a["callbackUrl"]
    assert url.startswith(f"{server.base}/callbacks/{a['id']}/")
    assert len(url.rsplit("/", 1)[1]) >= 22  # >= 128 bits of base64url
    with HttpServer() as crm:
        crm.route("/contacts", method="POST", json={"ok": True})
        b = server.call("tasks.create", {
            "title": "tell the CRM", "taskType": "api_call", "dependsOn": [a["id"]],
            "executionConfig": {"apiEndpoint": crm.url_for("/contacts"), "apiMethod": "POST",
                                "body": {"contact": "{{dep.0.contact.id}}",
                                         "note": "id {{dep.0.contact.id}}"}}}, mutation=True)
        assert b["status"] == "scheduled"

        done = server.client.post(url, json={"result": {"contact": {"id": 42}}})
        assert done.status_code == 200, done.text
        assert done.json() == {"taskId": a["id"], "status": "completed"}
        assert server.wait_for(b["id"], {"completed", "failed"})["status"] == "completed"
        [request] = crm.requests_to("/contacts")
    assert request.json() == {"contact": 42, "note": "id 42"}

    task = server.call("tasks.get", {"id": a["id"]})
    assert (task["status"], task["result"]) == ("completed", {"contact": {"id": 42}})
    [execution] = server.call("tasks.executions", {"taskId": a["id"]})
    assert (execution["triggeredBy"], execution["status"], execution["output"]) == (
        "callback", "success", {"contact": {"id": 42}})

    again = server.client.post(url, json={"result": 1})
    assert again.status_code == 409
    wrong = server.client.post(url[:-4] + "AAAA", json={"result": 1})
    assert wrong.status_code == 404


def test_an_error_fails_it_and_cancels_its_dependents(server: ErrandsServer) -> None:
    a = callback(server)
    b = server.call("tasks.create", {
        "title": "after", "taskType": "callback", "dependsOn": [a["id"]],
        "executionConfig": {}}, mutation=True)
    bad = server.client.post(a["callbackUrl"], json={"error": 42})
    assert bad.status_code == 400
    failed = server.client.post(a["callbackUrl"], json={"error": "the CRM said no"})
    assert failed.json() == {"taskId": a["id"], "status": "failed"}
    task = server.call("tasks.get", {"id": a["id"]})
    assert (task["status"], task["lastError"]) == ("failed", "the CRM said no")
    assert server.call("tasks.get", {"id": b["id"]})["status"] == "cancelled"
    with pytest.raises(TRPCCallError) as refused:
        server.call("tasks.retry", {"id": a["id"]}, mutation=True)
    assert refused.value.code == "PRECONDITION_FAILED"


def test_review_comes_first_and_the_url_is_for_operators(server: ErrandsServer) -> None:
    a = callback(server, requiresHumanReview=True)
    assert a["status"] == "awaiting_review"
    early = server.client.post(a["callbackUrl"], json={"result": 1})
    assert early.status_code == 409
    server.call("tasks.approve", {"id": a["id"]}, mutation=True)
    assert server.call("tasks.get", {"id": a["id"]}, headers=as_key("key-ops"))[
        "callbackUrl"] == a["callbackUrl"]
    for key in ("key-view", "key-rev"):
        assert server.call("tasks.get", {"id": a["id"]}, headers=as_key(key))[
            "callbackUrl"] is None
        [listed] = server.call("tasks.list", {}, headers=as_key(key))["items"]
        assert listed["callbackUrl"] is None
    with pytest.raises(TRPCCallError) as refused:
        server.call("tasks.execute", {"id": a["id"]}, mutation=True)
    assert refused.value.code == "PRECONDITION_FAILED"
    assert server.client.post(a["callbackUrl"], json={}).json()["status"] == "completed"
    assert server.call("tasks.get", {"id": a["id"]})["result"] is None


def test_no_callback_within_its_timeout_fails_it(server: ErrandsServer) -> None:
    a = server.call("tasks.create", {"title": "short", "taskType": "callback",
                                     "executionConfig": {"timeoutSeconds": 1}},
                    mutation=True)
    task = server.wait_for(a["id"], {"failed", "completed"})
    assert task["status"] == "failed"
    [execution] = server.call("tasks.executions", {"taskId": a["id"]})
    assert (execution["status"], execution["errorType"]) == ("timed_out", "timeout")
    assert server.client.post(a["callbackUrl"], json={"result": 1}).status_code == 409
    with pytest.raises(TRPCCallError) as bad:
        server.call("tasks.create", {"title": "x", "taskType": "callback",
                                     "executionConfig": {"timeoutSeconds": 0}}, mutation=True)
    assert bad.value.error["data"]["issues"][0]["path"] == ["executionConfig", "timeoutSeconds"]
