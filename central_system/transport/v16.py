"""OCPP 1.6J station-initiated messages, translated into version-neutral service calls.

Core profile (BootNotification, Heartbeat, StatusNotification, Authorize, Start/StopTransaction,
MeterValues, DataTransfer), Firmware Management notifications, and the notifications of the 1.6
security extension. A 1.6 connector N is EVSE N, connector 1; connector 0 is the station.
"""

from __future__ import annotations

from typing import Any

from central_system.domain.authorization import AuthorizationStatus, IdToken, IdTokenInfo
from central_system.domain.connectors import ConnectorKey, ConnectorStatus, StatusReport
from central_system.domain.metering import MeterSample, merge_signed, sampled_value
from central_system.domain.stations import BootInfo
from central_system.domain.transactions import ocpp16_start_key
from central_system.services.transactions import TransactionStart, TransactionStop
from central_system.transport.connection import OcppConnection, StationSession
from central_system.transport.handlers import HandlerSet, drop_none, handles, timestamp, wire_time
from central_system.transport.ocppj import ErrorKind, RpcError
from central_system.transport.smart_charging import after_boot

_STATUSES_16 = frozenset(
    {
        AuthorizationStatus.ACCEPTED,
        AuthorizationStatus.BLOCKED,
        AuthorizationStatus.EXPIRED,
        AuthorizationStatus.INVALID,
        AuthorizationStatus.CONCURRENT_TX,
    }
)


def id_tag_info(info: IdTokenInfo) -> dict[str, Any]:
    """IdTagInfo; statuses 1.6 does not have (Unknown, NoCredit, ...) are Invalid."""
    status = info.status if info.status in _STATUSES_16 else AuthorizationStatus.INVALID
    return drop_none(
        {
            "status": status.value,
            "expiryDate": wire_time(info.expires_at) if info.expires_at else None,
            "parentIdTag": info.group_id,
        }
    )


def meter_values(payload: list[dict[str, Any]]) -> list[MeterSample]:
    """The normalised sampled values of a meterValue/transactionData list (J01)."""
    samples: list[MeterSample] = []
    for mv in payload:
        at = timestamp(mv, "timestamp")
        samples += [
            sampled_value(  # positional: 9 per message, and keywords cost a third more
                at,
                sv["value"],
                sv.get("measurand"),
                sv.get("unit"),
                0,  # multiplier: 2.0.1 only
                sv.get("phase"),
                sv.get("location"),
                sv.get("context"),
                sv.get("format"),
            )
            for sv in mv["sampledValue"]
        ]
    return merge_signed(samples)


