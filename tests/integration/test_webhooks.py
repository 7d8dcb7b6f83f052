"""Webhooks and delivery through the running server: signatures checked by the reference
``standardwebhooks`` package in a local receiver, retries, permanent failures, task-end notices,
the network guard — on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.support.http_servers import HttpServer, ReceivedRequest, Reply
from tests.support.server import ErrandsServer, TRPCCallError
from tests.support.waiting import eventually

FAST_RETRIES = {"DELIVERY_RETRY_SECONDS": "0.2,0.2,0.2", "DELIVERY_TIMEOUT_SECONDS": "2"}


def verifying(secrets: dict[str, str]) -> Callable[[ReceivedRequest], Reply]:
    """A receiver that answers 204 only to a request signed with ``secrets["secret"]``."""

    def handle(request: ReceivedRequest) -> Reply:
        try:
            Webhook(secrets["secret"]).verify(request.body, request.headers)
        except WebhookVerificationError:
            return Reply(status=401)
        return Reply(status=204)

    return handle


def wait_messages(server: ErrandsServer, query: dict[str, Any],
                  ready: Callable[[list[dict[str, Any]]], bool],
                  timeout: float = 20) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = eventually(
        lambda: server.call("messages.list", query)["items"], ready, timeout=timeout,
        what="messages ready")
    return items


def bad_request(call: Callable[[], Any]) -> TRPCCallError:
    with pytest.raises(TRPCCallError) as info:
        call()
    assert info.value.code == "BAD_REQUEST", info.value.error
    return info.value


def test_webhook_crud_and_secret_shown_only_once(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url)
    made = server.call("webhooks.create", {"name": "crm", "url": "https://example.com/h"},
                       mutation=True)
    assert made["secret"].startswith("whsec_")
    assert set(made) == {"id", "name", "url", "active", "createdAt", "lastDeliveryAt", "secret"}
    mine = "whsec_" + "A" * 32
    second = server.call("webhooks.create", {"name": "b", "url": "http://example.com/",
                                             "secret": mine}, mutation=True)
    assert second["secret"] == mine
    listed = server.call("webhooks.list", {})
    assert [w["id"] for w in listed] == [made["id"], second["id"]]
    assert all("secret" not in w for w in listed)

    for url in ("ftp://example.com/x", "not a url", "http:///nohost"):
        error = bad_request(lambda u=url: server.call(  # type: ignore[misc]
            "webhooks.create", {"name": "x", "url": u}, mutation=True))
        assert error.error["data"]["issues"][0]["path"] == ["url"]
    error = bad_request(lambda: server.call(
        "webhooks.create", {"name": "x", "url": "https://e.com", "secret": "whsec_c2hvcnQ="},
        mutation=True))
    assert error.error["data"]["issues"][0]["path"] == ["secret"]
    assert "c2hvcnQ" not in error.error["message"]

    error = bad_request(lambda: server.call("tasks.create", {
        "title": "t", "taskType": "notification", "sourceWebhookId": "whk_nope",
        "executionConfig": {"message": "m"}}, mutation=True))
    assert error.error["data"]["issues"][0]["path"] == ["sourceWebhookId"]

    assert server.call("webhooks.delete", {"id": made["id"]}, mutation=True) == {"id": made["id"]}
    with pytest.raises(TRPCCallError) as info:
        server.call("webhooks.delete", {"id": made["id"]}, mutation=True)
    assert info.value.code == "NOT_FOUND"
    assert [w["id"] for w in server.call("webhooks.list", {})] == [second["id"]]
    log = server.log()
    assert made["secret"] not in log and mine not in log


def test_notification_is_signed_and_shaped_as_the_contract_says(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url)
    secrets: dict[str, str] = {}
    with HttpServer() as receiver:
        receiver.route("/hook", handler=verifying(secrets))
        hook = server.call("webhooks.create", {"name": "rx", "url": receiver.url_for("/hook")},
                           mutation=True)
        secrets["secret"] = hook["secret"]
        task = server.call("tasks.create", {
            "title": "tell", "taskType": "notification", "sourceWebhookId": hook["id"],
            "executionConfig": {"message": "hello", "recipient": "ops", "subject": "s"}},
            mutation=True)
        done = server.wait_for(task["id"], {"completed", "failed"})
        assert done["status"] == "completed", done
        [request] = receiver.requests
    body = request.json()
    result = done["result"]
    assert result["responseStatus"] == 204
    assert set(body) == {"type", "messageId", "taskId", "recipient", "subject", "message",
                         "data", "sentAt"}
    assert (body["type"], body["taskId"], body["recipient"], body["subject"],
            body["message"]) == ("notification", task["id"], "ops", "s", "hello")
    assert body["messageId"] == result["messageId"] == request.headers["webhook-id"]
    assert body["sentAt"].endswith("Z")
    [message] = server.call("messages.list", {"taskId": task["id"]})["items"]
    assert (message["status"], message["attempts"], message["kind"]) == \
        ("delivered", 1, "notification")
    assert message["deliveredAt"] == result["deliveredAt"]
    assert server.call("webhooks.list", {})[0]["lastDeliveryAt"] is not None


def test_wrong_secret_is_refused_by_the_receiver_and_fails_the_task(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url)
    with HttpServer() as receiver:
        receiver.route("/hook", handler=verifying({"secret": "whsec_" + "B" * 32}))
        hook = server.call("webhooks.create", {"name": "rx", "url": receiver.url_for("/hook")},
                           mutation=True)
        task = server.call("tasks.create", {
            "title": "tell", "taskType": "notification",
            "executionConfig": {"message": "m", "webhookId": hook["id"]}}, mutation=True)
        done = server.wait_for(task["id"], {"completed", "failed"})
    assert done["status"] == "failed" and done["errorCount"] == 1  # 401: permanent
    assert "401" in done["lastError"]
    [message] = server.call("messages.list", {"taskId": task["id"], "status": "failed"})["items"]
    assert message["responseStatus"] == 401


def test_failing_receiver_is_retried_on_the_schedule_then_failed(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url, env=FAST_RETRIES)
    with HttpServer() as receiver:
        receiver.route("/hook", status=503)
        hook = server.call("webhooks.create", {"name": "down", "url": receiver.url_for("/hook")},
                           mutation=True)
        task = server.call("tasks.create", {
            "title": "remind", "taskType": "reminder",
            "executionConfig": {"message": "m", "delaySeconds": 0, "webhookId": hook["id"]}},
            mutation=True)
        [message] = wait_messages(server, {"taskId": task["id"]},
                                  lambda items: bool(items) and items[0]["status"] == "failed")
        time.sleep(0.5)  # nothing more may arrive
        requests = receiver.requests_to("/hook")
    assert len(requests) == 4  # the first try + one per configured delay
    assert {r.headers["webhook-id"] for r in requests} == {message["id"]}
    assert (message["attempts"], message["responseStatus"]) == (4, 503)
    assert "503" in message["lastError"]
    stats = server.call("messages.list", {"webhookId": hook["id"], "status": "delivered"})
    assert stats["items"] == []


def test_flaky_receiver_delivers_on_a_retry(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url, env=FAST_RETRIES)
    with HttpServer() as receiver:
        receiver.route("/hook", sequence=[Reply(status=500), Reply(status=429),
                                          Reply(status=200)])
        hook = server.call("webhooks.create", {"name": "f", "url": receiver.url_for("/hook")},
                           mutation=True)
        task = server.call("tasks.create", {
            "title": "remind", "taskType": "reminder", "sourceWebhookId": hook["id"],
            "executionConfig": {"message": "m", "delaySeconds": 0}}, mutation=True)
        [message] = wait_messages(server, {"taskId": task["id"]},
                                  lambda items: bool(items) and items[0]["status"] == "delivered")
        assert len(receiver.requests) == 3
    assert (message["attempts"], message["responseStatus"], message["lastError"]) == \
        (3, 200, None)


def test_notification_5xx_is_retried_by_the_task_and_4xx_is_not(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url)
    with HttpServer() as receiver:
        receiver.route("/busy", status=503)
        receiver.route("/gone", status=404)
        busy = server.call("webhooks.create", {"name": "b", "url": receiver.url_for("/busy")},
                           mutation=True)
        gone = server.call("webhooks.create", {"name": "g", "url": receiver.url_for("/gone")},
                           mutation=True)
        tasks = [server.call("tasks.create", {
            "title": "n", "taskType": "notification", "maxRetries": 2,
            "executionConfig": {"message": "m", "webhookId": hook["id"]}}, mutation=True)
            for hook in (busy, gone)]
        ended = [server.wait_for(t["id"], {"completed", "failed"}) for t in tasks]
    assert [t["status"] for t in ended] == ["failed", "failed"]
    busy_attempts = server.call("tasks.executions", {"taskId": tasks[0]["id"]})
    gone_attempts = server.call("tasks.executions", {"taskId": tasks[1]["id"]})
    assert [(a["errorType"], a["retryable"]) for a in busy_attempts] == [("delivery", True)] * 3
    assert [(a["errorType"], a["retryable"]) for a in gone_attempts] == [("delivery", False)]
    assert len(receiver.requests_to("/busy")) == 3 and len(receiver.requests_to("/gone")) == 1
    [message] = server.call("messages.list", {"taskId": tasks[0]["id"]})["items"]
    assert (message["status"], message["attempts"]) == ("failed", 3)


def test_notify_on_complete_and_on_failure_send_exactly_one_message_each(
        database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url)
    with HttpServer() as receiver:
        receiver.route("/hook", status=204)
        receiver.route("/ok", json={"ok": True})
        receiver.route("/missing", status=404)
        hook = server.call("webhooks.create", {"name": "rx", "url": receiver.url_for("/hook")},
                           mutation=True)
        common = {"taskType": "api_call", "sourceWebhookId": hook["id"],
                  "notifyOnComplete": True, "notifyOnFailure": True}
        ok = server.call("tasks.create", {**common, "title": "ok", "executionConfig": {
            "apiEndpoint": receiver.url_for("/ok")}}, mutation=True)
        bad = server.call("tasks.create", {**common, "title": "bad", "executionConfig": {
            "apiEndpoint": receiver.url_for("/missing")}}, mutation=True)
        quiet = server.call("tasks.create", {
            "title": "quiet", "taskType": "api_call", "sourceWebhookId": hook["id"],
            "executionConfig": {"apiEndpoint": receiver.url_for("/ok")}}, mutation=True)
        for task in (ok, bad, quiet):
            server.wait_for(task["id"], {"completed", "failed"})
        wait_messages(server, {"webhookId": hook["id"], "status": "delivered"},
                      lambda items: len(items) >= 2)
        time.sleep(0.5)
        bodies = [r.json() for r in receiver.requests_to("/hook")]
    assert sorted((b["type"], b["taskId"]) for b in bodies) == sorted(
        [("task.completed", ok["id"]), ("task.failed", bad["id"])])
    failed = next(b for b in bodies if b["type"] == "task.failed")
    assert failed["data"]["task"]["status"] == "failed"
    assert "404" in failed["data"]["task"]["lastError"]
    messages = server.call("messages.list", {"webhookId": hook["id"]})["items"]
    assert len(messages) == 2


def test_delivery_obeys_the_network_guard(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url, env={"ALLOW_PRIVATE_NETWORK": "false"})
    with HttpServer() as receiver:
        receiver.route("/hook", status=204)
        hook = server.call("webhooks.create", {"name": "lo", "url": receiver.url_for("/hook")},
                           mutation=True)
        task = server.call("tasks.create", {
            "title": "n", "taskType": "notification",
            "executionConfig": {"message": "m", "webhookId": hook["id"]}}, mutation=True)
        done = server.wait_for(task["id"], {"completed", "failed"})
        reminder = server.call("tasks.create", {
            "title": "r", "taskType": "reminder",
            "executionConfig": {"message": "m", "delaySeconds": 0, "webhookId": hook["id"]}},
            mutation=True)
        [message] = wait_messages(server, {"taskId": reminder["id"]},
                                  lambda items: bool(items) and items[0]["status"] == "failed")
        assert receiver.requests == []
    assert done["status"] == "failed" and "loopback" in done["lastError"]
    assert message["attempts"] == 1 and "loopback" in message["lastError"]


def test_messages_list_pages_by_cursor(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url)
    hook = server.call("webhooks.create", {"name": "later", "url": "https://example.com/h"},
                       mutation=True)
    far = "2099-01-01T00:00:00Z"
    for i in range(5):
        server.call("tasks.create", {"title": f"r{i}", "taskType": "reminder",
                                     "executionConfig": {"message": f"m{i}", "remindAt": far,
                                                         "webhookId": hook["id"]}},
                    mutation=True)
    wait_messages(server, {}, lambda items: len(items) == 5)
    seen: list[str] = []
    cursor = None
    while True:
        page = server.call("messages.list", {"limit": 2, **({"cursor": cursor} if cursor else {})})
        seen += [m["body"] for m in page["items"]]
        assert all(m["status"] == "scheduled" and m["sendAt"] == far for m in page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"m{i}" for i in reversed(range(5))]
    error = bad_request(lambda: server.call("messages.list", {"status": "lost"}))
    assert "status" in error.error["message"]
