"""Which of a station's tariffs prices a session: the one in force when it started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from central_system.domain.tariffs import Tariff, in_force
from central_system.services.ports import TariffRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def tariff(record_id: int, valid_from: datetime) -> TariffRecord:
    return TariffRecord(record_id, "CS-1", Tariff("EUR", per_kwh=Decimal(record_id)), valid_from)


def test_the_latest_valid_from_the_start_or_before_and_the_newest_of_a_tie() -> None:
    old, same_time_older, same_time_newer, future = (
        tariff(1, T0 - timedelta(days=30)),
        tariff(2, T0 - timedelta(days=1)),
        tariff(3, T0 - timedelta(days=1)),
        tariff(4, T0 + timedelta(days=1)),
    )
    tariffs = [future, same_time_newer, old, same_time_older]
    assert in_force(tariffs, T0) == same_time_newer
    assert in_force(tariffs, T0 - timedelta(days=2)) == old
    assert in_force(tariffs, T0 + timedelta(days=2)) == future
    assert in_force(tariffs, T0 - timedelta(days=31)) is None
    assert in_force([], T0) is None
