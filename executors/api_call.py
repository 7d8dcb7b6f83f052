"""The ``api_call`` executor: one HTTP request as configured (docs/CONTRACT.md §5), recorded.

Contract:

- Request: ``apiMethod`` to ``apiEndpoint`` with ``query`` merged into the URL's own query
  (lists repeat the name, booleans read ``true``/``false``), ``headers``, then the auth
  header (``bearer`` → ``Authorization: Bearer``, ``api_key`` → ``apiKeyHeader``,
  ``basic`` → ``Authorization: Basic``), which wins over a header of the same name;
  ``user:password@`` in the endpoint is Basic auth when ``authType`` is ``none``. A string
  ``body`` is sent as-is (UTF-8) with ``contentType`` (default ``text/plain; charset=utf-8``);
  any other JSON value is sent as JSON (default ``application/json``). ``contentType`` wins
  over a ``Content-Type`` in ``headers``. The shared client's default headers and cookie jar
  are not used: a task sends only what its config says.
- Time: ``timeoutMs`` (never more than the task's ``timeoutSeconds``) bounds each network
  phase and the whole exchange, redirects and body included; exceeding it is
  ``RetryableError(error_type="timeout")``.
- Replays: every request carries ``Idempotency-Key: <taskId>`` (the same on every attempt of
  the task; a ``headers`` entry of that name wins) and ``X-Errands-Execution-Id:
  <executionId>`` (one per attempt), so a receiver can recognise a request sent again after
  a crash.
- Redirects (301 302 303 307 308 with a Location) are followed by hand, at most 10 hops.
  Every hop passes the :class:`NetworkGuard` before connecting (a refusal is the permanent
  ``BlockedDestination``). 303, and 301/302 after POST, continue as GET without a body.
  A hop to another origin (scheme, host or port; http→https on the same host is the same)
  drops the API-key header and every header ``schemas.secrets.is_secret_header`` names.
  A redirect status listed in ``expectStatus`` is an answer, not followed.
- Result ``{status, headers, body, contentType, durationMs}`` (+ ``bodyTruncated: true``):
  header names lower-case, repeated ones joined with ", ", ``set-cookie`` dropped; ``body``
  is the parsed JSON when the response says JSON and parses, else text decoded with the
  response charset (UTF-8 by default). The stored headers (their names' and values' bytes)
  and the body together take at most ``response_body_limit`` bytes (CONTRACT §13): headers
  past it are left out (``headersTruncated: true``, no body), the body is cut to the room the
  headers leave.
- ``headers`` may not set a framing header (``Content-Length``, ``Transfer-Encoding``,
  ``Connection``, ``Keep-Alive``, ``TE``, ``Trailer``, ``Upgrade``, ``Host``, ``Proxy-*``):
  refused by ``check``, and never sent (the HTTP client, aiohttp, writes them). A host that is
  an IPv4 address spelt another way (``127.1``, ``0x7f000001``) is sent as its dotted quad.
- Success is a status in ``expectStatus``, or any 2xx when it is not given. Otherwise 408,
  429 and 5xx are ``RetryableError(error_type="http_status")`` with ``retry_after`` from
  ``Retry-After`` (seconds or HTTP-date, against ``ctx.clock``), anything else is
  ``PermanentError(error_type="http_status")``; both carry the result above as ``output``.
  Connection failures are ``RetryableError(error_type="network")``.
- Secrets (``bearerToken``, ``apiKey``, ``basicPassword``, the Basic credential, URL
  userinfo, values of secret headers) never appear in a result, summary or error: messages
  show the URL without userinfo and query string, and every string of the result is
  scrubbed of them (a server echoing the request shows ``********``).
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import email.message
import functools
import re
import time
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Final

import httpx
import msgspec
from multidict import CIMultiDict

from executors.base import (
    ExecutionContext,
    ExecutionResult,
    ExecutorError,
    Issue,
    PermanentError,
    Resources,
    RetryableError,
    TaskSpec,
    from_outbound,
)
from outbound import NetworkGuard, OutboundError, PinnedTransport
from outbound.guard import is_ip_literal
from outbound.http import (
    NotHttpUrl,
    http_url,
    numeric_host_written_out,
    parse_retry_after,
    status_retryable,
)
from outbound.transport import Opened, is_framing_header
from schemas.configs import ApiCallConfig
from schemas.secrets import is_secret_header, scrub, secret_values

MAX_REDIRECTS: Final = 10
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_HEADER_NAME: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_VALUE_FORBIDDEN: Final = re.compile(r"[\r\n\x00]")
_DEFAULT_HEADERS: Final = (
    ("user-agent", "errands-api-call/1"),
    ("accept", "*/*"),
    ("accept-encoding", "gzip, deflate"),
)
_ENDPOINT_PROBLEMS: Final = {"invalid": "is not a valid URL",
                             "scheme": "must be an absolute http or https URL",
                             "host": "must name a host"}
_DROPPED_RESPONSE_HEADERS: Final = frozenset({"set-cookie", "set-cookie2"})
_PLAIN: Final = re.compile(r"[A-Za-z0-9._~-]*")  # unreserved: what URL encoding leaves as is


# A request's headers by lower-case name: (the name as given, its value). Setting a name again
# replaces the entry in place, taking the new spelling, as httpx.Headers does.
_Headers = dict[str, tuple[str, str]]


@dataclass(frozen=True)
class _Endpoint:
    """An ``apiEndpoint`` parsed once, for the many tasks that name it."""

    base: str  # the URL as sent, without userinfo, query string or fragment
    query: str  # its own query string, percent-encoded ("" when none)
    host: str
    port: int | None
    shown: str
    userinfo_auth: tuple[str, str] | None  # user:password@ as Basic auth


@dataclass(frozen=True)
class _Outgoing:
    """One hop's request."""

    method: str
    url: str  # absolute, percent-encoded
    headers: _Headers
    content: bytes | None
    host: str
    port: int | None


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]  # lower-case names, repeated ones joined, set-cookie dropped
    body: bytes
    truncated: bool
    headers_truncated: bool
    url: str
    redirects: int


