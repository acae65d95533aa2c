"""The payload contract: committed JSON Schema files match the models, and the models match the
central system's vocabulary."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema_rs
import pytest
from pydantic import ValidationError

from central_system.domain.connectors import ConnectorStatus as DomainConnectorStatus
from central_system.domain.signal import SignalQuality as DomainSignalQuality
from schemas import generate
from schemas.telemetry import ConnectorStatus, SignalQuality, StationConnectedMessage


def test_the_committed_json_schema_files_are_up_to_date() -> None:
    stale = generate.stale_files()
    assert stale == [], f"stale: {stale}; run `python -m schemas.generate` and commit the files"


def test_a_stale_or_extra_file_is_noticed(tmp_path: Path) -> None:
    generate.write(tmp_path)
    assert generate.stale_files(tmp_path) == []
    (tmp_path / "meter.schema.json").write_text("{}\n")
    (tmp_path / "old.schema.json").write_text("{}\n")
    assert generate.stale_files(tmp_path) == ["meter.schema.json", "old.schema.json"]
    generate.write(tmp_path)
    assert generate.stale_files(tmp_path) == []


def test_enumerations_match_the_central_system() -> None:
    assert [s.value for s in ConnectorStatus] == [s.value for s in DomainConnectorStatus]
    assert {q.value for q in SignalQuality} == {q.value for q in DomainSignalQuality}


def test_event_times_are_utc_and_must_have_a_zone() -> None:
    cet = timezone(timedelta(hours=1))
    message = StationConnectedMessage(
        message_id="7b0f4f36-2f1f-4d7c-8a43-3c2e0d1f5a10",
        station_id="CP-1",
        event_time=datetime(2025, 3, 1, 13, 0, tzinfo=cet),
        ocpp_version="1.6",
    )
    assert '"event_time":"2025-03-01T12:00:00Z"' in message.model_dump_json()
    with pytest.raises(ValidationError):
        StationConnectedMessage(
            message_id="7b0f4f36-2f1f-4d7c-8a43-3c2e0d1f5a10",
            station_id="CP-1",
            event_time=datetime(2025, 3, 1, 13, 0),
            ocpp_version="1.6",
        )


DOCS = Path(__file__).parents[2] / "docs" / "bridge.md"


def test_the_documented_examples_are_valid_messages() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    validators = {
        stem: jsonschema_rs.validator_for(
            json.loads((generate.JSON_DIR / f"{stem}.schema.json").read_text())
        )
        for stem in ("telemetry", "shadow-update")
    }
    events = set()
    for block in blocks:
        document = json.loads(block)
        if "state" in document:
            validators["shadow-update"].validate(document)
        else:
            validators["telemetry"].validate(document)
            events.add(document["event"])
    assert events == {"status", "connected", "meter", "started", "ended", "receipt", "signal"}
