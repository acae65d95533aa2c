"""What the central system knows about the charging profiles on its stations (1.6 Smart
Charging TC_056/057/059/066/067; 2.0.1 K01-K10, K15-K17 use cases), version-neutral.

A profile the central system sends is recorded when it is sent, and marked accepted, rejected or
failed by the station's answer. The station's own replacement rules (same id; or same stack
level, purpose and EVSE, and for a TxProfile the same transaction: 1.6 section 3.13, K01)
and ClearChargingProfile's matching (by id, else by every criterion given) are mirrored here so
that the records say what the station holds. Profiles a station reports (GetChargingProfiles ->
ReportChargingProfiles, K09) and external limits it notifies (NotifyChargingLimit, K12) are kept
beside them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from schemas.charging_profiles import (
    ChargingProfile,
    CompositeSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
)


class ProfileStatus(StrEnum):
    SENT = "sent"  # sent, no answer yet (or the answer was lost)
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # the station answered Rejected
    FAILED = "failed"  # offline, no answer in time, or a CALLERROR
    REPLACED = "replaced"  # a later accepted profile replaced it on the station
    CLEARED = "cleared"  # ClearChargingProfile removed it (or a report no longer lists it)
    REPORTED = "reported"  # the station told us it holds this profile


ON_STATION = frozenset({ProfileStatus.ACCEPTED, ProfileStatus.REPORTED})


class ProfileSource(StrEnum):
    OPERATOR = "operator"  # sent through the API / a service on an operator's behalf
    LOAD_MANAGEMENT = "load_management"  # the site's power budget
    REPORT = "report"  # ReportChargingProfiles (what the station holds)
    EXTERNAL = "external"  # NotifyChargingLimit: a limit set by an EMS / grid operator
    EV_NEGOTIATION = "iso15118"  # a TxProfile offered to an ISO 15118 EV (K15-K17)


class ChargingLimitSource(StrEnum):
    """2.0.1 ChargingLimitSourceEnumType: who set a limit."""

    EMS = "EMS"
    OTHER = "Other"
    SO = "SO"
    CSO = "CSO"


class InvalidProfile(ValueError):
    """A profile the central system must not send (the reason is the message)."""


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """One charging profile as the central system knows it."""

    station_id: str
    profile: ChargingProfile
    source: ProfileSource
    status: ProfileStatus
    created_at: datetime
    updated_at: datetime
    status_info: str | None = None  # the station's reason / the error
    limit_source: ChargingLimitSource | None = None  # reported and external profiles
    request_id: int | None = None  # the GetChargingProfiles request a report answered
    row_id: int | None = None

    @property
    def on_station(self) -> bool:
        return self.status in ON_STATION


@dataclass(frozen=True, slots=True)
class ClearCriteria:
    """ClearChargingProfile: a profile id, or any combination of EVSE, purpose and stack level
    (none at all: every profile the central system may clear)."""

    profile_id: int | None = None
    evse_id: int | None = None
    purpose: ProfilePurpose | None = None
    stack_level: int | None = None

    def matches(self, profile: ChargingProfile) -> bool:
        if profile.purpose is ProfilePurpose.EXTERNAL:
            return False  # set by an EMS or the grid operator: not the CSMS's to clear
        if self.profile_id is not None:
            return profile.id == self.profile_id
        return (
            (self.evse_id is None or profile.evse_id == self.evse_id)
            and (self.purpose is None or profile.purpose is self.purpose)
            and (self.stack_level is None or profile.stack_level == self.stack_level)
        )


@dataclass(frozen=True, slots=True)
class ReportCriteria:
    """GetChargingProfiles (2.0.1 K09): which installed profiles the station is to report."""

    evse_id: int | None = None
    purpose: ProfilePurpose | None = None
    stack_level: int | None = None
    profile_ids: tuple[int, ...] = ()
    limit_sources: tuple[ChargingLimitSource, ...] = ()


@dataclass(frozen=True, slots=True)
class CompositeScheduleReply:
    """A station's answer to GetCompositeSchedule, version-neutral."""

    status: str
    evse_id: int
    schedule: CompositeSchedule | None
    payload: dict[str, object]

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


def replaces(new: ChargingProfile, old: ChargingProfile) -> bool:
    """Whether installing `new` removes `old` from the station (same id; or same stack level,
    purpose and EVSE, and for TxProfiles the same transaction)."""
    if new.id == old.id:
        return True
    return (
        new.stack_level == old.stack_level
        and new.purpose is old.purpose
        and new.evse_id == old.evse_id
        and (new.purpose is not ProfilePurpose.TX or new.transaction_id == old.transaction_id)
    )