class ApiCallExecutor:
    """Runs ``api_call`` tasks; see the module docstring for the contract."""

    task_type: ClassVar[str] = "api_call"

    @classmethod
    def build(cls, resources: Resources) -> ApiCallExecutor:
        return cls(resources.api_transport, resources.guard,
                   response_body_limit=resources.settings.response_body_limit)

    def __init__(self, transport: PinnedTransport, guard: NetworkGuard, *,
                 response_body_limit: int = 65536) -> None:
        """``transport``: the pinned transport requests go through (its aiohttp session,
        without httpx's objects: :meth:`PinnedTransport.open`); ``guard`` checks each hop's
        host before connecting (the transport checks again as it connects)."""
        if response_body_limit < 0:
            raise ValueError("response_body_limit must be >= 0")
        self._transport = transport
        self._guard = guard
        self._body_limit = response_body_limit

    # --- create time ---------------------------------------------------------------------

    def check(self, config: ApiCallConfig, *, source_webhook_id: str | None) -> list[Issue]:
        """Endpoint, auth fields, headers, body on GET, empty expectStatus. No IO."""
        issues = self._endpoint_issues(config.api_endpoint)
        issues += _auth_issues(config)
        issues += _header_issues(config)
        if config.body is not None and config.api_method == "GET":
            issues.append(Issue(("body",), "body is not allowed with GET"))
        if config.expect_status is not None and not config.expect_status:
            issues.append(Issue(("expectStatus",), "must list at least one status"))
        return issues

    def _endpoint_issues(self, endpoint: str) -> list[Issue]:
        path: tuple[str | int, ...] = ("apiEndpoint",)
        try:
            host = _endpoint(endpoint).host
        except NotHttpUrl as exc:
            return [Issue(path, _ENDPOINT_PROBLEMS[exc.reason])]
        if is_ip_literal(host) and not self._guard.is_allowed_ip(host):
            return [Issue(path, f"{host} is not a public address")]
        return []

    # --- run time ------------------------------------------------------------------------

    async def execute(self, task: TaskSpec[ApiCallConfig],
                      ctx: ExecutionContext) -> ExecutionResult:
        """One exchange; raises the errors listed in the module docstring."""
        config = task.config
        secrets = ctx.secrets if ctx.secrets is not None else \
            secret_values(self.task_type, msgspec.to_builtins(config))
        try:
            try:
                return await self._execute(config, ctx, secrets, task.timeout_seconds)
            except OutboundError as exc:
                raise from_outbound(exc) from None
        except ExecutorError as exc:
            # Belt and braces: messages are built from safe parts, but a secret must not
            # reach task_executions even if one slipped into a message.
            exc.message = scrub(exc.message, secrets)
            exc.args = (exc.message,)
            raise

    async def _execute(self, config: ApiCallConfig, ctx: ExecutionContext,
                       secrets: tuple[str, ...], task_seconds: float) -> ExecutionResult:
        first, endpoint = _first_request(config)
        if "idempotency-key" not in first.headers:
            first.headers["idempotency-key"] = ("idempotency-key", ctx.task_id)
        first.headers["x-errands-execution-id"] = ("x-errands-execution-id", ctx.execution_id)
        method = config.api_method
        shown = endpoint.shown
        timeout_ms = min(config.timeout_ms, round(task_seconds * 1000))
        seconds = timeout_ms / 1000
        started = time.perf_counter()
        try:
            async with asyncio.timeout(seconds):
                answer = await self._exchange(first, config, seconds)
        except TimeoutError:
            raise RetryableError(f"{method} {shown} timed out after {timeout_ms} ms",
                                 error_type="timeout") from None
        except httpx.HTTPError as exc:
            raise _translate(exc, method, shown) from exc
        duration_ms = round((time.perf_counter() - started) * 1000)
        record = scrub(self._record(answer, duration_ms), secrets)
        status = answer.status
        where = _where(answer)
        if _is_expected(status, config.expect_status):
            return ExecutionResult(
                output=record, summary=f"{method} {shown} → {status} in {duration_ms} ms{where}")
        message = f"{method} {shown} answered {status}{where}"
        if config.expect_status:
            message += f", expected {', '.join(map(str, config.expect_status))}"
        if status_retryable(status):
            retry_after = parse_retry_after(answer.headers.get("retry-after"), ctx.clock())
            raise RetryableError(message, error_type="http_status", retry_after=retry_after,
                                 output=record)
        raise PermanentError(message, error_type="http_status", output=record)

    async def _exchange(self, outgoing: _Outgoing, config: ApiCallConfig,
                        seconds: float) -> _Answer:
        """Send, following redirects by hand; the guard checks each hop before connecting."""
        for hop in range(MAX_REDIRECTS + 1):
            # Checked here to refuse before any connection; the pinned transport checks
            # again as it connects, to the address it checked.
            await self._guard.check_host(outgoing.host, outgoing.port)
            headers = CIMultiDict(outgoing.headers.values())
            response = await self._transport.open(outgoing.method, outgoing.url, headers,
                                                  outgoing.content, seconds=seconds)
            try:
                status = response.status
                location = response.headers.get("location")
                if _should_follow(status, location, config.expect_status):
                    assert location is not None
                    outgoing = _redirected(outgoing, status, location, config)
                    continue
                stored, room = _response_headers(response.raw_headers, self._body_limit)
                body, truncated = await self._read_body(response, room)
                return _Answer(status, stored, body, truncated or room < 0, room < 0,
                               outgoing.url, hop)
            finally:
                response.release()
        raise PermanentError(
            f"{config.api_method} {_shown(httpx.URL(config.api_endpoint))} redirected more "
            f"than {MAX_REDIRECTS} times", error_type="too_many_redirects")

    @staticmethod
    async def _read_body(response: Opened, limit: int) -> tuple[bytes, bool]:
        """At most ``limit`` decoded bytes (none when it is negative: the headers took the
        room), and whether more were there (the reads raise httpx errors)."""
        if limit < 0:
            return b"", True
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.chunks():
            if size + len(chunk) > limit:
                chunks.append(chunk[: limit - size])
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), False

    def _record(self, answer: _Answer, duration_ms: int) -> dict[str, Any]:
        content_type = answer.headers.get("content-type")
        record: dict[str, Any] = {
            "status": answer.status,
            "headers": answer.headers,
            "body": _decode_body(answer.body, answer.truncated, content_type,
                                 _charset(content_type)),
            "contentType": content_type,
            "durationMs": duration_ms,
        }
        if answer.truncated:
            record["bodyTruncated"] = True
        if answer.headers_truncated:
            record["headersTruncated"] = True
        return record


