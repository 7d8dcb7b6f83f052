"""browser_automation against pages served on loopback, in a real Chromium."""

from __future__ import annotations

import asyncio
import socket
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from executors.base import (
    BlockedDestination,
    ExecutionContext,
    RetryableError,
    TaskSpec,
)
from executors.browser import BrowserAutomationExecutor
from executors.browser_pool import BrowserPool
from outbound import NetworkGuard
from schemas.configs import BrowserAutomationConfig
from server.node.artifacts import FileArtifactStore
from tests.support.pages import PageServer, serve_pages

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def task_of(config: dict[str, Any]) -> TaskSpec:
    return TaskSpec(id="task_1", title="browse", task_type="browser_automation",
                    config=msgspec.convert(config, BrowserAutomationConfig), timeout_seconds=300)


def context_for(store: FileArtifactStore) -> ExecutionContext:
    return ExecutionContext(task_id="task_1", execution_id="exe_1", attempt_number=1,
                            triggered_by="create", worker_id="w1", clock=lambda: NOW,
                            artifacts_sink=store)


@pytest.fixture
def site() -> Iterator[PageServer]:
    with serve_pages("127.0.0.1") as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> FileArtifactStore:
    return FileArtifactStore(tmp_path / "artifacts")


@pytest.fixture
async def pool() -> AsyncIterator[BrowserPool]:
    pool = BrowserPool(chromium_path=None, concurrency=2,
                       guard=NetworkGuard(allow_private=True))
    yield pool
    await pool.close()


def read_artifact(store: FileArtifactStore, artifact_id: str) -> bytes:
    opened = store.open(artifact_id)
    assert opened is not None
    return opened[0].read_bytes()


# --- check() --------------------------------------------------------------------------------

