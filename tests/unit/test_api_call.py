"""ApiCallExecutor against real HTTP servers on loopback (tests/support/http_servers.py)."""

from __future__ import annotations

import base64
import gzip
import socket
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import msgspec
import pytest

from executors.api_call import MAX_REDIRECTS, ApiCallExecutor
from executors.base import (
    BlockedDestination,
    ExecutionContext,
    ExecutionResult,
    ExecutorError,
    PermanentError,
    RetryableError,
    TaskSpec,
)
from outbound import NetworkGuard, PinnedTransport
from schemas.configs import ApiCallConfig
from tests.support.http_servers import HttpServer, Reply

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRETS = {"bearerToken": "tok-7f3a-SECRET", "apiKey": "key-91bd-SECRET",
           "basicPassword": "pw-c0de-SECRET"}


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with HttpServer() as running:
        running.route("/echo", echo=True)
        yield running


@pytest.fixture
async def http() -> AsyncIterator[PinnedTransport]:
    """The pinned transport the server's api_call executor sends through (outbound)."""
    transport = PinnedTransport(NetworkGuard(allow_private=True))
    yield transport
    await transport.aclose()


def executor(http: PinnedTransport, guard: NetworkGuard | None = None,
             limit: int = 65536) -> ApiCallExecutor:
    return ApiCallExecutor(http, guard or NetworkGuard(allow_private=True),
                           response_body_limit=limit)


def config(**wire: Any) -> ApiCallConfig:
    """An ApiCallConfig decoded from its wire (camelCase) form, as tasks.create does."""
    return msgspec.convert(wire, ApiCallConfig)


def context() -> ExecutionContext:
    return ExecutionContext(task_id="task-1", execution_id="exec-1", attempt_number=1,
                            triggered_by="create", worker_id="worker-1", clock=lambda: NOW)


async def run(exe: ApiCallExecutor, **wire: Any) -> ExecutionResult:
    spec = TaskSpec(id="task-1", title="call", task_type="api_call", config=config(**wire),
                    timeout_seconds=60)
    return await exe.execute(spec, context())


async def fail(exe: ApiCallExecutor, **wire: Any) -> ExecutorError:
    with pytest.raises(ExecutorError) as caught:
        await run(exe, **wire)
    return caught.value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- what is sent ----------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_every_method_arrives(server: HttpServer, http: PinnedTransport,
                                    method: str) -> None:
    result = await run(executor(http), apiEndpoint=server.url_for("/echo"), apiMethod=method)

    assert [r.method for r in server.requests] == [method]
    assert result.output["status"] == 200
    assert result.output["body"]["method"] == method
    assert set(result.output) == {"status", "headers", "body", "contentType", "durationMs"}
    assert result.output["contentType"] == "application/json"
    assert isinstance(result.output["durationMs"], int)
    assert result.summary is not None
    assert result.summary.startswith(f"{method} {server.url}/echo → 200 in ")
    assert result.summary.endswith(" ms")


@pytest.mark.parametrize(
    ("auth", "header", "expected"),
    [
        ({"authType": "none"}, "authorization", None),
        ({"authType": "bearer", "bearerToken": SECRETS["bearerToken"]}, "authorization",
         f"Bearer {SECRETS['bearerToken']}"),
        ({"authType": "api_key", "apiKey": SECRETS["apiKey"]}, "x-api-key", SECRETS["apiKey"]),
        ({"authType": "api_key", "apiKey": SECRETS["apiKey"], "apiKeyHeader": "X-Token"},
         "x-token", SECRETS["apiKey"]),
        ({"authType": "basic", "basicUsername": "ann", "basicPassword": SECRETS["basicPassword"]},
         "authorization",
         "Basic " + base64.b64encode(f"ann:{SECRETS['basicPassword']}".encode()).decode()),
        # the auth header wins over a header of the same name
        ({"authType": "bearer", "bearerToken": SECRETS["bearerToken"],
          "headers": {"Authorization": "Bearer other"}}, "authorization",
         f"Bearer {SECRETS['bearerToken']}"),
    ],
)
async def test_each_auth_type_arrives_and_is_masked_in_the_output(
    server: HttpServer, http: PinnedTransport, auth: dict[str, Any], header: str,
    expected: str | None,
) -> None:
    result = await run(executor(http), apiEndpoint=server.url_for("/echo"), **auth)

    (received,) = server.requests
    assert received.headers.get(header) == expected
    serialized = msgspec.json.encode(result.output).decode() + (result.summary or "")
    for secret in SECRETS.values():
        assert secret not in serialized
    if expected is not None:
        assert "********" in result.output["body"]["headers"][header]


