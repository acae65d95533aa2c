"""Websocket keepalive for every station from one task.

websockets' asyncio server pinged each connection from a task of its own (a task, a coroutine,
a timer and a time-out per connection: with 18,000 idle stations, 18,000 tasks waking up).
Here one task pings the connections spread evenly over the ping interval, a slice every `tick`
seconds, and closes a connection whose pong has not come `timeout` seconds after its ping (as
websockets' keepalive does: close code 1011). A connection is pinged first one interval after it
opened; one whose peer does not read what is sent (its write buffer full) is not pinged (a ping
would wait).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections import deque
from collections.abc import Awaitable
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

log = logging.getLogger(__name__)

KEEPALIVE_CLOSE_CODE = 1011


class PingedConnection(Protocol):
    @property
    def state(self) -> State: ...

    async def ping(self) -> Awaitable[float]: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class Keepalive:
    def __init__(self, interval: float, timeout: float | None, *, tick: float = 1.0) -> None:
        self._interval = interval
        self._timeout = timeout
        self._tick = min(tick, interval)
        slices = max(1, math.ceil(interval / self._tick))
        self._slices: list[list[PingedConnection]] = [[] for _ in range(slices)]
        self._next = 0  # the slice pinged at the next tick
        # Pings awaiting their pong, by the time they are overdue.
        self._waiting: deque[tuple[float, list[tuple[PingedConnection, Awaitable[Any]]]]] = deque()
        # Connections closed for a missing pong, until their close is done: with a time-out
        # longer than the interval one has several pings overdue, and is closed once.
        self._closing: dict[PingedConnection, asyncio.Task[None]] = {}
        self.pings = 0  # sent (for tests and metrics)
        self.timeouts = 0  # connections closed for a missing pong

    def add(self, connection: PingedConnection) -> None:
        """Keep `connection` alive from now on (a closed one is dropped by itself)."""
        self._slices[self._next - 1].append(connection)

    async def run(self) -> None:
        """Ping until cancelled."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + self._tick
        try:
            while True:
                await asyncio.sleep(max(next_tick - loop.time(), 0.0))
                next_tick += self._tick
                now = loop.time()
                self._close_overdue(now)
                index = self._next
                self._next = (index + 1) % len(self._slices)
                self._slices[index] = await self._ping(self._slices[index], now)
        finally:
            for task in list(self._closing.values()):
                task.cancel()

    async def _ping(
        self, connections: list[PingedConnection], now: float
    ) -> list[PingedConnection]:
        alive: list[PingedConnection] = []
        waiting: list[tuple[PingedConnection, Awaitable[Any]]] = []
        for connection in connections:
            if connection.state is not State.OPEN:
                continue  # closed (or closing): forget it
            alive.append(connection)
            if getattr(connection, "paused", False):
                continue  # not reading what we send: a ping would wait; try next time
            try:
                pong = await connection.ping()
            except ConnectionClosed:
                continue
            self.pings += 1
            if self._timeout is not None:
                waiting.append((connection, pong))
        if waiting and self._timeout is not None:
            self._waiting.append((now + self._timeout, waiting))
        return alive

    def _close_overdue(self, now: float) -> None:
        while self._waiting and self._waiting[0][0] <= now:
            _, pinged = self._waiting.popleft()
            for connection, pong in pinged:
                if isinstance(pong, asyncio.Future) and pong.done():
                    if not pong.cancelled():
                        pong.exception()  # a closed connection's: retrieved, nothing to do
                    continue
                if connection.state is State.OPEN and connection not in self._closing:
                    self.timeouts += 1
                    log.info("no pong within %g s: closing the connection", self._timeout)
                    task = asyncio.create_task(
                        connection.close(KEEPALIVE_CLOSE_CODE, "keepalive ping timeout")
                    )
                    self._closing[connection] = task
                    task.add_done_callback(functools.partial(self._closed, connection))

    def _closed(self, connection: PingedConnection, _: asyncio.Task[None]) -> None:
        self._closing.pop(connection, None)


__all__ = ["KEEPALIVE_CLOSE_CODE", "Keepalive"]
