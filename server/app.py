"""create_app(settings) -> Litestar: the one wiring point.

The lifespan builds, in order: the database (migrated), the httpx client, the network guard,
the executors, the writer and its signals, the task service, the runner, the scheduler with
its timers, and the tRPC app mounted at ``/trpc``. Shutdown runs in reverse: stop claiming,
let attempts finish for ``SHUTDOWN_GRACE_SECONDS``, interrupt the rest, close everything.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.response import File, Response

from executors.api_call import ApiCallExecutor
from executors.base import Executor
from executors.browser import BrowserAutomationExecutor
from executors.browser_pool import BrowserPool
from executors.extraction import DataExtractionExecutor
from executors.ghl import GhlExecutor
from executors.ghl_rate import LocalRateBudget
from executors.registry import ExecutorRegistry
from outbound import NetworkGuard, PinnedTransport
from server import logs, tracing
from server.artifacts import FileArtifactStore
from server.auth import ANONYMOUS, KeyRing, Principal
from server.claims import Caps
from server.console import console_router
from server.context import Context, Services
from server.db import repositories as repo
from server.db import retention
from server.db.audit import audit_prune
from server.db.engine import Database
from server.errors import Forbidden, Unauthorized, to_trpc
from server.events import EventHub
from server.metrics import Metrics, Sources
from server.operations import ROUTES as OPERATIONS_ROUTES
from server.operations import request_middleware
from server.procedures import build_router
from server.retry import RetryPolicy
from server.rpc.app import RequestInfo, TRPCApp
from server.rpc.errors import TRPCError
from server.rpc.litestar import trpc_mount
from server.rpc.registry import Procedure, Router
from server.runner import Runner, RunnerConfig
from server.scheduling import DueTimer, make_scheduler, stop_scheduler
from server.services.audit import AuditService
from server.services.automations import Automations
from server.services.autorun import AutorunService
from server.services.changes import Signals, Writer
from server.services.stalls import StallWatch
from server.services.task_events import EventFeed
from server.services.tasks import TaskService
from server.settings import Settings
from server.typegen import render_typescript

VERSION = "0.1.0"
log = logging.getLogger("errands")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _authorize(ctx: Context, procedure: Procedure) -> None:
    ctx.principal.require(procedure.permission)


def _map_error(exc: BaseException) -> TRPCError | None:
    return to_trpc(exc)


def http_client(max_connections: int, guard: NetworkGuard) -> httpx.AsyncClient:
    """An outbound client. Cookies are refused: one task's answers must not reach another.
    Connections go to the addresses the guard checked (``outbound.PinnedTransport``)."""
    no_cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=max_connections)
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0), cookies=no_cookies,
                             transport=PinnedTransport(guard, limits=limits),
                             event_hooks=tracing.httpx_hooks())  # traceparent when tracing


def build_executors(settings: Settings, http: httpx.AsyncClient,
                    api_clients: list[httpx.AsyncClient], guard: NetworkGuard,
                    pool: BrowserPool) -> list[Executor]:
    ghl_budget = LocalRateBudget(settings.ghl_rate_limit, settings.ghl_rate_window_seconds)
    return [
        ApiCallExecutor(api_clients, guard, response_body_limit=settings.response_body_limit),
        GhlExecutor(http, api_key=settings.ghl_api_key, location_id=settings.ghl_location_id,
                    base_url=settings.ghl_base_url, budget=ghl_budget),
        BrowserAutomationExecutor(pool),
        DataExtractionExecutor(pool),
    ]


class Errands:
    """Everything the lifespan builds, kept on ``app.state.errands``."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock
        self.keyring = KeyRing(settings.api_keys)
        self.db = Database(settings.database_url)
        self.hub = EventHub()
        # SQLite: one process writes, so committed events go straight to subscribers.
        # PostgreSQL: other nodes write too, so events reach subscribers from the table.
        self.event_feed = None if self.db.is_sqlite else EventFeed(self.db, self.hub)
        self.signals = Signals(publish=self.hub.publish if self.event_feed is None
                               else self.event_feed.kick)
        self.writer = Writer(self.db, self.signals, clock)
        self.guard = NetworkGuard(allow_private=settings.allow_private_network)
        self.http = http_client(100, self.guard)
        # api_call gets several small pools (httpcore scans a whole pool on every request).
        shards = max(1, min(8, settings.worker_concurrency // 8))
        self.api_clients = [http_client(max(8, settings.worker_concurrency // shards + 1),
                                        self.guard) for _ in range(shards)]
        self.browser_pool = BrowserPool(chromium_path=settings.chromium_path,
                                        concurrency=settings.browser_concurrency,
                                        guard=self.guard, http=self.http)
        self.artifacts = FileArtifactStore(settings.artifacts_dir, url_prefix="/artifacts")
        self.executors = ExecutorRegistry(build_executors(settings, self.http, self.api_clients,
                                                          self.guard, self.browser_pool))
        # Webhooks, delivery, reports, schedules: server/services/automations.py
        self.automations = Automations(settings, self.db, self.http, self.guard, clock)
        for executor in self.automations.executors():
            self.executors.add(executor)
        self.tasks = TaskService(self.db, self.writer, self.executors,
                                 review_required_types=settings.review_required_types,
                                 clock=clock,
                                 webhook_exists=self.automations.webhooks.exists)
        # The node's stable identity owns its leases, so a restarted node takes its own
        # attempts back at once (README "Crashes and recovery").
        self.worker_id = settings.node_id or (
            f"{socket.gethostname()}:{settings.port}" if settings.port
            else f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}")
        self.runner = Runner(db=self.db, writer=self.writer, executors=self.executors,
                             config=RunnerConfig(concurrency=settings.worker_concurrency,
                                                 lease_seconds=settings.lease_seconds,
                                                 poll_seconds=5.0 if self.db.is_sqlite else 1.0,
                                                 retry=RetryPolicy(settings.retry_base_seconds),
                                                 caps=Caps(settings.type_caps,
                                                           settings.host_concurrency),
                                                 max_lost_attempts=settings.max_lost_attempts,
                                                 rescue_seconds=None if self.db.is_sqlite
                                                 else min(1.0, settings.lease_seconds / 3)),
                             clock=clock, worker_id=self.worker_id,
                             artifacts=self.artifacts)
        self.scheduler = make_scheduler()
        self.task_timer = DueTimer(self.scheduler, "tasks", self._promote_due, clock)
        self.automations.attach(self.scheduler, self.signals, self.tasks, self.executors)
        self.signals.wake_runner = self.runner.wake
        self.signals.arm_timer = self.task_timer.arm
        self.signals.cancel_attempt = self.runner.cancel_local
        self.services = Services(settings=settings, db=self.db, tasks=self.tasks, hub=self.hub,
                                 started_monotonic=time.monotonic(), version=VERSION,
                                 scheduler_running=lambda: bool(self.scheduler.running))
        self.services.extra["automations"] = self.automations
        # Workflows and governance (CONTRACT §10): audit log, autorun switch, stalled work.
        self.audit = AuditService(self.db)
        self.autorun = AutorunService(self.db, self.writer, self.runner.pause)
        self.stalls = StallWatch(self.writer, limits=settings.stalled_after,
                                 action=settings.stalled_action,
                                 webhook_id=settings.stalled_webhook_id,
                                 delivery=self.automations.delivery)
        self.services.extra.update(audit=self.audit, autorun=self.autorun)
        self.metrics = Metrics(self._metric_sources())
        self.runner.metrics = self.metrics
        self.draining = asyncio.Event()
        self.ready = False
        self._drain: asyncio.Future[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _metric_sources(self) -> Sources:
        ghl = self.executors.get("ghl_action")
        pool = self.db.engine.pool
        return Sources(
            subscriptions=lambda: self.hub.subscriber_count,
            db_pool_in_use=lambda: int(getattr(pool, "checkedout", lambda: 0)()),
            browser_contexts=lambda: self.browser_pool.in_use,
            ghl_budget_waits=lambda: int(getattr(getattr(ghl, "_budget", None), "waits", 0)),
            ghl_rate_limited=lambda: int(getattr(ghl, "rate_limited", 0)),
            deliveries=lambda: dict(self.automations.delivery.outcomes),
            timer_lag=lambda: {t.name: t.last_lag
                               for t in (self.task_timer, *self.automations._timers)},
            attempts_in_flight=lambda: len(self.runner.running))

    def dead_loops(self) -> list[str]:
        """Loops that should run and do not (for /readyz)."""
        dead = self.runner.dead_loops()
        if not self.scheduler.running:
            dead.append("scheduler")
        return dead

    def request_drain(self) -> None:
        """From a signal handler: begin draining on the event loop."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.begin_drain)

    def begin_drain(self) -> None:
        """At once: report not ready, stop claiming, end subscriptions (the middleware
        watches ``draining``); attempts and deliveries get SHUTDOWN_GRACE_SECONDS."""
        if self._drain is not None:
            return
        self.draining.set()
        grace = self.settings.shutdown_grace_seconds
        log.info("draining: not ready, claiming stopped, subscriptions closed; "
                 "attempts in flight get %g s", grace)
        self._drain = asyncio.ensure_future(asyncio.gather(
            self.runner.stop(grace), self.automations.stop(grace), return_exceptions=True))
        self.router: Router | None = None

    async def _promote_due(self) -> datetime | None:
        async with self.writer.transaction() as cs:
            for row in await repo.task_promote_due(cs.conn, cs.now):
                cs.emit("status", row)
            upcoming = await repo.task_next_due_at(cs.conn)
        return upcoming

    async def _maintenance(self) -> None:
        try:
            await self.task_timer.run()
            await self.automations.start()  # work filed by other nodes
        except asyncio.CancelledError:  # shutdown caught it mid-run: nothing went wrong
            log.debug("maintenance interrupted by shutdown")
        except Exception:
            log.exception("maintenance failed")

    async def _housekeeping(self) -> None:
        """Old task events (kept a day, for resuming) and artifacts past their retention."""
        try:
            async with self.db.write() as conn:
                await repo.events_prune(conn, self.clock() - timedelta(days=1))
            if self.settings.audit_retention_days > 0:
                async with self.db.write() as conn:
                    await audit_prune(conn, self.clock()
                                      - timedelta(days=self.settings.audit_retention_days))
            if self.settings.artifact_retention_days > 0:
                cutoff = self.clock() - timedelta(days=self.settings.artifact_retention_days)
                await asyncio.to_thread(self.artifacts.prune, cutoff)
            await self.prune_tasks()
        except asyncio.CancelledError:
            log.debug("housekeeping interrupted by shutdown")
        except Exception:
            log.exception("housekeeping failed")

    async def _poll_autorun(self) -> None:
        try:
            await self.autorun.poll()
        except Exception:
            log.exception("reading the autorun switch failed")

    async def _check_stalls(self) -> None:
        try:
            await self.stalls.check()
        except Exception:
            log.exception("checking for stalled tasks failed")

    async def prune_tasks(self) -> int:
        """TASK_RETENTION_DAYS: old terminal tasks and what hangs off them, in small batches."""
        if self.settings.task_retention_days <= 0:
            return 0
        cutoff = self.clock() - timedelta(days=self.settings.task_retention_days)
        deleted, artifact_ids = await retention.prune(self.db, cutoff)
        if artifact_ids:
            await asyncio.to_thread(self.artifacts.remove, artifact_ids)
        if deleted:
            log.info("retention: deleted %d task(s) that ended before %s", deleted,
                     cutoff.isoformat())
        return deleted

    async def start(self) -> None:
        await self.db.migrate()
        async with self.db.read() as conn:
            self.hub.last_id = await repo.event_last_id(conn)
        self.scheduler.start()
        await self.task_timer.run()  # re-arm from the database
        await self.automations.start()  # due messages and schedules; re-arm their timers
        self.scheduler.add_job(self._maintenance, "interval",
                               seconds=max(1.0, self.settings.lease_seconds / 3),
                               id="maintenance", coalesce=True)
        self.scheduler.add_job(self._housekeeping, "interval", minutes=10, id="housekeeping",
                               coalesce=True, next_run_time=self.clock())
        await self._poll_autorun()
        self.scheduler.add_job(self._poll_autorun, "interval", seconds=1, id="autorun",
                               coalesce=True, max_instances=1)
        self.scheduler.add_job(self._check_stalls, "interval",
                               seconds=self.settings.stalled_check_seconds, id="stalls",
                               coalesce=True, max_instances=1)
        await self.runner.start()
        if self.event_feed is not None:
            self.event_feed.start()
        self._loop = asyncio.get_running_loop()
        self.ready = True

    async def stop(self) -> None:
        self.begin_drain()
        assert self._drain is not None
        for failure in await self._drain:
            if isinstance(failure, BaseException):
                log.error("stopping failed", exc_info=failure)
        if self.event_feed is not None:
            await self.event_feed.stop()
        await stop_scheduler(self.scheduler)
        await self.browser_pool.close()
        for client in (self.http, *self.api_clients):
            await client.aclose()
        await self.db.dispose()

    async def context(self, info: RequestInfo) -> Context:
        authorization = info.headers.get("authorization")
        if authorization is None and info.connection_params:
            authorization = info.connection_params.get("authorization") or \
                info.connection_params.get("Authorization")
        if authorization is None and info.paths and all(
                self._public(path) for path in info.paths):
            return Context(ANONYMOUS, self.services)  # system.health needs no key
        principal: Principal = self.keyring.authenticate(authorization)
        return Context(principal, self.services, request_id=logs.request_id_var.get())

    def _public(self, path: str) -> bool:
        procedure = self.router.get(path) if self.router is not None else None
        return procedure is not None and procedure.permission is None

    def trpc_app(self, router: Router) -> TRPCApp:
        self.router = router
        return TRPCApp(router, create_context=self.context, authorize=_authorize,
                       map_error=_map_error, max_batch_size=self.settings.max_batch_size,
                       max_body_bytes=self.settings.max_body_bytes,
                       sse_ping_seconds=self.settings.sse_ping_seconds,
                       allow_method_override=self.settings.allow_method_override)


@get("/artifacts/{artifact_id:str}", include_in_schema=False)
async def artifact(artifact_id: str, request: Request[Any, Any, State], state: State
                   ) -> Response[Any]:
    """An artifact file (screenshot, trace, report), under the same keys and roles as RPC."""
    errands: Errands = state.errands
    try:
        errands.keyring.authenticate(request.headers.get("authorization")).require("read")
    except (Unauthorized, Forbidden) as exc:
        return Response({"error": exc.message}, status_code=401 if isinstance(
            exc, Unauthorized) else 403)
    found = errands.artifacts.open(artifact_id)
    if found is None:
        return Response({"error": f"no artifact with id {artifact_id!r}"}, status_code=404)
    path, content_type = found
    # Screenshots and JSON reports show inline; anything else (traces: zip) downloads. The
    # browser must not guess another type from the bytes (a page's HTML in a trace).
    inline, extension = _ARTIFACT_DISPOSITION.get(content_type, (False, "bin"))
    return File(path=path, media_type=content_type, filename=f"{artifact_id}.{extension}",
                content_disposition_type="inline" if inline else "attachment",
                headers={"X-Content-Type-Options": "nosniff"})


_ARTIFACT_DISPOSITION: dict[str, tuple[bool, str]] = {
    "image/png": (True, "png"), "image/jpeg": (True, "jpg"),
    "application/json": (True, "json"), "application/zip": (False, "zip"),
}


def create_app(settings: Settings | None = None, *,
               clock: Callable[[], datetime] = utc_now) -> Litestar:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    tracing.setup(settings.otel_endpoint)  # OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set
    errands = Errands(settings, clock)
    router = build_router()
    typescript = render_typescript(router)

    @get("/trpc-types.ts", media_type="text/plain", include_in_schema=False)
    async def trpc_types() -> str:
        """The TypeScript ``AppRouter`` of this router (server/typegen.py), made at start."""
        return typescript

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.errands = errands
        await errands.start()
        if errands.keyring.open:
            log.warning("ERRANDS_API_KEYS is not set: no authentication, serving loopback only")
        try:
            yield
        finally:
            await errands.stop()

    return Litestar(
        route_handlers=[trpc_mount(errands.trpc_app(router)), console_router(), artifact,
                        trpc_types, *OPERATIONS_ROUTES],
        middleware=[request_middleware(lambda: errands, access=settings.access_log)],
        lifespan=[lifespan],
        state=State({"errands": errands}),
        openapi_config=None,
        logging_config=None,  # ours (basicConfig above); Litestar's would log every request
        debug=False,
    )

