"""Diagnostics and logs against the real central system: 1.6 GetDiagnostics (TC_045_1/2),
GetLog of the 1.6 security extension (TC_079) and 2.0.1 (TC_N_25, TC_N_34, TC_N_35, TC_N_36),
with the station's upload to the URL the central system gave it, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.conftest import RunningCentralSystem
from tests.maintenance_helpers import (
    Recorder,
    admin_fixture,
    api,
    booted16,
    booted201,
    shared_system,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
MAX_BYTES = 64 * 1024
system = shared_system(
    upload_dir=lambda directory: directory / "uploads", upload_max_bytes=MAX_BYTES
)
__all__ = ["admin_fixture", "system"]

CONTENT = b"2026-11-26T12:00:00Z boot\n2026-11-26T12:00:01Z connector 1 Available\n" * 20


class Station16(Recorder, ChargePoint16):
    @on("GetDiagnostics")
    async def on_get_diagnostics(self, **payload: Any) -> Any:
        self.record("GetDiagnostics", payload)
        return result16.GetDiagnostics(file_name=self.answer("GetDiagnostics", "diag.zip"))

    @on("GetLog")
    async def on_get_log(self, **payload: Any) -> Any:
        self.record("GetLog", payload)
        return result16.GetLog(status=self.answer("GetLog", "Accepted"), filename="security.log")


class Station201(Recorder, ChargePoint201):
    @on("GetLog")
    async def on_get_log(self, **payload: Any) -> Any:
        self.record("GetLog", payload)
        return result201.GetLog(status=self.answer("GetLog", "Accepted"), filename="station.log")


async def request_log(
    system: RunningCentralSystem, admin: str, station_id: str, log_type: str
) -> dict[str, Any]:
    async with api(system, admin) as http:
        response = await http.post(
            f"/api/v1/stations/{station_id}/logs", json={"log_type": log_type}
        )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def log_request(
    system: RunningCentralSystem, admin: str, station_id: str, request_id: int
) -> dict[str, Any]:
    async with api(system, admin) as http:
        response = await http.get(f"/api/v1/stations/{station_id}/logs/{request_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def download(system: RunningCentralSystem, admin: str, path: str) -> httpx.Response:
    async with api(system, admin) as http:
        return await http.get(path)


async def test_TC_045_1_get_diagnostics(system: RunningCentralSystem, admin: str) -> None:
    """GetDiagnostics with an upload URL of the central system's own API; the station uploads
    there (multipart POST) and reports Uploading, Uploaded; the operator downloads the file."""
    client = await booted16(system, "CP-D451", Station16)
    try:
        created = await request_log(system, admin, "CP-D451", "Diagnostics")
        assert created["station_answer"] == {"status": None, "response": {"fileName": "diag.zip"}}
        request = created["request"]
        assert (request["status"], request["file_name"]) == ("Accepted", "diag.zip")
        (sent,) = client.cp.of("GetDiagnostics")
        location = sent["location"]
        assert location.startswith(f"http://127.0.0.1:{system.system.api_port}/api/v1/uploads/")
        await client.call(call16.DiagnosticsStatusNotification(status="Uploading"))
        assert (await log_request(system, admin, "CP-D451", request["id"]))["status"] == "Uploading"
        async with httpx.AsyncClient() as station_http:  # no credentials: the URL is the key
            upload = await station_http.post(
                location,
                files={"file": ("diag.zip", CONTENT, "application/zip")},
                data={"comment": "ignored"},
            )
        assert upload.status_code == 201, upload.text
        assert upload.json() == {
            "request_id": request["id"],
            "file_name": "diag.zip",
            "size_bytes": len(CONTENT),
        }
        await client.call(call16.DiagnosticsStatusNotification(status="Uploaded"))
        done = await log_request(system, admin, "CP-D451", request["id"])
        assert (done["status"], done["size_bytes"]) == ("Uploaded", len(CONTENT))
        file = await download(system, admin, done["download"])
        assert file.status_code == 200 and file.content == CONTENT
        assert 'filename="diag.zip"' in file.headers["content-disposition"]
        station = await system.services.stations.get("CP-D451")
        assert station.diagnostics_status == "Uploaded"
    finally:
        await client.close()


async def test_TC_045_2_get_diagnostics_upload_failed(
    system: RunningCentralSystem, admin: str
) -> None:
    client = await booted16(system, "CP-D452", Station16)
    try:
        created = await request_log(system, admin, "CP-D452", "Diagnostics")
        for status in ("Uploading", "UploadFailed"):
            await client.call(call16.DiagnosticsStatusNotification(status=status))
        failed = await log_request(system, admin, "CP-D452", created["request"]["id"])
        assert (failed["status"], failed["download"]) == ("UploadFailed", None)
        missing = await download(
            system, admin, f"/api/v1/stations/CP-D452/logs/{failed['id']}/file"
        )
        assert missing.status_code == 404
    finally:
        await client.close()


async def test_get_diagnostics_without_a_file(system: RunningCentralSystem, admin: str) -> None:
    """GetDiagnostics answered without a file name: nothing to upload; the URL takes no file."""
    client = await booted16(system, "CP-D453", Station16)
    client.cp.answers["GetDiagnostics"] = None
    try:
        created = await request_log(system, admin, "CP-D453", "Diagnostics")
        assert created["request"]["status"] == "NoFile"
        (sent,) = client.cp.of("GetDiagnostics")
        async with httpx.AsyncClient() as station_http:
            refused = await station_http.put(sent["location"], content=CONTENT)
        assert refused.status_code == 409
    finally:
        await client.close()


async def test_TC_079_get_security_log(system: RunningCentralSystem, admin: str) -> None:
    """1.6 security extension: GetLog SecurityLog with requestId; the station PUTs the file and
    reports LogStatusNotification with the requestId."""
    client = await booted16(system, "CP-D79", Station16)
    try:
        created = await request_log(system, admin, "CP-D79", "SecurityLog")
        request_id = created["request"]["id"]
        assert created["station_answer"]["status"] == "Accepted"
        (sent,) = client.cp.of("GetLog")
        assert (sent["log_type"], sent["request_id"]) == ("SecurityLog", request_id)
        await client.call(call16.LogStatusNotification(status="Uploading", request_id=request_id))
        async with httpx.AsyncClient() as station_http:
            upload = await station_http.put(sent["log"]["remote_location"], content=CONTENT)
        assert upload.status_code == 201, upload.text
        await client.call(call16.LogStatusNotification(status="Uploaded", request_id=request_id))
        done = await log_request(system, admin, "CP-D79", request_id)
        assert (done["status"], done["file_name"], done["log_type"]) == (
            "Uploaded",
            "security.log",
            "SecurityLog",
        )
        assert (await download(system, admin, done["download"])).content == CONTENT
    finally:
        await client.close()


async def _get_log_201(
    system: RunningCentralSystem, admin: str, station_id: str, log_type: str, wire_type: str
) -> None:
    client = await booted201(system, station_id, Station201)
    try:
        created = await request_log(system, admin, station_id, log_type)
        request_id = created["request"]["id"]
        (sent,) = client.cp.of("GetLog")
        assert (sent["log_type"], sent["request_id"]) == (wire_type, request_id)
        await client.call(call201.LogStatusNotification(status="Uploading", request_id=request_id))
        # a station that appends the file name to the location it was given
        async with httpx.AsyncClient() as station_http:
            upload = await station_http.put(
                sent["log"]["remote_location"] + "/station.log", content=CONTENT
            )
        assert upload.status_code == 201, upload.text
        await client.call(call201.LogStatusNotification(status="Uploaded", request_id=request_id))
        done = await log_request(system, admin, station_id, request_id)
        assert (done["status"], done["size_bytes"]) == ("Uploaded", len(CONTENT))
        assert (await download(system, admin, done["download"])).content == CONTENT
    finally:
        await client.close()


async def test_TC_N_25_retrieve_log_information_diagnostics_log(
    system: RunningCentralSystem, admin: str
) -> None:
    """Diagnostics for a 2.0.1 station is GetLog DiagnosticsLog."""
    await _get_log_201(system, admin, "CS-N25", "Diagnostics", "DiagnosticsLog")


async def test_TC_N_35_retrieve_log_information_security_log(
    system: RunningCentralSystem, admin: str
) -> None:
    await _get_log_201(system, admin, "CS-N35", "SecurityLog", "SecurityLog")


async def test_TC_N_34_retrieve_log_information_rejected(
    system: RunningCentralSystem, admin: str
) -> None:
    client = await booted201(system, "CS-N34", Station201)
    client.cp.answers["GetLog"] = "Rejected"
    try:
        created = await request_log(system, admin, "CS-N34", "DiagnosticsLog")
        assert created["station_answer"]["status"] == "Rejected"
        assert created["request"]["status"] == "Rejected"
        (sent,) = client.cp.of("GetLog")
        async with httpx.AsyncClient() as station_http:
            refused = await station_http.put(sent["log"]["remote_location"], content=b"x")
        assert refused.status_code == 409
    finally:
        await client.close()


async def test_TC_N_36_retrieve_log_information_second_request(
    system: RunningCentralSystem, admin: str
) -> None:
    """A second GetLog while the first uploads: the station answers AcceptedCanceled and
    reports the first one AcceptedCanceled; the first request is cancelled, the second done."""
    client = await booted201(system, "CS-N36", Station201)
    try:
        first = (await request_log(system, admin, "CS-N36", "DiagnosticsLog"))["request"]
        await client.call(call201.LogStatusNotification(status="Uploading", request_id=first["id"]))
        client.cp.answers["GetLog"] = "AcceptedCanceled"
        second = await request_log(system, admin, "CS-N36", "DiagnosticsLog")
        assert second["station_answer"]["status"] == "AcceptedCanceled"
        assert second["request"]["status"] == "Accepted"
        await client.call(
            call201.LogStatusNotification(status="AcceptedCanceled", request_id=first["id"])
        )
        assert (await log_request(system, admin, "CS-N36", first["id"]))["status"] == "Cancelled"
        second_id = second["request"]["id"]
        location = client.cp.of("GetLog")[-1]["log"]["remote_location"]
        async with httpx.AsyncClient() as station_http:
            stale = await station_http.put(
                client.cp.of("GetLog")[0]["log"]["remote_location"], content=b"old"
            )
            fresh = await station_http.put(location, content=CONTENT)
        assert (stale.status_code, fresh.status_code) == (409, 201)
        await client.call(call201.LogStatusNotification(status="Uploaded", request_id=second_id))
        assert (await log_request(system, admin, "CS-N36", second_id))["status"] == "Uploaded"
        async with api(system, admin) as http:
            listed = (await http.get("/api/v1/stations/CS-N36/logs")).json()
        assert [(r["id"], r["status"]) for r in listed["items"]] == [
            (second_id, "Uploaded"),
            (first["id"], "Cancelled"),
        ]
    finally:
        await client.close()


async def test_upload_limits_and_unknown_addresses(
    system: RunningCentralSystem, admin: str
) -> None:
    """A file over EVCHARGE_UPLOAD_MAX_BYTES is refused (413) and leaves nothing behind, the
    station may try again; an unknown token is 404; a request to an offline station is 409 and
    recorded as not delivered."""
    client = await booted201(system, "CS-UP", Station201)
    try:
        created = await request_log(system, admin, "CS-UP", "DiagnosticsLog")
        location = client.cp.of("GetLog")[0]["log"]["remote_location"]
        async with httpx.AsyncClient() as station_http:
            too_big = await station_http.put(location, content=b"x" * (MAX_BYTES + 1))
            assert too_big.status_code == 413
            assert too_big.headers["content-type"] == "application/problem+json"
            unknown = await station_http.put(
                location.rsplit("/", 1)[0] + "/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                content=b"x",
            )
            assert unknown.status_code == 404
            no_file_part = await station_http.post(
                location,
                content=b'--b\r\nContent-Disposition: form-data; name="just"\r\n\r\nx\r\n--b--\r\n',
                headers={"Content-Type": "multipart/form-data; boundary=b"},
            )
            assert no_file_part.status_code == 422
            again = await station_http.post(location, content=CONTENT)
            assert again.status_code == 201
        upload_dir = system.system.settings.upload_dir
        stored = sorted(p.name for p in (upload_dir / "CS-UP").iterdir())
        assert stored == [f"{created['request']['id']}-station.log"]
    finally:
        await client.close()
    await system.services.stations.register("CS-GONE")
    async with api(system, admin) as http:
        offline = await http.post("/api/v1/stations/CS-GONE/logs", json={"log_type": "SecurityLog"})
        assert offline.status_code == 409
        (recorded,) = (await http.get("/api/v1/stations/CS-GONE/logs")).json()["items"]
    assert recorded["status"] == "NotDelivered"
