"""Domain events -> outbox rows: topics, retention, payloads that satisfy the contract."""

from __future__ import annotations

import json
import typing
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import jsonschema_rs
import pytest

from bridge import limits
from central_system.domain.authorization import AuthorizationStatus, IdToken
from central_system.domain.connectors import ConnectorKey, ConnectorState, ConnectorStatus
from central_system.domain.events import (
    ConnectorStatusChanged,
    DomainEvent,
    MeterValuesReceived,
    ReceiptIssued,
    SignalStrengthReported,
    StationConnected,
    StationDisconnected,
    TransactionEnded,
    TransactionStarted,
)
from central_system.domain.metering import MeterSample
from central_system.domain.receipts import Receipt
from central_system.domain.signal import SignalQuality as DomainSignalQuality
from central_system.domain.signal import SignalReading
from central_system.domain.tariffs import Tariff, price
from central_system.domain.transactions import Transaction
from central_system.persistence.outbox import (
    MAX_PAYLOAD_BYTES,
    SAMPLES_THAT_FIT,
    messages_for,
    outbox_rows,
)
from schemas.generate import JSON_DIR
from schemas.telemetry import MeterMessage, telemetry_message

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
KEY = ConnectorKey(1, 1)


def transaction(**changes: object) -> Transaction:
    values: dict[str, object] = {
        "station_id": "CP-1",
        "transaction_id": "42",
        "key": KEY,
        "started_at": T0,
        "id_token": IdToken("TAG1", "ISO14443"),
        "start_authorization": AuthorizationStatus.ACCEPTED,
        "meter_start_wh": 1000,
    }
    values.update(changes)
    return Transaction(**values)  # type: ignore[arg-type]


def register(wh: int, at: datetime, **changes: object) -> MeterSample:
    values: dict[str, object] = {
        "timestamp": at,
        "measurand": "Energy.Active.Import.Register",
        "value": Decimal(wh),
        "unit": "Wh",
    }
    values.update(changes)
    return MeterSample(**values)  # type: ignore[arg-type]


