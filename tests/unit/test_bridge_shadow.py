"""Shadow documents: what each event reports, how updates merge, what is published."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import jsonschema_rs

from bridge.shadow import ShadowTracker, merge
from schemas.generate import JSON_DIR
from schemas.telemetry import (
    ConnectorStatus,
    ConnectorStatusMessage,
    MeterMessage,
    SessionEndedMessage,
    SessionStartedMessage,
    ShadowUpdate,
    SignalMessage,
    SignalQuality,
    StationConnectedMessage,
    StationDisconnectedMessage,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def envelope(minutes: int) -> dict[str, object]:
    return {
        "message_id": uuid.uuid4(),
        "station_id": "CP.1",
        "event_time": T0 + timedelta(minutes=minutes),
    }


def test_merge_lays_objects_over_each_other_and_replaces_the_rest() -> None:
    document = {"a": 1, "evses": {"1": {"status": "Available", "tx": "7"}}}
    update = {"evses": {"1": {"tx": None}, "2": {"status": "Faulted"}}, "a": 2}
    assert merge(document, update) == {
        "a": 2,
        "evses": {"1": {"status": "Available", "tx": None}, "2": {"status": "Faulted"}},
    }
    assert document == {"a": 1, "evses": {"1": {"status": "Available", "tx": "7"}}}


def test_a_station_reports_its_last_known_state() -> None:
    tracker = ShadowTracker()
    messages = [
        StationConnectedMessage(**envelope(0), ocpp_version="2.0.1"),
        ConnectorStatusMessage(
            **envelope(1), evse_id=1, connector_id=1, status=ConnectorStatus.CHARGING
        ),
        SessionStartedMessage(**envelope(2), transaction_id="tx-9", evse_id=1, connector_id=1),
        MeterMessage(
            **envelope(3),
            evse_id=1,
            energy_register_wh=4200,
            soc_percent=Decimal("61.5"),
            samples=[],
        ),
        MeterMessage(**envelope(4), evse_id=1, power_w=Decimal("11000"), samples=[]),
        SignalMessage(**envelope(5), csq=20, rssi_dbm=-73, quality=SignalQuality.EXCELLENT),
        SessionEndedMessage(
            **envelope(6), transaction_id="tx-9", evse_id=1, connector_id=1, started_at=T0
        ),
        StationDisconnectedMessage(**envelope(7)),
    ]
    changes = [tracker.apply(m.model_dump_json()) for m in messages]
    assert [c[1] if c else None for c in changes] == [str(m.message_id) for m in messages]
    assert {c[0] for c in changes if c} == {"CP.1"}

    topic, payload = tracker.update("CP.1", str(messages[-1].message_id))
    assert topic == "$aws/things/CP:2e1/shadow/update"
    document = json.loads(payload)
    schema = json.loads((JSON_DIR / "shadow-update.schema.json").read_text())
    jsonschema_rs.validator_for(schema).validate(document)
    assert document == {
        "state": {
            "reported": {
                "schema_version": 1,
                "connected": False,
                "ocpp_version": "2.0.1",
                "connection_time": "2025-03-01T12:07:00Z",
                "evses": {
                    "1": {
                        "connectors": {
                            "1": {
                                "status": "Charging",
                                "error_code": None,
                                "status_time": "2025-03-01T12:01:00Z",
                            }
                        },
                        "transaction_id": None,
                        "session_started_at": None,
                        "energy_register_wh": 4200,
                        "power_w": "11000",
                        "soc_percent": "61.5",
                        "meter_time": "2025-03-01T12:04:00Z",
                    }
                },
                "network": {
                    "csq": 20,
                    "rssi_dbm": -73,
                    "quality": "excellent",
                    "signal_time": "2025-03-01T12:05:00Z",
                },
            }
        },
        "clientToken": str(messages[-1].message_id),
    }
    ShadowUpdate.model_validate(document)


def test_an_event_that_changes_nothing_asks_for_no_update() -> None:
    tracker = ShadowTracker()
    status = ConnectorStatusMessage(
        **envelope(1), evse_id=1, connector_id=1, status=ConnectorStatus.AVAILABLE
    )
    assert tracker.apply(status.model_dump_json()) is not None
    assert tracker.apply(status.model_dump_json()) is None  # published again: no change
    meter_without_summary = MeterMessage(**envelope(2), evse_id=1, samples=[])
    assert tracker.apply(meter_without_summary.model_dump_json()) is None
    assert tracker.apply('{"not": "telemetry"}') is None
