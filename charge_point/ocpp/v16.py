"""OCPP 1.6J: the station's side of Core, Firmware Management, Local Auth List Management,
Reservation, Smart Charging and Remote Trigger.

A 1.6 connector N is the station's connector N; connector 0 is the station itself. StartTransaction
is answered with the central system's transaction id; queued MeterValues and StopTransaction of
that transaction get it when they are sent (the station's reference keys it in the database).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from charge_point.domain.commands import (
    FIRMWARE_STATUSES_16,
    BootReason,
    CommandStatus,
    FirmwareStatus,
    ResetKind,
    UploadStatus,
)
from charge_point.domain.connector_state import ConnectorStatus
from charge_point.domain.local_auth import (
    STATUSES_16,
    AuthorizationStatus,
    IdToken,
    IdTokenInfo,
    LocalListEntry,
    UpdateType,
)
from charge_point.domain.metering import ReadingContext, Sample, samples
from charge_point.domain.modem import SignalQuality
from charge_point.domain.transaction import ChargingState, StartTrigger, StopCause, ocpp16_reason
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
    id_token_info_16,
    meter_value_16,
    profile_16,
)
from charge_point.settings import SetStatus
from charge_point.store import QueuedMessage
from schemas.charging_profiles import ProfilePurpose, RateUnit

SIGNAL_VENDOR_ID = "org.evcharge"
SIGNAL_MESSAGE_ID = "SignalStrength"

_PURPOSES_16 = {
    "ChargePointMaxProfile": ProfilePurpose.STATION_MAX,
    "TxDefaultProfile": ProfilePurpose.TX_DEFAULT,
    "TxProfile": ProfilePurpose.TX,
}


def _status(status: CommandStatus, allowed: Sequence[str], otherwise: str = "Rejected") -> str:
    return status.value if status.value in allowed else otherwise


class ChargePoint(StationChargePoint, ChargePoint16):  # type: ignore[misc]
    known_actions = frozenset(a.value for a in Action)

    @handles(Action.remote_start_transaction)
    async def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, charging_profile: Any = None, **_: Any
    ) -> call_result.RemoteStartTransaction:
        """5.11, TC_010 / TC_011: a connector is chosen when none is given."""
        profile = None
        if charging_profile is not None:
            try:
                profile = profile_16(charging_profile, connector_id or 0)
            except (KeyError, ValueError):
                return call_result.RemoteStartTransaction(status="Rejected")
        status = self.station.remote_start(IdToken(id_tag), connector_id, profile=profile)
        return call_result.RemoteStartTransaction(status=_status(status, ("Accepted",)))

    @handles(Action.remote_stop_transaction)
    async def on_remote_stop(
        self, transaction_id: int, **_: Any
    ) -> call_result.RemoteStopTransaction:
        """5.12, TC_012."""
        status = self.station.remote_stop(str(transaction_id))
        return call_result.RemoteStopTransaction(status=_status(status, ("Accepted",)))

    @handles(Action.reset)
    async def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        """5.14, TC_013 / TC_014."""
        status = self.station.reset(ResetKind.HARD if type == "Hard" else ResetKind.SOFT)
        return call_result.Reset(status=_status(status, ("Accepted",)))

    @handles(Action.unlock_connector)
    async def on_unlock(self, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        """5.18, TC_017: a transaction on the connector is stopped first."""
        status = await self.station.unlock(connector_id, stop_transaction=True)
        if status is CommandStatus.UNKNOWN_CONNECTOR:
            return call_result.UnlockConnector(status="NotSupported")
        return call_result.UnlockConnector(status=status.value)

    @handles(Action.change_availability)
    async def on_change_availability(
        self, connector_id: int, type: str, **_: Any
    ) -> call_result.ChangeAvailability:
        """5.2, TC_015 / TC_016."""
        status = self.station.change_availability(connector_id, type == "Operative")
        return call_result.ChangeAvailability(status=_status(status, ("Accepted", "Scheduled")))

    @handles(Action.get_configuration)
    async def on_get_configuration(
        self, key: list[str] | None = None, **_: Any
    ) -> call_result.GetConfiguration:
        """5.8, TC_019: write-only keys are listed without a value."""
        catalog = self.station.catalog
        settings = self.station.settings
        wanted = catalog.ocpp16_variables if not key else None
        unknown: list[str] = []
        if wanted is None:
            found = []
            for name in key or []:
                variable = catalog.ocpp16(name)
                if variable is None:
                    unknown.append(name)
                else:
                    found.append(variable)
            wanted = tuple(found)
        entries = []
        for variable in wanted:
            entry: dict[str, Any] = {
                "key": variable.ocpp16_key,
                "readonly": not variable.writable,
            }
            if variable.readable:
                entry["value"] = settings.value(variable)[:500]
            entries.append(entry)
        return call_result.GetConfiguration(
            configuration_key=entries or None, unknown_key=unknown or None
        )

    @handles(Action.change_configuration)
    async def on_change_configuration(
        self, key: str, value: str, **_: Any
    ) -> call_result.ChangeConfiguration:
        """5.3, TC_021: read-only keys Rejected, unknown keys NotSupported."""
        variable = self.station.catalog.ocpp16(key)
        if variable is None:
            return call_result.ChangeConfiguration(status="NotSupported")
        result = self.station.settings.change(variable, value)
        if result.status is SetStatus.ACCEPTED and variable.name == "AuthorizationKey":

            async def reconnect() -> None:
                self.station.password_changed()

            self.after_reply(reconnect)
        return call_result.ChangeConfiguration(status=result.status.value)

    @handles(Action.clear_cache)
    async def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        """5.4, TC_061."""
        return call_result.ClearCache(status=self.station.clear_cache().value)

    @handles(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        """5.6: no vendor extensions towards the station."""
        return call_result.DataTransfer(status="UnknownVendorId")

    @handles(Action.trigger_message)
    async def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        """5.17, TC_054: the message follows the reply."""
        adapter = self.adapter
        assert isinstance(adapter, Ocpp16Adapter)
        if (
            connector_id is not None
            and connector_id != 0
            and (connector_id not in self.station.connectors)
        ):
            return call_result.TriggerMessage(status="Rejected")
        follow_up = {
            "BootNotification": adapter.trigger_boot,
            "Heartbeat": lambda: adapter.send_now(call.Heartbeat()),
            "StatusNotification": lambda: adapter.send_statuses_now(connector_id),
            "MeterValues": lambda: adapter.send_meter_values_now(connector_id),
            "FirmwareStatusNotification": lambda: adapter.send_now(
                call.FirmwareStatusNotification(status=adapter.firmware_16())
            ),
            "DiagnosticsStatusNotification": lambda: adapter.send_now(
                call.DiagnosticsStatusNotification(status=self.station.upload_status.value)
            ),
        }.get(requested_message)
        if follow_up is None:
            return call_result.TriggerMessage(status="NotImplemented")
        self.after_reply(follow_up)
        return call_result.TriggerMessage(status="Accepted")

    @handles(Action.reserve_now)
    async def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
        **_: Any,
    ) -> call_result.ReserveNow:
        """5.13, TC_026-TC_030."""
        expires = parse_time(expiry_date)
        assert expires is not None
        status = self.station.reserve(
            reservation_id, connector_id, IdToken(id_tag), parent_id_tag, expires
        )
        return call_result.ReserveNow(
            status=_status(status, ("Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"))
        )

    @handles(Action.cancel_reservation)
    async def on_cancel_reservation(
        self, reservation_id: int, **_: Any
    ) -> call_result.CancelReservation:
        status = self.station.cancel_reservation(reservation_id)
        return call_result.CancelReservation(status=_status(status, ("Accepted",)))

    @handles(Action.set_charging_profile)
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        """5.16, TC_056-TC_059: the limit reaches the hardware at once."""
        try:
            profile = profile_16(cs_charging_profiles, connector_id)
        except (KeyError, ValueError):
            return call_result.SetChargingProfile(status="Rejected")
        status = self.station.set_charging_profile(connector_id, profile)
        return call_result.SetChargingProfile(status=_status(status, ("Accepted",)))

    @handles(Action.clear_charging_profile)
    async def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        status = self.station.clear_charging_profile(
            profile_id=id,
            evse_id=connector_id,
            purpose=_PURPOSES_16[charging_profile_purpose] if charging_profile_purpose else None,
            stack_level=stack_level,
        )
        return call_result.ClearChargingProfile(status=_status(status, ("Accepted",), "Unknown"))

    @handles(Action.get_composite_schedule)
    async def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> call_result.GetCompositeSchedule:
        """5.7, TC_066."""
        unit = {"W": RateUnit.W, "A": RateUnit.A}.get(charging_rate_unit or "W", RateUnit.W)
        composite = self.station.composite_schedule(connector_id, duration, unit)
        if composite is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=wire_time(composite.start),
            charging_schedule={
                "duration": composite.duration_s,
                "startSchedule": wire_time(composite.start),
                "chargingRateUnit": composite.rate_unit.value,
                "chargingSchedulePeriod": composite_periods(composite),
            },
        )

    @handles(Action.send_local_list)
    async def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        """5.15, TC_042 / TC_043."""
        entries = [
            LocalListEntry(
                e["id_tag"],
                id_token_info_16(e["id_tag_info"]) if e.get("id_tag_info") else None,
            )
            for e in local_authorization_list or []
        ]
        status = self.station.send_local_list(UpdateType(update_type), list_version, entries)
        return call_result.SendLocalList(status=status.value)

    @handles(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(list_version=self.station.local_list_version)

    @handles(Action.update_firmware)
    async def on_update_firmware(
        self, location: str, retrieve_date: str, **_: Any
    ) -> call_result.UpdateFirmware:
        """5.19, TC_044: Downloading, Downloaded, Installing, reboot, Installed."""
        self.station.update_firmware(location, parse_time(retrieve_date))
        return call_result.UpdateFirmware()

    @handles(Action.get_diagnostics)
    async def on_get_diagnostics(self, location: str, **_: Any) -> call_result.GetDiagnostics:
        """5.9, TC_045: Uploading, then Uploaded (or UploadFailed)."""
        name = self.station.upload_diagnostics(location)
        return call_result.GetDiagnostics(file_name=name)


class Ocpp16Adapter(OcppAdapter):
    version = "1.6"
    subprotocol = "ocpp1.6"
    call_module = call
    charge_point_class = ChargePoint
    transaction_actions = frozenset({"StartTransaction", "MeterValues", "StopTransaction"})

    def __init__(self, station: Any) -> None:
        super().__init__(station)
        self._weak_signal = False
        self._unreported_signal: tuple[SignalQuality, datetime] | None = None

    async def send_boot(self, cp: Any, reason: BootReason) -> tuple[str, int]:
        config = self.station.config
        response = await invoke(
            cp,
            call.BootNotification(
                charge_point_model=config.model[:20],
                charge_point_vendor=config.vendor[:20],
                charge_point_serial_number=(config.serial_number or config.station_id)[:25],
                firmware_version=self.station.firmware_version[:50],
            ),
        )
        return str(response.status), int(response.interval)

    async def send_now(self, payload: Any) -> None:
        connection = self._connection
        if connection is not None:
            await self._call(connection, payload)

    # --- status ----------------------------------------------------------------------------

    def _status_call(self, conn: ConnectorRuntime) -> call.StatusNotification:
        return call.StatusNotification(
            connector_id=conn.id,
            error_code=conn.error_code,
            status=conn.status.value,
            info=conn.info,
            timestamp=wire_time(datetime.now(UTC)),
        )

    def _station_status_call(self) -> call.StatusNotification:
        operative = any(c.operative for c in self.station.connectors.values())
        return call.StatusNotification(
            connector_id=0,
            error_code="WeakSignal" if self._weak_signal else "NoError",
            status=ConnectorStatus.AVAILABLE.value if operative else "Unavailable",
            timestamp=wire_time(datetime.now(UTC)),
        )

    def send_statuses(self) -> None:
        self.notify(self._station_status_call())
        for conn in self.station.connectors.values():
            self.notify(self._status_call(conn))

    async def send_statuses_now(self, connector_id: int | None) -> None:
        if connector_id in (None, 0):
            await self.send_now(self._station_status_call())
        for conn in self.station.connectors.values():
            if connector_id in (None, conn.id):
                await self.send_now(self._status_call(conn))

    def status_changed(self, conn: ConnectorRuntime) -> None:
        self.notify(self._status_call(conn))

    def station_status_changed(self) -> None:
        self.notify(self._station_status_call())

    async def send_meter_values_now(self, connector_id: int | None) -> None:
        """TriggerMessage(MeterValues): the current readings, context Trigger."""
        measurands = self.settings.measurands("MeterValuesSampledData")
        now = datetime.now(UTC)
        for conn in self.station.connectors.values():
            if connector_id not in (None, 0, conn.id):
                continue
            values = samples(self.station.snapshot(conn), measurands, ReadingContext.TRIGGER)
            tx = conn.transaction
            transaction_id = tx.transaction_id if tx is not None else None
            await self.send_now(
                call.MeterValues(
                    connector_id=conn.id,
                    meter_value=[meter_value_16(now, values)],
                    transaction_id=int(transaction_id) if transaction_id else None,
                )
            )

    # --- authorization -----------------------------------------------------------------

    async def authorize(self, token: IdToken) -> IdTokenInfo | None:
        response = await self.request(call.Authorize(id_tag=token.value[:20]))
        if response is None:
            return None
        return id_token_info_16(response.id_tag_info)

    def free_vend_token(self, id_tag: str) -> IdToken:
        return IdToken(id_tag)

    # --- transactions (queued) -----------------------------------------------------------

    def transaction_started(
        self,
        tx: Transaction,
        samples: Sequence[Sample],
        trigger: StartTrigger,
        state: ChargingState,
        at: datetime,
    ) -> None:
        payload: dict[str, Any] = {
            "connectorId": tx.connector_id,
            "idTag": tx.token.value[:20],
            "meterStart": tx.meter_start_wh,
            "timestamp": wire_time(at),
        }
        if tx.reservation_id is not None:
            payload["reservationId"] = tx.reservation_id
        self._enqueue("StartTransaction", payload, tx.ref)

    def transaction_updated(
        self,
        tx: Transaction,
        samples: Sequence[Sample],
        trigger: str,
        state: ChargingState,
        at: datetime,
    ) -> bool:
        if not samples:
            return False  # 1.6 reports charging-state changes with StatusNotification
        payload: dict[str, Any] = {
            "connectorId": tx.connector_id,
            "meterValue": [meter_value_16(at, samples)],
        }
        if tx.transaction_id is not None:
            payload["transactionId"] = int(tx.transaction_id)
        self._enqueue("MeterValues", payload, tx.ref)
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
        payload: dict[str, Any] = {
            "meterStop": meter_stop_wh,
            "timestamp": wire_time(at),
            "reason": ocpp16_reason(cause),
        }
        if tx.transaction_id is not None:
            payload["transactionId"] = int(tx.transaction_id)
        if stop_token is not None:
            payload["idTag"] = stop_token.value[:20]
        if samples:
            payload["transactionData"] = [meter_value_16(at, samples)]
        self._enqueue("StopTransaction", payload, tx.ref)

    def prepare_queued(self, message: QueuedMessage) -> dict[str, Any] | None:
        payload = message.payload
        if message.action == "StartTransaction" or "transactionId" in payload:
            return payload
        transaction_id = self.store.transaction_id(message.tx_ref or "")
        if transaction_id is None:
            if message.action == "MeterValues":
                return payload  # kept as meter values of the connector
            return None
        return {**payload, "transactionId": int(transaction_id)}

    def queued_reply(self, message: QueuedMessage, response: Any) -> None:
        ref = message.tx_ref or ""
        if message.action == "StartTransaction":
            transaction_id = str(response.transaction_id)
            self.store.set_transaction_id(ref, transaction_id)
            self.station.transaction_id_assigned(ref, transaction_id)
            self.station.transaction_answered(ref, id_token_info_16(response.id_tag_info))
        elif message.action == "StopTransaction":
            self.store.forget_transaction_id(ref)

    # --- notifications ---------------------------------------------------------------------

    def signal_read(self, quality: SignalQuality, at: datetime) -> None:
        """DataTransfer org.evcharge/SignalStrength, and WeakSignal on connector 0."""
        if not self.online:
            self._unreported_signal = (quality, at)
            return
        data = {
            "csq": quality.csq if 0 <= quality.csq <= 31 or quality.csq == 99 else None,
            "ber": quality.ber,
            "rssiDbm": quality.rssi_dbm,
            "condition": quality.condition.value,
            "timestamp": wire_time(at),
        }
        self.notify(
            call.DataTransfer(
                vendor_id=SIGNAL_VENDOR_ID,
                message_id=SIGNAL_MESSAGE_ID,
                data=json.dumps(data, separators=(",", ":")),
            )
        )
        if quality.weak != self._weak_signal:
            self._weak_signal = quality.weak
            self.station_status_changed()

    def went_online(self) -> None:
        """The latest signal reading, when it was taken while offline."""
        pending, self._unreported_signal = self._unreported_signal, None
        if pending is not None:
            self.signal_read(*pending)

    def firmware_16(self) -> str:
        status = self.station.firmware_status
        return status.value if status in FIRMWARE_STATUSES_16 else FirmwareStatus.IDLE.value

    def firmware_status(self, status: FirmwareStatus, request_id: int | None) -> None:
        if status in FIRMWARE_STATUSES_16:
            self.notify(call.FirmwareStatusNotification(status=status.value))

    def upload_status(self, status: UploadStatus, request_id: int | None) -> None:
        self.notify(call.DiagnosticsStatusNotification(status=status.value))


__all__ = ["STATUSES_16", "AuthorizationStatus", "ChargePoint", "Ocpp16Adapter"]
