"""The connection lifecycle under many stations, on SQLite and PostgreSQL, over real websockets:
known stations reconnect without a database read, their connections and disconnections reach the
outbox in order, handshakes beyond the limit (or while the database cannot answer) get HTTP 503
with Retry-After, and the keepalive closes a connection whose peer stopped answering pings."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
import websockets
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import select
from sqlalchemy.engine import make_url

from central_system.persistence.models import OutboxRow, StationRow
from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import OcppClient, connect, wait_for


async def boot(client: OcppClient, version: str) -> None:
    if version == "1.6":
        reply = await client.call(
            call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
        )
    else:
        reply = await client.call(
            call201.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
    assert reply.status == "Accepted"


async def heartbeat(client: OcppClient, version: str) -> None:
    reply = await client.call(call16.Heartbeat() if version == "1.6" else call201.Heartbeat())
    assert reply.current_time


async def outbox_events(running: RunningCentralSystem) -> list[tuple[str, str]]:
    async with running.system.uow() as uow:
        rows = await uow.session.scalars(select(OutboxRow).order_by(OutboxRow.id))  # type: ignore[arg-type]
        return [(row.station_id, json.loads(row.payload)["event"]) for row in rows]


async def test_known_stations_reconnect_without_reading_the_database(database_url: str) -> None:
    async with running_central_system(test_settings(database_url, outbox=True)) as running:
        system = running.system
        ids = [(f"CS-{n:02d}", "1.6" if n % 2 else "2.0.1") for n in range(30)]
        for station_id, _ in ids:
            await running.services.stations.register(station_id)
        # the change feed has shown the registrations (read later, they would drop the entries)
        read = system.directory.refreshes
        await wait_for(lambda: system.directory.refreshes > read + 1, what="registrations read")
        clients = await asyncio.gather(*(connect(running.ocpp_url, i, version=v) for i, v in ids))
        await asyncio.gather(*(boot(c, v) for c, (_, v) in zip(clients, ids, strict=True)))
        loads = system.directory.loads
        # every station drops at once and comes back at once
        await asyncio.gather(*(c.close() for c in clients))
        await wait_for(lambda: len(system.registry) == 0, what="all disconnected")
        clients = await asyncio.gather(*(connect(running.ocpp_url, i, version=v) for i, v in ids))
        try:
            # a 2.0.1 station is known to have booted: its messages are accepted at once
            await asyncio.gather(*(heartbeat(c, v) for c, (_, v) in zip(clients, ids, strict=True)))
            assert system.directory.loads == loads
            async with system.uow() as uow:
                rows = (await uow.session.scalars(select(StationRow))).all()
            assert all(row.connected for row in rows) and len(rows) == 30
            events = await outbox_events(running)
            for station_id, _ in ids:
                mine = [event for station, event in events if station == station_id]
                assert mine == ["connected", "disconnected", "connected"]
        finally:
            await asyncio.gather(*(c.close() for c in clients))


@contextlib.asynccontextmanager
async def database_locked(database_url: str) -> AsyncIterator[None]:
    """Another process holds the station table: reading a station waits. (PostgreSQL only: a
    SQLite reader in WAL mode never waits, and the directory only reads.)"""
    url = make_url(database_url)
    server = await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        database=url.database,
    )
    try:
        transaction = server.transaction()
        await transaction.start()
        await server.execute("LOCK TABLE station IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
    finally:
        await server.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_handshakes_beyond_the_limit_get_503(database_url: str) -> None:
    settings = test_settings(database_url, ocpp_max_handshakes=1, ocpp_retry_after=7)
    async with running_central_system(settings) as running:
        await running.services.stations.register("CS-SLOW")
        await running.services.stations.register("CS-NEXT")
        async with database_locked(database_url):
            slow = asyncio.create_task(connect(running.ocpp_url, "CS-SLOW"))
            await wait_for(lambda: running.system.ocpp.admitting == 1, what="admission waits")
            with pytest.raises(websockets.InvalidStatus) as refused:
                await connect(running.ocpp_url, "CS-NEXT")
            response = refused.value.response
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "7"
            assert not slow.done()
        client = await asyncio.wait_for(slow, 10)  # the database answers again: admitted
        try:
            await heartbeat(client, "1.6")
            again = await connect(running.ocpp_url, "CS-NEXT")  # its back-off retry
            await again.close()
        finally:
            await client.close()
        assert running.system.ocpp.refused_busy == 1


async def test_admission_without_a_database_gets_503(
    central_system: RunningCentralSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(station_id: str) -> None:
        raise OSError("could not connect to the database")

    monkeypatch.setattr(central_system.system.directory, "load", unreachable)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(central_system.ocpp_url, "CS-NEW")
    assert refused.value.response.status_code == 503
    assert "Retry-After" in refused.value.response.headers


@pytest.mark.parametrize("ping_timeout", [0.3, 1.0])
async def test_keepalive_closes_a_connection_that_stopped_answering(
    database_url: str, ping_timeout: float
) -> None:
    """Closed once (close code 1011), also when the time-out spans several intervals and
    several of its pings are overdue at once; the live connection stays."""
    settings = test_settings(database_url, ocpp_ping_interval=0.2, ocpp_ping_timeout=ping_timeout)
    async with running_central_system(settings) as running:
        keepalive = running.system.ocpp.keepalive
        assert keepalive is not None
        await running.services.stations.register("CS-LIVE")
        await running.services.stations.register("CS-DEAD")
        live = await connect(running.ocpp_url, "CS-LIVE")
        dead = await websockets.connect(f"{running.ocpp_url}/CS-DEAD", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        try:
            await wait_for(lambda: len(running.system.registry) == 2, what="both connected")
            dead.transport.pause_reading()  # the peer is gone: pings are never answered
            await wait_for(lambda: keepalive.timeouts == 1, timeout=10, what="dead one closed")
            pings = keepalive.pings
            await wait_for(lambda: keepalive.pings > pings + 1, what="the live one pinged")
            await heartbeat(live, "1.6")
            assert keepalive.timeouts == 1 and running.system.registry.get("CS-LIVE") is not None
        finally:
            await live.close()
            dead.transport.abort()
