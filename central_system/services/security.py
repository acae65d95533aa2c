"""Security flows on a connected station (block A and the 1.6 security whitepaper): a new
Basic-auth password (TC_073, TC_A_09/TC_A_10), a higher security profile (TC_083, TC_A_19),
installing, listing and deleting certificates (TC_075_1/2, TC_076, TC_M_01-TC_M_21), certificate
renewal, and the security events stations and the central system record (TC_077, TC_078).

Security events are kept in the station log: the station's SecurityEventNotification and the
central system's own CsmsSecurityEvent (refused connections, password and profile changes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from central_system.domain.certificates import renewal_due
from central_system.domain.clock import parse_timestamp
from central_system.domain.security_flows import (
    INSTALLABLE,
    CertificateHashData,
    CertificateUse,
    ProfileUpgrade,
    UpgradeState,
    new_priority,
    next_configuration_slot,
    password_from_entropy,
    pending_upgrade,
    upgrade_problem,
)
from central_system.domain.stations import (
    Admission,
    Credentials,
    SecurityProfile,
    StationRecord,
    admit,
)
from central_system.services.errors import Conflict, InvalidRequest, NotFound
from central_system.services.maintenance_ports import SecurityControl, StationLogEntry
from central_system.services.ports import (
    Clock,
    CommandOutcome,
    Page,
    PasswordHasher,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)

SECURITY_EVENT = "SecurityEventNotification"  # sent by stations
CSMS_SECURITY_EVENT = "CsmsSecurityEvent"  # recorded by the central system
SECURITY_EVENT_KINDS = (SECURITY_EVENT, CSMS_SECURITY_EVENT)
PROFILE_UPGRADE = "SecurityProfileUpgrade"
PASSWORD_CHANGE = "BasicAuthPasswordChange"  # a new password sent, the answer awaited
CERTIFICATE_ISSUED = "CertificateIssued"  # services.certificates writes these
CERTIFICATE_INSTALLED = "CertificateInstalled"
CERTIFICATE_DELETED = "CertificateDeleted"
_ACCEPTED_PASSWORD = frozenset({"Accepted", "RebootRequired"})


class Entropy(Protocol):
    def random_bytes(self, count: int) -> bytes: ...


class CertificateReader(Protocol):
    def check_certificate(self, pem: str) -> datetime:
        """The certificate's end of validity; ValueError when the text is no PEM certificate."""
        ...

    def hash_data(self, pem: str, issuer_pem: str | None = None) -> CertificateHashData:
        """OCPP CertificateHashData of a certificate (its issuer's PEM unless it is a root);
        ValueError for text that is no certificate or an issuer that did not issue it."""
        ...


async def admit_with_upgrade(
    uow: UnitOfWork,
    now: datetime,
    record: StationRecord,
    credentials: Credentials,
) -> bool:
    """Whether the connection completes a pending security-profile upgrade (TC_083, TC_A_19):
    it satisfies the new profile, which the registry then keeps. Runs in the admission's unit of
    work; commits when it upgrades."""
    entries = await uow.station_events.of_kind(record.id, PROFILE_UPGRADE)
    target = pending_upgrade(ProfileUpgrade.from_data(e.data) for e in entries)
    if target is None:
        return False
    upgraded = replace(record, security_profile=target)
    if admit(record.id, upgraded, credentials, auto_register=False) is not Admission.ACCEPT:
        return False
    await uow.stations.save(upgraded)
    await uow.station_log.add(
        record.id, PROFILE_UPGRADE, now, ProfileUpgrade(target, UpgradeState.COMPLETED).as_data()
    )
    await uow.station_log.add(
        record.id,
        CSMS_SECURITY_EVENT,
        now,
        {
            "type": "SecurityProfileChanged",
            "from": int(record.security_profile),
            "to": int(target),
        },
    )
    await uow.commit()
    log.info("%s: now connects with security profile %d", record.id, int(target))
    return True


async def changing_password_hash(uow: UnitOfWork, station_id: str) -> str | None:
    """The hash of a password sent to the station whose answer is still awaited. A station
    that accepted it may reconnect with it before the central system has read its answer
    (TC_073, TC_A_09): admission accepts this password as well until then."""
    entries = await uow.station_events.of_kind(station_id, PASSWORD_CHANGE)
    if not entries or entries[-1].data.get("state") != "sent":
        return None
    found = entries[-1].data.get("hash")
    return str(found) if found else None


