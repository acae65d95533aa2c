"""Security profiles 2 (TLS + Basic auth) and 3 (mutual TLS), with certificates minted at test
time (TC_086_CSMS, TC_087_CSMS, TC_A_04/06/07/08_CSMS, A00.FR.002/404/405)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
import websockets
from ocpp.v16 import ChargePoint, call
from sqlalchemy import select

from central_system.domain.stations import SecurityProfile
from central_system.persistence.models import StationLogRow
from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import basic_auth

PASSWORD = "0123456789abcdef0123"


@dataclass
class Pki:
    server_ca: trustme.CA
    station_ca: trustme.CA
    directory: Path

    def client_context(
        self,
        certificate: trustme.LeafCert | None = None,
        *,
        max_version: ssl.TLSVersion | None = None,
    ) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.server_ca.configure_trust(context)
        if certificate is not None:
            certificate.configure_cert(context)
        if max_version is not None:
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.maximum_version = max_version
        return context


@pytest.fixture
async def tls_system(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[RunningCentralSystem, Pki]]:
    server_ca, station_ca = trustme.CA(), trustme.CA(organization_name="Station CA")
    server_cert = server_ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = (
        tmp_path / "server.pem",
        tmp_path / "server.key",
        tmp_path / "stations-ca.pem",
    )
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    server_cert.private_key_pem.write_to_path(str(key_file))
    station_ca.cert_pem.write_to_path(str(ca_file))
    settings = test_settings(
        database_url,
        ocpp_tls_port=0,
        ocpp_tls_cert=cert_file,
        ocpp_tls_key=key_file,
        ocpp_tls_client_ca=ca_file,
        cpo_name="ACME CPO",
    )
    async with running_central_system(settings) as running:
        yield running, Pki(server_ca, station_ca, tmp_path)


def wss(running: RunningCentralSystem, station_id: str) -> str:
    return f"wss://127.0.0.1:{running.system.ocpp_tls_port}/ocpp/{station_id}"


@contextlib.asynccontextmanager
async def session(
    url: str, context: ssl.SSLContext, headers: dict[str, str] | None = None
) -> AsyncIterator[Any]:
    async with websockets.connect(
        url, ssl=context, subprotocols=["ocpp1.6"], additional_headers=headers or {}
    ) as ws:  # type: ignore[list-item]
        yield ws


async def boots(ws: Any, station_id: str) -> str:
    import asyncio

    cp = ChargePoint(station_id, ws)
    task = asyncio.create_task(cp.start())
    try:
        reply = await cp.call(
            call.BootNotification(charge_point_model="M", charge_point_vendor="V"), suppress=False
        )
        return str(reply.status)
    finally:
        task.cancel()


async def refused_status(
    url: str, context: ssl.SSLContext, headers: dict[str, str] | None = None
) -> int | str:
    try:
        async with session(url, context, headers):
            return "connected"
    except websockets.InvalidStatus as error:
        return error.response.status_code
    except (ssl.SSLError, ConnectionError, OSError, websockets.InvalidMessage) as error:
        # With TLS 1.3 the server's verdict on a client certificate arrives after the client
        # finished its handshake: the connection then ends before any HTTP response.
        return f"tls: {type(error).__name__}"


async def test_profile_2_tls_with_basic_auth(tls_system: tuple[RunningCentralSystem, Pki]) -> None:
    """TC_086_CSMS / TC_A_04: valid server certificate and password; a wrong password is 401;
    the same station over plain ws is refused (A00.FR.002)."""
    running, pki = tls_system
    await running.services.stations.register(
        "CP-2", password=PASSWORD, security_profile=SecurityProfile.TLS_BASIC_AUTH
    )
    async with session(
        wss(running, "CP-2"), pki.client_context(), basic_auth("CP-2", PASSWORD)
    ) as ws:
        assert ws.subprotocol == "ocpp1.6"
        assert await boots(ws, "CP-2") == "Accepted"
    assert (
        await refused_status(
            wss(running, "CP-2"), pki.client_context(), basic_auth("CP-2", "wrong-password-0000")
        )
        == 401
    )
    with pytest.raises(websockets.InvalidStatus) as plain:
        await websockets.connect(
            f"{running.ocpp_url}/CP-2",
            subprotocols=["ocpp1.6"],
            additional_headers=basic_auth("CP-2", PASSWORD),
        )  # type: ignore[list-item]
    assert plain.value.response.status_code == 401


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_tls_1_1_is_refused(tls_system: tuple[RunningCentralSystem, Pki]) -> None:
    """TC_A_06: TLS version too low."""
    running, pki = tls_system
    await running.services.stations.register(
        "CP-2", password=PASSWORD, security_profile=SecurityProfile.TLS_BASIC_AUTH
    )
    try:
        context = pki.client_context(max_version=ssl.TLSVersion.TLSv1_1)
    except ValueError:  # this OpenSSL cannot even build a TLS 1.1 client
        pytest.skip("OpenSSL here cannot offer TLS 1.1")
    result = await refused_status(wss(running, "CP-2"), context, basic_auth("CP-2", PASSWORD))
    assert str(result).startswith("tls:")


async def test_profile_3_mutual_tls(tls_system: tuple[RunningCentralSystem, Pki]) -> None:
    """TC_087_CSMS / TC_A_07 valid client certificate; TC_A_08 invalid ones are refused: expired,
    signed by another CA, wrong CN, wrong O, none at all."""
    running, pki = tls_system
    await running.services.stations.register(
        "CP-3", security_profile=SecurityProfile.TLS_CLIENT_CERTIFICATE
    )
    url = wss(running, "CP-3")
    good = pki.station_ca.issue_cert(common_name="CP-3", organization_name="ACME CPO")
    async with session(url, pki.client_context(good)) as ws:
        assert await boots(ws, "CP-3") == "Accepted"

    now = datetime.now(UTC)
    expired = pki.station_ca.issue_cert(
        common_name="CP-3",
        organization_name="ACME CPO",
        not_before=now - timedelta(days=30),
        not_after=now - timedelta(days=1),
    )
    foreign = trustme.CA().issue_cert(common_name="CP-3", organization_name="ACME CPO")
    wrong_cn = pki.station_ca.issue_cert(common_name="CP-OTHER", organization_name="ACME CPO")
    wrong_o = pki.station_ca.issue_cert(common_name="CP-3", organization_name="Somebody Else")
    for certificate in (expired, foreign):
        assert str(await refused_status(url, pki.client_context(certificate))).startswith("tls:")
    for certificate in (wrong_cn, wrong_o, None):
        assert await refused_status(url, pki.client_context(certificate)) == 401
    # Failed attempts are kept as security events.
    async with running.system.uow() as uow:
        log = (
            await uow.session.scalars(
                select(StationLogRow).where(StationLogRow.kind == "CsmsSecurityEvent")
            )
        ).all()
    assert len(log) >= 3
