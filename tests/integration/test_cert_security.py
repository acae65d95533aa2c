"""Security flows against the real central system, over ws:// and wss:// with certificates
minted at test time: password update (TC_073, TC_A_09, TC_A_10), security-profile upgrade
(TC_083, TC_A_19), certificates on the station (TC_075_1/2, TC_076, TC_M_01-TC_M_21), invalid
certificate events (TC_077, TC_078), V2G and combined certificates (TC_A_12, TC_A_13) and the
security events in the REST API."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
import websockets
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
from tests.conftest import RunningCentralSystem
from tests.helpers import OcppClient, basic_auth, connect, wait_for
from tests.maintenance_helpers import (
    Recorder,
    admin_fixture,
    api,
    booted16,
    booted201,
    last,
    shared_system,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
__all__ = ["admin_fixture", "system"]

CPO = "ACME CPO"
PASSWORD = "0123456789abcdef0123"


@dataclass
class Pki:
    server_ca: trustme.CA
    station_ca: trustme.CA
    ca: CertificateAuthority  # the central system's own CA (SignCertificate)
    directory: Path

    def context(self, certificate: trustme.LeafCert | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.server_ca.configure_trust(context)
        if certificate is not None:
            certificate.configure_cert(context)
        return context


_PKI: dict[Path, Pki] = {}


def pki_for(directory: Path) -> Pki:
    if directory not in _PKI:
        server_ca, station_ca = trustme.CA(), trustme.CA(organization_name="Station CA")
        server = server_ca.issue_cert("127.0.0.1", "localhost")
        server.private_key_and_cert_chain_pem.write_to_path(str(directory / "server.pem"))
        server.private_key_pem.write_to_path(str(directory / "server.key"))
        station_ca.cert_pem.write_to_path(str(directory / "stations-ca.pem"))
        ca = CertificateAuthority.generate(CPO, datetime.now(UTC))
        ca.write(directory / "ca.pem", directory / "ca.key")
        _PKI[directory] = Pki(server_ca, station_ca, ca, directory)
    return _PKI[directory]


system = shared_system(
    ocpp_tls_port=0,
    ocpp_tls_cert=lambda d: (pki_for(d), d / "server.pem")[1],
    ocpp_tls_key=lambda d: d / "server.key",
    ocpp_tls_client_ca=lambda d: d / "stations-ca.pem",
    ca_cert=lambda d: d / "ca.pem",
    ca_key=lambda d: d / "ca.key",
    cpo_name=CPO,
    certificate_validity_days=10,  # every signed certificate is due for renewal (30 days)
    certificate_renew_days=30,
)


def pki(system: RunningCentralSystem) -> Pki:
    settings = system.system.settings
    assert settings.ocpp_tls_cert is not None
    return _PKI[settings.ocpp_tls_cert.parent]


async def connect_tls(
    system: RunningCentralSystem,
    station_id: str,
    *,
    version: str = "1.6",
    password: str | None = None,
    certificate: trustme.LeafCert | None = None,
    charge_point_class: type,
) -> OcppClient:
    websocket = await websockets.connect(
        f"wss://127.0.0.1:{system.system.ocpp_tls_port}/ocpp/{station_id}",
        ssl=pki(system).context(certificate),
        subprotocols=[f"ocpp{version}"],  # type: ignore[list-item]
        additional_headers=basic_auth(station_id, password) if password else {},
    )
    charge_point = charge_point_class(station_id, websocket)
    task = asyncio.create_task(charge_point.start())
    return OcppClient(websocket, charge_point, task)


async def refused(coroutine: Any) -> int | str:
    try:
        client = await coroutine
    except websockets.InvalidStatus as error:
        return error.response.status_code
    except (ssl.SSLError, ConnectionError, OSError) as error:
        return f"tls: {type(error).__name__}"
    await client.close()
    return "connected"


async def profile(system: RunningCentralSystem, station_id: str) -> int:
    record = await system.services.stations.get(station_id)
    return int(record.security_profile)


async def events(system: RunningCentralSystem, admin: str, station_id: str) -> list[Any]:
    async with api(system, admin) as http:
        response = await http.get(f"/api/v1/stations/{station_id}/security/events")
    assert response.status_code == 200, response.text
    return [(e["source"], e["type"]) for e in response.json()["items"]]


def csr(common_name: str, organization: str = CPO) -> str:
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


class Station16(Recorder, ChargePoint16):
    @on("ChangeConfiguration")
    async def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        self.record("ChangeConfiguration", {"key": key, "value": value})
        return result16.ChangeConfiguration(status=self.answer(key, "Accepted"))

    @on("InstallCertificate")
    async def on_install(self, **payload: Any) -> Any:
        self.record("InstallCertificate", payload)
        return result16.InstallCertificate(status=self.answer("InstallCertificate", "Accepted"))

    @on("DeleteCertificate")
    async def on_delete(self, **payload: Any) -> Any:
        self.record("DeleteCertificate", payload)
        return result16.DeleteCertificate(status=self.answer("DeleteCertificate", "Accepted"))

    @on("GetInstalledCertificateIds")
    async def on_installed(self, certificate_type: str, **_: Any) -> Any:
        self.record("GetInstalledCertificateIds", {"certificate_type": certificate_type})
        found = self.answer(certificate_type, [])
        return result16.GetInstalledCertificateIds(
            status="Accepted" if found else "NotFound", certificate_hash_data=found or None
        )

    @on("CertificateSigned")
    async def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        self.record("CertificateSigned", {"certificate_chain": certificate_chain})
        return result16.CertificateSigned(status=self.answer("CertificateSigned", "Accepted"))


class Station201(Recorder, ChargePoint201):
    @on("SetVariables")
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self.record("SetVariables", {"set_variable_data": set_variable_data})
        return result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": self.answer(data["variable"]["name"], "Accepted"),
                    "component": data["component"],
                    "variable": data["variable"],
                }
                for data in set_variable_data
            ]
        )

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self.record("GetVariables", {"get_variable_data": get_variable_data})
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": self.answer("priority", "1"),
                    "component": data["component"],
                    "variable": data["variable"],
                }
                for data in get_variable_data
            ]
        )

    @on("SetNetworkProfile")
    async def on_set_network_profile(self, **payload: Any) -> Any:
        self.record("SetNetworkProfile", payload)
        return result201.SetNetworkProfile(status=self.answer("SetNetworkProfile", "Accepted"))

    @on("Reset")
    async def on_reset(self, **payload: Any) -> Any:
        self.record("Reset", payload)
        return result201.Reset(status="Accepted")

    @on("InstallCertificate")
    async def on_install(self, **payload: Any) -> Any:
        self.record("InstallCertificate", payload)
        return result201.InstallCertificate(status=self.answer("InstallCertificate", "Accepted"))

    @on("DeleteCertificate")
    async def on_delete(self, **payload: Any) -> Any:
        self.record("DeleteCertificate", payload)
        return result201.DeleteCertificate(status=self.answer("DeleteCertificate", "Accepted"))

    @on("GetInstalledCertificateIds")
    async def on_installed(self, **payload: Any) -> Any:
        self.record("GetInstalledCertificateIds", payload)
        installed = self.answer("installed", INSTALLED)
        wanted = payload.get("certificate_type") or list(installed)
        chain = [installed[kind] for kind in wanted if kind in installed]
        return result201.GetInstalledCertificateIds(
            status="Accepted" if chain else "NotFound",
            certificate_hash_data_chain=chain or None,
        )

    @on("CertificateSigned")
    async def on_certificate_signed(self, **payload: Any) -> Any:
        self.record("CertificateSigned", payload)
        return result201.CertificateSigned(status="Accepted")

    @on("TriggerMessage")
    async def on_trigger(self, requested_message: str, **_: Any) -> Any:
        self.record("TriggerMessage", {"requested_message": requested_message})
        return result201.TriggerMessage(status="Accepted")


def hash_data(serial: str) -> dict[str, str]:
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": hashlib.sha256(serial.encode()).hexdigest(),
        "issuer_key_hash": hashlib.sha256(b"key" + serial.encode()).hexdigest(),
        "serial_number": serial,
    }


INSTALLED = {
    kind: {"certificate_type": kind, "certificate_hash_data": hash_data(f"{index + 1:02x}")}
    for index, kind in enumerate(
        [
            "CSMSRootCertificate",
            "ManufacturerRootCertificate",
            "V2GRootCertificate",
            "V2GCertificateChain",
            "MORootCertificate",
        ]
    )
}


# --- password update (A01) -----------------------------------------------------------------------


async def test_TC_073_update_charge_point_password(
    system: RunningCentralSystem, admin: str
) -> None:
    """ChangeConfiguration AuthorizationKey with a new random 40-hex-digit password; accepted,
    so the station's next connection needs the new one and the old one is refused."""
    client = await booted16(system, "CP-S73", Station16, password=PASSWORD)
    try:
        async with api(system, admin) as http:
            response = await http.post("/api/v1/stations/CP-S73/security/password")
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "Accepted", "response": {"status": "Accepted"}}
        (change,) = client.cp.of("ChangeConfiguration")
        new_password = change["value"]
        assert change["key"] == "AuthorizationKey"
        assert len(new_password) == 40 and int(new_password, 16) >= 0
        assert new_password not in str(response.json())
    finally:
        await client.close()
    assert await refused(connect(system.ocpp_url, "CP-S73", password=PASSWORD)) == 401
    again = await connect(system.ocpp_url, "CP-S73", password=new_password)
    try:
        await again.call(call16.Heartbeat())
    finally:
        await again.close()
    assert ("central_system", "BasicAuthPasswordChanged") in await events(system, admin, "CP-S73")