async def test_query_scalars_and_lists_merge_with_the_url_query(
    server: HttpServer, http: PinnedTransport,
) -> None:
    await run(executor(http), apiEndpoint=server.url_for("/echo?keep=1"),
              query={"page": 2, "tags": ["a", "b"], "active": True, "ratio": 0.5, "q": "x y"})

    assert server.requests[0].query == {"keep": ["1"], "page": ["2"], "tags": ["a", "b"],
                                        "active": ["true"], "ratio": ["0.5"], "q": ["x y"]}


async def test_configured_headers_are_sent_and_nothing_else_but_ours(
    server: HttpServer, http: PinnedTransport,
) -> None:
    await run(executor(http), apiEndpoint=server.url_for("/echo"),
              headers={"X-Request-Id": "r-1", "Accept": "application/vnd.x+json"})

    headers = server.requests[0].headers
    assert headers["x-request-id"] == "r-1"
    assert headers["accept"] == "application/vnd.x+json"
    # No header of the HTTP library's own (cookies, connection, a client's defaults).
    assert set(headers) == {"host", "user-agent", "accept", "accept-encoding", "x-request-id",
                            "idempotency-key", "x-errands-execution-id"}


async def test_every_attempt_carries_the_task_idempotency_key_and_its_execution_id(
        server: HttpServer, http: PinnedTransport) -> None:
    exe = executor(http)
    spec = TaskSpec(id="task-1", title="call", task_type="api_call", timeout_seconds=60,
                    config=config(apiEndpoint=server.url_for("/echo"), apiMethod="POST"))
    for execution_id in ("exec-1", "exec-2"):
        ctx = ExecutionContext(task_id="task-1", execution_id=execution_id, attempt_number=1,
                               triggered_by="recovery", worker_id="w", clock=lambda: NOW)
        await exe.execute(spec, ctx)

    sent = [r.headers for r in server.requests]
    assert [h["idempotency-key"] for h in sent] == ["task-1", "task-1"]
    assert [h["x-errands-execution-id"] for h in sent] == ["exec-1", "exec-2"]


async def test_a_configured_idempotency_key_wins(server: HttpServer,
                                                 http: PinnedTransport) -> None:
    await run(executor(http), apiEndpoint=server.url_for("/echo"),
              headers={"Idempotency-Key": "order-77"})

    assert server.requests[0].headers["idempotency-key"] == "order-77"
    assert server.requests[0].headers["x-errands-execution-id"] == "exec-1"


@pytest.mark.parametrize(
    ("body_fields", "content_type", "raw"),
    [
        ({"body": {"name": "Ann", "n": [1, 2]}}, "application/json", b'{"name":"Ann","n":[1,2]}'),
        ({"body": [1, "two", None]}, "application/json", b'[1,"two",null]'),
        ({"body": 0}, "application/json", b"0"),
        ({"body": False}, "application/json", b"false"),
        ({"body": "plain words"}, "text/plain; charset=utf-8", b"plain words"),
        ({"body": "<a>1</a>", "contentType": "application/xml"}, "application/xml",
         b"<a>1</a>"),
        ({"body": '{"pre":"encoded"}', "contentType": "application/json"}, "application/json",
         b'{"pre":"encoded"}'),
        # contentType wins over a Content-Type header; the header is used when it is alone
        ({"body": "x", "contentType": "text/csv", "headers": {"Content-Type": "text/html"}},
         "text/csv", b"x"),
        ({"body": {"a": 1}, "headers": {"content-type": "application/merge-patch+json"}},
         "application/merge-patch+json", b'{"a":1}'),
    ],
)
async def test_body_kinds(server: HttpServer, http: PinnedTransport,
                          body_fields: dict[str, Any], content_type: str, raw: bytes) -> None:
    await run(executor(http), apiEndpoint=server.url_for("/echo"), apiMethod="POST",
              **body_fields)

    (received,) = server.requests
    assert received.body == raw
    assert received.headers["content-type"] == content_type


