"""The tRPC v11 HTTP protocol, on the wire, against the golden captures of @trpc/server 11.

The test app (tests/support/trpc_testapp.py) runs in uvicorn through Litestar with
``trpc_mount``, as in production. Captures are parsed from tests/fixtures/
trpc-v11-wire-captures.txt, a verbatim copy of the project's shared fixture (a test checks the
copy still matches the shared one when that is beside the repository).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.trpc_testapp import AppState, running_testapp

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trpc-v11-wire-captures.txt"
SHARED_CAPTURES = (Path(__file__).resolve().parents[3] / "shared" / "fixtures"
                   / "trpc-v11-wire-captures.txt")


def test_capture_copy_matches_the_shared_fixture() -> None:
    if not SHARED_CAPTURES.exists():
        pytest.skip(f"no shared fixture at {SHARED_CAPTURES} to compare the copy with")
    assert CAPTURES.read_bytes() == SHARED_CAPTURES.read_bytes()
CAPTURED_BASE = "http://127.0.0.1:3999"
JSON_HEADERS = {"content-type": "application/json"}


# ---------------------------------------------------------------------------- captures
@dataclass(frozen=True)
class Capture:
    title: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    url: str  # relative to the server, e.g. /trpc/greet?input=..
    status: int
    response_headers: dict[str, str]
    response_body: str


_FLAG = re.compile(r"-X (\S+)|-H (\S+): (.+?)(?= -[XHd] | http)|-d (.+?)(?= -[XHd] | http)")


def _capture(block: str) -> Capture:
    command, _, response = block.partition("\n")
    head, _, body = response.partition("\n\n")
    status_line, *header_lines = head.splitlines()
    method, headers, data = "GET", {}, None
    for flag in _FLAG.finditer(command):
        if flag.group(1):
            method = flag.group(1)
        elif flag.group(2):
            headers[flag.group(2)] = flag.group(3)
        else:
            data = flag.group(4).removeprefix('"').removesuffix('"').encode()
    url = command.split(" ")[-1].removeprefix(CAPTURED_BASE)
    response_headers = {}
    for line in header_lines:
        name, _, value = line.partition(": ")
        response_headers[name.lower()] = value
    return Capture(command, method, headers, data, url, int(status_line.split()[1]),
                   response_headers, body)


def captures() -> dict[str, Capture]:
    text = CAPTURES.read_text()
    blocks = [b for b in text.split("\n### curl ")[1:]]
    return {c.title: c for c in map(_capture, blocks)}


CAPTURED = captures()
JSON_CAPTURES = [t for t, c in CAPTURED.items()
                 if "jsonl" not in t and "event-stream" not in c.response_headers["content-type"]]
SSE_CAPTURES = [t for t, c in CAPTURED.items()
                if c.response_headers["content-type"] == "text/event-stream"]


def test_the_captures_were_parsed() -> None:
    assert len(JSON_CAPTURES) == 10
    assert len(SSE_CAPTURES) == 3
    assert CAPTURED[next(t for t in CAPTURED if "-d {" in t)].body == b'{"x":1}'


# ---------------------------------------------------------------------------- server
@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, AppState]]:
    with running_testapp() as (url, state):
        yield url, state


@pytest.fixture
def client(served: tuple[str, AppState]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], timeout=20) as http:
        yield http


@pytest.fixture
def state(served: tuple[str, AppState]) -> AppState:
    return served[1]


def send(client: httpx.Client, capture: Capture) -> httpx.Response:
    return client.request(capture.method, capture.url, headers=capture.headers,
                          content=capture.body)


def assert_json_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "application/json"
    assert response.headers["vary"] == "trpc-accept, accept"


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The one error object of a response (not an array)."""
    body = response.json()
    assert isinstance(body, dict), body
    error: dict[str, Any] = body["error"]
    return error


