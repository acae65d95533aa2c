"""Smart-charging and cost messages in each OCPP version's wire format.

The version-neutral `schemas.charging_profiles.ChargingProfile` becomes 1.6 `csChargingProfiles`
(ChargePointMaxProfile for the station maximum, connectorId for the EVSE, an integer
transactionId, one chargingSchedule) or 2.0.1 `chargingProfile` (ChargingStationMaxProfile,
evseId beside it, a string transactionId, a list of chargingSchedules); answers and the
profiles 2.0.1 stations report come back version-neutral. 1.6 TC_056/057/059/066/067; 2.0.1
K01 (SetChargingProfile), K05 (RequestStartTransaction with a profile), K08
(GetCompositeSchedule), K09 (GetChargingProfiles / ReportChargingProfiles), K10
(ClearChargingProfile), K12/K13 (external limits), K15-K17 (ISO 15118 charging needs and
schedules), I02 (CostUpdated).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from central_system.domain.authorization import IdToken
from central_system.domain.clock import parse_timestamp
from central_system.domain.smart_charging import (
    ClearCriteria,
    CompositeScheduleReply,
    EVChargingNeeds,
    ReportCriteria,
    ev_max_power_w,
)
from central_system.services.ports import StationOffline
from central_system.transport.commands import (
    CommandResult,
    StationCommands,
    UnsupportedByVersion,
)
from central_system.transport.connection import FollowUp, OcppConnection
from central_system.transport.gateway import ConnectionRegistry
from central_system.transport.handlers import drop_none, wire_time
from central_system.transport.ocppj import OcppVersion
from schemas.charging_profiles import (
    ChargingProfile,
    CompositeSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

_STATION_MAX_16 = "ChargePointMaxProfile"
_TENTH = Decimal("0.1")


def _number(value: Decimal) -> int | float:
    """A JSON number: whole numbers as integers, others to 0.1 (1.6: multipleOf 0.1)."""
    rounded = value.quantize(_TENTH)
    return int(rounded) if rounded == rounded.to_integral_value() else float(rounded)


def _purpose_16(purpose: ProfilePurpose) -> str:
    if purpose is ProfilePurpose.EXTERNAL:
        raise UnsupportedByVersion("OCPP 1.6 has no external-constraints profiles")
    return _STATION_MAX_16 if purpose is ProfilePurpose.STATION_MAX else purpose.value


def _periods(profile_periods: tuple[SchedulePeriod, ...]) -> list[dict[str, Any]]:
    return [
        drop_none(
            {
                "startPeriod": period.start_s,
                "limit": _number(period.limit),
                "numberPhases": period.number_phases,
            }
        )
        for period in profile_periods
    ]


def _optional_time(moment: datetime | None) -> str | None:
    return wire_time(moment) if moment is not None else None


def _schedule_fields(profile: ChargingProfile) -> dict[str, Any]:
    return drop_none(
        {
            "startSchedule": _optional_time(profile.start_schedule),
            "duration": profile.duration_s,
            "chargingRateUnit": profile.rate_unit.value,
            "chargingSchedulePeriod": _periods(profile.periods),
            "minChargingRate": (
                _number(profile.min_charging_rate)
                if profile.min_charging_rate is not None
                else None
            ),
        }
    )


def profile_to_wire(profile: ChargingProfile, version: OcppVersion) -> dict[str, Any]:
    """The profile object itself (1.6 csChargingProfiles / chargingProfile, 2.x
    chargingProfile), without the EVSE it is set on."""
    if version is OcppVersion.V16:
        transaction_id = None
        if profile.transaction_id is not None:
            if not profile.transaction_id.isdigit():
                raise ValueError("an OCPP 1.6 transaction id is an integer")
            transaction_id = int(profile.transaction_id)
        return drop_none(
            {
                "chargingProfileId": profile.id,
                "transactionId": transaction_id,
                "stackLevel": profile.stack_level,
                "chargingProfilePurpose": _purpose_16(profile.purpose),
                "chargingProfileKind": profile.kind.value,
                "recurrencyKind": profile.recurrency.value if profile.recurrency else None,
                "validFrom": _optional_time(profile.valid_from),
                "validTo": _optional_time(profile.valid_to),
                "chargingSchedule": _schedule_fields(profile),
            }
        )
    return drop_none(
        {
            "id": profile.id,
            "stackLevel": profile.stack_level,
            "chargingProfilePurpose": profile.purpose.value,
            "chargingProfileKind": profile.kind.value,
            "recurrencyKind": profile.recurrency.value if profile.recurrency else None,
            "validFrom": _optional_time(profile.valid_from),
            "validTo": _optional_time(profile.valid_to),
            "transactionId": profile.transaction_id,
            "chargingSchedule": [{"id": profile.id, **_schedule_fields(profile)}],
        }
    )


def _time_or_none(value: Any) -> datetime | None:
    return parse_timestamp(value) if value else None


def _periods_from_wire(periods: list[dict[str, Any]]) -> tuple[SchedulePeriod, ...]:
    return tuple(
        SchedulePeriod(int(p["startPeriod"]), Decimal(str(p["limit"])), p.get("numberPhases"))
        for p in periods
    )


def profile_from_wire(data: dict[str, Any], evse_id: int) -> ChargingProfile:
    """A 2.x chargingProfile (as ReportChargingProfiles carries it) made version-neutral; its
    first charging schedule is kept. Raises ValueError for a profile that cannot be read."""
    schedule = data["chargingSchedule"][0]
    purpose = data["chargingProfilePurpose"]
    recurrency = data.get("recurrencyKind")
    minimum = schedule.get("minChargingRate")
    return ChargingProfile(
        id=int(data["id"]),
        stack_level=int(data["stackLevel"]),
        purpose=ProfilePurpose.STATION_MAX
        if purpose == _STATION_MAX_16
        else ProfilePurpose(purpose),
        kind=ProfileKind(data["chargingProfileKind"]),
        rate_unit=RateUnit(schedule["chargingRateUnit"]),
        periods=_periods_from_wire(schedule["chargingSchedulePeriod"]),
        evse_id=evse_id,
        start_schedule=_time_or_none(schedule.get("startSchedule")),
        duration_s=schedule.get("duration"),
        recurrency=Recurrency(recurrency) if recurrency else None,
        valid_from=_time_or_none(data.get("validFrom")),
        valid_to=_time_or_none(data.get("validTo")),
        transaction_id=data.get("transactionId"),
        min_charging_rate=Decimal(str(minimum)) if minimum is not None else None,
    )


def external_limit_from_wire(schedule: dict[str, Any], evse_id: int) -> ChargingProfile:
    """One chargingSchedule of a NotifyChargingLimit (K12) as an external-constraints profile."""
    start = _time_or_none(schedule.get("startSchedule"))
    minimum = schedule.get("minChargingRate")
    return ChargingProfile(
        id=int(schedule["id"]),
        stack_level=0,
        purpose=ProfilePurpose.EXTERNAL,
        kind=ProfileKind.ABSOLUTE if start is not None else ProfileKind.RELATIVE,
        rate_unit=RateUnit(schedule["chargingRateUnit"]),
        periods=_periods_from_wire(schedule["chargingSchedulePeriod"]),
        evse_id=evse_id,
        start_schedule=start,
        duration_s=schedule.get("duration"),
        min_charging_rate=Decimal(str(minimum)) if minimum is not None else None,
    )


def composite_from_wire(
    payload: dict[str, Any], version: OcppVersion, evse_id: int, duration_s: int
) -> CompositeScheduleReply:
    """A GetCompositeSchedule answer (1.6 chargingSchedule + scheduleStart, 2.x schedule)."""
    status = str(payload.get("status"))
    schedule: CompositeSchedule | None = None
    if version is OcppVersion.V16:
        wire = payload.get("chargingSchedule")
        evse_id = payload.get("connectorId", evse_id)
        start = payload.get("scheduleStart") or (wire or {}).get("startSchedule")
    else:
        wire = payload.get("schedule")
        evse_id = (wire or {}).get("evseId", evse_id)
        start = (wire or {}).get("scheduleStart")
    if wire is not None:
        schedule = CompositeSchedule(
            start=_time_or_none(start) or datetime.now(UTC),
            duration_s=int(wire.get("duration", duration_s)),
            rate_unit=RateUnit(wire["chargingRateUnit"]),
            periods=_periods_from_wire(wire["chargingSchedulePeriod"]),
        )
    return CompositeScheduleReply(status, int(evse_id), schedule, payload)


class SmartChargingCommands:
    """Implements the ChargingProfileControl port over the connected stations."""

    def __init__(self, registry: ConnectionRegistry, commands: StationCommands) -> None:
        self._registry = registry
        self._commands = commands

    def _version(self, station_id: str) -> OcppVersion:
        connection = self._registry.get(station_id)
        if connection is None:
            raise StationOffline(f"station {station_id} is not connected")
        return connection.version

    def is_connected(self, station_id: str) -> bool:
        return self._registry.is_connected(station_id)

    def takes_cost_updates(self, station_id: str) -> bool:
        connection = self._registry.get(station_id)
        return connection is not None and connection.version is not OcppVersion.V16

    def boot_accepted(self, station_id: str) -> bool:
        connection = self._registry.get(station_id)
        return connection is not None and connection.session.boot_accepted

    async def _send(self, station_id: str, action: str, payload: dict[str, Any]) -> CommandResult:
        answer = await self._commands.send(station_id, action, payload)
        return CommandResult(answer.get("status"), answer)

    async def set_charging_profile(
        self, station_id: str, profile: ChargingProfile
    ) -> CommandResult:
        """1.6 TC_056/TC_057, 2.0.1 K01."""
        version = self._version(station_id)
        wire = profile_to_wire(profile, version)
        if version is OcppVersion.V16:
            payload = {"connectorId": profile.evse_id, "csChargingProfiles": wire}
        else:
            payload = {"evseId": profile.evse_id, "chargingProfile": wire}
        return await self._send(station_id, "SetChargingProfile", payload)

    async def clear_charging_profile(
        self, station_id: str, criteria: ClearCriteria
    ) -> CommandResult:
        """1.6 TC_067, 2.0.1 K10."""
        purpose = criteria.purpose
        if self._version(station_id) is OcppVersion.V16:
            payload = drop_none(
                {
                    "id": criteria.profile_id,
                    "connectorId": criteria.evse_id,
                    "chargingProfilePurpose": _purpose_16(purpose) if purpose else None,
                    "stackLevel": criteria.stack_level,
                }
            )
            return await self._send(station_id, "ClearChargingProfile", payload)
        by_criteria = drop_none(
            {
                "evseId": criteria.evse_id,
                "chargingProfilePurpose": purpose.value if purpose else None,
                "stackLevel": criteria.stack_level,
            }
        )
        payload = drop_none(
            {
                "chargingProfileId": criteria.profile_id,
                "chargingProfileCriteria": by_criteria or None,
            }
        )
        return await self._send(station_id, "ClearChargingProfile", payload)

    async def get_composite_schedule(
        self, station_id: str, evse_id: int, duration_s: int, rate_unit: RateUnit | None
    ) -> CompositeScheduleReply:
        """1.6 TC_066, 2.0.1 K08 (TC_K_43/44)."""
        version = self._version(station_id)
        unit = rate_unit.value if rate_unit else None
        if version is OcppVersion.V16:
            payload = drop_none(
                {"connectorId": evse_id, "duration": duration_s, "chargingRateUnit": unit}
            )
        else:
            payload = drop_none(
                {"evseId": evse_id, "duration": duration_s, "chargingRateUnit": unit}
            )
        answer = await self._commands.send(station_id, "GetCompositeSchedule", payload)
        return composite_from_wire(answer, version, evse_id, duration_s)

    async def get_charging_profiles(
        self, station_id: str, request_id: int, criteria: ReportCriteria
    ) -> CommandResult:
        """2.x K09: the station answers, then reports with ReportChargingProfiles."""
        if self._version(station_id) is OcppVersion.V16:
            raise UnsupportedByVersion("GetChargingProfiles is OCPP 2.x")
        wanted = drop_none(
            {
                "chargingProfilePurpose": criteria.purpose.value if criteria.purpose else None,
                "stackLevel": criteria.stack_level,
                "chargingProfileId": list(criteria.profile_ids) or None,
                "chargingLimitSource": [s.value for s in criteria.limit_sources] or None,
            }
        )
        payload = drop_none(
            {"requestId": request_id, "evseId": criteria.evse_id, "chargingProfile": wanted}
        )
        return await self._send(station_id, "GetChargingProfiles", payload)

    async def remote_start_with_profile(
        self,
        station_id: str,
        id_token: IdToken,
        *,
        evse_id: int | None,
        remote_start_id: int,
        profile: ChargingProfile | None,
    ) -> CommandResult:
        """1.6 TC_059 (RemoteStartTransaction.chargingProfile), 2.0.1 K05 / TC_K_37."""
        wire = profile_to_wire(profile, self._version(station_id)) if profile else None
        return await self._commands.remote_start(
            station_id,
            id_token,
            evse_id=evse_id,
            remote_start_id=remote_start_id,
            charging_profile=wire,
        )

    async def cost_updated(
        self, station_id: str, transaction_id: str, total_cost: Decimal
    ) -> CommandResult | None:
        """2.x CostUpdated (I02, TC_I_01); 1.6 has no cost message."""
        if self._version(station_id) is OcppVersion.V16:
            return None
        payload = {"totalCost": float(total_cost), "transactionId": transaction_id}
        answer = await self._commands.send(station_id, "CostUpdated", payload)
        return CommandResult(None, answer)


class _BootListener(Protocol):
    def station_booted(self, station_id: str) -> None: ...


def after_boot(listener: _BootListener, station_id: str) -> FollowUp:
    """A follow-up for an accepted BootNotification: once the answer is sent, load management
    sends the station its limit again (a rebooted station may have lost its profiles)."""

    async def follow_up(connection: OcppConnection) -> None:
        listener.station_booted(station_id)

    return follow_up


def ev_needs_from_wire(payload: dict[str, Any]) -> EVChargingNeeds:
    """NotifyEVChargingNeeds (2.x K15) made version-neutral."""
    needs = payload["chargingNeeds"]
    transfer = needs["requestedEnergyTransfer"]
    ac = needs.get("acChargingParameters") or {}
    dc = needs.get("dcChargingParameters") or {}
    energy = dc.get("energyAmount", ac.get("energyAmount"))
    return EVChargingNeeds(
        evse_id=payload["evseId"],
        energy_transfer=transfer,
        max_power_w=ev_max_power_w(
            transfer,
            dc_max_power_w=dc.get("evMaxPower"),
            dc_max_current_a=dc.get("evMaxCurrent"),
            dc_max_voltage_v=dc.get("evMaxVoltage"),
            ac_max_current_a=ac.get("evMaxCurrent"),
        ),
        energy_wh=energy,
        departure=_time_or_none(needs.get("departureTime")),
    )


def ev_schedule_from_wire(
    payload: dict[str, Any],
) -> tuple[list[tuple[int, Decimal]], RateUnit]:
    """NotifyEVChargingSchedule's schedule as (start, limit) periods and their unit."""
    schedule = payload["chargingSchedule"]
    periods = [
        (int(p["startPeriod"]), Decimal(str(p["limit"])))
        for p in schedule["chargingSchedulePeriod"]
    ]
    return periods, RateUnit(schedule["chargingRateUnit"])


class _ScheduleOffer(Protocol):
    async def offer_schedule(
        self, station_id: str, evse_id: int, *, limit_w: Decimal | None = None
    ) -> Any: ...


def offer_after_reply(service: _ScheduleOffer, station_id: str, evse_id: int) -> FollowUp:
    """A follow-up that offers the EV a schedule once the station has its answer (K15-K17)."""

    async def follow_up(connection: OcppConnection) -> None:
        await service.offer_schedule(station_id, evse_id)

    return follow_up
