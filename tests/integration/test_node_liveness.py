"""Node liveness on a real SQLite file and PostgreSQL: the stations of a central-system process
that stopped being seen are recorded as disconnected by another one, a station that connected
elsewhere meanwhile is left alone, and a process that was only cut off takes its stations back.
The clock is the test's: each process's view of time is passed in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from central_system.domain.events import DomainEvent, StationConnected, StationDisconnected
from central_system.domain.stations import RegistrationStatus, SecurityProfile, StationRecord
from central_system.persistence.database import create_engine, session_factory
from central_system.persistence.models import NodeRow, StationRow
from central_system.persistence.presence import SqlNodeStore, SqlPresenceStore
from central_system.persistence.repositories import SqlUnitOfWorkFactory
from central_system.services.event_bus import EventBus
from central_system.services.presence import NodeLiveness, PresenceChange

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
TIMEOUT = 60.0


@dataclass
class Clock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at


@dataclass
class Parts:
    engine: AsyncEngine
    uow: SqlUnitOfWorkFactory
    events: list[DomainEvent]


@pytest.fixture
async def parts(database_url: str) -> AsyncIterator[Parts]:
    engine = create_engine(database_url)
    bus = EventBus()
    events: list[DomainEvent] = []
    bus.subscribe(events.extend)
    uow = SqlUnitOfWorkFactory(session_factory(engine), bus)
    async with uow() as work:
        for station_id in ("CS-1", "CS-2"):
            await work.stations.add(
                StationRecord(station_id, RegistrationStatus.ACCEPTED, SecurityProfile.NONE)
            )
        await work.commit()
    yield Parts(engine, uow, events)
    await engine.dispose()


def node(
    parts: Parts, node_id: str, clock: Clock, connections: list[tuple[str, datetime]]
) -> NodeLiveness:
    return NodeLiveness(
        SqlNodeStore(parts.uow),
        clock,
        node_id,
        lambda: connections,
        interval=TIMEOUT / 4,
        timeout=TIMEOUT,
    )


async def connect(parts: Parts, node_id: str, station_id: str, at: datetime) -> None:
    await SqlPresenceStore(parts.uow, node_id).write(
        [PresenceChange(station_id, True, at, ocpp_version="ocpp1.6")]
    )


async def station(parts: Parts, station_id: str) -> StationRow:
    async with parts.uow() as work:
        row = await work.session.get(StationRow, station_id)
        assert row is not None
        return row


async def node_ids(parts: Parts) -> set[str]:
    async with parts.uow() as work:
        return set(await work.session.scalars(select(col(NodeRow.id))))


async def test_a_dead_nodes_stations_are_disconnected_by_another(parts: Parts) -> None:
    clock_a, clock_b = Clock(), Clock()
    a, b = node(parts, "node-a", clock_a, []), node(parts, "node-b", clock_b, [])
    await a.check()
    await b.check()
    await connect(parts, "node-a", "CS-1", T0)
    await connect(parts, "node-b", "CS-2", T0)
    assert (await station(parts, "CS-1")).connected_node == "node-a"

    # node-a is killed; node-b is still within the timeout: nothing happens yet
    clock_b.at = T0 + timedelta(seconds=TIMEOUT - 1)
    await b.check()
    assert (await station(parts, "CS-1")).connected
    # past the timeout: CS-1 is released, CS-2 (node-b's own) is not
    clock_b.at = T0 + timedelta(seconds=TIMEOUT + 1)
    parts.events.clear()
    await b.check()
    released = await station(parts, "CS-1")
    assert (released.connected, released.connected_node) == (False, None)
    assert released.last_disconnected_at.replace(tzinfo=UTC) == clock_b.at  # type: ignore[union-attr]
    assert (await station(parts, "CS-2")).connected
    assert parts.events == [StationDisconnected("CS-1", clock_b.at)]
    assert await node_ids(parts) == {"node-b"}


async def test_a_station_that_connected_elsewhere_meanwhile_stays_connected(parts: Parts) -> None:
    clock = Clock()
    a, b = node(parts, "node-a", Clock(), []), node(parts, "node-b", clock, [])
    await a.check()
    await b.check()
    await connect(parts, "node-a", "CS-1", T0)
    await connect(parts, "node-b", "CS-1", T0 + timedelta(seconds=5))  # it moved to node-b
    clock.at = T0 + timedelta(seconds=TIMEOUT + 1)
    await b.check()
    moved = await station(parts, "CS-1")
    assert (moved.connected, moved.connected_node) == (True, "node-b")


async def test_a_node_taken_for_dead_takes_its_stations_back(parts: Parts) -> None:
    """node-a could not reach the database for longer than the timeout: node-b released its
    station; when node-a is back its connection is still open, so it records it again."""
    clock_a, clock_b = Clock(), Clock()
    a = node(parts, "node-a", clock_a, [("CS-1", T0)])
    b = node(parts, "node-b", clock_b, [])
    await a.check()
    await b.check()
    await connect(parts, "node-a", "CS-1", T0)
    clock_b.at = T0 + timedelta(seconds=TIMEOUT + 1)
    await b.check()
    assert not (await station(parts, "CS-1")).connected
    parts.events.clear()
    clock_a.at = T0 + timedelta(seconds=TIMEOUT + 2)
    await a.check()
    back = await station(parts, "CS-1")
    assert (back.connected, back.connected_node) == (True, "node-a")
    assert parts.events == [StationConnected("CS-1", "ocpp1.6", T0)]


async def test_a_node_that_stops_releases_what_it_still_holds(parts: Parts) -> None:
    a = node(parts, "node-a", Clock(), [])
    await a.check()
    await connect(parts, "node-a", "CS-1", T0)
    await a.leave()
    assert not (await station(parts, "CS-1")).connected
    assert await node_ids(parts) == set()
