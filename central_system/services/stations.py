"""Station registry, connection admission, boot, heartbeat, status and notifications."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from central_system.domain.connectors import ConnectorState, StatusReport, apply_status
from central_system.domain.data_transfer import DataTransferResult, DataTransferStatus
from central_system.domain.events import (
    ConnectorStatusChanged,
    SignalStrengthReported,
    StationConnected,
    StationDisconnected,
)
from central_system.domain.signal import SignalReading, reading_from_report
from central_system.domain.stations import (
    Admission,
    BootDecision,
    BootInfo,
    Credentials,
    RegistrationStatus,
    SecurityProfile,
    StationRecord,
    admit,
    certificate_identifies,
    decide_boot,
    validate_station_id,
)
from central_system.services.ports import Clock, PasswordHasher, UnitOfWorkFactory
from central_system.services.security import admit_with_upgrade, changing_password_hash

log = logging.getLogger(__name__)


class StationService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        *,
        heartbeat_interval: int,
        boot_retry_interval: int,
        auto_register: bool,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._heartbeat_interval = heartbeat_interval
        self._boot_retry_interval = boot_retry_interval
        self._auto_register = auto_register

    def now(self) -> datetime:
        return self._clock.now()

    async def register(
        self,
        station_id: str,
        *,
        password: str | None = None,
        security_profile: SecurityProfile | None = None,
        registration_status: RegistrationStatus = RegistrationStatus.ACCEPTED,
    ) -> StationRecord:
        """Add a station to the registry or update its credentials (evcharge stations add).

        Without an explicit profile, a station with a password uses profile 1 (Basic auth)
        and one without uses profile 0 (no authentication, trusted networks only).
        """
        validate_station_id(station_id)
        if security_profile is None:
            security_profile = SecurityProfile.BASIC_AUTH if password else SecurityProfile.NONE
        if security_profile.uses_password and not password:
            raise ValueError(f"security profile {int(security_profile)} needs a password")
        password_hash = self._hasher.hash(password) if password else None
        async with self._uow() as uow:
            existing = await uow.stations.get(station_id)
            if existing is None:
                record = StationRecord(
                    id=station_id,
                    registration_status=registration_status,
                    security_profile=security_profile,
                    password_hash=password_hash,
                )
                await uow.stations.add(record)
            else:
                record = replace(
                    existing,
                    registration_status=registration_status,
                    security_profile=security_profile,
                    password_hash=password_hash,
                )
                await uow.stations.save(record)
            await uow.commit()
        return record

    async def admit(
        self,
        station_id: str,
        *,
        username: str | None,
        password: str | None,
        over_tls: bool = False,
        certificate_subject: tuple[str, str | None] | None = None,
        cpo_name: str | None = None,
    ) -> Admission:
        """Decide a websocket upgrade request before it is upgraded (A00, TC_085, TC_A_01-03,
        TC_086/087, TC_A_04/07/08). `certificate_subject` is the (CN, O) of a client certificate
        the TLS layer already verified against the configured CA."""
        async with self._uow() as uow:
            record = await uow.stations.get(station_id)
        client_certificate_ok = certificate_subject is not None and certificate_identifies(
            station_id,
            common_name=certificate_subject[0],
            organization=certificate_subject[1],
            serial_number=record.boot_info.serial_number if record and record.boot_info else None,
            cpo_name=cpo_name,
        )
        password_ok = False
        if (
            record is not None
            and record.password_hash is not None
            and password is not None
            and username == station_id
        ):
            password_ok = await self._hasher.verify(record.password_hash, password)
            if not password_ok:  # the new one of a change in flight (TC_073, TC_A_09)
                async with self._uow() as uow:
                    changing = await changing_password_hash(uow, station_id)
                if changing is not None:
                    password_ok = await self._hasher.verify(changing, password)
        credentials = Credentials(username, password_ok, over_tls, client_certificate_ok)
        decision = admit(station_id, record, credentials, auto_register=self._auto_register)
        if record is not None:  # connecting with a profile it was asked to move to (TC_083)
            async with self._uow() as uow:
                if await admit_with_upgrade(uow, self._clock.now(), record, credentials):
                    decision = Admission.ACCEPT
        if decision is Admission.UNAUTHORIZED and record is not None:
            await self.notification(
                station_id,
                "CsmsSecurityEvent",
                {
                    "type": "FailedToAuthenticate",
                    "profile": int(record.security_profile),
                    "overTls": over_tls,
                    "certificate": certificate_subject is not None,
                },
            )
        if decision is Admission.REGISTER_AND_ACCEPT:
            log.warning("auto-registering unknown station %s (EVCHARGE_AUTO_REGISTER)", station_id)
            await self.register(station_id)
        return decision

    async def boot_accepted(self, station_id: str) -> bool:
        """Whether the station's last BootNotification was accepted (2.0.1 B02.FR.xx)."""
        async with self._uow() as uow:
            record = await uow.stations.get(station_id)
        return record is not None and record.boot_status is RegistrationStatus.ACCEPTED

    async def connected(self, station_id: str, ocpp_version: str) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.stations.get(station_id)
            if record is None:
                return
            await uow.stations.save(
                replace(record, connected=True, ocpp_version=ocpp_version, last_connected_at=now)
            )
            uow.record(StationConnected(station_id, ocpp_version, now))
            await uow.commit()

    async def disconnected(self, station_id: str) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.stations.get(station_id)
            if record is None:
                return
            await uow.stations.save(replace(record, connected=False, last_disconnected_at=now))
            uow.record(StationDisconnected(station_id, now))
            await uow.commit()

    async def boot(self, station_id: str, info: BootInfo) -> tuple[BootDecision, datetime]:
        """BootNotification (TC_001, TC_B_01, TC_B_02): store what the station is, answer with
        the operator's registration decision and the current time."""
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.stations.get(station_id)
            if record is None:  # deleted from the registry while connected
                record = StationRecord(
                    id=station_id, registration_status=RegistrationStatus.REJECTED
                )
                decision = decide_boot(
                    RegistrationStatus.REJECTED,
                    heartbeat_interval=self._heartbeat_interval,
                    retry_interval=self._boot_retry_interval,
                )
                return decision, now
            decision = decide_boot(
                record.registration_status,
                heartbeat_interval=self._heartbeat_interval,
                retry_interval=self._boot_retry_interval,
            )
            await uow.stations.save(
                replace(
                    record,
                    boot_status=decision.status,
                    boot_info=info,
                    last_boot_at=now,
                    last_heartbeat_at=now,
                )
            )
            await uow.commit()
        return decision, now

    async def heartbeat(self, station_id: str) -> datetime:
        """Heartbeat: remember the station is alive and give it the time (clock sync)."""
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.stations.get(station_id)
            if record is not None:
                await uow.stations.save(replace(record, last_heartbeat_at=now))
                await uow.commit()
        return now

    async def status(self, station_id: str, report: StatusReport) -> ConnectorState | None:
        """StatusNotification: keep the history, update the connector unless the report is older
        than what we know (a replay after an outage)."""
        async with self._uow() as uow:
            await uow.connectors.add_history(station_id, report)
            current = await uow.connectors.get(station_id, report.key)
            new_state = apply_status(current, report)
            if new_state is not None:
                await uow.connectors.save(station_id, new_state)
                if current is None or (current.status, current.error_code) != (
                    new_state.status,
                    new_state.error_code,
                ):
                    uow.record(ConnectorStatusChanged(station_id, new_state))
            await uow.commit()
        return new_state

    async def signal(self, station_id: str, reading: SignalReading) -> None:
        """A modem signal reading: kept in the station log (kind SignalStrength) and published."""
        async with self._uow() as uow:
            await uow.station_log.add(
                station_id,
                "SignalStrength",
                reading.at,
                {
                    "rssiDbm": reading.rssi_dbm,
                    "quality": reading.quality.value,
                    "csq": reading.csq,
                    "ber": reading.ber,
                },
            )
            uow.record(SignalStrengthReported(station_id, reading))
            await uow.commit()

    async def signal_report(self, station_id: str, data: Any) -> DataTransferResult:
        """DataTransfer org.evcharge/SignalStrength (1.6): `data` is the reading as JSON."""
        try:
            parsed = json.loads(data) if isinstance(data, str) else data
            if not isinstance(parsed, dict):
                raise ValueError("the data is not a JSON object")
            reading = reading_from_report(parsed, self._clock.now())
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"bad SignalStrength report: {error}") from None
        await self.signal(station_id, reading)
        return DataTransferResult(DataTransferStatus.ACCEPTED)

    async def connectors(self, station_id: str) -> list[ConnectorState]:
        async with self._uow() as uow:
            return await uow.connectors.list(station_id)

    async def get(self, station_id: str) -> StationRecord | None:
        async with self._uow() as uow:
            return await uow.stations.get(station_id)

    async def notification(
        self,
        station_id: str,
        kind: str,
        data: dict[str, Any],
        *,
        at: datetime | None = None,
        firmware_status: str | None = None,
        diagnostics_status: str | None = None,
    ) -> None:
        """Store a notification (FirmwareStatus, DiagnosticsStatus, LogStatus, SecurityEvent,
        NotifyEvent, NotifyReport ...) in the station log; firmware and diagnostics status are
        also kept on the station for a quick look (TC_044, TC_045)."""
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.station_log.add(station_id, kind, at or now, data)
            if firmware_status is not None or diagnostics_status is not None:
                record = await uow.stations.get(station_id)
                if record is not None:
                    await uow.stations.save(
                        replace(
                            record,
                            firmware_status=firmware_status or record.firmware_status,
                            diagnostics_status=diagnostics_status or record.diagnostics_status,
                        )
                    )
            await uow.commit()
