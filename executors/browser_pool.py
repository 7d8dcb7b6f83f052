"""One Chromium per process, shared by the browser executors through fresh contexts.

Contract:

- Playwright and Chromium start lazily, on the first :meth:`BrowserPool.context`; a browser
  that died (crash, killed) is noticed by ``is_connected()`` and relaunched on the next use.
  An attempt running when the browser dies fails retryably (``browser_crashed``).
- Each :meth:`BrowserPool.context` block gets its own ``BrowserContext`` (own cookies and
  storage, service workers blocked, downloads refused) and a session id; at most
  ``concurrency`` blocks are open at once (the rest wait their turn), and the context is
  always closed when the block ends, also on error or cancellation.
- Chromium is ``chromium_path`` (``CHROMIUM_PATH``) when given, else Playwright's own build if
  it is installed, else Debian's headless shell (package ``chromium-headless-shell``, the
  same Chromium without the desktop browser around it: what Playwright itself runs headless;
  a fresh context and page cost it a fraction of the CPU), else ``/usr/bin/chromium``; none
  of them → :class:`PermanentError` saying how to install one.
- With ``guard.allow_private`` off every request of a context — documents, subresources and
  WebSockets — passes the :class:`NetworkGuard` first, and a refused one is aborted. Chromium
  follows redirects without showing them to a route handler, so a document is fetched by the
  handler hop by hop, each ``Location`` checked before it is requested, and the final
  response handed to the page. Documents are fetched with a client whose connections go to
  the address the guard checked (``outbound.PinnedTransport``: no DNS rebinding), carrying
  the context's cookies; subresources and WebSockets are checked, then left to Chromium.
  Consequence: after a redirect the page's ``location`` is still the URL that was asked
  for; :meth:`BrowserPool.final_url` gives the one that answered. Subresources are checked
  on their first hop only.
- :meth:`BrowserPool.explain` turns a Playwright error into the executor error tree (a
  navigation the guard refused → :class:`BlockedDestination`, a timeout → retryable
  ``step_timeout``, a dead browser → retryable ``browser_crashed``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final
from urllib.parse import urljoin, urlsplit

import httpx
from playwright.async_api import (
    Browser,
    BrowserContext,
    Error,
    Playwright,
    Route,
    TimeoutError,
    WebSocketRoute,
    async_playwright,
)

from executors.base import (
    ExecutorError,
    PermanentError,
    RetryableError,
    from_outbound,
)
from outbound import NetworkGuard, OutboundError, PinnedTransport

log = logging.getLogger(__name__)

SYSTEM_CHROMIUM: Final = Path("/usr/bin/chromium")
# The binary itself: /usr/bin/chromium-headless-shell is a shell script that does not exec it,
# so a signal to the launched process would not reach the browser.
SYSTEM_HEADLESS_SHELL: Final = Path("/usr/lib/chromium/chromium-headless-shell")
# The machine may have no route out: without these Chromium stalls on background connections.
LAUNCH_ARGS: Final[tuple[str, ...]] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
LAUNCH_TIMEOUT_MS: Final = 60_000
MAX_REDIRECTS: Final = 20
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
# Headers not carried to the next hop of a redirect (the browser would not either).
_HOP_DROPPED_HEADERS: Final = frozenset(
    {"cookie", "authorization", "host", "content-length", "content-type", "origin"}
)


# Headers of a document request the client sets itself (or the cookie jar does).
_FETCH_DROPPED_HEADERS: Final = frozenset(
    {"host", "content-length", "connection", "cookie", "accept-encoding", "transfer-encoding"}
)
# Headers of a fetched answer that describe the wire form httpx already undid.
_ANSWER_DROPPED_HEADERS: Final = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection"}
)
DOCUMENT_TIMEOUT_SECONDS: Final = 60.0


@dataclass
class NetworkLog:
    """What the guard did in one session: refusals in order, redirects followed."""

    refusals: list[ExecutorError] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)


class BrowserPool:
    """Shared Chromium; see the module docstring for the contract."""

    def __init__(self, *, chromium_path: str | None, concurrency: int,
                 guard: NetworkGuard, http: httpx.AsyncClient | None = None) -> None:
        """``http`` fetches documents when the guard is on; it must connect through the guard
        (``outbound.PinnedTransport``). Without one the pool makes (and closes) its own."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.chromium_path = chromium_path
        self.concurrency = concurrency
        self.guard = guard
        self._http = http
        self._own_http: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._launch_lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._logs: dict[str, NetworkLog] = {}
        self.launch_count = 0

    @property
    def in_use(self) -> int:
        """Browser contexts open now (read by /metrics)."""
        return len(self._logs)

    @asynccontextmanager
    async def context(self, *, viewport: tuple[int, int] | None = None,
                      record_trace: bool = False) -> AsyncIterator[tuple[BrowserContext, str]]:
        """A fresh context and its session id, for one attempt.

        With ``record_trace`` the trace is started (screenshots and snapshots); the caller
        stops it (``context.tracing.stop(path=...)``) before the block ends to keep it.
        """
        async with self._slots:
            browser = await self._connected_browser()
            try:
                context = await browser.new_context(
                    service_workers="block",
                    accept_downloads=False,
                    viewport={"width": viewport[0], "height": viewport[1]} if viewport
                    else {"width": 1280, "height": 720},
                )
            except Error as exc:
                raise self.explain(exc, None, "opening a browser context") from exc
            session_id = "bs_" + secrets.token_hex(8)
            network_log = NetworkLog()
            self._logs[session_id] = network_log
            try:
                if not self.guard.allow_private:
                    await context.route("**/*", partial(self._guard_request, network_log))
                    await context.route_web_socket(
                        "**/*", partial(self._guard_socket, network_log))
                if record_trace:
                    await context.tracing.start(screenshots=True, snapshots=True)
                yield context, session_id
            finally:
                del self._logs[session_id]
                with suppress(Error):
                    await context.close()

    def final_url(self, session_id: str, url: str) -> str:
        """The URL that answered a navigation to ``url`` in this session (after redirects)."""
        network_log = self._logs.get(session_id)
        return network_log.redirects.get(url, url) if network_log else url

    def explain(self, exc: Error, session_id: str | None, doing: str) -> ExecutorError:
        """Translate a Playwright error raised while ``doing`` something into our tree."""
        message = exc.message.splitlines()[0] if exc.message else type(exc).__name__
        network_log = self._logs.get(session_id) if session_id else None
        if network_log and network_log.refusals and "ERR_BLOCKED_BY_CLIENT" in message:
            refusal = network_log.refusals[-1]
            return type(refusal)(f"{doing}: {refusal.message}", error_type=refusal.error_type)
        if isinstance(exc, TimeoutError):
            return RetryableError(f"{doing}: {message}", error_type="step_timeout")
        if self._browser is None or not self._browser.is_connected() or (
                "has been closed" in message or "crashed" in message.lower()):
            return RetryableError(f"{doing}: the browser went away ({message})",
                                  error_type="browser_crashed")
        if "is not a valid selector" in message or "Unexpected token" in message:
            return PermanentError(f"{doing}: {message}", error_type="invalid_selector")
        if "net::ERR_" in message:
            return RetryableError(f"{doing}: {message}", error_type="navigation_failed")
        return RetryableError(f"{doing}: {message}", error_type="browser_error")

    async def close(self) -> None:
        """Close the browser and stop Playwright; the pool may be used again afterwards."""
        async with self._launch_lock:
            browser, self._browser = self._browser, None
            playwright, self._playwright = self._playwright, None
            own_http, self._own_http = self._own_http, None
            if own_http is not None:
                await own_http.aclose()
            if browser is not None:
                with suppress(Error):
                    await browser.close()
            if playwright is not None:
                with suppress(Error):
                    await playwright.stop()

    # --- launching -------------------------------------------------------------------------

    async def _connected_browser(self) -> Browser:
        async with self._launch_lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._browser is not None:
                log.warning("browser disconnected; launching a new one")
                with suppress(Error):
                    await self._browser.close()
                self._browser = None
            try:
                self._browser = await self._launch()
            except Error:
                # The Playwright driver itself may be gone: start it again once.
                log.warning("browser launch failed; restarting Playwright", exc_info=True)
                await self._stop_playwright()
                try:
                    self._browser = await self._launch()
                except Error as exc:
                    raise RetryableError(f"could not launch Chromium: {exc.message}",
                                         error_type="browser_launch") from exc
            self.launch_count += 1
            return self._browser

    async def _launch(self) -> Browser:
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        executable = self._executable(self._playwright)
        return await self._playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(LAUNCH_ARGS),
            timeout=LAUNCH_TIMEOUT_MS,
        )

    def _executable(self, playwright: Playwright) -> str | None:
        """The Chromium binary to launch (None: Playwright's own build)."""
        if self.chromium_path:
            if not Path(self.chromium_path).is_file():
                raise PermanentError(
                    f"CHROMIUM_PATH={self.chromium_path} does not exist; point it at a "
                    "Chromium binary, or unset it to use Playwright's or /usr/bin/chromium",
                    error_type="browser_missing",
                )
            return self.chromium_path
        with suppress(Error):
            if Path(playwright.chromium.executable_path).is_file():
                return None
        for system in (SYSTEM_HEADLESS_SHELL, SYSTEM_CHROMIUM):
            if system.is_file():
                return str(system)
        raise PermanentError(
            "no Chromium found: install one with `apt-get install chromium-headless-shell` or "
            "`playwright install chromium`, or set CHROMIUM_PATH",
            error_type="browser_missing",
        )

    async def _stop_playwright(self) -> None:
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            with suppress(Exception):
                await playwright.stop()

    # --- the network guard inside the browser ------------------------------------------------

    async def _guard_request(self, network_log: NetworkLog, route: Route) -> None:
        """Route handler: refuse guarded destinations; fetch documents hop by hop."""
        request = route.request
        try:
            if urlsplit(request.url).scheme not in ("http", "https"):
                await route.continue_()
                return
            if not await self._allowed(network_log, request.url):
                await route.abort("blockedbyclient")
                return
            if request.resource_type != "document":
                await route.continue_()
                return
            await self._fetch_document(network_log, route)
        except OutboundError as exc:  # the pinned connection refused what DNS answered then
            network_log.refusals.append(from_outbound(exc))
            with suppress(Error):
                await route.abort("blockedbyclient")
        except (Error, httpx.HTTPError):
            # The context closed under the handler, or the fetch failed: the page sees a
            # failed request either way.
            with suppress(Error):
                await route.abort("failed")

    def _documents_client(self) -> httpx.AsyncClient:
        if self._http is not None:
            return self._http
        if self._own_http is None:
            self._own_http = httpx.AsyncClient(transport=PinnedTransport(self.guard))
        return self._own_http

    async def _fetch_document(self, network_log: NetworkLog, route: Route) -> None:
        """Fetch a document hop by hop through the pinned client (the connection goes to the
        address the guard checked: no DNS rebinding), then hand the answer to the page."""
        request = route.request
        url = request.url
        method = request.method
        headers = {k: v for k, v in (await request.all_headers()).items()
                   if not k.startswith(":") and k.lower() not in _FETCH_DROPPED_HEADERS}
        body = request.post_data_buffer
        context = request.frame.page.context
        response = await self._fetch_hop(context, method, url, headers, body)
        hops = 0
        while response.status_code in _REDIRECT_STATUSES and response.headers.get("location"):
            hops += 1
            if hops > MAX_REDIRECTS:
                network_log.refusals.append(RetryableError(
                    f"more than {MAX_REDIRECTS} redirects from {request.url}",
                    error_type="navigation_failed"))
                await route.abort("blockedbyclient")
                return
            next_url = urljoin(url, response.headers["location"])
            if not await self._allowed(network_log, next_url):
                await route.abort("blockedbyclient")
                return
            # 307/308 repeat the request; 303, and 301/302 after a POST, become a GET.
            keep_body = response.status_code in (307, 308)
            if not keep_body and (response.status_code == 303 or method == "POST"):
                method = "GET"
            headers = {k: v for k, v in headers.items()
                       if k.lower() not in _HOP_DROPPED_HEADERS}
            response = await self._fetch_hop(context, method, next_url, headers,
                                              body if keep_body else None)
            url = next_url
        if hops:
            network_log.redirects[request.url] = url
        answer_headers: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            if name.lower() in _ANSWER_DROPPED_HEADERS:
                continue
            previous = answer_headers.get(name)
            answer_headers[name] = value if previous is None else f"{previous}\n{value}"
        await route.fulfill(status=response.status_code, headers=answer_headers,
                            body=response.content)

    async def _fetch_hop(self, context: BrowserContext, method: str, url: str,
                         headers: dict[str, str], body: bytes | None) -> httpx.Response:
        cookies = await context.cookies(url)
        hop_headers = dict(headers)
        if cookies:
            hop_headers["cookie"] = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
        return await self._documents_client().request(
            method, url, headers=hop_headers, content=body, follow_redirects=False,
            timeout=DOCUMENT_TIMEOUT_SECONDS)

    async def _allowed(self, network_log: NetworkLog, url: str) -> bool:
        try:
            await self.guard.check_url(url)
        except OutboundError as exc:
            network_log.refusals.append(from_outbound(exc))
            return False
        return True

    async def _guard_socket(self, network_log: NetworkLog, socket: WebSocketRoute) -> None:
        url = socket.url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
        if await self._allowed(network_log, url):
            socket.connect_to_server()
        else:
            await socket.close(code=1008, reason="destination refused")
