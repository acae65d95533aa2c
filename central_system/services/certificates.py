"""Station certificates: review and sign CSRs (SignCertificate -> CertificateSigned), and find
the certificates due for renewal (A02/A03, TC_074_CSMS, TC_A_11-14)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from central_system.domain.certificates import (
    CsrFacts,
    IssuedCertificate,
    renewal_due,
    review_csr,
)
from central_system.domain.clock import parse_timestamp
from central_system.services.ports import Clock, UnitOfWorkFactory

log = logging.getLogger(__name__)

ISSUED = "CertificateIssued"
DELIVERED = "CertificateSigned"  # the station's answer to CertificateSigned


class CertificateSigner(Protocol):
    def read_csr(self, csr_pem: str) -> CsrFacts:
        """Raises ValueError when the text is not a CSR."""
        ...

    def sign(self, csr_pem: str, *, now: datetime, validity: timedelta) -> IssuedCertificate: ...


class CertificateService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        signer: CertificateSigner | None,
        *,
        cpo_name: str | None,
        validity: timedelta,
        renew_before: timedelta,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._signer = signer
        self._cpo_name = cpo_name
        self._validity = validity
        self._renew_before = renew_before

    async def review(self, station_id: str, csr_pem: str) -> str | None:
        """Why a CSR is rejected, or None when it will be signed."""
        if self._signer is None:
            return "no certificate authority is configured"
        try:
            facts = self._signer.read_csr(csr_pem)
        except ValueError as error:
            return f"not a PKCS#10 CSR: {error}"
        async with self._uow() as uow:
            record = await uow.stations.get(station_id)
        serial = record.boot_info.serial_number if record and record.boot_info else None
        reason = review_csr(station_id, facts, serial_number=serial, cpo_name=self._cpo_name)
        if reason is not None:
            log.warning("%s: CSR rejected: %s", station_id, reason)
        return reason

    async def issue(
        self, station_id: str, csr_pem: str, certificate_type: str
    ) -> IssuedCertificate:
        """Sign a reviewed CSR and remember the certificate for renewal."""
        if self._signer is None:
            raise RuntimeError("no certificate authority is configured")
        now = self._clock.now()
        issued = self._signer.sign(csr_pem, now=now, validity=self._validity)
        async with self._uow() as uow:
            await uow.station_log.add(
                station_id,
                ISSUED,
                now,
                {
                    "certificateType": certificate_type,
                    "serialNumber": issued.serial_number,
                    "notAfter": issued.not_after.isoformat(),
                },
            )
            await uow.commit()
        return issued

    async def delivered(
        self, station_id: str, issued: IssuedCertificate, status: str | None
    ) -> None:
        """The station's answer to CertificateSigned. A certificate it rejected (TC_077: it
        then reports InvalidChargePointCertificate) is not in use and not tracked for renewal."""
        if status != "Accepted":
            log.warning("%s: certificate %s %s", station_id, issued.serial_number, status)
        async with self._uow() as uow:
            await uow.station_log.add(
                station_id,
                DELIVERED,
                self._clock.now(),
                {"serialNumber": issued.serial_number, "status": status},
            )
            await uow.commit()

    async def due_for_renewal(self) -> list[tuple[str, str]]:
        """(station id, certificate type) whose newest certificate in use expires soon (read
        without SQLite's write lock: a periodic round)."""
        async with self._uow.reading() as uow:
            entries = await uow.station_log.by_kind(ISSUED)
            answers = await uow.station_log.by_kind(DELIVERED)
        rejected = {
            (station_id, data.get("serialNumber"))
            for station_id, _, data in answers
            if data.get("status") != "Accepted"
        }
        newest: dict[tuple[str, str], datetime] = {}
        for station_id, _, data in entries:
            if (station_id, data.get("serialNumber")) in rejected:
                continue
            newest[(station_id, data["certificateType"])] = parse_timestamp(data["notAfter"])
        now = self._clock.now()
        return sorted(
            key
            for key, not_after in newest.items()
            if renewal_due(not_after, now, self._renew_before)
        )
