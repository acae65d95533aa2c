"""What the central system reads over and over (the station directory's change feed, the bridge's
outbox polls, the running costs round, the sessions' and reservations' housekeeping, the
firmware and certificate rounds) never takes SQLite's write lock: a writer holding it does not
hold them up, and they do not hold up the group-commit writer, whose next batch would otherwise
sleep in SQLite's busy handler for up to 100 ms behind each of them (seen as a p99 of
100-270 ms at 2,000 MeterValues/s in the benchmark, 16 ms without)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bridge.outbox import OutboxStore
from central_system.persistence.station_directory import SqlStationDirectoryStore
from central_system.services.station_directory import CHANGE_KINDS
from tests.conftest import RunningCentralSystem

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Far below the engine's 30 s busy timeout: a read that waited for the lock would fail here.
NOT_WAITING = 5.0


def database_path(running: RunningCentralSystem) -> Path:
    return Path(make_url(running.system.settings.database_url).database or "")


@contextlib.asynccontextmanager
async def write_lock_held(path: Path) -> AsyncIterator[None]:
    """Another connection holds the write lock. It is taken in a thread: the central system's
    own background writes (node liveness) may hold the lock a moment and need the event loop
    to let it go."""
    writer = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    await asyncio.to_thread(writer.execute, "BEGIN IMMEDIATE")
    try:
        yield
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def lock_is_held(path: Path) -> bool:
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        return "locked" in str(error)
    finally:
        other.close()
    return False


async def test_polling_reads_run_while_another_connection_writes(
    central_system: RunningCentralSystem,
) -> None:
    await central_system.services.stations.register("CS-1")
    engine = central_system.system.engine
    directory = SqlStationDirectoryStore(engine)
    outbox = OutboxStore(engine)
    path = database_path(central_system)
    async with write_lock_held(path):
        assert lock_is_held(path)
        found = await asyncio.wait_for(directory.load(["CS-1", "CS-UNKNOWN"]), NOT_WAITING)
        assert list(found) == ["CS-1"]
        latest = await asyncio.wait_for(directory.latest_change(), NOT_WAITING)
        changes = await asyncio.wait_for(directory.changes_after(0, CHANGE_KINDS), NOT_WAITING)
        assert latest > 0 and [station for _, station in changes] == ["CS-1"]
        assert await asyncio.wait_for(outbox.fetch(10), NOT_WAITING) == []
        assert await asyncio.wait_for(outbox.count(), NOT_WAITING) == 0
        sent = await asyncio.wait_for(central_system.services.costs.send_updates(), NOT_WAITING)
        assert sent == 0
        api = central_system.system.api  # the app sessions' and reservations' housekeeping
        assert await asyncio.wait_for(api.charging.reconcile(), NOT_WAITING) == 0
        assert await asyncio.wait_for(api.reservations.expire_due(), NOT_WAITING) == 0
        services = central_system.services  # the firmware and certificate rounds
        assert await asyncio.wait_for(services.firmware.run_due(), NOT_WAITING) == 0
        assert await asyncio.wait_for(services.certificates.due_for_renewal(), NOT_WAITING) == []
        assert lock_is_held(path)  # nothing above took or released it
