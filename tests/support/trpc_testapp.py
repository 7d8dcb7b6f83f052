"""A test router mirroring the procedures of fixtures/trpc-v11-wire-captures.txt, served by
uvicorn on 127.0.0.1 through Litestar with ``trpc_mount`` (as in production).

Mounts: ``/trpc`` (method override on, the default) and ``/strict`` (override off).

Procedures beyond the fixture's: ``whoami`` (needs ``Bearer good``, from the Authorization
header or ``connectionParams``), ``validate`` (a camelCase Struct input), ``opt`` (an input
whose fields all have defaults), ``when`` (a datetime output), ``gated`` / ``release`` (a
query that waits until released, to show stream order without timing), ``ticks`` (tracked
items that resume after ``lastEventId``), ``flaky`` (fails with an internal error once, then
resumes), ``forever`` / ``closedCount`` (an endless subscription whose close is counted).
A context whose Authorization is ``Bearer bad`` fails in ``create_context``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar

from server.core.errors import Unauthorized
from server.node.wire_errors import to_trpc
from server.rpc import Procedure, RequestInfo, Router, Tracked, TRPCApp, TRPCError
from server.rpc.litestar import trpc_mount


class ExecutionConfig(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    api_endpoint: str


class CreateInput(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    name: str
    execution_config: ExecutionConfig
    tags: list[int] = msgspec.field(default_factory=list)


class OptInput(msgspec.Struct, forbid_unknown_fields=True):
    limit: int = 50


class When(msgspec.Struct, rename="camel"):
    created_at: datetime


@dataclass
class AppState:
    """What the procedures share; lives on the server's event loop."""

    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    flaky_failed: bool = False
    closed: int = 0
    contexts: list[RequestInfo] = field(default_factory=list)
    internal_errors: list[tuple[BaseException, str | None]] = field(default_factory=list)

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())


def build_router(state: AppState) -> Router:  # noqa: C901 - one small function per procedure
    router = Router()

    @router.query("greet", input=str, output=dict[str, str])
    async def greet(ctx: Any, name: str) -> dict[str, str]:
        return {"hello": name}

    @router.query("noInput", output=str)
    async def no_input(ctx: Any, _: None) -> str:
        return "none"

    @router.query("undef", output=None)
    async def undef(ctx: Any, _: None) -> None:
        return None

    @router.query("post.byId", input=int, output=dict[str, int])
    async def post_by_id(ctx: Any, post_id: int) -> dict[str, int]:
        return {"id": post_id}

    @router.mutation("add", input=dict[str, Any] | None, output=dict[str, Any])
    async def add(ctx: Any, value: dict[str, Any] | None) -> dict[str, Any]:
        return {} if value is None else {"added": value}

    @router.query("fail", output=None)
    async def fail(ctx: Any, _: None) -> None:
        raise TRPCError("UNAUTHORIZED", "nope")

    @router.query("boom", output=None)
    async def boom(ctx: Any, _: None) -> None:
        raise RuntimeError("kaboom: SELECT secret FROM keys")

    @router.query("slow", output=str)
    async def slow(ctx: Any, _: None) -> str:
        await asyncio.sleep(0.05)
        return "slow"

    @router.query("gated", input=str, output=str)
    async def gated(ctx: Any, name: str) -> str:
        await asyncio.wait_for(state.gate(name).wait(), 30)
        return f"released {name}"

    @router.mutation("release", input=str, output=None)
    async def release(ctx: Any, name: str) -> None:
        state.gate(name).set()

    @router.query("whoami", output=str, permission="secret")
    async def whoami(ctx: Any, _: None) -> str:
        return str(ctx["auth"])

    @router.mutation("validate", input=CreateInput, output=CreateInput)
    async def validate(ctx: Any, value: CreateInput) -> CreateInput:
        return value

    @router.query("opt", input=OptInput, output=int)
    async def opt(ctx: Any, value: OptInput) -> int:
        return value.limit

    @router.query("when", output=When)
    async def when(ctx: Any, _: None) -> When:
        return When(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))

    @router.query("closedCount", output=int)
    async def closed_count(ctx: Any, _: None) -> int:
        return state.closed

    _add_subscriptions(router, state)
    return router


def _add_subscriptions(router: Router, state: AppState) -> None:
    @router.subscription("sub", input=dict[str, Any] | None, output=Any)
    async def sub(ctx: Any, value: dict[str, Any] | None) -> AsyncIterator[Any]:
        yield Tracked("1", {"n": 1, "input": value})
        yield {"plain": True}
        await asyncio.sleep(0.01)
        yield Tracked("2", {"n": 2})

    @router.subscription("subErr", output=int)
    async def sub_err(ctx: Any, _: None) -> AsyncIterator[int]:
        yield 1
        raise TRPCError("FORBIDDEN", "no")

    @router.subscription("ticks", input=dict[str, Any] | None, output=dict[str, int])
    async def ticks(ctx: Any, value: dict[str, Any] | None) -> AsyncIterator[Any]:
        start = int((value or {}).get("lastEventId") or 0) + 1
        for n in range(start, 6):
            yield Tracked(str(n), {"n": n})

    @router.subscription("flaky", input=dict[str, Any] | None, output=dict[str, int])
    async def flaky(ctx: Any, value: dict[str, Any] | None) -> AsyncIterator[Any]:
        start = int((value or {}).get("lastEventId") or 0) + 1
        for n in range(start, 5):
            if n == 3 and not state.flaky_failed:
                state.flaky_failed = True
                raise RuntimeError("lost the connection to the event source")
            yield Tracked(str(n), {"n": n})

    @router.subscription("forever", output=dict[str, int])
    async def forever(ctx: Any, _: None) -> AsyncIterator[Any]:
        try:
            yield Tracked("1", {"n": 1})
            await asyncio.Event().wait()
        finally:
            state.closed += 1

    @router.subscription("whoamiSub", output=str, permission="secret")
    async def whoami_sub(ctx: Any, _: None) -> AsyncIterator[str]:
        yield str(ctx["auth"])


def build_trpc_app(state: AppState, *, method_override: bool = True) -> TRPCApp:
    async def create_context(info: RequestInfo) -> dict[str, Any]:
        state.contexts.append(info)
        auth = info.headers.get("authorization") or (info.connection_params or {}).get(
            "authorization")
        if auth == "Bearer bad":
            raise Unauthorized()
        return {"auth": auth}

    def authorize(ctx: dict[str, Any], procedure: Procedure) -> None:
        if procedure.permission == "secret" and ctx["auth"] != "Bearer good":
            raise TRPCError("UNAUTHORIZED", "who are you?")

    def on_internal_error(exc: BaseException, path: str | None) -> None:
        state.internal_errors.append((exc, path))

    return TRPCApp(build_router(state), create_context=create_context, authorize=authorize,
                   map_error=to_trpc, on_internal_error=on_internal_error,
                   max_batch_size=10, max_body_bytes=4096, sse_ping_seconds=0.2,
                   reconnect_after_inactivity_ms=5000, allow_method_override=method_override)


def build_litestar(state: AppState) -> Litestar:
    return Litestar(route_handlers=[
        trpc_mount(build_trpc_app(state)),
        trpc_mount(build_trpc_app(state, method_override=False), path="/strict"),
    ])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def running_testapp() -> Iterator[tuple[str, AppState]]:
    """The test app served on a free port: ``(base URL without /trpc, state)``."""
    state = AppState()
    with serve(build_litestar(state)) as url:
        yield url, state
