"""Secrets never leave: a distinct marker in every secret-bearing place of a task, and none
of them in any answer, event, attempt, artifact listing or server log line.

Also the smaller hardening rules seen through the running server: the reserved ``schedule:``
idempotency prefix, a key reused with another taskType, artifact headers, ``system.health``
without a key, ``requiresHumanReview`` under ``REVIEW_REQUIRED_TYPES``.
"""

from __future__ import annotations

import base64
import re
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.support.databases import sqlite_url
from tests.support.http_servers import HttpServer
from tests.support.server import ErrandsServer, TRPCCallError

MARKERS = {name: f"MRK{index:02d}{name.upper().replace('_', '')}Z" for index, name in enumerate([
    "url_password", "api_key", "key", "token", "access_token", "signature", "sig", "secret",
    "password", "access_key", "authorization", "x_auth", "x_custom_key", "private_token",
    "cookie", "partner_header", "basic_password", "metadata_password", "metadata_token",
    "query_dict", "typed_password", "typed_secret", "body_secret", "nav_token"])}
QUERY_NAMES = ["api_key", "key", "token", "access_token", "signature", "sig", "secret",
               "password", "access_key"]

# CONTRACT §13 "Secrets, continued": each marker again in its own place.
MORE = {name: f"MRK{index:02d}{name.upper().replace('_', '')}Z" for index, name in enumerate([
    "reserved", "form_password", "form_client_key", "fragment_token", "hook_password",
    "hook_token", "result_access", "result_refresh", "result_id", "result_client_secret",
    "result_password", "result_api_key", "result_secret"], start=50)}
RESERVED = MORE["reserved"] + "/+ :&=?@#%"  # a secret holding reserved characters
TOKEN_ANSWER = {"access_token": MORE["result_access"], "refresh_token": MORE["result_refresh"],
                "id_token": MORE["result_id"], "token_type": "Bearer", "expires_in": 3600,
                "client": {"client_secret": MORE["result_client_secret"],
                           "password": MORE["result_password"],
                           "api_key": MORE["result_api_key"], "secret": MORE["result_secret"]}}

def _encoded(secret: str) -> list[str]:
    """The encoded forms scrubbing by value covers: percent-encoded (every reserved character,
    hex upper and lower case) and form-encoded (+ for a space)."""
    upper = urllib.parse.quote(secret, safe="")
    form = urllib.parse.quote_plus(secret, safe="")
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), upper)
    return [upper, lower, form, form.lower().replace(MORE["reserved"].lower(),
                                                     MORE["reserved"])]


LOGIN_PAGE = """<!doctype html><title>login</title>
<form><input id="user" name="user"><input id="pw" type="password" name="pw">
<input id="otp" name="otp"></form>"""


@pytest.fixture(scope="module")
def remote() -> Iterator[HttpServer]:
    with HttpServer() as server:
        server.route("/echo", echo=True)
        server.route("/login", body=LOGIN_PAGE, headers={"Content-Type": "text/html"})
        server.route("/token", json=TOKEN_ANSWER)
        server.route("/hook", status=204)
        # A remote that answers with the secrets it was sent, encoded (only scrubbing by
        # value sees them there: the field names are not secret).
        server.route("/reflect", json={
            "forms": _encoded(RESERVED),
            "basic": base64.b64encode(f"ops:{MORE['hook_password']}".encode()).decode()})
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandsServer]:
    workdir: Path = tmp_path_factory.mktemp("secrets")
    keys = "admin:admin:admin-key,view:viewer:view-key"
    running = ErrandsServer(database_url=sqlite_url(workdir), workdir=workdir,
                            api_key="admin-key",
                            env={"ERRANDS_API_KEYS": keys,
                                 "REVIEW_REQUIRED_TYPES": "report_generation",
                                 "BROWSER_CONCURRENCY": "1"})
    running.start()
    try:
        yield running
    finally:
        running.stop()
        running.client.close()


class EventTap:
    """Everything ``tasks.onChange`` sends while the test runs, as raw text."""

    def __init__(self, server: ErrandsServer) -> None:
        self.text: list[str] = []
        self.client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        self.server = server
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.connected = threading.Event()

    def _run(self) -> None:
        try:
            with self.client.stream("GET", f"{self.server.url}/tasks.onChange",
                                    headers={"authorization": "Bearer view-key",
                                             "accept": "text/event-stream"}) as response:
                for line in response.iter_lines():
                    self.connected.set()
                    self.text.append(line)
        except (httpx.HTTPError, RuntimeError):
            pass

    def __enter__(self) -> EventTap:
        self.thread.start()
        assert self.connected.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self.client.close()
        self.thread.join(10)


