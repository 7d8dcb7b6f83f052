"""A fake HighLevel API v2 over real HTTP on 127.0.0.1, enforcing docs/GHL.md.

Use it from any test (sync or async: it serves from its own thread)::

    with FakeGhl(token="pit-test", location_id="loc-1") as fake:
        fake.base_url           # http://127.0.0.1:<port>
        fake.fail_next(2, status=429, retry_after=3)
        fake.requests           # list[LoggedRequest], the token value never kept
        fake.count_429          # 429 answers sent (limit and injected)

or as a process: ``python -m tests.fakes.ghl --port 8765 --token pit-x --location-id loc-1``.

What it enforces, in this order: a known route (404), ``Authorization: Bearer <token>`` (401
Invalid token), the ``Version`` each endpoint wants (401 "version header was not found." /
"version header is invalid"), a ``locationId`` the token may use (403), a sliding window of
``rate_limit`` requests per ``rate_window_seconds`` per location and a daily limit (429;
``X-RateLimit-*`` headers on every authenticated answer), injected failures, ``Content-Type:
application/json`` on bodies (415), a JSON object body (400), each endpoint's fields (422 with a
``message`` array; unknown properties are refused like HighLevel's whitelisting validation), then
the endpoint's own rules: duplicates refused by plain ``POST /contacts/`` (400 with ``meta``),
upsert matching by email or phone, unknown contacts (404 by path, 400 by body).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import uvicorn

CONTACTS_VERSION = "2021-07-28"
CONVERSATIONS_VERSION = "2021-04-15"
KNOWN_VERSIONS = frozenset({CONTACTS_VERSION, CONVERSATIONS_VERSION})
MESSAGE_TYPES = ("SMS", "Email", "WhatsApp", "GMB", "IG", "FB", "Custom", "Live_Chat")
OPPORTUNITY_STATUSES = ("open", "won", "lost", "abandoned")
CONTACT_FIELDS = frozenset({
    "firstName", "lastName", "name", "email", "phone", "tags", "customFields", "source",
    "companyName", "address1", "city", "state", "postalCode", "website", "timezone", "dnd",
    "gender", "dateOfBirth", "assignedTo", "country",
})
OPPORTUNITY_FIELDS = frozenset({
    "pipelineId", "locationId", "name", "status", "contactId", "pipelineStageId",
    "monetaryValue", "assignedTo", "customFields", "source",
})
MESSAGE_FIELDS = frozenset({"type", "contactId", "message", "fromNumber", "toNumber",
                            "subject", "html", "attachments"})
_PHONE = re.compile(r"^\+?\d{7,15}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

Json = dict[str, Any]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class HttpAnswer(Exception):
    """Raised inside a handler to answer at once."""

    def __init__(self, status: int, body: Json, headers: Mapping[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _error(status: int, message: str | list[str], error: str | None = None,
           **extra: Any) -> HttpAnswer:
    body: Json = {"statusCode": status, "message": message}
    if error is not None:
        body["error"] = error
    body.update(extra)
    return HttpAnswer(status, body)


def _unprocessable(messages: list[str]) -> HttpAnswer:
    return _error(422, messages, "Unprocessable Entity")


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; Authorization's value replaced by "Bearer ***"
    body: Any
    status: int = 0


@dataclass
class _Failure:
    status: int
    retry_after: float | str | None
    body: Json | None


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    version: str
    handler: str
    has_body: bool


_ROUTES = (
    _Route("POST", re.compile(r"^/contacts/upsert/?$"), CONTACTS_VERSION, "upsert", True),
    _Route("GET", re.compile(r"^/contacts/search/duplicate/?$"), CONTACTS_VERSION,
           "search_duplicate", False),
    _Route("POST", re.compile(r"^/contacts/?$"), CONTACTS_VERSION, "create_contact", True),
    _Route("GET", re.compile(r"^/contacts/(?P<id>[^/]+)/?$"), CONTACTS_VERSION,
           "get_contact", False),
    _Route("PUT", re.compile(r"^/contacts/(?P<id>[^/]+)/?$"), CONTACTS_VERSION,
           "update_contact", True),
    _Route("POST", re.compile(r"^/contacts/(?P<id>[^/]+)/tags/?$"), CONTACTS_VERSION,
           "add_tags", True),
    _Route("POST", re.compile(r"^/conversations/messages/?$"), CONVERSATIONS_VERSION,
           "send_message", True),
    _Route("POST", re.compile(r"^/opportunities/?$"), CONTACTS_VERSION, "create_opportunity",
           True),
)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalize_phone(raw: str) -> str:
    """Digits with an optional leading +, formatting characters removed."""
    return re.sub(r"[\s\-().]", "", raw)


class FakeGhl:
    """The fake server and its in-memory state (thread-safe to read from tests)."""

    def __init__(
        self,
        *,
        token: str = "pit-fake-token",
        location_id: str = "loc-fake",
        tokens: Mapping[str, str] | None = None,
        rate_limit: int = 100,
        rate_window_seconds: float = 10.0,
        daily_limit: int = 200_000,
        allow_duplicates: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.tokens: dict[str, str] = dict(tokens) if tokens else {token: location_id}
        self.rate_limit = rate_limit
        self.rate_window_seconds = rate_window_seconds
        self.daily_limit = daily_limit
        self.allow_duplicates = allow_duplicates
        self.host = host
        self.port = port
        self.contacts: dict[str, Json] = {}
        self.opportunities: dict[str, Json] = {}
        self.messages: dict[str, Json] = {}
        self.requests: list[LoggedRequest] = []
        self.count_429 = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._window: dict[str, deque[float]] = {}
        self._daily: dict[str, int] = {}
        self._failures: deque[_Failure] = deque()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeGhl:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self, log_level="warning", access_log=False, lifespan="off",
                                http="h11", loop="asyncio", backlog=1024)
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=lambda: asyncio.run(server.serve([sock])),
                                        name="fake-ghl", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake HighLevel server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeGhl:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test controls ---------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 500,
                  retry_after: float | str | None = None, body: Json | None = None) -> None:
        """The next ``count`` authenticated requests within the rate limit answer ``status``
        (``retry_after``: seconds, or a string sent verbatim as ``Retry-After``)."""
        with self._lock:
            self._failures.extend(_Failure(status, retry_after, body) for _ in range(count))

    def seed_contact(self, *, location_id: str | None = None, **fields: Any) -> Json:
        """Store a contact directly (no request counted); returns it."""
        with self._lock:
            loc = location_id or next(iter(self.tokens.values()))
            return self._store_contact(loc, fields)

    def requests_to(self, method: str, path: str) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # --- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            event = await receive()
            chunks.append(event.get("body", b""))
            if not event.get("more_body"):
                break
        status, body, headers = self.handle(
            scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1"),
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            b"".join(chunks))
        payload = json.dumps(body).encode()
        raw_headers = [(b"content-type", b"application/json; charset=utf-8"),
                       (b"content-length", str(len(payload)).encode())]
        raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})

    def handle(self, method: str, path: str, query_string: str, headers: dict[str, str],
               raw_body: bytes) -> tuple[int, Json, dict[str, str]]:
        """Answer one request: (status, JSON body, extra headers). Logs it."""
        query = {k: v[0] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        logged_headers = dict(headers)
        if "authorization" in logged_headers:
            logged_headers["authorization"] = "Bearer ***"
        try:
            body: Any = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = raw_body.decode("utf-8", "replace")
        with self._lock:
            rate_headers: dict[str, str] = {}
            try:
                status, answer = self._dispatch(method, path, query, headers, body, raw_body,
                                                rate_headers)
            except HttpAnswer as exc:
                status, answer = exc.status, exc.body
                rate_headers.update(exc.headers)
            if status == 429:
                self.count_429 += 1
            self.requests.append(LoggedRequest(method, path, query, logged_headers, body, status))
        return status, answer, rate_headers

    # --- the pipeline ----------------------------------------------------------------------

    def _dispatch(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                  body: Any, raw_body: bytes, out_headers: dict[str, str]) -> tuple[int, Json]:
        route, params = self._route(method, path)
        location = self._authenticate(headers)
        version = headers.get("version")
        if version is None:
            raise _error(401, "version header was not found.")
        if version not in KNOWN_VERSIONS or version != route.version:
            raise _error(401, "version header is invalid")
        claimed = query.get("locationId") or (body.get("locationId")
                                              if isinstance(body, dict) else None)
        if isinstance(claimed, str) and claimed and claimed != location:
            raise _error(403, "The token does not have access to this location.",
                         "Forbidden")
        self._count(location, out_headers)
        if self._failures:
            failure = self._failures.popleft()
            if failure.retry_after is not None:
                out_headers["Retry-After"] = (failure.retry_after
                                              if isinstance(failure.retry_after, str)
                                              else f"{failure.retry_after:g}")
            raise HttpAnswer(failure.status, failure.body or {
                "statusCode": failure.status,
                "message": "Too many requests" if failure.status == 429
                else "Internal server error"}, out_headers)
        if route.has_body:
            ctype = headers.get("content-type", "")
            if not ctype.split(";")[0].strip().lower() == "application/json":
                raise _error(415, "Content-Type must be application/json",
                             "Unsupported Media Type")
            if not isinstance(body, dict):
                raise _error(400, "Request body must be a JSON object", "Bad Request")
        handler: Callable[..., tuple[int, Json]] = getattr(self, "_on_" + route.handler)
        return handler(location=location, query=query, body=body, **params)

    def _route(self, method: str, path: str) -> tuple[_Route, dict[str, str]]:
        for route in _ROUTES:
            match = route.pattern.match(path)
            if match and route.method == method:
                return route, match.groupdict()
        raise _error(404, f"Cannot {method} {path}", "Not Found")

    def _authenticate(self, headers: dict[str, str]) -> str:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        location = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if location is None:
            raise _error(401, "Invalid token: access token is invalid", "Unauthorized")
        return location

    def _count(self, location: str, out_headers: dict[str, str]) -> None:
        now = time.monotonic()
        window = self._window.setdefault(location, deque())
        while window and window[0] <= now - self.rate_window_seconds:
            window.popleft()
        daily = self._daily.get(location, 0)
        over = len(window) >= self.rate_limit or daily >= self.daily_limit
        if not over:
            window.append(now)
            daily += 1
            self._daily[location] = daily
        out_headers.update({
            "X-RateLimit-Max": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - len(window))),
            "X-RateLimit-Interval-Milliseconds": str(int(self.rate_window_seconds * 1000)),
            "X-RateLimit-Limit-Daily": str(self.daily_limit),
            "X-RateLimit-Daily-Remaining": str(max(0, self.daily_limit - daily)),
        })
        if over:
            retry = self.rate_window_seconds - (now - window[0]) if window else 1.0
            out_headers["Retry-After"] = str(max(1, int(retry + 0.999)))
            raise HttpAnswer(429, {"statusCode": 429, "message": "Too Many Requests"},
                             out_headers)

    # --- validation ------------------------------------------------------------------------

    @staticmethod
    def _refuse_unknown(body: Json, allowed: frozenset[str]) -> list[str]:
        return [f"property {k} should not exist" for k in body if k not in allowed]

    @staticmethod
    def _contact_problems(body: Json) -> list[str]:
        problems = []
        for key in ("firstName", "lastName", "name", "source", "companyName"):
            if key in body and not isinstance(body[key], str):
                problems.append(f"{key} must be a string")
        email = body.get("email")
        if email is not None and not (isinstance(email, str) and _EMAIL.match(email)):
            problems.append("email must be an email")
        phone = body.get("phone")
        if phone is not None and not (isinstance(phone, str)
                                      and _PHONE.match(normalize_phone(phone))):
            problems.append("phone must be a valid phone number")
        tags = body.get("tags")
        if tags is not None and not (isinstance(tags, list)
                                     and all(isinstance(t, str) for t in tags)):
            problems.append("each value in tags must be a string")
        problems += FakeGhl._custom_field_problems(body.get("customFields"))
        return problems

    @staticmethod
    def _custom_field_problems(value: Any) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(
                isinstance(f, dict) and isinstance(f.get("id") or f.get("key"), str)
                for f in value):
            return ["customFields must be an array of objects with an id"]
        return []

    def _find_duplicate(self, location: str, email: str | None, phone: str | None
                        ) -> tuple[Json, str] | None:
        for contact in self.contacts.values():
            if contact["locationId"] != location:
                continue
            if email and contact.get("email") == email.lower():
                return contact, "email"
            if phone and contact.get("phone") == normalize_phone(phone):
                return contact, "phone"
        return None

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def _store_contact(self, location: str, fields: Json) -> Json:
        now = _now_iso()
        contact: Json = {"id": self._new_id("ct"), "locationId": location, "tags": [],
                         "customFields": [], "dateAdded": now}
        self._apply_contact_fields(contact, fields)
        self.contacts[contact["id"]] = contact
        return contact

    @staticmethod
    def _apply_contact_fields(contact: Json, fields: Json) -> None:
        for key, value in fields.items():
            if key == "email" and isinstance(value, str):
                value = value.lower()
            elif key == "phone" and isinstance(value, str):
                value = normalize_phone(value)
            contact[key] = value
        first, last = contact.get("firstName"), contact.get("lastName")
        if "name" not in fields and (first or last):
            contact["name"] = " ".join(p for p in (first, last) if p)
        contact["dateUpdated"] = _now_iso()

    def _contact_in(self, location: str, contact_id: str, *, status: int) -> Json:
        contact = self.contacts.get(contact_id)
        if contact is None or contact["locationId"] != location:
            raise _error(status, "Contact not found",
                         "Not Found" if status == 404 else "Bad Request")
        return contact

    # --- endpoints -------------------------------------------------------------------------

    def _on_upsert(self, *, location: str, query: dict[str, str], body: Json
                   ) -> tuple[int, Json]:
        problems = self._refuse_unknown(body, CONTACT_FIELDS | {"locationId"})
        if not isinstance(body.get("locationId"), str) or not body["locationId"]:
            problems.append("locationId should not be empty")
        problems += self._contact_problems(body)
        if not body.get("email") and not body.get("phone"):
            problems.append("email or phone must be provided")
        if problems:
            raise _unprocessable(problems)
        fields = {k: v for k, v in body.items() if k != "locationId"}
        found = self._find_duplicate(location, body.get("email"), body.get("phone"))
        if found is None:
            contact, new = self._store_contact(location, fields), True
        else:
            contact, new = found[0], False
            self._apply_contact_fields(contact, fields)
        return 200, {"new": new, "contact": dict(contact), "traceId": self._new_id("tr")}

    def _on_create_contact(self, *, location: str, query: dict[str, str], body: Json
                           ) -> tuple[int, Json]:
        problems = self._refuse_unknown(body, CONTACT_FIELDS | {"locationId"})
        if not isinstance(body.get("locationId"), str) or not body["locationId"]:
            problems.append("locationId should not be empty")
        problems += self._contact_problems(body)
        if problems:
            raise _unprocessable(problems)
        found = self._find_duplicate(location, body.get("email"), body.get("phone"))
        if found is not None and not self.allow_duplicates:
            raise _error(400, "This location does not allow duplicated contacts.",
                         meta={"contactId": found[0]["id"], "matchingField": found[1]})
        fields = {k: v for k, v in body.items() if k != "locationId"}
        return 201, {"contact": dict(self._store_contact(location, fields))}

    def _on_get_contact(self, *, location: str, query: dict[str, str], body: Any, id: str
                        ) -> tuple[int, Json]:
        return 200, {"contact": dict(self._contact_in(location, id, status=404))}

    def _on_update_contact(self, *, location: str, query: dict[str, str], body: Json, id: str
                           ) -> tuple[int, Json]:
        problems = self._refuse_unknown(body, CONTACT_FIELDS) + self._contact_problems(body)
        if problems:
            raise _unprocessable(problems)
        contact = self._contact_in(location, id, status=404)
        self._apply_contact_fields(contact, body)
        return 200, {"succeded": True, "contact": dict(contact)}

    def _on_add_tags(self, *, location: str, query: dict[str, str], body: Json, id: str
                     ) -> tuple[int, Json]:
        problems = self._refuse_unknown(body, frozenset({"tags"}))
        tags = body.get("tags")
        if not isinstance(tags, list) or not tags:
            problems += ["tags should not be empty", "tags must be an array"]
        elif not all(isinstance(t, str) and t for t in tags):
            problems.append("each value in tags must be a non-empty string")
        if problems:
            raise _unprocessable(problems)
        assert isinstance(tags, list)
        contact = self._contact_in(location, id, status=404)
        contact["tags"] = list(dict.fromkeys([*contact.get("tags", []), *tags]))
        contact["dateUpdated"] = _now_iso()
        return 201, {"tags": list(contact["tags"])}

    def _on_search_duplicate(self, *, location: str, query: dict[str, str], body: Any
                             ) -> tuple[int, Json]:
        problems = self._refuse_unknown(query, frozenset({"locationId", "email", "number"}))
        if not query.get("locationId"):
            problems.append("locationId should not be empty")
        if problems:
            raise _unprocessable(problems)
        found = self._find_duplicate(location, query.get("email") or None,
                                     query.get("number") or None)
        return 200, {"contact": dict(found[0]) if found else None}

    def _on_send_message(self, *, location: str, query: dict[str, str], body: Json
                         ) -> tuple[int, Json]:
        problems = self._refuse_unknown(body, MESSAGE_FIELDS)
        if body.get("type") not in MESSAGE_TYPES:
            problems.append("type must be one of the following values: "
                            + ", ".join(MESSAGE_TYPES))
        if not isinstance(body.get("contactId"), str) or not body["contactId"]:
            problems.append("contactId should not be empty")
        if body.get("type") == "SMS" and not (isinstance(body.get("message"), str)
                                              and body["message"]):
            problems.append("message should not be empty")
        if problems:
            raise _unprocessable(problems)
        contact = self._contact_in(location, body["contactId"], status=400)
        if not contact.get("phone") and not body.get("toNumber"):
            raise _error(400, "Contact does not have a phone number", "Bad Request")
        conversation_id = "cv-" + contact["id"]
        message = {"id": self._new_id("msg"), "conversationId": conversation_id,
                   "contactId": contact["id"], "locationId": location, "type": body["type"],
                   "message": body.get("message"), "dateAdded": _now_iso()}
        self.messages[message["id"]] = message
        return 200, {"conversationId": conversation_id, "messageId": message["id"],
                     "msg": "Message queued successfully.", "traceId": self._new_id("tr")}

    def _on_create_opportunity(self, *, location: str, query: dict[str, str], body: Json
                               ) -> tuple[int, Json]:
        problems = self._refuse_unknown(body, OPPORTUNITY_FIELDS)
        for key in ("pipelineId", "locationId", "name", "contactId"):
            if not isinstance(body.get(key), str) or not body[key]:
                problems.append(f"{key} should not be empty")
        if body.get("status") not in OPPORTUNITY_STATUSES:
            problems.append("status must be one of the following values: "
                            + ", ".join(OPPORTUNITY_STATUSES))
        value = body.get("monetaryValue")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append("monetaryValue must be a number")
        problems += self._custom_field_problems(body.get("customFields"))
        if problems:
            raise _unprocessable(problems)
        contact = self._contact_in(location, body["contactId"], status=400)
        now = _now_iso()
        opportunity = {
            "id": self._new_id("op"), "locationId": location, "name": body["name"],
            "pipelineId": body["pipelineId"], "pipelineStageId": body.get("pipelineStageId"),
            "status": body["status"], "monetaryValue": body.get("monetaryValue"),
            "assignedTo": body.get("assignedTo"), "contactId": contact["id"],
            "customFields": body.get("customFields", []), "createdAt": now, "updatedAt": now,
            "lastStatusChangeAt": now,
            "contact": {k: contact.get(k) for k in ("id", "name", "email", "phone", "tags")},
        }
        self.opportunities[opportunity["id"]] = opportunity
        return 201, {"opportunity": dict(opportunity)}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the fake HighLevel API v2")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="pit-fake-token")
    parser.add_argument("--location-id", default="loc-fake")
    parser.add_argument("--rate-limit", type=int, default=100)
    parser.add_argument("--rate-window-seconds", type=float, default=10.0)
    parser.add_argument("--daily-limit", type=int, default=200_000)
    parser.add_argument("--allow-duplicates", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted (Ctrl-C)."""
    args = _parse_args(argv)
    fake = FakeGhl(token=args.token, location_id=args.location_id, rate_limit=args.rate_limit,
                   rate_window_seconds=args.rate_window_seconds, daily_limit=args.daily_limit,
                   allow_duplicates=args.allow_duplicates, host=args.host, port=args.port)
    fake.start()
    print(f"fake HighLevel listening on {fake.base_url} (location {args.location_id})",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
