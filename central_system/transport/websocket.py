"""Station websockets: websockets' Sans-I/O protocol (`websockets.server.ServerProtocol`, the
RFC 6455 framing, handshake and closing handshake) driven straight from asyncio's Protocol
callbacks.

Why not websockets' asyncio server: per message it hands each frame through an assembler and a
future to the connection's reader, and sends through an async context manager; a central system
answers one frame with one frame, thousands of times a second. Measured here with the bench's
raw-frame load (1,000 stations, closed loop, uvloop, server on one core): a websockets asyncio
echo costs 24 us of server CPU per round trip, the same echo on the Sans-I/O protocol with a
task per connection woken by a future 17-20 us (bench/README.md).

What a connection does, as websockets' asyncio server does it:

* Handshake: `process_request` decides first (admission: 404, 401, 503 ...), then
  `ServerProtocol.accept` (upgrade headers, subprotocol); a client that has not sent its request
  within OPEN_TIMEOUT is dropped. The handler runs once the connection is open; when it
  returns, the connection is closed (1000, or 1011 when it failed).
* Frames: text and binary messages (fragmented ones put together) are queued for `recv`; a
  text message that is not UTF-8 fails the connection (1007). A read that holds exactly one
  whole text frame, as nearly every station's message comes, is unmasked here rather than by
  the protocol's parser (`whole_text_frame`), when the protocol would deliver it as it is.
  Pings are answered and close frames echoed by the Sans-I/O protocol; a pong answers the ping
  it carries and every earlier one. Messages larger than `max_size` fail the connection (1009).
* Flow control: at `max_queue` messages not yet received, the socket is not read; a send waits
  while the socket's write buffer holds more than `write_limit` bytes (`paused`).
* Closing: `close()` sends a close frame and waits for the peer's; the server closes the TCP
  connection first, and aborts it when the peer has not closed within CLOSE_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl as ssl_module
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from types import GeneratorType
from typing import Any, cast

from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from websockets.typing import Subprotocol

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets built without its C extension
    from websockets.utils import apply_mask

log = logging.getLogger(__name__)

OPEN_TIMEOUT = 10.0  # from the TCP connection to the handshake request
CLOSE_TIMEOUT = 10.0  # from our close frame (or a failure) to the peer closing TCP

Handler = Callable[["StationWebsocket"], Awaitable[None]]
ProcessRequest = Callable[["StationWebsocket", Request], Awaitable[Response | None]]
SelectSubprotocol = Callable[[ServerProtocol, Sequence[Subprotocol]], Subprotocol | None]


class StationWebsocket(asyncio.Protocol):
    """One connection: the asyncio Protocol, and what a handler uses (`recv`, `send`, `ping`,
    `close`, `state`, `subprotocol`, `request`, `transport`). Tens of thousands are held
    open at once: `__slots__`."""

    __slots__ = (
        "_closed",
        "_draining",
        "_fragmented_text",
        "_fragments",
        "_loop",
        "_messages",
        "_pings",
        "_reading_paused",
        "_receiving",
        "_server",
        "_task",
        "_timer",
        "paused",
        "protocol",
        "request",
        "transport",
    )

    def __init__(self, server: WebsocketServer) -> None:
        self._server = server
        self.protocol = ServerProtocol(
            subprotocols=server.subprotocols,
            select_subprotocol=server.select_subprotocol,
            max_size=server.max_size,
        )
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # connection_made
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # the same
        self.request: Request | None = None  # the handshake's, until the handler drops it
        self.paused = False  # the socket's write buffer is full: the peer does not read
        self._messages: deque[str | bytes] = deque()
        self._fragments: list[bytes] | None = None  # of a fragmented message
        self._fragmented_text = False
        self._receiving: asyncio.Future[None] | None = None  # recv() waiting for a message
        self._draining: asyncio.Future[None] | None = None  # send() waiting for the buffer
        self._reading_paused = False
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}  # (pong, sent at)
        self._closed: asyncio.Future[None] | None = None  # done at connection_lost
        self._timer: asyncio.TimerHandle | None = None  # OPEN_TIMEOUT, then CLOSE_TIMEOUT
        self._task: asyncio.Task[None] | None = None  # the handshake, then the handler

    # --- what a handler uses

    @property
    def state(self) -> State:
        return self.protocol.state

    @property
    def subprotocol(self) -> Subprotocol | None:
        return self.protocol.subprotocol

    async def recv(self) -> str | bytes:
        """The next message (str for a text one); raises ConnectionClosed once the connection
        is closed and every message received before was returned."""
        messages = self._messages
        while not messages:
            if self.protocol.state is not State.OPEN:
                raise await self._close_exc()
            waiter = self._receiving = self._loop.create_future()
            try:
                await waiter
            finally:
                self._receiving = None
        message = messages.popleft()
        if self._reading_paused and len(messages) <= self._server.max_queue // 4:
            self._reading_paused = False
            self.transport.resume_reading()
        return message

    async def send(self, message: bytes | str, *, text: bool = True) -> None:
        """Send a text (or binary) message; raises ConnectionClosed when the connection is
        closing or closed. Waits while the peer does not read what was sent before."""
        protocol = self.protocol
        if protocol.state is not State.OPEN:
            raise await self._close_exc()
        data = message.encode() if isinstance(message, str) else message
        if text:
            protocol.send_text(data)
        else:
            protocol.send_binary(data)
        self._write()
        if self.paused:
            await self._drain()

    async def ping(self) -> asyncio.Future[float]:
        """Send a ping; the future it returns is done (with the round trip in seconds) when
        its pong comes, or failed (ConnectionClosed) when the connection closes first."""
        protocol = self.protocol
        if protocol.state is not State.OPEN:
            raise await self._close_exc()
        loop = self._loop
        data = os.urandom(4)
        while data in self._pings:
            data = os.urandom(4)
        pong: asyncio.Future[float] = loop.create_future()
        pong.add_done_callback(_retrieve)
        self._pings[data] = (pong, loop.time())
        protocol.send_ping(data)
        self._write()
        return pong

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close with `code` and wait until the TCP connection is closed (at most
        CLOSE_TIMEOUT after the close frame)."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
            self._write()
        elif self.protocol.state is State.CONNECTING and self.transport is not None:
            self.transport.abort()
        if self._closed is not None:
            await asyncio.shield(self._closed)

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass of it
        self.transport = transport
        transport.set_write_buffer_limits(high=self._server.write_limit)
        loop = self._loop = asyncio.get_running_loop()
        self._closed = loop.create_future()
        self._timer = loop.call_later(self._server.open_timeout, self._open_timed_out)
        self._server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        payload = whole_text_frame(protocol, data)
        if payload is not None:
            self._message(True, payload)
            if protocol.state is State.OPEN:
                return  # nothing to send
        else:
            protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Frame):
                    self._frame(event)
                elif isinstance(event, Request) and self._task is None:
                    self.request = event
                    self._task = self._loop.create_task(self._run(event))
        self._write()
        if protocol.state is not State.OPEN:
            self._wake_receiver()

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self._write()
        # None: the transport closes itself (the websocket has its own closing handshake)

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent; the state is CLOSED from here on
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._server.connections.discard(self)
        assert self._closed is not None
        self._closed.set_result(None)
        self._wake_receiver()
        closed = self.protocol.close_exc
        for pong, _ in self._pings.values():
            if not pong.done():
                pong.set_exception(closed)
        self._pings.clear()
        if self.paused:
            self.paused = False
            self._wake_drain()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake_drain()

    # --- inside

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(opcode is Opcode.TEXT, frame.data)
            else:
                self._fragments = [bytes(frame.data)]
                self._fragmented_text = opcode is Opcode.TEXT
        elif opcode is Opcode.CONT:
            fragments = self._fragments
            assert fragments is not None  # the protocol checks the order of fragments
            fragments.append(bytes(frame.data))
            if frame.fin:
                self._fragments = None
                self._message(self._fragmented_text, b"".join(fragments))
        elif opcode is Opcode.PONG:
            self._pong(bytes(frame.data))
        # PING is answered and CLOSE echoed by the protocol itself

    def _message(self, text: bool, data: Any) -> None:
        message: str | bytes
        if text:
            try:
                message = str(data, "utf-8")
            except UnicodeDecodeError as error:
                self.protocol.fail(
                    CloseCode.INVALID_DATA, f"{error.reason} at position {error.start}"
                )
                return
        else:
            message = bytes(data)
        messages = self._messages
        messages.append(message)
        receiving = self._receiving
        if receiving is not None and not receiving.done():
            receiving.set_result(None)
        if not self._reading_paused and len(messages) >= self._server.max_queue:
            self._reading_paused = True
            self.transport.pause_reading()

    def _pong(self, data: bytes) -> None:
        """A pong acknowledges its ping and every ping sent before it (RFC 6455 5.5.3)."""
        if data not in self._pings:
            return  # unsolicited
        now = self._loop.time()
        for key in list(self._pings):
            pong, sent_at = self._pings.pop(key)
            if not pong.done():
                pong.set_result(now - sent_at)
            if key == data:
                break

    def _write(self) -> None:
        transport = self.transport
        for data in self.protocol.data_to_send():
            if transport.is_closing():
                continue
            if data:
                transport.write(data)
            else:  # end of stream: the server closes TCP first (RFC 6455 7.1.1)
                transport.close()
        if self._timer is None and self.protocol.close_expected():
            # a peer that never closes (or never reads what is left to flush) is cut off
            self._timer = self._loop.call_later(CLOSE_TIMEOUT, transport.abort)

    def _open_timed_out(self) -> None:
        self._timer = None
        if self.protocol.state is State.CONNECTING and self._task is None:
            log.info(
                "no handshake request within %g s: closing the connection",
                self._server.open_timeout,
            )
            self.transport.abort()

    def _wake_receiver(self) -> None:
        receiving = self._receiving
        if receiving is not None and not receiving.done():
            receiving.set_result(None)

    async def _drain(self) -> None:
        while self.paused and self.protocol.state is not State.CLOSED:
            waiter = self._draining = self._loop.create_future()
            try:
                await waiter
            finally:
                self._draining = None

    def _wake_drain(self) -> None:
        draining = self._draining
        if draining is not None and not draining.done():
            draining.set_result(None)

    async def _close_exc(self) -> ConnectionClosed:
        """The ConnectionClosed to raise, once the connection is closed."""
        assert self._closed is not None
        await asyncio.shield(self._closed)
        return self.protocol.close_exc

    async def _run(self, request: Request) -> None:
        """The handshake, then the handler until it returns; then the connection is closed."""
        server = self._server
        protocol = self.protocol
        try:
            response = await server.process_request(self, request)
            if response is None:
                response = protocol.accept(request)
        except Exception:
            log.exception("opening handshake failed")
            response = protocol.reject(
                HTTPStatus.INTERNAL_SERVER_ERROR, "Failed to open a WebSocket connection.\n"
            )
        response.headers["Server"] = server.server_header
        if self.transport.is_closing():
            return  # the peer went away while admission ran
        if self._timer is not None:  # the handshake's time limit; a refusal sets the close's
            self._timer.cancel()
            self._timer = None
        protocol.send_response(response)
        self._write()
        if protocol.state is not State.OPEN:
            return  # refused: the protocol ends the stream after the response
        code = CloseCode.NORMAL_CLOSURE
        try:
            await server.handler(self)
        except ConnectionClosed:
            pass  # the peer closed while the handler was sending or receiving
        except Exception:
            log.exception("%s: connection handler failed", request.path)
            code = CloseCode.INTERNAL_ERROR
        finally:
            with contextlib.suppress(ConnectionClosed):
                await self.close(code)


_WAITING_FOR_DATA = StreamReader.at_eof.__code__


def whole_text_frame(protocol: ServerProtocol, data: bytes) -> bytes | None:
    """The unmasked payload when `data` is one whole text frame that the protocol would deliver
    as a message of its own: final, masked, no reserved bits, within the size limit, read while
    the protocol waits for the first byte of a frame, outside a fragmented message. None for
    anything else, which goes through the protocol.

    Why: nearly every frame a station sends is one CALL or answer that arrives in a read of its
    own, and the protocol's generator-based parser costs five times what this does (2.6 against
    0.5 us per MeterValues; the connection's data_received 3.3 against 1.2 us, about 3 % of the
    server's CPU per message in the bench). Fragments, control frames, frames split across
    reads or sharing one, bad frames and debug logging all take the protocol's way, so its
    checks and errors stay the only ones.
    """
    if len(data) < 6 or data[0] != 0x81:  # FIN, no RSV bits, text
        return None
    length = data[1] ^ 0x80  # 0-127 when the MASK bit is set
    if length < 126:
        start = 2
    elif length == 126:
        length = int.from_bytes(data[2:4])
        start = 4
    else:  # not masked, or a 64-bit length
        return None
    message_limit, fragment_limit = protocol.max_message_size, protocol.max_fragment_size
    if (
        len(data) != start + 4 + length
        or protocol.state is not State.OPEN
        or protocol.current_size is not None
        or protocol.debug
        or (message_limit is not None and length > message_limit)
        or (fragment_limit is not None and length > fragment_limit)
        or not _waits_for_a_frame(protocol)
    ):
        return None
    return apply_mask(memoryview(data)[start + 4 :], data[start : start + 4])


def _waits_for_a_frame(protocol: ServerProtocol) -> bool:
    """Whether the protocol's parser waits at the top of its frame loop (in StreamReader.at_eof
    with nothing buffered) rather than inside a frame whose header it already read. Exact:
    its generators say where they are. Should websockets parse otherwise, this is False and
    every frame goes through the protocol (a unit test notices)."""
    parser = cast("GeneratorType[None, None, None]", protocol.parser)
    frames = parser.gi_yieldfrom  # ServerProtocol.parse -> Protocol.parse
    waiting = getattr(frames, "gi_yieldfrom", None)
    return waiting is not None and waiting.gi_code is _WAITING_FOR_DATA


def _retrieve(future: asyncio.Future[Any]) -> None:
    """A pong future nobody waits for must not log "exception was never retrieved"."""
    if not future.cancelled():
        future.exception()


class WebsocketServer:
    """A listening socket of station websockets (an async context manager: it listens on
    entering, and on leaving stops listening, closes every connection with 1001 "going away"
    and waits for their handlers)."""

    def __init__(
        self,
        handler: Handler,
        host: str,
        port: int,
        *,
        process_request: ProcessRequest,
        subprotocols: Sequence[Subprotocol],
        select_subprotocol: SelectSubprotocol | None = None,
        max_size: int | None = 2**20,
        max_queue: int = 16,
        write_limit: int = 32 * 1024,
        server_header: str = "evcharge",
        backlog: int = 100,
        ssl: ssl_module.SSLContext | None = None,
        open_timeout: float = OPEN_TIMEOUT,
    ) -> None:
        self.handler = handler
        self.process_request = process_request
        self.subprotocols = list(subprotocols)
        self.select_subprotocol = select_subprotocol
        self.max_size = max_size
        self.max_queue = max_queue
        self.write_limit = write_limit
        self.server_header = server_header
        self.open_timeout = open_timeout
        self.connections: set[StationWebsocket] = set()
        self._listen = (host, port, backlog, ssl)
        self._server: asyncio.Server | None = None

    @property
    def sockets(self) -> Sequence[Any]:
        assert self._server is not None, "not listening"
        return self._server.sockets

    async def __aenter__(self) -> WebsocketServer:
        host, port, backlog, ssl = self._listen
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: StationWebsocket(self), host, port, backlog=backlog, ssl=ssl
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        connections = list(self.connections)
        await asyncio.gather(
            *(connection.close(CloseCode.GOING_AWAY) for connection in connections),
            return_exceptions=True,
        )
        tasks = [c._task for c in connections if c._task is not None and not c._task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


__all__ = ["CLOSE_TIMEOUT", "OPEN_TIMEOUT", "StationWebsocket", "WebsocketServer"]
