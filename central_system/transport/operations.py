"""The StationOperations port over the connection registry (what the REST API sends), and a
router wrapper that counts the CALLs stations send, for the metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from central_system.transport import validation
from central_system.transport.commands import StationCommands
from central_system.transport.connection import Handler, Router
from central_system.transport.gateway import ConnectionRegistry
from central_system.transport.ocppj import OcppVersion

# CALLs a station sends; every other action of a version is sent by the central system
# (DataTransfer goes both ways and stays in both sets' complement).
_STATION_16 = frozenset(
    {
        "Authorize", "BootNotification", "DiagnosticsStatusNotification",
        "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
        "StatusNotification", "StopTransaction", "LogStatusNotification",
        "SecurityEventNotification", "SignCertificate", "SignedFirmwareStatusNotification",
    }
)  # fmt: skip
_STATION_201 = frozenset(
    {
        "Authorize", "BootNotification", "ClearedChargingLimit", "FirmwareStatusNotification",
        "Get15118EVCertificate", "GetCertificateStatus", "Heartbeat", "LogStatusNotification",
        "MeterValues", "NotifyChargingLimit", "NotifyCustomerInformation",
        "NotifyDisplayMessages", "NotifyEVChargingNeeds", "NotifyEVChargingSchedule",
        "NotifyEvent", "NotifyMonitoringReport", "NotifyReport",
        "PublishFirmwareStatusNotification", "ReportChargingProfiles", "ReservationStatusUpdate",
        "SecurityEventNotification", "SignCertificate", "StatusNotification", "TransactionEvent",
    }
)  # fmt: skip
_STATION_21 = _STATION_201 | frozenset(
    {
        "BatterySwap", "GetCertificateChainStatus", "NotifyDERAlarm", "NotifyDERStartStop",
        "NotifyPeriodicEventStream", "NotifyPriorityCharging", "NotifySettlement",
        "OpenPeriodicEventStream", "ClosePeriodicEventStream", "PullDynamicScheduleUpdate",
        "ReportDERControl", "VatNumberValidation",
    }
)  # fmt: skip
STATION_INITIATED = {
    OcppVersion.V16: _STATION_16,
    OcppVersion.V201: _STATION_201,
    OcppVersion.V21: _STATION_21,
}


def central_system_actions(version: OcppVersion) -> frozenset[str]:
    """The CALLs the central system may send to a station of `version`."""
    return validation.actions(version) - STATION_INITIATED[version]


class StationOperationsAdapter(StationCommands):
    """StationCommands plus what the API asks about a station's protocol; counts sent CALLs."""

    def __init__(
        self,
        registry: ConnectionRegistry,
        on_send: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(registry)
        self._registry = registry
        self._on_send = on_send

    def ocpp_version(self, station_id: str) -> str | None:
        return self._registry.ocpp_version(station_id)

    def defines(self, station_id: str, action: str) -> bool:
        connection = self._registry.get(station_id)
        if connection is None:
            return False
        return action in central_system_actions(connection.version)

    async def send(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        if self._on_send is not None and self._registry.is_connected(station_id):
            self._on_send(action)
        return await super().send(station_id, action, payload, timeout)


# What CountingRouter reports for an action without a handler: a station chooses the names
# it sends, and a metric label per name would grow without bound.
UNHANDLED_ACTION = "other"


class CountingRouter:
    """A Router that reports every action a station calls (UNHANDLED_ACTION for those it has no
    handler for) before handing it on."""

    def __init__(self, router: Router, on_receive: Callable[[str], None]) -> None:
        self._router = router
        self._on_receive = on_receive

    def handler(self, action: str) -> Handler | None:
        handler = self._router.handler(action)
        self._on_receive(action if handler is not None else UNHANDLED_ACTION)
        return handler