async def test_TC_A_09_update_password_accepted(system: RunningCentralSystem, admin: str) -> None:
    client = await booted201(system, "CS-A09", Station201, password=PASSWORD)
    try:
        outcome = await system.services.security.rotate_password("CS-A09")
        assert outcome.status == "Accepted"
        (sent,) = client.cp.of("SetVariables")
        (data,) = sent["set_variable_data"]
        assert (data["component"], data["variable"]) == (
            {"name": "SecurityCtrlr"},
            {"name": "BasicAuthPassword"},
        )
        new_password = data["attribute_value"]
        assert 16 <= len(new_password) <= 40
    finally:
        await client.close()
    again = await connect(system.ocpp_url, "CS-A09", version="2.0.1", password=new_password)
    await again.close()
    assert (
        await refused(connect(system.ocpp_url, "CS-A09", version="2.0.1", password=PASSWORD)) == 401
    )


async def test_TC_A_10_update_password_rejected(system: RunningCentralSystem, admin: str) -> None:
    """The station rejects the new password: the central system keeps the old one."""
    client = await booted201(system, "CS-A10", Station201, password=PASSWORD)
    client.cp.answers["BasicAuthPassword"] = "Rejected"
    try:
        async with api(system, admin) as http:
            response = await http.post("/api/v1/stations/CS-A10/security/password")
        assert response.json()["status"] == "Rejected"
        rejected = client.cp.of("SetVariables")[0]["set_variable_data"][0]["attribute_value"]
    finally:
        await client.close()
    assert (
        await refused(connect(system.ocpp_url, "CS-A10", version="2.0.1", password=rejected)) == 401
    )
    again = await connect(system.ocpp_url, "CS-A10", version="2.0.1", password=PASSWORD)
    await again.close()
    assert ("central_system", "BasicAuthPasswordKept") in await events(system, admin, "CS-A10")


