"""OpenTelemetry tracing, an optional extra (``pip install errands[otel]``).

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (server/core/settings.py refuses to start
when it is set and the packages are missing). When on:

- a span per tRPC call (``rpc_call``, server/rpc/app.py): named by the procedure path, joining
  the caller's trace when the request carries a ``traceparent``;
- a span per attempt (``attempt_started``/``attempt_ended``, server/node/runner.py): ``attempt
  <taskType>``, current for everything the executor does;
- ``traceparent`` on outbound HTTP (``httpx_hooks``, the clients of server/node/app.py): the current
  span's context, W3C trace-context format. A ``traceparent`` an api_call task sets itself is
  kept (the caller chose which trace the request joins).

Spans go to the OTLP/HTTP exporter (``/v1/traces`` under the endpoint; the SDK's other
``OTEL_*`` variables, ``OTEL_SERVICE_NAME`` among them, apply); the service name defaults to
``errands``. Tests install an in-memory exporter with ``configure(exporter)``.

When off, every hook is a module-level no-op: no OpenTelemetry import, no span object, and the
httpx clients get no hook at all.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from server.core import logs

if TYPE_CHECKING:
    from contextvars import Token

    import httpx
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer


class _CodedError(Protocol):
    """What a call's span records of its error (server/rpc/errors.py TRPCError)."""

    @property
    def code(self) -> str: ...

    @property
    def http_status(self) -> int: ...


ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
INSTALL_HINT = "pip install errands[otel]"

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def available() -> bool:
    """Whether the extra's packages are importable."""
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


def enabled() -> bool:
    return _tracer is not None


def configure(exporter: SpanExporter | None, *, batch: bool = False) -> None:
    """Send spans to ``exporter`` from now on (``None``: tracing off). Tests pass an in-memory
    exporter (spans exported as they end); production a batching OTLP one (``setup``)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None
    if exporter is None:
        return
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over this default.
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or "errands"})
    # Only a batching provider has anything to flush at exit (tests make many providers).
    _provider = TracerProvider(resource=resource, shutdown_on_exit=batch)
    _provider.add_span_processor(BatchSpanProcessor(exporter) if batch
                                 else SimpleSpanProcessor(exporter))
    _tracer = _provider.get_tracer("errands")


def setup(endpoint: str | None) -> None:
    """At start (server/node/app.py): the OTLP/HTTP exporter when the endpoint is set; nothing
    otherwise (an exporter a test configured stays)."""
    if endpoint is None:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # A traces-specific endpoint in the environment wins (the exporter reads it itself);
    # else the generic one, which may come from .env, gets the signal's path appended.
    explicit = None if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") else (
        endpoint.rstrip("/") + "/v1/traces")
    # The provider flushes what is batched at interpreter exit.
    configure(OTLPSpanExporter(endpoint=explicit), batch=True)


# --- spans ------------------------------------------------------------------------------------

class _NoCall:
    """What ``rpc_call`` gives when tracing is off: one shared object, nothing recorded."""

    def __enter__(self) -> _NoCall:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def ended(self, error: _CodedError | None) -> None:
        return None


_NO_CALL = _NoCall()


class _Call(_NoCall):
    def __init__(self, tracer: Tracer, path: str, kind: str | None,
                 headers: Mapping[str, str] | None) -> None:
        from opentelemetry.trace import SpanKind

        attributes: dict[str, str] = {"rpc.system": "trpc", "rpc.method": path[:200],
                                      "trpc.path": path[:200]}
        if kind is not None:
            attributes["trpc.kind"] = kind
        request_id = logs.request_id_var.get()
        if request_id is not None:
            attributes["errands.request_id"] = request_id
        parent = _w3c().extract(headers) if headers and "traceparent" in headers else None
        # An unknown path is the caller's text: it names no span (unbounded span names).
        name = path if kind is not None else "unknown procedure"
        self._manager = tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER,
                                                     attributes=attributes)
        self._span: Span | None = None

    def __enter__(self) -> _Call:
        self._span = self._manager.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._manager.__exit__(exc_type, exc, tb)

    def ended(self, error: _CodedError | None) -> None:
        from opentelemetry.trace import Status, StatusCode

        span = self._span
        if span is None:
            return
        if error is None:
            span.set_attribute("trpc.outcome", "ok")
            return
        span.set_attribute("trpc.outcome", "error")
        span.set_attribute("trpc.error_code", error.code)
        if error.http_status >= 500:
            span.set_status(Status(StatusCode.ERROR, error.code))


def rpc_call(path: str, kind: str | None, headers: Mapping[str, str] | None = None) -> _NoCall:
    """``with rpc_call(path, kind, headers) as call: ...; call.ended(error_or_None)``."""
    tracer = _tracer
    return _NO_CALL if tracer is None else _Call(tracer, path, kind, headers)


class AttemptSpan:
    """An attempt's span and the context token that made it current."""

    def __init__(self, span: Span, token: Token[Context]) -> None:
        self.span = span
        self.token = token


def attempt_started(task_type: str, task_id: str, execution_id: str, attempt: int
                    ) -> AttemptSpan | None:
    """Start the attempt's span and make it current for the rest of the attempt's own asyncio
    task (executors' outbound requests carry it). ``None`` when tracing is off."""
    tracer = _tracer
    if tracer is None:
        return None
    from opentelemetry import context, trace

    span = tracer.start_span(f"attempt {task_type}", context=context.Context(), attributes={
        "errands.task_type": task_type, "taskId": task_id, "executionId": execution_id,
        "attempt": attempt})
    return AttemptSpan(span, context.attach(trace.set_span_in_context(span)))


def attempt_ended(started: AttemptSpan | None, outcome: str, error_type: str | None) -> None:
    if started is None:
        return
    from opentelemetry import context
    from opentelemetry.trace import Status, StatusCode

    span = started.span
    span.set_attribute("outcome", outcome)
    if error_type:
        span.set_attribute("errorType", error_type)
    if outcome != "success":
        span.set_status(Status(StatusCode.ERROR, error_type or outcome))
    span.end()
    try:
        context.detach(started.token)
    except Exception:  # another context is current (cannot happen in the attempt's own task)
        pass


# --- outbound HTTP ----------------------------------------------------------------------------

def _w3c() -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    global _PROPAGATOR
    if _PROPAGATOR is None:
        _PROPAGATOR = TraceContextTextMapPropagator()
    return _PROPAGATOR


_PROPAGATOR: Any = None


async def _inject_traceparent(request: httpx.Request) -> None:
    _inject_into(request.headers)


def httpx_hooks() -> dict[str, list[Callable[[httpx.Request], Awaitable[Any]]]]:
    """``event_hooks`` for an outbound httpx client: none when tracing is off at start."""
    return {"request": [_inject_traceparent]} if _tracer is not None else {}


def _inject_into(headers: MutableMapping[str, str]) -> None:
    if "traceparent" not in headers:  # a case-insensitive mapping: an own one is kept
        _w3c().inject(headers)


def header_hooks() -> list[Callable[[MutableMapping[str, str]], None]]:
    """``header_hooks`` for :class:`outbound.PinnedTransport`: none when tracing is off at
    start."""
    return [_inject_into] if _tracer is not None else []
