"""The fake HighLevel server holds to docs/GHL.md (sync client: the fake serves from its thread)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.ghl import FakeGhl

TOKEN = "pit-fake-test-token"
LOC = "loc-1"
CONTACTS = {"Authorization": f"Bearer {TOKEN}", "Version": "2021-07-28"}
CONVERSATIONS = {"Authorization": f"Bearer {TOKEN}", "Version": "2021-04-15"}


@pytest.fixture
def fake() -> Iterator[FakeGhl]:
    with FakeGhl(token=TOKEN, location_id=LOC) as server:
        yield server


@pytest.fixture
def client(fake: FakeGhl) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=10) as c:
        yield c


def test_unknown_token(client: httpx.Client) -> None:
    answer = client.post("/contacts/upsert", json={"locationId": LOC, "email": "a@b.co"},
                         headers={**CONTACTS, "Authorization": "Bearer nope"})
    assert answer.status_code == 401
    assert answer.json() == {"statusCode": 401, "message": "Invalid token: access token is "
                             "invalid", "error": "Unauthorized"}


@pytest.mark.parametrize(("path", "version", "message"), [
    ("/contacts/upsert", None, "version header was not found."),
    ("/contacts/upsert", "2020-01-01", "version header is invalid"),
    ("/contacts/upsert", "2021-04-15", "version header is invalid"),
    ("/conversations/messages", "2021-07-28", "version header is invalid"),
])
def test_version_header(client: httpx.Client, path: str, version: str | None,
                        message: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"} | ({"Version": version} if version else {})
    answer = client.post(path, json={"locationId": LOC}, headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"statusCode": 401, "message": message}


def test_bodies_must_be_json(client: httpx.Client) -> None:
    answer = client.post("/contacts/upsert", content=b"email=a", headers={
        **CONTACTS, "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 415


def test_required_fields_are_422_with_a_message_array(client: httpx.Client) -> None:
    answer = client.post("/opportunities/", json={"name": "n", "bogus": 1}, headers=CONTACTS)
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "Unprocessable Entity"
    assert "property bogus should not exist" in body["message"]
    assert {"pipelineId should not be empty", "locationId should not be empty",
            "contactId should not be empty"} <= set(body["message"])
    assert any(m.startswith("status must be one of") for m in body["message"])


def test_update_refuses_location_id(client: httpx.Client, fake: FakeGhl) -> None:
    contact = fake.seed_contact(email="a@b.co")
    answer = client.put(f"/contacts/{contact['id']}", json={"locationId": LOC},
                        headers=CONTACTS)
    assert answer.status_code == 422
    assert answer.json()["message"] == ["property locationId should not exist"]


def test_plain_create_refuses_duplicates_upsert_matches(client: httpx.Client) -> None:
    created = client.post("/contacts/", json={"locationId": LOC, "email": "A@b.co"},
                          headers=CONTACTS)
    duplicate = client.post("/contacts/", json={"locationId": LOC, "email": "a@b.co"},
                            headers=CONTACTS)
    upserted = client.post("/contacts/upsert", json={"locationId": LOC, "email": "a@b.co",
                                                     "firstName": "A"}, headers=CONTACTS)
    fresh = client.post("/contacts/upsert", json={"locationId": LOC, "phone": "+15550100000"},
                        headers=CONTACTS)

    contact_id = created.json()["contact"]["id"]
    assert created.status_code == 201
    assert duplicate.status_code == 400
    assert duplicate.json() == {"statusCode": 400, "message": "This location does not allow "
                                "duplicated contacts.", "meta": {"contactId": contact_id,
                                                                 "matchingField": "email"}}
    assert upserted.status_code == 200
    assert upserted.json()["new"] is False
    assert upserted.json()["contact"]["id"] == contact_id
    assert fresh.json()["new"] is True


def test_duplicate_search_needs_an_encoded_plus(client: httpx.Client, fake: FakeGhl) -> None:
    contact = fake.seed_contact(phone="+15550100001")
    url = "/contacts/search/duplicate"

    encoded = client.get(url, params={"locationId": LOC, "number": "+15550100001"},
                         headers=CONTACTS)
    raw = client.get(f"{url}?locationId={LOC}&number=+15550100001", headers=CONTACTS)
    nobody = client.get(url, params={"locationId": LOC, "email": "x@y.z"}, headers=CONTACTS)

    assert encoded.json()["contact"]["id"] == contact["id"]
    assert raw.json() == {"contact": None}  # an unencoded + reads as a space
    assert nobody.json() == {"contact": None}


def test_unknown_contacts(client: httpx.Client) -> None:
    by_path = client.put("/contacts/ct-x", json={"firstName": "a"}, headers=CONTACTS)
    by_body = client.post("/conversations/messages", json={
        "type": "SMS", "contactId": "ct-x", "message": "m"}, headers=CONVERSATIONS)
    assert (by_path.status_code, by_path.json()["message"]) == (404, "Contact not found")
    assert (by_body.status_code, by_body.json()["message"]) == (400, "Contact not found")


def test_other_location_is_forbidden(client: httpx.Client) -> None:
    answer = client.get("/contacts/search/duplicate", params={"locationId": "loc-2",
                                                              "email": "a@b.co"},
                        headers=CONTACTS)
    assert answer.status_code == 403


def test_sliding_window_headers_and_429() -> None:
    with FakeGhl(token=TOKEN, location_id=LOC, rate_limit=3, rate_window_seconds=600,
                 daily_limit=10) as fake, httpx.Client(base_url=fake.base_url) as client:
        answers = [client.get("/contacts/search/duplicate", params={"locationId": LOC},
                              headers=CONTACTS) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["X-RateLimit-Max"] == "3"
    assert answers[0].headers["x-ratelimit-interval-milliseconds"] == "600000"
    assert answers[0].headers["x-ratelimit-limit-daily"] == "10"
    assert answers[2].headers["x-ratelimit-daily-remaining"] == "7"
    assert 0 < int(answers[3].headers["retry-after"]) <= 600
    assert fake.count_429 == 1


def test_the_window_slides() -> None:
    with FakeGhl(token=TOKEN, location_id=LOC, rate_limit=1, rate_window_seconds=0.2
                 ) as fake, httpx.Client(base_url=fake.base_url) as client:
        def ask() -> int:
            return client.get("/contacts/search/duplicate", params={"locationId": LOC},
                              headers=CONTACTS).status_code
        first = ask()
        later, deadline = ask(), time.monotonic() + 30
        while later == 429 and time.monotonic() < deadline:  # until the first one leaves
            time.sleep(0.05)
            later = ask()
    assert (first, later) == (200, 200)


def test_injected_failures_then_success(client: httpx.Client, fake: FakeGhl) -> None:
    fake.fail_next(2, status=500)
    fake.fail_next(1, status=429, retry_after=4)
    statuses = []
    for _ in range(4):
        answer = client.post("/contacts/upsert", json={"locationId": LOC, "email": "a@b.co"},
                             headers=CONTACTS)
        statuses.append((answer.status_code, answer.headers.get("retry-after")))

    assert statuses == [(500, None), (500, None), (429, "4"), (200, None)]
    assert fake.count_429 == 1


def test_request_log_keeps_no_token(client: httpx.Client, fake: FakeGhl) -> None:
    client.post("/contacts/upsert", json={"locationId": LOC, "email": "a@b.co"},
                headers=CONTACTS)
    (logged,) = fake.requests
    assert (logged.method, logged.path, logged.status) == ("POST", "/contacts/upsert", 200)
    assert logged.body == {"locationId": LOC, "email": "a@b.co"}
    assert logged.headers["authorization"] == "Bearer ***"
    assert TOKEN not in repr(fake.requests)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_runs_as_a_process() -> None:
    port = _free_port()
    root = Path(__file__).resolve().parents[2]
    env: dict[str, Any] = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.ghl", "--port", str(port), "--token", TOKEN,
         "--location-id", LOC], cwd=root, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert f"http://127.0.0.1:{port}" in proc.stdout.readline()
        answer = httpx.post(f"http://127.0.0.1:{port}/contacts/upsert", headers=CONTACTS,
                            json={"locationId": LOC, "email": "p@q.r"})
        assert answer.json()["new"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
