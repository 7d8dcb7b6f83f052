"""/trpc answered before Litestar's routing (server/rpc/litestar.py ``TRPCFirst``, an ASGI app
around Litestar, no subclass of it): the same answers as through Litestar's public mount —
statuses, bodies, headers, request ids, access log — and everything else still Litestar's."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.handlers import ASGIRouteHandler

from server.core.settings import ApiKey
from server.rpc.litestar import TRPCFirst
from tests.integration.test_operations import node

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*declared using deprecated inferred style:DeprecationWarning")

KEYS = (ApiKey("ops", "operator", "operator-key-123"), ApiKey("view", "viewer", "viewer-key-1"))
OPERATOR = {"authorization": "Bearer operator-key-123"}
VIEWER = {"authorization": "Bearer viewer-key-1"}

# (method, path and query, headers, body)
REQUESTS: list[tuple[str, str, dict[str, str], bytes | None]] = [
    ("GET", "/trpc/system.health", {}, None),
    ("HEAD", "/trpc/system.health", {}, None),
    ("GET", "/trpc/tasks.get?input=%7B%22id%22%3A%22tsk_nope%22%7D", OPERATOR, None),
    ("GET", "/trpc/tasks.get?input=%7B%22id%22%3A%22tsk_nope%22%7D", {}, None),
    ("GET", "/trpc/tasks.get?input=%7B%22id%22%3A1%7D", OPERATOR, None),
    ("GET", "/trpc/tasks.get,system.health?batch=1&input=%7B%220%22%3A%7B%22id%22%3A%22x%22%7D%7D",
     OPERATOR, None),
    ("GET", "/trpc/tasks.create", OPERATOR, None),
    ("POST", "/trpc/tasks.create", {**VIEWER, "content-type": "application/json"}, b"{}"),
    ("POST", "/trpc/tasks.create", {**OPERATOR, "content-type": "text/plain"}, b"{}"),
    ("POST", "/trpc/tasks.create", {**OPERATOR, "content-type": "application/json"}, b"{"),
    ("GET", "/trpc/no.such.procedure", OPERATOR, None),
    ("GET", "/trpc/bad%zzpath", OPERATOR, None),
    ("GET", "/trpc", OPERATOR, None),
    ("GET", "/trpc/", OPERATOR, None),
    ("GET", "/trpc/system.whoami", {**VIEWER, "x-request-id": "given-id-1"}, None),
]


def _shape(resp: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in resp.headers.items()
                     if k not in ("date", "server", "x-request-id"))
    return resp.status_code, headers, resp.content


async def test_trpc_first_answers_as_the_litestar_mount(sqlite_database_url: str,
                                                        tmp_path: Path) -> None:
    """Each request over HTTP (uvicorn → TRPCFirst) and to the Litestar app it wraps, whose
    ``/trpc`` is Litestar's public ASGI mount, gets the same answer."""
    async with node(sqlite_database_url, tmp_path, api_keys=KEYS) as n:
        assert isinstance(n.app, TRPCFirst) and type(n.app.litestar) is Litestar
        handler = n.app.litestar.route_handler_method_map["/trpc"]["asgi"]
        assert isinstance(handler, ASGIRouteHandler) and handler.is_mount
        mounted = httpx.AsyncClient(transport=httpx.ASGITransport(app=n.app.litestar),
                                    base_url="http://127.0.0.1")
        async with mounted:
            for method, url, headers, body in REQUESTS:
                fast = await n.client.request(method, url, headers=headers, content=body)
                slow = await mounted.request(method, url, headers=headers, content=body)
                assert _shape(fast) == _shape(slow), (method, url)
                assert fast.headers["x-request-id"]
                if "x-request-id" in headers:
                    assert fast.headers["x-request-id"] == headers["x-request-id"]
        assert (await n.client.get("/trpc/system.health")).status_code == 200


async def test_other_paths_are_litestars(sqlite_database_url: str, tmp_path: Path) -> None:
    async with node(sqlite_database_url, tmp_path) as n:
        assert (await n.client.get("/healthz")).status_code == 200
        assert (await n.client.get("/trpcx/system.health")).status_code == 404
        assert (await n.client.get("/trpc-types.ts")).status_code == 200


async def test_trpc_first_writes_the_access_log(sqlite_database_url: str, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    async with node(sqlite_database_url, tmp_path, access_log=True) as n:
        with caplog.at_level(logging.INFO, logger="errands.access"):
            resp = await n.client.get("/trpc/system.health?input=secret",
                                      headers={"x-request-id": "req-access-1"})
        assert resp.status_code == 200
    lines = [r for r in caplog.records if r.name == "errands.access"]
    assert [r.getMessage().split()[:3] for r in lines] == [["GET", "/trpc/system.health", "200"]]
    assert lines[0].fields["requestId"] == "req-access-1"  # type: ignore[attr-defined]
