"""Fuzzing every procedure of a running server: no input, at any depth or size, is a 5xx.

One server for the module (SQLite, private network refused so created tasks reach nothing).
Per procedure, hypothesis generates batches of 100 inputs — JSON of any shape, inputs shaped
like the procedure's own (right field names, wrong or odd values), deep nesting — sent as one
batch request each (queries too: ``ALLOW_METHOD_OVERRIDE`` lets them be POSTed), about 2,000
inputs per procedure; plus single calls with raw, often malformed, bodies and URLs. Every
answer must be a tRPC envelope whose ``data.code`` matches its HTTP status, the server log
must hold no traceback, and the server must be healthy afterwards.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import configs
from server.node.app import build_router
from server.rpc.errors import CODES
from tests.support.databases import sqlite_url
from tests.support.server import ErrandsServer

ROUTER = build_router()
PROCEDURES = sorted((p.path, p.kind) for p in ROUTER.procedures.values())
BATCH = 100
EXAMPLES = 20  # batches per procedure: 2,000 inputs
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

FIELD_NAMES = ["id", "ids", "taskId", "title", "taskType", "executionConfig", "metadata",
               "status", "limit", "cursor", "cron", "timezone", "task", "url", "name", "secret",
               "notes", "lastEventId", "idempotencyKey", "dependsOn", "scheduledFor",
               "priority", "maxRetries", "timeoutSeconds", "steps", "apiEndpoint", "headers",
               "query", "body", "webhookId", "enabled", "missedRunPolicy", "reason", "type"]
KNOWN_TYPES = list(configs.TASK_TYPES)
TASK_TYPES = [*KNOWN_TYPES, "nope", ""]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=20), st.sampled_from(TASK_TYPES),
    st.sampled_from(["tsk_01aaaaaaaaaaaaaaaaaaaa", "2026-01-01T00:00:00Z", "* * * * *",
                     "http://127.0.0.1:1/", "Europe/Paris", "schedule:x:y", "\x00", "%", "💥"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)),
                        inner, max_size=5)),
    max_leaves=12,
)
shaped = st.fixed_dictionaries({}, optional={
    name: json_values for name in ["id", "title", "taskType", "executionConfig", "metadata",
                                   "limit", "cursor", "status", "cron", "task", "url", "name",
                                   "idempotencyKey", "dependsOn", "ids", "taskId"]})


class Deep:
    """Raw JSON nested ``depth`` levels (as text: Python objects that deep cannot be built)."""

    def __init__(self, depth: int, opener: str) -> None:
        self.depth, self.opener = depth, opener

    def raw(self) -> str:
        if self.opener == "[":
            return "[" * self.depth + "]" * self.depth
        return '{"metadata":' * self.depth + "1" + "}" * self.depth


deep = st.builds(Deep, st.integers(min_value=60, max_value=5000), st.sampled_from(["[", "{"]))
inputs = st.one_of(json_values, shaped, shaped)


ODD_STRINGS = ["", " ", "tsk_01aaaaaaaaaaaaaaaaaaaa", "2026-01-01T00:00:00Z", "* * * * *",
               "0 0 31 2 *", "http://127.0.0.1:1/", "https://[::1]/", "Europe/Paris", "Mars/Base",
               "schedule:x:y", "\x00", "%", "💥", "a" * 5000, "null", "[]", "********",
               "api_call", "browser_automation", "queued", "failed", "-1", "1e999"]


def random_json(rnd: random.Random, depth: int = 0) -> Any:
    """A fast generator (hypothesis draws its seed) for the bulk of each batch."""
    roll = rnd.random()
    if depth >= 4 or roll < 0.45:
        return rnd.choice([
            None, True, False, rnd.randint(-(2**66), 2**66), rnd.randint(-5, 500),
            rnd.uniform(-1e300, 1e300), rnd.choice(ODD_STRINGS), rnd.choice(TASK_TYPES),
            "".join(chr(rnd.randint(0, 0x2FFF)) for _ in range(rnd.randint(0, 12)))])
    if roll < 0.6:
        return [random_json(rnd, depth + 1) for _ in range(rnd.randint(0, 5))]
    return {rnd.choice(FIELD_NAMES) if rnd.random() < 0.8 else rnd.choice(ODD_STRINGS):
            random_json(rnd, depth + 1) for _ in range(rnd.randint(0, 6))}


def random_task(rnd: random.Random) -> dict[str, Any]:
    """A tasks.create-like input with one or two things wrong (or none)."""
    task: dict[str, Any] = {"title": "fuzz", "taskType": rnd.choice(KNOWN_TYPES),
                            "executionConfig": {"apiEndpoint": "http://10.0.0.1/x"}}
    for _ in range(rnd.randint(0, 2)):
        task[rnd.choice(FIELD_NAMES)] = random_json(rnd, 2)
    return task


def encode(value: Any) -> str:
    return value.raw() if isinstance(value, Deep) else msgspec.json.encode(value).decode()


def check_envelope(item: Any, status: int | None) -> None:
    """One call's answer: ``{"result": ...}`` or an error whose code matches its status."""
    assert isinstance(item, dict), item
    if "result" in item:
        return
    error = item["error"]
    code, http_status = error["data"]["code"], error["data"]["httpStatus"]
    assert CODES[code][1] == http_status, error
    assert http_status < 500, error
    assert isinstance(error["message"], str) and "Traceback" not in error["message"]
    if status is not None:
        assert status == http_status, (status, error)


