"""Firmware management against the real central system (the station is the `ocpp` package's
client): 1.6 TC_044_1-3, security extension TC_080/TC_081, 2.0.1 TC_L_01-TC_L_13 and
TC_L_17-TC_L_24, and firmware campaigns over many stations with retries, through the REST API."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from central_system.domain.firmware import FirmwareRequest, RetryPolicy
from tests.conftest import RunningCentralSystem
from tests.helpers import OcppClient, connect, wait_for
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
system = shared_system(firmware_check_interval=0.05)
__all__ = ["admin_fixture", "system"]

LOCATION = "https://firmware.example.com/dc-2/fw-2.4.1.bin"
SIGNER = trustme.CA(organization_name="Acme firmware signing").cert_pem.bytes().decode()
SIGNATURE = "c2lnbmF0dXJlIG9mIHRoZSBmaXJtd2FyZSBmaWxl"


class Station16(Recorder, ChargePoint16):
    @on("UpdateFirmware")
    async def on_update(self, **payload: Any) -> Any:
        self.record("UpdateFirmware", payload)
        return result16.UpdateFirmware()

    @on("SignedUpdateFirmware")
    async def on_signed_update(self, **payload: Any) -> Any:
        self.record("SignedUpdateFirmware", payload)
        return result16.SignedUpdateFirmware(status=self.answer("SignedUpdateFirmware", "Accepted"))


class Station201(Recorder, ChargePoint201):
    @on("UpdateFirmware")
    async def on_update(self, **payload: Any) -> Any:
        self.record("UpdateFirmware", payload)
        return result201.UpdateFirmware(status=self.answer("UpdateFirmware", "Accepted"))

    @on("PublishFirmware")
    async def on_publish(self, **payload: Any) -> Any:
        self.record("PublishFirmware", payload)
        return result201.PublishFirmware(status=self.answer("PublishFirmware", "Accepted"))

    @on("UnpublishFirmware")
    async def on_unpublish(self, **payload: Any) -> Any:
        self.record("UnpublishFirmware", payload)
        return result201.UnpublishFirmware(status=self.answer("UnpublishFirmware", "Unpublished"))


def request(*, signed: bool = False, retrieve_in: float = 0) -> FirmwareRequest:
    return FirmwareRequest(
        location=LOCATION,
        retrieve_at=datetime.now(UTC) + timedelta(seconds=retrieve_in),
        signing_certificate=SIGNER if signed else None,
        signature=SIGNATURE if signed else None,
    )


def policy(retries: int = 0) -> RetryPolicy:
    return RetryPolicy(retries, timedelta(0))


async def job_status(system: RunningCentralSystem, job_id: int) -> str:
    async with system.system.uow() as uow:
        job = await uow.firmware.get_job(job_id)
    assert job is not None
    return str(job.status)


async def job(system: RunningCentralSystem, job_id: int) -> Any:
    async with system.system.uow() as uow:
        return await uow.firmware.get_job(job_id)


async def wait_status(system: RunningCentralSystem, job_id: int, status: str) -> None:
    async def reached() -> bool:
        return await job_status(system, job_id) == status

    await wait_for(reached, what=f"job {job_id} {status}")


async def report16(client: OcppClient, *statuses: str) -> None:
    for status in statuses:
        await client.call(call16.FirmwareStatusNotification(status=status))


async def report201(client: OcppClient, job_id: int, *statuses: str) -> None:
    for status in statuses:
        await client.call(call201.FirmwareStatusNotification(status=status, request_id=job_id))


# --- OCPP 1.6 ----------------------------------------------------------------------------------


async def test_TC_044_1_firmware_update_download_and_install(
    system: RunningCentralSystem, admin: str
) -> None:
    """Through the REST API: UpdateFirmware with location and retrieveDate; the station's
    notifications move the job to Installed, each one answered."""
    client = await booted16(system, "CP-F441", Station16)
    try:
        async with api(system, admin) as http:
            response = await http.post(
                "/api/v1/stations/CP-F441/firmware",
                json={"location": LOCATION, "retries": 1, "retry_interval_s": 0},
            )
            assert response.status_code == 201, response.text
            body = response.json()
            assert body["station_answer"] == {"status": None, "response": {}}
            job_id = body["job"]["id"]
            assert body["job"]["status"] == "Accepted" and body["job"]["attempts"] == 1
            (sent,) = client.cp.of("UpdateFirmware")
            assert sent["location"] == LOCATION and sent["retrieve_date"].endswith("Z")
            await report16(client, "Downloading", "Downloaded", "Installing")
            assert await job_status(system, job_id) == "Installing"
            # the station reboots into the new firmware and reports it installed
            await client.call(
                call16.BootNotification(charge_point_model="DC-2", charge_point_vendor="Acme")
            )
            await report16(client, "Installed")
            station = (await http.get("/api/v1/stations/CP-F441/firmware")).json()
        assert station["firmware_status"] == "Installed"
        assert [(j["id"], j["status"]) for j in station["jobs"]] == [(job_id, "Installed")]
        campaign, _ = await system.services.firmware.campaign(body["job"]["campaign_id"])
        assert campaign.status.value == "finished"
    finally:
        await client.close()


async def test_TC_044_2_firmware_update_download_failed(system: RunningCentralSystem) -> None:
    """DownloadFailed is retried after the interval; the last failure ends the job Failed."""
    client = await booted16(system, "CP-F442", Station16)
    try:
        first, _ = await system.services.firmware.update_station(
            "CP-F442", request(), policy(retries=1)
        )
        await report16(client, "Downloading", "DownloadFailed")
        await wait_for(lambda: len(client.cp.of("UpdateFirmware")) == 2, what="the retry")
        await wait_status(system, first.id, "Accepted")
        await report16(client, "Downloading", "DownloadFailed")
        await wait_status(system, first.id, "Failed")
        failed = await job(system, first.id)
        assert (failed.attempts, failed.last_error) == (2, "DownloadFailed")
    finally:
        await client.close()


async def test_TC_044_3_firmware_update_installation_failed(system: RunningCentralSystem) -> None:
    client = await booted16(system, "CP-F443", Station16)
    try:
        sent, _ = await system.services.firmware.update_station("CP-F443", request(), policy())
        await report16(client, "Downloading", "Downloaded", "Installing", "InstallationFailed")
        failed = await job(system, sent.id)
        assert (failed.status, failed.last_error) == ("Failed", "InstallationFailed")
        station = await system.services.stations.get("CP-F443")
        assert station.firmware_status == "InstallationFailed"
    finally:
        await client.close()


async def test_TC_080_secure_firmware_update(system: RunningCentralSystem) -> None:
    """SignedUpdateFirmware with requestId, signing certificate and signature; the
    SignedFirmwareStatusNotifications with that requestId end the job Installed."""
    client = await booted16(system, "CP-F80", Station16)
    try:
        sent, outcome = await system.services.firmware.update_station(
            "CP-F80", request(signed=True), policy()
        )
        assert outcome is not None and outcome.status == "Accepted"
        (signed,) = client.cp.of("SignedUpdateFirmware")
        assert signed["request_id"] == sent.id
        assert signed["firmware"]["signing_certificate"] == SIGNER
        assert signed["firmware"]["signature"] == SIGNATURE
        assert not client.cp.of("UpdateFirmware")
        for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing"):
            await client.call(
                call16.SignedFirmwareStatusNotification(status=status, request_id=sent.id)
            )
        assert await job_status(system, sent.id) == "Installing"
        await client.call(
            call16.SignedFirmwareStatusNotification(status="Installed", request_id=sent.id)
        )
        assert await job_status(system, sent.id) == "Installed"
    finally:
        await client.close()


async def test_TC_081_secure_firmware_update_invalid_signature(
    system: RunningCentralSystem, admin: str
) -> None:
    """InvalidSignature ends the job (no retries left); the station's InvalidFirmwareSignature
    security event is queryable through the API."""
    client = await booted16(system, "CP-F81", Station16)
    try:
        sent, _ = await system.services.firmware.update_station(
            "CP-F81", request(signed=True), policy()
        )
        for status in ("Downloading", "Downloaded", "InvalidSignature"):
            await client.call(
                call16.SignedFirmwareStatusNotification(status=status, request_id=sent.id)
            )
        await client.call(
            call16.SecurityEventNotification(
                type="InvalidFirmwareSignature", timestamp=_now(), tech_info="sha256 mismatch"
            )
        )
        failed = await job(system, sent.id)
        assert (failed.status, failed.last_error) == ("Failed", "InvalidSignature")
        async with api(system, admin) as http:
            events = (await http.get("/api/v1/stations/CP-F81/security/events")).json()
        assert [(e["source"], e["type"], e["tech_info"]) for e in events["items"]] == [
            ("station", "InvalidFirmwareSignature", "sha256 mismatch")
        ]
    finally:
        await client.close()


def _now() -> str:
    return datetime.now(UTC).isoformat()


# --- OCPP 2.0.1 --------------------------------------------------------------------------------


async def test_TC_L_01_secure_firmware_update_installation_successful(
    system: RunningCentralSystem,
) -> None:
    client = await booted201(system, "CS-L01", Station201)
    try:
        sent, outcome = await system.services.firmware.update_station(
            "CS-L01", request(signed=True), policy()
        )
        assert outcome is not None and outcome.status == "Accepted"
        (update,) = client.cp.of("UpdateFirmware")
        assert update["request_id"] == sent.id
        assert update["firmware"]["location"] == LOCATION
        assert update["firmware"]["signature"] == SIGNATURE
        await report201(
            client, sent.id, "Downloading", "Downloaded", "SignatureVerified", "Installing"
        )
        await report201(client, sent.id, "InstallRebooting")
        assert await job_status(system, sent.id) == "InstallRebooting"
        await client.call(
            call201.BootNotification(
                charging_station={"model": "DC-2", "vendor_name": "Acme"},
                reason="FirmwareUpdate",
            )
        )
        await report201(client, sent.id, "Installed")
        assert await job_status(system, sent.id) == "Installed"
    finally:
        await client.close()


async def test_TC_L_02_secure_firmware_update_install_scheduled(
    system: RunningCentralSystem,
) -> None:
    client = await booted201(system, "CS-L02", Station201)
    try:
        sent, _ = await system.services.firmware.update_station("CS-L02", request(), policy())
        await report201(client, sent.id, "Downloading", "Downloaded", "InstallScheduled")
        assert await job_status(system, sent.id) == "InstallScheduled"
        await report201(client, sent.id, "Installing", "Installed")
        assert await job_status(system, sent.id) == "Installed"
    finally:
        await client.close()


async def test_TC_L_03_secure_firmware_update_download_scheduled(
    system: RunningCentralSystem,
) -> None:
    """A retrieveDateTime in the future: the station schedules the download."""
    client = await booted201(system, "CS-L03", Station201)
    try:
        sent, _ = await system.services.firmware.update_station(
            "CS-L03", request(retrieve_in=3600), policy()
        )
        (update,) = client.cp.of("UpdateFirmware")
        retrieve = datetime.fromisoformat(update["firmware"]["retrieve_date_time"])
        assert retrieve - datetime.now(UTC) > timedelta(minutes=50)
        await report201(client, sent.id, "DownloadScheduled")
        assert await job_status(system, sent.id) == "DownloadScheduled"
        await report201(client, sent.id, "Downloading", "Downloaded", "Installing", "Installed")
        assert await job_status(system, sent.id) == "Installed"
    finally:
        await client.close()


@pytest.mark.parametrize("answer", ["RevokedCertificate", "InvalidCertificate"])
async def test_TC_L_04_TC_L_05_secure_firmware_update_certificate_refused(
    system: RunningCentralSystem, answer: str
) -> None:
    """TC_L_04 RevokedCertificate, TC_L_05 InvalidCertificate: the station refuses the signing
    certificate; no retry can help, so the job fails at once."""
    station_id = f"CS-L0{4 if answer.startswith('Revoked') else 5}"
    client = await booted201(system, station_id, Station201)
    client.cp.answers["UpdateFirmware"] = answer
    try:
        sent, outcome = await system.services.firmware.update_station(
            station_id, request(signed=True), policy(retries=3)
        )
        assert outcome is not None and outcome.status == answer
        assert (sent.status, sent.last_error, sent.attempts) == ("Failed", answer, 1)
        assert len(client.cp.of("UpdateFirmware")) == 1  # a Failed job is never sent again
    finally:
        await client.close()


async def test_TC_L_06_secure_firmware_update_invalid_signature(
    system: RunningCentralSystem,
) -> None:
    """InvalidSignature is retried; the second attempt installs."""
    client = await booted201(system, "CS-L06", Station201)
    try:
        sent, _ = await system.services.firmware.update_station(
            "CS-L06", request(signed=True), policy(retries=1)
        )
        await report201(client, sent.id, "Downloading", "Downloaded", "InvalidSignature")
        await wait_for(lambda: len(client.cp.of("UpdateFirmware")) == 2, what="the retry")
        await wait_status(system, sent.id, "Accepted")
        await report201(client, sent.id, "Downloaded", "SignatureVerified", "Installed")
        installed = await job(system, sent.id)
        assert (installed.status, installed.attempts) == ("Installed", 2)
    finally:
        await client.close()


async def _fails_with(system: RunningCentralSystem, station_id: str, *statuses: str) -> None:
    client = await booted201(system, station_id, Station201)
    try:
        sent, _ = await system.services.firmware.update_station(station_id, request(), policy())
        await report201(client, sent.id, *statuses)
        failed = await job(system, sent.id)
        assert (failed.status, failed.last_error) == ("Failed", statuses[-1])
    finally:
        await client.close()


async def test_TC_L_07_secure_firmware_update_download_failed(
    system: RunningCentralSystem,
) -> None:
    await _fails_with(system, "CS-L07", "Downloading", "DownloadFailed")


async def test_TC_L_08_secure_firmware_update_install_verification_failed(
    system: RunningCentralSystem,
) -> None:
    await _fails_with(
        system, "CS-L08", "Downloading", "Downloaded", "Installing", "InstallVerificationFailed"
    )


async def test_TC_L_09_secure_firmware_update_installation_failed(
    system: RunningCentralSystem,
) -> None:
    await _fails_with(system, "CS-L09", "Downloading", "Downloaded", "InstallationFailed")


async def test_TC_L_10_secure_firmware_update_accepted_canceled(
    system: RunningCentralSystem,
) -> None:
    """A second update while one downloads: the station answers AcceptedCanceled, the first
    job is cancelled (replaced), the second goes on."""
    client = await booted201(system, "CS-L10", Station201)
    try:
        first, _ = await system.services.firmware.update_station("CS-L10", request(), policy())
        await report201(client, first.id, "Downloading")
        client.cp.answers["UpdateFirmware"] = "AcceptedCanceled"
        second, outcome = await system.services.firmware.update_station(
            "CS-L10", request(), policy()
        )
        assert outcome is not None and outcome.status == "AcceptedCanceled"
        replaced = await job(system, first.id)
        assert (replaced.status, replaced.last_error) == (
            "Cancelled",
            f"replaced by request {second.id}",
        )
        await report201(client, second.id, "Downloading", "Downloaded", "Installed")
        assert await job_status(system, second.id) == "Installed"
    finally:
        await client.close()


async def test_TC_L_11_secure_firmware_update_unable_to_cancel(
    system: RunningCentralSystem,
) -> None:
    """The station is installing and cannot cancel: it rejects the new request; the running
    update is unaffected."""
    client = await booted201(system, "CS-L11", Station201)
    try:
        first, _ = await system.services.firmware.update_station("CS-L11", request(), policy())
        await report201(client, first.id, "Downloading", "Downloaded", "Installing")
        client.cp.answers["UpdateFirmware"] = "Rejected"
        second, outcome = await system.services.firmware.update_station(
            "CS-L11", request(), policy()
        )
        assert outcome is not None and outcome.status == "Rejected"
        assert (second.status, second.last_error) == ("Failed", "Rejected")
        assert await job_status(system, first.id) == "Installing"
        await report201(client, first.id, "Installed")
        assert await job_status(system, first.id) == "Installed"
    finally:
        await client.close()


async def test_TC_L_13_secure_firmware_update_with_ongoing_transaction(
    system: RunningCentralSystem,
) -> None:
    """AllowNewSessionsPendingFirmwareUpdate=false: the station schedules the installation until
    its transaction ends; the transaction is processed as usual meanwhile."""
    client = await booted201(system, "CS-L13", Station201)
    try:
        await client.call(_tx_event("Started", 0, "CablePluggedIn"))
        sent, _ = await system.services.firmware.update_station("CS-L13", request(), policy())
        await report201(client, sent.id, "Downloading", "Downloaded", "InstallScheduled")
        await client.call(
            call201.StatusNotification(
                timestamp=_now(), connector_status="Unavailable", evse_id=2, connector_id=1
            )
        )
        assert await job_status(system, sent.id) == "InstallScheduled"
        ended = await client.call(_tx_event("Ended", 1, "EVCommunicationLost"))
        assert ended is not None
        await report201(client, sent.id, "Installing", "Installed")
        assert await job_status(system, sent.id) == "Installed"
        transaction = await system.services.transactions.get("CS-L13", "TX-L13")
        assert transaction is not None and transaction.ended
    finally:
        await client.close()


def _tx_event(event_type: str, seq_no: int, trigger: str) -> Any:
    return call201.TransactionEvent(
        event_type=event_type,
        timestamp=_now(),
        trigger_reason=trigger,
        seq_no=seq_no,
        transaction_info={"transactionId": "TX-L13"},
        evse={"id": 1, "connectorId": 1},
    )


# --- PublishFirmware / UnpublishFirmware on a local controller (2.0.1 L03/L04) -----------------

CHECKSUM = hashlib.md5(b"firmware image", usedforsecurity=False).hexdigest()


async def _publish(system: RunningCentralSystem, admin: str, station_id: str) -> tuple[Any, int]:
    client = await booted201(system, station_id, Station201)
    async with api(system, admin) as http:
        response = await http.post(
            f"/api/v1/stations/{station_id}/firmware/publication",
            json={"location": LOCATION, "checksum": CHECKSUM},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "Accepted" and body["response"] == {"status": "Accepted"}
    (sent,) = client.cp.of("PublishFirmware")
    assert (sent["checksum"], sent["request_id"]) == (CHECKSUM, body["request_id"])
    return client, body["request_id"]


async def _reports(
    system: RunningCentralSystem, admin: str, station_id: str
) -> list[tuple[str, str | None]]:
    async with api(system, admin) as http:
        entries = (await http.get(f"/api/v1/stations/{station_id}/firmware/publication")).json()
    return [(e["kind"], e["data"].get("status")) for e in reversed(entries)]


async def test_TC_L_17_publish_firmware_published(system: RunningCentralSystem, admin: str) -> None:
    client, request_id = await _publish(system, admin, "LC-L17")
    try:
        for status in ("Downloading", "Downloaded", "ChecksumVerified"):
            await client.call(
                call201.PublishFirmwareStatusNotification(status=status, request_id=request_id)
            )
        await client.call(
            call201.PublishFirmwareStatusNotification(
                status="Published",
                request_id=request_id,
                location=["http://192.168.1.10/fw.bin", "ftp://192.168.1.10/fw.bin"],
            )
        )
        reports = await _reports(system, admin, "LC-L17")
        assert reports == [
            ("PublishFirmware", "Accepted"),
            ("PublishFirmwareStatusNotification", "Downloading"),
            ("PublishFirmwareStatusNotification", "Downloaded"),
            ("PublishFirmwareStatusNotification", "ChecksumVerified"),
            ("PublishFirmwareStatusNotification", "Published"),
        ]
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("case", "statuses"),
    [
        ("L19", ["Downloading", "Downloaded", "InvalidChecksum"]),
        ("L20", ["Downloading", "Downloaded", "ChecksumVerified", "PublishFailed"]),
        ("L24", ["Downloading", "DownloadFailed"]),
    ],
)
async def test_TC_L_19_TC_L_20_TC_L_24_publish_firmware_failures(
    system: RunningCentralSystem, admin: str, case: str, statuses: list[str]
) -> None:
    """TC_L_19 Invalid checksum, TC_L_20 PublishFailed, TC_L_24 Download failed: every report
    is answered and kept."""
    client, request_id = await _publish(system, admin, f"LC-{case}")
    try:
        for status in statuses:
            await client.call(
                call201.PublishFirmwareStatusNotification(status=status, request_id=request_id)
            )
        reports = await _reports(system, admin, f"LC-{case}")
        assert [status for _, status in reports[1:]] == statuses
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("case", "answer"),
    [("L21", "Unpublished"), ("L22", "NoFirmware"), ("L23", "DownloadOngoing")],
)
async def test_TC_L_21_TC_L_22_TC_L_23_unpublish_firmware(
    system: RunningCentralSystem, admin: str, case: str, answer: str
) -> None:
    """UnpublishFirmware answered Unpublished (TC_L_21), NoFirmware (TC_L_22) or
    DownloadOngoing (TC_L_23), as the station said."""
    client = await booted201(system, f"LC-{case}", Station201)
    client.cp.answers["UnpublishFirmware"] = answer
    try:
        async with api(system, admin) as http:
            response = await http.post(
                f"/api/v1/stations/LC-{case}/firmware/publication/unpublish",
                json={"checksum": CHECKSUM},
            )
            assert response.status_code == 200, response.text
            assert response.json() == {"status": answer, "response": {"status": answer}}
        (sent,) = client.cp.of("UnpublishFirmware")
        assert sent["checksum"] == CHECKSUM
        assert (await _reports(system, admin, f"LC-{case}")) == [("UnpublishFirmware", answer)]
    finally:
        await client.close()


async def test_publish_firmware_to_a_16_station_is_a_conflict(
    system: RunningCentralSystem, admin: str
) -> None:
    client = await booted16(system, "CP-PUB16", Station16)
    try:
        async with api(system, admin) as http:
            response = await http.post(
                "/api/v1/stations/CP-PUB16/firmware/publication",
                json={"location": LOCATION, "checksum": CHECKSUM},
            )
        assert response.status_code == 409
        assert response.json()["type"] == "/problems/unsupported-by-station"
    finally:
        await client.close()


# --- campaigns ----------------------------------------------------------------------------------


async def test_campaign_over_many_stations_with_retries_and_an_offline_station(
    system: RunningCentralSystem, admin: str
) -> None:
    """A 1.6 and a 2.0.1 station online, one offline: the online ones get the update at once,
    the 2.0.1 station rejects it first and is retried, the offline one gets it when it connects
    (being offline uses no retry); every station's status is visible per campaign."""
    one = await booted16(system, "CP-C1", Station16)
    two = await booted201(system, "CS-C2", Station201)
    two.cp.answers["UpdateFirmware"] = iter(["Rejected", "Accepted"]).__next__
    await system.services.stations.register("CP-C3")
    three: OcppClient | None = None
    try:
        async with api(system, admin) as http:
            created = await http.post(
                "/api/v1/firmware/campaigns",
                json={
                    "station_ids": ["CP-C1", "CS-C2", "CP-C3"],
                    "location": LOCATION,
                    "retries": 2,
                    "retry_interval_s": 0,
                },
            )
            assert created.status_code == 201, created.text
            campaign_id = created.json()["id"]
            # Dispatch starts at once: a job may already be Sent, or even answered, when the
            # answer is built (a rejection with retries left is Pending again).
            summary = created.json()["summary"]
            assert sum(summary.values()) == 3
            assert set(summary) <= {"Pending", "Sent", "Accepted"}
            await wait_for(lambda: one.cp.of("UpdateFirmware"), what="CP-C1 got the update")
            await wait_for(lambda: len(two.cp.of("UpdateFirmware")) == 2, what="CS-C2 retried")

            three = await connect(system.ocpp_url, "CP-C3", charge_point_class=Station16)
            await three.call(
                call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
            await wait_for(lambda: three.cp.of("UpdateFirmware"), what="CP-C3 got it once online")

            jobs = await _jobs(http, campaign_id)
            assert jobs["CS-C2"]["attempts"] == 2 and jobs["CP-C3"]["attempts"] == 1
            await report16(one, "Downloading", "Downloaded", "Installing", "Installed")
            await report201(two, jobs["CS-C2"]["id"], "Downloading", "Installing", "Installed")
            await report16(three, "Downloading", "DownloadFailed")
            await wait_for(lambda: len(three.cp.of("UpdateFirmware")) == 2, what="CP-C3 retried")
            await wait_for(lambda: _sent_status(http, campaign_id, "CP-C3", "Accepted"))
            await report16(three, "Downloading", "Installed")
            campaign = (await http.get(f"/api/v1/firmware/campaigns/{campaign_id}")).json()
            listed = (await http.get("/api/v1/firmware/campaigns")).json()
        assert campaign["status"] == "finished"
        assert campaign["summary"] == {"Installed": 3}
        assert {j["station_id"]: j["attempts"] for j in campaign["jobs"]} == {
            "CP-C1": 1,
            "CS-C2": 2,
            "CP-C3": 2,
        }
        assert campaign_id in [c["id"] for c in listed["items"]]
    finally:
        for client in (one, two, three):
            if client is not None:
                await client.close()


async def _jobs(http: Any, campaign_id: int) -> dict[str, dict[str, Any]]:
    campaign = (await http.get(f"/api/v1/firmware/campaigns/{campaign_id}")).json()
    return {j["station_id"]: j for j in campaign["jobs"]}


async def _sent_status(http: Any, campaign_id: int, station_id: str, status: str) -> bool:
    return (await _jobs(http, campaign_id))[station_id]["status"] == status


async def test_cancelled_campaign_sends_nothing_more(
    system: RunningCentralSystem, admin: str
) -> None:
    await system.services.stations.register("CP-X1")
    async with api(system, admin) as http:
        created = await http.post(
            "/api/v1/firmware/campaigns", json={"station_ids": ["CP-X1"], "location": LOCATION}
        )
        campaign_id = created.json()["id"]
        cancelled = await http.post(f"/api/v1/firmware/campaigns/{campaign_id}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["jobs"][0]["status"] == "Cancelled"
        again = await http.post(f"/api/v1/firmware/campaigns/{campaign_id}/cancel")
        assert again.status_code == 409
        unknown = await http.post(
            "/api/v1/firmware/campaigns",
            json={"station_ids": ["CP-NOPE"], "location": LOCATION},
        )
        assert unknown.status_code == 404
        bad = await http.post(
            "/api/v1/firmware/campaigns",
            json={"station_ids": ["CP-X1"], "location": LOCATION, "signature": "abc"},
        )
        assert bad.status_code == 422
    client = await connect(system.ocpp_url, "CP-X1", charge_point_class=Station16)
    try:
        await client.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await client.call(call16.Heartbeat())
        assert not client.cp.of("UpdateFirmware")
    finally:
        await client.close()


async def test_update_of_an_offline_station_is_a_conflict_and_waits(
    system: RunningCentralSystem, admin: str
) -> None:
    """The single-station update answers 409 station-offline; its job stays Pending and goes
    out when the station connects."""
    await system.services.stations.register("CP-OFF")
    async with api(system, admin) as http:
        response = await http.post("/api/v1/stations/CP-OFF/firmware", json={"location": LOCATION})
        assert response.status_code == 409
        assert response.json()["type"] == "/problems/station-offline"
        (pending,) = (await http.get("/api/v1/stations/CP-OFF/firmware")).json()["jobs"]
        assert (pending["status"], pending["attempts"], pending["last_error"]) == (
            "Pending",
            0,
            "offline",
        )
    client = await connect(system.ocpp_url, "CP-OFF", charge_point_class=Station16)
    try:
        await client.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await wait_for(last(client, "UpdateFirmware"), what="the update once online")
    finally:
        await client.close()


async def test_owners_run_campaigns_on_their_own_stations_only(
    system: RunningCentralSystem, admin: str
) -> None:
    """An owner starts and sees campaigns of stations they own; another owner sees none of
    them and cannot put a foreign station into a campaign."""
    from tests.api_helpers import STATION

    tokens = {}
    async with api(system, admin) as http:
        for name in ("a", "b"):
            email = f"fw-owner-{name}@example.com"
            created = await http.post(
                "/api/v1/users",
                json={"email": email, "password": "owner password 1", "role": "owner"},
            )
            assert created.status_code == 201, created.text
            login = await http.post(
                "/api/v1/auth/token", data={"username": email, "password": "owner password 1"}
            )
            tokens[name] = login.json()["access_token"]
    async with api(system, tokens["a"]) as owner_a, api(system, tokens["b"]) as owner_b:
        station = await owner_a.post("/api/v1/stations", json={**STATION, "id": "CP-OWN-A"})
        assert station.status_code == 201, station.text
        campaign = await owner_a.post(
            "/api/v1/firmware/campaigns", json={"station_ids": ["CP-OWN-A"], "location": LOCATION}
        )
        assert campaign.status_code == 201, campaign.text
        campaign_id = campaign.json()["id"]
        foreign = await owner_b.post(
            "/api/v1/firmware/campaigns", json={"station_ids": ["CP-OWN-A"], "location": LOCATION}
        )
        assert foreign.status_code == 403
        assert (await owner_b.get(f"/api/v1/firmware/campaigns/{campaign_id}")).status_code == 403
        assert (await owner_b.get("/api/v1/firmware/campaigns")).json()["total"] == 0
        mine = (await owner_a.get("/api/v1/firmware/campaigns")).json()
        assert [c["id"] for c in mine["items"]] == [campaign_id] and mine["total"] == 1