async def test_password_update_needs_a_password_profile(
    system: RunningCentralSystem, admin: str
) -> None:
    client = await booted16(system, "CP-S0", Station16)
    try:
        async with api(system, admin) as http:
            response = await http.post("/api/v1/stations/CP-S0/security/password")
        assert response.status_code == 409
        assert not client.cp.of("ChangeConfiguration")
    finally:
        await client.close()


# --- security profile upgrade (A05) --------------------------------------------------------------


async def test_TC_083_upgrade_charge_point_security_profile(
    system: RunningCentralSystem, admin: str
) -> None:
    """Profile 1 -> 2: ChangeConfiguration SecurityProfile=2; the station reconnects over TLS
    with its password and the registry now holds profile 2: plain ws is refused from then on."""
    client = await booted16(system, "CP-S83", Station16, password=PASSWORD)
    try:
        async with api(system, admin) as http:
            response = await http.post(
                "/api/v1/stations/CP-S83/security/profile", json={"profile": 2}
            )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["current_profile"], body["target_profile"], body["pending"]) == (1, 2, True)
        assert client.cp.of("ChangeConfiguration") == [{"key": "SecurityProfile", "value": "2"}]
    finally:
        await client.close()
    assert await profile(system, "CP-S83") == 1
    upgraded = await connect_tls(system, "CP-S83", password=PASSWORD, charge_point_class=Station16)
    try:
        await upgraded.call(call16.Heartbeat())
    finally:
        await upgraded.close()
    assert await profile(system, "CP-S83") == 2
    assert await refused(connect(system.ocpp_url, "CP-S83", password=PASSWORD)) == 401
    assert ("central_system", "SecurityProfileChanged") in await events(system, admin, "CP-S83")


