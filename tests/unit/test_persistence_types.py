"""Column types: the text SQLite stores for a UTC time is SQLAlchemy's own DATETIME text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from central_system.persistence.types import UTCDateTime


def test_sqlite_times_are_bound_as_sqlalchemys_datetime_text_in_utc() -> None:
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    sqlalchemys = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None and sqlalchemys is not None
    plus_two = timezone(timedelta(hours=2))
    for moment in (
        datetime(2026, 9, 21, 14, 13, 20, 123000, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 1, 1, 30, tzinfo=plus_two),
    ):
        expected = sqlalchemys(moment.astimezone(UTC).replace(tzinfo=None))
        assert ours(moment) == expected
    assert ours(datetime(2026, 3, 1, 1, 30, tzinfo=plus_two)) == "2026-02-28 23:30:00.000000"
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 1, 1))


def test_a_sqlite_time_bound_again_is_not_formatted_again() -> None:
    """The writer binds the same times message after message (a reading's time is also the
    transaction's latest sample time; the start SoC's time stays): they are formatted once."""
    dialect = sqlite.dialect()
    bind = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert bind is not None
    moment = datetime(2026, 9, 21, 14, 13, 20, 123000, tzinfo=UTC)
    text = bind(moment)
    assert bind(moment) is text
    assert bind(moment.astimezone(timezone(timedelta(hours=2)))) is text  # the same instant
    with pytest.raises(ValueError, match="naive"):
        bind(moment.replace(tzinfo=None))
