"""Version-neutral commands to stations, translated into each OCPP version's wire message.

Services and the REST API call these; the station's own answer comes back as a CommandResult.
Remote start/stop (TC_010-TC_012, F01-F03), reset (TC_013/014, B11/B12), unlock (TC_017, F05),
availability (G03/G04), trigger (TC_054, F06), clear cache (TC_061, C11), reservations (H01/H02).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from central_system.domain.authorization import IdToken
from central_system.services.ports import StationOffline
from central_system.transport.gateway import ConnectionRegistry
from central_system.transport.handlers import drop_none, wire_time
from central_system.transport.ocppj import OcppVersion

# Trigger names that differ between versions: 1.6 name -> 2.x name.
_TRIGGER_NAMES_2X = {"DiagnosticsStatusNotification": "LogStatusNotification"}
_DEFAULT_TOKEN_TYPE = "Central"  # a token the central system issued


class UnsupportedByVersion(ValueError):
    """The command does not exist in the OCPP version the station speaks."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    status: str | None
    payload: dict[str, Any]

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


def _result(payload: dict[str, Any]) -> CommandResult:
    return CommandResult(payload.get("status"), payload)


class StationCommands:
    def __init__(self, gateway: ConnectionRegistry) -> None:
        self._gateway = gateway

    def _version(self, station_id: str) -> OcppVersion:
        connection = self._gateway.get(station_id)
        if connection is None:
            raise StationOffline(f"station {station_id} is not connected")
        return connection.version

    async def send(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """Any CSMS-initiated action of the station's version, validated before it is sent."""
        return await self._gateway.call(station_id, action, payload, timeout=timeout)

    async def remote_start(
        self,
        station_id: str,
        id_token: IdToken,
        *,
        evse_id: int | None = None,
        remote_start_id: int,
        charging_profile: dict[str, Any] | None = None,
    ) -> CommandResult:
        if self._version(station_id) is OcppVersion.V16:
            payload = drop_none(
                {
                    "idTag": id_token.value,
                    "connectorId": evse_id,
                    "chargingProfile": charging_profile,
                }
            )
            return _result(await self.send(station_id, "RemoteStartTransaction", payload))
        payload = drop_none(
            {
                "idToken": {
                    "idToken": id_token.value,
                    "type": id_token.type or _DEFAULT_TOKEN_TYPE,
                },
                "remoteStartId": remote_start_id,
                "evseId": evse_id,
                "chargingProfile": charging_profile,
            }
        )
        return _result(await self.send(station_id, "RequestStartTransaction", payload))

    async def remote_stop(self, station_id: str, transaction_id: str) -> CommandResult:
        if self._version(station_id) is OcppVersion.V16:
            stop_16 = {"transactionId": int(transaction_id)}
            return _result(await self.send(station_id, "RemoteStopTransaction", stop_16))
        stop_2x = {"transactionId": transaction_id}
        return _result(await self.send(station_id, "RequestStopTransaction", stop_2x))

    async def reset(
        self, station_id: str, *, hard: bool = False, evse_id: int | None = None
    ) -> CommandResult:
        """Hard = 1.6 Hard / 2.x Immediate; soft = 1.6 Soft / 2.x OnIdle."""
        if self._version(station_id) is OcppVersion.V16:
            if evse_id is not None:
                raise UnsupportedByVersion("OCPP 1.6 resets the whole station only")
            return _result(
                await self.send(station_id, "Reset", {"type": "Hard" if hard else "Soft"})
            )
        payload = drop_none({"type": "Immediate" if hard else "OnIdle", "evseId": evse_id})
        return _result(await self.send(station_id, "Reset", payload))

    async def unlock(self, station_id: str, evse_id: int, connector_id: int = 1) -> CommandResult:
        if self._version(station_id) is OcppVersion.V16:
            return _result(await self.send(station_id, "UnlockConnector", {"connectorId": evse_id}))
        payload = {"evseId": evse_id, "connectorId": connector_id}
        return _result(await self.send(station_id, "UnlockConnector", payload))

    async def change_availability(
        self,
        station_id: str,
        *,
        operative: bool,
        evse_id: int | None = None,
        connector_id: int | None = None,
    ) -> CommandResult:
        """`evse_id` None or 0: the whole station."""
        status = "Operative" if operative else "Inoperative"
        if self._version(station_id) is OcppVersion.V16:
            payload = {"connectorId": evse_id or 0, "type": status}
            return _result(await self.send(station_id, "ChangeAvailability", payload))
        evse = drop_none({"id": evse_id, "connectorId": connector_id}) if evse_id else None
        payload = drop_none({"operationalStatus": status, "evse": evse})
        return _result(await self.send(station_id, "ChangeAvailability", payload))

    async def trigger_message(
        self,
        station_id: str,
        message: str,
        *,
        evse_id: int | None = None,
        connector_id: int | None = None,
    ) -> CommandResult:
        """`message` is the 1.6 or 2.x name (DiagnosticsStatusNotification and
        LogStatusNotification are translated); 2.x `connector_id` of the EVSE (a
        StatusNotification is per connector, TC_F_23/24)."""
        if self._version(station_id) is OcppVersion.V16:
            name = {v: k for k, v in _TRIGGER_NAMES_2X.items()}.get(message, message)
            payload = drop_none({"requestedMessage": name, "connectorId": evse_id})
            return _result(await self.send(station_id, "TriggerMessage", payload))
        name = _TRIGGER_NAMES_2X.get(message, message)
        evse = drop_none({"id": evse_id, "connectorId": connector_id}) if evse_id else None
        payload = drop_none({"requestedMessage": name, "evse": evse})
        return _result(await self.send(station_id, "TriggerMessage", payload))

    async def trigger_certificate_renewal(
        self, station_id: str, certificate_type: str = "ChargingStationCertificate"
    ) -> CommandResult:
        """Make the station send a new SignCertificate (1.6 security extension:
        ExtendedTriggerMessage SignChargePointCertificate; 2.x: TriggerMessage)."""
        if self._version(station_id) is OcppVersion.V16:
            payload = {"requestedMessage": "SignChargePointCertificate"}
            return _result(await self.send(station_id, "ExtendedTriggerMessage", payload))
        requested = {
            "V2GCertificate": "SignV2GCertificate",
            "CombinedCertificate": "SignCombinedCertificate",  # TC_A_13
        }.get(certificate_type, "SignChargingStationCertificate")
        return _result(
            await self.send(station_id, "TriggerMessage", {"requestedMessage": requested})
        )

    async def clear_cache(self, station_id: str) -> CommandResult:
        return _result(await self.send(station_id, "ClearCache", {}))

    async def reserve_now(
        self,
        station_id: str,
        *,
        reservation_id: int,
        expires_at: datetime,
        id_token: IdToken,
        evse_id: int | None = None,
        group_id: str | None = None,
        connector_type: str | None = None,
    ) -> CommandResult:
        """`evse_id` None: any EVSE (1.6 connector 0); `connector_type` (2.x): any EVSE with
        such a connector (TC_H_15)."""
        if connector_type is not None and self._version(station_id) is OcppVersion.V16:
            raise UnsupportedByVersion("OCPP 1.6 cannot reserve a connector type")
        if self._version(station_id) is OcppVersion.V16:
            payload = drop_none(
                {
                    "connectorId": evse_id or 0,
                    "expiryDate": wire_time(expires_at),
                    "idTag": id_token.value,
                    "reservationId": reservation_id,
                    "parentIdTag": group_id,
                }
            )
            return _result(await self.send(station_id, "ReserveNow", payload))
        token_type = id_token.type or _DEFAULT_TOKEN_TYPE
        payload = drop_none(
            {
                "id": reservation_id,
                "expiryDateTime": wire_time(expires_at),
                "idToken": {"idToken": id_token.value, "type": token_type},
                "evseId": evse_id,
                "groupIdToken": (
                    {"idToken": group_id, "type": _DEFAULT_TOKEN_TYPE} if group_id else None
                ),
                "connectorType": connector_type,
            }
        )
        return _result(await self.send(station_id, "ReserveNow", payload))

    async def cancel_reservation(self, station_id: str, reservation_id: int) -> CommandResult:
        payload = {"reservationId": reservation_id}
        return _result(await self.send(station_id, "CancelReservation", payload))

    async def get_configuration(
        self, station_id: str, keys: list[str] | None = None
    ) -> dict[str, Any]:
        """1.6 GetConfiguration (TC_019); 2.x stations use GetVariables."""
        if self._version(station_id) is not OcppVersion.V16:
            raise UnsupportedByVersion("GetConfiguration is OCPP 1.6; use GetVariables")
        return await self.send(station_id, "GetConfiguration", drop_none({"key": keys}))

    async def change_configuration(self, station_id: str, key: str, value: str) -> CommandResult:
        """1.6 ChangeConfiguration (TC_021); 2.x stations use SetVariables."""
        if self._version(station_id) is not OcppVersion.V16:
            raise UnsupportedByVersion("ChangeConfiguration is OCPP 1.6; use SetVariables")
        payload = {"key": key, "value": value}
        return _result(await self.send(station_id, "ChangeConfiguration", payload))

    async def get_variables(
        self, station_id: str, variables: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """2.x GetVariables with getVariableData entries (B06)."""
        if self._version(station_id) is OcppVersion.V16:
            raise UnsupportedByVersion("GetVariables is OCPP 2.x; use GetConfiguration")
        return await self.send(station_id, "GetVariables", {"getVariableData": variables})

    async def set_variables(
        self, station_id: str, variables: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """2.x SetVariables with setVariableData entries (B05)."""
        if self._version(station_id) is OcppVersion.V16:
            raise UnsupportedByVersion("SetVariables is OCPP 2.x; use ChangeConfiguration")
        return await self.send(station_id, "SetVariables", {"setVariableData": variables})
