"""The station websocket server (websockets' Sans-I/O protocol on asyncio) against real clients
on 127.0.0.1: what the asyncio server of websockets did for us and ours must do as well
(RFC 6455): fragmented messages, text that is not UTF-8, the handshake's time limit, the close
codes when a handler ends, pings and the server's shutdown."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from central_system.transport.websocket import (
    StationWebsocket,
    WebsocketServer,
    _waits_for_a_frame,
)
from tests.helpers import wait_for

Handler = Callable[[StationWebsocket], Awaitable[None]]


async def admit_all(_: StationWebsocket, __: Request) -> Response | None:
    return None


async def echo(websocket: StationWebsocket) -> None:
    while True:
        message = await websocket.recv()
        await websocket.send(message, text=isinstance(message, str))


def server(handler: Handler = echo, **options: float) -> WebsocketServer:
    return WebsocketServer(
        handler,
        "127.0.0.1",
        0,
        process_request=admit_all,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        **options,  # type: ignore[arg-type]
    )


def url(listening: WebsocketServer) -> str:
    return f"ws://127.0.0.1:{listening.sockets[0].getsockname()[1]}/ocpp/CS-1"


async def raw_open(listening: WebsocketServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection through the opening handshake, frames then written by hand."""
    port = listening.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ocpp/CS-1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        ).encode()
    )
    response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert response.startswith(b"HTTP/1.1 101")
    return reader, writer


def masked_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A client frame: masked, with the key 0000 (which leaves the payload as it is)."""
    assert len(payload) < 126
    return struct.pack("!BB", (0x80 if fin else 0) | opcode, 0x80 | len(payload)) + (
        b"\0\0\0\0" + payload
    )


async def close_code_read(reader: asyncio.StreamReader) -> int:
    """The code of the close frame the server sends (frames before it skipped)."""
    while True:
        first, second = await asyncio.wait_for(reader.readexactly(2), 5)
        payload = await reader.readexactly(second & 0x7F)
        if first & 0x0F == 0x8:
            code: int = struct.unpack("!H", payload[:2])[0]
            return code


@pytest.fixture
async def listening() -> AsyncIterator[WebsocketServer]:
    async with server() as running:
        yield running


async def test_a_fragmented_message_is_received_whole(listening: WebsocketServer) -> None:
    async with websockets.connect(url(listening), subprotocols=["ocpp1.6"]) as client:  # type: ignore[list-item]
        assert client.subprotocol == "ocpp1.6"
        await client.send(['[2,"1",', '"Heartbeat",', "{}]"])
        assert await asyncio.wait_for(client.recv(), 5) == '[2,"1","Heartbeat",{}]'
        await client.send(b"\x01\x02")  # a binary message comes as bytes
        assert await asyncio.wait_for(client.recv(), 5) == b"\x01\x02"


async def test_text_that_is_not_utf8_closes_the_connection_with_1007(
    listening: WebsocketServer,
) -> None:
    reader, writer = await raw_open(listening)
    try:
        writer.write(masked_frame(0x1, b'[2,"1","\xff"]'))
        assert await close_code_read(reader) == 1007
        assert await asyncio.wait_for(reader.read(), 5) == b""  # then the server closes TCP
    finally:
        writer.close()


async def test_a_text_message_split_inside_a_character_is_put_together(
    listening: WebsocketServer,
) -> None:
    reader, writer = await raw_open(listening)
    try:
        text = '"Zoë"'.encode()
        writer.write(masked_frame(0x1, text[:4], fin=False) + masked_frame(0x0, text[4:]))
        first, second = await asyncio.wait_for(reader.readexactly(2), 5)
        assert (first, await reader.readexactly(second)) == (0x81, text)
    finally:
        writer.close()


async def server_frame_read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await asyncio.wait_for(reader.readexactly(2), 5)
    return first, await asyncio.wait_for(reader.readexactly(second), 5)


async def test_a_frame_whose_header_and_payload_come_apart_is_received_as_sent(
    listening: WebsocketServer,
) -> None:
    """Most frames arrive whole and take the short way (whole_text_frame); the rest of a frame
    whose header came first is its payload, even when it looks like a whole text frame."""
    reader, writer = await raw_open(listening)
    try:
        (connection,) = listening.connections
        looks_like_a_frame = masked_frame(0x1, b'[2,"1","Heartbeat",{}]')
        frame = masked_frame(0x2, looks_like_a_frame)
        header, payload = frame[:6], frame[6:]
        assert payload == looks_like_a_frame
        writer.write(header)
        await wait_for(
            lambda: not _waits_for_a_frame(connection.protocol), what="the server read the header"
        )
        writer.write(payload)
        assert await server_frame_read(reader) == (0x82, looks_like_a_frame)
        writer.write(masked_frame(0x1, b'[2,"2","Heartbeat",{}]'))  # whole, in one read
        assert await server_frame_read(reader) == (0x81, b'[2,"2","Heartbeat",{}]')
    finally:
        writer.close()


async def test_a_client_that_sends_no_handshake_is_dropped() -> None:
    async with server(open_timeout=0.2) as running:
        port = running.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert await asyncio.wait_for(reader.read(), 5) == b""
            assert not running.connections
        finally:
            writer.close()


@pytest.mark.parametrize(("ends", "code"), [("returns", 1000), ("fails", 1011)])
async def test_the_connection_closes_when_its_handler_ends(ends: str, code: int) -> None:
    async def handler(websocket: StationWebsocket) -> None:
        await websocket.recv()
        if ends == "fails":
            raise RuntimeError("a bug")

    async with (
        server(handler) as running,
        websockets.connect(url(running), subprotocols=["ocpp1.6"]) as client,  # type: ignore[list-item]
    ):
        await client.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_a_ping_is_answered_and_a_closed_connection_fails_the_ones_pending() -> None:
    opened: asyncio.Queue[StationWebsocket] = asyncio.Queue()

    async def handler(websocket: StationWebsocket) -> None:
        await opened.put(websocket)
        await websocket.recv()

    async with (
        server(handler) as running,
        websockets.connect(url(running), subprotocols=["ocpp1.6"]) as client,  # type: ignore[list-item]
    ):
        websocket = await asyncio.wait_for(opened.get(), 5)
        latency = await asyncio.wait_for(await websocket.ping(), 5)
        assert latency >= 0
        client.transport.pause_reading()  # the client stops answering
        pending = await websocket.ping()
        await asyncio.sleep(0)
        assert not pending.done()
        client.transport.abort()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(pending, 5)
        with pytest.raises(ConnectionClosed):
            await websocket.send("too late")


async def test_the_servers_shutdown_closes_every_connection_going_away() -> None:
    running = server()
    async with running:
        clients = [
            await websockets.connect(url(running), subprotocols=["ocpp1.6"])  # type: ignore[list-item]
            for _ in range(3)
        ]
        for client in clients:  # each open and answered
            await client.send("ping")
            assert await asyncio.wait_for(client.recv(), 5) == "ping"
    for client in clients:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert not running.connections
