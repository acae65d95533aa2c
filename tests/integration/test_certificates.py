"""Station certificates signed by the central system's CA: SignCertificate -> CertificateSigned
(TC_074_CSMS, TC_A_11/TC_A_14), and renewal triggered before expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from central_system.security.ca import CertificateAuthority
from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import connect, wait_for


def csr(common_name: str, organization: str = "ACME CPO") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                ]
            )
        )
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


class Station16(ChargePoint16):
    chain: str | None = None
    triggers: list[str]

    @on("CertificateSigned")
    async def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        self.chain = certificate_chain
        return result16.CertificateSigned(status="Accepted")

    @on("ExtendedTriggerMessage")
    async def on_trigger(self, requested_message: str, **_: Any) -> Any:
        self.triggers = [*getattr(self, "triggers", []), requested_message]
        return result16.ExtendedTriggerMessage(status="Accepted")


class Station201(ChargePoint201):
    chain: str | None = None
    certificate_type: str | None = None

    @on("CertificateSigned")
    async def on_certificate_signed(
        self, certificate_chain: str, certificate_type: str | None = None, **_: Any
    ) -> Any:
        self.chain, self.certificate_type = certificate_chain, certificate_type
        return result201.CertificateSigned(status="Accepted")


@pytest.fixture
async def ca_system(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[RunningCentralSystem, CertificateAuthority]]:
    from datetime import UTC, datetime

    ca = CertificateAuthority.generate("ACME CPO", datetime.now(UTC))
    ca.write(tmp_path / "ca.pem", tmp_path / "ca.key")
    settings = test_settings(
        database_url,
        ca_cert=tmp_path / "ca.pem",
        ca_key=tmp_path / "ca.key",
        cpo_name="ACME CPO",
        certificate_validity_days=10,
        certificate_renew_days=30,
        certificate_check_interval=0.2,
    )
    async with running_central_system(settings) as running:
        yield running, ca


def verify_chain(chain: str, ca: CertificateAuthority, common_name: str) -> None:
    leaf = x509.load_pem_x509_certificates(chain.encode())[0]
    leaf.verify_directly_issued_by(ca.certificate)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name


async def test_sign_certificate_16_and_renewal(
    ca_system: tuple[RunningCentralSystem, CertificateAuthority],
) -> None:
    """TC_074_CSMS: the station's CSR is signed; the certificate (valid 10 days, renewal at 30)
    is due at once, so the central system asks for a renewal with ExtendedTriggerMessage."""
    running, ca = ca_system
    await running.services.stations.register("CP-1")
    client = await connect(running.ocpp_url, "CP-1", charge_point_class=Station16)
    try:
        await client.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        rejected = await client.call(call16.SignCertificate(csr=csr("SOMEONE-ELSE")))
        assert rejected.status == "Rejected"
        assert (await client.call(call16.SignCertificate(csr="not a csr"))).status == "Rejected"
        accepted = await client.call(call16.SignCertificate(csr=csr("CP-1")))
        assert accepted.status == "Accepted"
        await wait_for(lambda: client.cp.chain, what="CertificateSigned received")
        verify_chain(client.cp.chain, ca, "CP-1")
        await wait_for(
            lambda: "SignChargePointCertificate" in getattr(client.cp, "triggers", []),
            what="renewal trigger",
        )
    finally:
        await client.close()


async def test_sign_certificate_201(
    ca_system: tuple[RunningCentralSystem, CertificateAuthority],
) -> None:
    """TC_A_11 (success) and TC_A_14 (invalid CSR: wrong organization)."""
    running, ca = ca_system
    await running.services.stations.register("CS-1")
    client = await connect(running.ocpp_url, "CS-1", version="2.0.1", charge_point_class=Station201)
    try:
        await client.call(
            call201.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        wrong_o = await client.call(call201.SignCertificate(csr=csr("CS-1", "Other CPO")))
        assert wrong_o.status == "Rejected"
        ok = await client.call(
            call201.SignCertificate(csr=csr("CS-1"), certificate_type="ChargingStationCertificate")
        )
        assert ok.status == "Accepted"
        await wait_for(lambda: client.cp.chain, what="CertificateSigned received")
        verify_chain(client.cp.chain, ca, "CS-1")
        assert client.cp.certificate_type == "ChargingStationCertificate"
    finally:
        await client.close()