async def test_TC_A_19_upgrade_charging_station_security_profile(
    system: RunningCentralSystem, admin: str
) -> None:
    """Profile 2 -> 3 of a 2.0.1 station: SetNetworkProfile in a new slot with the wss://
    address and profile 3, NetworkConfigurationPriority with that slot first, Reset OnIdle; the
    station reconnects with its client certificate and is profile 3 from then on."""
    from central_system.domain.stations import SecurityProfile

    await system.services.stations.register(
        "CS-A19", password=PASSWORD, security_profile=SecurityProfile.TLS_BASIC_AUTH
    )
    client = await connect_tls(
        system, "CS-A19", version="2.0.1", password=PASSWORD, charge_point_class=Station201
    )
    try:
        await client.call(
            call201.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        async with api(system, admin) as http:
            response = await http.post(
                "/api/v1/stations/CS-A19/security/profile", json={"profile": 3}
            )
        assert response.status_code == 200, response.text
        body = response.json()
        assert [(s["action"], s["status"]) for s in body["steps"]] == [
            ("SetNetworkProfile", "Accepted"),
            ("SetVariables", "Accepted"),
            ("Reset", "Accepted"),
        ]
        assert body["pending"] is True
        (network,) = client.cp.of("SetNetworkProfile")
        assert network["configuration_slot"] == 2
        connection = network["connection_data"]
        assert connection["security_profile"] == 3
        assert connection["ocpp_csms_url"] == (
            f"wss://127.0.0.1:{system.system.ocpp_tls_port}/ocpp"
        )
        priority = client.cp.of("SetVariables")[0]["set_variable_data"][0]
        assert (priority["variable"]["name"], priority["attribute_value"]) == (
            "NetworkConfigurationPriority",
            "2,1",
        )
        assert client.cp.of("Reset") == [{"type": "OnIdle"}]
    finally:
        await client.close()
    certificate = pki(system).station_ca.issue_cert(common_name="CS-A19", organization_name=CPO)
    upgraded = await connect_tls(
        system, "CS-A19", version="2.0.1", certificate=certificate, charge_point_class=Station201
    )
    await upgraded.close()
    assert await profile(system, "CS-A19") == 3
    password_only = connect_tls(
        system, "CS-A19", version="2.0.1", password=PASSWORD, charge_point_class=Station201
    )
    assert await refused(password_only) == 401


async def test_refused_profile_upgrade_changes_nothing(
    system: RunningCentralSystem, admin: str
) -> None:
    """SetNetworkProfile Rejected: the flow stops, no upgrade is pending, a client certificate
    does not admit the station; and a profile can never be lowered."""
    client = await booted201(system, "CS-UPX", Station201, password=PASSWORD)
    client.cp.answers["SetNetworkProfile"] = "Rejected"
    try:
        async with api(system, admin) as http:
            response = await http.post(
                "/api/v1/stations/CS-UPX/security/profile", json={"profile": 3}
            )
            assert response.json()["pending"] is False
            assert [s["action"] for s in response.json()["steps"]] == ["SetNetworkProfile"]
            lower = await http.post("/api/v1/stations/CS-UPX/security/profile", json={"profile": 1})
            assert lower.status_code == 409
    finally:
        await client.close()
    certificate = pki(system).station_ca.issue_cert(common_name="CS-UPX", organization_name=CPO)
    attempt = connect_tls(
        system, "CS-UPX", version="2.0.1", certificate=certificate, charge_point_class=Station201
    )
    assert await refused(attempt) == 401
    assert await profile(system, "CS-UPX") == 1


# --- certificates on the station (1.6 security extension, 2.0.1 M) -------------------------------


def public_key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey bit string's content, as OCSP's issuerKeyHash hashes it."""
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def root_pem() -> str:
    return trustme.CA(organization_name="Some Root").cert_pem.bytes().decode()


@pytest.mark.parametrize(
    ("case", "api_type", "wire_type"),
    [
        ("075_1", "ManufacturerRootCertificate", "ManufacturerRootCertificate"),
        ("075_2", "CSMSRootCertificate", "CentralSystemRootCertificate"),
    ],
)
async def test_TC_075_install_certificate_16(
    system: RunningCentralSystem, admin: str, case: str, api_type: str, wire_type: str
) -> None:
    """TC_075_1 ManufacturerRootCertificate, TC_075_2 CentralSystemRootCertificate (1.6 name)."""
    client = await booted16(system, f"CP-S{case}", Station16)
    pem = root_pem()
    try:
        async with api(system, admin) as http:
            response = await http.post(
                f"/api/v1/stations/CP-S{case}/certificates",
                json={"certificate_type": api_type, "certificate": pem},
            )
        assert response.json() == {"status": "Accepted", "response": {"status": "Accepted"}}
        assert client.cp.of("InstallCertificate") == [
            {"certificate_type": wire_type, "certificate": pem}
        ]
    finally:
        await client.close()


async def test_TC_076_delete_a_specific_certificate(
    system: RunningCentralSystem, admin: str
) -> None:
    """The operator names the certificate by its PEM; the central system sends its OCPP hash
    data (SHA-256 of the issuer's name and key, serial in hex)."""
    client = await booted16(system, "CP-S76", Station16)
    authority = trustme.CA(organization_name="Root To Delete")
    pem = authority.cert_pem.bytes().decode()
    certificate = x509.load_pem_x509_certificate(pem.encode())
    try:
        async with api(system, admin) as http:
            response = await http.post(
                "/api/v1/stations/CP-S76/certificates/delete", json={"certificate": pem}
            )
        assert response.json()["status"] == "Accepted"
        (sent,) = client.cp.of("DeleteCertificate")
        data = sent["certificate_hash_data"]
        assert data["hash_algorithm"] == "SHA256"
        assert data["serial_number"] == format(certificate.serial_number, "x")
        assert (
            data["issuer_name_hash"]
            == hashlib.sha256(certificate.issuer.public_bytes()).hexdigest()
        )
        assert data["issuer_key_hash"] == hashlib.sha256(public_key_bits(certificate)).hexdigest()
    finally:
        await client.close()


async def test_TC_077_invalid_charge_point_certificate_security_event(
    system: RunningCentralSystem, admin: str
) -> None:
    """The station rejects the certificate it was sent and reports
    InvalidChargePointCertificate: the event is queryable, and the rejected certificate is not
    tracked for renewal."""
    client = await booted16(system, "CP-S77", Station16)
    client.cp.answers["CertificateSigned"] = "Rejected"
    try:
        assert (await client.call(call16.SignCertificate(csr=csr("CP-S77")))).status == "Accepted"
        await wait_for(last(client, "CertificateSigned"), what="CertificateSigned")
        await client.call(
            call16.SecurityEventNotification(
                type="InvalidChargePointCertificate",
                timestamp=datetime.now(UTC).isoformat(),
                tech_info="certificate not trusted",
            )
        )
        assert ("station", "InvalidChargePointCertificate") in await events(system, admin, "CP-S77")

        async def answer_recorded() -> bool:
            async with system.system.uow() as uow:
                return bool(await uow.station_events.of_kind("CP-S77", "CertificateSigned"))

        await wait_for(answer_recorded, what="the station's answer recorded")
        assert ("CP-S77", "ChargePointCertificate") not in (
            await system.services.certificates.due_for_renewal()
        )
    finally:
        await client.close()


async def test_TC_078_invalid_central_system_certificate_security_event(
    system: RunningCentralSystem, admin: str
) -> None:
    client = await booted16(system, "CP-S78", Station16)
    client.cp.answers["InstallCertificate"] = "Rejected"
    try:
        async with api(system, admin) as http:
            response = await http.post(
                "/api/v1/stations/CP-S78/certificates",
                json={
                    "certificate_type": "CentralSystemRootCertificate",
                    "certificate": root_pem(),
                },
            )
            assert response.json()["status"] == "Rejected"
            await client.call(
                call16.SecurityEventNotification(
                    type="InvalidCentralSystemCertificate",
                    timestamp=datetime.now(UTC).isoformat(),
                    tech_info="not a CA",
                )
            )
            everything = await http.get("/api/v1/security/events", params={"station_id": "CP-S78"})
        assert [(e["type"], e["tech_info"]) for e in everything.json()["items"]] == [
            ("InvalidCentralSystemCertificate", "not a CA")
        ]
        not_a_certificate = await _post_certificate(system, admin, "CP-S78", "-----BEGIN nothing")
        assert not_a_certificate.status_code == 422
    finally:
        await client.close()


async def _post_certificate(
    system: RunningCentralSystem, admin: str, station_id: str, pem: str
) -> Any:
    async with api(system, admin) as http:
        return await http.post(
            f"/api/v1/stations/{station_id}/certificates",
            json={"certificate_type": "CSMSRootCertificate", "certificate": pem},
        )


@pytest.mark.parametrize(
    ("case", "certificate_type"),
    [
        ("M01", "CSMSRootCertificate"),
        ("M02", "ManufacturerRootCertificate"),
        ("M03", "V2GRootCertificate"),
        ("M04", "MORootCertificate"),
    ],
)
async def test_TC_M_01_to_04_install_ca_certificate(
    system: RunningCentralSystem, admin: str, case: str, certificate_type: str
) -> None:
    client = await booted201(system, f"CS-{case}", Station201)
    pem = root_pem()
    try:
        async with api(system, admin) as http:
            response = await http.post(
                f"/api/v1/stations/CS-{case}/certificates",
                json={"certificate_type": certificate_type, "certificate": pem},
            )
        assert response.json()["status"] == "Accepted"
        assert client.cp.of("InstallCertificate") == [
            {"certificate_type": certificate_type, "certificate": pem}
        ]
    finally:
        await client.close()


async def test_TC_M_05_install_ca_certificate_failed(
    system: RunningCentralSystem, admin: str
) -> None:
    client = await booted201(system, "CS-M05", Station201)
    client.cp.answers["InstallCertificate"] = "Failed"
    try:
        response = await _post_certificate(system, admin, "CS-M05", root_pem())
        assert response.json() == {"status": "Failed", "response": {"status": "Failed"}}
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("case", "types", "expected_status"),
    [
        ("M12", ["CSMSRootCertificate"], "Accepted"),
        ("M13", ["ManufacturerRootCertificate"], "Accepted"),
        ("M14", ["V2GRootCertificate"], "Accepted"),
        ("M15", ["V2GCertificateChain"], "Accepted"),
        ("M16", ["MORootCertificate"], "Accepted"),
        ("M17", ["CSMSRootCertificate", "ManufacturerRootCertificate"], "Accepted"),
        ("M18", [], "Accepted"),
        ("M19", ["MORootCertificate"], "NotFound"),
    ],
)
async def test_TC_M_12_to_19_retrieve_certificates(
    system: RunningCentralSystem,
    admin: str,
    case: str,
    types: list[str],
    expected_status: str,
) -> None:
    """GetInstalledCertificateIds for one type (TC_M_12-16), two (TC_M_17), all (TC_M_18) and
    one the station does not hold (TC_M_19: NotFound)."""
    client = await booted201(system, f"CS-{case}", Station201)
    installed = {} if case == "M19" else INSTALLED
    client.cp.answers["installed"] = lambda: installed
    try:
        async with api(system, admin) as http:
            response = await http.get(
                f"/api/v1/stations/CS-{case}/certificates",
                params=[("certificate_type", t) for t in types],
            )
        assert response.status_code == 200, response.text
        body = response.json()
        (sent,) = client.cp.of("GetInstalledCertificateIds")
        assert sent.get("certificate_type") == (types or None)
        assert body["status"] == expected_status
        chain = body["response"].get("certificateHashDataChain", [])
        wanted = types or list(installed)
        assert [c["certificateType"] for c in chain] == [t for t in wanted if t in installed]
    finally:
        await client.close()


@pytest.mark.parametrize(("case", "answer"), [("M20", "Accepted"), ("M21", "Failed")])
async def test_TC_M_20_TC_M_21_delete_certificate(
    system: RunningCentralSystem, admin: str, case: str, answer: str
) -> None:
    """DeleteCertificate by hash data: Accepted (TC_M_20) or Failed (TC_M_21), as answered."""
    client = await booted201(system, f"CS-{case}", Station201)
    client.cp.answers["DeleteCertificate"] = answer
    data = INSTALLED["CSMSRootCertificate"]["certificate_hash_data"]
    try:
        async with api(system, admin) as http:
            response = await http.post(
                f"/api/v1/stations/CS-{case}/certificates/delete", json={"hash_data": data}
            )
        assert response.json()["status"] == answer
        assert client.cp.of("DeleteCertificate") == [{"certificate_hash_data": data}]
    finally:
        await client.close()


async def test_installed_certificates_of_a_16_station(
    system: RunningCentralSystem, admin: str
) -> None:
    """1.6 asks one type per request: without a type both are asked and merged."""
    client = await booted16(system, "CP-SIDS", Station16)
    client.cp.answers["ManufacturerRootCertificate"] = [hash_data("0a")]
    try:
        async with api(system, admin) as http:
            response = await http.get("/api/v1/stations/CP-SIDS/certificates")
        assert [p["certificate_type"] for p in client.cp.of("GetInstalledCertificateIds")] == [
            "CentralSystemRootCertificate",
            "ManufacturerRootCertificate",
        ]
        assert response.json()["status"] == "Accepted"
        assert response.json()["response"]["certificateHashData"][0]["serialNumber"] == "0a"
    finally:
        await client.close()


# --- V2G and combined station certificates (A02/A03) ---------------------------------------------


def verify(chain: str, ca: CertificateAuthority, common_name: str) -> None:
    leaf = x509.load_pem_x509_certificates(chain.encode())[0]
    leaf.verify_directly_issued_by(ca.certificate)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name


async def test_TC_A_12_update_certificate_v2g(system: RunningCentralSystem, admin: str) -> None:
    """TriggerMessage SignV2GCertificate, then the V2G CSR is signed and returned with its
    type."""
    client = await booted201(system, "CS-A12", Station201)
    try:
        async with api(system, admin) as http:
            response = await http.post(
                "/api/v1/stations/CS-A12/certificates/renew",
                json={"certificate_type": "V2GCertificate"},
            )
        assert response.json()["status"] == "Accepted"
        assert client.cp.of("TriggerMessage") == [{"requested_message": "SignV2GCertificate"}]
        signed = await client.call(
            call201.SignCertificate(csr=csr("CS-A12"), certificate_type="V2GCertificate")
        )
        assert signed.status == "Accepted"
        delivered = await wait_for(last(client, "CertificateSigned"), what="CertificateSigned")
        assert delivered["certificate_type"] == "V2GCertificate"
        verify(delivered["certificate_chain"], pki(system).ca, "CS-A12")
        async with api(system, admin) as http:
            issued = (await http.get("/api/v1/stations/CS-A12/certificates/issued")).json()
        assert [(c["certificateType"], c["expired"], c["renewalDue"]) for c in issued] == [
            ("V2GCertificate", False, True)
        ]

        async def tracked() -> bool:
            due = await system.services.certificates.due_for_renewal()
            return ("CS-A12", "V2GCertificate") in due

        await wait_for(tracked, what="the accepted certificate tracked for renewal")
    finally:
        await client.close()


async def test_TC_A_13_update_certificate_combined(
    system: RunningCentralSystem, admin: str
) -> None:
    """TriggerMessage SignCombinedCertificate; a CSR without certificateType is one certificate
    for OCPP and ISO 15118, returned without certificateType."""
    client = await booted201(system, "CS-A13", Station201)
    try:
        async with api(system, admin) as http:
            response = await http.post(
                "/api/v1/stations/CS-A13/certificates/renew",
                json={"certificate_type": "CombinedCertificate"},
            )
        assert response.json()["status"] == "Accepted"
        assert client.cp.of("TriggerMessage") == [{"requested_message": "SignCombinedCertificate"}]
        assert (await client.call(call201.SignCertificate(csr=csr("CS-A13")))).status == "Accepted"
        delivered = await wait_for(last(client, "CertificateSigned"), what="CertificateSigned")
        assert "certificate_type" not in delivered
        verify(delivered["certificate_chain"], pki(system).ca, "CS-A13")
    finally:
        await client.close()


async def test_security_events_of_refused_connections_are_queryable(
    system: RunningCentralSystem, admin: str
) -> None:
    """A wrong password is refused and kept as the central system's security event; owners and
    drivers cannot read the global list."""
    await system.services.stations.register("CP-SEV", password=PASSWORD)
    assert await refused(connect(system.ocpp_url, "CP-SEV", password="wrong password 12345")) == 401
    assert ("central_system", "FailedToAuthenticate") in await events(system, admin, "CP-SEV")
    async with api(system) as http:
        assert (await http.get("/api/v1/security/events")).status_code == 401


class ProbingStation(Station201):
    """Before it answers SetVariables, tries the new password on a second connection (with no
    usable subprotocol, so it replaces nothing): a station may reconnect that early."""

    url: str = ""
    probe: int | str | None = None

    @on("SetVariables")
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        password = set_variable_data[0]["attribute_value"]
        try:
            async with websockets.connect(
                f"{self.url}/{self.id}",
                subprotocols=["not-ocpp"],  # type: ignore[list-item]
                additional_headers=basic_auth(self.id, password),
            ) as probe:
                await probe.wait_closed()
                self.probe = "admitted"
        except websockets.InvalidStatus as error:
            self.probe = error.response.status_code
        return result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "component": data["component"],
                    "variable": data["variable"],
                }
                for data in set_variable_data
            ]
        )


async def test_a_new_password_is_admitted_while_its_answer_is_on_the_way(
    system: RunningCentralSystem,
) -> None:
    """TC_A_09: a station that accepted the new password may reconnect with it before the
    central system has read its answer; admission takes the password being changed to."""
    client = await booted201(system, "CS-PWP", ProbingStation, password=PASSWORD)
    client.cp.url = system.ocpp_url
    try:
        outcome = await system.services.security.rotate_password("CS-PWP")
        assert outcome.status == "Accepted"
        assert client.cp.probe == "admitted"
    finally:
        await client.close()
