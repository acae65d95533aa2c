"""Pure rules of smart charging and load management: site limits per station with standby,
raises that respect the budget, the limit in force from a profile history, what the central
system may send, replacement and clear rules, and the wire forms of both OCPP versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central_system.domain.load_management import (
    LOAD_MANAGEMENT_PROFILE_ID,
    SessionLoad,
    SharePolicy,
    StationLoad,
    allowed_increase,
    limit_in_force,
    rollout_order,
    station_limit_profile,
    station_limits,
)
from central_system.domain.smart_charging import (
    ClearCriteria,
    InvalidProfile,
    check_profile,
    ev_max_power_w,
    ev_profile,
    first_limit_w,
    next_profile_id,
    offered_limit_w,
    replaces,
    schedule_within,
)
from central_system.persistence.smart_charging_repositories import (
    profile_from_json,
    profile_to_json,
)
from central_system.transport.ocppj import OcppVersion
from central_system.transport.smart_charging import (
    composite_from_wire,
    ev_needs_from_wire,
    ev_schedule_from_wire,
    profile_from_wire,
    profile_to_wire,
)
from schemas.charging_profiles import (
    ChargingProfile,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

D = Decimal
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def station(
    sid: str,
    sessions: int = 0,
    *,
    max_w: int = 22_000,
    priority: int = 0,
    online: bool = True,
    in_force: int | None = None,
) -> StationLoad:
    return StationLoad(
        sid,
        D(max_w),
        priority,
        tuple(SessionLoad(f"{sid}/{i}", D(22_000)) for i in range(1, sessions + 1)),
        online,
        D(in_force) if in_force is not None else None,
    )


def test_idle_stations_share_the_budget_as_standby() -> None:
    limits = station_limits(D(60_000), [station("A"), station("B"), station("C")])
    assert limits == {"A": 20_000, "B": 20_000, "C": 20_000}


def test_a_station_with_two_sessions_gets_at_most_its_maximum() -> None:
    limits = station_limits(D(60_000), [station("A", 2), station("B", 1), station("C", 1)])
    assert limits == {"A": 22_000, "B": 19_000, "C": 19_000}


def test_offline_stations_keep_what_they_can_draw() -> None:
    limits = station_limits(
        D(60_000),
        [station("A", 1), station("B", 1, online=False, in_force=22_000), station("C", 1)],
    )
    assert limits == {"A": 19_000, "C": 19_000}
    never_limited = station_limits(
        D(60_000), [station("A", 1), station("B", online=False, max_w=50_000)]
    )
    assert never_limited == {"A": 10_000}


def test_priority_policy_and_minimum_rate() -> None:
    stations = [station("A", 1, priority=2), station("B", 1, priority=1), station("C", 1)]
    assert station_limits(D(30_000), stations, SharePolicy.PRIORITY) == {
        "A": 22_000,
        "B": 8_000,
        "C": 0,
    }
    # a 10 kW minimum: only two sessions fit, the third gets nothing
    assert station_limits(D(25_000), stations, min_session_w=D(10_000)) == {
        "A": 12_500,
        "B": 12_500,
        "C": 0,
    }


@given(
    budget=st.integers(0, 200_000),
    loads=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.integers(1_000, 50_000),
            st.booleans(),
            st.one_of(st.none(), st.integers(0, 50_000)),
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_limits_never_exceed_what_the_budget_leaves(
    budget: int, loads: list[tuple[int, int, bool, int | None, int]]
) -> None:
    stations = [
        station(f"S{i}", n, max_w=m, online=on, in_force=f, priority=p)
        for i, (n, m, on, f, p) in enumerate(loads)
    ]
    for policy in SharePolicy:
        limits = station_limits(D(budget), stations, policy)
        reserved = sum((s.drawable_w for s in stations if not s.online), D(0))
        assert set(limits) == {s.station_id for s in stations if s.online}
        assert sum(limits.values(), D(0)) <= max(D(budget) - reserved, D(0))
        for s in stations:
            if s.online:
                assert 0 <= limits[s.station_id] <= s.max_w


@given(
    current=st.dictionaries(st.sampled_from("ABCD"), st.integers(0, 30_000), min_size=1),
    target=st.integers(0, 30_000),
    budget=st.integers(0, 100_000),
)
def test_a_raise_keeps_the_sum_within_the_budget(
    current: dict[str, int], target: int, budget: int
) -> None:
    in_force = {k: D(v) for k, v in current.items()}
    key = next(iter(in_force))
    allowed = allowed_increase(in_force, key, D(target), D(budget))
    assert allowed >= in_force[key]
    if allowed > in_force[key]:
        assert sum(in_force.values()) - in_force[key] + allowed <= budget
        assert allowed <= target


def test_rollout_lowers_first() -> None:
    order = rollout_order({"A": D(20), "B": D(20)}, {"A": D(30), "B": D(10)})
    assert order == [("B", D(10)), ("A", D(30))]


def test_limit_in_force_from_history() -> None:
    assert limit_in_force([]) is None
    assert limit_in_force([("replaced", D(20)), ("accepted", D(15))]) == 15
    assert limit_in_force([("accepted", D(15)), ("rejected", D(10))]) == 15
    assert limit_in_force([("accepted", D(15)), ("failed", D(20))]) == 20  # may be applied
    assert limit_in_force([("accepted", D(15)), ("sent", D(10))]) == 15
    assert limit_in_force([("accepted", D(15)), ("cleared", D(15))]) is None


def test_station_limit_profile() -> None:
    p = station_limit_profile(D(19_000), T0)
    assert p.id == LOAD_MANAGEMENT_PROFILE_ID and p.purpose is ProfilePurpose.STATION_MAX
    assert p.start_schedule == T0 - timedelta(days=1) and p.evse_id == 0
    assert first_limit_w(p) == 19_000
    check_profile(p)


def profile(**kw: object) -> ChargingProfile:
    values: dict[str, object] = {
        "id": 1,
        "stack_level": 0,
        "purpose": ProfilePurpose.TX_DEFAULT,
        "kind": ProfileKind.ABSOLUTE,
        "rate_unit": RateUnit.W,
        "periods": (SchedulePeriod(0, D(11_000)),),
        "evse_id": 1,
        "start_schedule": T0,
    }
    values.update(kw)
    return ChargingProfile(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        {"purpose": ProfilePurpose.EXTERNAL},
        {"id": 0},
        {"stack_level": -1},
        {"purpose": ProfilePurpose.STATION_MAX, "evse_id": 1},
        {"purpose": ProfilePurpose.TX, "evse_id": 0},
        {"transaction_id": "T"},
        {"start_schedule": None},
        {"kind": ProfileKind.RELATIVE},
        {"kind": ProfileKind.RECURRING},
        {"periods": (SchedulePeriod(0, D(-1)),)},
        {"valid_from": T0, "valid_to": T0},
    ],
)
def test_profiles_no_station_may_accept_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidProfile):
        check_profile(profile(**bad))


def test_replacement_and_clear_rules() -> None:
    base = profile()
    assert replaces(profile(stack_level=3), base) is True  # same id
    assert replaces(profile(id=2), base) is True  # same stack level, purpose, EVSE
    assert replaces(profile(id=2, evse_id=2), base) is False
    tx_a = profile(id=3, purpose=ProfilePurpose.TX, transaction_id="A")
    assert replaces(profile(id=4, purpose=ProfilePurpose.TX, transaction_id="B"), tx_a) is False
    assert ClearCriteria(profile_id=1).matches(base)
    assert ClearCriteria(evse_id=1, stack_level=0).matches(base)
    assert not ClearCriteria(purpose=ProfilePurpose.TX).matches(base)
    assert ClearCriteria().matches(base)
    assert not ClearCriteria().matches(profile(purpose=ProfilePurpose.EXTERNAL))
    assert next_profile_id([]) == 1 and next_profile_id([3, 7]) == 8


def test_wire_forms_of_both_versions() -> None:
    p = profile(
        id=5,
        purpose=ProfilePurpose.STATION_MAX,
        evse_id=0,
        kind=ProfileKind.RECURRING,
        recurrency=Recurrency.WEEKLY,
        periods=(SchedulePeriod(0, D("7360.5"), 3), SchedulePeriod(3600, D(11_000))),
        duration_s=7200,
    )
    v16 = profile_to_wire(p, OcppVersion.V16)
    assert v16["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert v16["recurrencyKind"] == "Weekly"
    assert v16["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 7360.5, "numberPhases": 3},
        {"startPeriod": 3600, "limit": 11000},
    ]
    v201 = profile_to_wire(p, OcppVersion.V201)
    assert v201["chargingProfilePurpose"] == "ChargingStationMaxProfile"
    assert v201["chargingSchedule"][0]["id"] == 5
    assert profile_from_wire(v201, 0) == p
    with pytest.raises(ValueError, match="integer"):
        profile_to_wire(profile(purpose=ProfilePurpose.TX, transaction_id="abc"), OcppVersion.V16)
    assert profile_from_json(profile_to_json(p)) == p


def test_composite_schedule_answers_of_both_versions() -> None:
    v16 = composite_from_wire(
        {
            "status": "Accepted",
            "connectorId": 2,
            "scheduleStart": "2026-03-01T12:00:00Z",
            "chargingSchedule": {
                "duration": 600,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
            },
        },
        OcppVersion.V16,
        2,
        600,
    )
    assert v16.accepted and v16.evse_id == 2 and v16.schedule is not None
    assert v16.schedule.start == T0 and v16.schedule.periods[0].limit == 16
    v201 = composite_from_wire({"status": "Rejected"}, OcppVersion.V201, 1, 60)
    assert not v201.accepted and v201.schedule is None


def test_what_an_iso_15118_ev_is_offered() -> None:
    needs = ev_needs_from_wire(
        {
            "evseId": 1,
            "chargingNeeds": {
                "requestedEnergyTransfer": "AC_three_phase",
                "departureTime": "2026-03-01T18:00:00Z",
                "acChargingParameters": {
                    "energyAmount": 20000,
                    "evMinCurrent": 6,
                    "evMaxCurrent": 16,
                    "evMaxVoltage": 400,
                },
            },
        }
    )
    assert needs.max_power_w == 16 * 230 * 3 and needs.energy_wh == 20000
    assert needs.departure == datetime(2026, 3, 1, 18, tzinfo=UTC)
    assert ev_max_power_w("DC", dc_max_current_a=100, dc_max_voltage_v=400) == 40_000
    assert ev_max_power_w("DC") is None
    assert offered_limit_w(needs, D(22_000), None) == 11_040
    assert offered_limit_w(needs, D(22_000), D(5_000)) == 5_000
    assert offered_limit_w(None, D(22_000), None) == 22_000
    periods, unit = ev_schedule_from_wire(
        {
            "chargingSchedule": {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
            }
        }
    )
    assert unit is RateUnit.A
    assert schedule_within(periods, unit, D(11_040))
    assert not schedule_within(periods, unit, D(11_000))
    offer = ev_profile(3, 1, "TX-1", D(11_040))
    check_profile(offer)
    assert offer.kind is ProfileKind.RELATIVE and offer.transaction_id == "TX-1"
