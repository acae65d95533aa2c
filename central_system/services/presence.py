"""Connection state in batches: which stations are connected, since when, with which OCPP
version, and the `StationConnected` / `StationDisconnected` events (outbox rows in the same
database transaction; the event bus hears them once committed).

When 10,000 stations drop and come back at once, writing each connection and disconnection in a
database transaction of its own keeps a connection pool and SQLite's single writer busy for
minutes. Here one task writes every change of the last few milliseconds in one transaction:

* `connected()` returns once the connection is committed: a station's first message is handled
  after its connection is recorded (its events follow the connection's in the outbox). When the
  write fails the caller gets the error (the server then closes the connection: the station
  connects again, as it would if the database had refused it).
* `disconnected()` only queues: nobody waits for the end of a connection. A write that fails is
  retried until it succeeds (a database outage loses no disconnection); at shutdown `close()`
  writes what is left.
* A disconnection of a connection older than the station's last recorded connection (it is
  connected again, maybe to another central-system process) changes nothing and has no event
  (`PresenceStore`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from central_system.background import fail_waiting, finished_even_if_cancelled
from central_system.services.ports import Clock

log = logging.getLogger(__name__)


class PresenceStopped(RuntimeError):
    """The central system is shutting down: the connection was not recorded."""


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """A station connected (`ocpp_version`) or one of its connections ended (`since`: when that
    connection was recorded)."""

    station_id: str
    connected: bool
    at: datetime
    ocpp_version: str | None = None
    since: datetime | None = None


class PresenceStore(Protocol):
    async def write(self, changes: Sequence[PresenceChange]) -> None:
        """Apply the changes in order, in one database transaction with the outbox rows of their
        events, then publish the events. A disconnection whose `since` is older than the
        station's last recorded connection is left out (no change, no event). Raises the
        database's error; nothing is written then."""
        ...


_Queued = tuple[PresenceChange, "asyncio.Future[None] | None"]


class PresenceWriter:
    def __init__(
        self,
        store: PresenceStore,
        clock: Clock,
        *,
        window: float = 0.005,
        max_batch: int = 1000,
        retry_after: float = 1.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._window = window
        self._max_batch = max_batch
        self._retry_after = retry_after
        self._queue: deque[_Queued] = deque()
        self._wake = asyncio.Event()
        self._running = False
        self._stopped = False
        self.batches = 0  # committed batches (for tests and metrics)
        self.retries = 0  # failed batches

    @property
    def running(self) -> bool:
        """Whether the writing task runs (until then a connection is written alone)."""
        return self._running

    async def connected(self, station_id: str, ocpp_version: str) -> datetime:
        """Record a new connection; returns its time once committed."""
        if self._stopped:
            raise PresenceStopped("the central system is shutting down")
        change = PresenceChange(station_id, True, self._clock.now(), ocpp_version=ocpp_version)
        if not self._running:  # no writing task (yet): write it alone
            await self._store.write([change])
            return change.at
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((change, future))
        self._wake.set()
        await asyncio.shield(future)
        return change.at

    def disconnected(self, station_id: str, since: datetime) -> None:
        """Record the end of the connection recorded at `since` (queued; see the module)."""
        self._queue.append(
            (PresenceChange(station_id, False, self._clock.now(), since=since), None)
        )
        self._wake.set()

    async def run(self) -> None:
        """Write batches until cancelled (a batch being written is finished first); then the
        connections still queued are refused (PresenceStopped) and new ones too."""
        self._running = True
        try:
            while True:
                while not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                if len(self._queue) < self._max_batch:
                    await asyncio.sleep(self._window)
                batch = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))
                ]
                if await finished_even_if_cancelled(self._write(batch)):
                    await asyncio.sleep(self._retry_after)
        except asyncio.CancelledError:
            self._stopped = True
            raise
        finally:
            self._running = False
            self._refuse_waiting()

    async def close(self) -> bool:
        """Shutdown: refuse new connections, write the queued changes once. False when some
        could not be written (the database is away or locked)."""
        self._stopped = True
        written = True
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
            if await self._write(batch):
                log.error(
                    "%d connection changes could not be written at shutdown", len(self._queue) + 1
                )
                written = False
                break
        self._refuse_waiting()
        return written

    def _refuse_waiting(self) -> None:
        """Fail the connections still waiting to be written (nobody would write them: the
        server, shutting down, waits for their handlers); disconnections stay for `close()`."""
        waiting = [future for _, future in self._queue]
        self._queue = deque(entry for entry in self._queue if entry[1] is None)
        fail_waiting(waiting, PresenceStopped("the central system is shutting down"))

    async def _write(self, batch: list[_Queued]) -> bool:
        """Write a batch; False when written. A failure fails the waiting connections and puts
        the disconnections back at the front of the queue."""
        try:
            await self._store.write([change for change, _ in batch])
        except Exception as error:
            log.warning("writing %d connection changes failed: %s", len(batch), error)
            self.retries += 1
            retry = [(change, None) for change, future in batch if future is None]
            self._queue.extendleft(reversed(retry))
            fail_waiting((future for _, future in batch), error)
            return True
        self.batches += 1
        for _, future in batch:
            if future is not None and not future.done():
                future.set_result(None)
        return False


