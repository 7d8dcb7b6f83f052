"""The executor seam: executors compute, the runner records.

An executor turns one task into an :class:`ExecutionResult` or raises an
:class:`ExecutorError`. It never writes ``tasks`` or ``task_executions``; the runner does,
from what the executor returned or raised and from what it noted on the
:class:`ExecutionContext` (steps, artifacts, browser session) along the way — so a failing
browser step still shows its steps and its screenshot.

Exception tree (``retryable`` decides whether the runner schedules another attempt)::

    ExecutorError                  retryable=False unless said, error_type="error"
    ├── PermanentError             never retried (invalid config, HTTP 4xx but 408/429, auth)
    │   └── BlockedDestination     the network guard refused an address
    └── RetryableError             retried with backoff (5xx, 408, 429, network, timeouts);
                                   ``retry_after`` (seconds) overrides the backoff when given

Any other exception escaping an executor is a retryable failure whose ``error_type`` is
the exception's class name; the runner turns a deadline into ``timed_out`` and a shutdown
into an interruption that spends no retry.

Executors import nothing of the server. What they need of it is a protocol here, which the
server implements and hands them when it builds them (:class:`Resources`):
:class:`Outbox` (server/services/delivery.py) files and delivers webhook messages,
:class:`ReportSource` (server/services/reports.py) computes reports.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from outbound import AddressRefused, OutboundError
from schemas.tasks import Artifact, StepRecord

if TYPE_CHECKING:
    import httpx

    from executors.browser_pool import BrowserPool
    from executors.ghl_rate import RateBudget
    from outbound import NetworkGuard, PinnedTransport


class ExecutorError(Exception):
    """The attempt failed."""

    retryable: bool = False
    error_type: str = "error"

    def __init__(
        self,
        message: str | None = None,
        *,
        error_type: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        output: Any = None,
    ) -> None:
        self.message = message or (type(self).__doc__ or "failed").strip()
        super().__init__(self.message)
        if error_type is not None:
            self.error_type = error_type
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after
        self.output = output


class PermanentError(ExecutorError):
    """The attempt failed and retrying cannot help."""

    retryable = False
    error_type = "permanent"


class BlockedDestination(PermanentError):
    """The destination is a private, loopback or link-local address."""

    error_type = "blocked_destination"


class RetryableError(ExecutorError):
    """The attempt failed for a reason that may pass."""

    retryable = True
    error_type = "transient"


def from_outbound(exc: OutboundError) -> ExecutorError:
    """The outbound guard's refusal as an executor error (executors call it at their
    boundary): a refused address is :class:`BlockedDestination`, DNS failure retryable."""
    if isinstance(exc, AddressRefused):
        return BlockedDestination(exc.message)
    if exc.retryable:
        return RetryableError(exc.message, error_type=exc.kind)
    return PermanentError(exc.message, error_type=exc.kind)


class ArtifactSink(Protocol):
    """Where executors put files (screenshots, traces, reports); the server serves them."""

    async def save(self, *, kind: str, content_type: str, data: bytes,
                   name: str | None = None) -> Artifact: ...


#: Takes a frame of the attempt's page now: JPEG bytes, or None when the page cannot answer.
FrameSource = Callable[[], Awaitable[bytes | None]]


class LiveSink(Protocol):
    """Where an attempt reports how far it is, for ``progress`` and the live view (CONTRACT
    §17); the runner provides it. Both calls are cheap and never block: the server throttles
    what it writes and takes frames only while someone watches."""

    def progress(self, done: int, total: int, message: str | None) -> None:
        """``done`` of ``total`` steps are done; ``message`` names the step running now (its
        action and target, never typed text)."""
        ...

    def frames(self, source: FrameSource | None) -> None:
        """Where frames of the live page come from while it is open; None once it is not."""
        ...


@dataclass(frozen=True)
class NewMessage:
    """A webhook message to file; ``dedupe_key`` makes filing it idempotent."""

    kind: str
    webhook_id: str
    body: str
    send_at: datetime
    dedupe_key: str
    task_id: str | None = None
    recipient: str | None = None
    subject: str | None = None
    data: Any = None


@dataclass(frozen=True)
class FiledMessage:
    """What the outbox holds of a message after filing or sending it."""

    id: str
    status: str
    send_at: datetime
    response_status: int | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class DeliveryAttempt:
    """One delivery try's outcome; ``retryable`` says whether trying again may help."""

    delivered: bool
    retryable: bool = False
    response_status: int | None = None
    error: str | None = None


class Outbox(Protocol):
    """Files webhook messages for later delivery, or delivers one now."""

    async def file(self, msg: NewMessage) -> FiledMessage:
        """Store ``msg`` for delivery at ``send_at`` (its retries included); idempotent on
        ``dedupe_key``: a second call returns the message filed first."""
        ...

    async def send_now(self, msg: NewMessage) -> tuple[FiledMessage, DeliveryAttempt]:
        """Deliver ``msg`` once, now; the same ``dedupe_key`` reuses the same message, and a
        message already delivered is not sent again."""
        ...