def check_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text[:500]
    payload = response.json()
    if isinstance(payload, list):
        for item in payload:
            check_envelope(item, None)
        statuses = {200 if "result" in i else i["error"]["data"]["httpStatus"] for i in payload}
        assert response.status_code == (statuses.pop() if len(statuses) == 1 else 207)
    else:
        check_envelope(payload, response.status_code)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandsServer]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    keys = "admin:admin:admin-key,view:viewer:view-key"
    server = ErrandsServer(database_url=sqlite_url(workdir), workdir=workdir,
                           api_key="admin-key",
                           env={"ERRANDS_API_KEYS": keys, "ALLOW_PRIVATE_NETWORK": "false",
                                "ALLOW_METHOD_OVERRIDE": "true", "WORKER_CONCURRENCY": "4"})
    server.start()
    try:
        yield server
        assert server.call("system.health")["status"] == "ok"
        log = server.log()
        assert "Traceback" not in log and "RecursionError" not in log, log[-3000:]
    finally:
        server.stop()
        server.client.close()


def post_batch(server: ErrandsServer, path: str, values: list[Any],
               key: str = "admin-key") -> httpx.Response:
    body = "{" + ",".join(f'"{i}":{encode(v)}' for i, v in enumerate(values)) + "}"
    return server.client.post(f"{server.url}/{','.join([path] * len(values))}?batch=1",
                              content=body.encode(), headers={
                                  "content-type": "application/json",
                                  "authorization": f"Bearer {key}"})


@pytest.mark.parametrize(("path", "kind"), [p for p in PROCEDURES if p[1] != "subscription"],
                         ids=[p[0] for p in PROCEDURES if p[1] != "subscription"])
def test_batches_of_generated_inputs_never_fail_the_server(fuzz_server: ErrandsServer,
                                                           path: str, kind: str) -> None:
    @FUZZ
    @given(drawn=st.lists(inputs, min_size=4, max_size=4), viewer=st.booleans(),
           seed=st.integers(min_value=0, max_value=2**32))
    def run(drawn: list[Any], viewer: bool, seed: int) -> None:
        rnd = random.Random(seed)
        values = drawn + [random_task(rnd) if rnd.random() < 0.3 else random_json(rnd)
                          for _ in range(BATCH - len(drawn))]
        response = post_batch(fuzz_server, path, values, "view-key" if viewer else "admin-key")
        check_answer(response)
        if response.status_code != 413:
            assert len(response.json()) == BATCH

    run()


