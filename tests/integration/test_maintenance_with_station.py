"""Maintenance flows with our own station software (charge_point) instead of a scripted client:
a firmware update through the REST API runs to Installed with the station's simulated download,
install and reboot (TC_044_1, TC_L_01), and a new Basic-auth password is taken by the station,
which reconnects with it while the old one stops working (TC_073, TC_A_09)."""

from __future__ import annotations

from pathlib import Path

import pytest
import websockets

from central_system.domain.accounts import Role
from tests.conftest import RunningCentralSystem
from tests.helpers import connect, wait_for
from tests.integration.test_station_ocpp import VERSIONS, make_station, online
from tests.maintenance_helpers import api

PASSWORD = "station password 0123"


async def admin_token(running: RunningCentralSystem) -> str:
    await running.system.api.accounts.create(
        "admin@example.com", "admin password 1", Role.ADMIN, by_operator=True
    )
    async with api(running) as http:
        response = await http.post(
            "/api/v1/auth/token",
            data={"username": "admin@example.com", "password": "admin password 1"},
        )
    token: str = response.json()["access_token"]
    return token


@pytest.mark.parametrize("version", VERSIONS)
async def test_TC_044_1_TC_L_01_firmware_update_with_our_station(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
) -> None:
    await central_system.services.stations.register("CP-FW")
    admin = await admin_token(central_system)
    station = make_station(
        central_system.ocpp_url, tmp_path, version, station_id="CP-FW", firmware_step_s=0.05
    )
    async with online(station), api(central_system, admin) as http:
        response = await http.post(
            "/api/v1/stations/CP-FW/firmware",
            json={"location": "https://fw.example.com/dc-2/fw-2.4.1.bin", "retries": 0},
        )
        assert response.status_code == 201, response.text
        job_id = response.json()["job"]["id"]

        async def installed() -> bool:
            jobs = (await http.get("/api/v1/stations/CP-FW/firmware")).json()["jobs"]
            return bool(jobs) and jobs[0]["status"] == "Installed"

        await wait_for(installed, 30, 0.1, "the station installed the firmware")
        jobs = (await http.get("/api/v1/stations/CP-FW/firmware")).json()
    assert [(j["id"], j["attempts"]) for j in jobs["jobs"]] == [(job_id, 1)]
    record = await central_system.services.stations.get("CP-FW")
    assert record.boot_info.firmware_version == "2.4.1"  # booted into the new firmware
    assert record.firmware_status == "Installed"


@pytest.mark.parametrize("version", VERSIONS)
async def test_TC_073_TC_A_09_new_password_with_our_station(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
) -> None:
    await central_system.services.stations.register("CP-PW", password=PASSWORD)
    admin = await admin_token(central_system)
    station = make_station(
        central_system.ocpp_url, tmp_path, version, station_id="CP-PW", password=PASSWORD
    )
    async with online(station), api(central_system, admin) as http:
        first = (await central_system.services.stations.get("CP-PW")).last_connected_at
        response = await http.post("/api/v1/stations/CP-PW/security/password")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "Accepted"

        async def reconnected() -> bool:
            record = await central_system.services.stations.get("CP-PW")
            return record.connected and record.last_connected_at > first and station.online

        await wait_for(reconnected, 30, 0.1, "the station reconnected with its new password")
        assert station.password not in (None, PASSWORD)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(central_system.ocpp_url, "CP-PW", version=version, password=PASSWORD)
    assert refused.value.response.status_code == 401