# --- building the request -----------------------------------------------------------------

@functools.lru_cache(maxsize=1024)
def _endpoint(endpoint: str) -> _Endpoint:
    """What every request to ``endpoint`` shares, parsed once for the many tasks that name it
    (at create time and at run time; httpx's URL parsing is costly). Raises
    :class:`NotHttpUrl` (not cached)."""
    url = numeric_host_written_out(http_url(endpoint))
    userinfo_auth = _userinfo_header(url)
    if url.userinfo:  # httpx would turn it into Basic auth over our header; taken into account
        url = url.copy_with(userinfo=b"")
    return _Endpoint(base=str(url.copy_with(query=None, fragment=None)),
                     query=url.query.decode("ascii"), host=url.raw_host.decode("ascii"),
                     port=url.port, shown=_shown(url), userinfo_auth=userinfo_auth)


def _first_request(config: ApiCallConfig) -> tuple[_Outgoing, _Endpoint]:
    try:
        endpoint = _endpoint(config.api_endpoint)
    except NotHttpUrl as exc:
        message = "apiEndpoint is not a valid URL" if exc.reason == "invalid" \
            else "apiEndpoint must be an absolute http or https URL"
        raise PermanentError(message, error_type="invalid_config") from None
    query: str | None = endpoint.query
    if config.query:
        query = _plain_query(config.query) if not query else None
        if query is None:
            # httpx's URL.copy_merge_params, without parsing the whole URL again: the
            # endpoint's own parameters, those of ``query`` replacing any of the same name,
            # encoded again.
            try:
                query = str(httpx.QueryParams(endpoint.query).merge(dict(config.query)))
            except (httpx.InvalidURL, TypeError):
                raise PermanentError("apiEndpoint is not a valid URL",
                                     error_type="invalid_config") from None
    if config.body is not None and config.api_method == "GET":
        raise PermanentError("body is not allowed with GET", error_type="invalid_config")
    headers: _Headers = {name: (name, value) for name, value in _DEFAULT_HEADERS}
    for name, value in (config.headers or {}).items():
        headers[name.lower()] = (name, value)
    content, content_type = _encode_body(config)
    if content_type is not None and (config.content_type or "content-type" not in headers):
        headers["content-type"] = ("content-type", content_type)
    auth = _auth_header(config) or endpoint.userinfo_auth
    if auth is not None:
        headers[auth[0].lower()] = auth
    url = f"{endpoint.base}?{query}" if query else endpoint.base
    return _Outgoing(config.api_method, url, headers, content, endpoint.host,
                     endpoint.port), endpoint


