"""Plug & Charge with central validation (2.0.1 C07, TC_C_52): the station sends the EV's
contract certificate chain in Authorize; the central system checks it against its MO root and
authorizes the eMAID. Certificates are minted at test time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.v201 import call

from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import connect

EMAID = "DEEVCC12345678X"
NOW = datetime.now(UTC)


class Authority:
    def __init__(
        self,
        name: str,
        issuer: Authority | None = None,
        *,
        key: ec.EllipticCurvePrivateKey | None = None,
    ):
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        signer = issuer or self
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(signer.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(signer.key, hashes.SHA256())
        )

    def contract(self, emaid: str, *, expired: bool = False) -> x509.Certificate:
        end = NOW - timedelta(days=1) if expired else NOW + timedelta(days=30)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, emaid)]))
            .issuer_name(self.name)
            .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=10))
            .not_valid_after(end)
            .sign(self.key, hashes.SHA256())
        )


def pem(*certificates: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)


@pytest.fixture
async def plug_and_charge(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[RunningCentralSystem, Authority, Authority]]:
    root = Authority("MO Root")
    sub = Authority("MO Sub-CA", root)
    (tmp_path / "mo-root.pem").write_text(pem(root.certificate))
    settings = test_settings(database_url, contract_root_certs=tmp_path / "mo-root.pem")
    async with running_central_system(settings) as running:
        await running.services.stations.register("CS-PNC")
        await running.services.authorization.add_token(EMAID, token_type="eMAID")
        yield running, root, sub


async def test_TC_C_52_contract_certificate_validated_by_the_central_system(
    plug_and_charge: tuple[RunningCentralSystem, Authority, Authority],
) -> None:
    running, _, sub = plug_and_charge
    foreign = Authority("Someone Else's Root")
    impostor = Authority("MO Sub-CA", key=ec.generate_private_key(ec.SECP256R1()))  # same name
    unknown = "UNKNOWN-EMAID"
    cases = [  # (eMAID, chain, certificate status, token status)
        (EMAID, pem(sub.contract(EMAID), sub.certificate), "Accepted", "Accepted"),
        (
            EMAID,
            pem(sub.contract(EMAID, expired=True), sub.certificate),
            "CertificateExpired",
            "Invalid",
        ),
        (EMAID, pem(foreign.contract(EMAID)), "CertChainError", "Invalid"),
        (EMAID, pem(impostor.contract(EMAID), sub.certificate), "SignatureError", "Invalid"),
        (EMAID, "not a certificate", "CertChainError", "Invalid"),
        (unknown, pem(sub.contract(unknown), sub.certificate), "Accepted", "Unknown"),
    ]
    client = await connect(running.ocpp_url, "CS-PNC", version="2.0.1")
    try:
        await client.call(
            call.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        for emaid, chain, certificate_status, token_status in cases:
            reply = await client.call(
                call.Authorize(id_token={"idToken": emaid, "type": "eMAID"}, certificate=chain)
            )
            assert (reply.certificate_status, reply.id_token_info["status"]) == (
                certificate_status,
                token_status,
            ), chain[:60]
    finally:
        await client.close()
