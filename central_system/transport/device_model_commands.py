"""The device model in wire format: 2.0.1 GetBaseReport / GetReport / Get- and SetVariables /
monitoring / SetNetworkProfile (B05-B09, N02-N04) and 1.6 GetConfiguration / ChangeConfiguration."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from central_system.domain.device_model import (
    ACTUAL,
    ConfigurationKey,
    MonitorRequest,
    MonitorResult,
    VariableRef,
    VariableRequest,
    VariableResult,
)
from central_system.services.control_ports import (
    ClearMonitorAnswer,
    ConfigurationAnswer,
    MonitorAnswer,
    NetworkProfile,
    VariableAnswer,
)
from central_system.transport.commands import CommandResult, UnsupportedByVersion
from central_system.transport.device_model_wire import (
    component_variable,
    component_variable_criteria,
    variable_ref,
)
from central_system.transport.handlers import drop_none
from central_system.transport.ocppj import OcppVersion
from central_system.transport.versioned import VersionedCommands

# Monitors whose answer to a Clear means "it is gone".
_CLEARED = frozenset({"Accepted", "NotFound"})


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _status(payload: dict[str, Any]) -> CommandResult:
    return CommandResult(payload.get("status"), payload)


class DeviceModelCommands(VersionedCommands):
    def _require_2x(self, station_id: str, action: str) -> None:
        if self._version(station_id) is OcppVersion.V16:
            raise UnsupportedByVersion(
                f"{action} is OCPP 2.x; a 1.6 station has configuration keys"
            )

    async def get_base_report(
        self, station_id: str, request_id: int, report_base: str
    ) -> CommandResult:
        """B07, TC_B_12-14."""
        self._require_2x(station_id, "GetBaseReport")
        payload = {"requestId": request_id, "reportBase": report_base}
        return _status(await self._send(station_id, "GetBaseReport", payload))

    async def get_report(
        self,
        station_id: str,
        request_id: int,
        criteria: Sequence[str],
        variables: Sequence[VariableRef],
    ) -> CommandResult:
        """B08, TC_B_18: a custom report by component criteria and component/variables."""
        self._require_2x(station_id, "GetReport")
        payload = drop_none(
            {
                "requestId": request_id,
                "componentCriteria": list(criteria) or None,
                "componentVariable": [component_variable_criteria(v) for v in variables] or None,
            }
        )
        return _status(await self._send(station_id, "GetReport", payload))

    async def get_variables(
        self, station_id: str, requests: Sequence[VariableRequest]
    ) -> VariableAnswer:
        """B06, TC_B_06-08."""
        self._require_2x(station_id, "GetVariables")
        data = [{"attributeType": r.attribute_type, **component_variable(r.ref)} for r in requests]
        answer = await self._send(station_id, "GetVariables", {"getVariableData": data})
        results = tuple(
            VariableResult(
                ref=variable_ref(result),
                attribute_type=result.get("attributeType", ACTUAL),
                status=result["attributeStatus"],
                value=result.get("attributeValue"),
            )
            for result in answer.get("getVariableResult", [])
        )
        return VariableAnswer(results, answer)

    async def set_variables(
        self, station_id: str, requests: Sequence[VariableRequest]
    ) -> VariableAnswer:
        """B05, TC_B_09/10."""
        self._require_2x(station_id, "SetVariables")
        data = [
            {
                "attributeType": r.attribute_type,
                "attributeValue": r.value or "",
                **component_variable(r.ref),
            }
            for r in requests
        ]
        answer = await self._send(station_id, "SetVariables", {"setVariableData": data})
        results = tuple(
            VariableResult(
                ref=variable_ref(result),
                attribute_type=result.get("attributeType", ACTUAL),
                status=result["attributeStatus"],
            )
            for result in answer.get("setVariableResult", [])
        )
        return VariableAnswer(results, answer)

    async def get_configuration(
        self, station_id: str, keys: Sequence[str] | None
    ) -> ConfigurationAnswer:
        """1.6 GetConfiguration, TC_019_1 (all keys) / TC_019_2 (some)."""
        if self._version(station_id) is not OcppVersion.V16:
            raise UnsupportedByVersion("GetConfiguration is OCPP 1.6; use GetVariables")
        answer = await self._send(
            station_id, "GetConfiguration", drop_none({"key": list(keys) if keys else None})
        )
        found = tuple(
            ConfigurationKey(k["key"], k.get("value"), bool(k.get("readonly", False)))
            for k in answer.get("configurationKey", [])
        )
        return ConfigurationAnswer(found, tuple(answer.get("unknownKey", [])), answer)

    async def change_configuration(self, station_id: str, key: str, value: str) -> CommandResult:
        """1.6 ChangeConfiguration, TC_021 / TC_040."""
        if self._version(station_id) is not OcppVersion.V16:
            raise UnsupportedByVersion("ChangeConfiguration is OCPP 1.6; use SetVariables")
        payload = {"key": key, "value": value}
        return _status(await self._send(station_id, "ChangeConfiguration", payload))

    async def set_variable_monitoring(
        self, station_id: str, requests: Sequence[MonitorRequest]
    ) -> MonitorAnswer:
        """N04, TC_N_08/09/24."""
        self._require_2x(station_id, "SetVariableMonitoring")
        data = [
            drop_none(
                {
                    "id": r.id,
                    "transaction": r.transaction or None,
                    "value": _number(r.value),
                    "type": r.type,
                    "severity": r.severity,
                    **component_variable(r.ref),
                }
            )
            for r in requests
        ]
        answer = await self._send(station_id, "SetVariableMonitoring", {"setMonitoringData": data})
        results = tuple(
            MonitorResult(
                ref=variable_ref(result),
                status=result["status"],
                type=result["type"],
                severity=result["severity"],
                id=result.get("id"),
            )
            for result in answer.get("setMonitoringResult", [])
        )
        return MonitorAnswer(results, answer)

    async def clear_variable_monitoring(
        self, station_id: str, monitor_ids: Sequence[int]
    ) -> ClearMonitorAnswer:
        """N06, TC_N_18/44."""
        self._require_2x(station_id, "ClearVariableMonitoring")
        answer = await self._send(station_id, "ClearVariableMonitoring", {"id": list(monitor_ids)})
        cleared = tuple(
            r["id"] for r in answer.get("clearMonitoringResult", []) if r["status"] in _CLEARED
        )
        return ClearMonitorAnswer(cleared, answer)

    async def get_monitoring_report(
        self,
        station_id: str,
        request_id: int,
        criteria: Sequence[str],
        variables: Sequence[VariableRef],
    ) -> CommandResult:
        """N02, TC_N_01-03/47/60."""
        self._require_2x(station_id, "GetMonitoringReport")
        payload = drop_none(
            {
                "requestId": request_id,
                "monitoringCriteria": list(criteria) or None,
                "componentVariable": [component_variable_criteria(v) for v in variables] or None,
            }
        )
        return _status(await self._send(station_id, "GetMonitoringReport", payload))

    async def set_monitoring_base(self, station_id: str, base: str) -> CommandResult:
        """N03, TC_N_05."""
        self._require_2x(station_id, "SetMonitoringBase")
        payload = {"monitoringBase": base}
        return _status(await self._send(station_id, "SetMonitoringBase", payload))

    async def set_monitoring_level(self, station_id: str, severity: int) -> CommandResult:
        """N05, TC_N_16/17."""
        self._require_2x(station_id, "SetMonitoringLevel")
        payload = {"severity": severity}
        return _status(await self._send(station_id, "SetMonitoringLevel", payload))

    async def set_network_profile(
        self, station_id: str, slot: int, profile: NetworkProfile
    ) -> CommandResult:
        """B09, TC_B_42/44."""
        self._require_2x(station_id, "SetNetworkProfile")
        connection = drop_none(
            {
                "ocppVersion": profile.ocpp_version,
                "ocppTransport": profile.transport,
                "ocppCsmsUrl": profile.csms_url,
                "messageTimeout": profile.message_timeout,
                "securityProfile": profile.security_profile,
                "ocppInterface": profile.interface,
                "vpn": profile.vpn,
                "apn": profile.apn,
            }
        )
        payload = {"configurationSlot": slot, "connectionData": connection}
        return _status(await self._send(station_id, "SetNetworkProfile", payload))