class ReportSource(Protocol):
    """Computes a report over ``[start, end)``."""

    async def generate(self, report_type: str, start: datetime, end: datetime,
                       client_id: str | None = None) -> tuple[dict[str, Any], str]:
        """``(data, summary)``; ValueError for an unknown ``report_type``. With ``client_id``,
        over that client's tasks (and their messages) only."""
        ...


class ExecutorSettings(Protocol):
    """The server's settings an executor reads when it is built (server/core/settings.py)."""

    @property
    def response_body_limit(self) -> int: ...
    @property
    def ghl_api_key(self) -> str | None: ...
    @property
    def ghl_location_id(self) -> str | None: ...
    @property
    def ghl_base_url(self) -> str: ...


class Resources(Protocol):
    """What the server holds for its executors (server/node/app.py's ``Node``): each executor
    class's ``build(resources)`` takes the parts it needs (executors/registry.py)."""

    @property
    def settings(self) -> ExecutorSettings: ...
    @property
    def http(self) -> httpx.AsyncClient: ...
    @property
    def api_transport(self) -> PinnedTransport: ...
    @property
    def guard(self) -> NetworkGuard: ...
    @property
    def browser_pool(self) -> BrowserPool: ...
    @property
    def delivery(self) -> Outbox: ...
    @property
    def reports(self) -> ReportSource: ...
    @property
    def ghl_budget(self) -> RateBudget: ...


#: An executor's config type: the Struct of ``schemas.configs.CONFIG_TYPES[task_type]``.
ConfigT = TypeVar("ConfigT")


@dataclass(frozen=True)
class TaskSpec(Generic[ConfigT]):
    """What an executor sees of its task."""

    id: str
    title: str
    task_type: str
    config: ConfigT  # decoded by the runner with CONFIG_TYPES[task_type]
    timeout_seconds: int
    source_webhook_id: str | None = None
    metadata: dict[str, Any] | None = None
    client_id: str | None = None  # the client the task is done for (CONTRACT §14)


@dataclass(frozen=True)
class GhlAccess:
    """HighLevel credentials resolved for one attempt from its connection or its client
    (CONTRACT §14); a field left None falls back to the server's GHL_API_KEY /
    GHL_LOCATION_ID. A config's own ``locationId`` still comes first."""

    token: str | None = None
    location_id: str | None = None


@dataclass
class ExecutionContext:
    """One attempt's context. Executors append steps and artifacts as they go."""

    task_id: str
    execution_id: str
    attempt_number: int
    triggered_by: str
    worker_id: str
    clock: Callable[[], datetime]
    artifacts_sink: ArtifactSink | None = None
    live: LiveSink | None = None  # progress and live frames (CONTRACT §17); None: not reported
    steps: list[StepRecord] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    browser_session_id: str | None = None
    debug_url: str | None = None
    # Every secret of the task's resolved config and metadata (schemas.secrets.secret_values),
    # found once by the runner for the attempt; None when the caller did not (an executor then
    # finds its own).
    secrets: tuple[str, ...] | None = None
    # HighLevel credentials from the task's connection or client, resolved by the runner at
    # the attempt's start; None: the server's own settings.
    ghl: GhlAccess | None = None

    def report_progress(self, done: int, total: int, message: str | None = None) -> None:
        """``done`` of ``total`` steps; ``message`` names the step running now."""
        if self.live is not None:
            self.live.progress(done, total, message)

    async def save_artifact(self, *, kind: str, content_type: str, data: bytes,
                            name: str | None = None) -> Artifact:
        if self.artifacts_sink is None:
            raise PermanentError("artifact storage is not configured", error_type="config")
        artifact = await self.artifacts_sink.save(kind=kind, content_type=content_type,
                                                  data=data, name=name)
        self.artifacts.append(artifact)
        return artifact


@dataclass(frozen=True)
class ExecutionResult:
    """A successful attempt: ``output`` becomes the task's ``result`` and the attempt's output."""

    output: Any
    summary: str | None = None


@dataclass(frozen=True)
class Issue:
    """A problem with a config found at create time; ``path`` is relative to executionConfig."""

    path: tuple[str | int, ...]
    message: str


class Executor(Protocol[ConfigT]):
    """One class per taskType, built once at start with what it needs (clients, pools).

    Generic over its config type: the server decodes ``executionConfig`` with
    ``CONFIG_TYPES[task_type]`` before calling :meth:`check` or :meth:`execute`, so an
    executor takes its own Struct as given (tests/unit/test_layers.py checks the pairing).
    """

    task_type: ClassVar[str]

    def check(self, config: ConfigT, *, source_webhook_id: str | None) -> list[Issue]:
        """Rules msgspec cannot express, checked at ``tasks.create``; [] when fine."""
        ...

    async def execute(self, task: TaskSpec[ConfigT], ctx: ExecutionContext) -> ExecutionResult:
        """Run one attempt. Must honour cancellation (the runner cancels on deadline)."""
        ...