async def test_no_body_sends_no_content_type(server: HttpServer,
                                             http: PinnedTransport) -> None:
    await run(executor(http), apiEndpoint=server.url_for("/echo"), apiMethod="DELETE")

    assert "content-type" not in server.requests[0].headers
    assert server.requests[0].body == b""


# --- what is recorded ------------------------------------------------------------------------

async def test_response_record_headers_and_text_body(server: HttpServer,
                                                     http: PinnedTransport) -> None:
    server.route("/page", reply=Reply(
        status=200, body="héllo".encode("latin-1"),
        headers=[("Content-Type", "text/plain; charset=latin-1"), ("X-Multi", "a"),
                 ("X-Multi", "b"), ("Set-Cookie", "session=abc"), ("ETag", '"v1"')]))

    result = await run(executor(http), apiEndpoint=server.url_for("/page"))

    assert result.output["body"] == "héllo"
    headers = result.output["headers"]
    assert headers["x-multi"] == "a, b"
    assert headers["etag"] == '"v1"'
    assert "set-cookie" not in headers
    assert all(name == name.lower() for name in headers)
    assert result.output["contentType"] == "text/plain; charset=latin-1"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_body_is_recorded_decoded_and_limited_after_decoding(
        server: HttpServer, http: PinnedTransport, encoding: str) -> None:
    text = b'{"items": [' + b",".join(b"%d" % i for i in range(2000)) + b"]}"
    packed = gzip.compress(text) if encoding == "gzip" else zlib.compress(text)
    server.route("/packed", reply=Reply(body=packed, headers=[
        ("Content-Type", "application/json"), ("Content-Encoding", encoding)]))

    result = await run(executor(http), apiEndpoint=server.url_for("/packed"))
    cut = await run(executor(http, limit=500), apiEndpoint=server.url_for("/packed"))

    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"
    assert result.output["body"] == {"items": list(range(2000))}
    assert result.output["headers"]["content-encoding"] == encoding
    assert cut.output["bodyTruncated"] is True
    # the stored headers count toward the limit (CONTRACT §13): the body gets what they leave
    stored = sum(len(name) + len(value) for name, value in cut.output["headers"].items())
    assert 0 < 500 - stored < len(text)
    assert cut.output["body"] == text[:500 - stored].decode()


async def test_non_ascii_response_headers_are_read_as_utf8(server: HttpServer,
                                                          http: PinnedTransport) -> None:
    server.route("/h", reply=Reply(status=200, body=b"ok", headers=[
        ("X-Name", "Zoë".encode().decode("latin-1")), ("Content-Type", "text/plain")]))

    result = await run(executor(http), apiEndpoint=server.url_for("/h"))

    assert result.output["headers"]["x-name"] == "Zoë"


@pytest.mark.parametrize(
    ("reply", "body"),
    [
        (Reply(json={"ok": True, "items": [1]}), {"ok": True, "items": [1]}),
        (Reply(body='{"a":1}', headers={"Content-Type": "application/problem+json"}), {"a": 1}),
        (Reply(body="{broken", headers={"Content-Type": "application/json"}), "{broken"),
        (Reply(body='{"a":1}', headers={"Content-Type": "text/plain"}), '{"a":1}'),
        (Reply(status=204), ""),
    ],
)
async def test_json_is_parsed_only_when_the_response_says_json_and_parses(
    server: HttpServer, http: PinnedTransport, reply: Reply, body: Any,
) -> None:
    server.route("/r", reply=reply)

    result = await run(executor(http), apiEndpoint=server.url_for("/r"))

    assert result.output["body"] == body


async def header_bytes(http: PinnedTransport, url: str) -> int:
    """What the stored headers of ``url``'s answer take of RESPONSE_BODY_LIMIT (CONTRACT §13:
    they count toward it), the body's limit being what they leave."""
    probe = await run(executor(http), apiEndpoint=url)
    return sum(len(name) + len(value) for name, value in probe.output["headers"].items())