# ---------------------------------------------------------------------------- golden JSON
@pytest.mark.parametrize("title", JSON_CAPTURES)
def test_json_exchanges_match_the_captures(client: httpx.Client, title: str) -> None:
    capture = CAPTURED[title]
    response = send(client, capture)
    assert response.status_code == capture.status
    # docs/PROTOCOL.md: always application/json (the standalone adapter said text/plain for some)
    assert_json_headers(response)
    assert response.headers.get("allow") == capture.response_headers.get("allow")
    expected = json.loads(capture.response_body)
    if title.endswith("/trpc/boom"):
        # ours never shows an unknown exception's message (the capture is isDev-free tRPC's)
        assert "kaboom" in capture.response_body
        expected["error"]["message"] = "Internal server error"
        assert response.json() == expected
    else:
        assert response.content == capture.response_body.strip().encode()


def test_an_unknown_exception_leaves_nothing_on_the_wire(client: httpx.Client,
                                                        state: AppState) -> None:
    response = client.get("/trpc/boom")
    assert response.status_code == 500
    assert "kaboom" not in response.text and "SELECT" not in response.text
    assert "stack" not in response.text
    assert any(path == "boom" and "kaboom" in str(exc) for exc, path in state.internal_errors)


# ---------------------------------------------------------------------------- golden JSONL
def _materialize(lines: list[str]) -> dict[int, Any]:
    """Decode tRPC's JSONL (promises only): call index -> its settled envelope."""
    head = json.loads(lines[0])
    chunks = {json.loads(line)[0]: json.loads(line) for line in lines[1:]}

    def value(encoded: list[Any]) -> Any:
        (data,), *asyncs = encoded
        for key, kind, chunk_id in asyncs:
            assert kind == 0, "only promises are expected"
            _, status, inner = chunks[chunk_id]
            assert status == 0
            settled = value(inner)
            if key is None:
                data = settled
            else:
                data[key] = settled
        return data

    return {int(index): value(encoded) for index, encoded in head.items()}


def _jsonl_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_streamed_batch_matches_the_capture(client: httpx.Client) -> None:
    capture = next(c for t, c in CAPTURED.items() if "jsonl" in t and "slow,greet" in t)
    response = send(client, capture)
    assert response.status_code == 200
    assert_json_headers(response)
    assert response.headers["transfer-encoding"] == "chunked"
    ours, theirs = _jsonl_lines(response.text), _jsonl_lines(capture.response_body)
    assert ours[0] == theirs[0]
    assert _materialize(ours) == _materialize(theirs)
    # the flat form: one line per call, fast calls before the slow one
    assert [json.loads(line)[0] for line in ours[1:]][-1] == 0
    assert len(ours) == 4


def test_an_unbatched_stream_request_is_one_error(client: httpx.Client) -> None:
    capture = next(c for t, c in CAPTURED.items() if "jsonl" in t and "batch" not in t)
    response = send(client, capture)
    assert response.status_code == 400
    assert_json_headers(response)
    assert response.content == capture.response_body.strip().encode()


def test_a_slow_call_does_not_hold_back_the_others(client: httpx.Client) -> None:
    url = "/trpc/gated,greet,fail?batch=1&input=" + quote('{"0":"jsonl","1":"x"}')
    with client.stream("GET", url, headers={"trpc-accept": "application/jsonl"}) as stream:
        lines = stream.iter_lines()
        assert json.loads(next(lines)) == {str(i): [[0], [None, 0, i]] for i in range(3)}
        first_two = {json.loads(next(lines))[0], json.loads(next(lines))[0]}
        assert first_two == {1, 2}  # while "gated" still waits
        released = client.post("/trpc/release", json="jsonl")
        assert released.json() == {"result": {}}
        assert json.loads(next(lines)) == [0, 0, [[{"result": {"data": "released jsonl"}}]]]
        assert list(lines) == []


def test_stream_accepted_from_the_accept_header(client: httpx.Client) -> None:
    response = client.get("/trpc/greet?batch=1&input=" + quote('{"0":"a"}'),
                          headers={"accept": "text/html, application/jsonl"})
    assert _jsonl_lines(response.text)[1] == '[0,0,[[{"result":{"data":{"hello":"a"}}}]]]'


# ---------------------------------------------------------------------------- golden SSE
def _events(text: str) -> list[list[str]]:
    """SSE events as lists of field lines, pings dropped (their count depends on timing)."""
    events = [block.splitlines() for block in re.split(r"\n\n+", text) if block.strip()]
    return [e for e in events if e[0] != "event: ping"]


