"""OpenTelemetry tracing (server/core/tracing.py), in process with the SDK's in-memory exporter: a
span per tRPC call, a span per attempt, ``traceparent`` on the attempt's outbound request; and
the setting that turns it on (OTEL_EXPORTER_OTLP_ENDPOINT), refused when the extra is missing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from server.core import tracing
from server.core.errors import ConfigurationError
from server.core.settings import Settings
from tests.integration.test_operations import api_task, node
from tests.support.http_servers import HttpServer

ROOT = Path(__file__).resolve().parents[2]

# server/node/app.py's /artifacts handler uses Litestar's older path-parameter style (not ours).
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*declared using deprecated inferred style:DeprecationWarning")

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure(exporter)
    try:
        yield exporter
    finally:
        tracing.configure(None)


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def test_calls_attempts_and_outbound_requests_are_traced(
        sqlite_database_url: str, tmp_path: Path, spans: InMemorySpanExporter) -> None:
    with HttpServer() as upstream:
        upstream.route("/ping", json={"ok": True})
        upstream.route("/own", json={"ok": True})
        async with node(sqlite_database_url, tmp_path) as n:
            task = await n.call("tasks.create", api_task(upstream.url_for("/ping")),
                                mutation=True, headers={"X-Request-ID": "req-traced-1"})
            await n.wait(task["id"], {"completed"})
            # A caller's traceparent: the call's span joins the caller's trace.
            await n.call("system.health", headers={
                "traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"})
            missing = await n.client.get("/trpc/tasks.get", params={"input": '{"id":"nope"}'})
            unknown = await n.client.get("/trpc/no.such.procedure")
            # An api_call that sets its own traceparent keeps it.
            own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            other = await n.call("tasks.create", api_task(
                upstream.url_for("/own"),
                executionConfig={"apiEndpoint": upstream.url_for("/own"),
                                 "headers": {"traceparent": own}}), mutation=True)
            await n.wait(other["id"], {"completed"})
        received = upstream.requests_to("/ping")
        received_own = upstream.requests_to("/own")

    assert missing.status_code == 404
    creates = named(spans, "tasks.create")
    assert len(creates) == 2
    (create,) = [s for s in creates if s.attributes is not None
                 and s.attributes["errands.request_id"] == "req-traced-1"]
    assert create.kind is SpanKind.SERVER
    assert create.attributes is not None
    assert dict(create.attributes) == {
        "rpc.system": "trpc", "rpc.method": "tasks.create", "trpc.path": "tasks.create",
        "trpc.kind": "mutation", "errands.request_id": "req-traced-1", "trpc.outcome": "ok"}
    assert create.resource.attributes["service.name"] == "errands"

    (health,) = named(spans, "system.health")
    assert health.context is not None and health.parent is not None
    assert format(health.context.trace_id, "032x") == CALLER_TRACE
    assert health.parent.span_id == 0x00f067aa0ba902b7

    (not_found,) = [s for s in named(spans, "tasks.get")
                    if s.attributes is not None and s.attributes.get("trpc.outcome") == "error"]
    assert not_found.attributes is not None
    assert not_found.attributes["trpc.error_code"] == "NOT_FOUND"
    assert not_found.status.status_code is StatusCode.UNSET  # a client error, not the server's
    # An unknown path (the caller's text) does not name a span.
    assert unknown.status_code == 404
    (unknown_span,) = named(spans, "unknown procedure")
    assert unknown_span.attributes is not None
    assert unknown_span.attributes["trpc.path"] == "no.such.procedure"
    assert unknown_span.attributes["trpc.error_code"] == "NOT_FOUND"
    assert not named(spans, "no.such.procedure")

    attempts = named(spans, "attempt api_call")
    assert len(attempts) == 2
    (attempt,) = [s for s in attempts
                  if s.attributes is not None and s.attributes["taskId"] == task["id"]]
    assert attempt.attributes is not None
    assert attempt.attributes["attempt"] == 1
    assert attempt.attributes["outcome"] == "success"
    assert str(attempt.attributes["executionId"])
    assert attempt.parent is None  # its own trace, not the create call's

    (request,) = received
    version, trace_id, parent_id, flags = request.headers["traceparent"].split("-")
    assert attempt.context is not None
    assert version == "00" and int(flags, 16) & 1  # sampled
    assert trace_id == format(attempt.context.trace_id, "032x")
    assert parent_id == format(attempt.context.span_id, "016x")
    (own_request,) = received_own
    assert own_request.headers["traceparent"] == own


async def test_a_failed_attempt_records_its_outcome_and_error_type(
        sqlite_database_url: str, tmp_path: Path, spans: InMemorySpanExporter) -> None:
    with HttpServer() as upstream:
        upstream.route("/bad", status=400, json={"error": "no"})
        async with node(sqlite_database_url, tmp_path) as n:
            task = await n.call("tasks.create", api_task(upstream.url_for("/bad")),
                                mutation=True)
            await n.wait(task["id"], {"failed"})
            (execution,) = await n.call("tasks.executions", {"taskId": task["id"]})

    (attempt,) = named(spans, "attempt api_call")
    assert attempt.attributes is not None
    assert attempt.attributes["outcome"] == "failure"
    assert attempt.attributes["errorType"] == execution["errorType"]
    assert attempt.status.status_code is StatusCode.ERROR


async def test_off_by_default_nothing_is_traced_or_sent(sqlite_database_url: str,
                                                        tmp_path: Path) -> None:
    assert not tracing.enabled()
    assert tracing.httpx_hooks() == {}
    with HttpServer() as upstream:
        upstream.route("/ping", json={"ok": True})
        async with node(sqlite_database_url, tmp_path) as n:
            assert not n.node.http.event_hooks["request"]
            task = await n.call("tasks.create", api_task(upstream.url_for("/ping")),
                                mutation=True)
            await n.wait(task["id"], {"completed"})
        (request,) = upstream.requests_to("/ping")
    assert "traceparent" not in request.headers


# --- the setting ------------------------------------------------------------------------------

def test_endpoint_set_turns_tracing_on_and_unset_leaves_it_off() -> None:
    assert Settings.from_env({}, dotenv=None).otel_endpoint is None
    tracing.setup(None)
    assert not tracing.enabled()
    with HttpServer() as collector:
        collector.route("/v1/traces", status=200, body=b"")
        on = Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}, dotenv=None)
        assert on.otel_endpoint == collector.url
        try:
            tracing.setup(on.otel_endpoint)
            assert tracing.enabled()
            assert tracing.httpx_hooks()["request"]
            with tracing.rpc_call("system.health", "query") as call:
                call.ended(None)
        finally:
            tracing.configure(None)  # shuts the provider down: the batch is exported
        (export,) = collector.requests_to("/v1/traces")
    assert export.method == "POST"
    assert export.headers["content-type"] == "application/x-protobuf"
    assert b"system.health" in export.body and b"errands" in export.body
    assert not tracing.enabled()


def test_endpoint_set_without_the_packages_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # not importable
    assert not tracing.available()
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, dotenv=None)
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in str(info.value)
    assert "pip install errands[otel]" in str(info.value)


def test_the_server_exits_2_when_the_endpoint_is_set_without_the_packages(tmp_path: Path
                                                                            ) -> None:
    script = ("import sys; sys.modules['opentelemetry.sdk.trace'] = None\n"
              "from server.__main__ import main; raise SystemExit(main())")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                               "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert proc.returncode == 2, proc.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in proc.stderr
    assert "pip install errands[otel]" in proc.stderr
    assert "Traceback" not in proc.stderr
