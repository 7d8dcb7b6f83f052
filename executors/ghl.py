"""The ``ghl_action`` executor: five HighLevel (LeadConnector API v2) actions (docs/GHL.md).

=====================  =========================================  ========
ghlAction              request                                    Version
=====================  =========================================  ========
add_contact            POST /contacts/upsert                      2021-07-28
update_contact         PUT  /contacts/{contactId}                 2021-07-28
send_sms               POST /conversations/messages               2021-04-15
create_opportunity     POST /opportunities/                       2021-07-28
add_tag                POST /contacts/{contactId}/tags            2021-07-28
=====================  =========================================  ========

When an action needs a contact and the config gives no ``contactId``, the contact is found first
with ``GET /contacts/search/duplicate`` by email, then by phone. Every request takes a slot from
the shared :class:`~executors.ghl_rate.RateBudget` of its location.

Result: ``{"action", "status", "contactId"?, "messageId"?, "opportunityId"?, "entity"}`` where
``entity`` is what HighLevel returned (the contact, the opportunity, the message answer, the tags).

Errors (the token never appears in any of them):

- 400, 401, 403, 404, 422 and other 4xx → :class:`PermanentError` ``ghl_http_<status>`` quoting
  HighLevel's own ``message``; a contact lookup that finds nobody → ``ghl_contact_not_found``;
  no token or no location → ``config``.
- 408, 429, 5xx → :class:`RetryableError` ``ghl_http_<status>`` with ``retry_after`` from
  ``Retry-After``; a 429 also pauses the location's budget. Timeouts → ``ghl_timeout``, other
  network failures → ``ghl_network``; the daily budget spent → ``ghl_daily_limit``.

Idempotency: ``add_contact`` is an upsert and ``add_tag``/``update_contact`` converge, so a retry
is harmless; ``send_sms`` and ``create_opportunity`` retried after a timeout may act twice. An
``add_contact`` that may be a replay (attempt > 1, or ``triggeredBy: recovery`` after a crash)
first looks the contact up by email, then phone: when the first attempt already created it, it
is updated (``PUT /contacts/{id}``) and reported ``new: false``, ``replayed: true`` — never a
second contact, whatever the location's duplicate setting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final
from urllib.parse import quote

import httpx
import msgspec

from executors.base import (
    ExecutionContext,
    ExecutionResult,
    Issue,
    PermanentError,
    Resources,
    RetryableError,
    TaskSpec,
    from_outbound,
)
from executors.ghl_rate import RateBudget, RateBudgetExhausted
from outbound import OutboundError
from outbound.http import parse_retry_after, status_retryable
from schemas.configs import GhlActionConfig

CONTACTS_VERSION: Final = "2021-07-28"
CONVERSATIONS_VERSION: Final = "2021-04-15"
PERMANENT_STATUSES: Final = frozenset({400, 401, 403, 404, 422})
REDACTED: Final = "********"
_MESSAGE_LIMIT: Final = 500


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any]


def _present(value: str | None) -> bool:
    return value is not None and value.strip() != ""


def _has_contact_reference(config: GhlActionConfig) -> bool:
    return any(_present(v) for v in (config.contact_id, config.email, config.phone))


class GhlExecutor:
    """Runs ``ghl_action`` tasks against ``base_url`` with one shared httpx client and budget.

    ``api_key`` (``GHL_API_KEY``) may be ``None``: tasks then fail with a ``config`` error.
    ``location_id`` (``GHL_LOCATION_ID``) is used when a config gives no ``locationId``.
    The client's own timeouts bound each request; the runner's deadline bounds the attempt.
    """

    task_type: ClassVar[str] = "ghl_action"

    @classmethod
    def build(cls, resources: Resources) -> GhlExecutor:
        settings = resources.settings
        return cls(resources.http, api_key=settings.ghl_api_key,
                   location_id=settings.ghl_location_id, base_url=settings.ghl_base_url,
                   budget=resources.ghl_budget)

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str | None,
        location_id: str | None,
        base_url: str,
        budget: RateBudget,
    ) -> None:
        self._http = http
        self._api_key = api_key or None
        self._location_id = location_id or None
        self._base_url = base_url.rstrip("/")
        self._budget = budget
        self.rate_limited = 0  # HTTP 429 answers seen (read by /metrics)

    # --- create time -----------------------------------------------------------------------

    def check(self, config: GhlActionConfig, *, source_webhook_id: str | None) -> list[Issue]:
        """What a ``GhlActionConfig`` lacks for its action; paths are camelCase."""
        issues: list[Issue] = []
        action = config.ghl_action
        if not _present(config.location_id) and self._location_id is None:
            issues.append(Issue(("locationId",), "no HighLevel location: set locationId in the "
                                                 "config or GHL_LOCATION_ID on the server"))
        if action == "add_contact":
            if not (_present(config.email) or _present(config.phone)):
                issues.append(Issue(("email",), "add_contact needs an email or a phone"))
            return issues
        if not _has_contact_reference(config):
            issues.append(Issue(("contactId",), f"{action} needs contactId, email or phone "
                                                "to find the contact"))
        if action == "send_sms" and not _present(config.message):
            issues.append(Issue(("message",), "send_sms needs a message"))
        if action == "add_tag":
            if not config.tags:
                issues.append(Issue(("tags",), "add_tag needs at least one tag"))
            else:
                issues.extend(Issue(("tags", i), "a tag cannot be empty")
                              for i, tag in enumerate(config.tags) if not tag.strip())
        if action == "create_opportunity":
            if not _present(config.pipeline_id):
                issues.append(Issue(("pipelineId",), "create_opportunity needs a pipelineId"))
            if not _present(config.name):
                issues.append(Issue(("name",), "create_opportunity needs a name"))
        return issues

    # --- run time --------------------------------------------------------------------------

    async def execute(self, task: TaskSpec[GhlActionConfig],
                      ctx: ExecutionContext) -> ExecutionResult:
        """Token: the attempt's connection (``ctx.ghl``: the config's ``connection``, else the
        task client's ghl connection), else GHL_API_KEY. Location: the config's
        ``locationId``, else the connection's, else the client's ``ghlLocationId``, else
        GHL_LOCATION_ID (CONTRACT §14)."""
        config = task.config
        access = ctx.ghl
        token = (access.token if access is not None else None) or self._api_key
        if token is None:
            raise PermanentError(
                "GHL_API_KEY is not set: give the server a HighLevel Private Integration Token "
                "or sub-account access token", error_type="config")
        location_id = config.location_id if _present(config.location_id) else (
            (access.location_id if access is not None else None) or self._location_id)
        if location_id is None:
            raise PermanentError("no HighLevel location: set locationId in the config or "
                                 "GHL_LOCATION_ID on the server", error_type="config")
        call = _Call(self, location_id, ctx.clock, token=token,
                     replay=ctx.attempt_number > 1 or ctx.triggered_by == "recovery")
        handler = _ACTIONS[config.ghl_action]
        output, summary = await handler(call, config)
        return ExecutionResult(output=output, summary=summary)

    # --- the one way out -------------------------------------------------------------------

    async def _send(self, method: str, path: str, *, version: str, location_id: str,
                    clock: Callable[[], datetime], token: str,
                    params: Mapping[str, str] | None = None, json: Any = None) -> _Answer:
        headers = {
            "Authorization": f"Bearer {token}",
            "Version": version,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        try:
            await self._budget.acquire(location_id)
        except RateBudgetExhausted as exc:
            raise RetryableError(str(exc), error_type="ghl_daily_limit",
                                 retry_after=exc.retry_after) from None
        try:
            response = await self._http.request(method, self._base_url + path, headers=headers,
                                                params=params, json=json)
            self._budget.observe(location_id, response.headers)
        except httpx.TimeoutException as exc:
            raise RetryableError(f"HighLevel did not answer {method} {path} in time "
                                 f"({type(exc).__name__})", error_type="ghl_timeout") from None
        except OutboundError as exc:  # GHL_BASE_URL resolved to a refused address
            raise from_outbound(exc) from None
        except httpx.HTTPError as exc:
            raise RetryableError(f"could not reach HighLevel for {method} {path}: "
                                 f"{self._redact(str(exc), token) or type(exc).__name__}",
                                 error_type="ghl_network") from None
        finally:
            self._budget.release(location_id)
        return self._answer(response, location_id, clock, token)

    def _answer(self, response: httpx.Response, location_id: str,
                clock: Callable[[], datetime], token: str) -> _Answer:
        status = response.status_code
        body = self._decode(response, token)
        if 200 <= status < 300:
            if not isinstance(body, dict):
                raise PermanentError(f"HighLevel answered {status} without a JSON object",
                                     error_type="ghl_bad_response", output={"status": status})
            return _Answer(status, body)
        message = f"HighLevel answered {status}: {self._message(body, response, token)}"
        output = {"status": status, "body": body}
        if status in PERMANENT_STATUSES or (400 <= status < 500 and not status_retryable(status)):
            raise PermanentError(message, error_type=f"ghl_http_{status}", output=output)
        retry_after = parse_retry_after(response.headers.get("retry-after"), clock())
        if status == 429:
            self.rate_limited += 1  # read by /metrics
            self._budget.penalize(location_id, retry_after)
        raise RetryableError(message, error_type=f"ghl_http_{status}", retry_after=retry_after,
                             output=output)

    def _decode(self, response: httpx.Response, token: str) -> Any:
        try:
            body = msgspec.json.decode(response.content) if response.content else None
        except msgspec.DecodeError:
            return self._redact(response.text[:_MESSAGE_LIMIT], token)
        return msgspec.json.decode(self._redact(msgspec.json.encode(body).decode(), token))

    def _message(self, body: Any, response: httpx.Response, token: str) -> str:
        raw = body.get("message") if isinstance(body, dict) else body
        if isinstance(raw, list):
            text = "; ".join(str(item) for item in raw)
        elif isinstance(raw, str) and raw:
            text = raw
        else:
            text = response.reason_phrase or "no message"
        return self._redact(text, token)[:_MESSAGE_LIMIT]

    @staticmethod
    def _redact(text: str, token: str) -> str:
        return text.replace(token, REDACTED) if token else text


class _Call:
    """One attempt's requests to one location."""

    def __init__(self, executor: GhlExecutor, location_id: str,
                 clock: Callable[[], datetime], *, token: str, replay: bool = False) -> None:
        self.executor = executor
        self.location_id = location_id
        self.token = token
        self.clock = clock
        self.replay = replay  # an earlier attempt of this task may have acted already

    async def send(self, method: str, path: str, *, version: str = CONTACTS_VERSION,
                   params: Mapping[str, str] | None = None, json: Any = None) -> _Answer:
        return await self.executor._send(method, path, version=version,
                                         location_id=self.location_id, clock=self.clock,
                                         token=self.token, params=params, json=json)

    async def contact_id(self, config: GhlActionConfig) -> str:
        """The config's contactId, else the contact found by email, then by phone."""
        if config.contact_id is not None and config.contact_id.strip():
            return config.contact_id.strip()
        found = await self.find_contact(config)
        if found is not None:
            return found
        searches = _searches(config)
        wanted = " or ".join(f"{'phone' if k == 'number' else k} {v}" for k, v in searches)
        raise PermanentError(f"no HighLevel contact with {wanted} in location {self.location_id}",
                             error_type="ghl_contact_not_found")


    async def find_contact(self, config: GhlActionConfig) -> str | None:
        """The id of the contact with the config's email, else its phone; None if nobody."""
        for key, value in _searches(config):
            answer = await self.send("GET", "/contacts/search/duplicate",
                                     params={"locationId": self.location_id, key: value})
            found = _entity(answer.body, "contact").get("id")
            if isinstance(found, str) and found:
                return found
        return None


