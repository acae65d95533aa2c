"""The station directory on a real SQLite file and PostgreSQL: stations asked for together are
loaded with one query and then answered from memory; an entry is forgotten when this process
commits a change of the station's registry data, and when another process does (read from the
change feed), also when that process's commit comes after a newer change was read."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from central_system.domain.stations import (
    BootInfo,
    RegistrationStatus,
    SecurityProfile,
    StationRecord,
)
from central_system.persistence.database import create_engine, session_factory
from central_system.persistence.repositories import SqlUnitOfWorkFactory
from central_system.persistence.station_directory import (
    RegistryCommitWatcher,
    SqlStationDirectoryStore,
)
from central_system.services.event_bus import EventBus
from central_system.services.station_directory import (
    REGISTRY_CHANGED,
    StationAccess,
    StationDirectory,
)
from tests.helpers import wait_for

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Parts:
    engine: AsyncEngine
    uow: SqlUnitOfWorkFactory
    directory: StationDirectory


@contextlib.asynccontextmanager
async def running_directory(url: str, *, watch: bool = True) -> AsyncIterator[Parts]:
    engine = create_engine(url)
    uow = SqlUnitOfWorkFactory(session_factory(engine), EventBus())
    directory = StationDirectory(
        SqlStationDirectoryStore(engine), load_window=0.05, refresh_interval=0.05
    )
    watcher = RegistryCommitWatcher(engine, directory.forget)
    if watch:
        watcher.start()
    task = asyncio.create_task(directory.run())
    try:
        # the change feed is followed from now on: entries are kept
        await wait_for(lambda: directory.following, what="the directory follows the feed")
        yield Parts(engine, uow, directory)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        watcher.stop()
        await engine.dispose()


async def add_stations(uow: SqlUnitOfWorkFactory, *station_ids: str, **fields: object) -> None:
    async with uow() as unit:
        for station_id in station_ids:
            await unit.stations.add(StationRecord(station_id, **fields))  # type: ignore[arg-type]
        await unit.commit()


async def test_stations_asked_for_together_are_one_query(database_url: str) -> None:
    async with running_directory(database_url) as parts:
        ids = [f"CS-{n:03d}" for n in range(60)]
        await add_stations(parts.uow, *ids, security_profile=SecurityProfile.NONE, boot_status=None)
        directory = parts.directory
        found = await asyncio.gather(*(directory.get(i) for i in [*ids, "CS-UNKNOWN"]))
        assert directory.loads == 1
        assert all(entry is not None for entry in found[:-1]) and found[-1] is None
        assert found[0] is not None and found[0].security_profile is SecurityProfile.NONE
        # answered from memory now; an unknown station is asked for again (the CLI may add it)
        again = await asyncio.gather(*(directory.get(i) for i in ids))
        assert again == found[:-1] and directory.loads == 1
        assert await directory.get("CS-UNKNOWN") is None and directory.loads == 2


async def test_a_commit_of_this_process_forgets_the_station(database_url: str) -> None:
    async with running_directory(database_url) as parts:
        await add_stations(parts.uow, "CS-1", "CS-2", password_hash="old-hash")
        directory = parts.directory
        await asyncio.gather(directory.get("CS-1"), directory.get("CS-2"))
        async with parts.uow() as unit:  # a rotated password (the security flow's write)
            record = await unit.stations.get("CS-1")
            assert record is not None
            await unit.stations.save(replace(record, password_hash="new-hash"))
            await unit.commit()
        assert directory.cached("CS-1") is None  # at once, not at the next feed read
        async with parts.uow() as unit:  # a column admission does not read: kept
            record = await unit.stations.get("CS-2")
            assert record is not None
            await unit.stations.save(replace(record, last_heartbeat_at=T0))
            await unit.commit()
        assert directory.cached("CS-2") is not None
        async with parts.uow() as unit:  # not committed: kept
            record = await unit.stations.get("CS-2")
            assert record is not None
            await unit.stations.save(replace(record, password_hash="other"))
        assert directory.cached("CS-2") is not None
        entry = await directory.get("CS-1")
        assert entry is not None and entry.password_hash == "new-hash"


async def test_another_central_system_in_the_process_does_not_take_the_commit(
    database_url: str,
) -> None:
    """Session events are the process's: a second central system's watcher (another engine,
    registered first) sees the commit too, and must leave it to the first one's directory."""
    async with running_directory(database_url) as other, running_directory(database_url) as parts:
        await add_stations(parts.uow, "CS-1", password_hash="old-hash")
        assert await parts.directory.get("CS-1") is not None
        async with parts.uow() as unit:
            record = await unit.stations.get("CS-1")
            assert record is not None
            await unit.stations.save(replace(record, password_hash="new-hash"))
            await unit.commit()
        assert parts.directory.cached("CS-1") is None
        assert other.directory.cached("CS-1") is None  # it never had it


