"""The user's experience: the official @trpc/client 11 against the running Errands server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.http_servers import HttpServer
from tests.support.node import run_node
from tests.support.server import ErrandsServer


@pytest.fixture
def sink() -> Iterator[HttpServer]:
    with HttpServer() as server:
        server.route("/hook", json={"received": True})
        yield server


LIVE_SCRIPT = r"""
import { makeClient, print } from './client.mjs';
const c = makeClient({ url: process.env.TRPC_URL, apiKey: process.env.API_KEY, link: 'batch' });
const all = [];
let created;
let seen = [];
let finish;
const check = () => {
  if (!created) return;
  seen = all.filter((e) => e.task === created.id).map(({ task, ...rest }) => rest);
  if (seen.some((e) => ['completed', 'failed'].includes(e.status))) finish();
};
const done = new Promise((resolve, reject) => {
  // The timer is cleared once done: a pending one would keep node alive for its 20 s.
  const timer = setTimeout(() => reject(new Error('timed out: ' + JSON.stringify(seen))), 20000);
  finish = () => { clearTimeout(timer); sub.unsubscribe(); resolve(); };
  const sub = c.tasks.onChange.subscribe({}, {
    onStarted: async () => {
      created = await c.tasks.create.mutate({ title: 'live', taskType: 'api_call',
        executionConfig: { apiEndpoint: process.env.SINK } });
      check();
    },
    onData: (ev) => {
      // The created event may arrive before the mutation's answer: keep everything, filter later.
      all.push({ id: ev.id, task: ev.data.task.id, type: ev.data.type,
                 status: ev.data.task.status,
                 execution: ev.data.execution ? ev.data.execution.status : null });
      check();
    },
    onError: (err) => { clearTimeout(timer); reject(err); },
  });
});
await done;
const executions = await c.tasks.executions.query({ taskId: created.id });
const [task, list] = await Promise.all([c.tasks.get.query({ id: created.id }),
                                        c.tasks.list.query({ limit: 5 })]);
print({ seen, executions, task, listed: list.items.map((t) => t.id) });
"""


def test_live_status_through_on_change(database_url: str, sink: HttpServer,
                                       errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(database_url, api_key="k1",
                            env={"ERRANDS_API_KEYS": "web:operator:k1"})
    out = run_node(LIVE_SCRIPT, {"TRPC_URL": server.url, "API_KEY": "k1",
                                 "SINK": sink.url_for("/hook")})
    statuses = [e["status"] for e in out["seen"]]
    assert statuses == ["queued", "in_progress", "completed"], out["seen"]
    assert [e["type"] for e in out["seen"]] == ["created", "execution", "execution"]
    assert out["seen"][1]["execution"] == "running"
    assert out["seen"][2]["execution"] == "success"
    ids = [int(e["id"]) for e in out["seen"]]
    assert ids == sorted(ids)
    assert [x["status"] for x in out["executions"]] == ["success"]
    assert out["task"]["status"] == "completed"
    assert out["task"]["id"] in out["listed"]


LINKS_SCRIPT = r"""
import { makeClient, call, settle, print } from './client.mjs';
const results = {};
for (const link of ['http', 'batch', 'stream']) {
  const c = makeClient({ url: process.env.TRPC_URL, link });
  const [health, created, bad, missing] = await Promise.all([
    settle(c.system.health.query()),
    settle(c.tasks.create.mutate({ title: link, taskType: 'api_call', executionType: 'manual',
                                   executionConfig: { apiEndpoint: 'https://example.com' } })),
    settle(c.tasks.create.mutate({ title: link, taskType: 'api_call',
                                   executionConfig: { apiEndpoint: 42 } })),
    settle(c.tasks.get.query({ id: 'tsk_missing' })),
  ]);
  results[link] = { health, created, bad, missing };
}
print(results);
"""


def test_every_link_type_and_error_shapes(sqlite_database_url: str,
                                          errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url)
    out = run_node(LINKS_SCRIPT, {"TRPC_URL": server.url})
    for link, r in out.items():
        assert r["health"]["ok"] and r["health"]["data"]["status"] == "ok", link
        assert r["created"]["ok"] and r["created"]["data"]["status"] == "pending", link
        bad = r["bad"]["error"]
        assert bad["code"] == "BAD_REQUEST" and bad["httpStatus"] == 400, link
        assert {"path": ["executionConfig", "apiEndpoint"],
                "message": "Expected `str`, got `int`"} in bad["issues"], link
        assert r["missing"]["error"]["code"] == "NOT_FOUND", link


RESUME_SCRIPT = r"""
import { makeClient, collect, print } from './client.mjs';
const c = makeClient({ url: process.env.TRPC_URL, apiKey: process.env.API_KEY });
const t = await c.tasks.create.mutate({ title: 'a', taskType: 'api_call', executionType: 'manual',
                                        executionConfig: { apiEndpoint: 'https://example.com' } });
await c.tasks.cancel.mutate({ id: t.id, reason: 'one' });
const first = await collect(c, 'tasks.onChange', { id: t.id, lastEventId: '0' },
                            { max: 2, timeoutMs: 5000 });
const resumed = await collect(c, 'tasks.onChange', { id: t.id, lastEventId: first.events[0].id },
                              { max: 1, timeoutMs: 5000 });
const denied = await collect(makeClient({ url: process.env.TRPC_URL, apiKey: 'wrong' }),
                             'tasks.onChange', {}, { max: 1, timeoutMs: 3000 });
print({ first, resumed, denied });
"""


def test_subscription_replays_after_last_event_id_and_needs_a_key(
        sqlite_database_url: str, errands_server: Callable[..., ErrandsServer]) -> None:
    server = errands_server(sqlite_database_url, api_key="k2",
                            env={"ERRANDS_API_KEYS": "ops:admin:k2"})
    out = run_node(RESUME_SCRIPT, {"TRPC_URL": server.url, "API_KEY": "k2"})
    first = out["first"]["events"]
    assert [e["data"]["type"] for e in first] == ["created", "status"]
    assert first[1]["data"]["task"]["status"] == "cancelled"
    resumed = out["resumed"]["events"]
    assert [e["id"] for e in resumed] == [first[1]["id"]]
    assert out["denied"]["events"] == []
    assert out["denied"]["error"]["code"] == "UNAUTHORIZED"