def issues_of(config: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    executor = BrowserAutomationExecutor(BrowserPool(
        chromium_path=None, concurrency=1, guard=NetworkGuard(allow_private=True)))
    issues = executor.check(msgspec.convert(config, BrowserAutomationConfig),
                            source_webhook_id=None)
    return [(issue.path, issue.message) for issue in issues]


@pytest.mark.parametrize(("config", "paths"), [
    ({"steps": []}, [("steps",)]),
    ({"steps": [], "startUrl": "http://example.com"}, []),
    ({"steps": [], "startUrl": "ftp://example.com"}, [("startUrl",)]),
    ({"steps": [{"action": "navigate", "url": "javascript:alert(1)"}]}, [("steps", 0, "url")]),
    ({"steps": [{"action": "navigate", "url": "https://example.com/x"}]}, []),
    ({"steps": [{"action": "wait"}]}, [("steps", 0)]),
    ({"steps": [{"action": "wait", "ms": 10}, {"action": "wait", "state": "visible"}]},
     [("steps", 1, "state")]),
    ({"steps": [{"action": "wait", "state": "networkidle"}]}, []),
    ({"steps": [{"action": "extract", "name": "a", "selector": "p", "attribute": "href",
                 "all": True},
                {"action": "extract", "name": "b", "selector": "p"},
                {"action": "extract", "name": "a", "selector": "h1"}]},
     [("steps", 2, "name")]),
])
def test_check_reports_config_problems_by_path(config: dict[str, Any],
                                               paths: list[tuple[str | int, ...]]) -> None:
    assert [path for path, _ in issues_of(config)] == paths


# --- execute() -------------------------------------------------------------------------------

@pytest.mark.browser
async def test_multi_step_form_end_to_end(site: PageServer, pool: BrowserPool,
                                          store: FileArtifactStore) -> None:
    ctx = context_for(store)
    task = task_of({
        "startUrl": site.url("/form"),
        "steps": [
            {"action": "type", "selector": "#name", "text": "Ada"},
            {"action": "click", "selector": "#next"},
            {"action": "type", "selector": "#email", "text": "ada@example.com",
             "pressEnter": True},
            {"action": "wait", "selector": "#result"},
            {"action": "extract", "name": "result", "selector": "#result"},
            {"action": "screenshot", "name": "done", "fullPage": True},
        ],
    })

    result = await BrowserAutomationExecutor(pool).execute(task, ctx)

    output = result.output
    assert output["extracted"] == {"result": "Thanks, Ada ada@example.com"}
    assert output["finalUrl"] == site.url("/submit")
    assert output["title"] == "Done"
    assert [s.status for s in ctx.steps] == ["success"] * 7
    assert [s.action for s in ctx.steps] == [
        "navigate", "type", "click", "type", "wait", "extract", "screenshot"]
    assert [s.index for s in ctx.steps] == list(range(7))
    assert ctx.steps[5].detail["value"] == "Thanks, Ada ada@example.com"
    assert "ada@example.com" not in str(ctx.steps[3].detail)  # typed text is not echoed
    assert ctx.browser_session_id is not None
    [shot] = output["screenshots"]
    assert shot["kind"] == "screenshot" and shot["name"] == "done"
    assert shot["contentType"] == "image/png"
    assert read_artifact(store, shot["id"]).startswith(PNG_SIGNATURE)
    assert [a.id for a in ctx.artifacts] == [shot["id"]]
    assert site.hits.count("/submit") == 1


@pytest.mark.browser
async def test_waits_for_content_injected_by_script(site: PageServer, pool: BrowserPool,
                                                    store: FileArtifactStore) -> None:
    ctx = context_for(store)
    task = task_of({
        "startUrl": site.url("/delayed?ms=700"),
        "steps": [
            {"action": "extract", "name": "early", "selector": ".late .name", "all": True},
            {"action": "wait", "selector": ".late"},
            {"action": "extract", "name": "names", "selector": ".late .name", "all": True},
            {"action": "extract", "name": "first", "selector": ".late .price"},
        ],
    })

    result = await BrowserAutomationExecutor(pool).execute(task, ctx)

    assert result.output["extracted"] == {
        "early": [], "names": ["Alpha", "Beta"], "first": "$10.50"}


@pytest.mark.browser
async def test_extract_attributes_are_made_absolute(site: PageServer, pool: BrowserPool,
                                                    store: FileArtifactStore) -> None:
    task = task_of({
        "startUrl": site.url("/products"),
        "steps": [
            {"action": "extract", "name": "link", "selector": ".product .title",
             "attribute": "href"},
            {"action": "extract", "name": "images", "selector": "img", "attribute": "src",
             "all": True},
            {"action": "extract", "name": "skus", "selector": ".product", "attribute": "data-sku",
             "all": True},
        ],
    })

    result = await BrowserAutomationExecutor(pool).execute(task, context_for(store))

    assert result.output["extracted"] == {
        "link": site.url("/p/widget"),
        "images": [site.url("/img/widget.png"), site.url("/img/gadget.png")],
        "skus": ["A1", "B2", "C3"],
    }


@pytest.mark.browser
async def test_extract_keeps_playwright_selectors_and_pierces_shadow_roots(
        site: PageServer, pool: BrowserPool, store: FileArtifactStore) -> None:
    executor = BrowserAutomationExecutor(pool)
    products = await executor.execute(task_of({
        "startUrl": site.url("/products"),
        "steps": [
            {"action": "extract", "name": "text", "selector": "text=Gadget"},
            {"action": "extract", "name": "chained", "selector": ".product >> .price",
             "all": True},
            {"action": "extract", "name": "visible", "selector": ".price:visible", "all": True},
            {"action": "extract", "name": "has_text", "selector": ".product:has-text('Free')",
             "attribute": "data-sku"},
        ],
    }), context_for(store))
    shadow = await executor.execute(task_of({
        "startUrl": site.url("/shadow"),
        "steps": [
            {"action": "extract", "name": "prices", "selector": ".price", "all": True},
            {"action": "extract", "name": "inner", "selector": ".inner"},
        ],
    }), context_for(store))

    assert products.output["extracted"] == {
        "text": "Gadget",
        "chained": ["$1,299.00", "1.299,50 €", "Free"],
        "visible": ["$1,299.00", "1.299,50 €", "Free"],
        "has_text": "C3",
    }
    # Playwright's CSS reaches into open shadow roots (after the document's own matches); the
    # page's querySelectorAll would not.
    assert shadow.output["extracted"] == {"prices": ["$1", "$3", "$2"], "inner": "inside"}


@pytest.mark.browser
async def test_failing_selector_names_the_step_and_keeps_a_failure_screenshot(
        site: PageServer, pool: BrowserPool, store: FileArtifactStore) -> None:
    ctx = context_for(store)
    task = task_of({
        "startUrl": site.url("/form"),
        "stepTimeoutMs": 500,
        "steps": [
            {"action": "type", "selector": "#name", "text": "Ada"},
            {"action": "click", "selector": "#missing-button"},
            {"action": "screenshot", "name": "never"},
        ],
    })

    with pytest.raises(RetryableError) as caught:
        await BrowserAutomationExecutor(pool).execute(task, ctx)

    error = caught.value
    assert error.error_type == "step_timeout"
    assert error.retryable
    assert "step 2" in error.message and "click" in error.message
    assert "#missing-button" in error.message
    assert [(s.index, s.action, s.status) for s in ctx.steps] == [
        (0, "navigate", "success"), (1, "type", "success"), (2, "click", "failed"),
        (3, "screenshot", "skipped")]
    [failure] = ctx.artifacts
    assert (failure.kind, failure.name, failure.content_type) == (
        "screenshot", "failure", "image/png")
    assert read_artifact(store, failure.id).startswith(PNG_SIGNATURE)


@pytest.mark.browser
async def test_a_slow_step_times_out_retryably(site: PageServer, pool: BrowserPool,
                                               store: FileArtifactStore) -> None:
    ctx = context_for(store)
    task = task_of({
        "stepTimeoutMs": 400,
        "steps": [
            {"action": "navigate", "url": site.url("/form")},
            {"action": "navigate", "url": site.url("/hold?ms=3000")},
        ],
    })

    with pytest.raises(RetryableError) as caught:
        await BrowserAutomationExecutor(pool).execute(task, ctx)

    assert caught.value.error_type == "step_timeout"
    assert "step 1 (navigate" in caught.value.message
    assert [s.status for s in ctx.steps] == ["success", "failed"]


@pytest.mark.browser
async def test_trace_is_recorded_on_success_and_on_failure(
        site: PageServer, pool: BrowserPool, store: FileArtifactStore) -> None:
    executor = BrowserAutomationExecutor(pool)
    ok_ctx = context_for(store)
    await executor.execute(task_of({"startUrl": site.url("/products"), "steps": [],
                                    "recordTrace": True}), ok_ctx)
    failed_ctx = context_for(store)
    with pytest.raises(RetryableError):
        await executor.execute(task_of({
            "startUrl": site.url("/products"), "recordTrace": True, "stepTimeoutMs": 300,
            "steps": [{"action": "click", "selector": "#nope"}]}), failed_ctx)

    for ctx, kinds in ((ok_ctx, ["trace"]), (failed_ctx, ["screenshot", "trace"])):
        assert [a.kind for a in ctx.artifacts] == kinds
        trace = ctx.artifacts[-1]
        assert trace.content_type == "application/zip"
        opened = store.open(trace.id)
        assert opened is not None
        with zipfile.ZipFile(opened[0]) as archive:
            assert any(name.endswith(".trace") for name in archive.namelist())


# --- the network guard inside the browser ---------------------------------------------------

@pytest.fixture
def public_site() -> Iterator[PageServer]:
    """The site on 127.0.0.2, which the strict guard below treats as public."""
    with serve_pages("127.0.0.2") as server:
        yield server


@pytest.fixture
async def strict_pool() -> AsyncIterator[BrowserPool]:
    guard = NetworkGuard(allow_private=False, allowed_networks=["127.0.0.2/32"])
    pool = BrowserPool(chromium_path=None, concurrency=2, guard=guard)
    yield pool
    await pool.close()


@pytest.mark.browser
async def test_guarded_form_flow_still_works(public_site: PageServer, strict_pool: BrowserPool,
                                             store: FileArtifactStore) -> None:
    task = task_of({"startUrl": public_site.url("/form"), "steps": [
        {"action": "type", "selector": "#name", "text": "Bo"},
        {"action": "click", "selector": "#next"},
        {"action": "type", "selector": "#email", "text": "bo@x.test", "pressEnter": True},
        {"action": "extract", "name": "result", "selector": "#result"},
    ]})
    result = await BrowserAutomationExecutor(strict_pool).execute(task, context_for(store))
    assert result.output["extracted"] == {"result": "Thanks, Bo bo@x.test"}


@pytest.mark.browser
async def test_redirect_to_a_private_address_is_blocked(
        public_site: PageServer, site: PageServer, strict_pool: BrowserPool,
        store: FileArtifactStore) -> None:
    ctx = context_for(store)
    task = task_of({"startUrl": public_site.url("/form"), "steps": [
        {"action": "navigate", "url": public_site.url(f"/redirect?to={site.url('/secret')}")},
        {"action": "extract", "name": "secret", "selector": "#secret"},
    ]})

    with pytest.raises(BlockedDestination) as caught:
        await BrowserAutomationExecutor(strict_pool).execute(task, ctx)

    assert not caught.value.retryable
    assert "step 1 (navigate" in caught.value.message
    assert "127.0.0.1" in caught.value.message
    assert "/redirect" in public_site.hits
    assert site.hits == []  # the private server was never reached
    assert [s.status for s in ctx.steps] == ["success", "failed", "skipped"]


@pytest.mark.browser
async def test_allowed_redirect_is_followed_and_reported(
        public_site: PageServer, strict_pool: BrowserPool, store: FileArtifactStore) -> None:
    target = public_site.url("/products")
    task = task_of({"startUrl": public_site.url(f"/redirect?to={target}"), "steps": [
        {"action": "extract", "name": "heading", "selector": "#heading"}]})
    result = await BrowserAutomationExecutor(strict_pool).execute(task, context_for(store))
    assert result.output["extracted"] == {"heading": "Our products"}
    assert result.output["finalUrl"] == target


@pytest.mark.browser
async def test_direct_navigation_to_a_private_address_is_blocked(
        site: PageServer, strict_pool: BrowserPool, store: FileArtifactStore) -> None:
    with pytest.raises(BlockedDestination):
        await BrowserAutomationExecutor(strict_pool).execute(
            task_of({"startUrl": site.url("/secret"), "steps": []}), context_for(store))
    assert site.hits == []


@pytest.mark.browser
async def test_subresource_from_a_private_address_is_blocked(
        public_site: PageServer, site: PageServer, strict_pool: BrowserPool,
        store: FileArtifactStore) -> None:
    page = public_site.url(f"/image-page?src={site.url('/pixel.png')}")
    allowed = public_site.url(f"/image-page?src={public_site.url('/pixel.png')}")
    task = task_of({"startUrl": page, "steps": [
        {"action": "extract", "name": "ok", "selector": "#ok"},
        {"action": "navigate", "url": allowed},
    ]})

    result = await BrowserAutomationExecutor(strict_pool).execute(task, context_for(store))

    assert result.output["extracted"] == {"ok": "ok"}
    assert site.hits == []
    assert "/pixel.png" in public_site.hits  # the same image from an allowed host loads


@pytest.mark.browser
async def test_subresource_redirected_to_a_private_address_is_blocked(
        public_site: PageServer, site: PageServer, strict_pool: BrowserPool,
        store: FileArtifactStore) -> None:
    # The image's first hop is allowed; the hop it redirects to is not.
    hop = public_site.url(f"/redirect?to={site.url('/pixel.png')}")
    task = task_of({"startUrl": public_site.url(f"/image-page?src={hop}"), "steps": [
        {"action": "extract", "name": "ok", "selector": "#ok"}]})

    result = await BrowserAutomationExecutor(strict_pool).execute(task, context_for(store))

    assert result.output["extracted"] == {"ok": "ok"}
    assert "/redirect" in public_site.hits
    assert site.hits == []


@pytest.mark.browser
async def test_names_are_resolved_by_the_guard_not_by_chromium(
        public_site: PageServer, store: FileArtifactStore) -> None:
    # shop.test is in no DNS: only the guard's resolver knows it.
    async def names(host: str, port: int | None) -> list[str]:
        return ["127.0.0.2"] if host == "shop.test" else []

    guard = NetworkGuard(allow_private=False, allowed_networks=["127.0.0.2/32"],
                         resolver=names)
    pool = BrowserPool(chromium_path=None, concurrency=1, guard=guard)
    url = f"http://shop.test:{public_site.port}/products"
    try:
        result = await BrowserAutomationExecutor(pool).execute(
            task_of({"startUrl": url, "steps": [
                {"action": "extract", "name": "heading", "selector": "#heading"}]}),
            context_for(store))
    finally:
        await pool.close()
    assert result.output["extracted"] == {"heading": "Our products"}
    assert result.output["finalUrl"] == url


@pytest.mark.browser
async def test_a_loopback_name_is_blocked_without_reaching_it(
        site: PageServer, strict_pool: BrowserPool, store: FileArtifactStore) -> None:
    with pytest.raises(BlockedDestination) as caught:
        await BrowserAutomationExecutor(strict_pool).execute(
            task_of({"startUrl": f"http://localhost:{site.port}/secret", "steps": []}),
            context_for(store))
    assert "localhost" in caught.value.message
    assert site.hits == []


@pytest.mark.browser
async def test_an_allowed_destination_that_does_not_answer_is_retryable_after_a_refusal(
        public_site: PageServer, site: PageServer, strict_pool: BrowserPool,
        store: FileArtifactStore) -> None:
    # The page's image is refused first; the navigation then fails for another reason,
    # and is not taken for a refusal.
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        closed_port = probe.getsockname()[1]
    task = task_of({"startUrl": public_site.url(f"/image-page?src={site.url('/pixel.png')}"),
                    "steps": [{"action": "navigate", "url": f"http://127.0.0.2:{closed_port}/"}]})

    with pytest.raises(RetryableError) as caught:
        await BrowserAutomationExecutor(strict_pool).execute(task, context_for(store))

    assert caught.value.error_type == "navigation_failed"
    assert "connection refused" in caught.value.message


@dataclass
class Listener:
    """A TCP listener that only counts the connections it accepts."""

    host: str
    accepted: int = 0
    port: int = 0

    def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        writer.close()


OPEN_SOCKETS_JS = """async (urls) => Promise.all(urls.map(url => new Promise(done => {
  const socket = new WebSocket(url);
  socket.onopen = () => done('open');
  socket.onerror = () => done('error');
  setTimeout(() => done('timeout'), 5000);
})))"""


@pytest.mark.browser
async def test_websockets_reach_allowed_addresses_only(
        public_site: PageServer, strict_pool: BrowserPool) -> None:
    private, public = Listener("127.0.0.1"), Listener("127.0.0.2")
    servers = []
    for listener in (private, public):
        server = await asyncio.start_server(listener.accept, listener.host, 0)
        listener.port = server.sockets[0].getsockname()[1]
        servers.append(server)
    try:
        async with strict_pool.context() as (context, _):
            page = await context.new_page()
            await page.goto(public_site.url("/form"))
            outcomes = await page.evaluate(OPEN_SOCKETS_JS, [
                f"ws://127.0.0.1:{private.port}/", f"ws://localhost:{private.port}/",
                f"ws://127.0.0.2:{public.port}/"])
    finally:
        for server in servers:
            server.close()
    assert outcomes == ["error", "error", "error"]  # the public one is no WebSocket server
    assert private.accepted == 0
    assert public.accepted == 1  # ...but it was reached: this test sees connections


GATHER_ICE_JS = """async (port) => {
  const pc = new RTCPeerConnection({iceServers: [{urls: 'stun:127.0.0.1:' + port}]});
  pc.createDataChannel('x');
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => setTimeout(done, 1500));
  pc.close();
}"""


async def stun_packets(pool: BrowserPool, page_url: str) -> int:
    """UDP packets a page's WebRTC sends to a STUN "server" on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        async with pool.context() as (context, _):
            page = await context.new_page()
            await page.goto(page_url)
            await page.evaluate(GATHER_ICE_JS, udp.getsockname()[1])
        count = 0
        with suppress(BlockingIOError):
            while udp.recv(2048):
                count += 1
    return count


@pytest.mark.browser
async def test_webrtc_sends_no_udp_around_the_guard(
        public_site: PageServer, strict_pool: BrowserPool, pool: BrowserPool) -> None:
    page_url = public_site.url("/form")
    assert await stun_packets(strict_pool, page_url) == 0
    assert await stun_packets(pool, page_url) > 0  # without the guard it would
