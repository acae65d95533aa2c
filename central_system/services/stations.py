"""Station registry, connection admission, boot, heartbeat, status and notifications."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from central_system.domain.connectors import (
    ConnectorKey,
    ConnectorState,
    StatusReport,
    apply_status,
)
from central_system.domain.data_transfer import DataTransferResult, DataTransferStatus
from central_system.domain.events import (
    ConnectorStatusChanged,
    DomainEvent,
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
    offers_more_than,
    validate_station_id,
)
from central_system.services.message_writes import (
    MessageWrite,
    MessageWriter,
    StationSeen,
    StatusRows,
)
from central_system.services.ports import Clock, PasswordHasher, UnitOfWorkFactory
from central_system.services.presence import PresenceWriter
from central_system.services.security import admit_with_upgrade, changing_password_hash
from central_system.services.station_directory import (
    REGISTRY_CHANGED,
    StationAccess,
    StationDirectory,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What a connection attempt presents before the websocket upgrade."""

    username: str | None
    password: str | None
    over_tls: bool
    certificate_subject: tuple[str, str | None] | None
    cpo_name: str | None


class ConnectorStates:
    """The connectors of the stations connected to this process, as last committed here; a
    station's are dropped when it connects or disconnects (another process may have served it
    in between) and when a write fails."""

    def __init__(self) -> None:
        self._by_station: dict[str, dict[ConnectorKey, ConnectorState]] = {}

    def get(self, station_id: str) -> dict[ConnectorKey, ConnectorState] | None:
        return self._by_station.get(station_id)

    def put(
        self, station_id: str, states: list[ConnectorState]
    ) -> dict[ConnectorKey, ConnectorState]:
        by_key = {state.key: state for state in states}
        self._by_station[station_id] = by_key
        return by_key

    def forget(self, station_id: str) -> None:
        self._by_station.pop(station_id, None)

    EVENT_KINDS = (StationConnected, StationDisconnected)

    def on_events(self, events: Iterable[DomainEvent]) -> None:
        """Event-bus subscriber (EVENT_KINDS): a station (re)connecting or leaving starts
        afresh."""
        for event in events:
            if isinstance(event, self.EVENT_KINDS):
                self.forget(event.station_id)


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
        writer: MessageWriter,
        directory: StationDirectory,
        presence: PresenceWriter,
    ) -> None:
        self._uow = uow
        self._directory = directory
        self._presence = presence
        self._writer = writer
        self.connector_states = ConnectorStates()
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
        return await self._save_registration(
            station_id, password_hash, security_profile, registration_status, feed=True
        )

    async def _save_registration(
        self,
        station_id: str,
        password_hash: str | None,
        security_profile: SecurityProfile,
        registration_status: RegistrationStatus,
        *,
        feed: bool,
    ) -> StationRecord:
        """Add or change the registry entry; `feed`: with a RegistryChanged entry in the station
        log, which tells other processes' station directories (not needed for a station
        registered at its first connection: no directory can hold a station that was not
        registered)."""
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
            if feed:
                await uow.station_log.add(
                    station_id,
                    REGISTRY_CHANGED,
                    self._clock.now(),
                    {
                        "registrationStatus": registration_status.value,
                        "securityProfile": int(security_profile),
                        "password": password_hash is not None,
                    },
                )
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
        the TLS layer already verified against the configured CA.

        A station the directory holds is admitted without a database round trip. A refusal, an
        unknown station, and a connection that may complete a profile upgrade are decided on
        what the database holds now."""
        attempt = _Attempt(username, password, over_tls, certificate_subject, cpo_name)
        cached = self._directory.cached(station_id)
        refused_hash = None
        if cached is not None:
            credentials = await self._credentials(station_id, cached, attempt)
            if not offers_more_than(cached.security_profile, credentials):
                record = cached.record(station_id)
                if admit(station_id, record, credentials, auto_register=False) is Admission.ACCEPT:
                    return Admission.ACCEPT
            if not credentials.password_ok:
                refused_hash = cached.password_hash
        access = await self._directory.load(station_id)
        credentials = await self._credentials(
            station_id, access, attempt, fresh=True, refused_hash=refused_hash
        )
        decision = admit(
            station_id,
            access.record(station_id) if access is not None else None,
            credentials,
            auto_register=self._auto_register,
        )
        if access is not None and offers_more_than(access.security_profile, credentials):
            # connecting with a profile it was asked to move to (TC_083)
            async with self._uow() as uow:
                full = await uow.stations.get(station_id)
                if full is not None and await admit_with_upgrade(
                    uow, self._clock.now(), full, credentials
                ):
                    decision = Admission.ACCEPT
        if decision is Admission.UNAUTHORIZED and access is not None:
            await self.notification(
                station_id,
                "CsmsSecurityEvent",
                {
                    "type": "FailedToAuthenticate",
                    "profile": int(access.security_profile),
                    "overTls": over_tls,
                    "certificate": certificate_subject is not None,
                },
            )
        if decision is Admission.REGISTER_AND_ACCEPT:
            log.warning("auto-registering unknown station %s (EVCHARGE_AUTO_REGISTER)", station_id)
            await self._save_registration(
                station_id, None, SecurityProfile.NONE, RegistrationStatus.ACCEPTED, feed=False
            )
        return decision

    async def _credentials(
        self,
        station_id: str,
        access: StationAccess | None,
        attempt: _Attempt,
        *,
        fresh: bool = False,
        refused_hash: str | None = None,
    ) -> Credentials:
        """What the attempt proves against the station's registry data. `fresh`: the data was
        just read (a password being changed is accepted too, TC_073/TC_A_09); `refused_hash`:
        a hash the password is already known not to match (no second argon2 run)."""
        subject = attempt.certificate_subject
        client_certificate_ok = subject is not None and certificate_identifies(
            station_id,
            common_name=subject[0],
            organization=subject[1],
            serial_number=access.serial_number if access is not None else None,
            cpo_name=attempt.cpo_name,
        )
        password_ok = False
        password = attempt.password
        if (
            access is not None
            and access.password_hash is not None
            and password is not None
            and attempt.username == station_id
        ):
            if access.password_hash != refused_hash:
                password_ok = await self._hasher.verify(access.password_hash, password)
            if not password_ok and fresh:  # the new one of a change in flight
                async with self._uow() as uow:
                    changing = await changing_password_hash(uow, station_id)
                if changing is not None:
                    password_ok = await self._hasher.verify(changing, password)
        return Credentials(attempt.username, password_ok, attempt.over_tls, client_certificate_ok)

    async def boot_accepted(self, station_id: str) -> bool:
        """Whether the station's last BootNotification was accepted (2.0.1 B02.FR.xx). A "no"
        is read again from the database: the station may have booted through another process."""
        access = self._directory.cached(station_id)
        if access is None or not access.boot_accepted:
            access = await self._directory.load(station_id)
        return access is not None and access.boot_accepted

    async def connected(self, station_id: str, ocpp_version: str) -> datetime:
        """Record a new connection of the station; returns its time once it is committed (in a
        batch with the other stations', with its StationConnected event)."""
        return await self._presence.connected(station_id, ocpp_version)

    def disconnected(self, station_id: str, since: datetime) -> None:
        """Record the end of the connection recorded at `since` (written in the next batch)."""
        self._presence.disconnected(station_id, since)

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
        self._directory.remember(
            station_id,
            StationAccess(
                security_profile=record.security_profile,
                password_hash=record.password_hash,
                serial_number=info.serial_number,
                boot_accepted=decision.status is RegistrationStatus.ACCEPTED,
            ),
        )
        return decision, now

    async def heartbeat(self, station_id: str) -> datetime:
        """Heartbeat: remember the station is alive and give it the time (clock sync). The
        last-seen time is written in the next group commit."""
        now = self._clock.now()
        await self._writer.write(MessageWrite(seen=StationSeen(station_id, now)))
        return now

    async def status(self, station_id: str, report: StatusReport) -> ConnectorState | None:
        """StatusNotification: keep the history, update the connector unless the report is older
        than what we know (a replay after an outage). Written in the next group commit; the
        connectors of a connected station are kept in memory (`connector_states`)."""
        states = await self._connector_states(station_id)
        current = states.get(report.key)
        new_state = apply_status(current, report)
        events: tuple[ConnectorStatusChanged, ...] = ()
        if new_state is not None:
            states[report.key] = new_state
            if current is None or (current.status, current.error_code) != (
                new_state.status,
                new_state.error_code,
            ):
                events = (ConnectorStatusChanged(station_id, new_state),)
        try:
            await self._writer.write(
                MessageWrite(status=StatusRows(station_id, report, new_state), events=events)
            )
        except BaseException:
            self.connector_states.forget(station_id)
            raise
        return new_state

    async def _connector_states(self, station_id: str) -> dict[ConnectorKey, ConnectorState]:
        states = self.connector_states.get(station_id)
        if states is None:
            async with self._uow.reading() as uow:
                stored = await uow.connectors.list(station_id)
            states = self.connector_states.put(station_id, stored)
        return states

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
