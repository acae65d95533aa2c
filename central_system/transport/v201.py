"""OCPP 2.0.1 (and 2.1, whose station messages used here are a superset) station-initiated
messages, translated into version-neutral service calls.

Per B02.FR.xx the connection refuses everything but BootNotification with SecurityError until a
boot was accepted (checked in the connection, TC_B_30).
"""

from __future__ import annotations

import json
from typing import Any

from central_system.domain.authorization import IdToken, IdTokenInfo
from central_system.domain.connectors import ConnectorKey, ConnectorStatus, StatusReport
from central_system.domain.metering import MeterSample, sampled_value
from central_system.domain.signal import SignalReading, quality_for_dbm
from central_system.domain.smart_charging import ChargingLimitSource
from central_system.domain.stations import BootInfo, RegistrationStatus
from central_system.domain.transactions import UNKNOWN_EVSE, TransactionEventType
from central_system.services.transactions import (
    EventSequence,
    TransactionResult,
    TransactionStart,
    TransactionStop,
    TransactionUpdate,
)
from central_system.transport.connection import OcppConnection, StationSession
from central_system.transport.device_model_wire import reported_monitors, reported_variables
from central_system.transport.handlers import HandlerSet, drop_none, handles, timestamp, wire_time
from central_system.transport.smart_charging import (
    after_boot,
    ev_needs_from_wire,
    ev_schedule_from_wire,
    external_limit_from_wire,
    offer_after_reply,
    profile_from_wire,
)


def id_token(payload: dict[str, Any] | None) -> IdToken | None:
    if not payload:
        return None
    return IdToken(payload["idToken"], payload.get("type"))


def id_token_info(info: IdTokenInfo) -> dict[str, Any]:
    return drop_none(
        {
            "status": info.status.value,
            "cacheExpiryDateTime": wire_time(info.expires_at) if info.expires_at else None,
            "groupIdToken": (
                {"idToken": info.group_id, "type": "Central"} if info.group_id else None
            ),
        }
    )


def meter_values(payload: list[dict[str, Any]]) -> list[MeterSample]:
    """The normalised sampled values of a meterValue list (J02)."""
    samples: list[MeterSample] = []
    for mv in payload:
        at = timestamp(mv, "timestamp")
        for sv in mv["sampledValue"]:
            unit = sv.get("unitOfMeasure") or {}
            signed = sv.get("signedMeterValue")
            samples.append(
                sampled_value(  # positional: 9 per message, and keywords cost a third more
                    at,
                    sv["value"],
                    sv.get("measurand"),
                    unit.get("unit"),
                    unit.get("multiplier", 0),
                    sv.get("phase"),
                    sv.get("location"),
                    sv.get("context"),
                    None,  # format: 1.6 only
                    # the whole signedMeterValue (data, method, encoding, public key):
                    # what a verifier needs (TC_E_11, TC_J_04, TC_J_11)
                    json.dumps(signed, separators=(",", ":")) if signed else None,
                )
            )
    return samples


def _is_signal_strength(data: dict[str, Any]) -> bool:
    component: str | None = data.get("component", {}).get("name")
    variable: str | None = data.get("variable", {}).get("name")
    return (component, variable) == ("DataLink", "SignalStrength")


def _key(evse: dict[str, Any] | None) -> ConnectorKey | None:
    if not evse:
        return None
    return ConnectorKey(evse["id"], evse.get("connectorId", 1))


