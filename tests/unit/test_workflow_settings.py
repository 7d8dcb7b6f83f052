"""STALLED_* and AUDIT_RETENTION_DAYS (CONTRACT §10): defaults, parsing, refusals naming the
variable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.core.errors import ConfigurationError
from server.core.settings import Settings


def test_defaults() -> None:
    s = Settings.from_env({}, dotenv=None)
    assert s.stalled_after == {"pending": timedelta(hours=24),
                               "awaiting_review": timedelta(hours=8),
                               "queued": timedelta(minutes=10),
                               "scheduled": timedelta(minutes=10)}
    assert (s.stalled_check_seconds, s.stalled_action, s.stalled_webhook_id,
            s.audit_retention_days) == (60.0, "mark", None, 365)


@pytest.mark.parametrize(
    ("raw", "changed"),
    [
        ("awaiting_review=2s", {"awaiting_review": timedelta(seconds=2)}),
        ("pending=1d, queued=90m", {"pending": timedelta(days=1),
                                    "queued": timedelta(minutes=90)}),
        ("scheduled=1.5h", {"scheduled": timedelta(hours=1.5)}),
    ],
)
def test_stalled_after_overrides_only_what_it_names(raw: str,
                                                    changed: dict[str, timedelta]) -> None:
    limits = Settings.from_env({"STALLED_AFTER": raw}, dotenv=None).stalled_after
    for status, limit in changed.items():
        assert limits[status] == limit
    assert len(limits) == 4


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("STALLED_AFTER", "in_progress=1h"),
        ("STALLED_AFTER", "queued=10"),
        ("STALLED_AFTER", "queued=-1m"),
        ("STALLED_AFTER", "queued=xm"),
        ("STALLED_ACTION", "email"),
        ("STALLED_CHECK_SECONDS", "0"),
        ("AUDIT_RETENTION_DAYS", "-1"),
    ],
)
def test_bad_values_name_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({name: raw}, dotenv=None)
    assert name in str(info.value)