class NodeStore(Protocol):
    async def seen(self, node_id: str, started_at: datetime, at: datetime) -> bool:
        """Record that the node is alive at `at`; False when it was not recorded (its first
        time, or it had been taken for dead), and it is recorded now."""
        ...

    async def release_dead(self, seen_before: datetime, at: datetime) -> list[str]:
        """Forget the nodes last seen before `seen_before`; the stations connected to them are
        disconnected at `at` (with their events). Returns those stations."""
        ...

    async def leave(self, node_id: str, at: datetime) -> list[str]:
        """Forget the node (it stops); its stations still recorded as connected are
        disconnected."""
        ...

    async def reclaim(self, node_id: str, connections: Sequence[tuple[str, datetime]]) -> list[str]:
        """Record again as connected to the node the stations that were released while
        connected to it (connected at the given time, not connected elsewhere since)."""
        ...


class NodeLiveness:
    """Which central-system processes are alive, so that a station connected to one that died
    is not shown connected for ever.

    Every process is a node with an id of its own (a new one at each start). It records that
    it is alive every `interval`; a node not seen for `timeout` has died (SIGKILL, power cut,
    its machine gone) and the first other node to notice marks its stations disconnected, with
    StationDisconnected events for the bridge (a restarted central system does the same for
    its own previous life). A node that was taken for dead while it was only cut off from the
    database (for longer than `timeout`) records its stations as connected again once it is
    back. Clocks of the nodes are compared: keep them in sync (NTP) well within `timeout`.
    """

    def __init__(
        self,
        store: NodeStore,
        clock: Clock,
        node_id: str,
        connections: Callable[[], Sequence[tuple[str, datetime]]],
        *,
        interval: float,
        timeout: float,
    ) -> None:
        self._store = store
        self._clock = clock
        self.node_id = node_id
        self._connections = connections
        self._interval = interval
        self._timeout = timedelta(seconds=timeout)
        self._started_at = clock.now()
        self._recorded = False

    async def run(self) -> None:
        """Check every `interval`, after the check the central system makes before it
        listens; a check under way when the central system stops is finished first."""
        while True:
            await asyncio.sleep(self._interval)
            await finished_even_if_cancelled(self.check())

    async def check(self) -> None:
        """One round: record this node as alive, then release the stations of dead nodes."""
        now = self._clock.now()
        recorded = await self._store.seen(self.node_id, self._started_at, now)
        if not recorded and self._recorded:
            log.warning(
                "this node (%s) had been taken for dead: recording its stations again",
                self.node_id,
            )
            reclaimed = await self._store.reclaim(self.node_id, self._connections())
            log.warning("%d stations recorded as connected again", len(reclaimed))
        self._recorded = True
        released = await self._store.release_dead(now - self._timeout, now)
        if released:
            log.warning(
                "%d stations were connected to a central-system process that stopped without "
                "closing them; now recorded as disconnected: %s",
                len(released),
                ", ".join(released[:20]) + (" ..." if len(released) > 20 else ""),
            )

    async def leave(self) -> None:
        """At shutdown, after the connections are closed and their ends written: forget this
        node (and release any station still recorded as connected here)."""
        released = await self._store.leave(self.node_id, self._clock.now())
        if released:
            log.warning("%d stations were still recorded as connected here", len(released))


__all__ = [
    "NodeLiveness",
    "NodeStore",
    "PresenceChange",
    "PresenceStopped",
    "PresenceStore",
    "PresenceWriter",
]
