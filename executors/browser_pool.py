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
- With ``guard.allow_private`` off every context is given its own
  :class:`outbound.proxy.GuardedProxy` (SOCKS5 on loopback, the implicit loopback bypass
  removed), so every TCP connection its pages open — documents, subresources, each redirect
  hop, WebSockets, worker fetches — is checked by the :class:`NetworkGuard` against the
  address it resolves to, and goes to that address (no DNS rebinding); Chromium resolves no
  name itself. A refused connection fails the request that needed it; why is kept for
  :meth:`BrowserPool.explain`. Chromium follows redirects itself, so ``page.url`` is
  the URL that answered. The proxy closes with the context. WebRTC may not send UDP
  outside the proxy (``--force-webrtc-ip-handling-policy``).
- :meth:`BrowserPool.explain` turns a Playwright error into the executor error tree: a
  connection the proxy failed → why, as the session's latest proxy failure says (a guard
  refusal → :class:`BlockedDestination` naming the address; an allowed destination that did
  not answer → retryable ``navigation_failed``), a timeout → retryable ``step_timeout``, a
  dead browser → retryable ``browser_crashed``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from playwright.async_api import (
    Browser,
    BrowserContext,
    Error,
    Page,
    Playwright,
    TimeoutError,
    async_playwright,
)

from executors.base import (
    ExecutorError,
    PermanentError,
    RetryableError,
    from_outbound,
)
from outbound import DestinationUnreachable, GuardedProxy, NetworkGuard, OutboundError

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
# With the guard on: WebRTC may not send UDP around the proxy (its TCP goes through it).
GUARDED_LAUNCH_ARGS: Final[tuple[str, ...]] = (
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
LAUNCH_TIMEOUT_MS: Final = 60_000
# What a page that is only read (never looked at) does not fetch: CDP Fetch resource types.
SKIPPED_WHEN_READING: Final = ("Image", "Font", "Media")
# The proxy's errors as Chromium reports them for a connection the guard refused.
_PROXY_ERRORS: Final = ("ERR_SOCKS_CONNECTION_FAILED", "ERR_PROXY_CONNECTION_FAILED",
                        "ERR_SOCKS_CONNECTION_HOST_UNREACHABLE", "ERR_TUNNEL_CONNECTION_FAILED")


@dataclass
class NetworkLog:
    """Why the session's proxy failed connections, in order: the guard's refusals, and
    allowed destinations that did not answer (retryable ``navigation_failed``)."""

    failures: list[ExecutorError] = field(default_factory=list)

    def failed(self, exc: OutboundError) -> None:
        self.failures.append(
            RetryableError(exc.message, error_type="navigation_failed")
            if isinstance(exc, DestinationUnreachable) else from_outbound(exc))


class BrowserPool:
    """Shared Chromium; see the module docstring for the contract."""

    def __init__(self, *, chromium_path: str | None, concurrency: int,
                 guard: NetworkGuard) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.chromium_path = chromium_path
        self.concurrency = concurrency
        self.guard = guard
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
            network_log = NetworkLog()
            proxy: GuardedProxy | None = None
            options: dict[str, Any] = {}
            if not self.guard.allow_private:
                proxy = GuardedProxy(self.guard, on_failure=network_log.failed)
                await proxy.start()
                # "<-loopback>": loopback destinations go through the proxy too.
                options["proxy"] = {"server": proxy.url, "bypass": "<-loopback>"}
            try:
                try:
                    context = await browser.new_context(
                        service_workers="block",
                        accept_downloads=False,
                        viewport={"width": viewport[0], "height": viewport[1]} if viewport
                        else {"width": 1280, "height": 720},
                        **options,
                    )
                except Error as exc:
                    raise self.explain(exc, None, "opening a browser context") from exc
                session_id = "bs_" + secrets.token_hex(8)
                self._logs[session_id] = network_log
                try:
                    if record_trace:
                        await context.tracing.start(screenshots=True, snapshots=True)
                    yield context, session_id
                finally:
                    del self._logs[session_id]
                    with suppress(Error):
                        await context.close()
            finally:
                if proxy is not None:
                    await proxy.close()

    def explain(self, exc: Error, session_id: str | None, doing: str) -> ExecutorError:
        """Translate a Playwright error raised while ``doing`` something into our tree."""
        message = exc.message.splitlines()[0] if exc.message else type(exc).__name__
        network_log = self._logs.get(session_id) if session_id else None
        if network_log and network_log.failures and any(e in message for e in _PROXY_ERRORS):
            failure = network_log.failures[-1]
            return type(failure)(f"{doing}: {failure.message}", error_type=failure.error_type)
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

    async def skip_media(self, page: Page) -> None:
        """Make ``page`` fail its image, font and media requests (``blockedbyclient``) without
        fetching them, for a page that is read and never looked at (no screenshot).

        Only those requests are intercepted (CDP ``Fetch`` patterns by resource type), so the
        document, styles (which decide what ``innerText`` sees), scripts and XHR load as
        before and cost nothing more. The guard still applies to everything. Frames in
        another renderer process (cross-site iframes) keep their media.
        """
        session = await page.context.new_cdp_session(page)
        pending: set[asyncio.Task[None]] = set()

        async def fail(request_id: str) -> None:
            with suppress(Error):  # the page may be gone already
                await session.send("Fetch.failRequest",
                                   {"requestId": request_id, "errorReason": "BlockedByClient"})

        def paused(event: dict[str, Any]) -> None:
            task = asyncio.get_running_loop().create_task(fail(event["requestId"]))
            pending.add(task)
            task.add_done_callback(pending.discard)

        session.on("Fetch.requestPaused", paused)
        await session.send("Fetch.enable", {"patterns": [
            {"urlPattern": "*", "resourceType": kind, "requestStage": "Request"}
            for kind in SKIPPED_WHEN_READING]})

    async def close(self) -> None:
        """Close the browser and stop Playwright; the pool may be used again afterwards."""
        async with self._launch_lock:
            browser, self._browser = self._browser, None
            playwright, self._playwright = self._playwright, None
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
            executable_path=executable, headless=True,
            args=[*LAUNCH_ARGS, *(() if self.guard.allow_private else GUARDED_LAUNCH_ARGS)],
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
