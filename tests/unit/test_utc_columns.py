"""UTCDateTime: aware UTC in, the driver's form out in one step, aware UTC back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from server.db.tables import UTCDateTime

VALUES = [
    datetime(2030, 5, 1, 9, 0, tzinfo=UTC),
    datetime(2030, 5, 1, 11, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
]


@pytest.mark.parametrize("value", VALUES)
def test_sqlite_gets_the_text_sqlalchemy_datetime_writes(value: datetime) -> None:
    dialect = sqlite.dialect()
    theirs = DateTime().dialect_impl(dialect).bind_processor(dialect)
    ours = UTCDateTime().bind_processor(dialect)
    assert theirs is not None
    expected = theirs(value.astimezone(UTC).replace(tzinfo=None))
    assert ours(value) == expected
    assert ours(value) == expected  # the kept last answer is the same
    assert UTCDateTime().result_processor(dialect, None)(expected) == value


@pytest.mark.parametrize("value", VALUES)
def test_postgresql_gets_naive_utc(value: datetime) -> None:
    dialect = postgresql.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    naive = ours(value)
    assert naive == value.astimezone(UTC).replace(tzinfo=None)
    assert naive.tzinfo is None
    assert UTCDateTime().result_processor(dialect, None)(naive) == value


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_naive_values_are_refused_and_none_passes(dialect: Dialect) -> None:
    ours = UTCDateTime().bind_processor(dialect)
    with pytest.raises(ValueError, match="naive datetime"):
        ours(datetime(2030, 1, 1))
    assert ours(None) is None
