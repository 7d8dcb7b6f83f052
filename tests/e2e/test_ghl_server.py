"""``ghl_action`` tasks end to end: the real server (a subprocess) against the fake HighLevel.

The fake HighLevel (tests/fakes/ghl.py) runs in this test process, in its own thread; the
server's ``GHL_BASE_URL`` points at it. Everything goes through the server's tRPC API
(``tasks.create``, ``tasks.get``, ``tasks.executions``); the fake's request log and 429 counter
say what HighLevel saw.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import msgspec
import pytest

from tests.fakes.ghl import FakeGhl
from tests.support.databases import sqlite_url
from tests.support.server import ErrandsServer, TRPCCallError
from tests.support.waiting import eventually

TOKEN = "pit-e2e-5b1d0c7e-SECRET-token"
WRONG_TOKEN = "pit-e2e-wrong-9a8b7c6d-SECRET"
LOCATION = "loc-e2e-1"
TERMINAL = {"completed", "failed", "cancelled", "rejected"}


def ghl_env(fake: FakeGhl, **extra: str) -> dict[str, str]:
    return {"GHL_BASE_URL": fake.base_url, "GHL_API_KEY": TOKEN, "GHL_LOCATION_ID": LOCATION,
            **extra}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def unique_phone() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def create(server: ErrandsServer, config: dict[str, Any], **task: Any) -> dict[str, Any]:
    created: dict[str, Any] = server.call(
        "tasks.create", {"title": f"ghl {config['ghlAction']}", "taskType": "ghl_action",
                         "executionConfig": config, **task}, mutation=True)
    return created


def run(server: ErrandsServer, config: dict[str, Any], timeout: float = 30, **task: Any
        ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create a task, wait for it to end; (task, attempts)."""
    created = create(server, config, **task)
    done = server.wait_for(created["id"], TERMINAL, timeout=timeout)
    return done, server.call("tasks.executions", {"taskId": created["id"]})


def assert_no_token(server: ErrandsServer, *texts: Any, token: str = TOKEN) -> None:
    """The token is in none of the answers given, nor in the server's log."""
    for text in texts:
        encoded = text if isinstance(text, str) else msgspec.json.encode(text).decode()
        assert token not in encoded
    log = server.log()
    assert log, "the server wrote no log at all: the check below would prove nothing"
    assert token not in log


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGhl]:
    with FakeGhl(token=TOKEN, location_id=LOCATION) as server:
        yield server


@pytest.fixture(scope="module")
def server(fake: FakeGhl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandsServer]:
    """One SQLite server for the action and error tests (they run one after the other)."""
    workdir = tmp_path_factory.mktemp("ghl-server")
    with ErrandsServer(database_url=sqlite_url(workdir), workdir=workdir,
                       env=ghl_env(fake)) as running:
        yield running


@pytest.fixture
def clean_fake(fake: FakeGhl) -> FakeGhl:
    """The shared fake with no injected failures left over from an earlier test."""
    with fake._lock:
        fake._failures.clear()
    return fake


# --- the five actions --------------------------------------------------------------------

