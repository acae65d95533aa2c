"""Test stations for smart charging: `ocpp` package clients that answer the central system's
smart-charging commands as a station would (keeping the profiles they accepted, so a test can
check the power a station may draw), and builders of version-neutral profiles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from schemas.charging_profiles import (
    ChargingProfile,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)
from tests.conftest import RunningCentralSystem
from tests.helpers import OcppClient, connect

START = datetime(2026, 1, 1, tzinfo=UTC)


def profile(
    profile_id: int = 1,
    purpose: ProfilePurpose = ProfilePurpose.TX_DEFAULT,
    limit: int | str = 11000,
    *,
    evse_id: int = 1,
    stack_level: int = 0,
    kind: ProfileKind = ProfileKind.ABSOLUTE,
    unit: RateUnit = RateUnit.W,
    periods: list[tuple[int, int | str]] | None = None,
    **extra: Any,
) -> ChargingProfile:
    start = extra.pop("start_schedule", START if kind is not ProfileKind.RELATIVE else None)
    if kind is ProfileKind.RECURRING:
        extra.setdefault("recurrency", Recurrency.DAILY)
    return ChargingProfile(
        id=profile_id,
        stack_level=stack_level,
        purpose=purpose,
        kind=kind,
        rate_unit=unit,
        periods=tuple(SchedulePeriod(s, Decimal(str(v))) for s, v in (periods or [(0, limit)])),
        evse_id=evse_id,
        start_schedule=start,
        **extra,
    )


class SmartStation16(ChargePoint16):
    """A 1.6 station with Smart Charging: keeps what it receives and the profiles it holds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.installed: dict[int, dict[str, Any]] = {}  # chargingProfileId -> profile
        self.set_answer = "Accepted"
        self.clear_answer: str | None = None  # None: Accepted if something matched
        self.composite: dict[str, Any] | None = None
        self.on_change: Callable[[], None] | None = None

    def got(self, action: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.received if name == action]

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        self.received.append(
            ("SetChargingProfile", {"connector_id": connector_id, **cs_charging_profiles})
        )
        if self.set_answer == "Accepted":
            self.installed[cs_charging_profiles["charging_profile_id"]] = {
                "connector_id": connector_id,
                **cs_charging_profiles,
            }
            if self.on_change is not None:
                self.on_change()
        return result16.SetChargingProfile(status=self.set_answer)

    def station_limit(self) -> float | None:
        """The station maximum in force (the highest stack level), None without one."""
        held = [
            p
            for p in self.installed.values()
            if p["charging_profile_purpose"] == "ChargePointMaxProfile"
        ]
        if not held:
            return None
        top = max(held, key=lambda p: p["stack_level"])
        return float(top["charging_schedule"]["charging_schedule_period"][0]["limit"])

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **criteria: Any) -> Any:
        self.received.append(("ClearChargingProfile", criteria))
        matched = [
            pid
            for pid, p in self.installed.items()
            if (criteria.get("id") in (None, pid))
            and criteria.get("connector_id") in (None, p["connector_id"])
            and criteria.get("charging_profile_purpose") in (None, p["charging_profile_purpose"])
            and criteria.get("stack_level") in (None, p["stack_level"])
        ]
        for pid in matched:
            del self.installed[pid]
        if matched and self.on_change is not None:
            self.on_change()
        status = self.clear_answer or ("Accepted" if matched else "Unknown")
        return result16.ClearChargingProfile(status=status)

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(self, connector_id: int, duration: int, **kw: Any) -> Any:
        self.received.append(
            ("GetCompositeSchedule", {"connector_id": connector_id, "duration": duration, **kw})
        )
        if self.composite is None:
            return result16.GetCompositeSchedule(status="Rejected")
        return result16.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start="2026-01-01T00:00:00Z",
            charging_schedule=self.composite,
        )

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag: str, **kw: Any) -> Any:
        self.received.append(("RemoteStartTransaction", {"id_tag": id_tag, **kw}))
        return result16.RemoteStartTransaction(status="Accepted")


