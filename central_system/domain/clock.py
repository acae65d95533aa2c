"""Helpers for the one time representation the domain accepts: timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(moment: datetime) -> datetime:
    """Return `moment` in UTC; a naive time (some 1.6 stations send those) is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_timestamp(text: str) -> datetime:
    """Parse an OCPP dateTime (RFC 3339; a missing offset is read as UTC).

    Raises ValueError for text that is not a date-time.
    """
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    return as_utc(datetime.fromisoformat(cleaned))


def format_timestamp(moment: datetime) -> str:
    """Format as OCPP dateTime in UTC with millisecond precision and a `Z` suffix."""
    utc = as_utc(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
