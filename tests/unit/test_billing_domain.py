"""Pure rules of the REST API: tariff math in Decimal, payment holds, receipts, ETA, geo,
reservations and access rules. No event loop, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central_system.domain import reservations as res
from central_system.domain.accounts import (
    InvalidAccount,
    Principal,
    RateLimit,
    Role,
    allow_attempt,
    check_password_policy,
    may_control_session,
    may_create_role,
    may_manage_station,
    may_view_session,
    normalise_email,
)
from central_system.domain.authorization import IdToken
from central_system.domain.connectors import ConnectorKey
from central_system.domain.geo import (
    InvalidPosition,
    Position,
    bounding_box,
    distance_km,
    within_radius,
)
from central_system.domain.metering import LiveValues
from central_system.domain.payments import PreauthPolicy, preauthorization_amount, settle
from central_system.domain.receipts import RETENTION, ReceiptError, correct, issue
from central_system.domain.sessions import (
    ChargingSession,
    SessionStatus,
    estimate_capacity_wh,
    link_transaction,
    live_view,
    start_timed_out,
    time_to_soc,
)
from central_system.domain.tariffs import InvalidTariff, Tariff, price, quantum, round_money
from central_system.domain.transactions import Transaction

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
EUR = "EUR"

# --- tariffs --------------------------------------------------------------------------------------


def test_per_kwh_tariff_rounds_half_up_to_cents() -> None:
    tariff = Tariff(EUR, per_kwh=Decimal("0.39"))
    breakdown = price(tariff, energy_wh=30_500, duration=timedelta(minutes=30))
    assert breakdown.energy_cost == Decimal("11.90")  # 11.895 -> 11.90 (half up, not even)
    assert (breakdown.time_cost, breakdown.session_fee) == (Decimal("0.00"), Decimal("0.00"))
    assert breakdown.total == Decimal("11.90")
    assert price(tariff, energy_wh=12_345, duration=timedelta(0)).energy_cost == Decimal("4.81")


def test_per_minute_tariff_is_pro_rata_to_the_second() -> None:
    tariff = Tariff(EUR, per_minute=Decimal("0.05"))
    assert price(tariff, energy_wh=0, duration=timedelta(minutes=30)).time_cost == Decimal("1.50")
    # 90 s = 1.5 min x 0.05 = 0.075 -> 0.08
    assert price(tariff, energy_wh=0, duration=timedelta(seconds=90)).time_cost == Decimal("0.08")


def test_session_fee_tariff_charges_the_fee_once() -> None:
    tariff = Tariff(EUR, session_fee=Decimal("1"))
    breakdown = price(tariff, energy_wh=50_000, duration=timedelta(hours=2))
    assert breakdown.total == Decimal("1.00") and breakdown.session_fee == Decimal("1.00")


def test_combined_tariff_total_is_the_sum_of_rounded_lines() -> None:
    tariff = Tariff(
        EUR, per_kwh=Decimal("0.39"), per_minute=Decimal("0.05"), session_fee=Decimal("1.00")
    )
    breakdown = price(tariff, energy_wh=30_500, duration=timedelta(minutes=30))
    assert (breakdown.energy_cost, breakdown.time_cost, breakdown.session_fee) == (
        Decimal("11.90"),
        Decimal("1.50"),
        Decimal("1.00"),
    )
    assert breakdown.total == Decimal("14.40")
    assert all(isinstance(v, Decimal) for v in (breakdown.total, breakdown.energy_cost))


def test_currencies_without_cents_round_to_whole_units() -> None:
    assert quantum("JPY") == Decimal(1) and quantum("KWD") == Decimal("0.001")
    tariff = Tariff("JPY", per_kwh=Decimal("55"))
    assert price(tariff, energy_wh=1_010, duration=timedelta(0)).total == Decimal("56")
    assert round_money(Decimal("2.5"), "JPY") == Decimal("3")


@given(
    energy=st.integers(min_value=0, max_value=500_000),
    seconds=st.integers(min_value=0, max_value=48 * 3600),
    per_kwh=st.decimals(min_value=0, max_value=2, places=4),
    per_minute=st.decimals(min_value=0, max_value=1, places=4),
    fee=st.decimals(min_value=0, max_value=5, places=2),
)
def test_price_lines_add_up_and_have_cents(
    energy: int, seconds: int, per_kwh: Decimal, per_minute: Decimal, fee: Decimal
) -> None:
    tariff = Tariff(EUR, per_kwh=per_kwh, per_minute=per_minute, session_fee=fee)
    breakdown = price(tariff, energy_wh=energy, duration=timedelta(seconds=seconds))
    assert breakdown.total == breakdown.energy_cost + breakdown.time_cost + breakdown.session_fee
    for value in (breakdown.energy_cost, breakdown.time_cost, breakdown.total):
        assert value.as_tuple().exponent == -2 and value >= 0
    exact = Decimal(energy) / 1000 * per_kwh
    assert abs(breakdown.energy_cost - exact) <= Decimal("0.005")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"currency": "EURO"},
        {"currency": "EUR", "per_kwh": Decimal("-0.01")},
        {"currency": "EUR", "per_minute": Decimal("NaN")},
        {"currency": "EUR", "session_fee": Decimal("1000.01")},
    ],
)
def test_invalid_tariffs_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidTariff):
        Tariff(**kwargs)  # type: ignore[arg-type]


# --- payments and receipts ------------------------------------------------------------------------


def test_preauthorization_covers_a_long_session_and_has_a_minimum() -> None:
    tariff = Tariff(
        EUR, per_kwh=Decimal("0.39"), per_minute=Decimal("0.05"), session_fee=Decimal("1")
    )
    assert preauthorization_amount(tariff) == Decimal("41.20")  # 80 kWh, 3 h
    assert preauthorization_amount(Tariff(EUR)) == Decimal("1.00")  # free charging: card check
    short = PreauthPolicy(energy_wh=1, duration=timedelta(0), minimum_minor_units=50)
    assert preauthorization_amount(Tariff(EUR, per_kwh=Decimal("0.39")), short) == Decimal("0.50")
    assert preauthorization_amount(Tariff("JPY", per_kwh=Decimal("55"))) == Decimal("4400")


def test_settlement_captures_at_most_the_hold() -> None:
    assert settle(Decimal("41.20"), Decimal("14.40")).capture == Decimal("14.40")
    over = settle(Decimal("10.00"), Decimal("14.40"))
    assert (over.capture, over.uncollected) == (Decimal("10.00"), Decimal("4.40"))
    assert settle(Decimal("10.00"), Decimal("0.00")).release_only


def _session(**changes: object) -> ChargingSession:
    values: dict[str, object] = {
        "id": "s-1",
        "user_id": "u-1",
        "station_id": "CP-1",
        "evse_id": 1,
        "id_token": "EVA0001",
        "remote_start_id": 7,
        "tariff_id": 1,
        "tariff": Tariff(EUR, per_kwh=Decimal("0.39"), session_fee=Decimal("1")),
        "status": SessionStatus.PENDING,
        "created_at": T0,
        "payment_reference": "pi_test_1",
        "preauthorized_amount": Decimal("32.20"),
    }
    values.update(changes)
    return ChargingSession(**values)  # type: ignore[arg-type]


def _transaction(**changes: object) -> Transaction:
    values: dict[str, object] = {
        "station_id": "CP-1",
        "transaction_id": "42",
        "key": ConnectorKey(1, 1),
        "started_at": T0,
        "id_token": IdToken("EVA0001"),
        "meter_start_wh": 1_000,
        "row_id": 42,
    }
    values.update(changes)
    return Transaction(**values)  # type: ignore[arg-type]


def test_receipt_and_its_correction_are_separate_records() -> None:
    ended = _transaction(stopped_at=T0 + timedelta(minutes=40), meter_stop_wh=21_000)
    receipt = issue("r-1", _session(), ended, settle(Decimal("32.20"), Decimal("8.80")), T0)
    assert receipt.price.energy_wh == 20_000 and receipt.price.total == Decimal("8.80")
    assert receipt.duration == timedelta(minutes=40) and receipt.sequence == 0
    assert receipt.keep_until - receipt.issued_at == RETENTION >= timedelta(days=3652)
    fixed = correct("r-2", receipt, energy_wh=10_000, note="meter misread", now=T0)
    assert (fixed.sequence, fixed.corrects, fixed.price.total) == (1, "r-1", Decimal("4.90"))
    assert fixed.uncollected == Decimal("4.90") - Decimal("8.80")  # negative: a refund is due
    assert receipt.price.total == Decimal("8.80")  # the original is unchanged
    with pytest.raises(ReceiptError):
        issue("r-3", _session(), _transaction(), settle(Decimal(1), Decimal(0)), T0)


# --- sessions and ETA -----------------------------------------------------------------------------


def test_time_to_80_and_full_with_a_known_capacity() -> None:
    # 40 % of 60 kWh at 48 kW: 0.5 h to 80 %; then 20 % at half power: +0.5 h
    assert time_to_soc(Decimal(40), Decimal(48_000), 60_000, Decimal(80)) == timedelta(minutes=30)
    assert time_to_soc(Decimal(40), Decimal(48_000), 60_000, Decimal(100)) == timedelta(hours=1)
    # above 80 % the measured power already tapers: 10 % of 60 kWh at 0.75 x 20 kW = 24 min
    assert time_to_soc(Decimal(90), Decimal(20_000), 60_000, Decimal(100)) == timedelta(minutes=24)
    assert time_to_soc(Decimal(85), Decimal(20_000), 60_000, Decimal(80)) == timedelta(0)


@pytest.mark.parametrize(
    ("soc", "power", "capacity"),
    [(None, Decimal(1000), 60_000), (Decimal(50), None, 60_000), (Decimal(50), Decimal(0), 60_000),
     (Decimal(50), Decimal(1000), None)],
)  # fmt: skip
def test_time_is_unknown_without_soc_power_or_capacity(
    soc: Decimal | None, power: Decimal | None, capacity: int | None
) -> None:
    assert time_to_soc(soc, power, capacity, Decimal(80)) is None


def test_capacity_is_estimated_from_energy_per_soc_gained() -> None:
    assert estimate_capacity_wh(6_000, Decimal(40), Decimal(50)) == 60_000
    assert estimate_capacity_wh(500, Decimal(40), Decimal(41)) is None  # gain too small
    assert estimate_capacity_wh(None, Decimal(40), Decimal(50)) is None


def test_live_view_prices_the_session_so_far_and_stops_the_clock_at_the_end() -> None:
    running = _transaction(
        live=LiveValues(
            Decimal(50), Decimal(50_000), 11_000, T0 + timedelta(minutes=10), Decimal(40), T0
        )
    )
    view = live_view(_session(), running, T0 + timedelta(minutes=12))
    assert view.energy_wh == 10_000 and view.elapsed == timedelta(minutes=12)
    assert view.cost.total == Decimal("4.90")  # 10 kWh x 0.39 + 1.00
    assert view.battery_capacity_wh == 100_000  # 10 kWh for 10 % gained
    assert view.time_to_80 == timedelta(minutes=36)
    ended = _transaction(stopped_at=T0 + timedelta(minutes=20), meter_stop_wh=15_000)
    final = live_view(_session(), ended, T0 + timedelta(hours=5))
    assert final.elapsed == timedelta(minutes=20) and final.power_w == 0
    assert final.time_to_full is None


def test_linking_and_start_timeout() -> None:
    session = _session(status=SessionStatus.STARTING)
    linked = link_transaction(session, _transaction())
    assert (linked.status, linked.transaction_row_id, linked.transaction_id) == (
        SessionStatus.CHARGING,
        42,
        "42",
    )
    timeout = timedelta(minutes=5)
    assert not start_timed_out(session, T0 + timedelta(minutes=4), timeout)
    assert start_timed_out(session, T0 + timedelta(minutes=5), timeout)
    assert not start_timed_out(linked, T0 + timedelta(hours=1), timeout)


# --- reservations ---------------------------------------------------------------------------------


def _reservation() -> res.Reservation:
    return res.Reservation(
        1, "CP-1", 1, "u-1", "EVA1", res.ReservationStatus.PENDING, T0, T0 + timedelta(minutes=15)
    )


def test_reservation_answers_and_expiry() -> None:
    assert res.expiry(T0, 15) == T0 + timedelta(minutes=15)
    with pytest.raises(res.InvalidReservation):
        res.expiry(T0, 0)
    with pytest.raises(res.InvalidReservation):
        res.expiry(T0, 121)
    accepted = res.station_answer(_reservation(), "Accepted", T0)
    assert accepted.is_active(T0 + timedelta(minutes=14))
    assert not accepted.is_active(T0 + timedelta(minutes=15))
    occupied = res.station_answer(_reservation(), "Occupied", T0)
    assert (occupied.status, occupied.ended_at) == (res.ReservationStatus.OCCUPIED, T0)
    assert (
        res.station_answer(_reservation(), "Whatever", T0).status is res.ReservationStatus.REJECTED
    )
    assert res.expire_if_due(accepted, T0 + timedelta(minutes=1)) is None
    expired = res.expire_if_due(accepted, T0 + timedelta(hours=1))
    assert expired is not None and expired.status is res.ReservationStatus.EXPIRED
    assert expired.ended_at == accepted.expires_at


# --- geo ------------------------------------------------------------------------------------------

BERLIN = Position(52.5200, 13.4050)
POTSDAM = Position(52.3906, 13.0645)


def test_distance_and_radius() -> None:
    assert 26 < distance_km(BERLIN, POTSDAM) < 28
    assert within_radius(BERLIN, 30, POTSDAM) and not within_radius(BERLIN, 20, POTSDAM)
    assert distance_km(BERLIN, BERLIN) == 0
    with pytest.raises(InvalidPosition):
        Position(91, 0)


@given(
    lat=st.floats(min_value=-89, max_value=89),
    lon=st.floats(min_value=-180, max_value=180),
    radius=st.floats(min_value=0.1, max_value=500),
    bearing_lat=st.floats(min_value=-1, max_value=1),
    bearing_lon=st.floats(min_value=-1, max_value=1),
)
def test_bounding_box_contains_every_point_in_the_radius(
    lat: float, lon: float, radius: float, bearing_lat: float, bearing_lon: float
) -> None:
    center = Position(lat, lon)
    box = bounding_box(center, radius)
    candidate_lat = max(-90.0, min(90.0, lat + bearing_lat * radius / 111.0))
    candidate_lon = ((lon + bearing_lon * radius / 50.0 + 180.0) % 360.0) - 180.0
    point = Position(candidate_lat, candidate_lon)
    if not within_radius(center, radius, point):
        return
    assert box.min_latitude <= point.latitude <= box.max_latitude
    if box.wraps:
        assert point.longitude >= box.min_longitude or point.longitude <= box.max_longitude
    else:
        assert box.min_longitude <= point.longitude <= box.max_longitude


# --- accounts and access rules --------------------------------------------------------------------

DRIVER = Principal("d-1", Role.DRIVER)
OTHER_DRIVER = Principal("d-2", Role.DRIVER)
OWNER = Principal("o-1", Role.OWNER)
OTHER_OWNER = Principal("o-2", Role.OWNER)
ADMIN = Principal("a-1", Role.ADMIN)


def test_session_visibility() -> None:
    assert may_view_session(DRIVER, "d-1", "o-1")
    assert not may_view_session(OTHER_DRIVER, "d-1", "o-1")
    assert may_view_session(OWNER, "d-1", "o-1")  # on their station
    assert not may_view_session(OTHER_OWNER, "d-1", "o-1")
    assert may_view_session(ADMIN, "d-1", None)
    assert may_control_session(DRIVER, "d-1") and not may_control_session(OWNER, "d-1")


def test_station_management() -> None:
    assert may_manage_station(OWNER, "o-1") and not may_manage_station(OTHER_OWNER, "o-1")
    assert not may_manage_station(DRIVER, "d-1")  # a driver owns no station even by id
    assert not may_manage_station(OWNER, None) and may_manage_station(ADMIN, None)


def test_only_admins_create_operators() -> None:
    assert may_create_role(None, Role.DRIVER)
    assert not may_create_role(OWNER, Role.OWNER) and not may_create_role(None, Role.ADMIN)
    assert may_create_role(ADMIN, Role.ADMIN)


def test_emails_and_passwords() -> None:
    assert normalise_email("  Ann@Example.COM ") == "ann@example.com"
    for bad in ("ann", "ann@example", "a b@example.com", "@example.com"):
        with pytest.raises(InvalidAccount):
            normalise_email(bad)
    with pytest.raises(InvalidAccount):
        check_password_policy("short")
    check_password_policy("long enough!")


def test_sliding_window_rate_limit() -> None:
    limit = RateLimit(3, timedelta(minutes=5))
    attempts = [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    allowed, wait = allow_attempt(attempts, T0 + timedelta(minutes=3), limit)
    assert not allowed and wait == timedelta(minutes=2)
    assert allow_attempt(attempts, T0 + timedelta(minutes=5), limit)[0]  # the first fell out
    assert allow_attempt(attempts[:2], T0 + timedelta(minutes=3), limit) == (True, timedelta(0))
