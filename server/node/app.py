"""create_app(settings) -> TRPCFirst (an ASGI app around Litestar): the one wiring point.

:class:`Node` builds every part, in order: the database, the scheduler, the writer and its
signals, the httpx clients and the network guard, the webhook/delivery/report services, the
executors, the task and schedule services, the task timer, the metrics, the runner, the
audit/autorun/stall services, the periodic jobs (server/node/maintenance.py) and the drain
(server/node/operations.py). The lifespan starts them (the database migrated first) and mounts
the tRPC app at ``/trpc``. Shutdown runs in reverse: stop claiming, let attempts finish for
``SHUTDOWN_GRACE_SECONDS``, interrupt the rest, close everything.
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
from datetime import UTC, datetime
from typing import Any, cast

import httpx
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.response import File, Response

from executors.browser_pool import BrowserPool
from executors.ghl import GhlExecutor
from executors.ghl_rate import LocalRateBudget, RateBudget
from executors.registry import ExecutorRegistry
from outbound import NetworkGuard, PinnedTransport
from server.codegen.typegen import render_typescript
from server.core import logs, tracing
from server.core.auth import ANONYMOUS, TOKEN_PREFIX, KeyRing, Principal
from server.core.claims import Caps
from server.core.errors import Forbidden, Unauthorized
from server.core.events import EventHub
from server.core.lifecycle import ReviewSeparation
from server.core.retry import RetryPolicy
from server.core.scheduling import DueTimer, make_scheduler, stop_scheduler
from server.core.settings import Settings
from server.db import repositories as repo
from server.db.engine import Database
from server.db.planner_stats import PlannerStats
from server.db.work_signal import WorkListener
from server.node.artifacts import FileArtifactStore
from server.node.console import console_router
from server.node.inbound import ROUTES as INBOUND_ROUTES
from server.node.maintenance import Maintenance
from server.node.metrics import Metrics, Sources
from server.node.operations import ROUTES as OPERATIONS_ROUTES
from server.node.operations import Drain, request_middleware
from server.node.runner import Runner, RunnerConfig
from server.node.wire_errors import to_trpc
from server.procedures import build_router
from server.procedures.context import Context, Services
from server.rpc.app import RequestInfo, TRPCApp
from server.rpc.errors import TRPCError
from server.rpc.litestar import TRPCFirst, trpc_mount
from server.rpc.registry import Procedure
from server.services.approval_links import ApprovalLinkService
from server.services.audit import AuditService
from server.services.automations import Automations
from server.services.autorun import AutorunService
from server.services.callbacks import CallbackService
from server.services.changes import Listeners, Signals, Writer
from server.services.clients import ClientService, ConnectionService
from server.services.delivery import DeliveryService
from server.services.ghl_budget import SharedRateBudget
from server.services.insights import Insights
from server.services.keys import KeyService
from server.services.live import LiveBoard
from server.services.rate_limits import RateLimitService
from server.services.reports import ReportService
from server.services.reviews import ReviewRules
from server.services.schedules import ScheduleService
from server.services.secrets_box import load_secret_box
from server.services.stalls import StallWatch
from server.services.task_events import EventFeed
from server.services.tasks import TaskRules, TaskService
from server.services.triggers import TriggerService
from server.services.webhooks import WebhookService

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


class Node:
    """Everything the lifespan builds, kept on ``app.state.node``: the composition root.

    Each part is built complete, in order, from the parts before it. The one late binding is
    :meth:`Signals.connect`: the runner, the task timer and the task-end notices are built on
    the writer that announces through the signals. Behaviour lives in the parts (periodic
    jobs: :class:`Maintenance`; draining: :class:`Drain`); the node starts and stops them.
    """

    @property
    def ghl_budget(self) -> RateBudget:
        """The HighLevel budget the executors use: shared by the nodes on PostgreSQL."""
        return self.ghl_shared or self.ghl_local_budget

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock
        self.db = Database(settings.database_url, timeout_seconds=settings.db_timeout_seconds)
        self.hub = EventHub()
        self.scheduler = make_scheduler()
        # SQLite: one process writes, so committed events go straight to subscribers.
        # PostgreSQL: other nodes write too, so events reach subscribers from the table.
        self.event_feed = None if self.db.is_sqlite else EventFeed(self.db, self.hub)
        # PostgreSQL: another node's new work wakes this node's runner (work_signal.py).
        self.work_listener = None if self.db.is_sqlite else WorkListener(
            self.db, lambda: self.runner.wake())
        # Full events are encoded only while someone subscribes (the feed re-reads the table).
        self.signals = Signals(
            publish=self.hub.publish if self.event_feed is None else self.event_feed.kick,
            wants_payloads=(lambda: self.hub.subscriber_count > 0) if self.event_feed is None
            else lambda: False)
        self.writer = Writer(self.db, self.signals, clock)
        self.guard = NetworkGuard(allow_private=settings.allow_private_network)
        self.http = http_client(100, self.guard)
        # api_call's own pool: a connection for each slot a worker may run at once.
        api_slots = max(8, settings.worker_concurrency)
        self.api_transport = PinnedTransport(
            self.guard, limits=httpx.Limits(max_connections=api_slots,
                                            max_keepalive_connections=api_slots),
            header_hooks=tracing.header_hooks())
        self.browser_pool = BrowserPool(chromium_path=settings.chromium_path,
                                        concurrency=settings.browser_concurrency,
                                        guard=self.guard)
        self.artifacts = FileArtifactStore(settings.artifacts_dir, url_prefix="/artifacts")
        # Webhooks, delivery, reports, schedules: server/services/automations.py
        self.box = load_secret_box(settings)
        self.keyring = KeyRing(settings.api_keys,
                               runtime_secret=self.box.derive("subscription tokens"))
        self.webhooks = WebhookService(self.db, self.box, clock)
        # Clients and connections (CONTRACT §14), sealed with the webhook secrets' box.
        self.clients = ClientService(self.db, clock)
        self.connections = ConnectionService(self.db, self.box, clock)
        self.keys = KeyService(self.db, clock)  # keys.* (run-time API keys)
        self.delivery = DeliveryService(self.db, self.http, self.guard, self.webhooks, clock,
                                        retry_delays=settings.delivery_retry_seconds,
                                        timeout_seconds=settings.delivery_timeout_seconds,
                                        scheduler=self.scheduler)
        self.reports = ReportService(self.db)
        self.ghl_local_budget = LocalRateBudget(settings.ghl_rate_limit,
                                                settings.ghl_rate_window_seconds)
        # PostgreSQL: the nodes share each location's budget through the database (§14).
        self.ghl_shared = None if self.db.is_sqlite else SharedRateBudget(self.db,
                                                                          self.ghl_local_budget)
        # One executor per task type (schemas/configs.py TASK_TYPES), each built from this node.
        self.executors = ExecutorRegistry.build(self)
        self.tasks = TaskService(self.db, self.writer, self.executors,
                                 review_required_types=settings.review_required_types,
                                 clock=clock, webhook_exists=self.webhooks.exists,
                                 rules=TaskRules(
                                     review_separation=cast(ReviewSeparation,
                                                            settings.review_separation),
                                     max_config_bytes=settings.max_config_bytes,
                                     max_browser_steps=settings.max_browser_steps),
                                 clients=self.clients, connections=self.connections)
        self.schedules = ScheduleService(self.db, self.tasks, self.executors,
                                         self.webhooks.exists, clock, scheduler=self.scheduler,
                                         min_interval_seconds=(
                                             settings.schedule_min_interval_seconds))
        self.automations = Automations(self.webhooks, self.delivery, self.reports,
                                       self.schedules, clock)
        self.task_timer = DueTimer(self.scheduler, "tasks", self.tasks.promote_due, clock)
        self.metrics = Metrics(self._metric_sources())
        self.triggers = TriggerService(self.db, self.box, self.tasks, self.executors,
                                       clock, base_url=settings.base_url,
                                       rate_per_second=settings.trigger_rate_limit,
                                       counted=self.metrics.trigger_call)
        self.callbacks = CallbackService(self.writer, self.tasks, self.box, clock,
                                         base_url=settings.base_url)
        self.approval_links = ApprovalLinkService(self.db, self.tasks, self.box, clock,
                                                  base_url=settings.base_url)
        self.reviews = ReviewRules(self.writer, self.tasks, self.approval_links, self.delivery,
                                   clock, webhook_id=settings.review_webhook_id,
                                   link_reviewer=settings.review_link_reviewer)
        # The node's stable identity owns its leases, so a restarted node takes its own
        # attempts back at once (README "Crashes and recovery").
        self.worker_id = settings.node_id or (
            f"{socket.gethostname()}:{settings.port}" if settings.port
            else f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}")
        self.live = LiveBoard(self.db, self.writer, clock, self.worker_id)
        self.runner = Runner(db=self.db, writer=self.writer, executors=self.executors,
                             config=RunnerConfig(concurrency=settings.worker_concurrency,
                                                 lease_seconds=settings.lease_seconds,
                                                 poll_seconds=5.0 if self.db.is_sqlite else 1.0,
                                                 retry=RetryPolicy(settings.retry_base_seconds),
                                                 caps=Caps(settings.type_caps,
                                                           settings.host_concurrency,
                                                           settings.client_concurrency),
                                                 max_lost_attempts=settings.max_lost_attempts,
                                                 rescue_seconds=None if self.db.is_sqlite
                                                 else min(1.0, settings.lease_seconds / 3)),
                             clock=clock, worker_id=self.worker_id,
                             artifacts=self.artifacts, metrics=self.metrics,
                             connections=self.connections, live=self.live)
        self.signals.connect(Listeners(wake_runner=self.runner.wake,
                                       arm_timer=self.task_timer.arm,
                                       cancel_attempt=self.runner.cancel_local,
                                       task_ended=[self.automations.on_task_ended]))
        # Workflows and governance (CONTRACT §10): audit log, autorun switch, stalled work.
        self.audit = AuditService(self.db)
        self.autorun = AutorunService(self.db, self.writer, self.runner.pause)
        self.stalls = StallWatch(self.writer, limits=settings.stalled_after,
                                 action=settings.stalled_action,
                                 webhook_id=settings.stalled_webhook_id,
                                 delivery=self.delivery,
                                 escalate=lambda cs, row, why: self.tasks.insert_escalation(
                                     cs, row, why, assignee=settings.escalation_assignee,
                                     webhook_id=settings.stalled_webhook_id))
        self.maintenance = Maintenance(settings, clock, db=self.db, scheduler=self.scheduler,
                                       task_timer=self.task_timer,
                                       automations=self.automations, autorun=self.autorun,
                                       stalls=self.stalls, artifacts=self.artifacts,
                                       planner_stats=PlannerStats(
                                           self.db, lambda: self.writer.changes))
        self.services = Services(settings=settings, db=self.db, tasks=self.tasks, hub=self.hub,
                                 automations=self.automations, audit=self.audit,
                                 insights=Insights(self.db, clock),
                                 autorun=self.autorun, triggers=self.triggers,
                                 callbacks=self.callbacks,
                                 approval_links=self.approval_links,
                                 started_monotonic=time.monotonic(),
                                 version=VERSION,
                                 scheduler_running=lambda: bool(self.scheduler.running),
                                 keyring=self.keyring,
                                 clients=self.clients, connections=self.connections,
                                 keys=self.keys, live=self.live,
                                 rate_limits=RateLimitService(self.db, clock))
        self.drain = Drain(settings.shutdown_grace_seconds,
                           [self.runner.stop, self.automations.stop])
        self.router = build_router()
        self.ready = False

    def _metric_sources(self) -> Sources:
        """What /metrics reads at scrape time (the runner's count: once it is built)."""
        pool = self.db.engine.pool
        ghl = self.executors.get("ghl_action")
        return Sources(
            subscriptions=lambda: self.hub.subscriber_count,
            db_pool_in_use=lambda: int(getattr(pool, "checkedout", lambda: 0)()),
            browser_contexts=lambda: self.browser_pool.in_use,
            ghl_budget_waits=lambda: self.ghl_local_budget.waits + (
                self.ghl_shared.waits if self.ghl_shared is not None else 0),
            ghl_rate_limited=lambda: ghl.rate_limited if isinstance(ghl, GhlExecutor) else 0,
            deliveries=lambda: dict(self.delivery.outcomes),
            timer_lag=lambda: {t.name: t.last_lag
                               for t in (self.task_timer, *self.automations.timers)},
            attempts_in_flight=lambda: len(self.runner.running))

    @property
    def draining(self) -> asyncio.Event:
        return self.drain.draining

    def dead_loops(self) -> list[str]:
        """Loops that should run and do not (for /readyz)."""
        dead = self.runner.dead_loops()
        if not self.scheduler.running:
            dead.append("scheduler")
        return dead

    async def claim_identity(self) -> bool:
        """CONTRACT §13 "One identity per node": on PostgreSQL, hold the advisory lock on
        this node's NODE_ID for the life of the process; False if a live node holds it
        (then nothing else has started). SQLite: one process owns the file anyway."""
        if self.db.is_sqlite:
            return True
        return await self.db.hold_identity(self.worker_id)

    async def start(self) -> None:
        await self.db.migrate()
        async with self.db.read() as conn:
            self.hub.last_id = await repo.event_last_id(conn)
        self.scheduler.start()
        await self.task_timer.run()  # re-arm from the database
        await self.automations.start()  # due messages and schedules; re-arm their timers
        await self.maintenance.start()
        self.scheduler.add_job(self.inbound_sweep, "interval",
                               seconds=self.settings.inbound_check_seconds, id="inbound",
                               max_instances=1, coalesce=True)
        await self.runner.start()
        if self.event_feed is not None:
            self.event_feed.start()
        if self.work_listener is not None:
            self.work_listener.start()
        self.keys.start()
        self.drain.bind_loop()
        self.ready = True

    async def inbound_sweep(self) -> None:
        """Callbacks past their timeout fail; reviews past their expiry are rejected."""
        for sweep in (self.callbacks.expire_due, self.reviews.expire_due):
            try:
                await sweep()
            except Exception:
                log.exception("inbound sweep failed")

    async def stop(self) -> None:
        for failure in await self.drain.wait():
            log.error("stopping failed", exc_info=failure)
        if self.event_feed is not None:
            await self.event_feed.stop()
        if self.work_listener is not None:
            await self.work_listener.stop()
        await self.keys.stop()
        await stop_scheduler(self.scheduler)
        await self.browser_pool.close()
        await self.http.aclose()
        await self.api_transport.aclose()
        await self.db.dispose()

    async def context(self, info: RequestInfo) -> Context:
        authorization = info.headers.get("authorization")
        from_params = False
        if authorization is None and info.connection_params:
            authorization = info.connection_params.get("authorization") or \
                info.connection_params.get("Authorization")
            from_params = authorization is not None
        if authorization is None and info.paths and all(
                self._public(path) for path in info.paths):
            return Context(ANONYMOUS, self.services)  # system.health needs no key
        # A subscription token only as a subscription's connectionParams (CONTRACT §13).
        principal = await self.principal(
            authorization, subscription=from_params and info.kind == "subscription")
        return Context(principal, self.services, request_id=logs.request_id_var.get())

    async def principal(self, authorization: str | None, *, subscription: bool = False
                        ) -> Principal:
        """The caller: an ERRANDS_API_KEYS key, else a key made with keys.create; with
        ``subscription`` (a subscription's connectionParams) also a subscription token."""
        if self.keyring.open:
            return self.keyring.authenticate(authorization)
        token = self.keyring.token_of(authorization)
        found = self.keyring.match(token)
        if found is not None:
            return found
        if token.startswith(TOKEN_PREFIX):
            claims = self.keyring.token_claims(token, subscription_token=subscription)
            if claims.h is None:
                return self.keyring.configured(claims.n)
            return await self.keys.principal_of_hash(claims.h)
        return await self.keys.principal(token)

    def _public(self, path: str) -> bool:
        procedure = self.router.get(path)
        return procedure is not None and procedure.permission is None

    def trpc_app(self) -> TRPCApp:
        return TRPCApp(self.router, create_context=self.context, authorize=_authorize,
                       map_error=_map_error, max_batch_size=self.settings.max_batch_size,
                       max_body_bytes=self.settings.max_body_bytes,
                       sse_ping_seconds=self.settings.sse_ping_seconds,
                       allow_method_override=self.settings.allow_method_override)


@get("/artifacts/{artifact_id:str}", include_in_schema=False)
async def artifact(artifact_id: str, request: Request[Any, Any, State], state: State
                   ) -> Response[Any]:
    """An artifact file (screenshot, trace, report), under the same keys and roles as RPC."""
    node: Node = state.node
    try:
        (await node.principal(request.headers.get("authorization"))).require("read")
    except (Unauthorized, Forbidden) as exc:
        return Response({"error": exc.message}, status_code=401 if isinstance(
            exc, Unauthorized) else 403)
    found = node.artifacts.open(artifact_id)
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
               clock: Callable[[], datetime] = utc_now) -> TRPCFirst:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    tracing.setup(settings.otel_endpoint)  # OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set
    node = Node(settings, clock)
    typescript = render_typescript(node.router)

    @get("/trpc-types.ts", media_type="text/plain", include_in_schema=False)
    async def trpc_types() -> str:
        """The TypeScript ``AppRouter`` of this router (server/codegen/typegen.py), made at
        start."""
        return typescript

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.node = node
        await node.start()
        if node.keyring.open:
            log.warning("ERRANDS_API_KEYS is not set: no authentication, serving loopback only")
        try:
            yield
        finally:
            await node.stop()

    trpc = node.trpc_app()
    middleware = [request_middleware(lambda: node, access=settings.access_log)]
    app = Litestar(
        route_handlers=[trpc_mount(trpc), console_router(), artifact,
                        trpc_types, *OPERATIONS_ROUTES, *INBOUND_ROUTES],
        middleware=middleware,
        lifespan=[lifespan],
        state=State({"node": node}),
        openapi_config=None,
        logging_config=None,  # ours (basicConfig above); Litestar's would log every request
        debug=False,
    )
    # /trpc is nearly all the traffic: answered before Litestar's routing, through the same
    # middleware (request id, access log, drain) and the same TRPCApp as the mount above.
    return TRPCFirst(app, trpc, middleware)

