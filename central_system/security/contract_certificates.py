"""ISO 15118 contract certificates checked by the central system (2.0.1 C07, TC_C_52): the
EV's certificate chain, sent by the station in Authorize, must lead to a configured MO / V2G
root, with every certificate in its validity period and every signature right."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from central_system.domain.certificates import ContractCertificateStatus

MAX_CHAIN_LENGTH = 5


class ContractCertificateVerifier:
    def __init__(self, roots: list[x509.Certificate]) -> None:
        self._roots = roots

    @classmethod
    def from_file(cls, path: Path) -> ContractCertificateVerifier:
        return cls(x509.load_pem_x509_certificates(path.read_bytes()))

    def verify(self, chain_pem: str, now: datetime) -> ContractCertificateStatus:
        """Leaf first, then intermediates, as ISO 15118 sends them."""
        try:
            chain = x509.load_pem_x509_certificates(chain_pem.encode())
        except ValueError:
            return ContractCertificateStatus.CERT_CHAIN_ERROR
        for certificate in chain:
            if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
                return ContractCertificateStatus.CERTIFICATE_EXPIRED
        current, intermediates = chain[0], chain[1:]
        for _ in range(MAX_CHAIN_LENGTH):
            root = self._issuer(current, self._roots)
            if root is not None:
                return self._signed(current, root)
            parent = self._issuer(current, intermediates)
            if parent is None:
                return ContractCertificateStatus.CERT_CHAIN_ERROR
            status = self._signed(current, parent)
            if status is not ContractCertificateStatus.ACCEPTED:
                return status
            current = parent
        return ContractCertificateStatus.CERT_CHAIN_ERROR

    @staticmethod
    def _issuer(
        certificate: x509.Certificate, candidates: list[x509.Certificate]
    ) -> x509.Certificate | None:
        return next((c for c in candidates if c.subject == certificate.issuer), None)

    @staticmethod
    def _signed(
        certificate: x509.Certificate, issuer: x509.Certificate
    ) -> ContractCertificateStatus:
        try:
            certificate.verify_directly_issued_by(issuer)
        except InvalidSignature:
            return ContractCertificateStatus.SIGNATURE_ERROR
        except (ValueError, TypeError):
            return ContractCertificateStatus.CERT_CHAIN_ERROR
        return ContractCertificateStatus.ACCEPTED
