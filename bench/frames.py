"""Pre-serialised OCPP-J frames for the load generator, and the little websocket framing it needs.

Everything here is pure (no I/O, no clock): the generator passes the time in. A station's
messages differ only in their message id, timestamp, seqNo and a few numbers, so each frame is a
bytes template filled with `%` formatting - no JSON encoder on the generator's hot path.

The 9 sampled values of a MeterValues / TransactionEvent(Updated) are the ones a three-phase AC
station reports: energy register, active power, current and voltage per phase, and the EV's state
of charge. They differ in (measurand, phase, location), so the central system stores 9 rows.
"""

from __future__ import annotations

import base64
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

V16 = "1.6"
V201 = "2.0.1"
SUBPROTOCOL = {V16: "ocpp1.6", V201: "ocpp2.0.1"}
SAMPLES_PER_MESSAGE = 9

# --- timestamps -----------------------------------------------------------------------------


def format_timestamp_ms(epoch_ms: int) -> str:
    """OCPP dateTime (RFC 3339, UTC, milliseconds): `2025-01-31T12:00:00.123Z`."""
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class TimestampFormatter:
    """`format_timestamp_ms` with the seconds part cached (the generator formats thousands of
    timestamps per second)."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = b""

    def __call__(self, epoch_ms: int) -> bytes:
        seconds, millis = divmod(epoch_ms, 1000)
        if seconds != self._second:
            self._second = seconds
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode()
        return b"%s.%03dZ" % (self._prefix, millis)


# --- meter readings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """One station's meter at a moment: what its 9 sampled values say."""

    energy_wh: int
    power_w: int
    current_a: tuple[float, float, float]
    voltage_v: tuple[float, float, float]
    soc_percent: int


def reading(station_index: int, sequence: int) -> Reading:
    """A plausible, deterministic reading: 11 kW three-phase, energy rising with `sequence`."""
    power = 11_000 - (station_index % 7) * 100
    current = round(power / 3 / 230, 1)
    wobble = (sequence % 5) * 0.1
    return Reading(
        energy_wh=1_000 + sequence * 15 + station_index % 100,
        power_w=power,
        current_a=(current, round(current + 0.1, 1), round(current - 0.1, 1)),
        voltage_v=(round(229.5 + wobble, 1), round(230.1 - wobble, 1), 230.4),
        soc_percent=20 + sequence % 80,
    )


# --- OCPP 1.6 -------------------------------------------------------------------------------

_SV16 = (
    b'{"value":"%d","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",'
    b'"location":"Outlet","unit":"Wh"},'
    b'{"value":"%d","context":"Sample.Periodic","measurand":"Power.Active.Import",'
    b'"location":"Outlet","unit":"W"},'
    b'{"value":"%.1f","context":"Sample.Periodic","measurand":"Current.Import","phase":"L1",'
    b'"location":"Outlet","unit":"A"},'
    b'{"value":"%.1f","context":"Sample.Periodic","measurand":"Current.Import","phase":"L2",'
    b'"location":"Outlet","unit":"A"},'
    b'{"value":"%.1f","context":"Sample.Periodic","measurand":"Current.Import","phase":"L3",'
    b'"location":"Outlet","unit":"A"},'
    b'{"value":"%.1f","context":"Sample.Periodic","measurand":"Voltage","phase":"L1-N",'
    b'"location":"Outlet","unit":"V"},'
    b'{"value":"%.1f","context":"Sample.Periodic","measurand":"Voltage","phase":"L2-N",'
    b'"location":"Outlet","unit":"V"},'
    b'{"value":"%.1f","context":"Sample.Periodic","measurand":"Voltage","phase":"L3-N",'
    b'"location":"Outlet","unit":"V"},'
    b'{"value":"%d","context":"Sample.Periodic","measurand":"SoC","location":"EV",'
    b'"unit":"Percent"}'
)
_METER_VALUES_16 = (
    b'[2,"%s","MeterValues",{"connectorId":1,"transactionId":%d,'
    b'"meterValue":[{"timestamp":"%s","sampledValue":[' + _SV16 + b"]}]}]"
)


