"""data_extraction: number parsing, config checks, and typed extraction in a real Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from executors.base import (
    BlockedDestination,
    ExecutionContext,
    PermanentError,
    RetryableError,
    TaskSpec,
)
from executors.browser import BrowserAutomationExecutor
from executors.browser_pool import BrowserPool
from executors.extraction import (
    DataExtractionExecutor,
    css_selector_problem,
    number_from_text,
)
from outbound import NetworkGuard
from schemas.configs import BrowserAutomationConfig, DataExtractionConfig
from server.node.artifacts import FileArtifactStore
from tests.support.pages import PageServer, serve_pages

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "number"), [
    ("$1,299.00", 1299.0),
    ("1.299,00 €", 1299.0),
    ("1 299,50 €", 1299.5),
    ("1\u00a0299,50", 1299.5),
    ("1,234,567", 1234567),
    ("1.234.567,89", 1234567.89),
    ("1,299", 1299),
    ("1,5", 1.5),
    ("3.141", 3.141),
    ("CHF 1'299.90", 1299.9),
    ("-$5.00", -5.0),
    ("Rating: 4.5 out of 5", 4.5),
    ("12 items", 12),
    ("Free", None),
    ("", None),
    (None, None),
])
def test_number_from_text(text: str | None, number: float | None) -> None:
    value = number_from_text(text)
    assert value == number
    assert type(value) is type(number)


@pytest.mark.parametrize(("selector", "ok"), [
    (".product > a.title", True),
    ("a[href^='http']", True),
    (":scope > li:nth-child(2)", True),
    ("div:not(.x, .y)", True),
    ("a[href='x]']", True),
    ("a[href", False),
    ("li:nth-child(2", False),
    ("a)", False),
    ("> a", False),
    ("a >", False),
    ("a[title='x]", False),
    ("  ", False),
])
def test_css_selector_problem(selector: str, ok: bool) -> None:
    assert (css_selector_problem(selector) is None) is ok


def check_paths(config: dict[str, Any]) -> list[tuple[str | int, ...]]:
    executor = DataExtractionExecutor(BrowserPool(
        chromium_path=None, concurrency=1, guard=NetworkGuard(allow_private=True)))
    return [issue.path for issue in executor.check(
        msgspec.convert(config, DataExtractionConfig), source_webhook_id=None)]


def test_check_names_each_problem_by_path() -> None:
    config = {"url": "file:///etc/passwd", "schema": {"baseSelector": "div[", "fields": [
        {"name": "a", "selector": "a", "type": "text"},
        {"name": "b", "selector": "b", "type": "nested"},
        {"name": "c", "selector": "img", "type": "attribute"},
        {"name": "a", "selector": "i", "type": "text", "fields": [
            {"name": "x", "selector": "x"}]},
        {"name": "d", "selector": "d", "type": "nested", "fields": [
            {"name": "y", "selector": "y"}, {"name": "y", "selector": "(", "type": "attribute"}]},
    ]}}
    assert check_paths(config) == [
        ("url",),
        ("schema", "baseSelector"),
        ("schema", "fields", 1, "fields"),
        ("schema", "fields", 2, "attribute"),
        ("schema", "fields", 3, "name"),
        ("schema", "fields", 3, "fields"),
        ("schema", "fields", 4, "fields", 1, "name"),
        ("schema", "fields", 4, "fields", 1, "selector"),
        ("schema", "fields", 4, "fields", 1, "attribute"),
    ]


def test_check_accepts_a_sound_config() -> None:
    assert check_paths({"url": "https://shop.test/list", "waitFor": ".item", "schema": {
        "baseSelector": ".item", "fields": [
            {"name": "title", "selector": "h2"},
            {"name": "link", "selector": "a", "type": "attribute", "attribute": "href"},
            {"name": "seller", "selector": ".seller", "type": "nested", "fields": [
                {"name": "title", "selector": "h2"}]},
        ]}}) == []


# --- execute() -------------------------------------------------------------------------------

def task_of(config: dict[str, Any]) -> TaskSpec:
    return TaskSpec(id="task_2", title="extract", task_type="data_extraction",
                    config=msgspec.convert(config, DataExtractionConfig), timeout_seconds=120)


def context_for(tmp_path: Path) -> ExecutionContext:
    return ExecutionContext(task_id="task_2", execution_id="exe_2", attempt_number=1,
                            triggered_by="create", worker_id="w1", clock=lambda: NOW,
                            artifacts_sink=FileArtifactStore(tmp_path))


@pytest.fixture
def site() -> Iterator[PageServer]:
    with serve_pages("127.0.0.1") as server:
        yield server


@pytest.fixture
async def pool() -> AsyncIterator[BrowserPool]:
    pool = BrowserPool(chromium_path=None, concurrency=2, guard=NetworkGuard(allow_private=True))
    yield pool
    await pool.close()


PRODUCT_FIELDS = [
    {"name": "title", "selector": ".title"},
    {"name": "sku", "selector": ":scope", "type": "attribute", "attribute": "data-sku"},
    {"name": "link", "selector": ".title", "type": "attribute", "attribute": "href"},
    {"name": "image", "selector": "img", "type": "attribute", "attribute": "src"},
    {"name": "price", "selector": ".price", "type": "number"},
    {"name": "tags", "selector": ".tags li", "type": "list"},
    {"name": "description", "selector": ".desc", "type": "html"},
    {"name": "seller", "selector": ".seller", "type": "nested", "fields": [
        {"name": "name", "selector": ".seller-name"},
        {"name": "rating", "selector": ".rating", "type": "number"},
    ]},
]


@pytest.mark.browser
async def test_extracts_typed_records_per_base_match(site: PageServer, pool: BrowserPool,
                                                     tmp_path: Path) -> None:
    ctx = context_for(tmp_path)
    task = task_of({"url": site.url("/products"),
                    "schema": {"baseSelector": ".product", "fields": PRODUCT_FIELDS}})

    result = await DataExtractionExecutor(pool).execute(task, ctx)

    output = result.output
    assert output["url"] == site.url("/products")
    assert output["count"] == 3
    assert output["extractedAt"] == "2026-03-01T12:00:00Z"
    assert output["data"] == [
        {"title": "Widget", "sku": "A1", "link": site.url("/p/widget"),
         "image": site.url("/img/widget.png"), "price": 1299.0, "tags": ["tools", "metal"],
         "description": "A <b>fine</b> widget",
         "seller": {"name": "ACME", "rating": 4.5}},
        {"title": "Gadget", "sku": "B2", "link": "https://example.test/gadget",
         "image": site.url("/img/gadget.png"), "price": 1299.5, "tags": ["gadgets"],
         "description": "Gadget", "seller": {"name": "Globex", "rating": None}},
        {"title": "Freebie", "sku": "C3", "link": site.url("/p/free"), "image": None,
         "price": None, "tags": [], "description": "Free", "seller": None},
    ]
    assert ctx.browser_session_id is not None
    assert ctx.artifacts == []


@pytest.mark.browser
async def test_without_base_selector_data_is_one_object(site: PageServer, pool: BrowserPool,
                                                        tmp_path: Path) -> None:
    task = task_of({"url": site.url("/products"), "schema": {"fields": [
        {"name": "heading", "selector": "#heading"},
        {"name": "skus", "selector": ".product", "type": "list", "attribute": "data-sku"},
        {"name": "missing", "selector": "#nothing-here"},
    ]}})
    result = await DataExtractionExecutor(pool).execute(task, context_for(tmp_path))
    assert result.output["data"] == {
        "heading": "Our products", "skus": ["A1", "B2", "C3"], "missing": None}
    assert result.output["count"] == 1


@pytest.mark.browser
async def test_wait_for_sees_content_rendered_by_script(site: PageServer, pool: BrowserPool,
                                                        tmp_path: Path) -> None:
    schema = {"baseSelector": ".late", "fields": [
        {"name": "name", "selector": ".name"},
        {"name": "price", "selector": ".price", "type": "number"}]}
    executor = DataExtractionExecutor(pool)

    unwaited = await executor.execute(task_of({"url": site.url("/delayed?ms=800"),
                                               "schema": schema}), context_for(tmp_path))
    waited = await executor.execute(task_of({"url": site.url("/delayed?ms=800"),
                                             "waitFor": ".late", "schema": schema}),
                                    context_for(tmp_path))

    assert unwaited.output["data"] == []
    assert waited.output["data"] == [{"name": "Alpha", "price": 10.5},
                                     {"name": "Beta", "price": 20.0}]


@pytest.mark.browser
async def test_errors_are_classified(site: PageServer, pool: BrowserPool,
                                     tmp_path: Path) -> None:
    executor = DataExtractionExecutor(pool)
    fields = [{"name": "t", "selector": "title"}]

    with pytest.raises(PermanentError) as not_found:
        await executor.execute(task_of({"url": site.url("/nope"), "schema": {"fields": fields}}),
                               context_for(tmp_path))
    assert not_found.value.error_type == "http_status"

    with pytest.raises(PermanentError) as bad_selector:
        await executor.execute(task_of({"url": site.url("/products"), "schema": {
            "baseSelector": "div[", "fields": fields}}), context_for(tmp_path))
    assert bad_selector.value.error_type == "invalid_selector"


@pytest.mark.browser
async def test_wait_for_timeout_is_retryable(site: PageServer, tmp_path: Path) -> None:
    pool = BrowserPool(chromium_path=None, concurrency=1, guard=NetworkGuard(allow_private=True))
    task = TaskSpec(id="t", title="x", task_type="data_extraction", timeout_seconds=1,
                    config=msgspec.convert({"url": site.url("/never"), "waitFor": "#never",
                                            "schema": {"fields": [{"name": "t",
                                                                   "selector": "p"}]}},
                                           DataExtractionConfig))
    try:
        with pytest.raises(RetryableError) as caught:
            await DataExtractionExecutor(pool).execute(task, context_for(tmp_path))
    finally:
        await pool.close()
    assert caught.value.error_type == "step_timeout"
    assert "#never" in caught.value.message


@pytest.mark.browser
async def test_redirect_to_a_private_address_is_blocked(site: PageServer, tmp_path: Path) -> None:
    guard = NetworkGuard(allow_private=False, allowed_networks=["127.0.0.2/32"])
    pool = BrowserPool(chromium_path=None, concurrency=1, guard=guard)
    with serve_pages("127.0.0.2") as public:
        task = task_of({"url": public.url(f"/redirect?to={site.url('/products')}"),
                        "schema": {"fields": [{"name": "h", "selector": "#heading"}]}})
        try:
            with pytest.raises(BlockedDestination):
                await DataExtractionExecutor(pool).execute(task, context_for(tmp_path))
        finally:
            await pool.close()
        assert public.hits == ["/redirect"]
    assert site.hits == []


@pytest.mark.browser
async def test_images_fonts_and_media_are_not_fetched_styles_are(
        site: PageServer, pool: BrowserPool, tmp_path: Path) -> None:
    task = task_of({"url": site.url("/media-page"), "schema": {"fields": [
        {"name": "heading", "selector": "#heading"},
        {"name": "photo", "selector": "img", "type": "attribute", "attribute": "src"}]}})

    result = await DataExtractionExecutor(pool).execute(task, context_for(tmp_path))

    assert result.output["data"] == {"heading": "Media", "photo": site.url("/photo.png")}
    assert sorted(site.hits) == ["/media-page", "/style.css"]


@pytest.mark.browser
async def test_a_page_that_is_looked_at_still_fetches_its_media(
        site: PageServer, pool: BrowserPool, tmp_path: Path) -> None:
    # The control for the test above: the same page in a browser_automation task.
    task = TaskSpec(id="task_3", title="look", task_type="browser_automation",
                    config=msgspec.convert({"startUrl": site.url("/media-page"), "steps": [
                        {"action": "screenshot", "name": "page"}]}, BrowserAutomationConfig),
                    timeout_seconds=120)
    await BrowserAutomationExecutor(pool).execute(task, context_for(tmp_path))
    assert {"/style.css", "/font.woff2", "/photo.png", "/clip.webm"} <= set(site.hits)
