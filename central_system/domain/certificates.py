"""Station certificates: what a CSR must say and when a certificate is due for renewal
(A02/A03, TC_074_CSMS, TC_A_11-14)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class CsrFacts:
    """What the central system learned from a certificate signing request."""

    common_name: str | None
    organization: str | None
    signature_valid: bool


def review_csr(
    station_id: str,
    csr: CsrFacts,
    *,
    serial_number: str | None = None,
    cpo_name: str | None = None,
) -> str | None:
    """Why the CSR must be rejected, or None to sign it.

    The CSR is signed by the key it certifies; its CN is the station's identity (or serial
    number, A00.FR.405) and its O the operator's name where one is configured (A00.FR.404).
    """
    if not csr.signature_valid:
        return "the CSR's signature does not verify"
    if csr.common_name not in {station_id, serial_number} or csr.common_name is None:
        return f"CN {csr.common_name!r} is not the station's identity"
    if cpo_name is not None and csr.organization != cpo_name:
        return f"O {csr.organization!r} is not the operator {cpo_name!r}"
    return None


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    certificate_chain_pem: str
    serial_number: str
    not_after: datetime


def renewal_due(not_after: datetime, now: datetime, renew_before: timedelta) -> bool:
    return not_after - now <= renew_before


class ContractCertificateStatus(StrEnum):
    """An ISO 15118 contract certificate's check (2.0.1 AuthorizeCertificateStatusEnumType)."""

    ACCEPTED = "Accepted"
    SIGNATURE_ERROR = "SignatureError"
    CERTIFICATE_EXPIRED = "CertificateExpired"
    CERTIFICATE_REVOKED = "CertificateRevoked"
    NO_CERTIFICATE_AVAILABLE = "NoCertificateAvailable"
    CERT_CHAIN_ERROR = "CertChainError"
    CONTRACT_CANCELLED = "ContractCancelled"