@pytest.mark.parametrize("title", SSE_CAPTURES)
def test_subscriptions_match_the_captures(client: httpx.Client, title: str) -> None:
    capture = CAPTURED[title]
    response = send(client, capture)
    assert response.status_code == 200
    for name in ("content-type", "cache-control", "connection", "vary", "x-accel-buffering"):
        assert response.headers[name] == capture.response_headers[name]
    assert _events(response.text) == _events(capture.response_body)
    # each event ends with a blank line and one more, as @trpc/server writes it
    assert response.text.startswith(capture.response_body.split("\n\n\n")[0] + "\n\n\n")


def read_events(client: httpx.Client, url: str, *, until: str,
                headers: dict[str, str] | None = None) -> list[list[str]]:
    """Read an SSE stream until an event containing ``until``; then hang up."""
    text = ""
    with client.stream("GET", url, headers=headers) as stream:
        for chunk in stream.iter_text():
            text += chunk
            if until in text and text.endswith("\n\n"):
                break
    return [block.splitlines() for block in re.split(r"\n\n+", text) if block.strip()]


def test_resume_from_last_event_id_header_or_query(client: httpx.Client) -> None:
    by_header = _events(client.get("/trpc/ticks", headers={"last-event-id": "3"}).text)
    by_query = _events(client.get("/trpc/ticks?lastEventId=3").text)
    expected = [["event: connected", 'data: {"reconnectAfterInactivityMs":5000}'],
                ['data: {"n":4}', "id: 4"], ['data: {"n":5}', "id: 5"],
                ["event: return", "data: "]]
    assert by_header == by_query == expected
    merged = _events(client.get("/trpc/ticks?input=" + quote('{"lastEventId":"4"}')).text)
    assert merged[1:] == [['data: {"n":5}', "id: 5"], ["event: return", "data: "]]


def test_pings_then_the_iterator_is_closed_when_the_client_leaves(
        client: httpx.Client, state: AppState) -> None:
    before = client.get("/trpc/closedCount").json()["result"]["data"]
    events = read_events(client, "/trpc/forever", until="event: ping")
    assert events[1] == ['data: {"n":1}', "id: 1"]
    assert events[2] == ["event: ping", "data: "]
    deadline = time.monotonic() + 10
    while client.get("/trpc/closedCount").json()["result"]["data"] == before:
        assert time.monotonic() < deadline, "the subscription was not closed"
        time.sleep(0.02)


def test_connection_params_authenticate_subscriptions(client: httpx.Client,
                                                      state: AppState) -> None:
    params = quote('{"authorization":"Bearer good"}')
    events = _events(client.get(f"/trpc/whoamiSub?connectionParams={params}").text)
    assert events[1] == ['data: "Bearer good"']
    assert state.contexts[-1].connection_params == {"authorization": "Bearer good"}
    refused = _events(client.get("/trpc/whoamiSub").text)
    assert refused[1][0] == "event: serialized-error"
    assert json.loads(refused[1][1].removeprefix("data: ")) == {
        "message": "who are you?", "code": -32001,
        "data": {"code": "UNAUTHORIZED", "httpStatus": 401, "path": "whoamiSub"}}


@pytest.mark.parametrize(("params", "message"), [
    ("{oops", "Not JSON-parsable query params"),
    ('{"authorization":1}', "Invalid connection params shape"),
    ("[]", "Invalid connection params shape"),
])
def test_bad_connection_params_are_a_parse_error(client: httpx.Client, params: str,
                                                 message: str) -> None:
    response = client.get(f"/trpc/whoamiSub?connectionParams={quote(params)}")
    assert response.status_code == 400
    assert_json_headers(response)
    assert error_of(response) == {"message": message, "code": -32700,
                                  "data": {"code": "PARSE_ERROR", "httpStatus": 400}}