class SecurityService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        control: SecurityControl,
        entropy: Entropy,
        certificates: CertificateReader,
        *,
        tls_available: bool,
        client_ca_available: bool,
        csms_url: Callable[[], str | None],
        message_timeout: int = 30,
        renew_before: timedelta | None = None,
    ) -> None:
        """`csms_url()` is the wss:// URL stations use for profiles 2 and 3 (SetNetworkProfile)."""
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._control = control
        self._entropy = entropy
        self._certificates = certificates
        self._tls_available = tls_available
        self._client_ca_available = client_ca_available
        self._csms_url = csms_url
        self._message_timeout = message_timeout
        self._renew_before = renew_before

    async def _station(self, station_id: str) -> StationRecord:
        async with self._uow() as uow:
            record = await uow.stations.get(station_id)
        if record is None:
            raise NotFound(f"no station {station_id}")
        return record

    def _is_16(self, station_id: str) -> bool:
        return self._control.ocpp_version(station_id) == "1.6"

    async def _event(self, station_id: str, kind: str, data: dict[str, Any]) -> None:
        async with self._uow() as uow:
            await uow.station_log.add(station_id, kind, self._clock.now(), data)
            await uow.commit()

    # --- password (A01, TC_073, TC_A_09, TC_A_10) ----------------------------------------------

    async def rotate_password(self, station_id: str) -> CommandOutcome:
        """Send the station a new random Basic-auth password; the registry takes it only when
        the station accepted it (Rejected keeps the old one). The password is never returned."""
        record = await self._station(station_id)
        if not record.security_profile.uses_password:
            raise Conflict(
                f"the station uses security profile {int(record.security_profile)}, "
                "which has no password"
            )
        password = password_from_entropy(self._entropy.random_bytes(32))
        password_hash = self._hasher.hash(password)
        await self._event(station_id, PASSWORD_CHANGE, {"state": "sent", "hash": password_hash})
        try:
            outcome = await self._control.set_password(station_id, password)
        except Exception:
            await self._event(station_id, PASSWORD_CHANGE, {"state": "failed"})
            raise
        accepted = outcome.status in _ACCEPTED_PASSWORD
        async with self._uow() as uow:
            if accepted:
                current = await uow.stations.get(station_id)
                if current is not None:
                    await uow.stations.save(replace(current, password_hash=password_hash))
            now = self._clock.now()
            await uow.station_log.add(
                station_id, PASSWORD_CHANGE, now, {"state": "accepted" if accepted else "refused"}
            )
            await uow.station_log.add(
                station_id,
                CSMS_SECURITY_EVENT,
                now,
                {
                    "type": "BasicAuthPasswordChanged" if accepted else "BasicAuthPasswordKept",
                    "stationAnswer": outcome.status,
                },
            )
            await uow.commit()
        return outcome

    # --- security profile (A05, TC_083, TC_A_19) -----------------------------------------------

    async def upgrade_profile(
        self,
        station_id: str,
        target: SecurityProfile,
        *,
        csms_url: str | None = None,
        configuration_slot: int | None = None,
    ) -> list[tuple[str, CommandOutcome]]:
        """Move the station to a higher security profile. 1.6: ChangeConfiguration
        SecurityProfile. 2.x: SetNetworkProfile in a free slot, NetworkConfigurationPriority
        with it first, then Reset OnIdle. The registry switches to the new profile when the
        station connects with it; until then the old profile still connects (its fallback).
        Returns each step's answer; stops at the first refused step."""
        record = await self._station(station_id)
        problem = upgrade_problem(
            record.security_profile,
            target,
            has_password=record.password_hash is not None,
            tls_available=self._tls_available,
            client_ca_available=self._client_ca_available,
        )
        if problem is not None:
            raise Conflict(problem, problem="security-profile-upgrade")
        url = csms_url or self._csms_url()
        if not self._is_16(station_id) and url is None:
            raise InvalidRequest("no wss:// address of the central system is known: give one")
        await self._record_upgrade(station_id, target, UpgradeState.PENDING)
        steps: list[tuple[str, CommandOutcome]] = []
        try:
            if self._is_16(station_id):
                outcome = await self._control.set_security_profile_16(station_id, int(target))
                steps.append(("ChangeConfiguration", outcome))
            else:
                assert url is not None
                await self._upgrade_201(station_id, target, url, configuration_slot, steps)
        except Exception:
            await self._record_upgrade(station_id, target, UpgradeState.FAILED)
            raise
        if not steps[-1][1].accepted:
            await self._record_upgrade(station_id, target, UpgradeState.FAILED)
        return steps

    async def _upgrade_201(
        self,
        station_id: str,
        target: SecurityProfile,
        url: str,
        slot: int | None,
        steps: list[tuple[str, CommandOutcome]],
    ) -> None:
        priority = await self._control.network_priority(station_id)
        chosen = next_configuration_slot(priority, slot)
        outcome = await self._control.set_network_profile(
            station_id,
            slot=chosen,
            csms_url=url,
            security_profile=int(target),
            message_timeout=self._message_timeout,
        )
        steps.append(("SetNetworkProfile", outcome))
        if not outcome.accepted:
            return
        outcome = await self._control.set_network_priority(
            station_id, new_priority(priority, chosen)
        )
        steps.append(("SetVariables", outcome))
        if not outcome.accepted:
            return
        steps.append(("Reset", await self._control.reset(station_id)))

    async def _record_upgrade(
        self, station_id: str, target: SecurityProfile, state: UpgradeState
    ) -> None:
        await self._event(station_id, PROFILE_UPGRADE, ProfileUpgrade(target, state).as_data())

    async def upgrades(self, station_id: str) -> list[StationLogEntry]:
        async with self._uow() as uow:
            return await uow.station_events.of_kind(station_id, PROFILE_UPGRADE)

    # --- security events (A04, TC_077, TC_078) -------------------------------------------------

    async def events(
        self,
        *,
        station_id: str | None,
        since: datetime | None = None,
        limit: int,
        offset: int,
    ) -> Page[StationLogEntry]:
        async with self._uow() as uow:
            return await uow.station_events.search(
                kinds=SECURITY_EVENT_KINDS,
                station_id=station_id,
                since=since,
                limit=limit,
                offset=offset,
            )

    # --- certificates (M03-M05, TC_075, TC_076) ------------------------------------------------

    async def install_certificate(
        self, station_id: str, use: CertificateUse, certificate_pem: str
    ) -> CommandOutcome:
        """InstallCertificate of a root certificate; the station's answer is recorded."""
        if use not in INSTALLABLE:
            raise InvalidRequest(f"{use.value} cannot be installed with InstallCertificate")
        if len(certificate_pem) > 5500:
            raise InvalidRequest("the certificate has at most 5500 characters")
        try:
            not_after = self._certificates.check_certificate(certificate_pem)
        except ValueError as error:
            raise InvalidRequest(f"not a PEM X.509 certificate: {error}") from None
        await self._station(station_id)
        outcome = await self._control.install_certificate(station_id, use, certificate_pem)
        await self._event(
            station_id,
            CERTIFICATE_INSTALLED,
            {
                "certificateType": use.value,
                "status": outcome.status,
                "notAfter": not_after.isoformat(),
            },
        )
        return outcome

    def hash_data(self, certificate_pem: str, issuer_pem: str | None = None) -> CertificateHashData:
        try:
            return self._certificates.hash_data(certificate_pem, issuer_pem)
        except ValueError as error:
            raise InvalidRequest(str(error)) from None

    async def delete_certificate(
        self, station_id: str, hash_data: CertificateHashData
    ) -> CommandOutcome:
        """DeleteCertificate: Accepted, NotFound or Failed, recorded."""
        await self._station(station_id)
        outcome = await self._control.delete_certificate(station_id, hash_data)
        await self._event(
            station_id,
            CERTIFICATE_DELETED,
            {"serialNumber": hash_data.serial_number, "status": outcome.status},
        )
        return outcome

    async def installed_certificates(
        self, station_id: str, uses: Sequence[CertificateUse]
    ) -> CommandOutcome:
        """GetInstalledCertificateIds for these types (none: every type)."""
        await self._station(station_id)
        return await self._control.installed_certificates(station_id, uses)

    async def renew_certificate(
        self, station_id: str, certificate_type: str = "ChargingStationCertificate"
    ) -> CommandOutcome:
        """Ask the station for a new SignCertificate now (A02 started by the CSMS)."""
        await self._station(station_id)
        return await self._control.trigger_certificate_renewal(station_id, certificate_type)

    async def issued_certificates(self, station_id: str) -> list[dict[str, Any]]:
        """Certificates our CA signed for the station, oldest first, with `renewalDue`."""
        now = self._clock.now()
        async with self._uow() as uow:
            entries = await uow.station_events.of_kind(station_id, CERTIFICATE_ISSUED)
        result = []
        for entry in entries:
            data = dict(entry.data)
            not_after = parse_timestamp(str(data["notAfter"]))
            data["issuedAt"] = entry.at.isoformat()
            data["expired"] = not_after <= now
            data["renewalDue"] = (
                renewal_due(not_after, now, self._renew_before)
                if self._renew_before is not None
                else None
            )
            result.append(data)
        return result
