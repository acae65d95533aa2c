"""OCPP 2.0.1: the station's side of provisioning (B), authorization (C, D), transactions (E),
remote control (F), availability (G), reservation (H), smart charging (K), firmware (L),
diagnostics and monitoring (N).

EVSE N is the station's connector N with one connector (id 1). Transactions are reported with
TransactionEvent, numbered by seqNo from 0 and marked `offline` when they happened while the
central system was unreachable; the device model is `domain.device_model`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from charge_point.domain.commands import (
    BootReason,
    CommandStatus,
    FirmwareStatus,
    ResetKind,
    UploadStatus,
)
from charge_point.domain.connector_state import Ocpp201ConnectorStatus, to_ocpp201
from charge_point.domain.device_model import (
    Component,
    DataType,
    LookupStatus,
    MonitorEvent,
    MonitorType,
    Mutability,
    Variable,
    VariableRef,
)
from charge_point.domain.local_auth import (
    NO_AUTHORIZATION,
    IdToken,
    IdTokenInfo,
    LocalListEntry,
    UpdateType,
)
from charge_point.domain.metering import ReadingContext, Sample, samples
from charge_point.domain.transaction import (
    ChargingState,
    StartTrigger,
    StopCause,
    ocpp201_stop_trigger,
    ocpp201_stopped_reason,
)
from charge_point.model import ConnectorRuntime, Transaction
from charge_point.ocpp.base import (
    OcppAdapter,
    StationChargePoint,
    handles,
    invoke,
    parse_time,
    wire_time,
)
from charge_point.ocpp.wire import (
    composite_periods,
    id_token_info_201,
    meter_value_201,
    profile_201,
)
from charge_point.settings import SetStatus
from charge_point.store import QueuedMessage
from schemas.charging_profiles import ProfilePurpose, RateUnit

_PURPOSES = {
    "ChargingStationMaxProfile": ProfilePurpose.STATION_MAX,
    "TxDefaultProfile": ProfilePurpose.TX_DEFAULT,
    "TxProfile": ProfilePurpose.TX,
    "ChargingStationExternalConstraints": ProfilePurpose.EXTERNAL,
}
_REPORT_BASES = ("ConfigurationInventory", "FullInventory", "SummaryInventory")
_SUMMARY_VARIABLES = ("AvailabilityState", "Available")


def _ref(component: dict[str, Any], variable: dict[str, Any]) -> VariableRef:
    evse = component.get("evse") or {}
    return VariableRef(
        Component(
            component["name"],
            component.get("instance"),
            evse.get("id"),
            evse.get("connector_id"),
        ),
        variable["name"],
        variable.get("instance"),
    )


def _component_json(variable: Variable) -> dict[str, Any]:
    assert variable.ref is not None
    component = variable.ref.component
    data: dict[str, Any] = {"name": component.name}
    if component.instance is not None:
        data["instance"] = component.instance
    if component.evse_id is not None:
        evse: dict[str, Any] = {"id": component.evse_id}
        if component.connector_id is not None:
            evse["connectorId"] = component.connector_id
        data["evse"] = evse
    return data


def _variable_json(variable: Variable) -> dict[str, Any]:
    assert variable.ref is not None
    data: dict[str, Any] = {"name": variable.ref.variable}
    if variable.ref.instance is not None:
        data["instance"] = variable.ref.instance
    return data


def _status(status: CommandStatus, allowed: Sequence[str], otherwise: str = "Rejected") -> str:
    return status.value if status.value in allowed else otherwise


class ChargePoint(StationChargePoint, ChargePoint201):  # type: ignore[misc]
    known_actions = frozenset(a.value for a in Action)

    @property
    def adapter201(self) -> Ocpp201Adapter:
        assert isinstance(self.adapter, Ocpp201Adapter)
        return self.adapter

    @handles(Action.request_start_transaction)
    async def on_request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.RequestStartTransaction:
        """F01/F02, TC_F_01: an EVSE is chosen when none is given."""
        profile = None
        if charging_profile is not None:
            try:
                profile = profile_201(charging_profile, evse_id or 0)
            except (KeyError, ValueError, IndexError):
                return call_result.RequestStartTransaction(status="Rejected")
        token = IdToken(id_token["id_token"], id_token.get("type", "Central"))
        status = self.station.remote_start(
            token, evse_id, remote_start_id=remote_start_id, profile=profile
        )
        return call_result.RequestStartTransaction(status=_status(status, ("Accepted",)))

    @handles(Action.request_stop_transaction)
    async def on_request_stop(
        self, transaction_id: str, **_: Any
    ) -> call_result.RequestStopTransaction:
        """F03."""
        status = self.station.remote_stop(transaction_id)
        return call_result.RequestStopTransaction(status=_status(status, ("Accepted",)))

    @handles(Action.get_transaction_status)
    async def on_get_transaction_status(
        self, transaction_id: str | None = None, **_: Any
    ) -> call_result.GetTransactionStatus:
        """E14: are messages of this (or any) transaction still queued?"""
        store = self.station.store
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=store.queue_length() > 0)
        ongoing = self.station.transaction(transaction_id) is not None
        return call_result.GetTransactionStatus(
            messages_in_queue=store.has_queued(transaction_id), ongoing_indicator=ongoing
        )

    @handles(Action.reset)
    async def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> call_result.Reset:
        """B11/B12: OnIdle waits for running transactions (Scheduled)."""
        kind = ResetKind.IMMEDIATE if type == "Immediate" else ResetKind.ON_IDLE
        status = self.station.reset(kind, evse_id)
        return call_result.Reset(status=_status(status, ("Accepted", "Scheduled")))

    @handles(Action.unlock_connector)
    async def on_unlock(
        self, evse_id: int, connector_id: int, **_: Any
    ) -> call_result.UnlockConnector:
        """F05: never under a running transaction (OngoingAuthorizedTransaction)."""
        if connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        status = await self.station.unlock(evse_id, stop_transaction=False)
        return call_result.UnlockConnector(status=status.value)

    @handles(Action.change_availability)
    async def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.ChangeAvailability:
        """G03/G04."""
        evse_id = (evse or {}).get("id", 0)
        connector_id = (evse or {}).get("connector_id")
        if connector_id not in (None, 1):
            return call_result.ChangeAvailability(status="Rejected")
        status = self.station.change_availability(evse_id, operational_status == "Operative")
        return call_result.ChangeAvailability(status=_status(status, ("Accepted", "Scheduled")))

    @handles(Action.get_variables)
    async def on_get_variables(
        self, get_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.GetVariables:
        """B06: Actual values; write-only ones are Rejected."""
        results = []
        for item in get_variable_data:
            result: dict[str, Any] = {
                "component": item["component"],
                "variable": item["variable"],
            }
            attribute = item.get("attribute_type", "Actual")
            if "attribute_type" in item:
                result["attribute_type"] = attribute
            found = self.station.catalog.find(_ref(item["component"], item["variable"]))
            if found.variable is None:
                result["attribute_status"] = found.status.value
            elif attribute != "Actual":
                result["attribute_status"] = "NotSupportedAttributeType"
            elif not found.variable.readable:
                result["attribute_status"] = "Rejected"
            else:
                result["attribute_status"] = "Accepted"
                result["attribute_value"] = self.station.settings.value(found.variable)[:2500]
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @handles(Action.set_variables)
    async def on_set_variables(
        self, set_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.SetVariables:
        """B05: read-only variables Rejected; a new BasicAuthPassword is used at once."""
        results = []
        password_changed = False
        for item in set_variable_data:
            result: dict[str, Any] = {"component": item["component"], "variable": item["variable"]}
            attribute = item.get("attribute_type", "Actual")
            if "attribute_type" in item:
                result["attribute_type"] = attribute
            found = self.station.catalog.find(_ref(item["component"], item["variable"]))
            if found.variable is None:
                result["attribute_status"] = found.status.value
            elif attribute != "Actual":
                result["attribute_status"] = "NotSupportedAttributeType"
            else:
                outcome = self.station.settings.change(found.variable, item["attribute_value"])
                result["attribute_status"] = outcome.status.value
                if outcome.reason:
                    result["attribute_status_info"] = {
                        "reason_code": "InvalidValue"
                        if outcome.status is SetStatus.REJECTED
                        else "Other",
                        "additional_info": outcome.reason[:512],
                    }
                if (
                    outcome.status is SetStatus.ACCEPTED
                    and found.variable.name == "AuthorizationKey"
                ):
                    password_changed = True
            results.append(result)
        if password_changed:

            async def reconnect() -> None:
                self.station.password_changed()

            self.after_reply(reconnect)
        return call_result.SetVariables(set_variable_result=results)

    @handles(Action.get_base_report)
    async def on_get_base_report(
        self, request_id: int, report_base: str, **_: Any
    ) -> call_result.GetBaseReport:
        """B07/B08: the report follows as NotifyReport messages."""
        if report_base not in _REPORT_BASES:
            return call_result.GetBaseReport(status="NotSupported")
        variables = self.adapter201.report_variables(report_base)
        self.after_reply(lambda: self.adapter201.send_report(request_id, variables))
        return call_result.GetBaseReport(status="Accepted")

    @handles(Action.get_report)
    async def on_get_report(
        self,
        request_id: int,
        component_variable: list[dict[str, Any]] | None = None,
        component_criteria: list[str] | None = None,
        **_: Any,
    ) -> call_result.GetReport:
        """B08: by component (and variable); criteria are not evaluated (NotSupported)."""
        if component_criteria:
            return call_result.GetReport(status="NotSupported")
        variables = [
            v
            for v in self.station.catalog.ocpp201_variables
            if not component_variable or any(_matches(v, wanted) for wanted in component_variable)
        ]
        if not variables:
            return call_result.GetReport(status="EmptyResultSet")
        self.after_reply(lambda: self.adapter201.send_report(request_id, variables))
        return call_result.GetReport(status="Accepted")

    @handles(Action.set_variable_monitoring)
    async def on_set_variable_monitoring(
        self, set_monitoring_data: list[dict[str, Any]], **_: Any
    ) -> call_result.SetVariableMonitoring:
        """N04: monitors on DataLink.SignalStrength and EVSE.Power (events: NotifyEvent)."""
        results = []
        for item in set_monitoring_data:
            result: dict[str, Any] = {
                "type": item["type"],
                "severity": item["severity"],
                "component": item["component"],
                "variable": item["variable"],
            }
            found = self.station.catalog.find(_ref(item["component"], item["variable"]))
            if found.variable is None:
                result["status"] = found.status.value
            else:
                try:
                    kind = MonitorType(item["type"])
                    value = Decimal(str(item["value"]))
                except (ValueError, InvalidOperation):
                    result["status"] = "UnsupportedMonitorType"
                else:
                    status, monitor_id = self.station.set_monitor(
                        found.variable.name, kind, value, int(item["severity"]), item.get("id")
                    )
                    result["status"] = status
                    if monitor_id is not None:
                        result["id"] = monitor_id
            results.append(result)
        return call_result.SetVariableMonitoring(set_monitoring_result=results)

    @handles(Action.clear_variable_monitoring)
    async def on_clear_variable_monitoring(
        self, id: list[int], **_: Any
    ) -> call_result.ClearVariableMonitoring:
        results = [{"id": i, "status": self.station.clear_monitor(i)} for i in id]
        return call_result.ClearVariableMonitoring(clear_monitoring_result=results)

    @handles(Action.trigger_message)
    async def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        """F06: the message follows the reply."""
        adapter = self.adapter201
        evse_id = (evse or {}).get("id")
        if evse_id is not None and evse_id not in self.station.connectors:
            return call_result.TriggerMessage(status="Rejected")
        if requested_message == "BootNotification":
            if adapter.boot_accepted:
                return call_result.TriggerMessage(status="Rejected")  # F06.FR.17
            self.after_reply(adapter.trigger_boot)
        elif requested_message == "TransactionEvent":
            status = self.station.trigger_transaction_event(evse_id)
            return call_result.TriggerMessage(status=_status(status, ("Accepted",)))
        elif requested_message == "Heartbeat":
            self.after_reply(lambda: adapter.send_now(call.Heartbeat()))
        elif requested_message == "StatusNotification":
            self.after_reply(lambda: adapter.send_statuses_now(evse_id))
        elif requested_message == "MeterValues":
            self.after_reply(lambda: adapter.send_meter_values_now(evse_id))
        elif requested_message == "FirmwareStatusNotification":
            self.after_reply(lambda: adapter.send_firmware_status_now())
        elif requested_message == "LogStatusNotification":
            self.after_reply(lambda: adapter.send_log_status_now())
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        return call_result.TriggerMessage(status="Accepted")

    @handles(Action.clear_cache)
    async def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        """C11."""
        return call_result.ClearCache(status=self.station.clear_cache().value)

    @handles(Action.send_local_list)
    async def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        """D01."""
        entries = [
            LocalListEntry(
                e["id_token"]["id_token"],
                id_token_info_201(e["id_token_info"]) if e.get("id_token_info") else None,
            )
            for e in local_authorization_list or []
        ]
        status = self.station.send_local_list(UpdateType(update_type), version_number, entries)
        if status.value not in ("Accepted", "VersionMismatch"):
            return call_result.SendLocalList(status="Failed")
        return call_result.SendLocalList(status=status.value)

    @handles(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        """D02."""
        return call_result.GetLocalListVersion(version_number=self.station.local_list_version)

    @handles(Action.reserve_now)
    async def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        group_id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.ReserveNow:
        """H01: without an EVSE the first free one is reserved."""
        expires = parse_time(expiry_date_time)
        assert expires is not None
        status = self.station.reserve(
            id,
            evse_id,
            IdToken(id_token["id_token"], id_token.get("type", "ISO14443")),
            (group_id_token or {}).get("id_token"),
            expires,
        )
        return call_result.ReserveNow(
            status=_status(status, ("Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"))
        )

    @handles(Action.cancel_reservation)
    async def on_cancel_reservation(
        self, reservation_id: int, **_: Any
    ) -> call_result.CancelReservation:
        """H02."""
        status = self.station.cancel_reservation(reservation_id)
        return call_result.CancelReservation(status=_status(status, ("Accepted",)))

    @handles(Action.set_charging_profile)
    async def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        """K01: the limit reaches the hardware at once."""
        try:
            profile = profile_201(charging_profile, evse_id)
        except (KeyError, ValueError, IndexError):
            return call_result.SetChargingProfile(status="Rejected")
        status = self.station.set_charging_profile(evse_id, profile)
        return call_result.SetChargingProfile(status=_status(status, ("Accepted",)))

    @handles(Action.clear_charging_profile)
    async def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        """K10."""
        criteria = charging_profile_criteria or {}
        purpose = criteria.get("charging_profile_purpose")
        status = self.station.clear_charging_profile(
            profile_id=charging_profile_id,
            evse_id=criteria.get("evse_id"),
            purpose=_PURPOSES[purpose] if purpose else None,
            stack_level=criteria.get("stack_level"),
        )
        return call_result.ClearChargingProfile(status=_status(status, ("Accepted",), "Unknown"))

    @handles(Action.get_composite_schedule)
    async def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> call_result.GetCompositeSchedule:
        """K08."""
        unit = RateUnit(charging_rate_unit) if charging_rate_unit else RateUnit.W
        composite = self.station.composite_schedule(evse_id, duration, unit)
        if composite is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evseId": evse_id,
                "duration": composite.duration_s,
                "scheduleStart": wire_time(composite.start),
                "chargingRateUnit": composite.rate_unit.value,
                "chargingSchedulePeriod": composite_periods(composite),
            },
        )

    @handles(Action.update_firmware)
    async def on_update_firmware(
        self, request_id: int, firmware: dict[str, Any], **_: Any
    ) -> call_result.UpdateFirmware:
        """L01: every FirmwareStatusNotification, then a reboot with the new version."""
        status = self.station.update_firmware(
            firmware["location"],
            parse_time(firmware.get("retrieve_date_time")),
            request_id,
            signed=bool(firmware.get("signature")),
        )
        return call_result.UpdateFirmware(status=_status(status, ("Accepted",)))

    @handles(Action.get_log)
    async def on_get_log(
        self, log: dict[str, Any], log_type: str, request_id: int, **_: Any
    ) -> call_result.GetLog:
        """N01: Uploading, then Uploaded (or UploadFailure)."""
        name = self.station.upload_diagnostics(
            log["remote_location"], request_id, kind=log_type.lower()
        )
        if name is None:
            return call_result.GetLog(status="Rejected")
        return call_result.GetLog(status="Accepted", filename=name)

    @handles(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        """P01."""
        return call_result.DataTransfer(status="UnknownVendorId")


def _matches(variable: Variable, wanted: dict[str, Any]) -> bool:
    ref = variable.ref
    if ref is None:
        return False
    component = wanted["component"]
    if component["name"] != ref.component.name:
        return False
    evse = component.get("evse")
    if evse is not None and evse.get("id") != ref.component.evse_id:
        return False
    if component.get("instance") not in (None, ref.component.instance):
        return False
    wanted_variable = wanted.get("variable")
    return wanted_variable is None or wanted_variable["name"] == ref.variable


class Ocpp201Adapter(OcppAdapter):
    version = "2.0.1"
    subprotocol = "ocpp2.0.1"
    call_module = call
    charge_point_class = ChargePoint
    transaction_actions = frozenset({"TransactionEvent"})

    def __init__(self, station: Any) -> None:
        super().__init__(station)
        self._sent_status: dict[int, Ocpp201ConnectorStatus] = {}
        self._event_ids = itertools.count(1)

    async def send_boot(self, cp: Any, reason: BootReason) -> tuple[str, int]:
        config = self.station.config
        response = await invoke(
            cp,
            call.BootNotification(
                charging_station={
                    "model": config.model[:20],
                    "vendorName": config.vendor[:50],
                    "serialNumber": (config.serial_number or config.station_id)[:25],
                    "firmwareVersion": self.station.firmware_version[:50],
                },
                reason=reason.value,
            ),
        )
        return str(response.status), int(response.interval)

    async def send_now(self, payload: Any) -> None:
        connection = self._connection
        if connection is not None:
            await self._call(connection, payload)

    # --- status ----------------------------------------------------------------------------

    def _status_call(self, conn: ConnectorRuntime) -> call.StatusNotification:
        status = to_ocpp201(conn.status)
        self._sent_status[conn.id] = status
        return call.StatusNotification(
            timestamp=wire_time(datetime.now(UTC)),
            connector_status=status.value,
            evse_id=conn.id,
            connector_id=1,
        )

    def send_statuses(self) -> None:
        for conn in self.station.connectors.values():
            self.notify(self._status_call(conn))

    async def send_statuses_now(self, evse_id: int | None) -> None:
        for conn in self.station.connectors.values():
            if evse_id in (None, conn.id):
                await self.send_now(self._status_call(conn))

    def status_changed(self, conn: ConnectorRuntime) -> None:
        """Only changes of the 2.0.1 status are sent (Preparing -> Charging stays Occupied)."""
        if self.online and self._sent_status.get(conn.id) != to_ocpp201(conn.status):
            self.notify(self._status_call(conn))

    async def send_meter_values_now(self, evse_id: int | None) -> None:
        measurands = self.settings.measurands("MeterValuesSampledData")
        now = datetime.now(UTC)
        for conn in self.station.connectors.values():
            if evse_id in (None, conn.id):
                values = samples(self.station.snapshot(conn), measurands, ReadingContext.TRIGGER)
                await self.send_now(
                    call.MeterValues(evse_id=conn.id, meter_value=[meter_value_201(now, values)])
                )

    async def send_firmware_status_now(self) -> None:
        await self.send_now(
            self._firmware_call(self.station.firmware_status, self.station.firmware_request_id)
        )

    async def send_log_status_now(self) -> None:
        await self.send_now(
            self._log_call(self.station.upload_status, self.station.upload_request_id)
        )

    # --- authorization -----------------------------------------------------------------

    async def authorize(self, token: IdToken) -> IdTokenInfo | None:
        response = await self.request(
            call.Authorize(id_token={"idToken": token.value, "type": token.type})
        )
        if response is None:
            return None
        return id_token_info_201(response.id_token_info)

    def free_vend_token(self, id_tag: str) -> IdToken:
        return IdToken("", NO_AUTHORIZATION)

    # --- transactions (queued) -----------------------------------------------------------

    def _event(
        self,
        event_type: str,
        tx: Transaction,
        at: datetime,
        trigger: str,
        info: dict[str, Any],
        values: Sequence[Sample],
        offline: bool,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "eventType": event_type,
            "timestamp": wire_time(at),
            "triggerReason": trigger,
            "seqNo": tx.next_seq_no(),
            "transactionInfo": {"transactionId": tx.ref, **info},
            "evse": {"id": tx.connector_id, "connectorId": 1},
        }
        if values:
            payload["meterValue"] = [meter_value_201(at, values)]
        if offline or not self.online:
            payload["offline"] = True
        return payload

    def _token(self, token: IdToken) -> dict[str, Any]:
        return {"idToken": token.value, "type": token.type}

    def transaction_started(
        self,
        tx: Transaction,
        samples: Sequence[Sample],
        trigger: StartTrigger,
        state: ChargingState,
        at: datetime,
    ) -> None:
        info: dict[str, Any] = {"chargingState": state.value}
        if tx.remote_start_id is not None:
            info["remoteStartId"] = tx.remote_start_id
        payload = self._event("Started", tx, at, trigger.value, info, samples, False)
        payload["idToken"] = self._token(tx.token)
        if tx.reservation_id is not None:
            payload["reservationId"] = tx.reservation_id
        self._enqueue("TransactionEvent", payload, tx.ref)

    def transaction_updated(
        self,
        tx: Transaction,
        samples: Sequence[Sample],
        trigger: str,
        state: ChargingState,
        at: datetime,
    ) -> bool:
        info = {"chargingState": state.value}
        payload = self._event("Updated", tx, at, trigger, info, samples, False)
        self._enqueue("TransactionEvent", payload, tx.ref)
        return True

    def transaction_ended(
        self,
        tx: Transaction,
        cause: StopCause,
        samples: Sequence[Sample],
        meter_stop_wh: int,
        at: datetime,
        *,
        stop_token: IdToken | None = None,
        offline: bool = False,
    ) -> None:
        info = {"stoppedReason": ocpp201_stopped_reason(cause)}
        payload = self._event("Ended", tx, at, ocpp201_stop_trigger(cause), info, samples, offline)
        if stop_token is not None:
            payload["idToken"] = self._token(stop_token)
        self._enqueue("TransactionEvent", payload, tx.ref)

    def queued_reply(self, message: QueuedMessage, response: Any) -> None:
        if response.id_token_info and message.payload.get("eventType") == "Started":
            self.station.transaction_answered(
                message.tx_ref or "", id_token_info_201(response.id_token_info)
            )

    # --- device model ----------------------------------------------------------------------

    def report_variables(self, report_base: str) -> list[Variable]:
        variables = self.station.catalog.ocpp201_variables
        if report_base == "ConfigurationInventory":
            return [v for v in variables if v.mutability is not Mutability.READ_ONLY]
        if report_base == "SummaryInventory":
            return [v for v in variables if v.ref and v.ref.variable in _SUMMARY_VARIABLES]
        return list(variables)

    def _report_entry(self, variable: Variable) -> dict[str, Any]:
        attribute: dict[str, Any] = {
            "type": "Actual",
            "mutability": variable.mutability.value,
            "persistent": variable.stored,
            "constant": variable.mutability is Mutability.READ_ONLY and variable.stored,
        }
        if variable.readable:
            attribute["value"] = self.settings.value(variable)[:2500]
        characteristics: dict[str, Any] = {
            "dataType": variable.data_type.value,
            "supportsMonitoring": variable.supports_monitoring,
        }
        if variable.unit:
            characteristics["unit"] = variable.unit
        if variable.min_limit is not None and variable.data_type in (
            DataType.INTEGER,
            DataType.DECIMAL,
        ):
            characteristics["minLimit"] = variable.min_limit
        if variable.max_limit is not None and variable.data_type in (
            DataType.INTEGER,
            DataType.DECIMAL,
        ):
            characteristics["maxLimit"] = variable.max_limit
        if variable.values_list:
            characteristics["valuesList"] = ",".join(variable.values_list)[:1000]
        return {
            "component": _component_json(variable),
            "variable": _variable_json(variable),
            "variableAttribute": [attribute],
            "variableCharacteristics": characteristics,
        }

    async def send_report(self, request_id: int, variables: Sequence[Variable]) -> None:
        """NotifyReport in parts of ItemsPerMessage[GetReport], seqNo from 0, tbc on all but
        the last."""
        size = max(1, self.settings.integer("ItemsPerMessageGetReport"))
        parts = [variables[i : i + size] for i in range(0, len(variables), size)] or [[]]
        generated = wire_time(datetime.now(UTC))
        for seq_no, part in enumerate(parts):
            await self.send_now(
                call.NotifyReport(
                    request_id=request_id,
                    generated_at=generated,
                    seq_no=seq_no,
                    report_data=[self._report_entry(v) for v in part] or None,
                    tbc=seq_no < len(parts) - 1,
                )
            )

    def monitor_events(self, events: Sequence[MonitorEvent]) -> None:
        """N07: NotifyEvent for the monitors that triggered (DataLink.SignalStrength ...)."""
        now = wire_time(datetime.now(UTC))
        data = []
        for event in events:
            variable = self.station.catalog[event.monitor.variable]
            item: dict[str, Any] = {
                "eventId": next(self._event_ids),
                "timestamp": now,
                "trigger": event.trigger.value,
                "actualValue": str(event.value),
                "eventNotificationType": event.monitor.kind.value,
                "component": _component_json(variable),
                "variable": _variable_json(variable),
                "variableMonitoringId": event.monitor.id,
            }
            if event.cleared:
                item["cleared"] = True
            data.append(item)
        self.notify(call.NotifyEvent(generated_at=now, seq_no=0, event_data=data))

    # --- notifications ---------------------------------------------------------------------

    def _firmware_call(
        self, status: FirmwareStatus, request_id: int | None
    ) -> call.FirmwareStatusNotification:
        return call.FirmwareStatusNotification(status=status.value, request_id=request_id)

    def firmware_status(self, status: FirmwareStatus, request_id: int | None) -> None:
        self.notify(self._firmware_call(status, request_id))

    def _log_call(self, status: UploadStatus, request_id: int | None) -> call.LogStatusNotification:
        name = "UploadFailure" if status is UploadStatus.UPLOAD_FAILED else status.value
        return call.LogStatusNotification(status=name, request_id=request_id)

    def upload_status(self, status: UploadStatus, request_id: int | None) -> None:
        self.notify(self._log_call(status, request_id))

    def reservation_ended(self, reservation_id: int, reason: str) -> None:
        """H01.FR.xx: ReservationStatusUpdate Expired / Removed."""
        self.notify(
            call.ReservationStatusUpdate(
                reservation_id=reservation_id, reservation_update_status=reason
            )
        )


__all__ = ["ChargePoint", "LookupStatus", "Ocpp201Adapter"]
