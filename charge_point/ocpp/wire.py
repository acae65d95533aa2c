"""Conversions between OCPP payloads and the station's version-neutral values.

Handler arguments arrive in snake_case (the `ocpp` package converts every key); payloads we
build are written in the wire's camelCase, which the package leaves as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from charge_point.domain.local_auth import AuthorizationStatus, IdTokenInfo
from charge_point.domain.metering import Sample
from charge_point.ocpp.base import parse_time, wire_time
from schemas.charging_profiles import (
    ChargingProfile,
    CompositeSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

_PURPOSES = {
    "ChargePointMaxProfile": ProfilePurpose.STATION_MAX,
    "ChargingStationMaxProfile": ProfilePurpose.STATION_MAX,
    "TxDefaultProfile": ProfilePurpose.TX_DEFAULT,
    "TxProfile": ProfilePurpose.TX,
    "ChargingStationExternalConstraints": ProfilePurpose.EXTERNAL,
}


def _periods(schedule: dict[str, Any]) -> tuple[SchedulePeriod, ...]:
    return tuple(
        SchedulePeriod(int(p["start_period"]), Decimal(str(p["limit"])), p.get("number_phases"))
        for p in schedule["charging_schedule_period"]
    )


def _profile(
    data: dict[str, Any], schedule: dict[str, Any], profile_id: int, evse_id: int
) -> ChargingProfile:
    recurrency = data.get("recurrency_kind")
    transaction_id = data.get("transaction_id")
    minimum = schedule.get("min_charging_rate")
    return ChargingProfile(
        id=profile_id,
        stack_level=int(data["stack_level"]),
        purpose=_PURPOSES[data["charging_profile_purpose"]],
        kind=ProfileKind(data["charging_profile_kind"]),
        rate_unit=RateUnit(schedule["charging_rate_unit"]),
        periods=_periods(schedule),
        evse_id=evse_id,
        start_schedule=parse_time(schedule.get("start_schedule")),
        duration_s=schedule.get("duration"),
        recurrency=Recurrency(recurrency) if recurrency else None,
        valid_from=parse_time(data.get("valid_from")),
        valid_to=parse_time(data.get("valid_to")),
        transaction_id=str(transaction_id) if transaction_id is not None else None,
        min_charging_rate=Decimal(str(minimum)) if minimum is not None else None,
    )


def profile_16(data: dict[str, Any], connector_id: int) -> ChargingProfile:
    """1.6 csChargingProfiles / RemoteStart chargingProfile; ValueError if unusable."""
    return _profile(data, data["charging_schedule"], int(data["charging_profile_id"]), connector_id)


def profile_201(data: dict[str, Any], evse_id: int) -> ChargingProfile:
    """2.0.1 ChargingProfileType (the first of its schedules); ValueError if unusable."""
    schedules = data["charging_schedule"]
    schedule = schedules[0] if isinstance(schedules, list) else schedules
    return _profile(data, schedule, int(data["id"]), evse_id)


def composite_periods(composite: CompositeSchedule) -> list[dict[str, Any]]:
    return [
        {"startPeriod": p.start_s, "limit": float(round(p.limit, 1))} for p in composite.periods
    ]


def id_token_info_16(data: dict[str, Any] | None) -> IdTokenInfo:
    """1.6 IdTagInfo (snake_case) -> neutral."""
    if not data:
        return IdTokenInfo(AuthorizationStatus.INVALID)
    return IdTokenInfo(
        AuthorizationStatus(data["status"]),
        parse_time(data.get("expiry_date")),
        data.get("parent_id_tag"),
    )


def id_token_info_201(data: dict[str, Any] | None) -> IdTokenInfo:
    """2.0.1 IdTokenInfoType (snake_case) -> neutral."""
    if not data:
        return IdTokenInfo(AuthorizationStatus.UNKNOWN)
    group = data.get("group_id_token") or {}
    return IdTokenInfo(
        AuthorizationStatus(data["status"]),
        parse_time(data.get("cache_expiry_date_time")),
        group.get("id_token"),
    )


def meter_value_16(at: datetime, values: Sequence[Sample]) -> dict[str, Any]:
    return {
        "timestamp": wire_time(at),
        "sampledValue": [
            {
                "value": str(s.value),
                "context": s.context.value,
                "measurand": s.measurand.value,
                "location": s.location,
                "unit": s.unit,
            }
            for s in values
        ],
    }


def meter_value_201(at: datetime, values: Sequence[Sample]) -> dict[str, Any]:
    return {
        "timestamp": wire_time(at),
        "sampledValue": [
            {
                "value": s.value,
                "context": s.context.value,
                "measurand": s.measurand.value,
                "location": s.location,
                "unitOfMeasure": {"unit": s.unit},
            }
            for s in values
        ],
    }