@pytest.mark.parametrize(
    ("payload", "limit", "body", "truncated"),
    [
        (b"a" * 1000, 100, "a" * 100, True),
        (b"a" * 100, 100, "a" * 100, False),
        (b"a" * 101, 100, "a" * 100, True),
        ("é".encode() * 60, 101, "é" * 50, True),  # a character cut in two is dropped whole
        (b"abc", 0, "", True),
    ],
)
async def test_body_is_truncated_at_the_limit(
    server: HttpServer, http: PinnedTransport, payload: bytes, limit: int, body: str,
    truncated: bool,
) -> None:
    server.route("/big", body=payload, headers={"Content-Type": "text/plain; charset=utf-8"})

    extra = await header_bytes(http, server.url_for("/big"))
    result = await run(executor(http, limit=limit + extra), apiEndpoint=server.url_for("/big"))

    assert result.output["body"] == body
    assert result.output.get("bodyTruncated", False) is truncated


async def test_truncated_json_is_kept_as_text(server: HttpServer,
                                              http: PinnedTransport) -> None:
    server.route("/big", json={"items": list(range(100))})

    extra = await header_bytes(http, server.url_for("/big"))
    result = await run(executor(http, limit=20 + extra), apiEndpoint=server.url_for("/big"))

    assert result.output["body"] == '{"items": [0, 1, 2, '
    assert result.output["bodyTruncated"] is True


# --- success and failure ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "expect", "succeeds"),
    [
        (200, None, True), (201, None, True), (204, None, True), (299, None, True),
        (201, [201], True), (200, [201], False), (404, [404, 200], True), (304, None, False),
        (302, [302], True),  # a listed redirect status is the answer, not followed
    ],
)
async def test_expect_status(server: HttpServer, http: PinnedTransport, status: int,
                             expect: list[int] | None, succeeds: bool) -> None:
    server.route("/s", status=status, headers={"Location": "/echo"})
    wire: dict[str, Any] = {"apiEndpoint": server.url_for("/s")}
    if expect is not None:
        wire["expectStatus"] = expect

    if succeeds:
        result = await run(executor(http), **wire)
        assert result.output["status"] == status
    else:
        error = await fail(executor(http), **wire)
        assert isinstance(error, PermanentError)
        assert error.output["status"] == status
        if expect:
            assert f"expected {expect[0]}" in error.message
    assert server.requests_to("/echo") == []


