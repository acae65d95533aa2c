"""whole_text_frame: the short way for a station's frame that arrives whole in a read of its own.
It must take exactly the frames the Sans-I/O protocol would deliver as one text message, from
the protocol's state as it is, and leave everything else to the protocol."""

from __future__ import annotations

import base64
import logging
import os
import struct

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from central_system.transport.websocket import whole_text_frame

MESSAGE = b'[2,"19223201","MeterValues",{"connectorId":1,"meterValue":[]}]'


def opened(**options: object) -> ServerProtocol:
    """A server protocol through its opening handshake, as a station's connection is."""
    protocol = ServerProtocol(**options)  # type: ignore[arg-type]
    key = base64.b64encode(os.urandom(16)).decode()
    protocol.receive_data(
        (
            "GET /ocpp/CS-1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    (request,) = protocol.events_received()
    protocol.send_response(protocol.accept(request))  # type: ignore[arg-type]
    protocol.data_to_send()
    assert protocol.state is State.OPEN
    return protocol


def client_frame(
    payload: bytes,
    *,
    first_byte: int = 0x81,
    masked: bool = True,
    mask: bytes = b"\x37\xfa\x21\x3d",
    length_code: int | None = None,
) -> bytes:
    """A frame as a client writes it (masked with `mask`)."""
    length = len(payload)
    code = length_code if length_code is not None else (length if length < 126 else 126)
    header = bytes([first_byte, (0x80 if masked else 0) | code])
    if code == 126:
        header += struct.pack("!H", length)
    elif code == 127:
        header += struct.pack("!Q", length)
    if not masked:
        return header + payload
    body = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return header + mask + body


def delivered(protocol: ServerProtocol, data: bytes) -> list[Frame]:
    protocol.receive_data(data)
    return [event for event in protocol.events_received() if isinstance(event, Frame)]


@pytest.mark.parametrize("payload", [MESSAGE, MESSAGE * 40, b"", "Zoë 🚗".encode()])
def test_a_whole_text_frame_is_the_message_the_protocol_would_deliver(payload: bytes) -> None:
    frame = client_frame(payload)
    by_protocol = delivered(opened(), frame)
    assert [(f.opcode, f.fin, bytes(f.data)) for f in by_protocol] == [(Opcode.TEXT, True, payload)]

    protocol = opened()
    assert whole_text_frame(protocol, frame) == payload
    # the protocol never saw it, and still waits for the next frame
    assert protocol.events_received() == []
    assert delivered(protocol, client_frame(b"next")) == [Frame(Opcode.TEXT, b"next")]


def test_the_rest_of_a_frame_whose_header_the_protocol_read_is_never_taken_for_a_frame() -> None:
    """A client may write a frame's header and its payload apart, and each may arrive in a read
    of its own. A payload that looks exactly like a whole frame (a zero mask leaves it as it is)
    is still the payload of the frame the protocol is reading."""
    inner = client_frame(MESSAGE)
    outer = client_frame(inner, mask=b"\0\0\0\0")
    header_length = len(outer) - len(inner)

    protocol = opened()
    assert delivered(protocol, outer[:header_length]) == []
    assert whole_text_frame(protocol, inner) is None
    assert delivered(protocol, inner) == [Frame(Opcode.TEXT, inner)]
    assert whole_text_frame(protocol, client_frame(MESSAGE)) == MESSAGE  # back at a frame


def test_a_frame_after_part_of_another_left_in_the_protocols_buffer_goes_to_the_protocol() -> None:
    protocol = opened()
    assert delivered(protocol, b"\x81") == []  # half a header, buffered
    assert whole_text_frame(protocol, client_frame(MESSAGE)) is None


def test_a_fragmented_message_goes_to_the_protocol_until_it_is_whole() -> None:
    protocol = opened()
    assert delivered(protocol, client_frame(b"[2,", first_byte=0x01)) == [
        Frame(Opcode.TEXT, b"[2,", fin=False)
    ]
    # a final text frame inside a fragmented message is a protocol error: the protocol says so
    assert whole_text_frame(protocol, client_frame(MESSAGE)) is None
    assert delivered(protocol, client_frame(b'"1"]', first_byte=0x80)) == [
        Frame(Opcode.CONT, b'"1"]')
    ]
    assert whole_text_frame(protocol, client_frame(MESSAGE)) == MESSAGE


@pytest.mark.parametrize(
    "frame",
    [
        client_frame(MESSAGE, masked=False),  # a client must mask: 1002
        client_frame(MESSAGE, first_byte=0xC1),  # RSV1 without an extension: 1002
        client_frame(MESSAGE, first_byte=0x01),  # not final
        client_frame(MESSAGE, first_byte=0x82),  # binary
        client_frame(MESSAGE, first_byte=0x89),  # ping
        client_frame(b"\x03\xe8", first_byte=0x88),  # close
        client_frame(MESSAGE, length_code=127),  # 64-bit length
        client_frame(MESSAGE) + client_frame(MESSAGE),  # two frames in one read
        client_frame(MESSAGE)[:-1],  # part of a frame
        b"\x81\x80\0\0",  # shorter than any masked frame
    ],
    ids=[
        "unmasked",
        "rsv1",
        "fragment",
        "binary",
        "ping",
        "close",
        "64-bit-length",
        "two-frames",
        "partial",
        "short",
    ],
)
def test_anything_but_one_whole_final_masked_text_frame_goes_to_the_protocol(frame: bytes) -> None:
    assert whole_text_frame(opened(), frame) is None


def test_a_frame_over_the_size_limit_goes_to_the_protocol_which_fails_it_with_1009() -> None:
    protocol = opened(max_size=len(MESSAGE) - 1)
    frame = client_frame(MESSAGE)
    assert whole_text_frame(protocol, frame) is None
    protocol.receive_data(frame)
    assert protocol.state is State.CLOSING
    assert protocol.close_sent is not None and protocol.close_sent.code == 1009
    assert whole_text_frame(opened(max_size=len(MESSAGE)), frame) == MESSAGE


def test_nothing_is_taken_once_the_connection_is_closing() -> None:
    protocol = opened()
    protocol.send_close(1000)
    assert whole_text_frame(protocol, client_frame(MESSAGE)) is None


def test_with_websockets_debug_logging_every_frame_goes_to_the_protocol_which_logs_it() -> None:
    logger = logging.getLogger("test_websocket_frames.debug")
    logger.setLevel(logging.DEBUG)
    assert whole_text_frame(opened(logger=logger), client_frame(MESSAGE)) is None