def check_profile(profile: ChargingProfile) -> None:
    """What every station must refuse (K01), refused before anything is sent."""
    if profile.purpose is ProfilePurpose.EXTERNAL:
        raise InvalidProfile("ChargingStationExternalConstraints are set by an EMS, not the CSMS")
    if profile.id <= 0:
        raise InvalidProfile("a profile id is a positive integer")
    if profile.stack_level < 0:
        raise InvalidProfile("a stack level is 0 or more")
    if profile.purpose is ProfilePurpose.STATION_MAX and profile.evse_id != 0:
        raise InvalidProfile("a station maximum profile applies to EVSE 0 (the whole station)")
    if profile.purpose is ProfilePurpose.TX and profile.evse_id <= 0:
        raise InvalidProfile("a TxProfile applies to one EVSE (evse_id 1 or more)")
    if profile.transaction_id is not None and profile.purpose is not ProfilePurpose.TX:
        raise InvalidProfile("only a TxProfile names a transaction")
    if profile.kind in (ProfileKind.ABSOLUTE, ProfileKind.RECURRING) and (
        profile.start_schedule is None
    ):
        raise InvalidProfile(f"an {profile.kind.value} profile needs a start_schedule")
    if profile.kind is ProfileKind.RELATIVE and profile.start_schedule is not None:
        raise InvalidProfile("a Relative profile has no start_schedule")
    if profile.kind is ProfileKind.RECURRING and profile.recurrency is None:
        raise InvalidProfile("a Recurring profile needs a recurrency (Daily or Weekly)")
    if any(period.limit < 0 for period in profile.periods):
        raise InvalidProfile("a limit is 0 or more")
    if (
        profile.valid_from is not None
        and profile.valid_to is not None
        and profile.valid_to <= profile.valid_from
    ):
        raise InvalidProfile("valid_to must be after valid_from")


def next_profile_id(used: Iterable[int], floor: int = 1) -> int:
    """A profile id not used on the station yet."""
    return max([floor - 1, *used]) + 1


def first_limit_w(profile: ChargingProfile) -> Decimal | None:
    """The limit of a single-period W profile (what load management sends), else None."""
    if profile.rate_unit is not RateUnit.W or len(profile.periods) != 1:
        return None
    return profile.periods[0].limit


# --- ISO 15118 charging needs (2.0.1 K15-K17) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class EVChargingNeeds:
    """What an ISO 15118 EV told the station it needs (NotifyEVChargingNeeds)."""

    evse_id: int
    energy_transfer: str  # DC, AC_single_phase, AC_two_phase, AC_three_phase
    max_power_w: Decimal | None  # DC evMaxPower, or AC evMaxCurrent x voltage x phases
    energy_wh: int | None = None
    departure: datetime | None = None


_AC_PHASES = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3}
NOMINAL_VOLTAGE = Decimal(230)


def ev_max_power_w(
    energy_transfer: str,
    *,
    dc_max_power_w: int | None = None,
    dc_max_current_a: int | None = None,
    dc_max_voltage_v: int | None = None,
    ac_max_current_a: int | None = None,
) -> Decimal | None:
    """The most an EV can take: DC evMaxPower (else current x voltage), AC current x 230 V x
    phases."""
    if energy_transfer == "DC":
        if dc_max_power_w is not None:
            return Decimal(dc_max_power_w)
        if dc_max_current_a is not None and dc_max_voltage_v is not None:
            return Decimal(dc_max_current_a) * Decimal(dc_max_voltage_v)
        return None
    if ac_max_current_a is None:
        return None
    return Decimal(ac_max_current_a) * NOMINAL_VOLTAGE * _AC_PHASES.get(energy_transfer, 3)


def offered_limit_w(
    needs: EVChargingNeeds | None, evse_max_w: Decimal, station_limit_w: Decimal | None
) -> Decimal:
    """The power to offer an EV: its maximum, within the EVSE's and the station's limits."""
    limits = [evse_max_w]
    if needs is not None and needs.max_power_w is not None:
        limits.append(needs.max_power_w)
    if station_limit_w is not None:
        limits.append(station_limit_w)
    return max(min(limits), Decimal(0))


def ev_profile(
    profile_id: int, evse_id: int, transaction_id: str, limit_w: Decimal
) -> ChargingProfile:
    """The TxProfile offered to an EV: one period from the transaction's start (Relative)."""
    return ChargingProfile(
        id=profile_id,
        stack_level=0,
        purpose=ProfilePurpose.TX,
        kind=ProfileKind.RELATIVE,
        rate_unit=RateUnit.W,
        periods=(SchedulePeriod(0, limit_w),),
        evse_id=evse_id,
        transaction_id=transaction_id,
    )


def schedule_within(
    periods: Iterable[tuple[int, Decimal]], rate_unit: RateUnit, limit_w: Decimal, phases: int = 3
) -> bool:
    """Whether an EV's charging schedule (NotifyEVChargingSchedule) stays within `limit_w`
    (K15: a schedule above the offered limit is rejected and renegotiated)."""
    for _, limit in periods:
        watts = limit if rate_unit is RateUnit.W else limit * NOMINAL_VOLTAGE * phases
        if watts > limit_w:
            return False
    return True
