"""Group commit: the messages of every station that arrive within a few milliseconds are written
in one database transaction, then each message's caller is answered (the `MessageWriter` port).

One task forms batches: it waits for a first message, lets more come for `window` seconds (none
is waited for when a batch is already full, or for messages that came while batches were being
written), and has the batch written (`BatchStore`); once committed, the batch's events are
published on the event bus (committed events only), then each message's future is resolved, so a
station gets its answer only once its data is committed. Up to the store's
`concurrent_batches` are written at once (PostgreSQL: each on a connection of its own, so that
the event loop handles the next messages while the database works; SQLite writes one at a
time). A station's messages are never in two batches being written: its writes commit in the
order they were made (a station whose old connection still waits for a commit may already
send on a new one).

A batch that fails fails its own messages only: when the failure may come from one of them (a
constraint, a value), each is written again on its own and only the culprit fails; when it
comes from the database (unreachable, locked), they all fail at once and the next batch tries
again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from functools import partial

from central_system.background import fail_waiting
from central_system.persistence.batch_store import BatchStore
from central_system.services.event_bus import EventBus
from central_system.services.message_writes import MessageWrite

log = logging.getLogger(__name__)

# While shutting down, how long a batch being written may still take.
SHUTDOWN_GRACE_SECONDS = 10.0


class WriterStopped(RuntimeError):
    """The central system is shutting down; the message was not written."""


_Pending = tuple[MessageWrite, "asyncio.Future[int]"]


class GroupCommitWriter:
    """Implements the MessageWriter port; `run()` is its writing task."""

    def __init__(
        self,
        store: BatchStore,
        bus: EventBus,
        *,
        window: float = 0.002,
        max_batch: int = 500,
    ) -> None:
        self._store = store
        self._bus = bus
        self._window = window
        self._max_batch = max_batch
        self._queue: deque[_Pending] = deque()
        self._first_at = 0.0  # when the oldest queued message came
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None  # of the first write
        self._stopped = False
        self._writing: set[asyncio.Task[None]] = set()  # the batches being written
        self._writing_stations: set[str | None] = set()  # whose messages they hold
        self.batches = 0  # committed batches (for tests and metrics)
        self.messages = 0  # committed messages

    def write(self, message: MessageWrite) -> asyncio.Future[int]:
        """The future its caller awaits (no coroutine of its own: one per message)."""
        if self._stopped:
            raise WriterStopped("the central system is shutting down")
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if not self._queue:
            self._first_at = loop.time()
            self._wake.set()
        elif len(self._writing) < self._store.concurrent_batches:
            self._wake.set()  # the queued messages may all be of stations being written
        self._queue.append((message, future))
        return future

    async def run(self) -> None:
        """Write batches until cancelled; then let the batches being written finish (each for
        at most SHUTDOWN_GRACE_SECONDS) and refuse the rest (they get WriterStopped: not written,
        the station sends them again)."""
        loop = asyncio.get_running_loop()
        self._stopped = False
        try:
            while True:
                batch = await self._next_batch(loop)
                stations: set[str | None] = set()
                if self._store.concurrent_batches > 1:  # else no batch is being written now
                    stations = {message.station_id for message, _ in batch}
                    self._writing_stations |= stations
                task = loop.create_task(self._commit(batch))
                self._writing.add(task)
                task.add_done_callback(partial(self._written, stations))
        except asyncio.CancelledError:
            self._stopped = True
            raise
        finally:
            try:
                if self._writing:
                    # a write cancelled half-way leaves nobody knowing what was stored
                    await asyncio.wait(set(self._writing), timeout=SHUTDOWN_GRACE_SECONDS)
            finally:
                self._fail_queued(WriterStopped("the central system is shutting down"))

    async def _next_batch(self, loop: asyncio.AbstractEventLoop) -> list[_Pending]:
        """The next batch, once fewer than `concurrent_batches` are being written and a message
        of a station not being written waits."""
        while True:
            if self._queue and len(self._writing) < self._store.concurrent_batches:
                delay = self._first_at + self._window - loop.time()
                if delay > 0 and len(self._queue) < self._max_batch:
                    await asyncio.sleep(delay)
                    continue
                batch = self._take()
                if batch:
                    return batch
            self._wake.clear()
            await self._wake.wait()

    def _take(self) -> list[_Pending]:
        """Up to max_batch queued messages, in order, but those of stations being written (they
        stay queued, in order)."""
        queue, writing = self._queue, self._writing_stations
        if writing:
            batch: list[_Pending] = []
            later: deque[_Pending] = deque()
            while queue and len(batch) < self._max_batch:
                pending = queue.popleft()
                (later if pending[0].station_id in writing else batch).append(pending)
            later.extend(queue)
            self._queue = later
        else:
            batch = [queue.popleft() for _ in range(min(len(queue), self._max_batch))]
        self._first_at = 0.0  # what is left came while batches were written: no waiting
        return batch

    def _written(self, stations: set[str | None], task: asyncio.Task[None]) -> None:
        self._writing.discard(task)
        self._writing_stations -= stations
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("a group commit failed after its batch", exc_info=task.exception())

    async def close(self) -> None:
        self._stopped = True
        self._fail_queued(WriterStopped("the central system is shutting down"))
        await self._store.close()

    def _fail_queued(self, error: BaseException) -> None:
        queued, self._queue = self._queue, deque()
        _fail(queued, error)

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            outcome = await self._store.write([message for message, _ in batch])
        except Exception as error:
            if len(batch) > 1 and self._store.fails_alone(error):
                log.warning(
                    "a batch of %d messages failed (%s); writing each on its own", len(batch), error
                )
                for pending in batch:
                    await self._commit([pending])
                return
            _fail(batch, error)
            return
        except BaseException as error:  # cancelled while not shielded: nothing is known
            _fail(batch, WriterStopped(f"the write was interrupted: {error!r}"))
            raise
        self.batches += 1
        self.messages += len(batch)
        try:
            self._bus.publish(outcome.events)
        finally:
            for (_, future), added in zip(batch, outcome.added, strict=True):
                if not future.done():
                    future.set_result(added)


def _fail(batch: Iterable[_Pending], error: BaseException) -> None:
    fail_waiting((future for _, future in batch), error)


__all__ = ["GroupCommitWriter", "WriterStopped"]