class SmartStation201(ChargePoint201):
    """A 2.0.1 station with smart charging: keeps the profiles it accepted per EVSE."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.installed: dict[int, dict[str, Any]] = {}  # id -> chargingProfile + evse_id
        self.transactions: dict[int, str] = {}  # evse -> transaction id
        self.set_answer: str | None = None  # None: Accepted unless a TxProfile has no tx
        self.not_supported = False
        self.composite: list[dict[str, Any]] | None = None
        self.cost_updates: list[dict[str, Any]] = []
        self.external: dict[int, dict[str, Any]] = {}  # EMS limits, as profiles
        self.on_change: Callable[[], None] | None = None

    def station_limit(self) -> float | None:
        """The station maximum in force (the highest stack level), None without one."""
        held = [
            p
            for p in self.installed.values()
            if p["charging_profile_purpose"] == "ChargingStationMaxProfile"
        ]
        if not held:
            return None
        top = max(held, key=lambda p: p["stack_level"])
        return float(top["charging_schedule"][0]["charging_schedule_period"][0]["limit"])

    def got(self, action: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.received if name == action]

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> Any:
        if self.not_supported:
            from ocpp.exceptions import NotSupportedError

            raise NotSupportedError("smart charging is not supported")
        self.received.append(("SetChargingProfile", {"evse_id": evse_id, **charging_profile}))
        status = self.set_answer
        if status is None:
            is_tx = charging_profile["charging_profile_purpose"] == "TxProfile"
            status = "Rejected" if is_tx and evse_id not in self.transactions else "Accepted"
        if status == "Accepted":
            for pid, held in list(self.installed.items()):
                if (
                    held["stack_level"] == charging_profile["stack_level"]
                    and held["charging_profile_purpose"]
                    == charging_profile["charging_profile_purpose"]
                    and held["evse_id"] == evse_id
                ):
                    del self.installed[pid]
            self.installed[charging_profile["id"]] = {"evse_id": evse_id, **charging_profile}
            if self.on_change is not None:
                self.on_change()
            return result201.SetChargingProfile(status="Accepted")
        return result201.SetChargingProfile(
            status="Rejected", status_info={"reason_code": "TxNotFound"}
        )

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        criteria = charging_profile_criteria or {}
        self.received.append(
            ("ClearChargingProfile", {"charging_profile_id": charging_profile_id, **criteria})
        )
        matched = [
            pid
            for pid, p in self.installed.items()
            if (charging_profile_id is None or pid == charging_profile_id)
            and criteria.get("evse_id") in (None, p["evse_id"])
            and criteria.get("charging_profile_purpose") in (None, p["charging_profile_purpose"])
            and criteria.get("stack_level") in (None, p["stack_level"])
        ]
        for pid in matched:
            del self.installed[pid]
        if matched and self.on_change is not None:
            self.on_change()
        return result201.ClearChargingProfile(status="Accepted" if matched else "Unknown")

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(self, evse_id: int, duration: int, **kw: Any) -> Any:
        self.received.append(
            ("GetCompositeSchedule", {"evse_id": evse_id, "duration": duration, **kw})
        )
        if self.composite is None:
            return result201.GetCompositeSchedule(status="Rejected")
        return result201.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": "2026-01-01T00:00:00Z",
                "charging_rate_unit": kw.get("charging_rate_unit", "W"),
                "charging_schedule_period": self.composite,
            },
        )

    def _matching(
        self, evse_id: int | None, criteria: dict[str, Any]
    ) -> dict[tuple[str, int], list[dict[str, Any]]]:
        """The held profiles a GetChargingProfiles selects, by (limit source, EVSE)."""
        held = [("CSO", p) for p in self.installed.values()]
        held += [("EMS", p) for p in self.external.values()]
        found: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for source, p in held:
            if (
                (evse_id is None or p["evse_id"] == evse_id)
                and criteria.get("charging_profile_purpose")
                in (None, p["charging_profile_purpose"])
                and criteria.get("stack_level") in (None, p["stack_level"])
                and p["id"] in criteria.get("charging_profile_id", [p["id"]])
                and source in criteria.get("charging_limit_source", ["CSO"])
            ):
                wire = {k: v for k, v in p.items() if k != "evse_id"}
                found.setdefault((source, p["evse_id"]), []).append(wire)
        return found

    @on("GetChargingProfiles")
    async def on_get_charging_profiles(
        self, request_id: int, charging_profile: dict[str, Any], evse_id: int | None = None
    ) -> Any:
        self.received.append(
            (
                "GetChargingProfiles",
                {"request_id": request_id, "evse_id": evse_id, **charging_profile},
            )
        )
        found = self._matching(evse_id, charging_profile)
        return result201.GetChargingProfiles(status="Accepted" if found else "NoProfiles")

    @after("GetChargingProfiles")
    async def report_charging_profiles(
        self, request_id: int, charging_profile: dict[str, Any], evse_id: int | None = None
    ) -> None:
        """K09: one ReportChargingProfiles per limit source and EVSE, tbc on all but the last."""
        found = sorted(self._matching(evse_id, charging_profile).items())
        for index, ((source, evse), profiles) in enumerate(found):
            await self.call(
                call201.ReportChargingProfiles(
                    request_id=request_id,
                    charging_limit_source=source,
                    evse_id=evse,
                    charging_profile=profiles,
                    tbc=index < len(found) - 1,
                ),
                suppress=False,
            )

    @on("RequestStartTransaction")
    async def on_request_start(
        self, id_token: dict[str, Any], remote_start_id: int, **kw: Any
    ) -> Any:
        self.received.append(
            (
                "RequestStartTransaction",
                {"id_token": id_token, "remote_start_id": remote_start_id, **kw},
            )
        )
        return result201.RequestStartTransaction(status="Accepted")

    @on("CostUpdated")
    async def on_cost_updated(self, total_cost: float, transaction_id: str, **_: Any) -> Any:
        self.cost_updates.append({"total_cost": total_cost, "transaction_id": transaction_id})
        return result201.CostUpdated()


async def boot16(
    running: RunningCentralSystem, station_id: str = "CP-1", connectors: int = 2
) -> OcppClient:
    await running.services.stations.register(station_id)
    client = await connect(running.ocpp_url, station_id, charge_point_class=SmartStation16)
    reply = await client.call(
        call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
    )
    assert reply.status == "Accepted"
    for connector in range(1, connectors + 1):
        await client.call(
            call16.StatusNotification(
                connector_id=connector, error_code="NoError", status="Available"
            )
        )
    return client


async def boot201(running: RunningCentralSystem, station_id: str = "CS-1") -> OcppClient:
    await running.services.stations.register(station_id)
    client = await connect(
        running.ocpp_url, station_id, version="2.0.1", charge_point_class=SmartStation201
    )
    reply = await client.call(
        call201.BootNotification(
            charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
        )
    )
    assert reply.status == "Accepted"
    return client


def now_iso(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()
