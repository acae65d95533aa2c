"""Reading X.509 certificates for the certificate-management commands: a certificate's end of
validity (InstallCertificate) and the OCPP CertificateHashData that names it (DeleteCertificate,
GetInstalledCertificateIds)."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from central_system.domain.security_flows import CertificateHashData

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "SHA256": hashes.SHA256(),
    "SHA384": hashes.SHA384(),
    "SHA512": hashes.SHA512(),
}


def _load(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as error:
        raise ValueError(f"not a PEM X.509 certificate: {error}") from None


class CertificateTools:
    def check_certificate(self, pem: str) -> datetime:
        """The certificate's notAfter; ValueError for text that is no PEM certificate."""
        return _load(pem).not_valid_after_utc

    def hash_data(
        self, pem: str, issuer_pem: str | None = None, algorithm: str = "SHA256"
    ) -> CertificateHashData:
        """OCPP CertificateHashData: hashes of the issuer's DER name and public key and the
        serial number in hex. Without `issuer_pem` the certificate is its own issuer (a root)."""
        certificate = _load(pem)
        issuer = _load(issuer_pem) if issuer_pem else certificate
        if certificate.issuer != issuer.subject:
            raise ValueError("the issuer certificate did not issue this certificate")
        algorithm_type = _HASHES[algorithm]

        def digest(data: bytes) -> str:
            h = hashes.Hash(algorithm_type)
            h.update(data)
            return h.finalize().hex()

        key = issuer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # OCPP: the hash of the issuer's public key (the subjectPublicKey bit string, as OCSP)
        return CertificateHashData(
            hash_algorithm=algorithm,
            issuer_name_hash=digest(certificate.issuer.public_bytes()),
            issuer_key_hash=digest(_subject_public_key_bits(key)),
            serial_number=format(certificate.serial_number, "x"),
        )


def _subject_public_key_bits(spki_der: bytes) -> bytes:
    """The BIT STRING content of a DER SubjectPublicKeyInfo (without the unused-bits byte), as
    OCSP's issuerKeyHash hashes it."""

    def read_length(data: bytes, index: int) -> tuple[int, int]:
        first = data[index]
        if first < 0x80:
            return first, index + 1
        count = first & 0x7F
        return int.from_bytes(data[index + 1 : index + 1 + count], "big"), index + 1 + count

    # SEQUENCE { AlgorithmIdentifier SEQUENCE, BIT STRING }
    _, index = read_length(spki_der, 1)
    algorithm_length, after = read_length(spki_der, index + 1)
    index = after + algorithm_length
    if spki_der[index] != 0x03:
        raise ValueError("unexpected SubjectPublicKeyInfo encoding")
    length, start = read_length(spki_der, index + 1)
    return spki_der[start + 1 : start + length]
