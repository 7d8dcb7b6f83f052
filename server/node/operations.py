"""What an operator points tools at (CONTRACT §12): ``/metrics``, ``/healthz``, ``/readyz``,
and the HTTP middleware that gives every request its id, its access-log line, and ends open
subscriptions when the node drains.

- ``X-Request-ID``: taken from the request when it is a sane token (printable, ≤ 128 chars),
  else made (``req_`` + 16 hex); set as the ``requestId`` log field for everything the request
  does, put on the tRPC context as ``request_id``, and echoed on every response — errors and
  SSE streams included.
- Draining: an SSE response is ended (its body closed, no ``return`` event) as soon as the
  node starts draining, so the client's EventSource reconnects — to another node behind the
  load balancer, which ``/readyz`` already steers it to.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, cast

import sqlalchemy as sa
from litestar import Request, get
from litestar.datastructures import State
from litestar.response import Response
from litestar.types import ASGIApp

from server.core import logs
from server.core.errors import Forbidden, Unauthorized
from server.db.engine import Database, migrations_head
from server.node.metrics import CONTENT_TYPE

log = logging.getLogger("errands")
access_log = logging.getLogger("errands.access")
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")
_HEADER = b"x-request-id"


class Drain:
    """Draining the node (SIGTERM): at once not ready, no claiming, subscriptions ended (the
    middleware watches ``draining``); what is in flight gets ``grace_seconds`` to finish.

    ``stoppers`` are awaited together with the grace (the runner's and the automations'
    ``stop``); :meth:`begin` starts them once, :meth:`wait` gives their failures.
    """

    def __init__(self, grace_seconds: float,
                 stoppers: Iterable[Callable[[float], Awaitable[object]]]) -> None:
        self.grace_seconds = grace_seconds
        self.stoppers = list(stoppers)
        self.draining = asyncio.Event()
        self._drain: asyncio.Future[list[object]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self) -> None:
        """Remember the running loop, for :meth:`request` from a signal handler."""
        self._loop = asyncio.get_running_loop()

    def request(self, then: Callable[[], object] = lambda: None) -> bool:
        """From a signal handler: begin draining on the event loop, and call ``then`` once
        the drain has ended. False before the loop is bound (nothing started yet)."""
        loop = self._loop
        if loop is None:
            return False

        def begin() -> None:
            self.begin()
            assert self._drain is not None
            self._drain.add_done_callback(lambda _: then())

        loop.call_soon_threadsafe(begin)
        return True

    def begin(self) -> None:
        if self._drain is not None:
            return
        self.draining.set()
        grace = self.grace_seconds
        log.info("draining: not ready, claiming stopped, subscriptions closed; "
                 "attempts in flight get %g s", grace)
        self._drain = asyncio.ensure_future(asyncio.gather(
            *(stop(grace) for stop in self.stoppers), return_exceptions=True))

    async def wait(self) -> list[BaseException]:
        """Begin if not yet, wait for the stoppers; the exceptions they raised."""
        self.begin()
        assert self._drain is not None
        return [failure for failure in await self._drain if isinstance(failure, BaseException)]


class Node(Protocol):
    """What the probes need from the app (``server.node.app.Node``)."""

    db: Database
    draining: asyncio.Event
    ready: bool

    def dead_loops(self) -> list[str]: ...


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == _HEADER:
            text = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
            break
    return "req_" + os.urandom(8).hex()


def request_middleware(node: Callable[[], Any], *, access: bool) -> Callable[[ASGIApp], ASGIApp]:
    """Litestar middleware factory; ``node()`` returns the app's ``Node`` (its drain event)."""

    def middleware(app: ASGIApp) -> ASGIApp:
        inner: Any = app

        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            request_id = request_id_from(scope["headers"])
            token = logs.request_id_var.set(request_id)
            draining: asyncio.Event = node().draining
            started = time.perf_counter()
            state: dict[str, Any] = {"status": 0, "sse": False, "done": False}

            async def send_with_id(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    headers = [h for h in message.get("headers", []) if h[0].lower() != _HEADER]
                    headers.append((_HEADER, request_id.encode("latin-1")))
                    message = {**message, "headers": headers}
                    state["status"] = message["status"]
                    state["sse"] = any(k.lower() == b"content-type" and
                                       v.startswith(b"text/event-stream") for k, v in headers)
                elif message["type"] == "http.response.body" and not message.get("more_body"):
                    state["done"] = True
                await send(message)

            async def receive_until_drain() -> dict[str, Any]:
                if not state["sse"]:
                    return cast(dict[str, Any], await receive())
                # A subscription: the client "leaves" when the node drains.
                got = asyncio.ensure_future(receive())
                drained = asyncio.ensure_future(draining.wait())
                done, _ = await asyncio.wait({got, drained},
                                             return_when=asyncio.FIRST_COMPLETED)
                if got in done:
                    drained.cancel()
                    return cast(dict[str, Any], got.result())
                got.cancel()
                return {"type": "http.disconnect"}

            try:
                await inner(scope, receive_until_drain, send_with_id)
                if state["sse"] and not state["done"] and draining.is_set():
                    # End the stream cleanly (no "return" event): the client reconnects.
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                logs.request_id_var.reset(token)
                if access:
                    _log_access(scope, state["status"], started, request_id)

        return cast(ASGIApp, wrapped)

    return middleware


def _log_access(scope: Any, status: int, started: float, request_id: str) -> None:
    # The path only: query strings may carry inputs (emails, phone numbers).
    raw = scope.get("raw_path")
    path = raw.decode("latin-1").partition("?")[0] if raw else scope.get("path", "")
    ms = round((time.perf_counter() - started) * 1000, 1)
    access_log.info("%s %s %s %.1fms", scope.get("method"), path, status, ms,
                    extra={"fields": {"requestId": request_id, "method": scope.get("method"),
                                      "path": path, "status": status, "durationMs": ms}})


# --- probes ---------------------------------------------------------------------------------

async def readiness(node: Node) -> list[str]:
    """Why this node should not get traffic now (empty: ready)."""
    problems: list[str] = []
    if node.draining.is_set():
        return ["draining"]
    if not node.ready:
        return ["starting"]
    problems.extend(f"{name} loop stopped" for name in node.dead_loops())
    try:
        async with asyncio.timeout(2):
            async with node.db.read() as conn:
                current = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    except Exception:
        problems.append("database unreachable")
    else:
        if current != migrations_head():
            problems.append(f"migrations not at head ({current} != {migrations_head()})")
        if not await node.db.storage_writable():  # after a full disk: writes again?
            problems.append("storage unavailable")
    return problems


@get("/healthz", include_in_schema=False)
async def healthz() -> Response[dict[str, str]]:
    """Liveness: the process answers. No database: a database outage must not restart nodes."""
    return Response({"status": "ok"})


@get("/readyz", include_in_schema=False)
async def readyz(state: State) -> Response[dict[str, Any]]:
    problems = await readiness(state.node)
    if problems:
        return Response({"status": "unavailable", "problems": problems}, status_code=503)
    return Response({"status": "ready"})


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, State], state: State) -> Response[Any]:
    node = state.node
    if not node.settings.metrics_public:
        try:
            node.keyring.authenticate(request.headers.get("authorization")).require("read")
        except (Unauthorized, Forbidden) as exc:
            return Response({"error": exc.message}, status_code=401 if isinstance(
                exc, Unauthorized) else 403)
    await node.metrics.refresh(node.db, node.clock())
    return Response(node.metrics.exposition(), media_type=CONTENT_TYPE)


ROUTES: list[Callable[..., Awaitable[Any]] | Any] = [healthz, readyz, metrics]