class Ocpp201Handlers(HandlerSet):
    @handles("BootNotification")
    async def boot_notification(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """B01-B03, TC_B_01 / TC_B_02."""
        station = p["chargingStation"]
        modem = station.get("modem") or {}
        info = BootInfo(
            vendor=station["vendorName"],
            model=station["model"],
            serial_number=station.get("serialNumber"),
            firmware_version=station.get("firmwareVersion"),
            iccid=modem.get("iccid"),
            imsi=modem.get("imsi"),
            reason=p.get("reason"),
        )
        decision, now = await self.services.stations.boot(session.station_id, info)
        session.boot_accepted = decision.status is RegistrationStatus.ACCEPTED
        if session.boot_accepted:
            session.after_reply(after_boot(self.services.load_management, session.station_id))
        return {
            "currentTime": wire_time(now),
            "interval": decision.interval_seconds,
            "status": decision.status.value,
        }

    @handles("Heartbeat")
    async def heartbeat(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """G02."""
        now = await self.services.stations.heartbeat(session.station_id)
        return {"currentTime": wire_time(now)}

    @handles("StatusNotification")
    async def status_notification(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        """G01."""
        await self.services.stations.status(
            session.station_id,
            StatusReport(
                key=ConnectorKey(p["evseId"], p["connectorId"]),
                status=ConnectorStatus(p["connectorStatus"]),
                reported_at=timestamp(p, "timestamp"),
            ),
        )
        return {}

    @handles("Authorize")
    async def authorize(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """C01, TC_C_02 / TC_C_06 / TC_C_07; C07 Plug & Charge with a contract certificate."""
        token = IdToken(p["idToken"]["idToken"], p["idToken"].get("type"))
        if "certificate" in p:  # TC_C_52: the contract certificate, validated here
            info, status = await self.services.authorization.authorize_contract(
                token, p["certificate"]
            )
            return {"idTokenInfo": id_token_info(info), "certificateStatus": status.value}
        # With iso15118CertificateHashData only, the station validated the contract itself;
        # its OCSP check needs an OCSP responder this central system does not have.
        info = await self.services.authorization.authorize(token)
        return {"idTokenInfo": id_token_info(info)}

    @handles("TransactionEvent")
    async def transaction_event(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """E01-E15 and J02: Started / Updated / Ended, idempotent by seqNo (TC_E_*)."""
        info = p["transactionInfo"]
        event_type = TransactionEventType(p["eventType"])
        at = timestamp(p, "timestamp")
        sequence = EventSequence(p["seqNo"], p.get("triggerReason"), p.get("offline", False))
        token = id_token(p.get("idToken"))
        key = _key(p.get("evse"))
        values = meter_values(p.get("meterValue", []))
        transactions = self.services.transactions
        result: TransactionResult
        if event_type is TransactionEventType.STARTED:
            result = await transactions.start(
                session.station_id,
                TransactionStart(
                    key=key or UNKNOWN_EVSE,  # TC_J_08: the EVSE comes later
                    started_at=at,
                    id_token=token,
                    transaction_id=info["transactionId"],
                    reservation_id=p.get("reservationId"),
                    remote_start_id=info.get("remoteStartId"),
                    charging_state=info.get("chargingState"),
                    sequence=sequence,
                    samples=values,
                ),
            )
        elif event_type is TransactionEventType.UPDATED:
            result = await transactions.update(
                session.station_id,
                TransactionUpdate(
                    transaction_id=info["transactionId"],
                    timestamp=at,
                    key=key,
                    id_token=token,
                    charging_state=info.get("chargingState"),
                    remote_start_id=info.get("remoteStartId"),
                    sequence=sequence,
                    samples=values,
                ),
            )
        else:
            result = await transactions.stop(
                session.station_id,
                TransactionStop(
                    transaction_id=info["transactionId"],
                    stopped_at=at,
                    reason=info.get("stoppedReason"),
                    id_token=token,
                    key=key,
                    sequence=sequence,
                    samples=values,
                ),
            )
        response: dict[str, Any] = {}
        if token is not None and result.id_token_info is not None:
            response["idTokenInfo"] = id_token_info(result.id_token_info)
        if event_type is TransactionEventType.ENDED and result.transaction is not None:
            cost = await self.services.costs.final_cost(result.transaction)  # TC_I_02
            if cost is not None:
                response["totalCost"] = float(cost.total)
        return response

    @handles("MeterValues")
    async def meter_values(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """J01: meter values outside transactions (evseId 0 is the grid connection)."""
        evse_id = p["evseId"]
        await self.services.transactions.meter_values(
            session.station_id,
            ConnectorKey(evse_id, 0 if evse_id == 0 else 1),
            meter_values(p["meterValue"]),
        )
        return {}

    @handles("DataTransfer")
    async def data_transfer(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """P01, TC_P_02: unknown vendor or message id answered as such."""
        result = await self.services.data_transfer.handle(
            session.station_id, p["vendorId"], p.get("messageId"), p.get("data")
        )
        return drop_none({"status": result.status.value, "data": result.data})

    @handles("SecurityEventNotification")
    async def security_event(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """A04: security events are stored and queryable."""
        await self.services.stations.notification(
            session.station_id, "SecurityEventNotification", p, at=timestamp(p, "timestamp")
        )
        return {}

    @handles("FirmwareStatusNotification")
    async def firmware_status(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """L01-L02, TC_L_01-TC_L_13: always answered; the job with its requestId follows it."""
        await self.services.stations.notification(
            session.station_id, "FirmwareStatusNotification", p, firmware_status=p["status"]
        )
        await self.services.firmware.status_reported(
            session.station_id, p["status"], p.get("requestId")
        )
        return {}

    @handles("LogStatusNotification")
    async def log_status(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """N01, TC_N_25/TC_N_35: the GetLog request with its requestId follows it."""
        await self.services.stations.notification(
            session.station_id, "LogStatusNotification", p, diagnostics_status=p["status"]
        )
        await self.services.log_uploads.status_reported(
            session.station_id, p["status"], p.get("requestId"), diagnostics=False
        )
        return {}

    async def _log_notification(
        self, action: str, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        await self.services.stations.notification(session.station_id, action, p)
        return {}

    @handles("NotifyEvent")
    async def notify_event(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """N07: events of monitored variables; DataLink.SignalStrength events are signal
        readings."""
        await self._log_notification("NotifyEvent", session, p)
        for event in p["eventData"]:
            if _is_signal_strength(event):
                await self._signal(session, event.get("actualValue"), timestamp(event, "timestamp"))
        return {}

    @handles("NotifyReport")
    async def notify_report(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """B07/B08: parts of a device-model report; an Actual DataLink.SignalStrength is a
        signal reading."""
        await self._log_notification("NotifyReport", session, p)
        await self.services.device_model.store_report(  # TC_B_12-18: the stored device model
            session.station_id,
            p["requestId"],
            p["seqNo"],
            reported_variables(p.get("reportData", [])),
        )
        for data in p.get("reportData", []):
            if not _is_signal_strength(data):
                continue
            for attribute in data.get("variableAttribute", []):
                if attribute.get("type", "Actual") == "Actual" and "value" in attribute:
                    await self._signal(session, attribute["value"], timestamp(p, "generatedAt"))
        return {}

    async def _signal(self, session: StationSession, value: Any, at: Any) -> None:
        try:
            dbm = round(float(value))
        except (TypeError, ValueError):
            return  # not a number: kept in the log, nothing to chart
        await self.services.stations.signal(
            session.station_id, SignalReading(at, dbm, quality_for_dbm(dbm))
        )

    @handles("NotifyMonitoringReport")
    async def notify_monitoring_report(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        """N02, TC_N_01-03/47/60: the station's monitors, stored."""
        await self._log_notification("NotifyMonitoringReport", session, p)
        await self.services.device_model.store_monitoring_report(
            session.station_id,
            p["requestId"],
            p["seqNo"],
            reported_monitors(p.get("monitor", [])),
        )
        return {}

    @handles("NotifyChargingLimit")
    async def notify_charging_limit(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        """K12, TC_K_48: an external limit; its schedules are kept as external profiles."""
        await self._log_notification("NotifyChargingLimit", session, p)
        evse_id = p.get("evseId", 0)
        await self.services.smart_charging.external_limit(
            session.station_id,
            evse_id=evse_id,
            limit_source=ChargingLimitSource(p["chargingLimit"]["chargingLimitSource"]),
            profiles=[external_limit_from_wire(s, evse_id) for s in p.get("chargingSchedule", [])],
            grid_critical=p["chargingLimit"].get("isGridCritical"),
        )
        return {}

    @handles("ClearedChargingLimit")
    async def cleared_charging_limit(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        """K13, TC_K_50/51: the external limit no longer applies."""
        await self._log_notification("ClearedChargingLimit", session, p)
        await self.services.smart_charging.external_limit_cleared(
            session.station_id,
            evse_id=p.get("evseId"),
            limit_source=ChargingLimitSource(p["chargingLimitSource"]),
        )
        return {}

    @handles("NotifyCustomerInformation")
    async def notify_customer_information(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._log_notification("NotifyCustomerInformation", session, p)

    @handles("NotifyDisplayMessages")
    async def notify_display_messages(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._log_notification("NotifyDisplayMessages", session, p)

    @handles("ReportChargingProfiles")
    async def report_charging_profiles(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        """K09, TC_K_29-36/52: the profiles a station holds, answering GetChargingProfiles."""
        await self._log_notification("ReportChargingProfiles", session, p)
        await self.services.smart_charging.profiles_reported(
            session.station_id,
            request_id=p["requestId"],
            limit_source=ChargingLimitSource(p["chargingLimitSource"]),
            evse_id=p["evseId"],
            profiles=[profile_from_wire(cp, p["evseId"]) for cp in p["chargingProfile"]],
            more_to_come=p.get("tbc", False),
        )
        return {}

    @handles("NotifyEVChargingNeeds")
    async def notify_ev_charging_needs(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        """K15-K17, TC_K_53/57/59: an ISO 15118 EV's needs; once answered, the EV is offered a
        TxProfile for its transaction."""
        await self._log_notification("NotifyEVChargingNeeds", session, p)
        charging = self.services.smart_charging
        status = await charging.ev_charging_needs(session.station_id, ev_needs_from_wire(p))
        if status == "Accepted":
            session.after_reply(offer_after_reply(charging, session.station_id, p["evseId"]))
        return {"status": status}

    @handles("NotifyEVChargingSchedule")
    async def notify_ev_charging_schedule(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        """K15, TC_K_53/55: the EV's schedule; one above what was offered is rejected and the
        offer is sent again (renegotiation)."""
        await self._log_notification("NotifyEVChargingSchedule", session, p)
        charging = self.services.smart_charging
        periods, unit = ev_schedule_from_wire(p)
        status = await charging.ev_charging_schedule(session.station_id, p["evseId"], periods, unit)
        if status == "Rejected":
            session.after_reply(offer_after_reply(charging, session.station_id, p["evseId"]))
        return {"status": status}

    @handles("ReservationStatusUpdate")
    async def reservation_status_update(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        """H03/H04, TC_H_07 / TC_H_20: the station ended a reservation (Expired, Removed)."""
        await self._log_notification("ReservationStatusUpdate", session, p)
        await self.services.station_reservations.station_update(
            session.station_id, p["reservationId"], p["reservationUpdateStatus"]
        )
        return {}

    @handles("PublishFirmwareStatusNotification")
    async def publish_firmware_status(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._log_notification("PublishFirmwareStatusNotification", session, p)

    @handles("SignCertificate")
    async def sign_certificate(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """A02/A03, TC_A_11-14: review the CSR and answer; the signed certificate follows as
        CertificateSigned once the answer is sent."""
        certificates = self.services.certificates
        reason = await certificates.review(session.station_id, p["csr"])
        if reason is not None:
            return {
                "status": "Rejected",
                "statusInfo": {"reasonCode": "InvalidCSR", "additionalInfo": reason[:512]},
            }
        # absent: one certificate for both OCPP and ISO 15118 (combined, TC_A_13)
        certificate_type = p.get("certificateType")

        async def send_certificate(connection: OcppConnection) -> None:
            issued = await certificates.issue(
                session.station_id, p["csr"], certificate_type or "CombinedCertificate"
            )
            answer = await connection.call(
                "CertificateSigned",
                drop_none(
                    {
                        "certificateChain": issued.certificate_chain_pem,
                        "certificateType": certificate_type,
                    }
                ),
            )
            await certificates.delivered(session.station_id, issued, answer.get("status"))

        session.after_reply(send_certificate)
        return {"status": "Accepted"}