def all_text(server: ErrandsServer, task_ids: list[str]) -> str:
    """Every answer a viewer (and the admin) can get about these tasks."""
    parts = []
    for key in ("view-key", "admin-key"):
        headers = {"authorization": f"Bearer {key}"}
        parts.append(server.client.get(f"{server.url}/tasks.list",
                                       params={"input": '{"limit":100}'}, headers=headers).text)
        for task_id in task_ids:
            for path in ("tasks.get", "tasks.executions"):
                name = "id" if path == "tasks.get" else "taskId"
                parts.append(server.client.get(f"{server.url}/{path}",
                                               params={"input": f'{{"{name}":"{task_id}"}}'},
                                               headers=headers).text)
    return "\n".join(parts)


def test_no_secret_marker_leaves_the_server(server: ErrandsServer, remote: HttpServer) -> None:
    m = MARKERS
    query = "&".join(f"{name}={m[name]}" for name in QUERY_NAMES)
    endpoint = remote.url_for(f"/echo?{query}").replace(
        "http://", f"http://alice:{m['url_password']}@", 1)
    api = {
        "title": "echo", "taskType": "api_call", "maxRetries": 0,
        "metadata": {"password": m["metadata_password"], "nested": {"accessToken":
                                                                    m["metadata_token"]}},
        "executionConfig": {
            "apiEndpoint": endpoint, "apiMethod": "POST", "apiKeyHeader": "X-Partner",
            "headers": {"Authorization": f"Bearer {m['authorization']}", "X-Auth": m["x_auth"],
                        "X-Custom-Key": m["x_custom_key"], "Private-Token": m["private_token"],
                        "Cookie": f"sid={m['cookie']}", "X-Partner": m["partner_header"]},
            "query": {"apiToken": m["query_dict"]},
            "body": {"client_secret": m["body_secret"], "echo": "fine"},
        },
    }
    basic = {"title": "basic", "taskType": "api_call", "maxRetries": 0, "executionConfig": {
        "apiEndpoint": remote.url_for("/echo"), "authType": "basic", "basicUsername": "bob",
        "basicPassword": m["basic_password"]}}
    browser = {"title": "login", "taskType": "browser_automation", "maxRetries": 0,
               "executionConfig": {"recordTrace": True, "steps": [
                   {"action": "navigate", "url": remote.url_for(f"/login?token={m['nav_token']}")},
                   {"action": "type", "selector": "#user", "text": "alice"},
                   {"action": "type", "selector": "input[type=password]",
                    "text": m["typed_password"]},
                   {"action": "type", "selector": "#otp", "text": m["typed_secret"],
                    "secret": True},
                   {"action": "screenshot", "name": "after"},
               ]}}
    with EventTap(server) as tap:
        ids = [server.call("tasks.create", task, mutation=True)["id"]
               for task in (api, basic, browser)]
        done = [server.wait_for(task_id, {"completed", "failed"}, timeout=60) for task_id in ids]
        server.call("tasks.get", {"id": ids[-1]})  # one more event round-trip
    assert [t["status"] for t in done] == ["completed", "completed", "completed"], done

    # The remote did receive the secrets (so an echo could have leaked them) ...
    echoed = remote.requests_to("/echo")[0]
    assert m["x_custom_key"] in echoed.headers["x-custom-key"]
    assert m["api_key"] in echoed.raw_target and m["query_dict"] in echoed.raw_target
    # ... and yet none of them comes back, in any answer, event, attempt or log line.
    answers = all_text(server, ids)
    events = "\n".join(tap.text)
    log = server.log()
    assert "attempt" in answers and '"status":"success"' in answers
    assert "execution" in events
    for name, marker in MARKERS.items():
        assert marker not in answers, f"{name} leaked in an answer"
        assert marker not in events, f"{name} leaked in an event"
        assert marker not in log, f"{name} leaked in the log"
    # the recorded echo still shows what was not secret
    (attempt,) = server.call("tasks.executions", {"taskId": ids[0]})
    assert attempt["output"]["body"]["body"].find('"echo":"fine"') >= 0 or \
        "fine" in str(attempt["output"]["body"])
    # a trace records typed values: a task typing a secret keeps none
    (browser_attempt,) = server.call("tasks.executions", {"taskId": ids[2]})
    kinds = [a["kind"] for a in browser_attempt["artifacts"]]
    assert "trace" not in kinds and "screenshot" in kinds
    assert all(step["status"] == "success" for step in browser_attempt["steps"])
    shown = server.call("tasks.get", {"id": ids[2]})["executionConfig"]["steps"]
    assert shown[1]["text"] == "alice"  # not a secret: shown
    assert shown[2]["text"] == shown[3]["text"] == "********"


