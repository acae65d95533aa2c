"""Connection state written in batches, on a real SQLite file and PostgreSQL: the connections of
a few milliseconds are one commit with their outbox rows, a connection is answered only once it
is committed (its events are published after the commit), the end of a connection older than the
station's last one changes nothing, and a database outage fails the connections (nothing stored)
while disconnections wait and are written once the database is back."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from central_system.domain.events import DomainEvent, StationConnected, StationDisconnected
from central_system.domain.stations import StationRecord
from central_system.persistence.database import create_engine, session_factory
from central_system.persistence.models import OutboxRow, StationRow
from central_system.persistence.outbox import outbox_rows
from central_system.persistence.presence import SqlPresenceStore
from central_system.persistence.repositories import SqlUnitOfWorkFactory
from central_system.services.event_bus import EventBus
from central_system.services.presence import PresenceChange, PresenceStopped, PresenceWriter
from tests.helpers import wait_for

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class SteppingClock:
    def __init__(self) -> None:
        self._now = T0

    def now(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now


class OutageStore:
    """The real store, behind a switch that makes every write fail as a lost database does."""

    def __init__(self, store: SqlPresenceStore, error: Exception) -> None:
        self._store = store
        self._error = error
        self.down = False

    async def write(self, changes: Sequence[PresenceChange]) -> None:
        if self.down:
            raise self._error
        await self._store.write(changes)


@dataclass
class Parts:
    engine: AsyncEngine
    writer: PresenceWriter
    store: OutageStore
    events: list[DomainEvent]


@contextlib.asynccontextmanager
async def running_writer(url: str, *, window: float = 0.05) -> AsyncIterator[Parts]:
    engine = create_engine(url)
    bus = EventBus()
    uow = SqlUnitOfWorkFactory(session_factory(engine), bus, outbox=outbox_rows)
    async with uow() as unit:
        for n in range(20):
            await unit.stations.add(StationRecord(f"CS-{n}"))
        await unit.commit()
    events: list[DomainEvent] = []
    bus.subscribe(events.extend)
    lost: Exception = (
        sqlite3.OperationalError("disk I/O error")
        if url.startswith("sqlite")
        else asyncpg.ConnectionDoesNotExistError("connection was closed")
    )
    store = OutageStore(SqlPresenceStore(uow), lost)
    writer = PresenceWriter(store, SteppingClock(), window=window, retry_after=0.05)
    task = asyncio.create_task(writer.run())
    await wait_for(lambda: writer.running, what="writer started")
    try:
        yield Parts(engine, writer, store, events)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await writer.close()
        await engine.dispose()


async def stations(engine: AsyncEngine) -> dict[str, StationRow]:
    async with session_factory(engine)() as session:
        return {row.id: row for row in (await session.scalars(select(StationRow))).all()}


async def outbox_topics(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with session_factory(engine)() as session:
        rows = (await session.scalars(select(OutboxRow).order_by(OutboxRow.id))).all()  # type: ignore[arg-type]
        return [(row.station_id, row.payload) for row in rows]


async def test_connections_together_are_one_commit_answered_after_it(database_url: str) -> None:
    async with running_writer(database_url) as parts:
        times = await asyncio.gather(
            *(parts.writer.connected(f"CS-{n}", "2.0.1") for n in range(10))
        )
        # answered: committed (read through another connection), in one batch
        assert parts.writer.batches == 1
        rows = await stations(parts.engine)
        for n, at in enumerate(times):
            row = rows[f"CS-{n}"]
            assert row.connected and row.ocpp_version == "2.0.1" and row.last_connected_at == at
        assert not rows["CS-10"].connected
        # one outbox row in the same transaction and one published event per connection
        outbox = await outbox_topics(parts.engine)
        assert sorted(station for station, _ in outbox) == sorted(f"CS-{n}" for n in range(10))
        assert all('"connected"' in payload for _, payload in outbox)
        assert [type(e) for e in parts.events] == [StationConnected] * 10


async def test_disconnection_and_a_superseded_one(database_url: str) -> None:
    async with running_writer(database_url, window=0.0) as parts:
        writer = parts.writer
        first = await writer.connected("CS-1", "1.6")
        writer.disconnected("CS-1", first)
        second = await writer.connected("CS-1", "2.0.1")
        await wait_for(lambda: len(parts.events) == 3, what="three events")
        # the end of the first connection arrives late (another process served the second)
        writer.disconnected("CS-1", first)
        await writer.connected("CS-2", "1.6")  # a later batch: the late end was written before
        row = (await stations(parts.engine))["CS-1"]
        assert row.connected and row.ocpp_version == "2.0.1"
        assert row.last_connected_at == second and row.last_disconnected_at is not None
        assert [type(e) for e in parts.events if e.station_id == "CS-1"] == [
            StationConnected,
            StationDisconnected,
            StationConnected,
        ]
        writer.disconnected("CS-1", second)
        await wait_for(lambda: len(parts.events) == 5, what="the last end written")
        assert not (await stations(parts.engine))["CS-1"].connected


async def test_outage_fails_connections_and_keeps_disconnections(database_url: str) -> None:
    async with running_writer(database_url, window=0.0) as parts:
        writer = parts.writer
        since = await writer.connected("CS-1", "1.6")
        outbox_before = await outbox_topics(parts.engine)
        parts.store.down = True
        with pytest.raises(Exception, match=r"disk I/O error|connection was closed"):
            await writer.connected("CS-2", "1.6")
        writer.disconnected("CS-1", since)
        await wait_for(lambda: writer.retries > 0, what="a failed write of the disconnection")
        rows = await stations(parts.engine)
        assert rows["CS-1"].connected and not rows["CS-2"].connected  # nothing stored
        assert await outbox_topics(parts.engine) == outbox_before
        assert [type(e) for e in parts.events] == [StationConnected]  # nothing published
        parts.store.down = False
        await wait_for(lambda: len(parts.events) == 2, what="the disconnection written")
        assert not (await stations(parts.engine))["CS-1"].connected
        assert len(await outbox_topics(parts.engine)) == len(outbox_before) + 1


async def test_shutdown_refuses_connections_still_waiting_to_be_written(database_url: str) -> None:
    """The writing task is cancelled (the central system stops) while a connection waits in
    its queue: the connection is refused instead of waiting for ever (the websockets server,
    shutting down, waits for its handler). A disconnection queued alongside is still written
    by close()."""
    async with running_writer(database_url, window=60) as parts:
        parts.writer.disconnected("CS-1", T0)
        waiting = asyncio.create_task(parts.writer.connected("CS-2", "1.6"))
        await wait_for(lambda: len(parts.writer._queue) == 2, what="both queued")
    with pytest.raises(PresenceStopped):
        await asyncio.wait_for(waiting, 5)
    assert parts.writer.batches == 1  # close() wrote the disconnection
    with pytest.raises(PresenceStopped):
        await parts.writer.connected("CS-3", "1.6")


async def test_close_says_whether_every_change_was_written(database_url: str) -> None:
    """The central system leaves its node record only when the connection ends were written
    at shutdown: with the database away it would wait for it in vain."""
    engine = create_engine(database_url)
    uow = SqlUnitOfWorkFactory(session_factory(engine), EventBus())
    async with uow() as unit:
        await unit.stations.add(StationRecord("CS-1"))
        await unit.commit()
    try:
        for down, written in ((False, True), (True, False)):
            store = OutageStore(SqlPresenceStore(uow), sqlite3.OperationalError("locked"))
            writer = PresenceWriter(store, SteppingClock())
            writer.disconnected("CS-1", T0)
            store.down = down
            assert await writer.close() is written
    finally:
        await engine.dispose()
