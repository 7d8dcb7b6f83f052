"""REVIEW_WEBHOOK_ID (CONTRACT §16) through the running server: a task created
awaiting_review sends one signed review.requested message whose approval link works."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.support.http_servers import HttpServer, ReceivedRequest, Reply
from tests.support.server import ErrandsServer
from tests.support.waiting import eventually


def test_a_review_request_carries_a_working_approval_link(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    with HttpServer() as receiver:
        receiver.route("/reviews", handler=lambda _r: Reply(status=204))
        first = errands_server(sqlite_database_url)
        hook = first.call("webhooks.create", {"name": "reviews",
                                              "url": receiver.url_for("/reviews")},
                          mutation=True)
        first.stop()
        server = errands_server(sqlite_database_url, env={
            "REVIEW_WEBHOOK_ID": hook["id"], "REVIEW_LINK_REVIEWER": "on-call"})
        task = server.call("tasks.create", {
            "title": "Refund order 12", "taskType": "notification", "executionType": "manual",
            "requiresHumanReview": True,
            "executionConfig": {"message": "refund", "webhookId": hook["id"]}},
            mutation=True)
        server.call("tasks.create", {"title": "no review", "taskType": "notification",
                                     "executionType": "manual",
                                     "executionConfig": {"message": "m", "webhookId": hook["id"]}},
                    mutation=True)
        deadline = time.monotonic() + 30
        while not receiver.requests_to("/reviews") and time.monotonic() < deadline:
            time.sleep(0.05)
        [request] = receiver.requests_to("/reviews")
    message = request.json()
    assert message["type"] == "review.requested"
    assert message["taskId"] == task["id"]
    assert "webhook-signature" in _headers(request)
    assert message["data"]["task"]["title"] == "Refund order 12"
    url = message["data"]["approvalLink"]["url"]
    assert url not in message["message"]  # the link travels in data only
    [listed] = server.call("messages.list", {"taskId": task["id"]})["items"]
    assert listed["kind"] == "review.requested" and url not in listed["body"]

    page = httpx.get(url)
    assert page.status_code == 200 and "Refund order 12" in page.text
    form = page.text.split('name="form" value="', 1)[1].split('"', 1)[0]
    decided = httpx.post(url, data={"form": form, "decision": "approve", "notes": "fine"})
    assert decided.status_code == 200
    approved = server.call("tasks.get", {"id": task["id"]})
    assert (approved["status"], approved["reviewedBy"]) == ("pending", "on-call")


def _headers(request: ReceivedRequest) -> dict[str, str]:
    return request.headers


def test_a_withdrawn_approval_asks_for_review_again(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    """A task sent back to review (its approved config changed) enters awaiting_review again:
    a second review.requested goes out, with a link for the new config."""
    with HttpServer() as receiver:
        receiver.route("/reviews", handler=lambda _r: Reply(status=204))
        first = errands_server(sqlite_database_url)
        hook = first.call("webhooks.create", {"name": "reviews",
                                              "url": receiver.url_for("/reviews")},
                          mutation=True)
        first.stop()
        server = errands_server(sqlite_database_url, env={"REVIEW_WEBHOOK_ID": hook["id"]})
        task = server.call("tasks.create", {
            "title": "Refund order 13", "taskType": "notification", "executionType": "manual",
            "requiresHumanReview": True,
            "executionConfig": {"message": "refund 10", "webhookId": hook["id"]}},
            mutation=True)
        eventually(lambda: len(receiver.requests_to("/reviews")) == 1, timeout=30)
        server.call("tasks.approve", {"id": task["id"]}, mutation=True)
        edited = server.call("tasks.update", {"id": task["id"], "patch": {
            "executionConfig": {"message": "refund 1000", "webhookId": hook["id"]}}},
            mutation=True)
        assert edited["status"] == "awaiting_review"
        eventually(lambda: len(receiver.requests_to("/reviews")) == 2, timeout=30)
        second = receiver.requests_to("/reviews")[1].json()
    assert second["taskId"] == task["id"]
    assert second["data"]["task"]["executionConfig"]["message"] == "refund 1000"
    page = httpx.get(second["data"]["approvalLink"]["url"])
    assert page.status_code == 200 and "refund 1000" in page.text