def _plain_query(query: dict[str, Any]) -> str | None:
    """``query`` as httpx encodes it, when every name and value is made of characters no
    encoding changes (letters, digits, ``-._~``): the common case, without httpx's
    QueryParams (a tenth of an api_call's own CPU). None otherwise (httpx does it)."""
    pairs: list[str] = []
    for name, value in query.items():
        for item in (value if isinstance(value, list) else (value,)):
            text = "true" if item is True else "false" if item is False else \
                item if isinstance(item, str) else \
                str(item) if isinstance(item, int | float) else None
            if text is None or not _PLAIN.fullmatch(name) or not _PLAIN.fullmatch(text):
                return None
            pairs.append(f"{name}={text}")
    return "&".join(pairs)


def _encode_body(config: ApiCallConfig) -> tuple[bytes | None, str | None]:
    if config.body is None:
        return None, None
    if isinstance(config.body, str):
        return config.body.encode("utf-8"), config.content_type or "text/plain; charset=utf-8"
    return msgspec.json.encode(config.body), config.content_type or "application/json"


def _basic_credential(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _userinfo_header(url: httpx.URL) -> tuple[str, str] | None:
    """``user:password@`` in apiEndpoint as Basic auth, when authType gives none."""
    if not url.userinfo:
        return None
    return "authorization", f"Basic {_basic_credential(url.username, url.password or '')}"


def _auth_header(config: ApiCallConfig) -> tuple[str, str] | None:
    if config.auth_type == "bearer" and config.bearer_token:
        return "authorization", f"Bearer {config.bearer_token}"
    if config.auth_type == "api_key" and config.api_key:
        return config.api_key_header, config.api_key
    if config.auth_type == "basic" and config.basic_username is not None:
        credential = _basic_credential(config.basic_username, config.basic_password or "")
        return "authorization", f"Basic {credential}"
    return None


# --- redirects ----------------------------------------------------------------------------

def _should_follow(status: int, location: str | None,
                   expect_status: list[int] | None) -> bool:
    if status not in _REDIRECT_STATUSES or location is None:
        return False
    return not (expect_status and status in expect_status)


def _redirected(outgoing: _Outgoing, status: int, location: str,
                config: ApiCallConfig) -> _Outgoing:
    """The next hop's request, per RFC 9110 §15.4 as browsers apply it."""
    current = httpx.URL(outgoing.url)
    try:
        url = current.join(location)
    except (httpx.InvalidURL, TypeError):
        raise PermanentError(f"{outgoing.method} {_shown(current)} redirected to an "
                             "invalid URL", error_type="invalid_redirect") from None
    try:
        http_url(url)
    except NotHttpUrl:
        raise PermanentError(f"{outgoing.method} {_shown(current)} redirected to a "
                             f"{url.scheme or 'relative'} URL", error_type="invalid_redirect") \
            from None
    # credentials never come from a server's Location
    url = numeric_host_written_out(url.copy_with(userinfo=b""))
    headers = dict(outgoing.headers)
    method, content = outgoing.method, outgoing.content
    if status == 303 or (status in (301, 302) and method == "POST"):
        method, content = "GET", None
        for name in ("content-type", "content-length", "transfer-encoding"):
            headers.pop(name, None)
    if not _same_origin(current, url):
        key_header = config.api_key_header.lower()
        for key in [k for k, (name, _) in headers.items()
                    if is_secret_header(name) or k == key_header]:
            del headers[key]
    return replace(outgoing, method=method, url=str(url), headers=headers, content=content,
                   host=url.raw_host.decode("ascii"), port=url.port)


def _origin(url: httpx.URL) -> tuple[str, bytes, int]:
    default = 443 if url.scheme == "https" else 80
    return url.scheme, url.raw_host.lower(), url.port or default


def _same_origin(before: httpx.URL, after: httpx.URL) -> bool:
    if _origin(before) == _origin(after):
        return True
    # http://host/ → https://host/ keeps credentials, as httpx and browsers do.
    return (before.scheme, after.scheme) == ("http", "https") and \
        before.raw_host.lower() == after.raw_host.lower() and \
        before.port in (None, 80) and after.port in (None, 443)


# --- the answer ---------------------------------------------------------------------------

def _is_expected(status: int, expect_status: list[int] | None) -> bool:
    if expect_status:
        return status in expect_status
    return 200 <= status < 300


def _where(answer: _Answer) -> str:
    if not answer.redirects:
        return ""
    hops = "redirect" if answer.redirects == 1 else "redirects"
    return f" (at {_shown(httpx.URL(answer.url))} after {answer.redirects} {hops})"


def _response_headers(raw: tuple[tuple[bytes, bytes], ...],
                      limit: int) -> tuple[dict[str, str], int]:
    """Names lower-case, repeated ones joined with ", ", set-cookie dropped; decoded as httpx
    decodes a response's headers (ASCII, else UTF-8, else ISO-8859-1, for all of them).

    The stored headers count toward ``limit`` (CONTRACT §13: their names' and values' bytes):
    those past it are left out. Also returns the room left for the body, negative when
    headers were left out."""
    encoding = _header_encoding(raw)
    headers: dict[str, str] = {}
    room = limit
    for raw_name, raw_value in raw:
        key = raw_name.decode(encoding).lower()
        if key in _DROPPED_RESPONSE_HEADERS:
            continue
        size = len(raw_name) + len(raw_value) + (2 if key in headers else 0)
        if size > room:
            return headers, -1
        room -= size
        value = raw_value.decode(encoding)
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers, room


def _header_encoding(raw: tuple[tuple[bytes, bytes], ...]) -> str:
    for encoding in ("ascii", "utf-8"):
        try:
            for name, value in raw:
                name.decode(encoding)
                value.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "iso-8859-1"


@functools.lru_cache(maxsize=256)
def _charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type, read as httpx reads it."""
    if content_type is None:
        return None
    message = email.message.Message()
    message["content-type"] = content_type
    return message.get_content_charset(failobj=None)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _decode_body(body: bytes, truncated: bool, content_type: str | None,
                 charset: str | None) -> Any:
    if not truncated and _is_json(content_type) and body.strip():
        try:
            return msgspec.json.decode(body)
        except msgspec.DecodeError:
            pass  # a server that says JSON and sends something else: show the text
    try:
        decoder = codecs.getincrementaldecoder(charset or "utf-8")(errors="replace")
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    # final=False on a cut body drops a character split by the cut instead of mangling it
    return decoder.decode(body, final=not truncated)


# --- errors and secrets -------------------------------------------------------------------

def _translate(exc: httpx.HTTPError, method: str, shown: str) -> ExecutorError:
    """An httpx failure as an executor error; the library's text is kept only when safe."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return RetryableError(f"{method} {shown} timed out ({name})", error_type="timeout")
    if isinstance(exc, httpx.ConnectError):
        return RetryableError(f"{method} {shown}: could not connect ({exc})",
                              error_type="network")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        # LocalProtocolError quotes the offending header, which may be a credential.
        return PermanentError(f"{method} {shown}: the request cannot be sent ({name})",
                              error_type="invalid_request")
    return RetryableError(f"{method} {shown}: the exchange failed ({name})",
                          error_type="network")


def _shown(url: httpx.URL) -> str:
    """The URL as messages show it: no userinfo, no query string, no fragment.

    Cut from the URL's text (``str(url.copy_with(query=None, fragment=None, userinfo=b""))``
    says the same, but parses the whole URL again): after ``scheme://`` and the userinfo come
    the host, the port and the path, which hold no ``?`` or ``#`` (httpx encodes them).
    """
    text = str(url)
    start = len(url.scheme) + 3
    if url.userinfo:
        start += len(url.userinfo) + 1
    rest = text[start:]
    end = len(rest)
    for mark in "?#":
        found = rest.find(mark)
        if 0 <= found < end:
            end = found
    return f"{url.scheme}://{rest[:end]}"


# --- create-time checks -------------------------------------------------------------------

def _auth_issues(config: ApiCallConfig) -> list[Issue]:
    required: dict[str, tuple[tuple[str, str | None], ...]] = {
        "bearer": (("bearerToken", config.bearer_token),),
        "api_key": (("apiKey", config.api_key),),
        "basic": (("basicUsername", config.basic_username),
                  ("basicPassword", config.basic_password)),
        # The server puts the connection's credentials in place when an attempt starts.
        "connection": (("connection", config.connection),),
    }
    return [Issue((field,), f"is required when authType is {config.auth_type}")
            for field, value in required.get(config.auth_type, ()) if not value]


def _header_issues(config: ApiCallConfig) -> list[Issue]:
    issues: list[Issue] = []
    for name, value in (config.headers or {}).items():
        if not _HEADER_NAME.match(name):
            issues.append(Issue(("headers", name), "is not a valid header name"))
        elif is_framing_header(name):
            issues.append(Issue(("headers", name), "is set by the HTTP client: Content-Length, "
                                "Transfer-Encoding, Connection, Keep-Alive, TE, Trailer, "
                                "Upgrade, Host and Proxy-* headers may not be given"))
        elif _HEADER_VALUE_FORBIDDEN.search(value):
            issues.append(Issue(("headers", name), "must not contain line breaks"))
    if not _HEADER_NAME.match(config.api_key_header):
        issues.append(Issue(("apiKeyHeader",), "is not a valid header name"))
    elif is_framing_header(config.api_key_header):
        issues.append(Issue(("apiKeyHeader",), "is set by the HTTP client: name another header"))
    if config.content_type is not None and (
        not config.content_type.strip() or _HEADER_VALUE_FORBIDDEN.search(config.content_type)
    ):
        issues.append(Issue(("contentType",), "is not a valid content type"))
    return issues