def _values(r: Reading) -> tuple[int | float, ...]:
    return (r.energy_wh, r.power_w, *r.current_a, *r.voltage_v, r.soc_percent)


def meter_values_16(message_id: bytes, transaction_id: int, timestamp: bytes, r: Reading) -> bytes:
    """CALL MeterValues (1.6) with 9 sampled values of a running transaction."""
    return _METER_VALUES_16 % (message_id, transaction_id, timestamp, *_values(r))


def boot_16(message_id: bytes) -> bytes:
    return (
        b'[2,"%s","BootNotification",{"chargePointVendor":"Bench","chargePointModel":"LoadGen",'
        b'"chargePointSerialNumber":"BENCH-1","firmwareVersion":"1.0.0"}]' % message_id
    )


def start_transaction_16(
    message_id: bytes, id_tag: bytes, timestamp: bytes, meter_start_wh: int
) -> bytes:
    return (
        b'[2,"%s","StartTransaction",{"connectorId":1,"idTag":"%s","meterStart":%d,'
        b'"timestamp":"%s"}]' % (message_id, id_tag, meter_start_wh, timestamp)
    )


def heartbeat(message_id: bytes) -> bytes:
    """CALL Heartbeat (the same in 1.6 and 2.0.1)."""
    return b'[2,"%s","Heartbeat",{}]' % message_id


# --- OCPP 2.0.1 -----------------------------------------------------------------------------

_SV201 = (
    b'{"value":%d,"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",'
    b'"location":"Outlet","unitOfMeasure":{"unit":"Wh"}},'
    b'{"value":%d,"context":"Sample.Periodic","measurand":"Power.Active.Import",'
    b'"location":"Outlet","unitOfMeasure":{"unit":"W"}},'
    b'{"value":%.1f,"context":"Sample.Periodic","measurand":"Current.Import","phase":"L1",'
    b'"location":"Outlet","unitOfMeasure":{"unit":"A"}},'
    b'{"value":%.1f,"context":"Sample.Periodic","measurand":"Current.Import","phase":"L2",'
    b'"location":"Outlet","unitOfMeasure":{"unit":"A"}},'
    b'{"value":%.1f,"context":"Sample.Periodic","measurand":"Current.Import","phase":"L3",'
    b'"location":"Outlet","unitOfMeasure":{"unit":"A"}},'
    b'{"value":%.1f,"context":"Sample.Periodic","measurand":"Voltage","phase":"L1-N",'
    b'"location":"Outlet","unitOfMeasure":{"unit":"V"}},'
    b'{"value":%.1f,"context":"Sample.Periodic","measurand":"Voltage","phase":"L2-N",'
    b'"location":"Outlet","unitOfMeasure":{"unit":"V"}},'
    b'{"value":%.1f,"context":"Sample.Periodic","measurand":"Voltage","phase":"L3-N",'
    b'"location":"Outlet","unitOfMeasure":{"unit":"V"}},'
    b'{"value":%d,"context":"Sample.Periodic","measurand":"SoC","location":"EV",'
    b'"unitOfMeasure":{"unit":"Percent"}}'
)
_TRANSACTION_UPDATED = (
    b'[2,"%s","TransactionEvent",{"eventType":"Updated","timestamp":"%s",'
    b'"triggerReason":"MeterValuePeriodic","seqNo":%d,'
    b'"transactionInfo":{"transactionId":"%s","chargingState":"Charging"},'
    b'"evse":{"id":1,"connectorId":1},'
    b'"meterValue":[{"timestamp":"%s","sampledValue":[' + _SV201 + b"]}]}]"
)


def transaction_updated_201(
    message_id: bytes, transaction_id: bytes, seq_no: int, timestamp: bytes, r: Reading
) -> bytes:
    """CALL TransactionEvent(Updated) (2.0.1) with 9 sampled values."""
    return _TRANSACTION_UPDATED % (
        message_id,
        timestamp,
        seq_no,
        transaction_id,
        timestamp,
        *_values(r),
    )


