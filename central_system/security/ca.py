"""A small certificate authority with `cryptography`: signs station certificates from their
CSRs (SignCertificate -> CertificateSigned). Use the operator's own CA files in production; a
generated CA is for development and tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from central_system.domain.certificates import CsrFacts, IssuedCertificate


class InvalidCsr(ValueError):
    """The text is not a PEM PKCS#10 certificate signing request."""


def _name_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


class CertificateAuthority:
    def __init__(
        self, certificate: x509.Certificate, key: CertificateIssuerPrivateKeyTypes
    ) -> None:
        self.certificate = certificate
        self._key = key

    @classmethod
    def from_files(cls, certificate_path: Path, key_path: Path) -> CertificateAuthority:
        certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return cls(certificate, key)  # type: ignore[arg-type]

    @classmethod
    def generate(cls, organization: str, now: datetime) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} station CA"),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def write(self, certificate_path: Path, key_path: Path) -> None:
        certificate_path.write_text(self.certificate_pem)
        key_path.write_bytes(
            self._key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)

    @staticmethod
    def _load(csr_pem: str) -> x509.CertificateSigningRequest:
        try:
            return x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError as error:
            raise InvalidCsr(str(error)) from None

    def read_csr(self, csr_pem: str) -> CsrFacts:
        csr = self._load(csr_pem)
        try:
            signature_valid = csr.is_signature_valid
        except InvalidSignature:
            signature_valid = False
        return CsrFacts(
            common_name=_name_attribute(csr.subject, NameOID.COMMON_NAME),
            organization=_name_attribute(csr.subject, NameOID.ORGANIZATION_NAME),
            signature_valid=signature_valid,
        )

    def sign(self, csr_pem: str, *, now: datetime, validity: timedelta) -> IssuedCertificate:
        """A client certificate (TLS client auth) for the CSR's subject and key, chained to
        this CA. The caller reviews the CSR first."""
        csr = self._load(csr_pem)
        not_after = now + validity
        certificate = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        chain = certificate.public_bytes(serialization.Encoding.PEM).decode() + self.certificate_pem
        return IssuedCertificate(chain, format(certificate.serial_number, "x"), not_after)