@pytest.mark.parametrize(
    ("status", "retry_after", "seconds"),
    [
        (503, "7", 7.0),
        (500, None, None),
        (502, "junk", None),
        (429, format_datetime(NOW + timedelta(seconds=120), usegmt=True), 120.0),
        (429, format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        (408, "1", 1.0),
    ],
)
async def test_retryable_statuses_carry_retry_after_and_the_response(
    server: HttpServer, http: PinnedTransport, status: int, retry_after: str | None,
    seconds: float | None,
) -> None:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    server.route("/busy", reply=Reply(status=status, headers=headers, json={"error": "busy"}))

    error = await fail(executor(http), apiEndpoint=server.url_for("/busy"), apiMethod="POST")

    assert isinstance(error, RetryableError)
    assert error.retryable is True
    assert error.error_type == "http_status"
    assert error.retry_after == seconds
    assert error.message == f"POST {server.url}/busy answered {status}"
    assert error.output["status"] == status
    assert error.output["body"] == {"error": "busy"}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_other_4xx_are_permanent(server: HttpServer, http: PinnedTransport,
                                       status: int) -> None:
    server.route("/no", reply=Reply(status=status, body="nope", headers={"Retry-After": "5"}))

    error = await fail(executor(http), apiEndpoint=server.url_for("/no?token=q-SECRET"))

    assert isinstance(error, PermanentError)
    assert error.retryable is False
    assert error.error_type == "http_status"
    assert error.message == f"GET {server.url}/no answered {status}"
    assert error.output["body"] == "nope"


async def test_a_slow_answer_times_out(server: HttpServer, http: PinnedTransport) -> None:
    server.route("/slow", delay=30)

    error = await fail(executor(http), apiEndpoint=server.url_for("/slow"), timeoutMs=200)

    assert isinstance(error, RetryableError)
    assert error.error_type == "timeout"
    assert f"GET {server.url}/slow" in error.message


async def test_timeout_ms_is_bounded_by_the_task_timeout(server: HttpServer,
                                                           http: PinnedTransport) -> None:
    server.route("/slow", delay=30)
    spec = TaskSpec(id="task-1", title="call", task_type="api_call", timeout_seconds=1,
                    config=config(apiEndpoint=server.url_for("/slow"), timeoutMs=600_000))

    with pytest.raises(RetryableError) as caught:
        await executor(http).execute(spec, context())

    assert caught.value.error_type == "timeout"
    assert "timed out after 1000 ms" in caught.value.message


async def test_connection_refused_is_a_retryable_network_error(
    http: PinnedTransport,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/x"

    error = await fail(executor(http), apiEndpoint=url, apiMethod="PUT", body={"a": 1})

    assert isinstance(error, RetryableError)
    assert error.error_type == "network"
    assert error.message.startswith(f"PUT {url}: could not connect")


async def test_a_dropped_connection_is_a_retryable_network_error(
    server: HttpServer, http: PinnedTransport,
) -> None:
    server.route("/hangup", reply=Reply(drop=True))

    error = await fail(executor(http), apiEndpoint=server.url_for("/hangup"))

    assert isinstance(error, RetryableError)
    assert error.error_type == "network"


# --- redirects -------------------------------------------------------------------------------

async def test_a_redirect_chain_is_followed(server: HttpServer, http: PinnedTransport) -> None:
    server.route("/r1", redirect_to="/r2", status=301)
    server.route("/r2", redirect_to=server.url_for("/r3"), status=308)
    server.route("/r3", redirect_to="echo?from=r3", status=307)

    result = await run(executor(http), apiEndpoint=server.url_for("/r1"), apiMethod="PUT",
                       body={"v": 1}, bearerToken=SECRETS["bearerToken"], authType="bearer")

    assert [r.path for r in server.requests] == ["/r1", "/r2", "/r3", "/echo"]
    final = server.requests[-1]
    assert (final.method, final.body, final.query) == ("PUT", b'{"v":1}', {"from": ["r3"]})
    assert final.headers["authorization"] == f"Bearer {SECRETS['bearerToken']}"  # same origin
    assert result.summary is not None
    assert f"(at {server.url}/echo after 3 redirects)" in result.summary


@pytest.mark.parametrize(
    ("status", "method", "method_after", "body_after"),
    [
        (303, "POST", "GET", b""), (303, "PUT", "GET", b""), (302, "POST", "GET", b""),
        (301, "POST", "GET", b""), (307, "POST", "POST", b'{"v":1}'),
        (308, "PATCH", "PATCH", b'{"v":1}'), (302, "PUT", "PUT", b'{"v":1}'),
    ],
)
async def test_redirect_method_rules(server: HttpServer, http: PinnedTransport, status: int,
                                     method: str, method_after: str, body_after: bytes) -> None:
    server.route("/go", redirect_to="/echo", status=status)

    await run(executor(http), apiEndpoint=server.url_for("/go"), apiMethod=method, body={"v": 1})

    final = server.requests[-1]
    assert (final.method, final.body) == (method_after, body_after)
    assert ("content-type" in final.headers) is bool(body_after)


async def test_a_cross_origin_redirect_drops_credentials(server: HttpServer,
                                                         http: PinnedTransport) -> None:
    with HttpServer(host="127.0.0.2") as other:
        other.route("/echo", echo=True)
        server.route("/away", redirect_to=other.url_for("/echo"))

        await run(executor(http), apiEndpoint=server.url_for("/away"), authType="api_key",
                  apiKey=SECRETS["apiKey"], apiKeyHeader="X-Token",
                  headers={"Authorization": "Bearer manual-SECRET", "X-Trace": "t-1"})

        (first,) = server.requests
        (second,) = other.requests
    assert first.headers["x-token"] == SECRETS["apiKey"]
    assert first.headers["authorization"] == "Bearer manual-SECRET"
    assert "x-token" not in second.headers
    assert "authorization" not in second.headers
    assert second.headers["x-trace"] == "t-1"


async def test_a_redirect_loop_stops_after_the_hop_limit(server: HttpServer,
                                                         http: PinnedTransport) -> None:
    server.route("/loop", redirect_to="/loop")

    error = await fail(executor(http), apiEndpoint=server.url_for("/loop"))

    assert isinstance(error, PermanentError)
    assert error.error_type == "too_many_redirects"
    assert len(server.requests_to("/loop")) == MAX_REDIRECTS + 1


async def test_a_redirect_to_another_scheme_is_refused(server: HttpServer,
                                                       http: PinnedTransport) -> None:
    server.route("/ftp", redirect_to="ftp://127.0.0.1/file")

    error = await fail(executor(http), apiEndpoint=server.url_for("/ftp"))

    assert isinstance(error, PermanentError)
    assert error.error_type == "invalid_redirect"


async def test_a_redirect_into_a_blocked_address_is_refused_before_connecting(
    server: HttpServer, http: PinnedTransport,
) -> None:
    guard = NetworkGuard(allow_private=False, allowed_networks=["127.0.0.2/32"])
    with HttpServer(host="127.0.0.2") as allowed:
        allowed.route("/hop", redirect_to=server.url_for("/echo"))

        error = await fail(executor(http, guard), apiEndpoint=allowed.url_for("/hop"))

        assert len(allowed.requests) == 1
    assert isinstance(error, BlockedDestination)
    assert error.retryable is False
    assert "127.0.0.1" in error.message
    assert server.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "127.1", "localhost"])