async def test_a_change_of_another_process_is_read_from_the_feed(database_url: str) -> None:
    async with running_directory(database_url) as parts:
        await add_stations(
            parts.uow,
            "CS-1",
            security_profile=SecurityProfile.BASIC_AUTH,
            password_hash="old-hash",
            boot_status=RegistrationStatus.ACCEPTED,
            boot_info=BootInfo("V", "M", serial_number="SN-1"),
        )
        directory = parts.directory
        entry = await directory.get("CS-1")
        assert entry is not None and entry.boot_accepted and entry.serial_number == "SN-1"
        other = create_engine(database_url)  # another process: its commits are not watched
        try:
            other_uow = SqlUnitOfWorkFactory(session_factory(other), EventBus())
            async with other_uow() as unit:
                record = await unit.stations.get("CS-1")
                assert record is not None
                await unit.stations.save(replace(record, password_hash="new-hash"))
                await unit.station_log.add("CS-1", REGISTRY_CHANGED, T0, {"password": True})
                await unit.commit()
        finally:
            await other.dispose()
        await wait_for(lambda: directory.cached("CS-1") is None, what="CS-1 forgotten")
        entry = await directory.get("CS-1")
        assert entry is not None and entry.password_hash == "new-hash"


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_change_committed_after_a_newer_one_was_read(database_url: str) -> None:
    """PostgreSQL hands out ids before commit: a change may become visible after one with a
    higher id was read (SQLite commits one writer at a time, in id order). The directory reads
    the last minute of the feed again."""
    async with running_directory(database_url, watch=False) as parts:
        await add_stations(parts.uow, "CS-LATE", "CS-OTHER", password_hash="old-hash")
        directory = parts.directory
        await asyncio.gather(directory.get("CS-LATE"), directory.get("CS-OTHER"))
        async with parts.uow() as late:
            await late.station_log.add("CS-LATE", REGISTRY_CHANGED, T0, {})
            await late.session.flush()  # its id is taken, not yet committed
            async with parts.uow() as early:
                await early.station_log.add("CS-OTHER", REGISTRY_CHANGED, T0, {})
                await early.commit()
            await wait_for(lambda: directory.cached("CS-OTHER") is None, what="newer one read")
            read = directory.refreshes
            await wait_for(lambda: directory.refreshes > read + 3, what="read past it again")
            assert directory.cached("CS-LATE") is not None
            await late.commit()
        await wait_for(lambda: directory.cached("CS-LATE") is None, what="the late one read")


class HeldStore(SqlStationDirectoryStore):
    """The real store, whose loads wait until the test lets them go."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.loading = asyncio.Event()
        self.release = asyncio.Event()

    async def load(self, station_ids: Sequence[str]) -> dict[str, StationAccess]:
        self.loading.set()
        await self.release.wait()
        return await super().load(station_ids)


async def test_a_directory_stopped_while_loading_answers_who_waits(database_url: str) -> None:
    """The central system stops while a connection's station is being loaded: the connection
    gets an error at once instead of waiting for ever (the server's stop waits for it)."""
    engine = create_engine(database_url)
    try:
        await add_stations(SqlUnitOfWorkFactory(session_factory(engine), EventBus()), "CS-1")
        store = HeldStore(engine)
        directory = StationDirectory(store, load_window=0.0, refresh_interval=60)
        task = asyncio.create_task(directory.run())
        await wait_for(lambda: directory.following, what="the directory follows the feed")
        waiting = asyncio.create_task(directory.get("CS-1"))
        await asyncio.wait_for(store.loading.wait(), 10)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with pytest.raises(RuntimeError, match="stopped"):
            await asyncio.wait_for(waiting, 10)
    finally:
        await engine.dispose()