def test_reserved_schedule_prefix_and_key_reuse(server: ErrandsServer,
                                                remote: HttpServer) -> None:
    task = {"title": "k", "taskType": "api_call",
            "executionConfig": {"apiEndpoint": remote.url_for("/echo")}}
    with pytest.raises(TRPCCallError) as refused:
        server.call("tasks.create", {**task, "idempotencyKey": "schedule:s1:2026-01-01T00:00"},
                    mutation=True)
    assert refused.value.code == "BAD_REQUEST"
    assert refused.value.error["data"]["issues"][0]["path"] == ["idempotencyKey"]
    first = server.call("tasks.create", {**task, "idempotencyKey": "k-1"}, mutation=True)
    again = server.call("tasks.create", {**task, "idempotencyKey": "k-1"}, mutation=True)
    assert again["id"] == first["id"]
    other = {"title": "k", "taskType": "notification", "idempotencyKey": "k-1",
             "executionConfig": {"message": "hi"}}
    with pytest.raises(TRPCCallError) as conflict:
        server.call("tasks.create", other, mutation=True)
    assert conflict.value.code == "CONFLICT"
    assert first["id"] in conflict.value.error["message"]


def test_review_required_types_read_as_requiring_review(server: ErrandsServer) -> None:
    task = server.call("tasks.create", {"title": "report", "taskType": "report_generation",
                                        "executionConfig": {"reportType": "task_summary"}},
                       mutation=True)
    assert task["status"] == "awaiting_review"
    assert task["requiresHumanReview"] is True