def test_add_contact_creates_then_upserts(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    email = unique("ada-") + "@example.com"
    config = {"ghlAction": "add_contact", "email": email, "firstName": "Ada",
              "lastName": "Lovelace", "tags": ["vip"]}
    first, attempts = run(server, config)
    assert first["status"] == "completed", first
    contact_id = first["result"]["contactId"]
    assert contact_id in clean_fake.contacts
    assert first["result"]["action"] == "add_contact"
    assert first["result"]["status"] == 200
    assert first["result"]["new"] is True
    assert first["result"]["entity"]["email"] == email
    assert first["result"]["entity"]["name"] == "Ada Lovelace"
    assert first["result"]["entity"]["locationId"] == LOCATION
    assert [a["status"] for a in attempts] == ["success"]
    assert attempts[0]["output"]["contactId"] == contact_id
    assert attempts[0]["output"]["action"] == "add_contact"
    assert attempts[0]["output"]["status"] == 200
    upserts = [r for r in clean_fake.requests_to("POST", "/contacts/upsert")
               if r.body.get("email") == email]
    assert len(upserts) == 1
    assert upserts[0].body["locationId"] == LOCATION
    assert upserts[0].headers["version"] == "2021-07-28"

    second, _ = run(server, {**config, "firstName": "Augusta", "email": email.upper()})
    assert second["status"] == "completed", second
    assert second["result"]["new"] is False
    assert second["result"]["contactId"] == contact_id
    assert clean_fake.contacts[contact_id]["firstName"] == "Augusta"
    assert_no_token(server, first, second, attempts)


def test_update_contact_by_id(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    contact = clean_fake.seed_contact(email=unique("u-") + "@example.com", firstName="Old")
    done, attempts = run(server, {"ghlAction": "update_contact", "contactId": contact["id"],
                                  "firstName": "New",
                                  "customFields": [{"id": "cf-1", "field_value": "x"}]})
    assert done["status"] == "completed", done
    assert done["result"]["action"] == "update_contact"
    assert done["result"]["status"] == 200
    assert done["result"]["contactId"] == contact["id"]
    assert done["result"]["entity"]["firstName"] == "New"
    assert done["result"]["entity"]["customFields"] == [{"id": "cf-1", "field_value": "x"}]
    assert clean_fake.contacts[contact["id"]]["firstName"] == "New"
    assert attempts[0]["output"]["contactId"] == contact["id"]
    puts = clean_fake.requests_to("PUT", f"/contacts/{contact['id']}")
    assert [r.body for r in puts] == [{"firstName": "New",
                                       "customFields": [{"id": "cf-1", "field_value": "x"}]}]


def test_send_sms_by_contact_id(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    contact = clean_fake.seed_contact(phone=unique_phone(), firstName="Sam")
    done, attempts = run(server, {"ghlAction": "send_sms", "contactId": contact["id"],
                                  "message": "Your order shipped"})
    assert done["status"] == "completed", done
    result = done["result"]
    assert result["action"] == "send_sms"
    assert result["status"] == 200
    assert result["contactId"] == contact["id"]
    message_id = result["messageId"]
    assert clean_fake.messages[message_id]["message"] == "Your order shipped"
    assert clean_fake.messages[message_id]["contactId"] == contact["id"]
    assert result["entity"]["msg"] == "Message queued successfully."
    assert result["entity"]["conversationId"] == "cv-" + contact["id"]
    assert attempts[0]["output"]["messageId"] == message_id
    sent = [r for r in clean_fake.requests_to("POST", "/conversations/messages")
            if r.body.get("contactId") == contact["id"]]
    assert len(sent) == 1
    assert sent[0].headers["version"] == "2021-04-15"
    assert sent[0].body["type"] == "SMS"
    assert_no_token(server, done, attempts)


def test_send_sms_finds_the_contact_by_email(server: ErrandsServer,
                                             clean_fake: FakeGhl) -> None:
    email = unique("sms-") + "@example.com"
    contact = clean_fake.seed_contact(email=email, phone=unique_phone())
    done, attempts = run(server, {"ghlAction": "send_sms", "email": email, "message": "hi"})
    assert done["status"] == "completed", done
    assert done["result"]["contactId"] == contact["id"]
    assert clean_fake.messages[done["result"]["messageId"]]["contactId"] == contact["id"]
    lookups = [r for r in clean_fake.requests_to("GET", "/contacts/search/duplicate")
               if r.query.get("email") == email]
    assert len(lookups) == 1
    assert lookups[0].query["locationId"] == LOCATION
    assert attempts[0]["output"]["contactId"] == contact["id"]


def test_add_tag_finds_the_contact_by_phone(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    phone = unique_phone()
    contact = clean_fake.seed_contact(phone=phone, tags=["old"])
    done, attempts = run(server, {"ghlAction": "add_tag", "phone": phone,
                                  "tags": ["hot-lead", "2024"]})
    assert done["status"] == "completed", done
    assert done["result"]["action"] == "add_tag"
    assert done["result"]["status"] == 201
    assert done["result"]["contactId"] == contact["id"]
    assert done["result"]["entity"]["tags"] == ["old", "hot-lead", "2024"]
    assert clean_fake.contacts[contact["id"]]["tags"] == ["old", "hot-lead", "2024"]
    # The "+" reached HighLevel as a "+", not as a space.
    lookups = [r for r in clean_fake.requests_to("GET", "/contacts/search/duplicate")
               if r.query.get("number") == phone]
    assert len(lookups) == 1
    assert attempts[0]["output"]["contactId"] == contact["id"]


def test_create_opportunity(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    contact = clean_fake.seed_contact(email=unique("op-") + "@example.com")
    done, attempts = run(server, {"ghlAction": "create_opportunity", "contactId": contact["id"],
                                  "pipelineId": "pl-1", "pipelineStageId": "st-2",
                                  "name": "Big deal", "monetaryValue": 1250.5,
                                  "status": "open"})
    assert done["status"] == "completed", done
    result = done["result"]
    assert result["action"] == "create_opportunity"
    assert result["status"] == 201
    assert result["contactId"] == contact["id"]
    opportunity = clean_fake.opportunities[result["opportunityId"]]
    assert opportunity["pipelineId"] == "pl-1"
    assert opportunity["pipelineStageId"] == "st-2"
    assert opportunity["monetaryValue"] == 1250.5
    assert result["entity"]["name"] == "Big deal"
    assert result["entity"]["id"] == result["opportunityId"]
    assert attempts[0]["output"]["opportunityId"] == result["opportunityId"]
    assert attempts[0]["output"]["status"] == 201


# --- errors from HighLevel: permanent ------------------------------------------------------

def assert_failed_at_once(done: dict[str, Any], attempts: list[dict[str, Any]], status: int,
                          quote: str) -> None:
    assert done["status"] == "failed", done
    assert len(attempts) == 1, attempts
    assert attempts[0]["status"] == "failed"
    assert attempts[0]["retryable"] is False
    assert attempts[0]["errorType"] == f"ghl_http_{status}"
    assert attempts[0]["output"]["status"] == status
    assert quote in done["lastError"], done["lastError"]
    assert f"{status}" in done["lastError"]
    assert done["errorCount"] == 1


def test_400_unknown_contact_in_the_body(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    done, attempts = run(server, {"ghlAction": "send_sms", "contactId": "ct-nobody",
                                  "message": "hi"})
    assert_failed_at_once(done, attempts, 400, "Contact not found")


def test_400_injected_message_is_quoted(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    contact = clean_fake.seed_contact(phone=unique_phone())
    clean_fake.fail_next(1, status=400, body={
        "statusCode": 400, "message": "This location does not allow duplicated contacts."})
    done, attempts = run(server, {"ghlAction": "add_tag", "contactId": contact["id"],
                                  "tags": ["x"]})
    assert_failed_at_once(done, attempts, 400,
                          "This location does not allow duplicated contacts.")


def test_401_injected(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    contact = clean_fake.seed_contact(phone=unique_phone())
    clean_fake.fail_next(1, status=401, body={
        "statusCode": 401, "message": "The token is not authorized for this scope.",
        "error": "Unauthorized"})
    done, attempts = run(server, {"ghlAction": "send_sms", "contactId": contact["id"],
                                  "message": "hi"})
    assert_failed_at_once(done, attempts, 401, "The token is not authorized for this scope.")


def test_404_unknown_contact_in_the_path(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    done, attempts = run(server, {"ghlAction": "update_contact", "contactId": "ct-missing",
                                  "firstName": "X"})
    assert_failed_at_once(done, attempts, 404, "Contact not found")
    assert attempts[0]["output"]["body"]["message"] == "Contact not found"


def test_422_quotes_every_message(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    done, attempts = run(server, {"ghlAction": "add_contact", "email": "not-an-email",
                                  "phone": "12"})
    assert_failed_at_once(done, attempts, 422, "email must be an email")
    assert "phone must be a valid phone number" in done["lastError"]
    assert attempts[0]["output"]["body"]["error"] == "Unprocessable Entity"


def test_403_location_the_token_may_not_use(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    done, attempts = run(server, {"ghlAction": "add_contact", "locationId": "loc-other",
                                  "email": unique("x-") + "@example.com"})
    assert_failed_at_once(done, attempts, 403, "does not have access to this location")


def test_lookup_finding_nobody_fails_at_once(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    email = unique("ghost-") + "@example.com"
    done, attempts = run(server, {"ghlAction": "add_tag", "email": email, "tags": ["x"]})
    assert done["status"] == "failed", done
    assert len(attempts) == 1
    assert attempts[0]["retryable"] is False
    assert attempts[0]["errorType"] == "ghl_contact_not_found"
    assert email in done["lastError"]


# --- errors from HighLevel: retried --------------------------------------------------------

def test_429_is_retried_after_retry_after_then_completes(server: ErrandsServer,
                                                         clean_fake: FakeGhl) -> None:
    contact = clean_fake.seed_contact(phone=unique_phone())
    before = clean_fake.count_429
    clean_fake.fail_next(2, status=429, retry_after=1)
    done, attempts = run(server, {"ghlAction": "send_sms", "contactId": contact["id"],
                                  "message": "again"})
    assert clean_fake.count_429 - before == 2
    assert done["status"] == "completed", done
    assert [a["status"] for a in attempts] == ["failed", "failed", "success"]
    assert all(a["retryable"] is True for a in attempts[:2])
    assert all(a["errorType"] == "ghl_http_429" for a in attempts[:2])
    assert attempts[0]["output"]["status"] == 429
    assert [a["triggeredBy"] for a in attempts] == ["create", "retry", "retry"]
    assert done["result"]["messageId"] in clean_fake.messages
    # Retry-After: 1 was honoured: each retry started at least a second after the failure.
    for failed, following in itertools.pairwise(attempts):
        gap = _seconds_between(failed["completedAt"], following["startedAt"])
        assert gap >= 0.9, (failed, following)
    sent = [r for r in clean_fake.requests_to("POST", "/conversations/messages")
            if r.body.get("contactId") == contact["id"]]
    assert [r.status for r in sent] == [429, 429, 200]


def test_500_is_retried_then_completes(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    email = unique("five-") + "@example.com"
    clean_fake.fail_next(2, status=500)
    done, attempts = run(server, {"ghlAction": "add_contact", "email": email})
    assert done["status"] == "completed", done
    assert [a["status"] for a in attempts] == ["failed", "failed", "success"]
    assert all(a["retryable"] is True and a["errorType"] == "ghl_http_500"
               for a in attempts[:2])
    assert "Internal server error" in attempts[0]["error"]
    # The upsert made the retries harmless: one contact.
    assert [c["id"] for c in clean_fake.contacts.values() if c.get("email") == email] == [
        done["result"]["contactId"]]


def test_500_beyond_max_retries_fails(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    clean_fake.fail_next(2, status=503)
    done, attempts = run(server, {"ghlAction": "add_contact",
                                  "email": unique("m-") + "@example.com"}, maxRetries=1)
    assert done["status"] == "failed", done
    assert len(attempts) == 2
    assert attempts[-1]["retryable"] is True
    assert "503" in done["lastError"]


def _seconds_between(earlier: str, later: str) -> float:
    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    return (parse(later) - parse(earlier)).total_seconds()


# --- create-time refusals --------------------------------------------------------------------

def refused(server: ErrandsServer, config: dict[str, Any]) -> list[list[Any]]:
    with pytest.raises(TRPCCallError) as info:
        create(server, config)
    assert info.value.code == "BAD_REQUEST", info.value.error
    issues = info.value.error["data"]["issues"]
    return [issue["path"] for issue in issues]


def test_create_time_refusals_name_the_fields(server: ErrandsServer,
                                              clean_fake: FakeGhl) -> None:
    seen = len(clean_fake.requests)
    assert ["executionConfig", "message"] in refused(
        server, {"ghlAction": "send_sms", "contactId": "ct-1"})
    paths = refused(server, {"ghlAction": "create_opportunity", "contactId": "ct-1",
                             "name": "Deal"})
    assert ["executionConfig", "pipelineId"] in paths
    assert ["executionConfig", "name"] not in paths
    assert ["executionConfig", "contactId"] in refused(
        server, {"ghlAction": "add_tag", "tags": ["x"]})
    assert ["executionConfig", "tags"] in refused(
        server, {"ghlAction": "add_tag", "contactId": "ct-1"})
    assert ["executionConfig", "email"] in refused(
        server, {"ghlAction": "add_contact", "firstName": "NoWay"})
    assert ["executionConfig", "ghlAction"] in refused(server, {"ghlAction": "delete_everything"})
    unknown = refused(server, {"ghlAction": "add_contact", "email": "a@b.co", "bogus": 1})
    assert ["executionConfig", "bogus"] in unknown
    assert len(clean_fake.requests) == seen  # nothing reached HighLevel
    listed = server.call("tasks.list", {"taskType": "ghl_action", "search": "NoWay"})
    assert listed["items"] == []


# --- server configuration: no key, no location, a wrong key -------------------------------

def test_without_api_key_or_location(fake: FakeGhl, sqlite_database_url: str,
                                     errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url, env={
        "GHL_BASE_URL": fake.base_url, "GHL_API_KEY": "", "GHL_LOCATION_ID": ""})
    seen = len(fake.requests)
    # No locationId in the config and no GHL_LOCATION_ID: refused at create.
    assert ["executionConfig", "locationId"] in refused(
        server, {"ghlAction": "add_contact", "email": "a@example.com"})
    # With a locationId it is accepted, then fails for good because there is no token.
    done, attempts = run(server, {"ghlAction": "add_contact", "locationId": LOCATION,
                                  "email": "a@example.com"})
    assert done["status"] == "failed", done
    assert len(attempts) == 1
    assert attempts[0]["retryable"] is False
    assert attempts[0]["errorType"] == "config"
    assert "GHL_API_KEY is not set" in done["lastError"]
    assert len(fake.requests) == seen


def test_wrong_api_key_is_401_and_never_shown(fake: FakeGhl, sqlite_database_url: str,
                                              errands_server: Callable[..., ErrandsServer]
                                              ) -> None:
    server = errands_server(sqlite_database_url,
                            env={**ghl_env(fake), "GHL_API_KEY": WRONG_TOKEN})
    done, attempts = run(server, {"ghlAction": "add_contact",
                                  "email": unique("w-") + "@example.com"})
    assert_failed_at_once(done, attempts, 401, "Invalid token: access token is invalid")
    listed = server.call("tasks.list", {"taskType": "ghl_action"})
    assert_no_token(server, done, attempts, listed, token=WRONG_TOKEN)
    assert fake.requests[-1].headers["authorization"] == "Bearer ***"


def test_token_never_in_answers_or_log(server: ErrandsServer, clean_fake: FakeGhl) -> None:
    """After every test above on the shared server, including failures quoting HighLevel."""
    contact = clean_fake.seed_contact(phone=unique_phone())
    # HighLevel echoing the token back in an error must not carry it into lastError.
    clean_fake.fail_next(1, status=400, body={"statusCode": 400,
                                              "message": f"bad token {TOKEN} for this call"})
    done, attempts = run(server, {"ghlAction": "send_sms", "contactId": contact["id"],
                                  "message": "x"})
    assert done["status"] == "failed"
    assert "bad token" in done["lastError"]
    listed = server.call("tasks.list", {"taskType": "ghl_action", "limit": 200})
    assert listed["items"]
    answers: list[Any] = [done, attempts, listed]
    for item in listed["items"]:
        answers.append(server.call("tasks.get", {"id": item["id"]}))
        answers.append(server.call("tasks.executions", {"taskId": item["id"]}))
    assert_no_token(server, *answers)


# --- 300 SMS at once -------------------------------------------------------------------------

WINDOW_SECONDS = 2.0
RATE_LIMIT = 100


def file_batched(server: ErrandsServer, inputs: list[dict[str, Any]], size: int = 100
                 ) -> list[str]:
    """tasks.create for each input, in batched tRPC POSTs of up to ``size`` calls."""
    ids: list[str] = []
    for start in range(0, len(inputs), size):
        chunk = inputs[start:start + size]
        paths = ",".join(["tasks.create"] * len(chunk))
        body = {str(i): item for i, item in enumerate(chunk)}
        resp = server.client.post(f"{server.url}/{paths}", params={"batch": "1"},
                                  content=msgspec.json.encode(body),
                                  headers={"content-type": "application/json"})
        assert resp.status_code == 200, resp.text
        answers = resp.json()
        assert len(answers) == len(chunk)
        ids += [answer["result"]["data"]["id"] for answer in answers]
    return ids


def wait_all(server: ErrandsServer, ids: list[str], timeout: float) -> dict[str, str]:
    def statuses() -> dict[str, str]:
        listed: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = server.call("tasks.list", {"taskType": "ghl_action", "limit": 200,
                                              **({"cursor": cursor} if cursor else {})})
            listed += page["items"]
            cursor = page["nextCursor"]
            if not cursor:
                break
        return {t["id"]: t["status"] for t in listed}

    return eventually(statuses, lambda found: all(found.get(i) in TERMINAL for i in ids),
                      timeout=timeout, interval=0.2, what="all tasks ended")


@pytest.mark.slow
def test_300_sms_at_once_complete_without_a_429(database_url: str,
                                                errands_server: Callable[..., ErrandsServer]
                                                ) -> None:
    with FakeGhl(token=TOKEN, location_id=LOCATION, rate_limit=RATE_LIMIT,
                 rate_window_seconds=WINDOW_SECONDS) as fake:
        server = errands_server(database_url, env=ghl_env(
            fake, GHL_RATE_LIMIT=str(RATE_LIMIT), GHL_RATE_WINDOW_SECONDS=str(WINDOW_SECONDS)))
        contacts = [fake.seed_contact(phone=f"+1555{i:07d}") for i in range(300)]
        inputs = [{"title": f"sms {i}", "taskType": "ghl_action",
                   "executionConfig": {"ghlAction": "send_sms", "contactId": c["id"],
                                       "message": f"hello #{i}"}}
                  for i, c in enumerate(contacts)]
        started = time.monotonic()
        ids = file_batched(server, inputs)
        assert len(set(ids)) == 300
        statuses = wait_all(server, ids, timeout=120)
        elapsed = time.monotonic() - started
        print(f"\n300 send_sms tasks on {database_url.split(':')[0]}: {elapsed:.1f} s "
              f"({RATE_LIMIT} requests per {WINDOW_SECONDS:g} s)")
        assert [i for i in ids if statuses[i] != "completed"] == []
        assert fake.count_429 == 0
        sent = fake.requests_to("POST", "/conversations/messages")
        assert len(sent) == 300
        assert all(r.status == 200 for r in sent)
        assert sorted(m["message"] for m in fake.messages.values()) == sorted(
            f"hello #{i}" for i in range(300))
        # One attempt each, and each task's result names its own message.
        for index in (0, 150, 299):
            task = server.call("tasks.get", {"id": ids[index]})
            assert task["errorCount"] == 0
            message = fake.messages[task["result"]["messageId"]]
            assert message["contactId"] == contacts[index]["id"]
            assert message["message"] == f"hello #{index}"
            attempts = server.call("tasks.executions", {"taskId": ids[index]})
            assert [a["status"] for a in attempts] == ["success"]
        assert TOKEN not in server.log()


@pytest.mark.slow
def test_budget_above_highlevels_limit_collects_429s_then_learns(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    """The control for the test above: a zero count there means something. With the server's
    budget far above HighLevel's limit (and more workers than that limit) the first burst does
    get 429s; every task still completes through Retry-After, and the executor takes the
    limit from the ``X-RateLimit-Max`` headers, so 429s stop well before one per task."""
    with FakeGhl(token=TOKEN, location_id=LOCATION, rate_limit=3,
                 rate_window_seconds=1.0) as fake:
        server = errands_server(sqlite_database_url, env=ghl_env(
            fake, GHL_RATE_LIMIT="1000", GHL_RATE_WINDOW_SECONDS="1"))
        contacts = [fake.seed_contact(phone=f"+1666{i:07d}") for i in range(40)]
        inputs = [{"title": f"sms {i}", "taskType": "ghl_action", "maxRetries": 10,
                   "executionConfig": {"ghlAction": "send_sms", "contactId": c["id"],
                                       "message": f"m{i}"}}
                  for i, c in enumerate(contacts)]
        ids = file_batched(server, inputs)
        statuses = wait_all(server, ids, timeout=120)
        print(f"\ncontrol: {fake.count_429} answers 429 for 40 tasks")
        assert [i for i in ids if statuses[i] != "completed"] == []
        assert fake.count_429 > 0
        assert fake.count_429 < 40
        assert len(fake.messages) == 40
