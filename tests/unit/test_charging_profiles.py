"""Charging-profile stacking, composite schedules and load allocation, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central_system.domain.load_management import Demand, SharePolicy, allocate, rollout_order
from schemas.charging_profiles import (
    ChargingProfile,
    Electrical,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    composite_schedule,
    effective_limit_w,
    limit_at,
)

T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
D = Decimal


def profile(
    purpose: ProfilePurpose,
    periods: list[tuple[int, int]],
    *,
    stack: int = 0,
    kind: ProfileKind = ProfileKind.ABSOLUTE,
    unit: RateUnit = RateUnit.W,
    evse: int = 0,
    **kw: object,
) -> ChargingProfile:
    return ChargingProfile(
        id=stack * 100 + len(periods),
        stack_level=stack,
        purpose=purpose,
        kind=kind,
        rate_unit=unit,
        periods=tuple(SchedulePeriod(s, D(limit)) for s, limit in periods),
        evse_id=evse,
        start_schedule=kw.pop("start", T0 if kind is not ProfileKind.RELATIVE else None),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_schedule_period_in_force() -> None:
    p = profile(ProfilePurpose.TX_DEFAULT, [(0, 11000), (3600, 7000)], duration_s=7200)
    assert limit_at(p, T0 - timedelta(seconds=1)) is None
    assert limit_at(p, T0).limit == 11000  # type: ignore[union-attr]
    assert limit_at(p, T0 + timedelta(hours=1, seconds=1)).limit == 7000  # type: ignore[union-attr]
    assert limit_at(p, T0 + timedelta(hours=2)) is None


def test_recurring_daily_profile() -> None:
    night = profile(
        ProfilePurpose.TX_DEFAULT,
        [(0, 3000), (8 * 3600, 22000)],
        kind=ProfileKind.RECURRING,
        recurrency=Recurrency.DAILY,
    )
    assert limit_at(night, T0 + timedelta(days=3, hours=1)).limit == 3000  # type: ignore[union-attr]
    assert limit_at(night, T0 + timedelta(days=3, hours=9)).limit == 22000  # type: ignore[union-attr]


def test_relative_profile_starts_with_the_transaction() -> None:
    relative = profile(ProfilePurpose.TX, [(0, 5000), (600, 9000)], kind=ProfileKind.RELATIVE)
    started = T0 + timedelta(minutes=30)
    assert limit_at(relative, started + timedelta(minutes=5), started).limit == 5000  # type: ignore[union-attr]
    assert limit_at(relative, started + timedelta(minutes=11), started).limit == 9000  # type: ignore[union-attr]


def test_stacking_tx_over_default_under_station_max() -> None:
    profiles = [
        profile(ProfilePurpose.TX_DEFAULT, [(0, 20000)], stack=0),
        profile(ProfilePurpose.TX_DEFAULT, [(0, 15000)], stack=1),
        profile(ProfilePurpose.TX, [(0, 30000)], stack=0, evse=1, transaction_id="T1"),
        profile(ProfilePurpose.STATION_MAX, [(0, 25000)]),
    ]
    # TxProfile of the transaction wins over TxDefault, then the station max caps it.
    assert effective_limit_w(profiles, 1, T0, transaction_id="T1") == 25000
    # Another transaction falls back to the highest-stack TxDefault.
    assert effective_limit_w(profiles, 1, T0, transaction_id="T2") == 15000
    assert effective_limit_w([], 1, T0) is None


def test_amps_become_watts_with_phases() -> None:
    amps = profile(ProfilePurpose.TX_DEFAULT, [(0, 16)], unit=RateUnit.A)
    assert effective_limit_w([amps], 1, T0) == D(16 * 230 * 3)
    assert effective_limit_w([amps], 1, T0, electrical=Electrical(D(400), 1)) == D(6400)


def test_composite_schedule_merges_profiles() -> None:
    profiles = [
        profile(ProfilePurpose.TX_DEFAULT, [(0, 11000), (1800, 7000)]),
        profile(
            ProfilePurpose.STATION_MAX,
            [(0, 9000)],
            start=T0 + timedelta(minutes=10),
            duration_s=600,
        ),
    ]
    schedule = composite_schedule(profiles, 1, T0, 3600, hardware_max_w=D(22000))
    assert [(p.start_s, p.limit) for p in schedule.periods] == [
        (0, D(11000)),
        (600, D(9000)),
        (1200, D(11000)),
        (1800, D(7000)),
    ]


def test_invalid_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="starts at 0"):
        profile(ProfilePurpose.TX, [(10, 1000)])
    with pytest.raises(ValueError, match="increasing"):
        profile(ProfilePurpose.TX, [(0, 1000), (0, 2000)])


def test_equal_share_redistributes_what_one_cannot_use() -> None:
    demands = [Demand("a", D(50000)), Demand("b", D(10000)), Demand("c", D(50000))]
    limits = allocate(D(60000), demands).limits
    assert limits == {"a": D(25000), "b": D(10000), "c": D(25000)}


def test_priority_serves_higher_first() -> None:
    demands = [Demand("low", D(50000), priority=0), Demand("high", D(40000), priority=5)]
    limits = allocate(D(60000), demands, SharePolicy.PRIORITY).limits
    assert limits == {"high": D(40000), "low": D(20000)}


def test_a_session_whose_minimum_does_not_fit_gets_nothing() -> None:
    demands = [Demand("a", D(50000), min_w=D(6000)), Demand("b", D(50000), min_w=D(6000))]
    assert allocate(D(10000), demands).limits == {"a": D(10000), "b": D(0)}
    assert allocate(D(14000), demands).limits == {"a": D(7000), "b": D(7000)}


@given(
    st.integers(min_value=0, max_value=200_000),
    st.lists(
        st.tuples(st.integers(0, 150_000), st.integers(0, 3), st.integers(0, 10_000)), max_size=12
    ),
    st.sampled_from(list(SharePolicy)),
)
def test_allocation_never_exceeds_budget_or_demand(
    budget: int, raw: list[tuple[int, int, int]], policy: SharePolicy
) -> None:
    demands = [Demand(f"s{i}", D(m), p, D(lo)) for i, (m, p, lo) in enumerate(raw)]
    allocation = allocate(D(budget), demands, policy)
    assert allocation.total_w <= budget
    for d in demands:
        assert 0 <= allocation.limits[d.key] <= d.max_w


@given(
    st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 50_000)),
    st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 50_000)),
)
def test_rollout_never_exceeds_the_larger_total(
    current: dict[str, int], target: dict[str, int]
) -> None:
    now = {k: D(v) for k, v in current.items()}
    goal = {k: D(v) for k, v in target.items()}
    ceiling = max(
        sum(now.values(), D(0)),
        sum(goal.values(), D(0)) + sum(v for k, v in now.items() if k not in goal),
    )
    in_force = dict(now)
    for key, value in rollout_order(now, goal):
        in_force[key] = value
        assert sum(in_force.values(), D(0)) <= ceiling
    assert all(in_force[k] == v for k, v in goal.items())