def test_health_needs_no_key_but_everything_else_does(server: ErrandsServer) -> None:
    health = server.client.get(f"{server.url}/system.health")
    assert health.status_code == 200 and health.json()["result"]["data"]["status"] == "ok"
    stats = server.client.get(f"{server.url}/system.stats")
    assert stats.status_code == 401
    mixed = server.client.get(f"{server.url}/system.health,system.stats?batch=1")
    assert mixed.status_code == 401
    wrong = server.client.get(f"{server.url}/system.health",
                              headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_artifacts_are_served_with_nosniff_and_a_disposition(server: ErrandsServer,
                                                             remote: HttpServer) -> None:
    task = server.call("tasks.create", {
        "title": "shot", "taskType": "browser_automation", "maxRetries": 0,
        "executionConfig": {"recordTrace": True, "steps": [
            {"action": "navigate", "url": remote.url_for("/login")},
            {"action": "screenshot", "name": "page"}]}}, mutation=True)
    assert server.wait_for(task["id"], {"completed", "failed"}, timeout=60)["status"] == \
        "completed"
    (attempt,) = server.call("tasks.executions", {"taskId": task["id"]})
    by_kind: dict[str, Any] = {a["kind"]: a for a in attempt["artifacts"]}
    auth = {"authorization": "Bearer view-key"}
    shot = server.client.get(server.base + by_kind["screenshot"]["url"], headers=auth)
    trace = server.client.get(server.base + by_kind["trace"]["url"], headers=auth)
    assert shot.headers["x-content-type-options"] == "nosniff"
    assert shot.headers["content-disposition"].startswith("inline")
    assert trace.headers["x-content-type-options"] == "nosniff"
    assert trace.headers["content-disposition"].startswith("attachment")
    assert trace.headers["content-disposition"].endswith('.zip"')


def test_encoded_forms_form_bodies_fragments_webhook_urls_and_results_stay_secret(
        server: ErrandsServer, remote: HttpServer) -> None:
    m = MORE
    hook_url = remote.url_for(f"/hook?token={m['hook_token']}").replace(
        "http://", f"http://ops:{m['hook_password']}@", 1)
    basic_b64 = base64.b64encode(f"ops:{m['hook_password']}".encode()).decode()
    # A remote that echoes back the secret in its encoded forms (only value scrubbing sees
    # them: the field names are not secret), and the base64 user:password of a URL.
    encoded = {
        "title": "encoded", "taskType": "api_call", "maxRetries": 0, "executionConfig": {
            "apiEndpoint": remote.url_for("/reflect") + f"#access_token={m['fragment_token']}"
                                                        "&state=1",
            "headers": {"X-Api-Token": RESERVED}, "authType": "basic",
            "basicUsername": "ops", "basicPassword": m["hook_password"]}}
    form = {
        "title": "form", "taskType": "api_call", "maxRetries": 0, "executionConfig": {
            "apiEndpoint": remote.url_for("/echo"), "apiMethod": "POST",
            "contentType": "application/x-www-form-urlencoded",
            "body": f"user=bob&password={m['form_password']}&client_key="
                    f"{m['form_client_key']}&scope=read"}}
    tokens = {"title": "token", "taskType": "api_call", "maxRetries": 0,
              "executionConfig": {"apiEndpoint": remote.url_for("/token")}}
    with EventTap(server) as tap:
        hook = server.call("webhooks.create", {"name": "basic-auth hook", "url": hook_url},
                           mutation=True)
        ids = [server.call("tasks.create", task, mutation=True)["id"]
               for task in (encoded, form, tokens)]
        done = [server.wait_for(i, {"completed", "failed"}, timeout=60) for i in ids]
        uses = server.call("tasks.create", {
            "title": "uses the token", "taskType": "api_call", "maxRetries": 0,
            "dependsOn": [ids[2]], "executionConfig": {
                "apiEndpoint": remote.url_for("/echo"),
                "headers": {"Authorization": "Bearer {{dep.0.body.access_token}}"}}},
            mutation=True)
        notify = server.call("tasks.create", {
            "title": "tell", "taskType": "notification", "sourceWebhookId": hook["id"],
            "executionConfig": {"message": "hello"}}, mutation=True)
        for task_id in (uses["id"], notify["id"]):
            done.append(server.wait_for(task_id, {"completed", "failed"}, timeout=60))
        ids += [uses["id"], notify["id"]]
        server.call("tasks.get", {"id": ids[-1]})
    assert [t["status"] for t in done] == ["completed"] * 5, done

    # The webhook with userinfo is delivered to, with Basic auth from it (not in the URL).
    (delivered,) = remote.requests_to("/hook")
    assert delivered.headers["authorization"] == f"Basic {basic_b64}"
    assert delivered.query["token"] == [m["hook_token"]]
    # The stored result keeps the token for {{dep.N.path}}: the dependent sent it.
    sent = [r.headers.get("authorization") for r in remote.requests_to("/echo")]
    assert f"Bearer {m['result_access']}" in sent

    answers = [all_text(server, ids), msgspec.json.encode([
        hook, server.call("webhooks.list", {}),
        server.call("messages.list", {}),
        server.call("audit.list", {"limit": 200})]).decode()]
    text = "\n".join(answers)
    events = "\n".join(tap.text)
    log = server.log()
    for name, marker in MORE.items():
        where = text.find(marker)
        assert marker not in text, f"{name} leaked in an answer: {text[where - 300:where + 100]}"
        assert marker not in events, f"{name} leaked in an event"
        assert marker not in log, f"{name} leaked in the log"
    for form_of in (basic_b64, *_encoded(RESERVED)):
        assert form_of not in text and form_of not in events and form_of not in log
    shown = server.call("tasks.get", {"id": ids[1]})["executionConfig"]["body"]
    assert shown == "user=bob&password=********&client_key=********&scope=read"
    assert server.call("tasks.get", {"id": ids[0]})["executionConfig"]["apiEndpoint"].endswith(
        "#access_token=********&state=1")
    listed = server.call("webhooks.list", {})
    assert any(w["url"] == hook_url.replace(m["hook_password"], "********").replace(
        m["hook_token"], "********") for w in listed), listed
    result = server.call("tasks.get", {"id": ids[2]})["result"]["body"]
    assert result["access_token"] == result["client"]["secret"] == "********"
    assert (result["token_type"], result["expires_in"]) == ("Bearer", 3600)