async def test_a_blocked_endpoint_is_never_contacted(server: HttpServer, http: PinnedTransport,
                                                     host: str) -> None:
    error = await fail(executor(http, NetworkGuard(allow_private=False)),
                       apiEndpoint=f"http://{host}:{server.port}/echo")

    assert isinstance(error, BlockedDestination)
    assert server.requests == []


# --- secrets ---------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [200, 401, 503])
async def test_no_secret_appears_in_output_summary_or_error(
    server: HttpServer, http: PinnedTransport, status: int,
) -> None:
    server.route("/leaky", handler=lambda request: Reply(
        status=status, json=request.as_echo(),
        headers={"X-Echo-Auth": request.headers.get("authorization", "")}))
    url = server.url_for("/leaky?token=q-SECRET").replace("http://", "http://ann:url-SECRET@")
    exe = executor(http)
    wire = {"apiEndpoint": url, "apiMethod": "POST", "authType": "basic",
            "basicUsername": "ann", "basicPassword": SECRETS["basicPassword"],
            "headers": {"Cookie": "sid=cookie-SECRET"}, "body": {"x": 1}}

    if status == 200:
        result = await run(exe, **wire)
        seen = msgspec.json.encode(result.output).decode() + (result.summary or "")
    else:
        error = await fail(exe, **wire)
        seen = str(error) + error.message + msgspec.json.encode(error.output).decode()

    assert server.requests[0].headers["cookie"] == "sid=cookie-SECRET"  # it did go out
    credential = base64.b64encode(f"ann:{SECRETS['basicPassword']}".encode()).decode()
    # the configured auth wins over the URL's userinfo
    assert server.requests[0].headers["authorization"] == f"Basic {credential}"
    for secret in (SECRETS["basicPassword"], credential, "url-SECRET", "cookie-SECRET"):
        assert secret not in seen
    assert "********" in seen
    if status != 200:
        assert "q-SECRET" not in str(error)


async def test_userinfo_is_basic_auth_when_no_auth_type_is_set(
    server: HttpServer, http: PinnedTransport,
) -> None:
    url = server.url_for("/echo").replace("http://", "http://bob:url-SECRET@")

    result = await run(executor(http), apiEndpoint=url)

    credential = base64.b64encode(b"bob:url-SECRET").decode()
    assert server.requests[0].headers["authorization"] == f"Basic {credential}"
    serialized = msgspec.json.encode(result.output).decode() + (result.summary or "")
    assert credential not in serialized
    assert "url-SECRET" not in serialized


