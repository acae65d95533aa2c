"""Column types that keep the project's invariants in every database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite (no time zones) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, SQLAlchemy's DATETIME text ("2026-01-31 12:00:00.000000", UTC) written
        in one step (the decorator's two steps cost twice as much), and a time written again
        not formatted again: the group-commit writer binds three per MeterValues, the
        reading's time, the same time as the transaction's latest sample and its start SoC's
        time, the same message after message."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


# Times recently written to SQLite, as written (a datetime equals and hashes as its UTC instant,
# so a time in another zone finds its UTC text; a naive one never equals an aware one).
_SQLITE_TEXTS: dict[datetime, str] = {}
_SQLITE_TEXTS_KEPT = 8192


def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = _SQLITE_TEXTS.get(value)
    if text is not None:
        return text
    moment = value
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        moment = moment.astimezone(UTC)
    text = moment.isoformat(" ", "microseconds")[:26]  # without "+00:00"
    if len(_SQLITE_TEXTS) >= _SQLITE_TEXTS_KEPT:
        _SQLITE_TEXTS.clear()
    _SQLITE_TEXTS[value] = text
    return text