# ---------------------------------------------------------------------------- rules
def test_content_types(client: httpx.Client) -> None:
    missing = client.post("/trpc/add", content=b"{}")
    assert missing.status_code == 415
    assert error_of(missing)["message"] == "Missing content-type header"
    ok = client.post("/trpc/add", content=b'{"y":2}',
                     headers={"content-type": "Application/JSON; charset=utf-8"})
    assert ok.json() == {"result": {"data": {"added": {"y": 2}}}}
    get = client.get("/trpc/greet?input=%22t%22", headers={"content-type": "text/plain"})
    assert get.json() == {"result": {"data": {"hello": "t"}}}


def test_method_override(client: httpx.Client) -> None:
    single = client.post("/trpc/greet", json="over")
    assert single.json() == {"result": {"data": {"hello": "over"}}}
    batch = client.post("/trpc/greet,post.byId?batch=1", json={"0": "a", "1": 7})
    assert batch.json() == [{"result": {"data": {"hello": "a"}}}, {"result": {"data": {"id": 7}}}]
    strict = client.post("/strict/greet", json="over")
    assert strict.status_code == 405
    assert strict.headers["allow"] == "GET"
    assert error_of(strict)["message"] == (
        'Unsupported POST-request to query procedure at path "greet"')


def test_path_separators_and_escapes(client: httpx.Client) -> None:
    for separator in "_~-":
        response = client.get(f"/trpc/post{separator}byId?input=5")
        assert response.json() == {"result": {"data": {"id": 5}}}
    assert client.get("/trpc/%67reet?input=%22e%22").json() == {"result": {"data": {"hello": "e"}}}
    malformed = client.get("/trpc/gr%E0%A4%A")
    assert malformed.status_code == 400
    assert error_of(malformed)["message"] == 'Invalid URL-encoding in path "gr%E0%A4%A"'


def test_head_is_204(client: httpx.Client) -> None:
    response = client.head("/trpc/greet")
    assert response.status_code == 204
    assert response.content == b""


def test_body_too_large(client: httpx.Client) -> None:
    big = b'"' + b"x" * 5000 + b'"'
    response = client.post("/trpc/add", content=big, headers=JSON_HEADERS)
    assert response.status_code == 413
    assert error_of(response)["data"] == {"code": "PAYLOAD_TOO_LARGE", "httpStatus": 413}

    def chunks() -> Iterator[bytes]:  # no content-length: reading must stop at the limit
        yield b'"'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"'

    streamed = client.post("/trpc/add", content=chunks(), headers=JSON_HEADERS)
    assert streamed.status_code == 413
    assert_json_headers(streamed)


def test_batch_size_limit(client: httpx.Client) -> None:
    response = client.get("/trpc/" + ",".join(["noInput"] * 11) + "?batch=1")
    assert response.status_code == 400
    assert error_of(response)["message"] == "Batch call exceeds maximum size"
    assert len(client.get("/trpc/" + ",".join(["noInput"] * 10) + "?batch=1").json()) == 10


def test_mixed_procedure_types(client: httpx.Client) -> None:
    response = client.post("/trpc/greet,add?batch=1", json={})
    assert response.status_code == 400
    assert error_of(response)["message"] == "Cannot mix procedure types in call: query, mutation"


def test_batch_statuses_and_inputs(client: httpx.Client) -> None:
    same = client.get("/trpc/fail,fail?batch=1")
    assert same.status_code == 401
    assert len(same.json()) == 2
    missing = client.get("/trpc/opt,greet?batch=1&input=" + quote('{"0":null}'))
    assert missing.status_code == 207
    assert missing.json()[0] == {"result": {"data": 50}}
    assert missing.json()[1]["error"]["message"] == "input is required"
    not_object = client.get("/trpc/greet,greet?batch=1&input=%22a%22")
    assert not_object.status_code == 400
    assert [e["error"]["data"]["code"] for e in not_object.json()] == ["BAD_REQUEST"] * 2
    subscription = client.get("/trpc/sub?batch=1")
    assert subscription.json()[0]["error"]["message"] == "Cannot batch subscription calls"


