"""The station's installed charging profiles and the power limits they give the hardware.

Evaluation is the shared `schemas.charging_profiles` (the central system reads profiles the same
way); this module adds what only the station does: which profiles an install replaces (1.6
3.13.2, 2.0.1 K01.FR.05: same id, or same stack level and purpose on the same EVSE), which a
ClearChargingProfile removes, the limits per connector and for the whole station, and a JSON
form to keep them across restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from schemas.charging_profiles import (
    ChargingProfile,
    CompositeSchedule,
    Electrical,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    composite_schedule,
    effective_limit_w,
)

ELECTRICAL = Electrical()
"""A/W conversion used by both sides (schemas.charging_profiles default: 230 V, 3 phases)."""


class ProfileRejected(ValueError):
    """SetChargingProfile must be answered Rejected; the message says why."""


@dataclass(frozen=True, slots=True)
class ActiveTransaction:
    evse_id: int
    transaction_id: str
    started_at: datetime


def check_install(
    profile: ChargingProfile,
    evse_id: int,
    transactions: Sequence[ActiveTransaction],
    *,
    max_stack_level: int,
    max_periods: int,
) -> None:
    """Raise ProfileRejected when the profile cannot be installed on `evse_id` (0 = station)."""
    if not 0 <= profile.stack_level <= max_stack_level:
        raise ProfileRejected(f"stack level must be 0..{max_stack_level}")
    if len(profile.periods) > max_periods:
        raise ProfileRejected(f"at most {max_periods} schedule periods")
    if profile.purpose is ProfilePurpose.STATION_MAX and evse_id != 0:
        raise ProfileRejected("a station maximum profile belongs to EVSE 0")
    if profile.purpose is ProfilePurpose.EXTERNAL:
        raise ProfileRejected("external constraints are not set by the central system")
    if profile.purpose is ProfilePurpose.TX:
        if evse_id == 0:
            raise ProfileRejected("a TxProfile needs an EVSE")
        on_evse = [t for t in transactions if t.evse_id == evse_id]
        if not on_evse:
            raise ProfileRejected("no transaction on this EVSE")
        if profile.transaction_id is not None and profile.transaction_id not in {
            t.transaction_id for t in on_evse
        }:
            raise ProfileRejected("the transaction id does not match")
    if any(p.limit < 0 for p in profile.periods):
        raise ProfileRejected("a limit must not be negative")


def install(
    profiles: Sequence[ChargingProfile], new: ChargingProfile
) -> tuple[ChargingProfile, ...]:
    """Add `new`, replacing a profile with the same id, or the same stack level and purpose on
    the same EVSE (and for TxProfiles the same transaction)."""
    kept = [
        p
        for p in profiles
        if p.id != new.id
        and not (
            p.stack_level == new.stack_level
            and p.purpose is new.purpose
            and p.evse_id == new.evse_id
            and (p.purpose is not ProfilePurpose.TX or p.transaction_id == new.transaction_id)
        )
    ]
    return (*kept, new)


def clear(
    profiles: Sequence[ChargingProfile],
    *,
    profile_id: int | None = None,
    evse_id: int | None = None,
    purpose: ProfilePurpose | None = None,
    stack_level: int | None = None,
) -> tuple[tuple[ChargingProfile, ...], int]:
    """ClearChargingProfile: by id, else by every criterion given (none: all). Returns the
    remaining profiles and how many were removed."""

    def matches(p: ChargingProfile) -> bool:
        if profile_id is not None:
            return p.id == profile_id
        return (
            (evse_id is None or p.evse_id == evse_id)
            and (purpose is None or p.purpose is purpose)
            and (stack_level is None or p.stack_level == stack_level)
        )

    remaining = tuple(p for p in profiles if not matches(p))
    return remaining, len(profiles) - len(remaining)


def end_of_transaction(
    profiles: Sequence[ChargingProfile], evse_id: int, transaction_id: str
) -> tuple[ChargingProfile, ...]:
    """A TxProfile lives as long as its transaction (K01.FR.xx, 1.6 3.13.4)."""
    return tuple(
        p
        for p in profiles
        if not (
            p.purpose is ProfilePurpose.TX
            and p.evse_id == evse_id
            and p.transaction_id in (None, transaction_id)
        )
    )


def connector_limit_w(
    profiles: Sequence[ChargingProfile],
    evse_id: int,
    at: datetime,
    transaction: ActiveTransaction | None,
) -> int | None:
    """What the profiles allow one connector now (None: no limit). The station maximum
    profile is applied to the whole station instead (`station_limit_w`)."""
    per_evse = [p for p in profiles if p.purpose is not ProfilePurpose.STATION_MAX]
    limit = effective_limit_w(
        per_evse,
        evse_id,
        at,
        electrical=ELECTRICAL,
        transaction_id=transaction.transaction_id if transaction else None,
        transaction_start=transaction.started_at if transaction else None,
    )
    return None if limit is None else max(0, int(limit))


def station_limit_w(profiles: Sequence[ChargingProfile], at: datetime) -> int | None:
    station = [p for p in profiles if p.purpose is ProfilePurpose.STATION_MAX]
    limit = effective_limit_w(station, 0, at, electrical=ELECTRICAL)
    return None if limit is None else max(0, int(limit))


def schedule(
    profiles: Sequence[ChargingProfile],
    evse_id: int,
    start: datetime,
    duration_s: int,
    rate_unit: RateUnit,
    hardware_max_w: int,
    transaction: ActiveTransaction | None,
) -> CompositeSchedule:
    """GetCompositeSchedule for one EVSE (0: the station), the station maximum included."""
    return composite_schedule(
        profiles,
        evse_id,
        start,
        duration_s,
        rate_unit=rate_unit,
        electrical=ELECTRICAL,
        transaction_id=transaction.transaction_id if transaction else None,
        transaction_start=transaction.started_at if transaction else None,
        hardware_max_w=Decimal(hardware_max_w),
    )


# --- persistence form ----------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def to_json(profile: ChargingProfile) -> dict[str, Any]:
    return {
        "id": profile.id,
        "stackLevel": profile.stack_level,
        "purpose": profile.purpose.value,
        "kind": profile.kind.value,
        "rateUnit": profile.rate_unit.value,
        "periods": [
            {"start": p.start_s, "limit": str(p.limit), "phases": p.number_phases}
            for p in profile.periods
        ],
        "evseId": profile.evse_id,
        "startSchedule": _time(profile.start_schedule),
        "duration": profile.duration_s,
        "recurrency": profile.recurrency.value if profile.recurrency else None,
        "validFrom": _time(profile.valid_from),
        "validTo": _time(profile.valid_to),
        "transactionId": profile.transaction_id,
        "minChargingRate": (
            str(profile.min_charging_rate) if profile.min_charging_rate is not None else None
        ),
    }


def from_json(data: dict[str, Any]) -> ChargingProfile:
    return ChargingProfile(
        id=int(data["id"]),
        stack_level=int(data["stackLevel"]),
        purpose=ProfilePurpose(data["purpose"]),
        kind=ProfileKind(data["kind"]),
        rate_unit=RateUnit(data["rateUnit"]),
        periods=tuple(
            SchedulePeriod(int(p["start"]), Decimal(p["limit"]), p.get("phases"))
            for p in data["periods"]
        ),
        evse_id=int(data["evseId"]),
        start_schedule=_parse_time(data.get("startSchedule")),
        duration_s=data.get("duration"),
        recurrency=Recurrency(data["recurrency"]) if data.get("recurrency") else None,
        valid_from=_parse_time(data.get("validFrom")),
        valid_to=_parse_time(data.get("validTo")),
        transaction_id=data.get("transactionId"),
        min_charging_rate=(
            Decimal(data["minChargingRate"]) if data.get("minChargingRate") else None
        ),
    )
