"""The ghl_action executor against the fake HighLevel server, over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from executors.base import (
    ExecutionContext,
    ExecutionResult,
    ExecutorError,
    Issue,
    PermanentError,
    RetryableError,
    TaskSpec,
)
from executors.ghl import GhlExecutor
from executors.ghl_rate import LocalRateBudget, RateBudget
from schemas.configs import GhlActionConfig
from tests.fakes.ghl import FakeGhl

TOKEN = "pit-7f3c9a1e-secret-token-value"
LOCATION = "loc-test-1"


@pytest.fixture
def fake() -> Iterator[FakeGhl]:
    with FakeGhl(token=TOKEN, location_id=LOCATION) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def executor(fake: FakeGhl, http: httpx.AsyncClient, *, api_key: str | None = TOKEN,
             location_id: str | None = LOCATION, budget: RateBudget | None = None,
             base_url: str | None = None) -> GhlExecutor:
    return GhlExecutor(http, api_key=api_key, location_id=location_id,
                       base_url=base_url or fake.base_url + "/",
                       budget=budget or LocalRateBudget())


def task(**config: Any) -> TaskSpec:
    """A task from a wire (camelCase) executionConfig, decoded as tasks.create does."""
    return TaskSpec(id="task-1", title="ghl", task_type="ghl_action",
                    config=msgspec.convert(config, GhlActionConfig), timeout_seconds=60)


def context() -> ExecutionContext:
    return ExecutionContext(task_id="task-1", execution_id="exec-1", attempt_number=1,
                            triggered_by="create", worker_id="worker-1",
                            clock=lambda: datetime.now(UTC))


async def run(ex: GhlExecutor, **config: Any) -> ExecutionResult:
    return await ex.execute(task(**config), context())


async def fails(ex: GhlExecutor, **config: Any) -> ExecutorError:
    with pytest.raises(ExecutorError) as info:
        await run(ex, **config)
    return info.value


def only(fake: FakeGhl, method: str, path: str) -> Any:
    found = fake.requests_to(method, path)
    assert len(found) == 1, [(r.method, r.path) for r in fake.requests]
    return found[0]


def assert_wire(headers: Mapping[str, str], version: str) -> None:
    assert headers["authorization"] == "Bearer ***"  # the fake only logs a valid bearer
    assert headers["version"] == version
    assert headers["accept"] == "application/json"
    assert headers["content-type"] == "application/json"


# --- the five actions -------------------------------------------------------------------------

async def test_add_contact_upserts_a_new_contact(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    result = await run(executor(fake, http), ghlAction="add_contact", firstName="Ada",
                       lastName="Lovelace", email="Ada@Example.com", phone="+1 555 010 9999",
                       tags=["lead"], customFields=[{"id": "cf1", "field_value": "x"}])

    contact_id = result.output["contactId"]
    assert result.output["action"] == "add_contact"
    assert result.output["status"] == 200
    assert result.output["new"] is True
    assert result.output["entity"] == fake.contacts[contact_id]
    assert result.summary == f"Created contact {contact_id}"
    sent = only(fake, "POST", "/contacts/upsert")
    assert_wire(sent.headers, "2021-07-28")
    assert sent.body == {"locationId": LOCATION, "firstName": "Ada", "lastName": "Lovelace",
                         "email": "Ada@Example.com", "phone": "+1 555 010 9999",
                         "tags": ["lead"], "customFields": [{"id": "cf1", "field_value": "x"}]}


async def test_add_contact_updates_an_existing_contact(fake: FakeGhl,
                                                       http: httpx.AsyncClient) -> None:
    existing = fake.seed_contact(email="ada@example.com", firstName="A")

    result = await run(executor(fake, http), ghlAction="add_contact", email="ada@example.com",
                       firstName="Ada")

    assert result.output["new"] is False
    assert result.output["contactId"] == existing["id"]
    assert fake.contacts[existing["id"]]["firstName"] == "Ada"
    assert len(fake.contacts) == 1
    assert result.summary == f"Updated existing contact {existing['id']}"


@pytest.mark.parametrize(("attempt", "triggered_by"), [(2, "retry"), (1, "recovery")])
async def test_add_contact_that_may_be_a_replay_looks_the_contact_up_first(
        fake: FakeGhl, http: httpx.AsyncClient, attempt: int, triggered_by: str) -> None:
    created = fake.seed_contact(email="ada@example.com", firstName="A")  # by the lost attempt
    ctx = ExecutionContext(task_id="task-1", execution_id="exec-2", attempt_number=attempt,
                           triggered_by=triggered_by, worker_id="worker-1",
                           clock=lambda: datetime.now(UTC))

    result = await executor(fake, http).execute(
        task(ghlAction="add_contact", email="ada@example.com", firstName="Ada"), ctx)

    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/contacts/search/duplicate"), ("PUT", f"/contacts/{created['id']}")]
    assert result.output["contactId"] == created["id"]
    assert result.output["new"] is False and result.output["replayed"] is True
    assert fake.contacts[created["id"]]["firstName"] == "Ada"
    assert len(fake.contacts) == 1


async def test_a_replayed_add_contact_that_finds_nobody_upserts(
        fake: FakeGhl, http: httpx.AsyncClient) -> None:
    ctx = ExecutionContext(task_id="task-1", execution_id="exec-2", attempt_number=2,
                           triggered_by="recovery", worker_id="worker-1",
                           clock=lambda: datetime.now(UTC))

    result = await executor(fake, http).execute(
        task(ghlAction="add_contact", email="new@example.com", phone="+15550100"), ctx)

    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/contacts/search/duplicate"), ("GET", "/contacts/search/duplicate"),
        ("POST", "/contacts/upsert")]
    assert result.output["new"] is True


async def test_a_first_add_contact_does_not_look_up(fake: FakeGhl,
                                                    http: httpx.AsyncClient) -> None:
    await run(executor(fake, http), ghlAction="add_contact", email="ada@example.com")

    assert [(r.method, r.path) for r in fake.requests] == [("POST", "/contacts/upsert")]


async def test_config_location_wins_over_the_setting(http: httpx.AsyncClient) -> None:
    with FakeGhl(tokens={TOKEN: "loc-other"}) as other:
        result = await run(executor(other, http), ghlAction="add_contact", email="a@b.co",
                           locationId="loc-other")
        assert only(other, "POST", "/contacts/upsert").body["locationId"] == "loc-other"
    assert result.output["entity"]["locationId"] == "loc-other"


async def test_update_contact_by_id(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    contact = fake.seed_contact(email="old@example.com")

    result = await run(executor(fake, http), ghlAction="update_contact",
                       contactId=contact["id"], email="new@example.com", lastName="Byron")

    assert result.output == {"action": "update_contact", "status": 200,
                             "contactId": contact["id"],
                             "entity": fake.contacts[contact["id"]]}
    assert fake.contacts[contact["id"]]["email"] == "new@example.com"
    sent = only(fake, "PUT", f"/contacts/{contact['id']}")
    assert_wire(sent.headers, "2021-07-28")
    assert sent.body == {"email": "new@example.com", "lastName": "Byron"}  # no locationId
    assert result.summary == f"Updated contact {contact['id']}"


async def test_update_contact_found_by_email(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    contact = fake.seed_contact(email="ada@example.com")

    result = await run(executor(fake, http), ghlAction="update_contact",
                       email="ada@example.com", firstName="Ada")

    assert result.output["contactId"] == contact["id"]
    search = only(fake, "GET", "/contacts/search/duplicate")
    assert search.query == {"locationId": LOCATION, "email": "ada@example.com"}
    assert search.headers["version"] == "2021-07-28"
    assert fake.contacts[contact["id"]]["firstName"] == "Ada"


async def test_send_sms_by_contact_id(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    contact = fake.seed_contact(phone="+15550100001")

    result = await run(executor(fake, http), ghlAction="send_sms", contactId=contact["id"],
                       message="Your order shipped")

    message_id = result.output["messageId"]
    assert fake.messages[message_id]["message"] == "Your order shipped"
    assert result.output["status"] == 200
    assert result.output["contactId"] == contact["id"]
    assert result.output["entity"]["msg"] == "Message queued successfully."
    assert result.summary == f"Sent SMS to contact {contact['id']}"
    sent = only(fake, "POST", "/conversations/messages")
    assert_wire(sent.headers, "2021-04-15")
    assert sent.body == {"type": "SMS", "contactId": contact["id"],
                         "message": "Your order shipped"}
    assert fake.requests_to("GET", "/contacts/search/duplicate") == []


async def test_send_sms_finds_the_contact_by_phone_with_a_plus(
        fake: FakeGhl, http: httpx.AsyncClient) -> None:
    contact = fake.seed_contact(phone="+15550100002")

    result = await run(executor(fake, http), ghlAction="send_sms", phone="+15550100002",
                       message="hi")

    assert result.output["contactId"] == contact["id"]
    assert only(fake, "GET", "/contacts/search/duplicate").query == {
        "locationId": LOCATION, "number": "+15550100002"}


async def test_lookup_falls_back_from_email_to_phone(fake: FakeGhl,
                                                     http: httpx.AsyncClient) -> None:
    contact = fake.seed_contact(phone="+15550100003")

    result = await run(executor(fake, http), ghlAction="add_tag", email="nobody@example.com",
                       phone="+15550100003", tags=["vip"])

    assert result.output["contactId"] == contact["id"]
    assert len(fake.requests_to("GET", "/contacts/search/duplicate")) == 2


async def test_lookup_finding_nobody_is_permanent_and_names_the_keys(
        fake: FakeGhl, http: httpx.AsyncClient) -> None:
    error = await fails(executor(fake, http), ghlAction="send_sms", email="ghost@example.com",
                        phone="+15550109999", message="hi")

    assert isinstance(error, PermanentError)
    assert error.error_type == "ghl_contact_not_found"
    assert "ghost@example.com" in error.message and "+15550109999" in error.message
    assert fake.messages == {}


async def test_add_tag(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    contact = fake.seed_contact(email="t@example.com", tags=["old"])

    result = await run(executor(fake, http), ghlAction="add_tag", contactId=contact["id"],
                       tags=["vip", "2026"])

    assert result.output == {"action": "add_tag", "status": 201, "contactId": contact["id"],
                             "entity": {"tags": ["old", "vip", "2026"]}}
    assert result.summary == f"Added tags vip, 2026 to contact {contact['id']}"
    sent = only(fake, "POST", f"/contacts/{contact['id']}/tags")
    assert_wire(sent.headers, "2021-07-28")
    assert sent.body == {"tags": ["vip", "2026"]}


async def test_create_opportunity(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    contact = fake.seed_contact(email="o@example.com")

    result = await run(executor(fake, http), ghlAction="create_opportunity",
                       email="o@example.com", pipelineId="pipe-1", pipelineStageId="stage-2",
                       name="Website redesign", monetaryValue=1500.5)

    opportunity_id = result.output["opportunityId"]
    assert result.output["status"] == 201
    assert result.output["contactId"] == contact["id"]
    assert result.output["entity"] == fake.opportunities[opportunity_id]
    assert result.summary == f"Created opportunity {opportunity_id} for contact {contact['id']}"
    sent = only(fake, "POST", "/opportunities/")
    assert_wire(sent.headers, "2021-07-28")
    assert sent.body == {"pipelineId": "pipe-1", "locationId": LOCATION,
                         "name": "Website redesign", "status": "open",
                         "contactId": contact["id"], "pipelineStageId": "stage-2",
                         "monetaryValue": 1500.5}


# --- errors -----------------------------------------------------------------------------------

async def test_422_is_permanent_and_quotes_highlevel(fake: FakeGhl,
                                                     http: httpx.AsyncClient) -> None:
    error = await fails(executor(fake, http), ghlAction="add_contact", phone="12ab")

    assert isinstance(error, PermanentError) and not error.retryable
    assert error.error_type == "ghl_http_422"
    assert error.message == "HighLevel answered 422: phone must be a valid phone number"


async def test_400_unknown_contact_in_body(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    error = await fails(executor(fake, http), ghlAction="send_sms", contactId="ct-missing",
                        message="hi")

    assert isinstance(error, PermanentError)
    assert error.error_type == "ghl_http_400"
    assert error.message == "HighLevel answered 400: Contact not found"
    assert error.output["status"] == 400


async def test_404_unknown_contact_in_path(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    error = await fails(executor(fake, http), ghlAction="update_contact",
                        contactId="ct-missing", firstName="x")

    assert isinstance(error, PermanentError)
    assert error.error_type == "ghl_http_404"
    assert "Contact not found" in error.message


async def test_401_wrong_token(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    error = await fails(executor(fake, http, api_key="pit-wrong-token"),
                        ghlAction="add_contact", email="a@b.co")

    assert isinstance(error, PermanentError)
    assert error.error_type == "ghl_http_401"
    assert error.message == "HighLevel answered 401: Invalid token: access token is invalid"
    assert "pit-wrong-token" not in repr((error.message, error.output))


async def test_403_location_the_token_cannot_use(fake: FakeGhl,
                                                 http: httpx.AsyncClient) -> None:
    error = await fails(executor(fake, http), ghlAction="add_contact", email="a@b.co",
                        locationId="loc-someone-else")

    assert isinstance(error, PermanentError)
    assert error.error_type == "ghl_http_403"


async def test_429_is_retryable_with_retry_after_and_pauses_the_budget(
        fake: FakeGhl, http: httpx.AsyncClient) -> None:
    budget = LocalRateBudget()
    fake.fail_next(1, status=429, retry_after=7)

    error = await fails(executor(fake, http, budget=budget), ghlAction="add_contact",
                        email="a@b.co")

    assert isinstance(error, RetryableError) and error.retryable
    assert error.error_type == "ghl_http_429"
    assert error.retry_after == 7.0
    delay = budget.delay(LOCATION)
    assert delay is not None and 0 < delay <= 7


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (502, None), (503, 30)])
async def test_5xx_is_retryable(fake: FakeGhl, http: httpx.AsyncClient, status: int,
                                retry_after: int | None) -> None:
    fake.fail_next(1, status=status, retry_after=retry_after)

    error = await fails(executor(fake, http), ghlAction="add_contact", email="a@b.co")

    assert isinstance(error, RetryableError)
    assert error.error_type == f"ghl_http_{status}"
    assert error.retry_after == (None if retry_after is None else float(retry_after))
    assert fake.contacts == {}


async def test_retry_after_as_an_http_date(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    fake.fail_next(1, status=503, retry_after="Thu, 01 Jan 2026 12:00:42 GMT",
                   body={"statusCode": 503, "message": "maintenance"})
    noon = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    at_noon = ExecutionContext(task_id="t", execution_id="e", attempt_number=1,
                               triggered_by="create", worker_id="w", clock=lambda: noon)

    with pytest.raises(RetryableError) as info:
        await executor(fake, http).execute(task(ghlAction="add_contact", email="a@b.co"),
                                           at_noon)

    assert info.value.message == "HighLevel answered 503: maintenance"
    assert info.value.retry_after == 42.0


async def test_connection_refused_is_retryable(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"

    error = await fails(executor(fake, http, base_url=closed), ghlAction="add_contact",
                        email="a@b.co")

    assert isinstance(error, RetryableError)
    assert error.error_type == "ghl_network"


async def test_timeout_is_retryable(fake: FakeGhl) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        async with httpx.AsyncClient(timeout=0.2) as quick:
            error = await fails(executor(fake, quick, base_url=url), ghlAction="add_contact",
                                email="a@b.co")

    assert isinstance(error, RetryableError)
    assert error.error_type == "ghl_timeout"


async def test_missing_api_key_is_a_config_error(fake: FakeGhl,
                                                 http: httpx.AsyncClient) -> None:
    error = await fails(executor(fake, http, api_key=None), ghlAction="add_contact",
                        email="a@b.co")

    assert isinstance(error, PermanentError)
    assert error.error_type == "config"
    assert error.message.startswith("GHL_API_KEY is not set: ")
    assert fake.requests == []


async def test_missing_location_at_run_time_is_a_config_error(
        fake: FakeGhl, http: httpx.AsyncClient) -> None:
    error = await fails(executor(fake, http, location_id=None), ghlAction="add_contact",
                        email="a@b.co")

    assert error.error_type == "config" and "GHL_LOCATION_ID" in error.message


async def test_the_token_never_leaves(fake: FakeGhl, http: httpx.AsyncClient) -> None:
    ex = executor(fake, http)
    contact = fake.seed_contact(email="s@example.com", phone="+15550100004")
    seen: list[Any] = []
    for config in (
        {"ghlAction": "add_contact", "email": "s@example.com"},
        {"ghlAction": "update_contact", "email": "s@example.com", "firstName": "S"},
        {"ghlAction": "send_sms", "phone": "+15550100004", "message": "m"},
        {"ghlAction": "add_tag", "contactId": contact["id"], "tags": ["t"]},
        {"ghlAction": "create_opportunity", "contactId": contact["id"], "pipelineId": "p",
         "name": "n"},
    ):
        result = await run(ex, **config)
        seen += [result.output, result.summary]
    # HighLevel echoing the token in an error must not carry it into our records.
    fake.fail_next(1, status=400, body={"statusCode": 400, "message": f"bad token {TOKEN}"})
    fake.fail_next(1, status=500, body={"statusCode": 500, "message": [TOKEN]})
    for _ in range(2):
        error = await fails(ex, ghlAction="add_contact", email="s@example.com")
        seen += [error.message, error.output, str(error)]

    assert TOKEN not in repr(seen)
    assert "********" in repr(seen)
    assert all(TOKEN not in repr(r) for r in fake.requests)


# --- check() ----------------------------------------------------------------------------------

CHECKS: list[tuple[dict[str, Any], list[tuple[tuple[str | int, ...], str]]]] = [
    ({"ghlAction": "add_contact", "email": "a@b.co"}, []),
    ({"ghlAction": "add_contact", "phone": "+15550100000"}, []),
    ({"ghlAction": "add_contact", "firstName": "Ada"}, [(("email",), "email or a phone")]),
    ({"ghlAction": "update_contact", "contactId": "c1", "firstName": "A"}, []),
    ({"ghlAction": "update_contact", "firstName": "A"},
     [(("contactId",), "contactId, email or phone")]),
    ({"ghlAction": "send_sms", "email": "a@b.co", "message": "hi"}, []),
    ({"ghlAction": "send_sms", "contactId": "c1"}, [(("message",), "needs a message")]),
    ({"ghlAction": "send_sms", "message": "  "},
     [(("contactId",), "contactId, email or phone"), (("message",), "needs a message")]),
    ({"ghlAction": "add_tag", "phone": "+15550100000", "tags": ["a"]}, []),
    ({"ghlAction": "add_tag", "contactId": "c1", "tags": []}, [(("tags",), "at least one")]),
    ({"ghlAction": "add_tag", "contactId": "c1"}, [(("tags",), "at least one")]),
    ({"ghlAction": "add_tag", "contactId": "c1", "tags": ["a", " "]},
     [(("tags", 1), "cannot be empty")]),
    ({"ghlAction": "create_opportunity", "contactId": "c1", "pipelineId": "p", "name": "n"}, []),
    ({"ghlAction": "create_opportunity", "email": "a@b.co"},
     [(("pipelineId",), "pipelineId"), (("name",), "name")]),
    ({"ghlAction": "create_opportunity", "pipelineId": "p", "name": "n"},
     [(("contactId",), "contactId, email or phone")]),
]


@pytest.mark.parametrize(("config", "expected"), CHECKS)
def test_check(config: dict[str, Any], expected: list[tuple[tuple[str | int, ...], str]]
               ) -> None:
    ex = GhlExecutor(httpx.AsyncClient(), api_key=None, location_id=LOCATION,
                     base_url="http://127.0.0.1:9", budget=LocalRateBudget())
    issues = ex.check(msgspec.convert(config, GhlActionConfig), source_webhook_id=None)

    assert [i.path for i in issues] == [path for path, _ in expected]
    for issue, (_, words) in zip(issues, expected, strict=True):
        assert words in issue.message


@pytest.mark.parametrize("action", ["add_contact", "update_contact", "send_sms", "add_tag",
                                    "create_opportunity"])
def test_check_wants_a_location(action: str) -> None:
    config = {"ghlAction": action, "contactId": "c1", "email": "a@b.co", "message": "m",
              "tags": ["t"], "pipelineId": "p", "name": "n"}
    unset = GhlExecutor(httpx.AsyncClient(), api_key=TOKEN, location_id=None,
                        base_url="http://127.0.0.1:9", budget=LocalRateBudget())

    issues = unset.check(msgspec.convert(config, GhlActionConfig), source_webhook_id=None)
    given = unset.check(msgspec.convert({**config, "locationId": "l"}, GhlActionConfig),
                        source_webhook_id=None)

    assert issues == [Issue(("locationId",), issues[0].message)]
    assert "locationId" in issues[0].message and "GHL_LOCATION_ID" in issues[0].message
    assert given == []


# --- the rate budget against the server's sliding window --------------------------------------

async def test_a_burst_of_300_waits_instead_of_collecting_429s() -> None:
    with FakeGhl(token=TOKEN, location_id=LOCATION, rate_limit=100,
                 rate_window_seconds=1.0) as fake:
        contact = fake.seed_contact(phone="+15550100005")
        async with httpx.AsyncClient(timeout=60) as http:
            ex = executor(fake, http, budget=LocalRateBudget(100, 1.0))
            results = await asyncio.gather(*(
                run(ex, ghlAction="send_sms", contactId=contact["id"], message=f"#{i}")
                for i in range(300)))

        assert fake.count_429 == 0
        assert len(fake.messages) == 300
        assert {r.output["messageId"] for r in results} == set(fake.messages)


class NoBudget:
    """A RateBudget that lets everything through: what the burst would do without ours."""

    async def acquire(self, location_id: str) -> None:
        return None

    def release(self, location_id: str) -> None:
        return None

    def observe(self, location_id: str, headers: Mapping[str, str]) -> None:
        return None

    def penalize(self, location_id: str, retry_after: float | None) -> None:
        return None


async def test_without_a_budget_the_same_burst_collects_429s() -> None:
    with FakeGhl(token=TOKEN, location_id=LOCATION, rate_limit=100,
                 rate_window_seconds=600) as fake:
        contact = fake.seed_contact(phone="+15550100006")
        async with httpx.AsyncClient(timeout=60) as http:
            ex = executor(fake, http, budget=NoBudget())
            outcomes = await asyncio.gather(*(
                run(ex, ghlAction="send_sms", contactId=contact["id"], message="m")
                for _ in range(150)), return_exceptions=True)

    limited = [o for o in outcomes if isinstance(o, RetryableError)]
    assert len(limited) == 50 == fake.count_429
    assert all(e.error_type == "ghl_http_429" and e.retry_after for e in limited)
