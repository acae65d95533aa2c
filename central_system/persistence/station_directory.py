"""The database side of the station directory (`services.station_directory`): loading stations
in batches, the change feed, and the commits of this process that change a station's registry
data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Table, event, func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, UOWTransaction

from central_system.domain.stations import RegistrationStatus, SecurityProfile
from central_system.persistence.database import reading_engine
from central_system.persistence.models import StationLogRow, StationRow
from central_system.services.station_directory import CHANGE_KINDS, StationAccess

_STATIONS: Table = StationRow.__table__  # type: ignore[attr-defined]
_LOG: Table = StationLogRow.__table__  # type: ignore[attr-defined]
# SQLite allows 32766 bound parameters per statement (999 before 3.32).
_IDS_PER_QUERY = 900

_LOAD = select(
    _STATIONS.c.id,
    _STATIONS.c.security_profile,
    _STATIONS.c.password_hash,
    _STATIONS.c.serial_number,
    _STATIONS.c.boot_status,
)
_LATEST_CHANGE = select(func.coalesce(func.max(_LOG.c.id), 0))


class SqlStationDirectoryStore:
    """Implements the StationDirectoryStore port with Core statements on the engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = reading_engine(engine)  # read every second: never the write lock

    async def load(self, station_ids: Sequence[str]) -> dict[str, StationAccess]:
        found: dict[str, StationAccess] = {}
        async with self._engine.connect() as connection:
            for start in range(0, len(station_ids), _IDS_PER_QUERY):
                chunk = list(station_ids[start : start + _IDS_PER_QUERY])
                result = await connection.execute(_LOAD.where(_STATIONS.c.id.in_(chunk)))
                for station_id, profile, password_hash, serial, boot_status in result:
                    found[station_id] = StationAccess(
                        security_profile=SecurityProfile(profile),
                        password_hash=password_hash,
                        serial_number=serial,
                        boot_accepted=boot_status == RegistrationStatus.ACCEPTED.value,
                    )
        return found

    async def latest_change(self) -> int:
        async with self._engine.connect() as connection:
            return int((await connection.execute(_LATEST_CHANGE)).scalar_one())

    async def changes_after(self, after_id: int, kinds: Sequence[str]) -> list[tuple[int, str]]:
        query = (
            select(_LOG.c.id, _LOG.c.station_id)
            .where(_LOG.c.id > after_id, _LOG.c.kind.in_(list(kinds)))
            .order_by(_LOG.c.id)
        )
        async with self._engine.connect() as connection:
            return [(int(row[0]), str(row[1])) for row in await connection.execute(query)]


# The StationRow columns admission reads, and the station log kinds that change its decision.
_WATCHED_COLUMNS = ("security_profile", "password_hash", "serial_number", "boot_status")
_INFO_KEY = "evcharge.registry_changed"


class RegistryCommitWatcher:
    """Reports the stations whose registry data a committed ORM transaction of this process
    changed (a StationRow column admission reads, or a change-feed entry in the station log),
    right after the commit: the station directory forgets them before anyone can be admitted
    with the old data (a rotated password, a completed profile upgrade)."""

    def __init__(self, engine: AsyncEngine, on_change: Callable[[Iterable[str]], None]) -> None:
        self._engine: Engine = engine.sync_engine
        self._on_change = on_change
        self._listening = False
        # Session events are the whole process's: each watcher keeps its own entry, so that
        # another one (another central system in this process) never takes its changes.
        self._info_key = (_INFO_KEY, id(self))

    def start(self) -> None:
        if not self._listening:
            event.listen(Session, "after_flush", self._after_flush)
            event.listen(Session, "after_commit", self._after_commit)
            event.listen(Session, "after_soft_rollback", self._after_rollback)
            self._listening = True

    def stop(self) -> None:
        if self._listening:
            event.remove(Session, "after_flush", self._after_flush)
            event.remove(Session, "after_commit", self._after_commit)
            event.remove(Session, "after_soft_rollback", self._after_rollback)
            self._listening = False

    def _after_flush(self, session: Session, _context: UOWTransaction) -> None:
        if session.bind is not self._engine:
            return
        changed: set[str] = session.info.setdefault(self._info_key, set())
        for instance in (*session.new, *session.dirty):
            if isinstance(instance, StationRow):
                if instance in session.new or _columns_changed(instance):
                    changed.add(instance.id)
            elif isinstance(instance, StationLogRow) and instance.kind in CHANGE_KINDS:
                changed.add(instance.station_id)
        if not changed:
            del session.info[self._info_key]

    def _after_commit(self, session: Session) -> None:
        changed = session.info.pop(self._info_key, None)
        if changed:
            self._on_change(changed)

    def _after_rollback(self, session: Session, _previous: Any) -> None:
        session.info.pop(self._info_key, None)


def _columns_changed(row: StationRow) -> bool:
    state = inspect(row)
    return any(state.attrs[name].history.has_changes() for name in _WATCHED_COLUMNS)


__all__ = ["RegistryCommitWatcher", "SqlStationDirectoryStore"]
