"""The official @trpc/client 11 (tests/js) against the test router, with every link type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.node import run_node
from tests.support.trpc_testapp import AppState, running_testapp

PRELUDE = """
import { makeClient, call, collect, settle, print } from './client.mjs';
const client = (link, apiKey = process.env.API_KEY) =>
  makeClient({ url: process.env.TRPC_URL, apiKey, link });
"""


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, AppState]]:
    with running_testapp() as (url, state):
        yield url, state


def node(served: tuple[str, AppState], body: str, **env: str) -> Any:
    return run_node(PRELUDE + body, {"TRPC_URL": served[0] + "/trpc", "API_KEY": "good", **env})


@pytest.mark.parametrize("link", ["http", "batch", "stream"])
def test_queries_and_mutations(served: tuple[str, AppState], link: str) -> None:
    result = node(served, """
const c = client(process.env.LINK);
print(await Promise.all([
  call(c, 'greet', 'query', 'bob'),
  call(c, 'post.byId', 'query', 2),
  call(c, 'undef', 'query'),
  call(c, 'opt', 'query'),
  call(c, 'when', 'query'),
  call(c, 'whoami', 'query'),
  call(c, 'add', 'mutation', { x: 1 }),
  call(c, 'add', 'mutation'),
]));
""", LINK=link)
    assert result == [{"hello": "bob"}, {"id": 2}, None, 50, {"createdAt": "2026-01-02T03:04:05Z"},
                      "Bearer good", {"added": {"x": 1}}, {}]


@pytest.mark.parametrize("link", ["http", "batch", "stream"])
def test_errors_arrive_as_trpc_client_errors(served: tuple[str, AppState], link: str) -> None:
    result = node(served, """
const c = client(process.env.LINK);
const anonymous = client(process.env.LINK, '');
print(await Promise.all([
  settle(call(c, 'fail', 'query')),
  settle(call(c, 'boom', 'query')),
  settle(call(c, 'nope', 'query')),
  settle(call(anonymous, 'whoami', 'query')),
  settle(call(c, 'validate', 'mutation', { name: 'n', executionConfig: { apiEndpoint: 1 } })),
  settle(call(c, 'greet', 'query', 'still fine')),
]));
""", LINK=link)
    errors = [r["error"] for r in result[:5]]
    assert all(e["isTRPCClientError"] and e["name"] == "TRPCClientError" for e in errors)
    assert [(e["code"], e["httpStatus"]) for e in errors] == [
        ("UNAUTHORIZED", 401), ("INTERNAL_SERVER_ERROR", 500), ("NOT_FOUND", 404),
        ("UNAUTHORIZED", 401), ("BAD_REQUEST", 400)]
    assert errors[0]["message"] == "nope"
    assert errors[1]["message"] == "Internal server error"
    assert errors[2]["message"] == 'No procedure found on path "nope"'
    assert errors[4]["message"] == "executionConfig.apiEndpoint: Expected `str`, got `int`"
    assert errors[4]["issues"] == [{"path": ["executionConfig", "apiEndpoint"],
                                    "message": "Expected `str`, got `int`"}]
    assert result[5] == {"ok": True, "data": {"hello": "still fine"}}


def test_a_failing_context_fails_every_call_of_the_batch(served: tuple[str, AppState]) -> None:
    result = node(served, """
const c = client('batch', 'bad');
print(await Promise.all([
  settle(call(c, 'greet', 'query', 'a')),
  settle(call(c, 'noInput', 'query')),
]));
""")
    assert [r["error"]["code"] for r in result] == ["UNAUTHORIZED", "UNAUTHORIZED"]


def test_streamed_batch_delivers_fast_calls_first(served: tuple[str, AppState]) -> None:
    result = node(served, """
const c = client('stream');
const order = [];
const gated = call(c, 'gated', 'query', 'e2e').then((v) => { order.push(v); });
const fast = call(c, 'greet', 'query', 'fast').then((v) => { order.push(v); });
await fast;   // resolves while 'gated' still waits in the same streamed batch
order.push(await call(c, 'release', 'mutation', 'e2e') ?? 'released');
await gated;
print(order);
""")
    assert result == [{"hello": "fast"}, "released", "released e2e"]


def test_subscription_with_ids(served: tuple[str, AppState]) -> None:
    result = node(served, """
const c = client('batch');
print([
  await collect(c, 'ticks', undefined),
  await collect(c, 'ticks', { lastEventId: '3' }),
  await collect(c, 'whoamiSub', undefined, { max: 1 }),
]);
""")
    everything, resumed, whoami = result
    assert [e["id"] for e in everything["events"]] == ["1", "2", "3", "4", "5"]
    assert everything["events"][0]["data"] == {"n": 1}
    assert everything["stopped"] and everything["error"] is None
    assert [e["id"] for e in resumed["events"]] == ["4", "5"]
    assert whoami["events"] == [{"id": None, "data": "Bearer good"}]


def test_subscription_resumes_after_a_retryable_error(served: tuple[str, AppState]) -> None:
    result = node(served, "print(await collect(client('batch'), 'flaky', undefined));")
    assert [e["id"] for e in result["events"]] == ["1", "2", "3", "4"]
    assert result["stopped"] and not result["timedOut"]
    assert any(s["error"] and s["error"]["code"] == "INTERNAL_SERVER_ERROR"
               for s in result["states"])


def test_subscription_errors(served: tuple[str, AppState]) -> None:
    result = node(served, """
print([
  await collect(client('batch'), 'subErr', undefined),
  await collect(client('batch', ''), 'whoamiSub', undefined),
]);
""")
    failed, refused = result
    assert failed["events"] == [{"id": None, "data": 1}]
    assert (failed["error"]["code"], failed["error"]["message"]) == ("FORBIDDEN", "no")
    assert refused["events"] == []
    assert refused["error"]["code"] == "UNAUTHORIZED"