def boot_201(message_id: bytes) -> bytes:
    return (
        b'[2,"%s","BootNotification",{"chargingStation":{"vendorName":"Bench",'
        b'"model":"LoadGen","serialNumber":"BENCH-1","firmwareVersion":"1.0.0"},'
        b'"reason":"PowerUp"}]' % message_id
    )


def transaction_started_201(
    message_id: bytes, transaction_id: bytes, seq_no: int, timestamp: bytes
) -> bytes:
    """TransactionEvent(Started) without a token (plug-in first, E02)."""
    return (
        b'[2,"%s","TransactionEvent",{"eventType":"Started","timestamp":"%s",'
        b'"triggerReason":"CablePluggedIn","seqNo":%d,'
        b'"transactionInfo":{"transactionId":"%s","chargingState":"EVConnected"},'
        b'"evse":{"id":1,"connectorId":1}}]' % (message_id, timestamp, seq_no, transaction_id)
    )


# --- websocket framing (RFC 6455) -------------------------------------------------------------

OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_Mask = Callable[[bytes, bytes], bytes]


def _python_mask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return b""
    repeated = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(data), "big"
    )


try:
    from websockets.speedups import apply_mask as _c_mask

    apply_mask: _Mask = _c_mask
except ImportError:  # pragma: no cover - websockets without its C extension
    apply_mask = _python_mask


def client_frame(payload: bytes, mask: bytes, opcode: int = OP_TEXT) -> bytes:
    """A final, masked client-to-server frame (clients must mask, RFC 6455 5.3)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + mask + apply_mask(payload, mask)


def close_payload(code: int = 1000) -> bytes:
    return struct.pack("!H", code)


def parse_server_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Consume every complete (unmasked, unfragmented) server frame at the start of `buffer`;
    returns (opcode, payload) pairs and leaves an incomplete frame in the buffer."""
    frames: list[tuple[int, bytes]] = []
    position = 0
    size = len(buffer)
    while size - position >= 2:
        first, second = buffer[position], buffer[position + 1]
        length = second & 0x7F
        offset = position + 2
        if length == 126:
            if size - offset < 2:
                break
            (length,) = struct.unpack_from("!H", buffer, offset)
            offset += 2
        elif length == 127:
            if size - offset < 8:
                break
            (length,) = struct.unpack_from("!Q", buffer, offset)
            offset += 8
        if second & 0x80:  # a server never masks; tolerate it anyway
            if size - offset < 4:
                break
            mask = bytes(buffer[offset : offset + 4])
            offset += 4
        else:
            mask = b""
        if size - offset < length:
            break
        payload = bytes(buffer[offset : offset + length])
        if mask:
            payload = apply_mask(payload, mask)
        frames.append((first & 0x0F, payload))
        position = offset + length
    if position:
        del buffer[:position]
    return frames


def handshake_request(host: str, port: int, path: str, subprotocol: str) -> tuple[bytes, str]:
    """The HTTP upgrade request, and the Sec-WebSocket-Key it carries."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
        "User-Agent: evcharge-bench\r\n"
        "\r\n"
    )
    return request.encode(), key


def parse_handshake_response(head: bytes) -> tuple[int, dict[str, str]]:
    """(status code, lower-cased headers) of an HTTP response head (without the body)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, separator, value = line.partition(":")
        if separator:
            headers[name.strip().lower()] = value.strip()
    return status, headers


def response_kind(payload: bytes) -> int:
    """The messageTypeId of an OCPP-J frame read from its first bytes (3 result, 4 error,
    2 a call from the server), 0 for something else."""
    if len(payload) < 2 or payload[0] != 0x5B:  # '['
        return 0
    index = 1
    while index < len(payload) and payload[index] in b" \t\r\n":
        index += 1
    digit = payload[index] - 0x30 if index < len(payload) else -1
    return digit if 2 <= digit <= 6 else 0
