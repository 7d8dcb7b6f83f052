"""Errands from Python: a typed client over httpx, sync and async, that speaks the tRPC wire.

    from schemas.client import Errands, AsyncErrands, ErrandsError
    from schemas.tasks import TaskCreate

    with Errands("http://127.0.0.1:8000/trpc", api_key="...") as errands:
        task = errands.tasks.create(TaskCreate(title="ping", task_type="api_call",
                                               execution_config={"apiEndpoint": "https://..."}))
        task = errands.tasks.get(task.id)                 # -> Task (msgspec Struct)
        with errands.batch() as batch:                    # one HTTP request
            first, health = batch.tasks.get(task.id), batch.system.health()
        first.result(), health.result()                   # -> Task, Health
        hook = errands.webhooks.create("ops", "https://example.com/hook")  # hook.secret: whsec_...
        for event in errands.tasks.on_change(id=task.id): # Tracked[TaskEvent], resumes by id
            print(event.id, event.data.type, event.data.task.status)

Contract:

- Every method sends one call with ``Authorization: Bearer <api_key>`` and returns the output
  decoded into its msgspec Struct (unknown output fields are ignored, so a newer server works).
- Any failure raises :class:`ErrandsError`, with the server's tRPC ``code`` (``NOT_FOUND``,
  ``BAD_REQUEST``...), ``http_status``, ``message``, ``path`` and ``issues``
  (``[{"path": [...], "message": ...}]`` on validation errors). When no answer came (connection
  refused, timeout), ``code`` is ``"NETWORK_ERROR"`` and ``http_status`` is 0; the httpx error
  is the ``__cause__``. Nothing is retried, except subscriptions (below).
- ``batch()`` collects calls and sends them when the ``with`` block ends without an exception
  (or on ``send()``): consecutive calls of one kind (queries, or mutations) share one HTTP
  request (``?batch=1``), in order, at most ``max_batch_size`` per request; a query after a
  mutation therefore sees its effect. Each call gives a :class:`Pending` whose ``result()``
  returns its output or raises its own :class:`ErrandsError`; one failed call does not fail the
  others.
- ``tasks.on_change(id=None, last_event_id=None)`` iterates (``for`` / ``async for``) over the
  Server-Sent Events of ``tasks.onChange`` as :class:`Tracked` items ``(id, data)``. When the
  connection drops, times out (no byte for ``stream_timeout`` seconds, while the server pings
  every few seconds) or the server ends it with a retryable error (the -32603 family), it
  reconnects with ``Last-Event-ID`` and the server replays what was missed; after
  ``max_reconnects`` failed connections in a row it raises ``ErrandsError``. Any other error
  ends the iteration with ``ErrandsError``; the server's ``return`` ends it normally.
- Typed methods: ``tasks.*``, ``system.*``, ``webhooks.*`` (``create`` answers a
  :class:`WebhookCreated`, the only answer carrying the signing secret), ``messages.list`` and
  ``schedules.*``; on ``errands``, on ``errands.batch()`` and on :class:`AsyncErrands` alike.
- ``call(Call(...))`` reaches any procedure by path, e.g. ones this module has no method for:
  ``errands.call(Call("system.health", "query", None, Health))``.

Each procedure is written once, as a call builder (``TaskCalls.get`` ...); the sync, async and
batch methods at the end of this file are generated from the builders by
``scripts/gen_client --py schemas/client.py`` (server/clientgen.py), and
tests/unit/test_clientgen.py fails when a procedure of the router has no builder or the
generated methods are stale.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Generic, Literal, TypeVar

import httpx
import msgspec

from schemas.approvals import ApprovalLink, ApprovalLinkInput
from schemas.base import IdInput, IdOutput
from schemas.configs import TaskType
from schemas.schedules import MissedRunPolicy, Schedule, ScheduleCreate, ScheduleList
from schemas.system import Health, Stats, WhoAmI
from schemas.tasks import (
    CancelInput,
    ExecutionsInput,
    OnChangeInput,
    ReviewInput,
    Task,
    TaskCreate,
    TaskEvent,
    TaskExecution,
    TaskGet,
    TaskList,
    TaskPage,
    TaskStatus,
)
from schemas.triggers import (
    DeliveriesInput,
    Trigger,
    TriggerCreate,
    TriggerCreated,
    TriggerDelivery,
    TriggerList,
    TriggerPatch,
    TriggerUpdate,
    Verify,
)
from schemas.webhooks import (
    MessageList,
    MessagePage,
    MessageStatus,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
)
from schemas.workflows import (
    ApproveManyInput,
    AuditList,
    AuditPage,
    Autorun,
    BulkResult,
    CancelManyInput,
    CompleteInput,
    Ids,
    RetryManyInput,
    SchedulePreview,
    SchedulePreviewInput,
    SetAutorun,
    TaskPatch,
    TaskUpdate,
)

T = TypeVar("T")
Executions = list[TaskExecution]  # (``list`` is a method name in the classes below)
AllWebhooks = list[Webhook]
AllSchedules = list[Schedule]
AllTriggers = list[Trigger]
Deliveries = list[TriggerDelivery]
CallKind = Literal["query", "mutation"]

NETWORK_ERROR: Final = "NETWORK_ERROR"
#: tRPC codes whose subscription errors the client reconnects after (as @trpc/client does).
RETRYABLE_CODES: Final = frozenset(
    {"INTERNAL_SERVER_ERROR", "BAD_GATEWAY", "SERVICE_UNAVAILABLE", "GATEWAY_TIMEOUT"})
_CODE_BY_STATUS: Final = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN",
                          404: "NOT_FOUND", 405: "METHOD_NOT_SUPPORTED", 408: "TIMEOUT",
                          409: "CONFLICT", 412: "PRECONDITION_FAILED", 413: "PAYLOAD_TOO_LARGE",
                          415: "UNSUPPORTED_MEDIA_TYPE", 429: "TOO_MANY_REQUESTS",
                          501: "NOT_IMPLEMENTED", 502: "BAD_GATEWAY",
                          503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}


class ErrandsError(Exception):
    """A failed call: the tRPC error the server sent, or ``NETWORK_ERROR`` when none came."""

    def __init__(self, message: str, *, code: str, http_status: int, path: str | None = None,
                 issues: list[dict[str, Any]] | None = None, rpc_code: int | None = None,
                 data: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code} ({http_status}): {message}")
        self.message = message
        self.code = code
        self.http_status = http_status
        self.path = path
        self.issues: list[dict[str, Any]] = issues or []
        self.rpc_code = rpc_code
        self.data: dict[str, Any] = data or {}

    @classmethod
    def from_shape(cls, shape: _ErrorShape, http_status: int) -> ErrandsError:
        data = shape.data
        status = data.get("httpStatus")
        return cls(shape.message, code=str(data.get("code", "INTERNAL_SERVER_ERROR")),
                   http_status=status if isinstance(status, int) else http_status,
                   path=data.get("path"), issues=data.get("issues"), rpc_code=shape.code,
                   data=data)

    @classmethod
    def from_http(cls, response: httpx.Response) -> ErrandsError:
        status = response.status_code
        text = response.text[:200] if response.is_stream_consumed else ""
        return cls(f"unexpected answer: HTTP {status} {text}".strip(),
                   code=_CODE_BY_STATUS.get(status, "INTERNAL_SERVER_ERROR"), http_status=status)

    @classmethod
    def network(cls, exc: Exception) -> ErrandsError:
        error = cls(f"no answer: {type(exc).__name__}: {exc}", code=NETWORK_ERROR,
                    http_status=0)
        error.__cause__ = exc
        return error


# --- the wire (no IO) -------------------------------------------------------------------------

class _ErrorShape(msgspec.Struct):
    message: str
    code: int
    data: dict[str, Any] = {}


class _Result(msgspec.Struct):
    data: msgspec.Raw = msgspec.Raw(b"null")


class _Envelope(msgspec.Struct):
    result: _Result | None = None
    error: _ErrorShape | None = None


_ONE: Final = msgspec.json.Decoder(_Envelope)
_MANY: Final = msgspec.json.Decoder(list[_Envelope] | _Envelope)
_ENCODER: Final = msgspec.json.Encoder()


@dataclass(frozen=True)
class Call(Generic[T]):
    """One procedure call, described: ``path``, ``kind``, ``input`` (a Struct, a JSON-able
    value, or None for none) and the ``output`` type its data decodes into."""

    path: str
    kind: CallKind
    input: Any
    output: type[T]


@dataclass(frozen=True)
class Tracked(Generic[T]):
    """A subscription item with its event id (pass it as ``last_event_id`` to resume)."""

    id: str
    data: T


@dataclass
class _Request:
    method: str
    path: str
    params: dict[str, str]
    content: bytes | None


def _request(calls: Sequence[Call[Any]], batched: bool) -> _Request:
    """The HTTP request of one call, or of a batch of calls of one kind."""
    kind = calls[0].kind
    if not batched:
        (call,) = calls
        payload = None if call.input is None else _ENCODER.encode(call.input)
    else:
        inputs = {str(i): c.input for i, c in enumerate(calls) if c.input is not None}
        payload = _ENCODER.encode(inputs)
    path = ",".join(c.path for c in calls)
    params = {"batch": "1"} if batched else {}
    if kind == "query":
        if payload is not None:
            params["input"] = payload.decode()
        return _Request("GET", path, params, None)
    return _Request("POST", path, params, payload or b"")


def _decode(call: Call[T], envelope: _Envelope, status: int) -> T | ErrandsError:
    if envelope.error is not None:
        return ErrandsError.from_shape(envelope.error, status)
    if envelope.result is None:
        return ErrandsError("answer holds neither result nor error",
                            code="INTERNAL_SERVER_ERROR", http_status=status)
    try:
        return msgspec.json.decode(envelope.result.data, type=call.output)
    except msgspec.ValidationError as exc:
        return ErrandsError(f"unexpected output of {call.path}: {exc}",
                            code="INTERNAL_SERVER_ERROR", http_status=status)


def _outcomes(calls: Sequence[Call[Any]], batched: bool,
              response: httpx.Response) -> list[Any]:
    """Each call's output or ErrandsError, from the answer to ``_request(calls, batched)``."""
    status = response.status_code
    try:
        decoded = (_MANY if batched else _ONE).decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        error = ErrandsError.from_http(response)
        return [error for _ in calls]
    if isinstance(decoded, _Envelope):  # one answer for all (an error before any call ran)
        return [_decode(call, decoded, status) for call in calls]
    if len(decoded) != len(calls):
        error = ErrandsError(f"{len(decoded)} answers for {len(calls)} calls",
                             code="INTERNAL_SERVER_ERROR", http_status=status)
        return [error for _ in calls]
    return [_decode(call, env, status) for call, env in zip(calls, decoded, strict=True)]


