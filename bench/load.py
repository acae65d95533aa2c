"""The load generator: many simulated stations in one asyncio process, speaking raw websocket
frames built from pre-serialised templates (bench/frames.py), so that the generator costs a small
fraction of what the server under test spends per message.

It runs in its own process (`python -m bench.load --cpu 1`), pinned to another core than the
server, and is driven by the benchmark runner through JSON lines: one command per line on stdin,
one answer per line on stdout. Several generator processes (each with its own 127.0.0.x source
address) together open more connections than one process may.

Commands (`cmd`):
* `setup`: connect stations, BootNotification, start a transaction (1.6 StartTransaction /
  2.0.1 TransactionEvent Started) and optionally send `prime` meter messages each.
* `closed`: closed loop - every station sends its next message as soon as the previous one is
  answered (throughput).
* `open`: open loop at a fixed total rate, latency measured from each message's scheduled time
  (so a slow server cannot hide its queueing: no coordinated omission). `kind` is `meter` or
  `heartbeat` (idle stations).
* `storm`: drop every connection at once, reconnect all (with retries), then send the meter
  message each station queued while it was offline.
* `status`, `quit`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import resource
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from bench import frames
from bench.frames import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    SUBPROTOCOL,
    V16,
    V201,
    client_frame,
    close_payload,
    parse_server_frames,
    response_kind,
)
from bench.stats import LOST_US

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_ERROR_SAMPLES = 5


class BenchError(Exception):
    pass


class HandshakeFailed(BenchError):
    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status


class CallFailed(BenchError):
    pass


def _accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class _Link(asyncio.Protocol):
    """One TCP connection of a station. Callbacks of a connection the station already dropped
    (a late `connection_lost` after a reconnect) are ignored."""

    __slots__ = ("station",)

    def __init__(self, station: Station) -> None:
        self.station = station

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.station.link is self:
            self.station.connection_made(transport)
        else:
            transport.abort()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.station.link is self:
            self.station.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.station.link is self:
            self.station.link = None
            self.station.connection_lost(exc)


class Station:
    """One simulated station: one websocket, at most one outstanding CALL (OCPP-J 4.1.1)."""

    def __init__(self, gen: Generator, index: int, station_id: str, version: str) -> None:
        self.gen = gen
        self.index = index
        self.station_id = station_id
        self.version = version
        self.path = f"{gen.path}/{station_id}"
        self.transport: asyncio.Transport | None = None
        self.link: _Link | None = None
        self.open = False
        self.expected_close = False
        self._head = b""
        self._key = ""
        self._buffer = bytearray()
        self._handshake: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.mask = os.urandom(4)
        self.counter = 0
        self.last_ts_ms = 0
        self.seq_no = 0
        self.transaction_id = 0
        self.tx_id_201 = f"TX-{station_id}".encode()
        self.busy = False
        self.scheduled = 0.0
        self.kind = "meter"
        self._quoted_id = b""
        self.backlog: deque[float] = deque()
        self.meter_answered = 0  # meter-carrying messages answered with a CALLRESULT
        self.meter_sent = 0
        self.has_transaction = False

    # --- connection callbacks (through the current _Link) -----------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = writer = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        self.open = False
        self._head = b""
        self._buffer.clear()
        request, self._key = frames.handshake_request(
            self.gen.host, self.gen.port, self.path, SUBPROTOCOL[self.version]
        )
        writer.write(request)

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, rest = self._head[:end], self._head[end + 4 :]
            self._head = b""
            self._on_handshake(head)
            if not self.open or not rest:
                return
            data = rest
        buffer = self._buffer
        buffer += data
        for opcode, payload in parse_server_frames(buffer):
            if opcode == OP_TEXT:
                self._on_text(payload)
            elif opcode == OP_PING:
                self.gen.pings += 1
                if self.transport is not None:
                    self.transport.write(client_frame(payload, self.mask, OP_PONG))
            elif opcode == OP_CLOSE and self.transport is not None:
                self.transport.write(client_frame(close_payload(), self.mask, OP_CLOSE))
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        was_open = self.open
        self.open = False
        self.transport = None
        error = ConnectionError("connection lost")
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(error)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        self._waiter = None
        if self.busy:
            self.busy = False
            self.gen.on_lost_call(self)
        if was_open and not self.expected_close:
            self.gen.unexpected_disconnects += 1

    # --- handshake and frames -------------------------------------------------------------------

    def _on_handshake(self, head: bytes) -> None:
        status, headers = frames.parse_handshake_response(head)
        assert self._handshake is not None
        if status != 101:
            self._handshake.set_exception(HandshakeFailed(status))
        elif headers.get("sec-websocket-accept") != _accept_key(self._key):
            self._handshake.set_exception(HandshakeFailed(status, "bad Sec-WebSocket-Accept"))
        elif headers.get("sec-websocket-protocol") != SUBPROTOCOL[self.version]:
            self._handshake.set_exception(
                HandshakeFailed(status, f"subprotocol {headers.get('sec-websocket-protocol')}")
            )
        else:
            self.open = True
            self._handshake.set_result(None)
            return
        if self.transport is not None:
            self.transport.close()

    def _on_text(self, payload: bytes) -> None:
        kind = response_kind(payload)
        if kind == 3 or kind == 4:
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                if not waiter.done():
                    waiter.set_result((kind, payload))
            elif self.busy and payload.find(self._quoted_id, 0, 80) >= 0:
                self.busy = False
                self.gen.on_answer(self, kind, payload)
            else:  # the answer to a call the generator already gave up on
                self.gen.late_answers += 1
                if kind == 3 and self.kind == "meter":
                    self.meter_answered += 1
        elif kind == 2 and self.transport is not None:
            self._on_server_call(json.loads(payload))

    def _on_server_call(self, message: list[Any]) -> None:
        """A CALL from the central system. A 1.6 RemoteStartTransaction (an app session) is
        accepted and followed by a StartTransaction with its idTag; anything else is refused."""
        assert self.transport is not None
        self.gen.server_calls += 1
        message_id, action, payload = message[1], message[2], message[3]
        if action == "RemoteStartTransaction" and self.version == V16:
            answer: list[Any] = [3, message_id, {"status": "Accepted"}]
            self.gen.remote_starts.append(
                asyncio.ensure_future(self._remote_start(str(payload["idTag"])))
            )
        else:
            answer = [4, message_id, "NotImplemented", "bench station", {}]
        self.transport.write(client_frame(json.dumps(answer).encode(), self.mask))

    async def _remote_start(self, id_tag: str) -> None:
        answer = await self.call(
            frames.start_transaction_16(
                self._next_id(), id_tag.encode(), self._next_timestamp(), 1000
            ),
            30.0,
        )
        self.transaction_id = int(answer["transactionId"])
        self.has_transaction = True

    # --- requests ---------------------------------------------------------------------------------

    async def connect(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self._handshake = loop.create_future()
        self.expected_close = False
        source = (self.gen.source, 0) if self.gen.source else None
        self.link = link = _Link(self)
        async with asyncio.timeout(timeout):
            try:
                await loop.create_connection(
                    lambda: link, self.gen.host, self.gen.port, local_addr=source
                )
                await self._handshake
            except BaseException:
                self.abort()
                raise

    def _next_id(self) -> bytes:
        self.counter += 1
        message_id = b"%d" % self.counter
        self._quoted_id = b'"' + message_id + b'"'
        return message_id

    def _next_timestamp(self, epoch_ms: int | None = None) -> bytes:
        now_ms = epoch_ms if epoch_ms is not None else time.time_ns() // 1_000_000
        ts_ms = now_ms if now_ms > self.last_ts_ms else self.last_ts_ms + 1
        self.last_ts_ms = ts_ms
        return self.gen.timestamps(ts_ms)

    def meter_frame(self, epoch_ms: int | None = None) -> bytes:
        """The next MeterValues (1.6) / TransactionEvent Updated (2.0.1), unique timestamp and
        seqNo."""
        message_id = self._next_id()
        timestamp = self._next_timestamp(epoch_ms)
        reading = frames.reading(self.index, self.counter)
        if self.version == V16:
            return frames.meter_values_16(message_id, self.transaction_id, timestamp, reading)
        self.seq_no += 1
        return frames.transaction_updated_201(
            message_id, self.tx_id_201, self.seq_no, timestamp, reading
        )

    def heartbeat_frame(self) -> bytes:
        return frames.heartbeat(self._next_id())

    def send(self, kind: str, scheduled: float) -> None:
        """Send one load message now; its latency counts from `scheduled`."""
        transport = self.transport
        if transport is None or not self.open:
            self.gen.not_connected += 1
            self.gen.record_lost(scheduled)
            return
        if kind == "meter":
            payload = self.meter_frame()
            self.meter_sent += 1
        else:
            payload = self.heartbeat_frame()
        self.kind = kind
        self.busy = True
        self.scheduled = scheduled
        transport.write(client_frame(payload, self.mask))

    async def call(self, payload: bytes, timeout: float) -> dict[str, Any]:
        """A setup CALL: send and wait for its answer; CALLERROR raises CallFailed."""
        if self.transport is None or not self.open:
            raise ConnectionError("not connected")
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._waiter = future
        self.transport.write(client_frame(payload, self.mask))
        async with asyncio.timeout(timeout):
            kind, body = await future
        message = json.loads(body)
        if kind == 4:
            raise CallFailed(f"{message[2]}: {message[3]}")
        result = message[2] if len(message) > 2 else {}
        return result if isinstance(result, dict) else {}

    async def boot_and_start(self, timeout: float, transaction: bool) -> None:
        if self.version == V16:
            answer = await self.call(frames.boot_16(self._next_id()), timeout)
        else:
            answer = await self.call(frames.boot_201(self._next_id()), timeout)
        status = answer.get("status", "Accepted")  # the echo server answers {}
        if status != "Accepted":
            raise CallFailed(f"BootNotification answered {status}")
        if not transaction:
            return
        if self.version == V16:
            answer = await self.call(
                frames.start_transaction_16(
                    self._next_id(), b"BENCH%05d" % self.index, self._next_timestamp(), 1000
                ),
                timeout,
            )
            self.transaction_id = int(answer.get("transactionId", 1))
            self.has_transaction = True
        else:
            self.seq_no = 0
            await self.call(
                frames.transaction_started_201(
                    self._next_id(), self.tx_id_201, self.seq_no, self._next_timestamp()
                ),
                timeout,
            )
            self.has_transaction = True

    async def send_meter_and_wait(self, timeout: float, epoch_ms: int | None = None) -> None:
        self.meter_sent += 1
        await self.call(self.meter_frame(epoch_ms), timeout)
        self.meter_answered += 1

    def abort(self) -> None:
        """Drop the connection now (TCP abort); its late callbacks are ignored."""
        self.expected_close = True
        transport, link = self.transport, self.link
        self.link = None
        if transport is not None:
            transport.abort()
        if link is not None:
            self.connection_lost(None)


class Window:
    """The measurement window of one loop: latencies of messages scheduled inside it, answers
    received inside it."""

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = end
        self.latencies: list[int] = []
        self.completed = 0
        self.errors = 0
        self.lost = 0
        self.error_samples: list[str] = []


class Generator:
    def __init__(self, host: str, port: int, path: str, source: str | None) -> None:
        self.host = host
        self.port = port
        self.path = path.rstrip("/")
        self.source = source
        self.stations: list[Station] = []
        self.timestamps = frames.TimestampFormatter()
        self.pings = 0
        self.unexpected_disconnects = 0
        self.not_connected = 0
        self.late_answers = 0
        self.server_calls = 0
        self.remote_starts: list[asyncio.Future[None]] = []
        self.window: Window | None = None
        self.closed_loop = False
        self.stop_at = 0.0
        self.outstanding = 0
        self._drained: asyncio.Event | None = None

    # --- callbacks from stations --------------------------------------------------------------

    def on_answer(self, station: Station, kind: int, payload: bytes) -> None:
        now = time.perf_counter()
        self.outstanding -= 1
        window = self.window
        if window is not None:
            if window.start <= station.scheduled < window.end:
                window.latencies.append(int((now - station.scheduled) * 1e6))
                if kind == 4:
                    window.errors += 1
                    if len(window.error_samples) < MAX_ERROR_SAMPLES:
                        window.error_samples.append(payload[:300].decode(errors="replace"))
            if window.start <= now < window.end:
                window.completed += 1
        if kind == 3 and station.kind == "meter":
            station.meter_answered += 1
        if now < self.stop_at:
            if self.closed_loop:
                self.outstanding += 1
                station.send(station.kind, now)
            elif station.backlog:  # already counted as outstanding when it was scheduled
                station.send(station.kind, station.backlog.popleft())
        if self.outstanding <= 0 and self._drained is not None:
            self._drained.set()

    def record_lost(self, scheduled: float) -> None:
        self.outstanding -= 1
        window = self.window
        if window is not None and window.start <= scheduled < window.end:
            window.lost += 1
            window.latencies.append(LOST_US)

    def on_lost_call(self, station: Station) -> None:
        self.record_lost(station.scheduled)
        if self.outstanding <= 0 and self._drained is not None:
            self._drained.set()

    # --- commands ---------------------------------------------------------------------------------

    def group(self, version: str | None) -> list[Station]:
        if version == "transaction":
            return [s for s in self.stations if s.has_transaction and s.open]
        return [s for s in self.stations if version in (None, "all", s.version) and s.open]

    async def setup(self, command: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        created = [
            Station(self, index, station_id, version)
            for index, station_id, version in command["stations"]
        ]
        self.stations.extend(created)
        semaphore = asyncio.Semaphore(command.get("concurrency", 200))
        timeout = command.get("timeout", 60.0)
        transaction = command.get("transaction", True)
        prime = command.get("prime", 0)
        failures: dict[str, int] = {}

        async def one(station: Station) -> bool:
            for attempt in range(3):
                async with semaphore:
                    try:
                        await station.connect(timeout)
                        await station.boot_and_start(timeout, transaction)
                        for _ in range(prime):
                            await station.send_meter_and_wait(timeout)
                        return True
                    except (OSError, TimeoutError, BenchError) as error:
                        reason = f"{type(error).__name__}: {error}"[:120]
                        failures[reason] = failures.get(reason, 0) + 1
                        station.abort()
                await asyncio.sleep(0.5 * (attempt + 1))
            return False

        results = await asyncio.gather(*(one(s) for s in created))
        return {
            "connected": sum(results),
            "failed": len(results) - sum(results),
            "failures": failures,
            "seconds": time.perf_counter() - start,
        }

    async def _wait_until(self, wall_time: float) -> float:
        delay = wall_time - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        return time.perf_counter()

    async def _drain(self, grace: float) -> None:
        self._drained = asyncio.Event()
        if self.outstanding > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._drained.wait()
        self._drained = None

    def _finish(self, stations: list[Station], window: Window, cpu: float) -> dict[str, Any]:
        # Whatever is still unanswered or never sent counts as lost.
        for station in stations:
            if station.busy:
                station.busy = False
                if window.start <= station.scheduled < window.end:
                    window.lost += 1
                    window.latencies.append(LOST_US)
            for scheduled in station.backlog:
                if window.start <= scheduled < window.end:
                    window.lost += 1
                    window.latencies.append(LOST_US)
            station.backlog.clear()
        self.outstanding = 0
        self.window = None
        duration = window.end - window.start
        return {
            "completed": window.completed,
            "rate": window.completed / duration,
            "latencies_us": window.latencies,
            "errors": window.errors,
            "error_samples": window.error_samples,
            "lost": window.lost,
            "stations": len(stations),
            "generator_cpu": cpu / duration,
            "window_s": duration,
            "unexpected_disconnects": self.unexpected_disconnects,
            "late_answers": self.late_answers,
        }

    async def closed(self, command: dict[str, Any]) -> dict[str, Any]:
        stations = self.group(command.get("group"))
        kind = command.get("kind", "meter")
        t0 = await self._wait_until(command["start_at"])
        window = Window(t0 + command["warmup"], t0 + command["warmup"] + command["duration"])
        self.window, self.closed_loop, self.stop_at = window, True, window.end
        for station in stations:
            self.outstanding += 1
            station.send(kind, time.perf_counter())
        await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
        cpu_start = _cpu_seconds()
        await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
        cpu = _cpu_seconds() - cpu_start
        self.closed_loop = False
        await self._drain(command.get("grace", 10.0))
        return self._finish(stations, window, cpu)

    async def open(self, command: dict[str, Any]) -> dict[str, Any]:
        stations = self.group(command.get("group"))
        kind = command.get("kind", "meter")
        rate = float(command["rate"])
        t0 = await self._wait_until(command["start_at"])
        window = Window(t0 + command["warmup"], t0 + command["warmup"] + command["duration"])
        self.window, self.closed_loop, self.stop_at = window, False, window.end
        interval = 1.0 / rate
        # Stations take turns; each one's phase is spread over the interval between its sends.
        order = stations[:]
        random.Random(7).shuffle(order)
        count = len(order)
        due = t0
        sent = 0
        cpu_start: float | None = None
        while due < window.end and count:
            now = time.perf_counter()
            if cpu_start is None and now >= window.start:
                cpu_start = _cpu_seconds()
            while due <= now and due < window.end:
                station = order[sent % count]
                sent += 1
                self.outstanding += 1
                if station.busy:
                    station.backlog.append(due)
                else:
                    station.send(kind, due)
                due += interval
            # At least 1 ms: shorter sleeps spin (the loop's timers have 1 ms resolution). A
            # message may so leave up to ~1 ms after it was due; that counts in its latency.
            await asyncio.sleep(min(max(due - time.perf_counter(), 0.001), 0.01))
        cpu = _cpu_seconds() - (cpu_start if cpu_start is not None else _cpu_seconds())
        self.stop_at = time.perf_counter() + command.get("grace", 5.0)
        await self._drain(command.get("grace", 5.0))
        result = self._finish(stations, window, cpu)
        result["scheduled"] = sent
        return result

    async def storm(self, command: dict[str, Any]) -> dict[str, Any]:
        stations = self.group(command.get("group"))
        deadline = command.get("deadline", 120.0)
        attempt_timeout = command.get("attempt_timeout", 15.0)
        t0 = await self._wait_until(command["start_at"])
        offline_ms = time.time_ns() // 1_000_000
        for station in stations:
            station.abort()
        await asyncio.sleep(0)  # let every connection_lost run before reconnecting
        back: list[float] = []
        synced: list[float] = []
        failures: dict[str, int] = {}
        attempts = 0
        rng = random.Random(11)

        async def one(station: Station) -> None:
            nonlocal attempts
            failed = 0
            while time.perf_counter() - t0 < deadline:
                attempts += 1
                try:
                    remaining = deadline - (time.perf_counter() - t0)
                    await station.connect(min(attempt_timeout, max(remaining, 0.1)))
                    back.append(time.perf_counter() - t0)
                    # The message the station queued while it was offline, stamped then.
                    await station.send_meter_and_wait(
                        min(attempt_timeout * 2, max(deadline - (time.perf_counter() - t0), 0.1)),
                        offline_ms,
                    )
                    synced.append(time.perf_counter() - t0)
                    return
                except (OSError, TimeoutError, BenchError) as error:
                    reason = f"{type(error).__name__}: {error}"[:120]
                    failures[reason] = failures.get(reason, 0) + 1
                    station.abort()
                    failed += 1
                    # Back off with jitter, as stations do (OCPP 2.0.1 B10 RetryBackOff*).
                    await asyncio.sleep(rng.uniform(0.5, 1.0) * min(2**failed, 16))

        await asyncio.gather(*(one(s) for s in stations))
        return {
            "stations": len(stations),
            "back": sorted(back),
            "synced": sorted(synced),
            "attempts": attempts,
            "failures": failures,
        }

    def status(self) -> dict[str, Any]:
        return {
            "stations": len(self.stations),
            "open": sum(1 for s in self.stations if s.open),
            "pings": self.pings,
            "unexpected_disconnects": self.unexpected_disconnects,
            "meter_answered": {
                V16: sum(s.meter_answered for s in self.stations if s.version == V16),
                V201: sum(s.meter_answered for s in self.stations if s.version == V201),
            },
            "meter_sent": sum(s.meter_sent for s in self.stations),
            "with_transaction": sum(1 for s in self.stations if s.has_transaction),
            "remote_start_failures": [
                repr(f.exception()) for f in self.remote_starts if f.done() and f.exception()
            ],
            "server_calls": self.server_calls,
            "late_answers": self.late_answers,
            "cpu_s": _cpu_seconds(),
        }

    async def close_all(self) -> None:
        for station in self.stations:
            if station.transport is not None and station.open:
                station.expected_close = True
                station.transport.write(client_frame(close_payload(), station.mask, OP_CLOSE))
                station.transport.close()
        await asyncio.sleep(0.2)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def serve_commands(generator: Generator) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
        "setup": generator.setup,
        "closed": generator.closed,
        "open": generator.open,
        "storm": generator.storm,
    }
    while line := await reader.readline():
        command = json.loads(line)
        name = command["cmd"]
        if name == "quit":
            await generator.close_all()
            _reply({"ok": True})
            return
        try:
            if name == "status":
                result = generator.status()
            else:
                result = await handlers[name](command)
            result["ok"] = True
        except Exception as error:  # reported to the runner, which decides
            result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        _reply(result)


def _reply(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bench load generator (driven by bench)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/ocpp")
    parser.add_argument("--source", default=None, help="source address, e.g. 127.0.0.2")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    raise_open_files_limit()
    generator = Generator(args.host, args.port, args.path, args.source)
    runner: Any = asyncio.run
    loop_name = "asyncio"
    if not args.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
            loop_name = "uvloop"
        except ImportError:
            pass
    sys.stderr.write(f"bench.load: {loop_name} event loop\n")
    runner(serve_commands(generator))
    return 0


if __name__ == "__main__":
    sys.exit(main())
