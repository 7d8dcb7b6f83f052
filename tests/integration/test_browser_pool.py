"""BrowserPool: one shared Chromium, bounded contexts, relaunch after a crash."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from playwright.async_api import Error, async_playwright

from executors.base import (
    ExecutionContext,
    PermanentError,
    RetryableError,
    TaskSpec,
)
from executors.browser import BrowserAutomationExecutor
from executors.browser_pool import SYSTEM_HEADLESS_SHELL, BrowserPool
from outbound import NetworkGuard
from schemas.configs import BrowserAutomationConfig
from server.node.artifacts import FileArtifactStore
from tests.support.pages import PageServer, serve_pages

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def task_of(config: dict[str, Any]) -> TaskSpec:
    return TaskSpec(id="task_1", title="browse", task_type="browser_automation",
                    config=msgspec.convert(config, BrowserAutomationConfig), timeout_seconds=300)


def context_for(store: FileArtifactStore) -> ExecutionContext:
    return ExecutionContext(task_id="task_1", execution_id="exe_1", attempt_number=1,
                            triggered_by="create", worker_id="w1", clock=lambda: NOW,
                            artifacts_sink=store)


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def browser_pids() -> list[int]:
    """Main Chromium processes (not renderers) started below this test process."""
    me = os.getpid()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--remote-debugging-pipe" not in argv or any(a.startswith(b"--type=") for a in argv):
            continue
        pid: int | None = int(entry.name)
        while pid not in (None, 0, 1, me):
            pid = _parent_of(pid)  # type: ignore[arg-type]
        if pid == me:
            found.append(int(entry.name))
    # A child the browser has forked but not yet exec'd still has the browser's command line:
    # it is not another browser (its parent is one).
    return [p for p in found if _parent_of(p) not in found]


@pytest.fixture
def site() -> Iterator[PageServer]:
    with serve_pages("127.0.0.1") as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> FileArtifactStore:
    return FileArtifactStore(tmp_path / "artifacts")


@pytest.fixture
async def pool() -> AsyncIterator[BrowserPool]:
    pool = BrowserPool(chromium_path=None, concurrency=3, guard=NetworkGuard(allow_private=True))
    yield pool
    await pool.close()


@pytest.mark.browser
async def test_ten_concurrent_tasks_share_one_browser_within_the_limit(
        site: PageServer, pool: BrowserPool, store: FileArtifactStore) -> None:
    assert browser_pids() == []  # lazy: nothing launched before first use
    executor = BrowserAutomationExecutor(pool)
    contexts = [context_for(store) for _ in range(10)]
    tasks = [task_of({"startUrl": site.url(f"/hold?ms=300&n={n}"), "steps": [
        {"action": "extract", "name": "held", "selector": "#held"},
        {"action": "screenshot", "name": f"shot-{n}"},
    ]}) for n in range(10)]
    seen_pids: set[int] = set()

    async def watch() -> None:
        while True:
            seen_pids.update(browser_pids())
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        results = await asyncio.gather(*(executor.execute(task, ctx)
                                         for task, ctx in zip(tasks, contexts, strict=True)))
    finally:
        watcher.cancel()

    assert [r.output["extracted"] for r in results] == [{"held": "held"}] * 10
    assert len({ctx.browser_session_id for ctx in contexts}) == 10
    assert len(seen_pids) == 1
    assert pool.launch_count == 1
    assert 1 <= site.max_in_flight <= 3  # the pool's concurrency


@pytest.mark.browser
async def test_browser_killed_mid_run_fails_retryably_then_relaunches(
        site: PageServer, pool: BrowserPool, store: FileArtifactStore) -> None:
    executor = BrowserAutomationExecutor(pool)
    running = asyncio.create_task(executor.execute(task_of({
        "startUrl": site.url("/never"), "stepTimeoutMs": 60_000,
        "steps": [{"action": "wait", "selector": "#never"}]}), context_for(store)))
    for _ in range(400):
        if "/never" in site.hits:
            break
        await asyncio.sleep(0.05)
    [first_pid] = browser_pids()
    os.kill(first_pid, signal.SIGKILL)

    with pytest.raises(RetryableError) as caught:
        await running
    assert caught.value.error_type == "browser_crashed"

    ctx = context_for(store)
    result = await executor.execute(task_of({"startUrl": site.url("/products"), "steps": [
        {"action": "extract", "name": "heading", "selector": "#heading"}]}), ctx)

    assert result.output["extracted"] == {"heading": "Our products"}
    assert pool.launch_count == 2
    second = browser_pids()
    assert len(second) == 1 and second[0] != first_pid


@pytest.mark.browser
async def test_contexts_are_isolated_and_closed(site: PageServer, pool: BrowserPool) -> None:
    async with pool.context() as (first, first_id):
        await first.add_cookies([{"name": "seen", "value": "1", "url": site.base}])
        async with pool.context(viewport=(400, 300)) as (second, second_id):
            assert await second.cookies() == []
            page = await second.new_page()
            assert page.viewport_size == {"width": 400, "height": 300}
        assert len(await first.cookies()) == 1
    assert first_id != second_id
    with pytest.raises(Error):
        await first.new_page()


@pytest.mark.browser
async def test_close_then_reuse_launches_again(site: PageServer, pool: BrowserPool) -> None:
    async with pool.context():
        pass
    await pool.close()
    assert browser_pids() == []
    async with pool.context() as (context, _):
        page = await context.new_page()
        await page.goto(site.url("/products"))
        assert await page.title() == "Products"
    assert pool.launch_count == 2


@pytest.mark.browser
async def test_without_chromium_path_debians_headless_shell_is_launched(
        site: PageServer, pool: BrowserPool) -> None:
    async with async_playwright() as playwright:
        if Path(playwright.chromium.executable_path).is_file():
            pytest.skip("Playwright's own Chromium is installed: it comes first")
    assert SYSTEM_HEADLESS_SHELL.is_file(), "scripts/setup installs chromium-headless-shell"
    async with pool.context() as (context, _):
        page = await context.new_page()
        await page.goto(site.url("/products"))
        [pid] = browser_pids()
        assert Path(f"/proc/{pid}/exe").resolve() == SYSTEM_HEADLESS_SHELL.resolve()


async def test_missing_chromium_path_is_a_permanent_error(tmp_path: Path) -> None:
    pool = BrowserPool(chromium_path=str(tmp_path / "no-chromium"), concurrency=1,
                       guard=NetworkGuard(allow_private=True))
    try:
        with pytest.raises(PermanentError, match="CHROMIUM_PATH") as caught:
            async with pool.context():
                pass
        assert caught.value.error_type == "browser_missing"
    finally:
        await pool.close()


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        BrowserPool(chromium_path=None, concurrency=0, guard=NetworkGuard(allow_private=True))