def _searches(config: GhlActionConfig) -> list[tuple[str, str]]:
    return [(key, value.strip()) for key, value in
            (("email", config.email), ("number", config.phone))
            if value is not None and value.strip()]


def _contact_fields(config: GhlActionConfig) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "firstName": config.first_name,
        "lastName": config.last_name,
        "name": config.name,
        "email": config.email,
        "phone": config.phone,
        "tags": config.tags,
        "customFields": (None if config.custom_fields is None else
                         [{"id": f.id, "field_value": f.field_value}
                          for f in config.custom_fields]),
    }
    return {k: v for k, v in fields.items() if v is not None}


def _entity(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


async def _add_contact(call: _Call, config: GhlActionConfig) -> tuple[dict[str, Any], str]:
    if call.replay:
        existing = await call.find_contact(config)
        if existing is not None:
            answer = await call.send("PUT", f"/contacts/{quote(existing, safe='')}",
                                     json=_contact_fields(config))
            output = {"action": "add_contact", "status": answer.status, "contactId": existing,
                      "new": False, "replayed": True,
                      "entity": _entity(answer.body, "contact")}
            return output, f"Updated existing contact {existing} (found before a possible replay)"
    body = {"locationId": call.location_id, **_contact_fields(config)}
    answer = await call.send("POST", "/contacts/upsert", json=body)
    contact = _entity(answer.body, "contact")
    contact_id = contact.get("id")
    new = bool(answer.body.get("new"))
    output = {"action": "add_contact", "status": answer.status, "contactId": contact_id,
              "new": new, "entity": contact}
    verb = "Created" if new else "Updated existing"
    return output, f"{verb} contact {contact_id}"


async def _update_contact(call: _Call, config: GhlActionConfig) -> tuple[dict[str, Any], str]:
    contact_id = await call.contact_id(config)
    answer = await call.send("PUT", f"/contacts/{quote(contact_id, safe='')}",
                             json=_contact_fields(config))
    output = {"action": "update_contact", "status": answer.status, "contactId": contact_id,
              "entity": _entity(answer.body, "contact")}
    return output, f"Updated contact {contact_id}"


async def _send_sms(call: _Call, config: GhlActionConfig) -> tuple[dict[str, Any], str]:
    contact_id = await call.contact_id(config)
    answer = await call.send("POST", "/conversations/messages", version=CONVERSATIONS_VERSION,
                             json={"type": "SMS", "contactId": contact_id,
                                   "message": config.message})
    output = {"action": "send_sms", "status": answer.status, "contactId": contact_id,
              "messageId": answer.body.get("messageId"), "entity": answer.body}
    return output, f"Sent SMS to contact {contact_id}"


async def _create_opportunity(call: _Call, config: GhlActionConfig
                              ) -> tuple[dict[str, Any], str]:
    contact_id = await call.contact_id(config)
    body: dict[str, Any] = {
        "pipelineId": config.pipeline_id,
        "locationId": call.location_id,
        "name": config.name,
        "status": config.status or "open",
        "contactId": contact_id,
    }
    if config.pipeline_stage_id is not None:
        body["pipelineStageId"] = config.pipeline_stage_id
    if config.monetary_value is not None:
        body["monetaryValue"] = config.monetary_value
    if config.custom_fields is not None:
        body["customFields"] = [{"id": f.id, "field_value": f.field_value}
                                for f in config.custom_fields]
    answer = await call.send("POST", "/opportunities/", json=body)
    opportunity = _entity(answer.body, "opportunity")
    opportunity_id = opportunity.get("id")
    output = {"action": "create_opportunity", "status": answer.status, "contactId": contact_id,
              "opportunityId": opportunity_id, "entity": opportunity}
    return output, f"Created opportunity {opportunity_id} for contact {contact_id}"


async def _add_tag(call: _Call, config: GhlActionConfig) -> tuple[dict[str, Any], str]:
    contact_id = await call.contact_id(config)
    tags = [t for t in (config.tags or []) if t.strip()]
    answer = await call.send("POST", f"/contacts/{quote(contact_id, safe='')}/tags",
                             json={"tags": tags})
    output = {"action": "add_tag", "status": answer.status, "contactId": contact_id,
              "entity": answer.body}
    return output, f"Added tags {', '.join(tags)} to contact {contact_id}"


_Handler = Callable[[_Call, GhlActionConfig], Awaitable[tuple[dict[str, Any], str]]]
_ACTIONS: Final[dict[str, _Handler]] = {
    "add_contact": _add_contact,
    "update_contact": _update_contact,
    "send_sms": _send_sms,
    "create_opportunity": _create_opportunity,
    "add_tag": _add_tag,
}

