"""Maintenance commands to stations, translated into each OCPP version's wire messages:
firmware (1.6 UpdateFirmware / SignedUpdateFirmware, 2.x UpdateFirmware, PublishFirmware,
UnpublishFirmware), logs (1.6 GetDiagnostics, GetLog), and security settings and certificates
(1.6 ChangeConfiguration AuthorizationKey / SecurityProfile, 2.x SetVariables BasicAuthPassword,
SetNetworkProfile, NetworkConfigurationPriority; InstallCertificate, DeleteCertificate,
GetInstalledCertificateIds).

Implements the FirmwareControl, LogControl and SecurityControl ports; every answer is the
station's own (a CommandResult with its status field).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from central_system.domain.firmware import FirmwareRequest
from central_system.domain.log_uploads import LogType
from central_system.domain.security_flows import CertificateHashData, CertificateUse
from central_system.services.ports import StationOffline
from central_system.transport.commands import CommandResult, StationCommands, UnsupportedByVersion
from central_system.transport.gateway import ConnectionRegistry
from central_system.transport.handlers import drop_none, wire_time
from central_system.transport.ocppj import OcppVersion

_SECURITY_CTRLR = {"name": "SecurityCtrlr"}
_COMM_CTRLR = {"name": "OCPPCommCtrlr"}
_PRIORITY = {"name": "NetworkConfigurationPriority"}
_CERTIFICATE_TYPES_16 = (CertificateUse.CSMS_ROOT, CertificateUse.MANUFACTURER_ROOT)


def _result(payload: dict[str, Any]) -> CommandResult:
    return CommandResult(payload.get("status"), payload)


def _variable_result(payload: dict[str, Any], key: str) -> CommandResult:
    """A one-variable Get/SetVariables answer, its attributeStatus as the status."""
    results = payload.get(key) or [{}]
    return CommandResult(results[0].get("attributeStatus"), payload)


def hash_data_wire(hash_data: CertificateHashData) -> dict[str, str]:
    return {
        "hashAlgorithm": hash_data.hash_algorithm,
        "issuerNameHash": hash_data.issuer_name_hash,
        "issuerKeyHash": hash_data.issuer_key_hash,
        "serialNumber": hash_data.serial_number,
    }


class MaintenanceCommands:
    def __init__(self, registry: ConnectionRegistry, commands: StationCommands) -> None:
        self._registry = registry
        self._commands = commands

    def _version(self, station_id: str) -> OcppVersion:
        version = self._registry.ocpp_version(station_id)
        if version is None:
            raise StationOffline(f"station {station_id} is not connected")
        return OcppVersion(version)

    def _is_16(self, station_id: str) -> bool:
        return self._version(station_id) is OcppVersion.V16

    async def _send(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._commands.send(station_id, action, payload)

    def ocpp_version(self, station_id: str) -> str | None:
        return self._registry.ocpp_version(station_id)

    def is_connected(self, station_id: str) -> bool:
        return self._registry.is_connected(station_id)

    # --- firmware ------------------------------------------------------------------------------

    async def update_firmware(
        self, station_id: str, request_id: int, request: FirmwareRequest
    ) -> CommandResult:
        """1.6: UpdateFirmware (TC_044, empty answer) or, when signed, the security extension's
        SignedUpdateFirmware (TC_080/TC_081); 2.x: UpdateFirmware with the requestId (L01)."""
        firmware = drop_none(
            {
                "location": request.location,
                "retrieveDateTime": wire_time(request.retrieve_at),
                "signingCertificate": request.signing_certificate,
                "signature": request.signature,
            }
        )
        if self._is_16(station_id):
            if request.signed:
                payload = {"requestId": request_id, "firmware": firmware}
                return _result(await self._send(station_id, "SignedUpdateFirmware", payload))
            unsigned = {"location": request.location, "retrieveDate": firmware["retrieveDateTime"]}
            return _result(await self._send(station_id, "UpdateFirmware", unsigned))
        payload = {"requestId": request_id, "firmware": firmware}
        return _result(await self._send(station_id, "UpdateFirmware", payload))

    async def publish_firmware(
        self, station_id: str, request_id: int, location: str, checksum: str
    ) -> CommandResult:
        if self._is_16(station_id):
            raise UnsupportedByVersion("PublishFirmware is OCPP 2.x (a local controller)")
        payload = {"location": location, "checksum": checksum, "requestId": request_id}
        return _result(await self._send(station_id, "PublishFirmware", payload))

    async def unpublish_firmware(self, station_id: str, checksum: str) -> CommandResult:
        if self._is_16(station_id):
            raise UnsupportedByVersion("UnpublishFirmware is OCPP 2.x (a local controller)")
        return _result(await self._send(station_id, "UnpublishFirmware", {"checksum": checksum}))

    # --- logs ----------------------------------------------------------------------------------

    async def request_log(
        self,
        station_id: str,
        *,
        request_id: int,
        log_type: LogType,
        location: str,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        retries: int | None = None,
        retry_interval: int | None = None,
    ) -> CommandResult:
        """1.6 Diagnostics: GetDiagnostics (TC_045; the answer has a fileName, or none when
        there is nothing); otherwise GetLog with logType and requestId (TC_079, N01)."""
        since = wire_time(oldest) if oldest else None
        until = wire_time(latest) if latest else None
        if self._is_16(station_id) and log_type is LogType.DIAGNOSTICS:
            payload = drop_none(
                {
                    "location": location,
                    "retries": retries,
                    "retryInterval": retry_interval,
                    "startTime": since,
                    "stopTime": until,
                }
            )
            return CommandResult(None, await self._send(station_id, "GetDiagnostics", payload))
        wire_type = (
            LogType.DIAGNOSTICS_LOG.value if log_type is LogType.DIAGNOSTICS else log_type.value
        )
        payload = drop_none(
            {
                "logType": wire_type,
                "requestId": request_id,
                "log": drop_none(
                    {
                        "remoteLocation": location,
                        "oldestTimestamp": since,
                        "latestTimestamp": until,
                    }
                ),
                "retries": retries,
                "retryInterval": retry_interval,
            }
        )
        return _result(await self._send(station_id, "GetLog", payload))

    # --- security settings ---------------------------------------------------------------------

    async def set_password(self, station_id: str, password: str) -> CommandResult:
        """1.6 ChangeConfiguration AuthorizationKey (TC_073); 2.x SetVariables
        SecurityCtrlr.BasicAuthPassword (TC_A_09/TC_A_10)."""
        if self._is_16(station_id):
            payload = {"key": "AuthorizationKey", "value": password}
            return _result(await self._send(station_id, "ChangeConfiguration", payload))
        data = {
            "component": _SECURITY_CTRLR,
            "variable": {"name": "BasicAuthPassword"},
            "attributeValue": password,
        }
        answer = await self._send(station_id, "SetVariables", {"setVariableData": [data]})
        return _variable_result(answer, "setVariableResult")

    async def set_security_profile_16(self, station_id: str, profile: int) -> CommandResult:
        """1.6 security extension: ChangeConfiguration SecurityProfile (TC_083)."""
        if not self._is_16(station_id):
            raise UnsupportedByVersion("2.x stations change profile with SetNetworkProfile")
        payload = {"key": "SecurityProfile", "value": str(profile)}
        return _result(await self._send(station_id, "ChangeConfiguration", payload))

    async def network_priority(self, station_id: str) -> str | None:
        data = {"component": _COMM_CTRLR, "variable": _PRIORITY}
        answer = await self._send(station_id, "GetVariables", {"getVariableData": [data]})
        results = answer.get("getVariableResult") or [{}]
        if results[0].get("attributeStatus") != "Accepted":
            return None
        value = results[0].get("attributeValue")
        return str(value) if value is not None else None

    async def set_network_profile(
        self,
        station_id: str,
        *,
        slot: int,
        csms_url: str,
        security_profile: int,
        message_timeout: int,
    ) -> CommandResult:
        """2.x SetNetworkProfile (B09, A05 TC_A_19)."""
        if self._is_16(station_id):
            raise UnsupportedByVersion("SetNetworkProfile is OCPP 2.x")
        profile = {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": csms_url,
            "messageTimeout": message_timeout,
            "securityProfile": security_profile,
            "ocppInterface": "Wired0",
        }
        payload = {"configurationSlot": slot, "connectionData": profile}
        return _result(await self._send(station_id, "SetNetworkProfile", payload))

    async def set_network_priority(self, station_id: str, priority: str) -> CommandResult:
        data = {"component": _COMM_CTRLR, "variable": _PRIORITY, "attributeValue": priority}
        answer = await self._send(station_id, "SetVariables", {"setVariableData": [data]})
        return _variable_result(answer, "setVariableResult")

    async def reset(self, station_id: str) -> CommandResult:
        result = await self._commands.reset(station_id, hard=False)
        return CommandResult(result.status, result.payload)

    # --- certificates --------------------------------------------------------------------------

    async def install_certificate(
        self, station_id: str, use: CertificateUse, certificate_pem: str
    ) -> CommandResult:
        """InstallCertificate (1.6 TC_075_1/2, 2.x M05 TC_M_01-05)."""
        try:
            wire_type = use.wire(ocpp16=self._is_16(station_id))
        except ValueError as error:
            raise UnsupportedByVersion(str(error)) from None
        payload = {"certificateType": wire_type, "certificate": certificate_pem}
        return _result(await self._send(station_id, "InstallCertificate", payload))

    async def delete_certificate(
        self, station_id: str, hash_data: CertificateHashData
    ) -> CommandResult:
        """DeleteCertificate (1.6 TC_076, 2.x M04 TC_M_20/21)."""
        payload = {"certificateHashData": hash_data_wire(hash_data)}
        return _result(await self._send(station_id, "DeleteCertificate", payload))

    async def installed_certificates(
        self, station_id: str, uses: Sequence[CertificateUse]
    ) -> CommandResult:
        """GetInstalledCertificateIds (1.6: one type per request, asked for each and merged;
        2.x M03 TC_M_12-19: a list of types, none for all)."""
        if not self._is_16(station_id):
            payload = drop_none({"certificateType": [use.value for use in uses] if uses else None})
            return _result(await self._send(station_id, "GetInstalledCertificateIds", payload))
        wanted = list(uses) or list(_CERTIFICATE_TYPES_16)
        if len(wanted) == 1:
            payload = {"certificateType": wanted[0].wire(ocpp16=True)}
            return _result(await self._send(station_id, "GetInstalledCertificateIds", payload))
        replies = []
        found: list[Any] = []
        for use in wanted:
            payload = {"certificateType": use.wire(ocpp16=True)}
            reply = await self._send(station_id, "GetInstalledCertificateIds", payload)
            replies.append(reply)
            found.extend(reply.get("certificateHashData") or [])
        merged: dict[str, Any] = {"status": "Accepted" if found else "NotFound", "replies": replies}
        if found:
            merged["certificateHashData"] = found
        return _result(merged)

    async def trigger_certificate_renewal(
        self, station_id: str, certificate_type: str = "ChargingStationCertificate"
    ) -> CommandResult:
        """1.6 ExtendedTriggerMessage SignChargePointCertificate; 2.x TriggerMessage
        SignChargingStationCertificate, SignV2GCertificate or SignCombinedCertificate."""
        if certificate_type == "CombinedCertificate" and not self._is_16(station_id):
            payload = {"requestedMessage": "SignCombinedCertificate"}
            return _result(await self._send(station_id, "TriggerMessage", payload))
        result = await self._commands.trigger_certificate_renewal(station_id, certificate_type)
        return CommandResult(result.status, result.payload)
