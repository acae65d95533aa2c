"""The load generator's pre-serialised frames are valid OCPP, and its websocket framing is right."""

from __future__ import annotations

import json
import struct

import pytest

from bench import frames
from central_system.transport import validation
from central_system.transport.ocppj import OcppVersion, parse_frame

TS = frames.TimestampFormatter()(1_700_000_000_123)


def _call(frame: bytes, version: OcppVersion) -> tuple[str, dict[str, object]]:
    call = parse_frame(frame.decode(), version)
    assert call is not None and hasattr(call, "action")
    validation.validate(version, call.action, call.payload)  # raises RpcError if invalid
    return call.action, call.payload


@pytest.mark.parametrize(
    ("frame", "version", "action"),
    [
        (frames.boot_16(b"1"), OcppVersion.V16, "BootNotification"),
        (frames.heartbeat(b"2"), OcppVersion.V16, "Heartbeat"),
        (
            frames.start_transaction_16(b"3", b"BENCH00001", TS, 1000),
            OcppVersion.V16,
            "StartTransaction",
        ),
        (
            frames.meter_values_16(b"4", 17, TS, frames.reading(3, 5)),
            OcppVersion.V16,
            "MeterValues",
        ),
        (frames.boot_201(b"5"), OcppVersion.V201, "BootNotification"),
        (frames.heartbeat(b"6"), OcppVersion.V201, "Heartbeat"),
        (
            frames.transaction_started_201(b"7", b"TX-B201-1", 0, TS),
            OcppVersion.V201,
            "TransactionEvent",
        ),
        (
            frames.transaction_updated_201(b"8", b"TX-B201-1", 4, TS, frames.reading(0, 0)),
            OcppVersion.V201,
            "TransactionEvent",
        ),
    ],
)
def test_frames_are_schema_valid_calls(frame: bytes, version: OcppVersion, action: str) -> None:
    assert _call(frame, version)[0] == action


@pytest.mark.parametrize("station", range(0, 50, 7))
@pytest.mark.parametrize("sequence", [0, 1, 999, 123_456])
def test_readings_stay_valid_over_a_long_run(station: int, sequence: int) -> None:
    reading = frames.reading(station, sequence)
    _call(frames.meter_values_16(b"1", 1, TS, reading), OcppVersion.V16)
    _call(frames.transaction_updated_201(b"1", b"T", sequence, TS, reading), OcppVersion.V201)


def test_meter_values_carry_nine_distinct_samples_with_the_timestamp() -> None:
    _, payload = _call(frames.meter_values_16(b"9", 42, TS, frames.reading(1, 2)), OcppVersion.V16)
    assert payload["transactionId"] == 42
    (meter_value,) = payload["meterValue"]  # type: ignore[misc]
    assert meter_value["timestamp"] == TS.decode()
    samples = meter_value["sampledValue"]
    assert len(samples) == frames.SAMPLES_PER_MESSAGE
    identities = {(s["measurand"], s.get("phase"), s.get("location")) for s in samples}
    assert len(identities) == frames.SAMPLES_PER_MESSAGE  # stored as 9 rows, none a replay


def test_transaction_updated_has_seq_no_and_numeric_values() -> None:
    frame = frames.transaction_updated_201(b"1", b"TX-1", 7, TS, frames.reading(0, 10))
    _, payload = _call(frame, OcppVersion.V201)
    assert payload["seqNo"] == 7
    assert payload["eventType"] == "Updated"
    assert payload["transactionInfo"] == {"transactionId": "TX-1", "chargingState": "Charging"}
    values = payload["meterValue"][0]["sampledValue"]  # type: ignore[index]
    assert all(isinstance(s["value"], int | float) for s in values)
    assert values[0]["value"] == frames.reading(0, 10).energy_wh


def test_energy_register_rises_with_the_sequence() -> None:
    assert frames.reading(5, 11).energy_wh > frames.reading(5, 10).energy_wh


def test_timestamps() -> None:
    formatter = frames.TimestampFormatter()
    assert frames.format_timestamp_ms(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert formatter(1_700_000_000_123) == b"2023-11-14T22:13:20.123Z"
    assert formatter(1_700_000_000_999) == b"2023-11-14T22:13:20.999Z"
    assert formatter(1_700_000_001_000) == b"2023-11-14T22:13:21.000Z"  # next second


def _unmask(frame: bytes) -> tuple[int, bytes]:
    first, second = frame[0], frame[1]
    assert first & 0x80 and second & 0x80  # final, masked
    length, offset = second & 0x7F, 2
    if length == 126:
        (length,) = struct.unpack_from("!H", frame, 2)
        offset = 4
    mask = frame[offset : offset + 4]
    body = frame[offset + 4 :]
    assert len(body) == length
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(body))


@pytest.mark.parametrize("size", [0, 5, 125, 126, 1153, 70_000])
def test_client_frames_are_masked_and_decode(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frame = frames.client_frame(payload, b"\x01\x02\x03\x04")
    if size < 65536:
        assert _unmask(frame) == (frames.OP_TEXT, payload)
    else:
        assert frame[1] & 0x7F == 127
    assert frames.apply_mask(frames.apply_mask(payload, b"abcd"), b"abcd") == payload


def test_python_mask_agrees_with_the_c_one() -> None:
    payload = b"hello websocket masking"
    assert frames._python_mask(payload, b"wxyz") == frames.apply_mask(payload, b"wxyz")


def _server_frame(opcode: int, payload: bytes) -> bytes:
    if len(payload) < 126:
        return struct.pack("!BB", 0x80 | opcode, len(payload)) + payload
    return struct.pack("!BBH", 0x80 | opcode, 126, len(payload)) + payload


def test_server_frames_are_split_and_partial_ones_kept() -> None:
    first = _server_frame(frames.OP_TEXT, b'[3,"1",{}]')
    ping = _server_frame(frames.OP_PING, b"p")
    big = _server_frame(frames.OP_TEXT, b"x" * 300)
    buffer = bytearray(first + ping + big[:100])
    assert frames.parse_server_frames(buffer) == [
        (frames.OP_TEXT, b'[3,"1",{}]'),
        (frames.OP_PING, b"p"),
    ]
    assert bytes(buffer) == big[:100]
    buffer += big[100:]
    assert frames.parse_server_frames(buffer) == [(frames.OP_TEXT, b"x" * 300)]
    assert buffer == bytearray()


def test_handshake() -> None:
    request, key = frames.handshake_request("127.0.0.1", 9000, "/ocpp/CP-1", "ocpp1.6")
    text = request.decode()
    assert text.startswith("GET /ocpp/CP-1 HTTP/1.1\r\n")
    assert f"Sec-WebSocket-Key: {key}\r\n" in text
    assert "Sec-WebSocket-Protocol: ocpp1.6\r\n" in text
    assert text.endswith("\r\n\r\n")
    status, headers = frames.parse_handshake_response(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: ocpp1.6"
    )
    assert status == 101
    assert headers["sec-websocket-protocol"] == "ocpp1.6"
    assert frames.parse_handshake_response(b"HTTP/1.1 404 Not Found")[0] == 404


def test_response_kind() -> None:
    assert frames.response_kind(b'[3,"1",{}]') == 3
    assert frames.response_kind(b'[ 4,"1","NotImplemented","",{}]') == 4
    assert frames.response_kind(json.dumps([2, "1", "Reset", {}]).encode()) == 2
    assert frames.response_kind(b"{}") == 0
    assert frames.response_kind(b"") == 0
