"""data_extraction: load a page in the shared Chromium and read typed data out of it by schema.

Contract (docs/CONTRACT.md §5):

- One fresh browser context per attempt (``ctx.browser_session_id``). The page fetches no
  images, fonts or media (:meth:`BrowserPool.skip_media`: nothing looks at it). ``url`` is loaded
  (at most 30 s, and never beyond the task's deadline); ``waitFor`` then waits up to 15 s
  for that selector, for content that scripts render after load.
- Selectors in the schema are CSS, evaluated in the page. With ``baseSelector`` the result
  ``data`` is a list, one object per match, fields relative to the match (``:scope`` is the
  match itself); without it ``data`` is one object read from the document.
- Field types: ``text`` trimmed innerText · ``attribute`` the attribute (``href``/``src``
  made absolute) · ``html`` innerHTML · ``number`` parsed from the text by
  :func:`number_from_text` (null when there is none) · ``list`` every match's text (or its
  ``attribute`` when given) · ``nested`` an object of sub-``fields`` read relative to the
  first match. A field matching nothing is null (``list``: ``[]``).
- Errors: the guard refusing the URL (or a redirect hop) → permanent ``blocked_destination``;
  a load or ``waitFor`` timeout → retryable ``step_timeout``; HTTP 5xx, 408, 429 →
  retryable ``http_status``; other HTTP 4xx → permanent ``http_status``; an invalid selector
  → permanent ``invalid_selector``.
- Result: ``{url, data, count, extractedAt}``; ``count`` is the number of objects in ``data``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

import msgspec
from playwright.async_api import Error

from executors.base import (
    ExecutionContext,
    ExecutionResult,
    Issue,
    PermanentError,
    Resources,
    RetryableError,
    TaskSpec,
)
from executors.browser_pool import BrowserPool
from outbound.http import is_http_url
from schemas.configs import DataExtractionConfig, ExtractionField

NAVIGATION_TIMEOUT_MS: Final = 30_000
WAIT_FOR_TIMEOUT_MS: Final = 15_000

EXTRACT_JS: Final = """(schema) => {
  const pick = (root, sel) => sel === ':scope'
    ? (root.nodeType === 9 ? root.documentElement : root) : root.querySelector(sel);
  const pickAll = (root, sel) => sel === ':scope' ? [pick(root, sel)]
    : Array.from(root.querySelectorAll(sel));
  const text = el => (el.innerText ?? el.textContent ?? '').trim();
  const attr = (el, name) => {
    const value = el.getAttribute(name);
    if (value === null || (name !== 'href' && name !== 'src')) return value;
    try { return new URL(value, el.ownerDocument.baseURI).href; } catch (e) { return value; }
  };
  const read = (root, fields) => {
    const out = {};
    for (const f of fields) {
      if (f.type === 'list') {
        out[f.name] = pickAll(root, f.selector).map(el => f.attribute ? attr(el, f.attribute)
                                                                      : text(el));
        continue;
      }
      const el = pick(root, f.selector);
      if (!el) { out[f.name] = null; continue; }
      if (f.type === 'attribute') out[f.name] = attr(el, f.attribute);
      else if (f.type === 'html') out[f.name] = el.innerHTML;
      else if (f.type === 'nested') out[f.name] = read(el, f.fields || []);
      else out[f.name] = text(el);
    }
    return out;
  };
  if (schema.baseSelector) {
    return Array.from(document.querySelectorAll(schema.baseSelector))
      .map(el => read(el, schema.fields));
  }
  return read(document, schema.fields);
}"""

# A run of digits with separators: ".", ",", "'" between digits, or a space before a group
# of exactly three digits ("1 299,50").
_NUMBER_RUN: Final = re.compile(r"\d+(?:(?:[.,'’]|[ \u00a0\u202f](?=\d{3}(?!\d)))\d+)*")


def number_from_text(text: str | None) -> int | float | None:
    """The first number in ``text``, best effort across locales; None when there is none.

    ``"$1,299.00"`` → 1299.0 · ``"1.299,00 €"`` → 1299.0 · ``"1 299,5"`` → 1299.5 ·
    ``"1,299"`` → 1299 · ``"1,5"`` → 1.5 · ``"1.5"`` → 1.5 · ``"-3"`` → -3.
    With both "." and "," the later one is the decimal mark; a lone "," followed by exactly
    three digits groups thousands; a lone "." is a decimal mark; repeated marks group.
    Integral results without a decimal part in the text are ints.
    """
    if not text:
        return None
    match = _NUMBER_RUN.search(text)
    if match is None:
        return None
    negative = text[:match.start()].rstrip(" $€£¥\u00a0").endswith(("-", "−"))
    digits = re.sub(r"[ '’\u00a0\u202f]", "", match.group())
    decimal: str | None = None
    if "." in digits and "," in digits:
        decimal = "." if digits.rindex(".") > digits.rindex(",") else ","
    elif digits.count(",") == 1:
        decimal = None if len(digits) - digits.index(",") - 1 == 3 else ","
    elif digits.count(".") == 1:
        decimal = "."
    if decimal is None:
        value: int | float = int(re.sub(r"[.,]", "", digits))
    else:
        whole, _, fraction = digits.rpartition(decimal)
        value = float(re.sub(r"[.,]", "", whole) + "." + fraction)
    return -value if negative else value


def css_selector_problem(selector: str) -> str | None:
    """A cheap syntax check of a CSS selector: what is wrong with it, or None.

    Catches what a typo usually breaks (unbalanced brackets or quotes, a dangling
    combinator); the page itself has the final word.
    """
    stripped = selector.strip()
    if not stripped:
        return "selector is empty"
    if stripped[0] in ">+~,":
        return "selector starts with a combinator (use ':scope > ...' for direct children)"
    if stripped[-1] in ">+~,":
        return "selector ends with a combinator"
    closing = {")": "(", "]": "["}
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for char in stripped:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([":
            stack.append(char)
        elif char in closing and (not stack or stack.pop() != closing[char]):
            return f"selector has an unmatched {char!r}"
    if quote:
        return "selector has an unclosed quote"
    if stack:
        return f"selector has an unclosed {stack[-1]!r}"
    return None


def _field_issues(fields: list[ExtractionField], path: tuple[str | int, ...]) -> list[Issue]:
    issues: list[Issue] = []
    seen: set[str] = set()
    for index, field in enumerate(fields):
        at = (*path, index)
        if field.name in seen:
            issues.append(Issue((*at, "name"), f"field name {field.name!r} is used twice"))
        seen.add(field.name)
        problem = css_selector_problem(field.selector)
        if problem:
            issues.append(Issue((*at, "selector"), problem))
        if field.type == "attribute" and not field.attribute:
            issues.append(Issue((*at, "attribute"), "type attribute needs an attribute name"))
        if field.type == "nested":
            if not field.fields:
                issues.append(Issue((*at, "fields"), "type nested needs fields"))
            else:
                issues.extend(_field_issues(field.fields, (*at, "fields")))
        elif field.fields is not None:
            issues.append(Issue((*at, "fields"), "fields are only for type nested"))
    return issues


def _convert_numbers(fields: list[ExtractionField], record: dict[str, Any]) -> dict[str, Any]:
    for field in fields:
        value = record.get(field.name)
        if field.type == "number":
            record[field.name] = number_from_text(value)
        elif field.type == "nested" and isinstance(value, dict) and field.fields:
            _convert_numbers(field.fields, value)
    return record


class DataExtractionExecutor:
    """Runs ``data_extraction`` tasks; see the module docstring."""

    task_type: ClassVar[str] = "data_extraction"

    @classmethod
    def build(cls, resources: Resources) -> DataExtractionExecutor:
        return cls(resources.browser_pool)

    def __init__(self, pool: BrowserPool) -> None:
        self.pool = pool

    def check(self, config: DataExtractionConfig, *, source_webhook_id: str | None) -> list[Issue]:
        """http(s) url; field types with what they need; unique names per level; CSS syntax."""
        issues: list[Issue] = []
        if not is_http_url(config.url):
            issues.append(Issue(("url",), "must be an http or https URL"))
        if not config.schema.fields:
            issues.append(Issue(("schema", "fields"), "give at least one field"))
        if config.schema.base_selector is not None:
            problem = css_selector_problem(config.schema.base_selector)
            if problem:
                issues.append(Issue(("schema", "baseSelector"), problem))
        issues.extend(_field_issues(config.schema.fields, ("schema", "fields")))
        return issues

    async def execute(self, task: TaskSpec[DataExtractionConfig],
                      ctx: ExecutionContext) -> ExecutionResult:
        config = task.config
        deadline_ms = task.timeout_seconds * 1000
        async with self.pool.context() as (context, session_id):
            ctx.browser_session_id = session_id
            doing = f"loading {config.url}"
            try:
                page = await context.new_page()
                await self.pool.skip_media(page)  # read, never looked at
                page.set_default_timeout(min(WAIT_FOR_TIMEOUT_MS, deadline_ms))
                response = await page.goto(
                    config.url, timeout=min(NAVIGATION_TIMEOUT_MS, deadline_ms))
                if response is not None:
                    self._check_status(response.status, config.url)
                if config.wait_for:
                    doing = f"waiting for {config.wait_for!r}"
                    await page.wait_for_selector(config.wait_for, state="attached")
                doing = "reading the schema"
                raw = await page.evaluate(EXTRACT_JS, msgspec.to_builtins(config.schema))
                final_url = page.url
            except Error as exc:
                raise self.pool.explain(exc, session_id, doing) from exc
        fields = config.schema.fields
        if isinstance(raw, list):
            data: Any = [_convert_numbers(fields, record) for record in raw]
            count = len(data)
        else:
            data = _convert_numbers(fields, raw)
            count = 1
        extracted_at = ctx.clock().isoformat().replace("+00:00", "Z")
        return ExecutionResult(
            output={"url": final_url, "data": data, "count": count, "extractedAt": extracted_at},
            summary=f"{count} {'record' if count == 1 else 'records'} extracted from {final_url}",
        )

    @staticmethod
    def _check_status(status: int, url: str) -> None:
        if status >= 500 or status in (408, 429):
            raise RetryableError(f"{url} answered HTTP {status}", error_type="http_status")
        if status >= 400:
            raise PermanentError(f"{url} answered HTTP {status}", error_type="http_status")