# --- create-time checks ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("wire", "paths"),
    [
        ({"apiEndpoint": "https://api.example.com/x"}, []),
        ({"apiEndpoint": "/relative/path"}, [("apiEndpoint",)]),
        ({"apiEndpoint": "ftp://example.com/f"}, [("apiEndpoint",)]),
        ({"apiEndpoint": "http:///nohost"}, [("apiEndpoint",)]),
        ({"apiEndpoint": "not a url"}, [("apiEndpoint",)]),
        ({"apiEndpoint": "http://[::1"}, [("apiEndpoint",)]),
        ({"apiEndpoint": "http://a.io", "authType": "bearer"}, [("bearerToken",)]),
        ({"apiEndpoint": "http://a.io", "authType": "bearer", "bearerToken": ""},
         [("bearerToken",)]),
        ({"apiEndpoint": "http://a.io", "authType": "api_key"}, [("apiKey",)]),
        ({"apiEndpoint": "http://a.io", "authType": "basic"},
         [("basicUsername",), ("basicPassword",)]),
        ({"apiEndpoint": "http://a.io", "authType": "basic", "basicUsername": "u"},
         [("basicPassword",)]),
        ({"apiEndpoint": "http://a.io", "authType": "none", "bearerToken": "unused"}, []),
        ({"apiEndpoint": "http://a.io", "body": {"a": 1}}, [("body",)]),
        ({"apiEndpoint": "http://a.io", "apiMethod": "DELETE", "body": {"a": 1}}, []),
        ({"apiEndpoint": "http://a.io", "expectStatus": []}, [("expectStatus",)]),
        ({"apiEndpoint": "http://a.io", "headers": {"Bad Name": "v"}}, [("headers", "Bad Name")]),
        ({"apiEndpoint": "http://a.io", "headers": {"X-A": "v\r\nInjected: 1"}},
         [("headers", "X-A")]),
        ({"apiEndpoint": "http://a.io", "apiKeyHeader": "X Key"}, [("apiKeyHeader",)]),
        ({"apiEndpoint": "http://a.io", "apiMethod": "POST", "body": "x",
          "contentType": "text/plain\r\nX: y"}, [("contentType",)]),
        ({"apiEndpoint": "http://127.0.0.1:8000/x"}, [("apiEndpoint",)]),
        ({"apiEndpoint": "http://[::ffff:169.254.169.254]/"}, [("apiEndpoint",)]),
    ],
)
async def test_check_names_each_problem(http: PinnedTransport, wire: dict[str, Any],
                                       paths: list[tuple[str, ...]]) -> None:
    exe = ApiCallExecutor(http, NetworkGuard(allow_private=False))

    issues = exe.check(config(**wire), source_webhook_id=None)

    assert [issue.path for issue in issues] == paths
    assert all(issue.message for issue in issues)
    if wire.get("body") is not None and wire.get("apiMethod", "GET") == "GET":
        assert issues[0].message == "body is not allowed with GET"


async def test_check_allows_private_literals_when_the_guard_does(
    http: PinnedTransport,
) -> None:
    exe = ApiCallExecutor(http, NetworkGuard(allow_private=True))

    assert exe.check(config(apiEndpoint="http://127.0.0.1:8000/x"), source_webhook_id=None) == []


async def test_messages_show_the_url_without_userinfo_query_or_fragment(
        server: HttpServer, http: PinnedTransport) -> None:
    server.route("/no", status=404)
    netloc = server.url.removeprefix("http://")
    with pytest.raises(PermanentError) as caught:
        await run(executor(http), apiEndpoint=f"http://someone:pa%3Fss@{netloc}/no?token=abc#part")
    assert caught.value.message == f"GET {server.url}/no answered 404"
    server.route("/", status=200)
    result = await run(executor(http), apiEndpoint=f"HTTP://{netloc}?x=1")  # no path
    assert result.summary is not None
    assert result.summary.startswith(f"GET {server.url} → 200 in ")


@pytest.mark.parametrize("query", [
    {"i": 5}, {"page": 2, "tags": ["a", "b"], "active": True, "ratio": 0.5, "q": "x y"},
    {"a": -1.5e-7, "b": False, "c": [1, 2.0, True]}, {"é": "1"}, {"k": "a/b"}, {"k": ""},
    {"": "v"}, {"n": float("inf")}, {"keep": "replaced"},
])
@pytest.mark.parametrize("endpoint", ["http://a.io/x", "http://a.io/x?keep=1&b=a+c",
                                      "https://u:p@a.io:8443/p%20q#frag"])
def test_the_request_url_is_the_one_httpx_would_build(endpoint: str,
                                                      query: dict[str, Any]) -> None:
    from executors.api_call import _first_request

    built, _ = _first_request(config(apiEndpoint=endpoint, query=query))

    expected = httpx.URL(endpoint).copy_merge_params(query)
    assert built.url == str(expected.copy_with(userinfo=b"", fragment=None))