def _runs(calls: Sequence[Call[Any]], limit: int) -> list[list[Call[Any]]]:
    """Consecutive calls of one kind, at most ``limit`` each: one HTTP request per run."""
    runs: list[list[Call[Any]]] = []
    for call in calls:
        if runs and runs[-1][0].kind == call.kind and len(runs[-1]) < limit:
            runs[-1].append(call)
        else:
            runs.append([call])
    return runs


def _headers(api_key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    auth = {"authorization": f"Bearer {api_key}"} if api_key else {}
    return {"content-type": "application/json", **(extra or {}), **auth}


# --- Server-Sent Events (no IO) ----------------------------------------------------------------

@dataclass
class _Event:
    event: str = "message"
    data: list[str] = field(default_factory=list)
    id: str | None = None


class _Stream(Generic[T]):
    """One subscription's state across connections: SSE parsing, the last id, what to do.

    ``feed(line)`` returns a :class:`Tracked` item to yield, ``_RETURN`` when the server ended
    the stream, ``_RECONNECT`` for a retryable error, or None; it raises ErrandsError for an
    error that ends the subscription.
    """

    def __init__(self, call: Call[T], last_event_id: str | None) -> None:
        self.call = call
        self.last_event_id = last_event_id
        self.event = _Event()

    def params(self) -> dict[str, str]:
        data = msgspec.to_builtins(self.call.input) if self.call.input is not None else None
        if self.last_event_id is not None:
            data = {**(data or {}), "lastEventId": self.last_event_id}
        return {} if data is None else {"input": _ENCODER.encode(data).decode()}

    def headers(self) -> dict[str, str]:
        accept = {"accept": "text/event-stream"}
        return accept if self.last_event_id is None else {
            **accept, "last-event-id": self.last_event_id}

    def feed(self, line: str) -> Tracked[T] | str | None:
        if line:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                self.event.data.append(value)
            elif name == "event":
                self.event.event = value
            elif name == "id":
                self.event.id = value
            return None
        event, self.event = self.event, _Event()
        return self._dispatch(event)

    def _dispatch(self, event: _Event) -> Tracked[T] | str | None:
        data = "\n".join(event.data)
        if event.event == "return":
            return _RETURN
        if event.event == "serialized-error":
            error = ErrandsError.from_shape(msgspec.json.decode(data, type=_ErrorShape), 200)
            if error.code in RETRYABLE_CODES:
                return _RECONNECT
            raise error
        if event.event != "message" or not event.data:
            return None  # connected, ping
        try:
            item = msgspec.json.decode(data, type=self.call.output)
        except msgspec.ValidationError as exc:
            raise ErrandsError(f"unexpected item of {self.call.path}: {exc}",
                               code="INTERNAL_SERVER_ERROR", http_status=200) from exc
        if event.id is not None:
            self.last_event_id = event.id
        return Tracked(event.id or "", item)


_RETURN: Final = "return"
_RECONNECT: Final = "reconnect"


def _check_stream(response: httpx.Response) -> None:
    """Raise ErrandsError unless the answer is an event stream (after reading the body)."""
    if response.status_code == 200 and response.headers.get(
            "content-type", "").startswith("text/event-stream"):
        return
    try:
        envelope = _ONE.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ErrandsError.from_http(response) from None
    if envelope.error is None:
        raise ErrandsError.from_http(response)
    raise ErrandsError.from_shape(envelope.error, response.status_code)


def _backoff(failures: int) -> float:
    return float(min(5.0, 0.1 * 2 ** max(0, failures - 1)))


# --- call builders --------------------------------------------------------------------------

class TaskCalls:
    """``tasks.*`` calls, described (nothing is sent): each returns a :class:`Call`."""

    @staticmethod
    def create(task: TaskCreate) -> Call[Task]:
        """Create a task; with an idempotencyKey already used, that task."""
        return Call("tasks.create", "mutation", task, Task)

    @staticmethod
    def get(id: str) -> Call[Task]:
        return Call("tasks.get", "query", TaskGet(id=id), Task)

    @staticmethod
    def list(*, status: TaskStatus | list[TaskStatus] | None = None,
             task_type: TaskType | None = None, search: str | None = None, limit: int = 50,
             cursor: str | None = None) -> Call[TaskPage]:
        """Newest first; pass ``page.next_cursor`` as ``cursor`` for the next page."""
        return Call("tasks.list", "query", TaskList(status=status, task_type=task_type,
                                                    search=search, limit=limit, cursor=cursor),
                    TaskPage)

    @staticmethod
    def execute(id: str) -> Call[Task]:
        return Call("tasks.execute", "mutation", TaskGet(id=id), Task)

    @staticmethod
    def approve(id: str, notes: str | None = None) -> Call[Task]:
        return Call("tasks.approve", "mutation", ReviewInput(id=id, notes=notes), Task)

    @staticmethod
    def reject(id: str, notes: str | None = None) -> Call[Task]:
        return Call("tasks.reject", "mutation", ReviewInput(id=id, notes=notes), Task)

    @staticmethod
    def cancel(id: str, reason: str | None = None) -> Call[Task]:
        return Call("tasks.cancel", "mutation", CancelInput(id=id, reason=reason), Task)

    @staticmethod
    def retry(id: str) -> Call[Task]:
        return Call("tasks.retry", "mutation", TaskGet(id=id), Task)

    @staticmethod
    def executions(task_id: str) -> Call[Executions]:
        return Call("tasks.executions", "query", ExecutionsInput(task_id=task_id),
                    list[TaskExecution])

    @staticmethod
    def update(id: str, patch: TaskPatch) -> Call[Task]:
        """Change a task that has not started (pending, awaiting_review, scheduled)."""
        return Call("tasks.update", "mutation", TaskUpdate(id=id, patch=patch), Task)

    @staticmethod
    def complete(id: str, result: Any = None, notes: str | None = None) -> Call[Task]:
        """Mark a pending task done by a person."""
        return Call("tasks.complete", "mutation", CompleteInput(id=id, result=result,
                                                                 notes=notes), Task)

    @staticmethod
    def approval_link(id: str, reviewer: str, expires_in_seconds: int = 86_400
                      ) -> Call[ApprovalLink]:
        """A single-use link to a page where ``reviewer`` approves or rejects the task."""
        return Call("tasks.approvalLink", "mutation",
                    ApprovalLinkInput(id=id, reviewer=reviewer,
                                      expires_in_seconds=expires_in_seconds), ApprovalLink)

    @staticmethod
    def approve_many(ids: Ids, notes: str | None = None) -> Call[BulkResult]:
        return Call("tasks.approveMany", "mutation", ApproveManyInput(ids=ids, notes=notes),
                    BulkResult)

    @staticmethod
    def cancel_many(ids: Ids, reason: str | None = None) -> Call[BulkResult]:
        return Call("tasks.cancelMany", "mutation", CancelManyInput(ids=ids, reason=reason),
                    BulkResult)

    @staticmethod
    def retry_many(ids: Ids) -> Call[BulkResult]:
        return Call("tasks.retryMany", "mutation", RetryManyInput(ids=ids), BulkResult)

    @staticmethod
    def on_change(id: str | None = None) -> Call[TaskEvent]:
        """Task events (of one task with ``id``) from after ``last_event_id``, live."""
        # a subscription: only for subscribe(); its kind is the HTTP method's (GET)
        return Call("tasks.onChange", "query", OnChangeInput(id=id), TaskEvent)


class SystemCalls:
    """``system.*`` calls, described."""

    @staticmethod
    def health() -> Call[Health]:
        return Call("system.health", "query", None, Health)

    @staticmethod
    def stats() -> Call[Stats]:
        return Call("system.stats", "query", None, Stats)

    @staticmethod
    def whoami() -> Call[WhoAmI]:
        """The key's name, role and permissions."""
        return Call("system.whoami", "query", None, WhoAmI)

    @staticmethod
    def autorun() -> Call[Autorun]:
        return Call("system.autorun", "query", None, Autorun)

    @staticmethod
    def set_autorun(enabled: bool | None = None,
                    paused_types: list[TaskType] | None = None) -> Call[Autorun]:
        """The autorun switch (admin): stop every bot, or some task types."""
        return Call("system.setAutorun", "mutation",
                    SetAutorun(enabled=enabled, paused_types=paused_types), Autorun)


class WebhookCalls:
    """``webhooks.*`` calls, described."""

    @staticmethod
    def create(name: str, url: str, secret: str | None = None) -> Call[WebhookCreated]:
        """Register a webhook; the answer carries its signing secret (``whsec_...``), once."""
        return Call("webhooks.create", "mutation",
                    WebhookCreate(name=name, url=url, secret=secret), WebhookCreated)

    @staticmethod
    def list() -> Call[AllWebhooks]:
        """Every webhook, oldest first, without secrets."""
        return Call("webhooks.list", "query", WebhookList(), list[Webhook])

    @staticmethod
    def delete(id: str) -> Call[IdOutput]:
        return Call("webhooks.delete", "mutation", IdInput(id=id), IdOutput)


class MessageCalls:
    """``messages.*`` calls, described."""

    @staticmethod
    def list(*, task_id: str | None = None, webhook_id: str | None = None,
             status: MessageStatus | None = None, limit: int = 50,
             cursor: str | None = None) -> Call[MessagePage]:
        """Outbound messages, newest first; pass ``page.next_cursor`` as ``cursor``."""
        return Call("messages.list", "query",
                    MessageList(task_id=task_id, webhook_id=webhook_id, status=status,
                                limit=limit, cursor=cursor), MessagePage)


class ScheduleCalls:
    """``schedules.*`` calls, described."""

    @staticmethod
    def create(name: str, cron: str, task: TaskCreate, timezone: str = "UTC",
               missed_run_policy: MissedRunPolicy = "run_once") -> Call[Schedule]:
        """A schedule; each cron slot creates one task from ``task``."""
        return Call("schedules.create", "mutation",
                    ScheduleCreate(name=name, cron=cron, task=task, timezone=timezone,
                                   missed_run_policy=missed_run_policy), Schedule)

    @staticmethod
    def list() -> Call[AllSchedules]:
        return Call("schedules.list", "query", ScheduleList(), list[Schedule])

    @staticmethod
    def pause(id: str) -> Call[Schedule]:
        return Call("schedules.pause", "mutation", IdInput(id=id), Schedule)

    @staticmethod
    def resume(id: str) -> Call[Schedule]:
        """Enable again from the next slot after now (slots while paused are skipped)."""
        return Call("schedules.resume", "mutation", IdInput(id=id), Schedule)

    @staticmethod
    def delete(id: str) -> Call[Schedule]:
        return Call("schedules.delete", "mutation", IdInput(id=id), Schedule)

    @staticmethod
    def preview(cron: str, timezone: str = "UTC", count: int = 5) -> Call[SchedulePreview]:
        """The next ``count`` fire times of ``cron`` in ``timezone``."""
        return Call("schedules.preview", "query",
                    SchedulePreviewInput(cron=cron, timezone=timezone, count=count),
                    SchedulePreview)


class AuditCalls:
    """``audit.*`` calls, described."""

    @staticmethod
    def list(*, target_id: str | None = None, actor: str | None = None,
             action: str | None = None, since: datetime | None = None, limit: int = 50,
             cursor: str | None = None) -> Call[AuditPage]:
        """Audit entries, newest first; pass ``page.next_cursor`` as ``cursor``."""
        return Call("audit.list", "query",
                    AuditList(target_id=target_id, actor=actor, action=action, since=since,
                              limit=limit, cursor=cursor), AuditPage)


class TriggerCalls:
    """``triggers.*`` calls, described."""

    @staticmethod
    def create(name: str, template: TaskCreate, *, client_id: str | None = None,
               verify: Verify = "standard_webhooks") -> Call[TriggerCreated]:
        """A trigger; POSTs to its ``url`` create tasks from ``template``; the answer carries
        its signing secret (``whsec_...``), once."""
        return Call("triggers.create", "mutation",
                    TriggerCreate(name=name, template=template, client_id=client_id,
                                  verify=verify), TriggerCreated)

    @staticmethod
    def list() -> Call[AllTriggers]:
        """Every trigger, oldest first, without secrets."""
        return Call("triggers.list", "query", TriggerList(), list[Trigger])

    @staticmethod
    def get(id: str) -> Call[Trigger]:
        return Call("triggers.get", "query", IdInput(id=id), Trigger)

    @staticmethod
    def update(id: str, patch: TriggerPatch) -> Call[Trigger]:
        return Call("triggers.update", "mutation", TriggerUpdate(id=id, patch=patch), Trigger)

    @staticmethod
    def rotate_secret(id: str) -> Call[TriggerCreated]:
        """A new signing secret, shown this once."""
        return Call("triggers.rotateSecret", "mutation", IdInput(id=id), TriggerCreated)

    @staticmethod
    def delete(id: str) -> Call[IdOutput]:
        return Call("triggers.delete", "mutation", IdInput(id=id), IdOutput)

    @staticmethod
    def deliveries(id: str, limit: int = 50) -> Call[Deliveries]:
        """The last calls the trigger received, newest first."""
        return Call("triggers.deliveries", "query", DeliveriesInput(id=id, limit=limit),
                    list[TriggerDelivery])


# --- sync ------------------------------------------------------------------------------------

class Errands:
    """The sync client. ``url`` is the tRPC base (``http://host:8000/trpc``). Pass ``http`` to
    share an ``httpx.Client`` (it is then not closed by :meth:`close`)."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 30.0,
                 stream_timeout: float = 60.0, max_reconnects: int = 10,
                 max_batch_size: int = 100, headers: dict[str, str] | None = None,
                 http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.headers = _headers(api_key, headers)
        self.stream_timeout = stream_timeout
        self.max_reconnects = max_reconnects
        self.max_batch_size = max_batch_size
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=timeout)
        self.tasks = Tasks(self)
        self.system = System(self)
        self.webhooks = Webhooks(self)
        self.messages = Messages(self)
        self.schedules = Schedules(self)
        self.audit = Audit(self)
        self.triggers = Triggers(self)

    def call(self, call: Call[T]) -> T:
        """Send one call; its output, or ErrandsError."""
        (outcome,) = self._send([call], batched=False)
        if isinstance(outcome, ErrandsError):
            raise outcome
        result: T = outcome
        return result

    def batch(self) -> Batch:
        """Calls collected in a ``with`` block, sent at its end (see the module docstring)."""
        return Batch(self)

    def send_batch(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """Send ``calls`` batched; each call's output or its ErrandsError (not raised)."""
        outcomes: list[Any] = []
        for run in _runs(calls, self.max_batch_size):
            outcomes.extend(self._send(run, batched=True))
        return outcomes

    def _send(self, calls: Sequence[Call[Any]], batched: bool) -> list[Any]:
        req = _request(calls, batched)
        try:
            response = self.http.request(req.method, f"{self.url}/{req.path}",
                                         params=req.params, content=req.content,
                                         headers=self.headers)
        except httpx.HTTPError as exc:
            raise ErrandsError.network(exc) from exc
        return _outcomes(calls, batched, response)

    def subscribe(self, call: Call[T], last_event_id: str | None = None
                  ) -> Generator[Tracked[T], None, None]:
        """Iterate over a subscription's items, reconnecting and resuming by event id."""
        stream = _Stream(call, last_event_id)
        failures = 0
        timeout = httpx.Timeout(self.http.timeout.connect, read=self.stream_timeout)
        while True:
            try:
                with self.http.stream("GET", f"{self.url}/{call.path}", params=stream.params(),
                                      headers={**self.headers, **stream.headers()},
                                      timeout=timeout) as response:
                    if response.status_code >= 500:
                        response.read()
                        raise ErrandsError.from_http(response)
                    if response.status_code != 200:
                        response.read()
                        _check_stream(response)
                    failures = 0
                    for line in response.iter_lines():
                        outcome = stream.feed(line)
                        if outcome == _RETURN:
                            return
                        if outcome == _RECONNECT:
                            break
                        if isinstance(outcome, Tracked):
                            yield outcome
            except (httpx.HTTPError, ErrandsError) as exc:
                if isinstance(exc, ErrandsError) and exc.http_status < 500:
                    raise
                failures += 1
                if failures > self.max_reconnects:
                    raise (exc if isinstance(exc, ErrandsError)
                           else ErrandsError.network(exc)) from exc
                time.sleep(_backoff(failures))

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Errands:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# --- batches ---------------------------------------------------------------------------------

class Pending(Generic[T]):
    """One call of a batch: ``result()`` once the batch was sent."""

    def __init__(self, call: Call[T]) -> None:
        self.call = call
        self.sent = False
        self._value: Any = None

    def _settle(self, value: Any) -> None:
        self.sent, self._value = True, value

    @property
    def error(self) -> ErrandsError | None:
        return self._value if isinstance(self._value, ErrandsError) else None

    def result(self) -> T:
        """The call's output; raises its ErrandsError, or RuntimeError before the send."""
        if not self.sent:
            raise RuntimeError(f"{self.call.path}: the batch has not been sent yet")
        if isinstance(self._value, ErrandsError):
            raise self._value
        value: T = self._value
        return value


class _Collector:
    def __init__(self) -> None:
        self.pending: list[Pending[Any]] = []
        self.tasks = BatchTasks(self)
        self.system = BatchSystem(self)
        self.webhooks = BatchWebhooks(self)
        self.messages = BatchMessages(self)
        self.schedules = BatchSchedules(self)
        self.audit = BatchAudit(self)
        self.triggers = BatchTriggers(self)

    def add(self, call: Call[T]) -> Pending[T]:
        """Add any call; its :class:`Pending`."""
        if self.pending and self.pending[0].sent:
            raise RuntimeError("this batch was sent already; start a new one")
        pending = Pending(call)
        self.pending.append(pending)
        return pending

    def _settle(self, outcomes: list[Any]) -> None:
        for pending, outcome in zip(self.pending, outcomes, strict=True):
            pending._settle(outcome)


class Batch(_Collector):
    """``with errands.batch() as batch:`` — calls are sent when the block ends."""

    def __init__(self, client: Errands) -> None:
        super().__init__()
        self._client = client

    def send(self) -> None:
        self._settle(self._client.send_batch([p.call for p in self.pending]))

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if et is None and self.pending and not self.pending[0].sent:
            self.send()


# --- async -----------------------------------------------------------------------------------

class AsyncErrands:
    """The async client: the same API as :class:`Errands`, awaited (``async with``)."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 30.0,
                 stream_timeout: float = 60.0, max_reconnects: int = 10,
                 max_batch_size: int = 100, headers: dict[str, str] | None = None,
                 http: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self.headers = _headers(api_key, headers)
        self.stream_timeout = stream_timeout
        self.max_reconnects = max_reconnects
        self.max_batch_size = max_batch_size
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(timeout=timeout)
        self.tasks = AsyncTasks(self)
        self.system = AsyncSystem(self)
        self.webhooks = AsyncWebhooks(self)
        self.messages = AsyncMessages(self)
        self.schedules = AsyncSchedules(self)
        self.audit = AsyncAudit(self)
        self.triggers = AsyncTriggers(self)

    async def call(self, call: Call[T]) -> T:
        (outcome,) = await self._send([call], batched=False)
        if isinstance(outcome, ErrandsError):
            raise outcome
        result: T = outcome
        return result

    def batch(self) -> AsyncBatch:
        """``async with errands.batch() as batch:`` — sent when the block ends."""
        return AsyncBatch(self)

    async def send_batch(self, calls: Sequence[Call[Any]]) -> list[Any]:
        outcomes: list[Any] = []
        for run in _runs(calls, self.max_batch_size):
            outcomes.extend(await self._send(run, batched=True))
        return outcomes

    async def _send(self, calls: Sequence[Call[Any]], batched: bool) -> list[Any]:
        req = _request(calls, batched)
        try:
            response = await self.http.request(req.method, f"{self.url}/{req.path}",
                                               params=req.params, content=req.content,
                                               headers=self.headers)
        except httpx.HTTPError as exc:
            raise ErrandsError.network(exc) from exc
        return _outcomes(calls, batched, response)

    async def subscribe(self, call: Call[T], last_event_id: str | None = None
                        ) -> AsyncGenerator[Tracked[T], None]:
        """Iterate over a subscription's items, reconnecting and resuming by event id."""
        stream = _Stream(call, last_event_id)
        failures = 0
        timeout = httpx.Timeout(self.http.timeout.connect, read=self.stream_timeout)
        while True:
            try:
                async with self.http.stream("GET", f"{self.url}/{call.path}",
                                            params=stream.params(),
                                            headers={**self.headers, **stream.headers()},
                                            timeout=timeout) as response:
                    if response.status_code >= 500:
                        await response.aread()
                        raise ErrandsError.from_http(response)
                    if response.status_code != 200:
                        await response.aread()
                        _check_stream(response)
                    failures = 0
                    async for line in response.aiter_lines():
                        outcome = stream.feed(line)
                        if outcome == _RETURN:
                            return
                        if outcome == _RECONNECT:
                            break
                        if isinstance(outcome, Tracked):
                            yield outcome
            except (httpx.HTTPError, ErrandsError) as exc:
                if isinstance(exc, ErrandsError) and exc.http_status < 500:
                    raise
                failures += 1
                if failures > self.max_reconnects:
                    raise (exc if isinstance(exc, ErrandsError)
                           else ErrandsError.network(exc)) from exc
                await asyncio.sleep(_backoff(failures))

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncErrands:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


class AsyncBatch(_Collector):
    """``async with errands.batch() as batch:`` — calls are sent when the block ends."""

    def __init__(self, client: AsyncErrands) -> None:
        super().__init__()
        self._client = client

    async def send(self) -> None:
        self._settle(await self._client.send_batch([p.call for p in self.pending]))

    async def __aenter__(self) -> AsyncBatch:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        if et is None and self.pending and not self.pending[0].sent:
            await self.send()


# --- generated by scripts/gen_client --py from the call builders above; do not edit ---


class Tasks:
    """``errands.tasks``: each method sends one call and returns its output."""

    def __init__(self, owner: Errands) -> None:
        self._c = owner

    def create(self, task: TaskCreate) -> Task:
        """Create a task; with an idempotencyKey already used, that task."""
        return self._c.call(TaskCalls.create(task))

    def get(self, id: str) -> Task:
        return self._c.call(TaskCalls.get(id))

    def list(self, *, status: TaskStatus | list[TaskStatus] | None = None,
             task_type: TaskType | None = None, search: str | None = None, limit: int = 50,
             cursor: str | None = None) -> TaskPage:
        """Newest first; pass ``page.next_cursor`` as ``cursor`` for the next page."""
        return self._c.call(
            TaskCalls.list(status=status, task_type=task_type, search=search, limit=limit,
                           cursor=cursor))

    def execute(self, id: str) -> Task:
        return self._c.call(TaskCalls.execute(id))

    def approve(self, id: str, notes: str | None = None) -> Task:
        return self._c.call(TaskCalls.approve(id, notes))

    def reject(self, id: str, notes: str | None = None) -> Task:
        return self._c.call(TaskCalls.reject(id, notes))

    def cancel(self, id: str, reason: str | None = None) -> Task:
        return self._c.call(TaskCalls.cancel(id, reason))

    def retry(self, id: str) -> Task:
        return self._c.call(TaskCalls.retry(id))

    def executions(self, task_id: str) -> Executions:
        return self._c.call(TaskCalls.executions(task_id))

    def update(self, id: str, patch: TaskPatch) -> Task:
        """Change a task that has not started (pending, awaiting_review, scheduled)."""
        return self._c.call(TaskCalls.update(id, patch))

    def complete(self, id: str, result: Any = None, notes: str | None = None) -> Task:
        """Mark a pending task done by a person."""
        return self._c.call(TaskCalls.complete(id, result, notes))

    def approval_link(self, id: str, reviewer: str, expires_in_seconds: int = 86400
                    ) -> ApprovalLink:
        """A single-use link to a page where ``reviewer`` approves or rejects the task."""
        return self._c.call(TaskCalls.approval_link(id, reviewer, expires_in_seconds))

    def approve_many(self, ids: Ids, notes: str | None = None) -> BulkResult:
        return self._c.call(TaskCalls.approve_many(ids, notes))

    def cancel_many(self, ids: Ids, reason: str | None = None) -> BulkResult:
        return self._c.call(TaskCalls.cancel_many(ids, reason))

    def retry_many(self, ids: Ids) -> BulkResult:
        return self._c.call(TaskCalls.retry_many(ids))

    def on_change(self, id: str | None = None, last_event_id: str | None = None
                ) -> Generator[Tracked[TaskEvent], None, None]:
        """Task events (of one task with ``id``) from after ``last_event_id``, live."""
        return self._c.subscribe(TaskCalls.on_change(id), last_event_id)


class System:
    """``errands.system``: each method sends one call and returns its output."""

    def __init__(self, owner: Errands) -> None:
        self._c = owner

    def health(self) -> Health:
        return self._c.call(SystemCalls.health())

    def stats(self) -> Stats:
        return self._c.call(SystemCalls.stats())

    def whoami(self) -> WhoAmI:
        """The key's name, role and permissions."""
        return self._c.call(SystemCalls.whoami())

    def autorun(self) -> Autorun:
        return self._c.call(SystemCalls.autorun())

    def set_autorun(self, enabled: bool | None = None, paused_types: list[TaskType] | None = None
                  ) -> Autorun:
        """The autorun switch (admin): stop every bot, or some task types."""
        return self._c.call(SystemCalls.set_autorun(enabled, paused_types))


class Webhooks:
    """``errands.webhooks``: each method sends one call and returns its output."""

    def __init__(self, owner: Errands) -> None:
        self._c = owner

    def create(self, name: str, url: str, secret: str | None = None) -> WebhookCreated:
        """Register a webhook; the answer carries its signing secret (``whsec_...``), once."""
        return self._c.call(WebhookCalls.create(name, url, secret))

    def list(self) -> AllWebhooks:
        """Every webhook, oldest first, without secrets."""
        return self._c.call(WebhookCalls.list())

    def delete(self, id: str) -> IdOutput:
        return self._c.call(WebhookCalls.delete(id))


class Messages:
    """``errands.messages``: each method sends one call and returns its output."""

    def __init__(self, owner: Errands) -> None:
        self._c = owner

    def list(self, *, task_id: str | None = None, webhook_id: str | None = None,
             status: MessageStatus | None = None, limit: int = 50, cursor: str | None = None
           ) -> MessagePage:
        """Outbound messages, newest first; pass ``page.next_cursor`` as ``cursor``."""
        return self._c.call(
            MessageCalls.list(task_id=task_id, webhook_id=webhook_id, status=status, limit=limit,
                              cursor=cursor))


class Schedules:
    """``errands.schedules``: each method sends one call and returns its output."""

    def __init__(self, owner: Errands) -> None:
        self._c = owner

    def create(self, name: str, cron: str, task: TaskCreate, timezone: str = "UTC",
               missed_run_policy: MissedRunPolicy = "run_once") -> Schedule:
        """A schedule; each cron slot creates one task from ``task``."""
        return self._c.call(ScheduleCalls.create(name, cron, task, timezone, missed_run_policy))

    def list(self) -> AllSchedules:
        return self._c.call(ScheduleCalls.list())

    def pause(self, id: str) -> Schedule:
        return self._c.call(ScheduleCalls.pause(id))

    def resume(self, id: str) -> Schedule:
        """Enable again from the next slot after now (slots while paused are skipped)."""
        return self._c.call(ScheduleCalls.resume(id))

    def delete(self, id: str) -> Schedule:
        return self._c.call(ScheduleCalls.delete(id))

    def preview(self, cron: str, timezone: str = "UTC", count: int = 5) -> SchedulePreview:
        """The next ``count`` fire times of ``cron`` in ``timezone``."""
        return self._c.call(ScheduleCalls.preview(cron, timezone, count))


class Audit:
    """``errands.audit``: each method sends one call and returns its output."""

    def __init__(self, owner: Errands) -> None:
        self._c = owner

    def list(self, *, target_id: str | None = None, actor: str | None = None,
             action: str | None = None, since: datetime | None = None, limit: int = 50,
             cursor: str | None = None) -> AuditPage:
        """Audit entries, newest first; pass ``page.next_cursor`` as ``cursor``."""
        return self._c.call(
            AuditCalls.list(target_id=target_id, actor=actor, action=action, since=since,
                            limit=limit, cursor=cursor))


class Triggers:
    """``errands.triggers``: each method sends one call and returns its output."""

    def __init__(self, owner: Errands) -> None:
        self._c = owner

    def create(self, name: str, template: TaskCreate, *, client_id: str | None = None,
               verify: Verify = "standard_webhooks") -> TriggerCreated:
        """A trigger; POSTs to its ``url`` create tasks from ``template``; the answer carries
its signing secret (``whsec_...``), once."""
        return self._c.call(TriggerCalls.create(name, template, client_id=client_id, verify=verify))

    def list(self) -> AllTriggers:
        """Every trigger, oldest first, without secrets."""
        return self._c.call(TriggerCalls.list())

    def get(self, id: str) -> Trigger:
        return self._c.call(TriggerCalls.get(id))

    def update(self, id: str, patch: TriggerPatch) -> Trigger:
        return self._c.call(TriggerCalls.update(id, patch))

    def rotate_secret(self, id: str) -> TriggerCreated:
        """A new signing secret, shown this once."""
        return self._c.call(TriggerCalls.rotate_secret(id))

    def delete(self, id: str) -> IdOutput:
        return self._c.call(TriggerCalls.delete(id))

    def deliveries(self, id: str, limit: int = 50) -> Deliveries:
        """The last calls the trigger received, newest first."""
        return self._c.call(TriggerCalls.deliveries(id, limit))


class AsyncTasks:
    """``errands.tasks`` of :class:`AsyncErrands`: each method is awaited."""

    def __init__(self, owner: AsyncErrands) -> None:
        self._c = owner

    async def create(self, task: TaskCreate) -> Task:
        """Create a task; with an idempotencyKey already used, that task."""
        return await self._c.call(TaskCalls.create(task))

    async def get(self, id: str) -> Task:
        return await self._c.call(TaskCalls.get(id))

    async def list(self, *, status: TaskStatus | list[TaskStatus] | None = None,
                   task_type: TaskType | None = None, search: str | None = None, limit: int = 50,
                   cursor: str | None = None) -> TaskPage:
        """Newest first; pass ``page.next_cursor`` as ``cursor`` for the next page."""
        return await self._c.call(
            TaskCalls.list(status=status, task_type=task_type, search=search, limit=limit,
                           cursor=cursor))

    async def execute(self, id: str) -> Task:
        return await self._c.call(TaskCalls.execute(id))

    async def approve(self, id: str, notes: str | None = None) -> Task:
        return await self._c.call(TaskCalls.approve(id, notes))

    async def reject(self, id: str, notes: str | None = None) -> Task:
        return await self._c.call(TaskCalls.reject(id, notes))

    async def cancel(self, id: str, reason: str | None = None) -> Task:
        return await self._c.call(TaskCalls.cancel(id, reason))

    async def retry(self, id: str) -> Task:
        return await self._c.call(TaskCalls.retry(id))

    async def executions(self, task_id: str) -> Executions:
        return await self._c.call(TaskCalls.executions(task_id))

    async def update(self, id: str, patch: TaskPatch) -> Task:
        """Change a task that has not started (pending, awaiting_review, scheduled)."""
        return await self._c.call(TaskCalls.update(id, patch))

    async def complete(self, id: str, result: Any = None, notes: str | None = None) -> Task:
        """Mark a pending task done by a person."""
        return await self._c.call(TaskCalls.complete(id, result, notes))

    async def approval_link(self, id: str, reviewer: str, expires_in_seconds: int = 86400
                          ) -> ApprovalLink:
        """A single-use link to a page where ``reviewer`` approves or rejects the task."""
        return await self._c.call(TaskCalls.approval_link(id, reviewer, expires_in_seconds))

    async def approve_many(self, ids: Ids, notes: str | None = None) -> BulkResult:
        return await self._c.call(TaskCalls.approve_many(ids, notes))

    async def cancel_many(self, ids: Ids, reason: str | None = None) -> BulkResult:
        return await self._c.call(TaskCalls.cancel_many(ids, reason))

    async def retry_many(self, ids: Ids) -> BulkResult:
        return await self._c.call(TaskCalls.retry_many(ids))

    def on_change(self, id: str | None = None, last_event_id: str | None = None
                ) -> AsyncGenerator[Tracked[TaskEvent], None]:
        """Task events (of one task with ``id``) from after ``last_event_id``, live."""
        return self._c.subscribe(TaskCalls.on_change(id), last_event_id)


class AsyncSystem:
    """``errands.system`` of :class:`AsyncErrands`: each method is awaited."""

    def __init__(self, owner: AsyncErrands) -> None:
        self._c = owner

    async def health(self) -> Health:
        return await self._c.call(SystemCalls.health())

    async def stats(self) -> Stats:
        return await self._c.call(SystemCalls.stats())

    async def whoami(self) -> WhoAmI:
        """The key's name, role and permissions."""
        return await self._c.call(SystemCalls.whoami())

    async def autorun(self) -> Autorun:
        return await self._c.call(SystemCalls.autorun())

    async def set_autorun(self, enabled: bool | None = None,
                          paused_types: list[TaskType] | None = None) -> Autorun:
        """The autorun switch (admin): stop every bot, or some task types."""
        return await self._c.call(SystemCalls.set_autorun(enabled, paused_types))


class AsyncWebhooks:
    """``errands.webhooks`` of :class:`AsyncErrands`: each method is awaited."""

    def __init__(self, owner: AsyncErrands) -> None:
        self._c = owner

    async def create(self, name: str, url: str, secret: str | None = None) -> WebhookCreated:
        """Register a webhook; the answer carries its signing secret (``whsec_...``), once."""
        return await self._c.call(WebhookCalls.create(name, url, secret))

    async def list(self) -> AllWebhooks:
        """Every webhook, oldest first, without secrets."""
        return await self._c.call(WebhookCalls.list())

    async def delete(self, id: str) -> IdOutput:
        return await self._c.call(WebhookCalls.delete(id))


class AsyncMessages:
    """``errands.messages`` of :class:`AsyncErrands`: each method is awaited."""

    def __init__(self, owner: AsyncErrands) -> None:
        self._c = owner

    async def list(self, *, task_id: str | None = None, webhook_id: str | None = None,
                   status: MessageStatus | None = None, limit: int = 50, cursor: str | None = None
                 ) -> MessagePage:
        """Outbound messages, newest first; pass ``page.next_cursor`` as ``cursor``."""
        return await self._c.call(
            MessageCalls.list(task_id=task_id, webhook_id=webhook_id, status=status, limit=limit,
                              cursor=cursor))


class AsyncSchedules:
    """``errands.schedules`` of :class:`AsyncErrands`: each method is awaited."""

    def __init__(self, owner: AsyncErrands) -> None:
        self._c = owner

    async def create(self, name: str, cron: str, task: TaskCreate, timezone: str = "UTC",
                     missed_run_policy: MissedRunPolicy = "run_once") -> Schedule:
        """A schedule; each cron slot creates one task from ``task``."""
        return await self._c.call(
            ScheduleCalls.create(name, cron, task, timezone, missed_run_policy))

    async def list(self) -> AllSchedules:
        return await self._c.call(ScheduleCalls.list())

    async def pause(self, id: str) -> Schedule:
        return await self._c.call(ScheduleCalls.pause(id))

    async def resume(self, id: str) -> Schedule:
        """Enable again from the next slot after now (slots while paused are skipped)."""
        return await self._c.call(ScheduleCalls.resume(id))

    async def delete(self, id: str) -> Schedule:
        return await self._c.call(ScheduleCalls.delete(id))

    async def preview(self, cron: str, timezone: str = "UTC", count: int = 5) -> SchedulePreview:
        """The next ``count`` fire times of ``cron`` in ``timezone``."""
        return await self._c.call(ScheduleCalls.preview(cron, timezone, count))


class AsyncAudit:
    """``errands.audit`` of :class:`AsyncErrands`: each method is awaited."""

    def __init__(self, owner: AsyncErrands) -> None:
        self._c = owner

    async def list(self, *, target_id: str | None = None, actor: str | None = None,
                   action: str | None = None, since: datetime | None = None, limit: int = 50,
                   cursor: str | None = None) -> AuditPage:
        """Audit entries, newest first; pass ``page.next_cursor`` as ``cursor``."""
        return await self._c.call(
            AuditCalls.list(target_id=target_id, actor=actor, action=action, since=since,
                            limit=limit, cursor=cursor))


class AsyncTriggers:
    """``errands.triggers`` of :class:`AsyncErrands`: each method is awaited."""

    def __init__(self, owner: AsyncErrands) -> None:
        self._c = owner

    async def create(self, name: str, template: TaskCreate, *, client_id: str | None = None,
                     verify: Verify = "standard_webhooks") -> TriggerCreated:
        """A trigger; POSTs to its ``url`` create tasks from ``template``; the answer carries
its signing secret (``whsec_...``), once."""
        return await self._c.call(
            TriggerCalls.create(name, template, client_id=client_id, verify=verify))

    async def list(self) -> AllTriggers:
        """Every trigger, oldest first, without secrets."""
        return await self._c.call(TriggerCalls.list())

    async def get(self, id: str) -> Trigger:
        return await self._c.call(TriggerCalls.get(id))

    async def update(self, id: str, patch: TriggerPatch) -> Trigger:
        return await self._c.call(TriggerCalls.update(id, patch))

    async def rotate_secret(self, id: str) -> TriggerCreated:
        """A new signing secret, shown this once."""
        return await self._c.call(TriggerCalls.rotate_secret(id))

    async def delete(self, id: str) -> IdOutput:
        return await self._c.call(TriggerCalls.delete(id))

    async def deliveries(self, id: str, limit: int = 50) -> Deliveries:
        """The last calls the trigger received, newest first."""
        return await self._c.call(TriggerCalls.deliveries(id, limit))


class BatchTasks:
    """``batch.tasks``: like ``errands.tasks``, each method returning a :class:`Pending`."""

    def __init__(self, owner: _Collector) -> None:
        self._b = owner

    def create(self, task: TaskCreate) -> Pending[Task]:
        """Create a task; with an idempotencyKey already used, that task."""
        return self._b.add(TaskCalls.create(task))

    def get(self, id: str) -> Pending[Task]:
        return self._b.add(TaskCalls.get(id))

    def list(self, *, status: TaskStatus | list[TaskStatus] | None = None,
             task_type: TaskType | None = None, search: str | None = None, limit: int = 50,
             cursor: str | None = None) -> Pending[TaskPage]:
        """Newest first; pass ``page.next_cursor`` as ``cursor`` for the next page."""
        return self._b.add(
            TaskCalls.list(status=status, task_type=task_type, search=search, limit=limit,
                           cursor=cursor))

    def execute(self, id: str) -> Pending[Task]:
        return self._b.add(TaskCalls.execute(id))

    def approve(self, id: str, notes: str | None = None) -> Pending[Task]:
        return self._b.add(TaskCalls.approve(id, notes))

    def reject(self, id: str, notes: str | None = None) -> Pending[Task]:
        return self._b.add(TaskCalls.reject(id, notes))

    def cancel(self, id: str, reason: str | None = None) -> Pending[Task]:
        return self._b.add(TaskCalls.cancel(id, reason))

    def retry(self, id: str) -> Pending[Task]:
        return self._b.add(TaskCalls.retry(id))

    def executions(self, task_id: str) -> Pending[Executions]:
        return self._b.add(TaskCalls.executions(task_id))

    def update(self, id: str, patch: TaskPatch) -> Pending[Task]:
        """Change a task that has not started (pending, awaiting_review, scheduled)."""
        return self._b.add(TaskCalls.update(id, patch))

    def complete(self, id: str, result: Any = None, notes: str | None = None) -> Pending[Task]:
        """Mark a pending task done by a person."""
        return self._b.add(TaskCalls.complete(id, result, notes))

    def approval_link(self, id: str, reviewer: str, expires_in_seconds: int = 86400
                    ) -> Pending[ApprovalLink]:
        """A single-use link to a page where ``reviewer`` approves or rejects the task."""
        return self._b.add(TaskCalls.approval_link(id, reviewer, expires_in_seconds))

    def approve_many(self, ids: Ids, notes: str | None = None) -> Pending[BulkResult]:
        return self._b.add(TaskCalls.approve_many(ids, notes))

    def cancel_many(self, ids: Ids, reason: str | None = None) -> Pending[BulkResult]:
        return self._b.add(TaskCalls.cancel_many(ids, reason))

    def retry_many(self, ids: Ids) -> Pending[BulkResult]:
        return self._b.add(TaskCalls.retry_many(ids))


class BatchSystem:
    """``batch.system``: like ``errands.system``, each method returning a :class:`Pending`."""

    def __init__(self, owner: _Collector) -> None:
        self._b = owner

    def health(self) -> Pending[Health]:
        return self._b.add(SystemCalls.health())

    def stats(self) -> Pending[Stats]:
        return self._b.add(SystemCalls.stats())

    def whoami(self) -> Pending[WhoAmI]:
        """The key's name, role and permissions."""
        return self._b.add(SystemCalls.whoami())

    def autorun(self) -> Pending[Autorun]:
        return self._b.add(SystemCalls.autorun())

    def set_autorun(self, enabled: bool | None = None, paused_types: list[TaskType] | None = None
                  ) -> Pending[Autorun]:
        """The autorun switch (admin): stop every bot, or some task types."""
        return self._b.add(SystemCalls.set_autorun(enabled, paused_types))


class BatchWebhooks:
    """``batch.webhooks``: like ``errands.webhooks``, each method returning a :class:`Pending`."""

    def __init__(self, owner: _Collector) -> None:
        self._b = owner

    def create(self, name: str, url: str, secret: str | None = None) -> Pending[WebhookCreated]:
        """Register a webhook; the answer carries its signing secret (``whsec_...``), once."""
        return self._b.add(WebhookCalls.create(name, url, secret))

    def list(self) -> Pending[AllWebhooks]:
        """Every webhook, oldest first, without secrets."""
        return self._b.add(WebhookCalls.list())

    def delete(self, id: str) -> Pending[IdOutput]:
        return self._b.add(WebhookCalls.delete(id))


class BatchMessages:
    """``batch.messages``: like ``errands.messages``, each method returning a :class:`Pending`."""

    def __init__(self, owner: _Collector) -> None:
        self._b = owner

    def list(self, *, task_id: str | None = None, webhook_id: str | None = None,
             status: MessageStatus | None = None, limit: int = 50, cursor: str | None = None
           ) -> Pending[MessagePage]:
        """Outbound messages, newest first; pass ``page.next_cursor`` as ``cursor``."""
        return self._b.add(
            MessageCalls.list(task_id=task_id, webhook_id=webhook_id, status=status, limit=limit,
                              cursor=cursor))


class BatchSchedules:
    """``batch.schedules``: like ``errands.schedules``, each method returning a :class:`Pending`."""

    def __init__(self, owner: _Collector) -> None:
        self._b = owner

    def create(self, name: str, cron: str, task: TaskCreate, timezone: str = "UTC",
               missed_run_policy: MissedRunPolicy = "run_once") -> Pending[Schedule]:
        """A schedule; each cron slot creates one task from ``task``."""
        return self._b.add(ScheduleCalls.create(name, cron, task, timezone, missed_run_policy))

    def list(self) -> Pending[AllSchedules]:
        return self._b.add(ScheduleCalls.list())

    def pause(self, id: str) -> Pending[Schedule]:
        return self._b.add(ScheduleCalls.pause(id))

    def resume(self, id: str) -> Pending[Schedule]:
        """Enable again from the next slot after now (slots while paused are skipped)."""
        return self._b.add(ScheduleCalls.resume(id))

    def delete(self, id: str) -> Pending[Schedule]:
        return self._b.add(ScheduleCalls.delete(id))

    def preview(self, cron: str, timezone: str = "UTC", count: int = 5) -> Pending[SchedulePreview]:
        """The next ``count`` fire times of ``cron`` in ``timezone``."""
        return self._b.add(ScheduleCalls.preview(cron, timezone, count))


class BatchAudit:
    """``batch.audit``: like ``errands.audit``, each method returning a :class:`Pending`."""

    def __init__(self, owner: _Collector) -> None:
        self._b = owner

    def list(self, *, target_id: str | None = None, actor: str | None = None,
             action: str | None = None, since: datetime | None = None, limit: int = 50,
             cursor: str | None = None) -> Pending[AuditPage]:
        """Audit entries, newest first; pass ``page.next_cursor`` as ``cursor``."""
        return self._b.add(
            AuditCalls.list(target_id=target_id, actor=actor, action=action, since=since,
                            limit=limit, cursor=cursor))


class BatchTriggers:
    """``batch.triggers``: like ``errands.triggers``, each method returning a :class:`Pending`."""

    def __init__(self, owner: _Collector) -> None:
        self._b = owner

    def create(self, name: str, template: TaskCreate, *, client_id: str | None = None,
               verify: Verify = "standard_webhooks") -> Pending[TriggerCreated]:
        """A trigger; POSTs to its ``url`` create tasks from ``template``; the answer carries
its signing secret (``whsec_...``), once."""
        return self._b.add(TriggerCalls.create(name, template, client_id=client_id, verify=verify))

    def list(self) -> Pending[AllTriggers]:
        """Every trigger, oldest first, without secrets."""
        return self._b.add(TriggerCalls.list())

    def get(self, id: str) -> Pending[Trigger]:
        return self._b.add(TriggerCalls.get(id))

    def update(self, id: str, patch: TriggerPatch) -> Pending[Trigger]:
        return self._b.add(TriggerCalls.update(id, patch))

    def rotate_secret(self, id: str) -> Pending[TriggerCreated]:
        """A new signing secret, shown this once."""
        return self._b.add(TriggerCalls.rotate_secret(id))

    def delete(self, id: str) -> Pending[IdOutput]:
        return self._b.add(TriggerCalls.delete(id))

    def deliveries(self, id: str, limit: int = 50) -> Pending[Deliveries]:
        """The last calls the trigger received, newest first."""
        return self._b.add(TriggerCalls.deliveries(id, limit))