@pytest.mark.parametrize(("path", "kind"), PROCEDURES, ids=[p for p, _ in PROCEDURES])
@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_deep_inputs_are_parse_errors(fuzz_server: ErrandsServer, path: str, kind: str,
                                      depth: int) -> None:
    for value in (Deep(depth, "["), Deep(depth, "{")):
        raw = value.raw()
        if kind == "mutation":
            single = fuzz_server.client.post(f"{fuzz_server.url}/{path}", content=raw.encode(),
                                             headers={**fuzz_server.headers(),
                                                      "content-type": "application/json"})
            check_answer(single)
        elif kind == "query":
            single = fuzz_server.client.get(f"{fuzz_server.url}/{path}",
                                            params={"input": raw} if len(raw) < 30_000 else {},
                                            headers=fuzz_server.headers())
            check_answer(single)
        batched = post_batch(fuzz_server, path, [value, {}])
        check_answer(batched)
        answers = batched.json()
        if isinstance(answers, dict):  # refused whole: over MAX_BODY_BYTES
            assert answers["error"]["data"]["code"] == "PAYLOAD_TOO_LARGE"
        elif kind != "subscription" and ROUTER.procedures[path].input_type is not None:
            for item in answers:
                assert item["error"]["data"]["code"] == "PARSE_ERROR"


@pytest.mark.parametrize("path", [p for p, k in PROCEDURES if k == "subscription"])
def test_subscription_inputs_end_in_a_trpc_error_or_data(fuzz_server: ErrandsServer,
                                                        path: str) -> None:
    @settings(FUZZ, max_examples=60)
    @given(value=st.one_of(inputs, deep))
    def run(value: Any) -> None:
        with fuzz_server.client.stream(
                "GET", f"{fuzz_server.url}/{path}", params={"input": encode(value)},
                headers={**fuzz_server.headers(), "accept": "text/event-stream"},
                timeout=10) as response:
            assert response.status_code < 500
            if response.headers["content-type"].startswith("application/json"):
                response.read()
                check_answer(response)
                return
            event: str | None = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data:") and event == "serialized-error":
                    check_envelope({"error": msgspec.json.decode(line[5:])}, None)
                    return
                elif line.startswith("data:") and event != "connected":
                    return  # a ping or data: the input was accepted

    run()


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)),
       path=st.sampled_from([p for p, k in PROCEDURES if k != "subscription"]
                            + ["nope", "tasks..get", "%zz"]))
def test_raw_bodies_and_paths(fuzz_server: ErrandsServer, body: bytes, path: str) -> None:
    response = fuzz_server.client.post(f"{fuzz_server.url}/{path}", content=body, headers={
        **fuzz_server.headers(), "content-type": "application/json"})
    check_answer(response)


def raw_get(server: ErrandsServer, target: str) -> tuple[int, bytes]:
    """A GET whose URL no client library would send (too long for httpx's URL limit)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     f"Authorization: Bearer admin-key\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize("target", [
    "/trpc/" + ",".join(["system.health"] * 10_000) + "?batch=1",
    "/trpc/tasks.list?input=" + "a" * 100_000,
    "/trpc/" + ",".join(["tasks.get"] * 150) + "?batch=1",
    "/trpc/tasks.list?input=" + "%5B" * 3000 + "%5D" * 3000,
])
def test_huge_urls_and_batches_answer_in_trpc_shape(fuzz_server: ErrandsServer,
                                                   target: str) -> None:
    status, body = raw_get(fuzz_server, target)
    response = httpx.Response(status, content=body)
    check_answer(response)
    assert status == 400
    assert response.json()["error"]["data"]["code"] in ("BAD_REQUEST", "PARSE_ERROR")
