"""Charging profiles and the composite schedule (1.6 section 3.13, 2.0.1 K01-K08, TC_066,
TC_K_43/44).

Part of the contract between central system and station: both sides must read a profile the
same way, so both use this pure module. Version-neutral profiles: 1.6 ChargePointMaxProfile and
2.0.1 ChargingStationMaxProfile are the same purpose here (STATION_MAX). Limits are in W or A as
the profile says; conversions use the nominal voltage and phases given by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum


class ProfilePurpose(StrEnum):
    STATION_MAX = "ChargingStationMaxProfile"  # 1.6: ChargePointMaxProfile
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"
    EXTERNAL = "ChargingStationExternalConstraints"


class ProfileKind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class Recurrency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(StrEnum):
    W = "W"
    A = "A"


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_s: int
    limit: Decimal
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: ProfilePurpose
    kind: ProfileKind
    rate_unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    evse_id: int = 0  # 0: the whole station
    start_schedule: datetime | None = None
    duration_s: int | None = None
    recurrency: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    min_charging_rate: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.periods or self.periods[0].start_s != 0:
            raise ValueError("a schedule's first period starts at 0")
        starts = [p.start_s for p in self.periods]
        if starts != sorted(set(starts)):
            raise ValueError("schedule periods must have increasing start times")


@dataclass(frozen=True, slots=True)
class Electrical:
    """How to convert between A and W at one EVSE."""

    voltage_v: Decimal = Decimal(230)
    phases: int = 3

    def to_watts(self, limit: Decimal, unit: RateUnit, phases: int | None = None) -> Decimal:
        if unit is RateUnit.W:
            return limit
        return limit * self.voltage_v * (phases or self.phases)

    def to_amps(self, watts: Decimal, phases: int | None = None) -> Decimal:
        return watts / (self.voltage_v * (phases or self.phases))


def _schedule_start(
    profile: ChargingProfile, at: datetime, transaction_start: datetime | None
) -> datetime | None:
    """When the schedule that applies at `at` began (None: the profile does not apply)."""
    if profile.kind is ProfileKind.RELATIVE:
        return transaction_start if transaction_start is not None else at
    start = profile.start_schedule
    if start is None:
        return None
    if profile.kind is ProfileKind.RECURRING:
        period = timedelta(days=7 if profile.recurrency is Recurrency.WEEKLY else 1)
        if at < start:
            return None
        cycles = (at - start) // period
        return start + cycles * period
    return start


def limit_at(
    profile: ChargingProfile, at: datetime, transaction_start: datetime | None = None
) -> SchedulePeriod | None:
    """The period of `profile` in force at `at`, or None when the profile says nothing then."""
    if profile.valid_from is not None and at < profile.valid_from:
        return None
    if profile.valid_to is not None and at >= profile.valid_to:
        return None
    start = _schedule_start(profile, at, transaction_start)
    if start is None or at < start:
        return None
    offset = (at - start).total_seconds()
    if profile.duration_s is not None and offset >= profile.duration_s:
        return None
    current = None
    for period in profile.periods:
        if period.start_s <= offset:
            current = period
        else:
            break
    return current


def _winner(
    profiles: Iterable[ChargingProfile], at: datetime, transaction_start: datetime | None
) -> tuple[ChargingProfile, SchedulePeriod] | None:
    """Highest stack level with a period in force at `at` (K01.FR.xx: stacking)."""
    best: tuple[ChargingProfile, SchedulePeriod] | None = None
    for profile in profiles:
        period = limit_at(profile, at, transaction_start)
        if period is not None and (best is None or profile.stack_level > best[0].stack_level):
            best = (profile, period)
    return best


def effective_limit_w(
    profiles: Sequence[ChargingProfile],
    evse_id: int,
    at: datetime,
    *,
    electrical: Electrical = Electrical(),
    transaction_id: str | None = None,
    transaction_start: datetime | None = None,
    hardware_max_w: Decimal | None = None,
) -> Decimal | None:
    """The power limit at one EVSE at `at`: the minimum of the station maximum, external
    constraints, and the transaction's profile (a TxProfile of this transaction wins over
    TxDefault; an EVSE-specific TxDefault over the station-wide one). None: no limit."""
    limits: list[Decimal] = []
    if hardware_max_w is not None:
        limits.append(hardware_max_w)
    for purpose in (ProfilePurpose.STATION_MAX, ProfilePurpose.EXTERNAL):
        chosen = _winner((p for p in profiles if p.purpose is purpose), at, transaction_start)
        if chosen is not None:
            profile, period = chosen
            limits.append(
                electrical.to_watts(period.limit, profile.rate_unit, period.number_phases)
            )
    tx_profiles = [
        p
        for p in profiles
        if p.purpose is ProfilePurpose.TX
        and transaction_id is not None
        and p.transaction_id in (None, transaction_id)
        and p.evse_id == evse_id
    ]
    chosen = _winner(tx_profiles, at, transaction_start) if transaction_id else None
    if chosen is None:
        defaults = [p for p in profiles if p.purpose is ProfilePurpose.TX_DEFAULT]
        specific = [p for p in defaults if p.evse_id == evse_id]
        chosen = _winner(specific, at, transaction_start) or _winner(
            [p for p in defaults if p.evse_id == 0], at, transaction_start
        )
    if chosen is not None:
        profile, period = chosen
        limits.append(electrical.to_watts(period.limit, profile.rate_unit, period.number_phases))
    return min(limits) if limits else None


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    start: datetime
    duration_s: int
    rate_unit: RateUnit
    periods: tuple[SchedulePeriod, ...] = field(default_factory=tuple)


def composite_schedule(
    profiles: Sequence[ChargingProfile],
    evse_id: int,
    start: datetime,
    duration_s: int,
    *,
    rate_unit: RateUnit = RateUnit.W,
    electrical: Electrical = Electrical(),
    transaction_id: str | None = None,
    transaction_start: datetime | None = None,
    hardware_max_w: Decimal,
) -> CompositeSchedule:
    """GetCompositeSchedule: the limit over [start, start + duration) as periods, merged where
    the limit does not change. Evaluated at every point where any profile can change."""
    boundaries = {0}
    for profile in profiles:
        for at in _change_points(profile, start, duration_s, transaction_start):
            offset = int((at - start).total_seconds())
            if 0 < offset < duration_s:
                boundaries.add(offset)
    periods: list[SchedulePeriod] = []
    for offset in sorted(boundaries):
        watts = effective_limit_w(
            profiles,
            evse_id,
            start + timedelta(seconds=offset),
            electrical=electrical,
            transaction_id=transaction_id,
            transaction_start=transaction_start,
            hardware_max_w=hardware_max_w,
        )
        assert watts is not None  # hardware_max_w is always a limit
        limit = watts if rate_unit is RateUnit.W else electrical.to_amps(watts)
        limit = limit.quantize(Decimal("0.1"))
        if not periods or periods[-1].limit != limit:
            periods.append(SchedulePeriod(offset, limit))
    return CompositeSchedule(start, duration_s, rate_unit, tuple(periods))


def _change_points(
    profile: ChargingProfile, start: datetime, duration_s: int, transaction_start: datetime | None
) -> list[datetime]:
    end = start + timedelta(seconds=duration_s)
    points = [p for p in (profile.valid_from, profile.valid_to) if p is not None]
    anchors: list[datetime] = []
    if profile.kind is ProfileKind.RELATIVE:
        anchors = [transaction_start or start]
    elif profile.start_schedule is not None:
        if profile.kind is ProfileKind.RECURRING:
            step = timedelta(days=7 if profile.recurrency is Recurrency.WEEKLY else 1)
            anchor = profile.start_schedule
            if anchor < start:
                anchor += ((start - anchor) // step) * step
            while anchor < end:
                anchors.append(anchor)
                anchor += step
            anchors.append(anchor - step)
        else:
            anchors = [profile.start_schedule]
    for anchor in anchors:
        points.extend(anchor + timedelta(seconds=p.start_s) for p in profile.periods)
        if profile.duration_s is not None:
            points.append(anchor + timedelta(seconds=profile.duration_s))
    return points