def schema(stem: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(json.loads((JSON_DIR / f"{stem}.schema.json").read_text()))


def test_every_domain_event_has_a_mapping() -> None:
    unmapped = [
        event.__name__
        for event in typing.get_args(DomainEvent)
        if messages_for.dispatch(event) is messages_for.dispatch(object)
    ]
    assert unmapped == [], (
        f"{unmapped}: add a @messages_for.register function in central_system/persistence/outbox.py"
    )


def test_each_event_becomes_one_row_on_its_topic_with_its_retention() -> None:
    tx = transaction()
    ended = transaction(
        stopped_at=T0 + timedelta(hours=1), meter_stop_wh=9000, stop_reason="EVDisconnected"
    )
    state = ConnectorState(KEY, ConnectorStatus.FAULTED, "GroundFailure", "x", "E12", T0)
    events: list[DomainEvent] = [
        StationConnected("CP-1", "2.0.1", T0),
        ConnectorStatusChanged("CP-1", state),
        TransactionStarted(tx),
        MeterValuesReceived("CP-1", 1, tx, (register(1500, T0 + timedelta(minutes=1)),)),
        TransactionEnded(ended),
        StationDisconnected("CP-1", T0 + timedelta(hours=2)),
    ]
    rows = list(outbox_rows(events))
    assert [(row.topic, row.retention) for row in rows] == [
        ("dt/evcharge/cp-1/status", "telemetry"),
        ("dt/evcharge/cp-1/status", "telemetry"),
        ("dt/evcharge/cp-1/session", "record"),
        ("dt/evcharge/cp-1/meter", "telemetry"),
        ("dt/evcharge/cp-1/session", "record"),
        ("dt/evcharge/cp-1/status", "telemetry"),
    ]
    assert len({row.message_id for row in rows}) == len(rows)
    any_message = schema("telemetry")
    for row in rows:
        payload = json.loads(row.payload)
        any_message.validate(payload)
        schema(row.topic.rsplit("/", 1)[1]).validate(payload)
        assert row.station_id == payload["station_id"] == "CP-1"
        assert row.message_id == payload["message_id"]
        assert uuid.UUID(row.message_id).version == 4
        assert limits.topic_problem(row.topic) is None
        assert limits.payload_problem(row.payload.encode()) is None

    payloads = [json.loads(row.payload) for row in rows]
    assert payloads[1] == {
        "message_id": rows[1].message_id,
        "schema_version": 1,
        "station_id": "CP-1",
        "event_time": "2025-03-01T12:00:00Z",
        "event": "status",
        "evse_id": 1,
        "connector_id": 1,
        "status": "Faulted",
        "error_code": "GroundFailure",
        "info": "x",
        "vendor_error_code": "E12",
    }
    assert payloads[2]["id_token"] == {"value": "TAG1", "type": "ISO14443"}
    assert payloads[2]["authorization"] == "Accepted"
    assert payloads[4]["event_time"] == "2025-03-01T13:00:00Z"
    assert (payloads[4]["energy_wh"], payloads[4]["stop_reason"]) == (8000, "EVDisconnected")


def test_a_meter_message_summarises_its_newest_values() -> None:
    samples = (
        register(2000, T0 + timedelta(minutes=2)),
        register(1500, T0 + timedelta(minutes=1)),
        MeterSample(T0 + timedelta(minutes=2), "Power.Active.Import", Decimal("7400.5"), "W"),
        MeterSample(T0 + timedelta(minutes=2), "Power.Active.Import", Decimal(1), "W", phase="L1"),
        MeterSample(T0 + timedelta(minutes=2), "SoC", Decimal("55.5"), "Percent"),
    )
    (message,) = messages_for(MeterValuesReceived("CP-1", 1, transaction(), samples))
    assert isinstance(message, MeterMessage)
    assert message.event_time == T0 + timedelta(minutes=2)
    assert (message.energy_register_wh, message.power_w, message.soc_percent) == (
        2000,
        Decimal("7400.5"),
        Decimal("55.5"),
    )
    assert (message.transaction_id, message.connector_id) == ("42", 1)
    assert [s.timestamp for s in message.samples] == sorted(s.timestamp for s in samples)
    assert message.samples[3].phase == "L1"
    assert message.samples[0].phase is None  # "" in the domain is absent on the wire


def test_the_samples_assumed_to_fit_do_fit() -> None:
    widest = MeterSample(
        T0,
        "Energy.Reactive.Import.Register.Interval" + "x" * 10,
        Decimal("12345678901234.123456"),
        "u" * 20,
        phase="L1-N",
        location="Outlet",
        context="Transaction.Begin" + "x" * 3,
    )
    samples = (widest,) * SAMPLES_THAT_FIT
    (row,) = outbox_rows([MeterValuesReceived("C" * 48, 1, transaction(), samples)])
    assert len(row.payload.encode()) < MAX_PAYLOAD_BYTES / 2


def test_meter_values_outside_a_transaction_have_no_session_fields() -> None:
    (message,) = messages_for(MeterValuesReceived("CP-1", 2, None, (register(5, T0),)))
    assert isinstance(message, MeterMessage)
    assert (message.evse_id, message.connector_id, message.transaction_id) == (2, None, None)


def test_a_huge_meter_message_is_split_in_order_below_the_payload_limit() -> None:
    samples = tuple(
        register(i, T0 + timedelta(seconds=i), signed_data="S" * 300) for i in range(2000)
    )
    rows = list(outbox_rows([MeterValuesReceived("CP-1", 1, transaction(), samples)]))
    assert len(rows) > 1
    parts = [telemetry_message.validate_json(row.payload) for row in rows]
    assert all(isinstance(part, MeterMessage) for part in parts)
    assert [p.part for p in parts] == list(range(1, len(rows) + 1))  # type: ignore[union-attr]
    assert {p.parts for p in parts} == {len(rows)}  # type: ignore[union-attr]
    values = [int(s.value) for p in parts for s in p.samples]  # type: ignore[union-attr, arg-type]
    assert values == list(range(2000))
    assert all(len(row.payload.encode()) <= MAX_PAYLOAD_BYTES for row in rows)
    assert MAX_PAYLOAD_BYTES < limits.MAX_PAYLOAD_BYTES


def test_a_receipt_is_a_record_on_the_session_topic() -> None:
    tariff = Tariff(currency="EUR", per_kwh=Decimal("0.39"), session_fee=Decimal("0.50"))
    breakdown = price(tariff, energy_wh=12_345, duration=timedelta(minutes=47, seconds=30.5))
    receipt = Receipt(
        id="r-2",
        session_id="s-1",
        sequence=1,
        user_id="u-1",
        station_id="CP-1",
        evse_id=2,
        transaction_id="42",
        started_at=T0,
        stopped_at=T0 + timedelta(minutes=47, seconds=30.5),
        tariff=tariff,
        price=breakdown,
        captured=Decimal("5.00"),
        uncollected=breakdown.total - Decimal("5.00"),
        payment_reference="pay-1",
        issued_at=T0 + timedelta(hours=1),
        corrects="r-1",
        note="meter reading corrected",
    )
    (row,) = outbox_rows([ReceiptIssued(receipt)])
    assert (row.topic, row.retention) == ("dt/evcharge/cp-1/session", "record")
    payload = json.loads(row.payload)
    schema("session").validate(payload)
    assert {key: payload[key] for key in ("event", "receipt_id", "sequence", "corrects")} == {
        "event": "receipt",
        "receipt_id": "r-2",
        "sequence": 1,
        "corrects": "r-1",
    }
    assert payload["event_time"] == "2025-03-01T13:00:00Z"
    assert (payload["energy_wh"], payload["duration_seconds"]) == (12_345, 2850)
    assert (payload["currency"], payload["total"]) == ("EUR", str(breakdown.total))
    assert Decimal(payload["energy_cost"]) + Decimal(payload["session_fee"]) == breakdown.total
    assert "user_id" not in payload  # the partner feed carries no account data


def test_a_signal_reading_is_telemetry_on_the_signal_topic() -> None:
    reading = SignalReading(T0, rssi_dbm=-87, quality=DomainSignalQuality.OK, csq=13, ber=0)
    (row,) = outbox_rows([SignalStrengthReported("CP-1", reading)])
    assert (row.topic, row.retention) == ("dt/evcharge/cp-1/signal", "telemetry")
    payload = json.loads(row.payload)
    schema("signal").validate(payload)
    assert {k: payload[k] for k in ("event", "csq", "rssi_dbm", "ber", "quality")} == {
        "event": "signal",
        "csq": 13,
        "rssi_dbm": -87,
        "ber": 0,
        "quality": "ok",
    }


def test_no_events_no_rows() -> None:
    assert list(outbox_rows([])) == []
    assert list(outbox_rows([MeterValuesReceived("CP-1", 1, None, ())])) == []


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        list(outbox_rows([StationConnected("CP-1", "1.6", datetime(2025, 1, 1))]))