def test_a_failing_context_is_one_error(client: httpx.Client) -> None:
    response = client.get("/trpc/greet,greet?batch=1", headers={"authorization": "Bearer bad"})
    assert response.status_code == 401
    assert error_of(response) == {
        "message": "Missing or unknown API key: send Authorization: Bearer <key>.",
        "code": -32001, "data": {"code": "UNAUTHORIZED", "httpStatus": 401}}


def test_request_info(client: httpx.Client, state: AppState) -> None:
    client.get("/trpc/post_byId,greet?batch=1&input=%7B%7D", headers={"X-Thing": "1"})
    info = state.contexts[-1]
    assert (info.method, info.path, info.paths, info.kind, info.is_batch) == (
        "GET", "post_byId,greet", ("post_byId", "greet"), "query", True)
    assert info.headers["x-thing"] == "1"
    assert info.client_host == "127.0.0.1"
    assert info.connection_params is None
    assert client.get("/trpc/whoami", headers={"authorization": "Bearer good"}).json() == {
        "result": {"data": "Bearer good"}}


@pytest.mark.parametrize(("body", "code", "message", "issues"), [
    ({"name": "n", "executionConfig": {"apiEndpoint": 1}}, "BAD_REQUEST",
     "executionConfig.apiEndpoint: Expected `str`, got `int`",
     [{"path": ["executionConfig", "apiEndpoint"], "message": "Expected `str`, got `int`"}]),
    ({"name": "n", "executionConfig": {"apiEndpoint": "x"}, "tags": [1, "2"]}, "BAD_REQUEST",
     "tags.1: Expected `int`, got `str`", [{"path": ["tags", 1],
                                            "message": "Expected `int`, got `str`"}]),
    ({"name": "n", "executionConfig": {"apiEndpoint": "x", "nope": 1}}, "BAD_REQUEST",
     "executionConfig.nope: Object contains unknown field `nope`",
     [{"path": ["executionConfig", "nope"], "message": "Object contains unknown field `nope`"}]),
    ({"executionConfig": {"apiEndpoint": "x"}}, "BAD_REQUEST",
     "name: Object missing required field `name`",
     [{"path": ["name"], "message": "Object missing required field `name`"}]),
    (None, "BAD_REQUEST", "input is required", [{"path": [], "message": "input is required"}]),
])
def test_validation_errors_carry_issues(client: httpx.Client, body: Any, code: str,
                                        message: str, issues: list[dict[str, Any]]) -> None:
    content = b"" if body is None else json.dumps(body).encode()
    response = client.post("/trpc/validate", content=content, headers=JSON_HEADERS)
    assert response.status_code == 400
    assert error_of(response) == {"message": message, "code": -32600, "data": {
        "code": code, "httpStatus": 400, "path": "validate", "issues": issues}}


def test_malformed_json_input_is_a_parse_error(client: httpx.Client) -> None:
    response = client.post("/trpc/validate", content=b'{"name":', headers=JSON_HEADERS)
    assert response.status_code == 400
    error = error_of(response)
    assert error["data"]["code"] == "PARSE_ERROR"
    assert error["message"].startswith("Input is not valid JSON: ")


def test_inputs_and_outputs(client: httpx.Client) -> None:
    assert client.get("/trpc/opt").json() == {"result": {"data": 50}}
    assert client.get("/trpc/opt?input=null").json() == {"result": {"data": 50}}
    assert client.get("/trpc/opt?input=" + quote('{"limit":3}')).json() == {
        "result": {"data": 3}}
    assert client.get("/trpc/noInput?input=%7Bbroken").json() == {"result": {"data": "none"}}
    assert client.get("/trpc/when").json() == {
        "result": {"data": {"createdAt": "2026-01-02T03:04:05Z"}}}
    created = client.post("/trpc/validate", json={"name": "n",
                                                  "executionConfig": {"apiEndpoint": "u"}})
    assert created.json() == {"result": {"data": {
        "name": "n", "executionConfig": {"apiEndpoint": "u"}, "tags": []}}}


def test_query_string_like_url_search_params(client: httpx.Client) -> None:
    plus = client.get("/trpc/greet?input=%22a+b%22&input=%22ignored%22")
    assert plus.json() == {"result": {"data": {"hello": "a b"}}}
