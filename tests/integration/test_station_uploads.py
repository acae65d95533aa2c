"""Our station uploads a requested diagnostics file to the central system's own upload
endpoint over HTTP (TC_045_1, N01): the file the operator downloads is the one the station
sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from central_system.domain.log_uploads import LogType
from tests.conftest import running_central_system, test_settings
from tests.helpers import wait_for
from tests.integration.test_station_ocpp import VERSIONS, make_station, online


def read_upload(path: Path) -> tuple[dict[str, object], int]:
    return json.loads(path.read_text()), path.stat().st_size


@pytest.mark.parametrize("version", VERSIONS)
async def test_station_uploads_diagnostics_over_http(
    database_url: str, tmp_path: Path, version: str
) -> None:
    settings = test_settings(database_url, upload_dir=tmp_path / "uploads")
    async with running_central_system(settings) as running:
        station = make_station(running.ocpp_url, tmp_path, version)
        await running.services.stations.register(station.station_id)
        async with online(station):
            uploads = running.services.log_uploads
            request, outcome = await uploads.request(station.station_id, LogType.DIAGNOSTICS)
            assert outcome.status in ("Accepted", None)  # 1.6 answers with a file name only

            async def uploaded() -> object:
                stored = await uploads.get(station.station_id, request.id)
                return stored if stored.stored_path else None

            stored = await wait_for(
                uploaded, timeout=15, what="the file reached the central system"
            )
    content, size = read_upload(Path(stored.stored_path))
    assert content["stationId"] == station.station_id
    assert content["ocppVersion"] == version
    assert stored.size_bytes == size
