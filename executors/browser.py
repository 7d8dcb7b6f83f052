"""browser_automation: drive a page through a list of steps in a shared Chromium.

Contract (docs/CONTRACT.md §5, §6):

- One fresh browser context per attempt (:class:`BrowserPool`); ``ctx.browser_session_id``
  names it. ``startUrl`` is loaded first, then ``steps`` in order, each bounded by
  ``stepTimeoutMs`` (a ``wait`` of ``ms`` waits exactly that long).
- Every step run is appended to ``ctx.steps``. Step indexes count what ran: with a
  ``startUrl`` it is step 0 and ``steps[i]`` is step ``i + 1``; without one ``steps[i]`` is
  step ``i``.
- The first failing step ends the attempt: its error names the step index, action and
  selector; a screenshot of the page (artifact kind ``screenshot``, name ``failure``) is
  saved when the page still answers; the steps not run are recorded as ``skipped``.
- Errors: a step that times out, or whose selector never matches within the timeout, is
  retryable (``step_timeout``); a navigation the network guard refuses is permanent
  (``blocked_destination``); a browser that dies mid-attempt is retryable
  (``browser_crashed``); an invalid selector is permanent (``invalid_selector``).
- ``recordTrace``: the Playwright trace zip is saved as an artifact of kind ``trace``, after
  success and after failure alike — unless the attempt types a secret (a ``type`` step with
  ``secret: true``, a password-looking selector, or an element of type password): a trace
  records typed values, so none is kept.
- ``extract`` of one element waits for it (missing → ``step_timeout``); with ``all`` it
  returns the matches present now, possibly ``[]``. Text is the trimmed ``innerText``;
  ``href``/``src`` attributes are made absolute. Typed text is never echoed in ``detail``.
- Result: ``{finalUrl, title, extracted: {name: value}, screenshots: [Artifact]}``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any, ClassVar

import msgspec
from playwright.async_api import BrowserContext, Error, Page

from executors.base import (
    ExecutionContext,
    ExecutionResult,
    ExecutorError,
    Issue,
    Resources,
    TaskSpec,
)
from executors.browser_pool import BrowserPool
from outbound.http import is_http_url
from schemas.configs import (
    BrowserAutomationConfig,
    ClickStep,
    ExtractStep,
    NavigateStep,
    ScreenshotStep,
    Step,
    TypeStep,
    WaitStep,
)
from schemas.secrets import is_password_selector
from schemas.tasks import Artifact, StepRecord

FAILURE_SCREENSHOT_TIMEOUT_MS = 5_000
LIVE_FRAME_TIMEOUT_MS = 3_000
LIVE_FRAME_QUALITY = 60
_ELEMENT_STATES = frozenset({"visible", "hidden", "attached", "detached"})

# Trimmed innerText, or an attribute with href/src made absolute against the document.
READ_ELEMENT_JS = """(el, attribute) => {
  if (!attribute) return (el.innerText ?? el.textContent ?? '').trim();
  const value = el.getAttribute(attribute);
  if (value === null) return null;
  if (attribute === 'href' || attribute === 'src') {
    try { return new URL(value, el.ownerDocument.baseURI).href; } catch (e) { return value; }
  }
  return value;
}"""
READ_ALL_JS = f"(els, attribute) => els.map(el => ({READ_ELEMENT_JS})(el, attribute))"
# The extract step in one evaluation of the page, for a selector the page's own
# querySelectorAll takes as it is: ``{value}``, or null when Playwright's selector engines must
# decide — a selector that is not plain CSS (``text=``, ``>>``, ``:visible``...), a page with
# an open shadow root (Playwright's CSS pierces them, the page's own does not), or a single
# element not there yet (Playwright waits for it). Without shadow roots a plain CSS selector
# matches the same elements in the same order either way; this way costs the page no
# Playwright injected script (a third of the CPU of a short task's page).
EXTRACT_NOW_JS = f"""([selector, attribute, all]) => {{
  let found;
  try {{
    found = all ? Array.from(document.querySelectorAll(selector))
                : [document.querySelector(selector)];
  }} catch (e) {{ return null; }}
  if (!all && !found[0]) return null;
  const walker = document.createTreeWalker(document, NodeFilter.SHOW_ELEMENT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {{
    if (node.shadowRoot) return null;
  }}
  const read = {READ_ELEMENT_JS};
  return {{value: all ? found.map(el => read(el, attribute)) : read(found[0], attribute)}};
}}"""


class _Run:
    """The state of one attempt: the page, what was extracted, screenshots taken."""

    def __init__(self, page: Page, ctx: ExecutionContext, timeout_ms: int) -> None:
        self.page = page
        self.ctx = ctx
        self.timeout_ms = timeout_ms
        self.extracted: dict[str, Any] = {}
        self.screenshots: list[Artifact] = []
        self.typed_secret = False
        # Fields a secret is typed into: masked in the live view's frames.
        self.secret_selectors: list[str] = []

    async def frame(self) -> bytes | None:
        """A frame for the live view (JPEG), the secret fields masked; None when the page
        does not answer (navigating, closed)."""
        try:
            return await self.page.screenshot(
                type="jpeg", quality=LIVE_FRAME_QUALITY, timeout=LIVE_FRAME_TIMEOUT_MS,
                mask=[self.page.locator(s) for s in self.secret_selectors])
        except Error:
            return None


def _describe(step: Step) -> str:
    selector = getattr(step, "selector", None)
    url = getattr(step, "url", None)
    action = type(step).__struct_config__.tag
    if selector:
        return f"{action} {selector!r}"
    if url:
        return f"{action} {url!r}"
    return str(action)


class BrowserAutomationExecutor:
    """Runs ``browser_automation`` tasks; see the module docstring."""

    task_type: ClassVar[str] = "browser_automation"

    @classmethod
    def build(cls, resources: Resources) -> BrowserAutomationExecutor:
        return cls(resources.browser_pool)

    def __init__(self, pool: BrowserPool) -> None:
        self.pool = pool

    def check(self, config: BrowserAutomationConfig, *,
              source_webhook_id: str | None) -> list[Issue]:
        """startUrl or steps required, http(s) URLs, waits that wait on something, and
        extract names unique."""
        issues: list[Issue] = []
        if not config.steps and not config.start_url:
            issues.append(Issue(("steps",), "give a startUrl or at least one step"))
        if config.start_url is not None and not is_http_url(config.start_url):
            issues.append(Issue(("startUrl",), "must be an http or https URL"))
        names: set[str] = set()
        for index, step in enumerate(config.steps):
            path: tuple[str | int, ...] = ("steps", index)
            if isinstance(step, NavigateStep) and not is_http_url(step.url):
                issues.append(Issue((*path, "url"), "must be an http or https URL"))
            elif isinstance(step, WaitStep):
                if step.selector is None and step.ms is None and step.state is None:
                    issues.append(Issue(path, "wait needs a selector, ms or state"))
                elif step.state in _ELEMENT_STATES and not step.selector:
                    issues.append(Issue((*path, "state"),
                                        f"state {step.state!r} needs a selector"))
            elif isinstance(step, ExtractStep):
                if step.name in names:
                    issues.append(Issue((*path, "name"),
                                        f"extract name {step.name!r} is used twice"))
                names.add(step.name)
        return issues

    async def execute(self, task: TaskSpec[BrowserAutomationConfig],
                      ctx: ExecutionContext) -> ExecutionResult:
        config = task.config
        viewport = (config.viewport.width, config.viewport.height) if config.viewport else None
        steps: list[Step] = list(config.steps)
        if config.start_url:
            steps.insert(0, NavigateStep(url=config.start_url))
        # A trace records what is typed: a task typing a known secret records none.
        record_trace = config.record_trace and not any(_is_secret_step(s) for s in steps)
        async with self.pool.context(viewport=viewport,
                                     record_trace=record_trace) as (context, session_id):
            ctx.browser_session_id = session_id
            try:
                page = await context.new_page()
            except Error as exc:
                raise self.pool.explain(exc, session_id, "opening a page") from exc
            page.set_default_timeout(config.step_timeout_ms)
            page.set_default_navigation_timeout(config.step_timeout_ms)
            run = _Run(page, ctx, config.step_timeout_ms)
            if ctx.live is not None:
                ctx.live.frames(run.frame)
            try:
                await self._run_steps(run, steps, session_id)
                final_url = page.url
                title = await page.title()
            except ExecutorError:
                if record_trace:
                    await self._save_trace(context, run)
                raise
            except Error as exc:  # the page went away between steps
                if record_trace:
                    await self._save_trace(context, run)
                raise self.pool.explain(exc, session_id, "reading the page") from exc
            finally:
                if ctx.live is not None:
                    ctx.live.frames(None)
            if record_trace:
                await self._save_trace(context, run)
        output = {
            "finalUrl": final_url,
            "title": title,
            "extracted": run.extracted,
            "screenshots": [msgspec.to_builtins(a) for a in run.screenshots],
        }
        summary = (f"{len(steps)} steps, {len(run.extracted)} values extracted, "
                   f"{len(run.screenshots)} screenshots; ended at {final_url}")
        return ExecutionResult(output=output, summary=summary)

    async def _run_steps(self, run: _Run, steps: list[Step], session_id: str) -> None:
        for index, step in enumerate(steps):
            run.ctx.report_progress(index, len(steps), _describe(step))
            started_at = run.ctx.clock()
            started = time.monotonic()
            try:
                detail = await self._run_step(run, step, session_id)
            except (Error, ExecutorError) as exc:
                duration_ms = int((time.monotonic() - started) * 1000)
                doing = f"step {index} ({_describe(step)})"
                error = (exc if isinstance(exc, ExecutorError)
                         else self.pool.explain(exc, session_id, doing))
                if isinstance(exc, ExecutorError):
                    error.message = f"{doing}: {exc.message}"
                    error.args = (error.message,)
                run.ctx.steps.append(StepRecord(
                    index=index, action=str(type(step).__struct_config__.tag), status="failed",
                    started_at=started_at, duration_ms=duration_ms,
                    detail={**_step_detail(step), "error": error.message},
                ))
                await self._save_failure_screenshot(run)
                for later, skipped in enumerate(steps[index + 1:], start=index + 1):
                    run.ctx.steps.append(StepRecord(
                        index=later, action=str(type(skipped).__struct_config__.tag),
                        status="skipped", started_at=run.ctx.clock(), duration_ms=0,
                        detail=_step_detail(skipped),
                    ))
                raise error from exc
            run.ctx.steps.append(StepRecord(
                index=index, action=str(type(step).__struct_config__.tag), status="success",
                started_at=started_at, duration_ms=int((time.monotonic() - started) * 1000),
                detail=detail,
            ))
        run.ctx.report_progress(len(steps), len(steps))

    async def _run_step(self, run: _Run, step: Step, session_id: str) -> dict[str, Any]:
        page = run.page
        detail = _step_detail(step)
        if isinstance(step, NavigateStep):
            response = await page.goto(step.url, wait_until="load")
            detail["finalUrl"] = page.url
            detail["status"] = response.status if response is not None else None
        elif isinstance(step, ClickStep):
            await page.click(step.selector)
        elif isinstance(step, TypeStep):
            if _is_secret_step(step):
                run.secret_selectors.append(step.selector)
            elif await _is_password_field(page, step.selector):
                run.typed_secret = True  # the trace would hold it: it is not kept
                run.secret_selectors.append(step.selector)
            await page.fill(step.selector, step.text)
            if step.press_enter:
                await page.press(step.selector, "Enter")
        elif isinstance(step, WaitStep):
            await self._wait(page, step)
        elif isinstance(step, ExtractStep):
            value = await self._extract(run, step)
            run.extracted[step.name] = value
            detail["value"] = value
        else:
            artifact = await run.ctx.save_artifact(
                kind="screenshot", content_type="image/png",
                data=await page.screenshot(full_page=step.full_page, type="png"),
                name=step.name,
            )
            run.screenshots.append(artifact)
            detail["artifactId"] = artifact.id
        return detail

    async def _wait(self, page: Page, step: WaitStep) -> None:
        if step.selector:
            state = step.state if step.state in _ELEMENT_STATES else "visible"
            await page.wait_for_selector(step.selector, state=state)  # type: ignore[arg-type]
        if step.ms is not None:
            await asyncio.sleep(step.ms / 1000)
        if step.state in ("load", "domcontentloaded", "networkidle"):
            await page.wait_for_load_state(step.state)

    async def _extract(self, run: _Run, step: ExtractStep) -> Any:
        try:
            now = await run.page.evaluate(EXTRACT_NOW_JS,
                                          [step.selector, step.attribute, step.all])
        except Error:  # e.g. the page is navigating: Playwright's way retries
            now = None
        if isinstance(now, dict):
            return now["value"]
        locator = run.page.locator(step.selector)
        if step.all:
            return await locator.evaluate_all(READ_ALL_JS, step.attribute)
        first = locator.first
        await first.wait_for(state="attached")
        return await first.evaluate(READ_ELEMENT_JS, step.attribute)

    async def _save_failure_screenshot(self, run: _Run) -> None:
        try:
            data = await run.page.screenshot(type="png", timeout=FAILURE_SCREENSHOT_TIMEOUT_MS)
        except Error:
            return  # the page or the browser is gone; the error says why
        await run.ctx.save_artifact(kind="screenshot", content_type="image/png", data=data,
                                    name="failure")

    async def _save_trace(self, context: BrowserContext, run: _Run) -> None:
        ctx = run.ctx
        if run.typed_secret:
            with suppress(Error):
                await context.tracing.stop()
            return
        with tempfile.TemporaryDirectory(prefix="errands-trace-") as tmp:
            path = Path(tmp) / "trace.zip"
            try:
                await context.tracing.stop(path=path)
            except Error:
                return  # the browser died with the trace in it
            data = await asyncio.to_thread(path.read_bytes)
        await ctx.save_artifact(kind="trace", content_type="application/zip", data=data,
                                name="trace")


def _is_secret_step(step: Step) -> bool:
    return isinstance(step, TypeStep) and (step.secret or is_password_selector(step.selector))


async def _is_password_field(page: Page, selector: str) -> bool:
    """Whether ``selector``'s element is a password input (``False`` when there is none yet:
    the fill that follows waits for it and names the failure)."""
    try:
        kind = await page.locator(selector).first.get_attribute("type", timeout=1000)
    except Error:
        return False
    return (kind or "").lower() == "password"


def _step_detail(step: Step) -> dict[str, Any]:
    if isinstance(step, NavigateStep):
        return {"url": step.url}
    if isinstance(step, ClickStep):
        return {"selector": step.selector}
    if isinstance(step, TypeStep):
        return {"selector": step.selector, "chars": len(step.text),
                "pressEnter": step.press_enter}
    if isinstance(step, WaitStep):
        return {k: v for k, v in (("selector", step.selector), ("ms", step.ms),
                                  ("state", step.state)) if v is not None}
    if isinstance(step, ExtractStep):
        return {"name": step.name, "selector": step.selector, "attribute": step.attribute,
                "all": step.all}
    assert isinstance(step, ScreenshotStep)
    return {"name": step.name, "fullPage": step.full_page}