class Ocpp16Handlers(HandlerSet):
    @handles("BootNotification")
    async def boot_notification(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """TC_001_CSMS cold boot: Accepted / Pending / Rejected with interval."""
        info = BootInfo(
            vendor=p["chargePointVendor"],
            model=p["chargePointModel"],
            serial_number=p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
            firmware_version=p.get("firmwareVersion"),
            iccid=p.get("iccid"),
            imsi=p.get("imsi"),
            meter_type=p.get("meterType"),
            meter_serial_number=p.get("meterSerialNumber"),
        )
        decision, now = await self.services.stations.boot(session.station_id, info)
        session.boot_accepted = decision.status.value == "Accepted"
        if session.boot_accepted:
            session.after_reply(after_boot(self.services.load_management, session.station_id))
        return {
            "status": decision.status.value,
            "currentTime": wire_time(now),
            "interval": decision.interval_seconds,
        }

    @handles("Heartbeat")
    async def heartbeat(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        now = await self.services.stations.heartbeat(session.station_id)
        return {"currentTime": wire_time(now)}

    @handles("StatusNotification")
    async def status_notification(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        await self.services.stations.status(
            session.station_id,
            StatusReport(
                key=ConnectorKey.from_ocpp16(p["connectorId"]),
                status=ConnectorStatus(p["status"]),
                reported_at=timestamp(p, "timestamp", self.services.stations.now()),
                error_code=p["errorCode"],
                info=p.get("info"),
                vendor_error_code=p.get("vendorErrorCode"),
            ),
        )
        return {}

    @handles("Authorize")
    async def authorize(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """TC_023_1/2/3: Invalid, Expired, Blocked answered as such."""
        info = await self.services.authorization.authorize(IdToken(p["idTag"]))
        return {"idTagInfo": id_tag_info(info)}

    @handles("StartTransaction")
    async def start_transaction(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """TC_003/TC_004_1: a new transaction id; a replay gets the same id (TC_039)."""
        started_at = timestamp(p, "timestamp")
        result = await self.services.transactions.start(
            session.station_id,
            TransactionStart(
                key=ConnectorKey.from_ocpp16(p["connectorId"]),
                started_at=started_at,
                id_token=IdToken(p["idTag"]),
                meter_start_wh=p["meterStart"],
                start_key=ocpp16_start_key(
                    p["connectorId"], p["idTag"], started_at, p["meterStart"]
                ),
                reservation_id=p.get("reservationId"),
            ),
        )
        if result.transaction is None or result.id_token_info is None:
            raise RpcError(ErrorKind.INTERNAL, "the transaction could not be started")
        return {
            "transactionId": int(result.transaction.transaction_id),
            "idTagInfo": id_tag_info(result.id_token_info),
        }

    @handles("StopTransaction")
    async def stop_transaction(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """TC_003/TC_012: ends the transaction with its transactionData; a replay changes
        nothing (TC_039)."""
        id_tag = p.get("idTag")
        result = await self.services.transactions.stop(
            session.station_id,
            TransactionStop(
                transaction_id=str(p["transactionId"]),
                stopped_at=timestamp(p, "timestamp"),
                meter_stop_wh=p["meterStop"],
                reason=p.get("reason"),
                id_token=IdToken(id_tag) if id_tag else None,
                samples=meter_values(p.get("transactionData", [])),
            ),
        )
        if result.id_token_info is None:
            return {}
        return {"idTagInfo": id_tag_info(result.id_token_info)}

    @handles("MeterValues")
    async def meter_values(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        transaction_id = p.get("transactionId")
        await self.services.transactions.meter_values(
            session.station_id,
            ConnectorKey.from_ocpp16(p["connectorId"]),
            meter_values(p["meterValue"]),
            str(transaction_id) if transaction_id is not None else None,
        )
        return {}

    @handles("DataTransfer")
    async def data_transfer(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """TC_064: vendor routing; unknown vendor answered UnknownVendorId."""
        result = await self.services.data_transfer.handle(
            session.station_id, p["vendorId"], p.get("messageId"), p.get("data")
        )
        return drop_none({"status": result.status.value, "data": result.data})

    @handles("DiagnosticsStatusNotification")
    async def diagnostics_status(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        """TC_045_1/TC_045_2: always answered; the GetDiagnostics request follows it."""
        await self.services.stations.notification(
            session.station_id, "DiagnosticsStatusNotification", p, diagnostics_status=p["status"]
        )
        await self.services.log_uploads.status_reported(
            session.station_id, p["status"], None, diagnostics=True
        )
        return {}

    @handles("FirmwareStatusNotification")
    async def firmware_status(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """TC_044_1-3: every FirmwareStatusNotification gets a real answer; the station's
        current firmware job follows it."""
        await self.services.stations.notification(
            session.station_id, "FirmwareStatusNotification", p, firmware_status=p["status"]
        )
        await self.services.firmware.status_reported(session.station_id, p["status"], None)
        return {}

    @handles("SecurityEventNotification")
    async def security_event(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """Security extension: stored in the station log (TC_077, TC_078)."""
        await self.services.stations.notification(
            session.station_id, "SecurityEventNotification", p, at=timestamp(p, "timestamp")
        )
        return {}

    @handles("LogStatusNotification")
    async def log_status(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """Security extension GetLog (TC_079): the request with its requestId follows it."""
        await self.services.stations.notification(
            session.station_id, "LogStatusNotification", p, diagnostics_status=p["status"]
        )
        await self.services.log_uploads.status_reported(
            session.station_id, p["status"], p.get("requestId"), diagnostics=False
        )
        return {}

    @handles("SignedFirmwareStatusNotification")
    async def signed_firmware_status(
        self, session: StationSession, p: dict[str, Any]
    ) -> dict[str, Any]:
        """Security extension SignedUpdateFirmware (TC_080/TC_081): the job follows it."""
        await self.services.stations.notification(
            session.station_id, "SignedFirmwareStatusNotification", p, firmware_status=p["status"]
        )
        await self.services.firmware.status_reported(
            session.station_id, p["status"], p.get("requestId")
        )
        return {}

    @handles("SignCertificate")
    async def sign_certificate(self, session: StationSession, p: dict[str, Any]) -> dict[str, Any]:
        """Security extension A02/A03, TC_074_CSMS: review the CSR and answer; the signed
        certificate follows as CertificateSigned once the answer is sent."""
        certificates = self.services.certificates
        reason = await certificates.review(session.station_id, p["csr"])
        if reason is not None:
            return {"status": "Rejected"}

        async def send_certificate(connection: OcppConnection) -> None:
            issued = await certificates.issue(
                session.station_id, p["csr"], "ChargePointCertificate"
            )
            answer = await connection.call(
                "CertificateSigned", {"certificateChain": issued.certificate_chain_pem}
            )
            await certificates.delivered(session.station_id, issued, answer.get("status"))

        session.after_reply(send_certificate)
        return {"status": "Accepted"}
