"""The shared HTTP rules (outbound/http.py) and the fetch-one-more paging, each tested once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import httpx
import pytest

from outbound.http import (
    NotHttpUrl,
    canonical_host,
    host_key,
    http_url,
    is_http_url,
    numeric_host_written_out,
    parse_retry_after,
    status_retryable,
)
from server.services.pagination import decode_cursor, encode_cursor, page_of

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "retryable"),
                         [(200, False), (301, False), (400, False), (401, False), (404, False),
                          (407, False), (408, True), (422, False), (429, True), (499, False),
                          (500, True), (502, True), (503, True), (599, True)])
def test_status_retryable(status: int, retryable: bool) -> None:
    assert status_retryable(status) is retryable


@pytest.mark.parametrize(("value", "seconds"), [
    (None, None),
    ("", None),
    ("   ", None),
    ("120", 120.0),
    (" 7 ", 7.0),
    ("1.5", 1.5),
    ("-3", 0.0),
    ("inf", None),
    ("nan", None),
    ("junk", None),
    (format_datetime(NOW + timedelta(seconds=42), usegmt=True), 42.0),
    (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
    ("Thu, 01 Jan 2026 12:01:00 -0000", 60.0),
])
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(("value", "reason"), [
    ("https://example.com/a?b=1", None),
    ("http://127.0.0.1:8080/", None),
    ("http://[::1]/x", None),
    ("HTTPS://Example.COM", None),
    ("ftp://example.com/", "scheme"),
    ("/relative/path", "scheme"),
    ("example.com", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("http://", "host"),
    ("https:///path", "host"),
    ("http://[::1/", "invalid"),
    ("http://\x00/", "invalid"),
])
def test_http_url(value: str, reason: str | None) -> None:
    assert is_http_url(value) is (reason is None)
    if reason is None:
        assert http_url(value) == httpx.URL(value)
    else:
        with pytest.raises(NotHttpUrl) as info:
            http_url(value)
        assert info.value.reason == reason


def _rows(count: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(id=f"r{n}", created_at=NOW - timedelta(seconds=n))
            for n in range(count)]


@pytest.mark.parametrize(("fetched", "limit", "kept", "more"),
                         [(0, 3, 0, False), (2, 3, 2, False), (3, 3, 3, False),
                          (4, 3, 3, True), (1, 0, 0, False)])
def test_page_of_keeps_limit_and_gives_a_cursor_only_when_there_is_more(
        fetched: int, limit: int, kept: int, more: bool) -> None:
    rows = _rows(fetched)
    page, cursor = page_of(rows, limit)  # type: ignore[arg-type]
    assert list(page) == rows[:kept]
    if more:
        assert cursor == encode_cursor(rows[kept - 1])  # type: ignore[arg-type]
        assert decode_cursor(cursor, procedure="x.list") == (rows[kept - 1].created_at,
                                                             rows[kept - 1].id)
    else:
        assert cursor is None
    assert page_of(rows, limit, key=lambda row: "k")[1] == ("k" if more else None)  # type: ignore[arg-type]


# --- the host key (HOST_CONCURRENCY) -----------------------------------------------------------

@pytest.mark.parametrize("spelling", [
    "127.0.0.1", "127.1", "2130706433", "0x7f000001", "0X7F000001", "127.0.0.1.", "0177.0.0.1",
    "0x7f.1", "[::ffff:127.0.0.1]", "::FFFF:7F00:1"])
def test_every_spelling_of_an_ipv4_address_is_one_host(spelling: str) -> None:
    assert canonical_host(spelling) == "127.0.0.1"


@pytest.mark.parametrize(("host", "key"), [
    ("API.Example.COM.", "api.example.com"), ("[2001:DB8:0:0::1]", "2001:db8::1"),
    ("1.2.3.4.5", "1.2.3.4.5"), ("256.1.1.1", "256.1.1.1"), ("09.1.1.1", "09.1.1.1"),
    ("v1.example", "v1.example")])
def test_names_and_non_addresses_keep_their_text_in_one_case(host: str, key: str) -> None:
    assert canonical_host(host) == key


def test_the_key_names_the_port_unless_it_is_the_scheme_s_default() -> None:
    assert host_key("http", "127.1", 80) == host_key("http", "127.0.0.1", None) == "127.0.0.1"
    assert host_key("https", "A.example.", 443) == "a.example"
    assert host_key("http", "a.example", 443) == "a.example:443"
    assert host_key("http", "::1", 8080) == "[::1]:8080"


@pytest.mark.parametrize(("url", "sent"), [
    ("http://127.1:8/x?a=1", "http://127.0.0.1:8/x?a=1"),
    ("http://0x7f000001/", "http://127.0.0.1/"), ("http://2130706433/", "http://127.0.0.1/"),
    ("http://127.0.0.1./", "http://127.0.0.1/"), ("http://example.com./a", "http://example.com./a"),
    ("http://[::1]/", "http://[::1]/")])
def test_a_numeric_host_is_written_out_as_a_browser_does(url: str, sent: str) -> None:
    assert str(numeric_host_written_out(httpx.URL(url))) == sent
