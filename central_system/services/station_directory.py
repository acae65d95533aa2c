"""The station directory: what admission and the boot check need of each registered station, in
memory, so that a station (re)connecting costs no database round trip.

* A station found in the directory is answered at once. One that is not is loaded from the
  database together with every other station asked for within the same few milliseconds (one
  query for the hundreds of stations of a reconnect storm). Unknown stations are not remembered:
  a station added by the CLI is admitted at its first attempt.
* An entry is dropped when the station's registry data changes: at once when this process
  commits the change (the database adapter reports its commits, `forget`), and within
  `refresh_interval` when another process does (the CLI, the API or another central system on
  the same database): the directory reads the change feed, the station log entries every
  registry change writes (`CHANGE_KINDS`).
* The directory only ever answers "yes" early: a caller about to refuse a station asks again
  with `load()`, which reads the database (a password or profile set by another process works at
  once; one revoked there is refused within `refresh_interval`), and so does a caller told that
  the station's last boot was not accepted (it may have booted through another process since).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from central_system.background import fail_waiting
from central_system.domain.stations import BootInfo, SecurityProfile, StationRecord
from central_system.services.security import PASSWORD_CHANGE, PROFILE_UPGRADE

log = logging.getLogger(__name__)

# Written to the station log whenever the registry entry of a station is added or changed
# (`StationService.register`): the change feed other processes read.
REGISTRY_CHANGED = "RegistryChanged"
# Station log kinds that change what admission decides: the feed's entries.
CHANGE_KINDS = (REGISTRY_CHANGED, PASSWORD_CHANGE, PROFILE_UPGRADE)


@dataclass(frozen=True, slots=True)
class StationAccess:
    """What admission and the boot check need of a registered station."""

    security_profile: SecurityProfile
    password_hash: str | None
    serial_number: str | None
    boot_accepted: bool

    def record(self, station_id: str) -> StationRecord:
        """A registry record with what admission reads (not for saving: the rest is empty)."""
        return StationRecord(
            id=station_id,
            security_profile=self.security_profile,
            password_hash=self.password_hash,
            boot_info=BootInfo("", "", serial_number=self.serial_number)
            if self.serial_number
            else None,
        )


class StationDirectoryStore(Protocol):
    async def load(self, station_ids: Sequence[str]) -> dict[str, StationAccess]:
        """The registered stations among `station_ids` (one query)."""
        ...

    async def latest_change(self) -> int:
        """The id of the newest change-feed entry (0 without any)."""
        ...

    async def changes_after(self, after_id: int, kinds: Sequence[str]) -> list[tuple[int, str]]:
        """(entry id, station id) of the change-feed entries of `kinds` after `after_id`."""
        ...


_Load = tuple[str, "asyncio.Future[StationAccess | None]"]


class StationDirectory:
    def __init__(
        self,
        store: StationDirectoryStore,
        *,
        load_window: float = 0.002,
        max_load: int = 500,
        refresh_interval: float = 1.0,
        lookback: float = 60.0,
    ) -> None:
        """`lookback`: how long a change may take from its entry id to its commit (PostgreSQL
        hands out ids before commit: an entry may appear after a newer one was read)."""
        self._store = store
        self._load_window = load_window
        self._max_load = max_load
        self._refresh_interval = refresh_interval
        self._lookback = lookback
        self._entries: dict[str, StationAccess] = {}
        self._wanted: dict[str, asyncio.Future[StationAccess | None]] = {}
        self._wake = asyncio.Event()
        self._running = False
        self._following = False  # the change feed is read: entries may be kept
        self._in_flight: set[str] = set()
        self._stale: set[str] = set()  # changed while being loaded: not kept
        self._scan_from = 0
        self._seen: dict[int, float] = {}  # change ids read since `_scan_from`
        self._marks: deque[tuple[float, int]] = deque()  # (when, newest id read by then)
        self.loads = 0  # database queries made (for tests and metrics)
        self.refreshes = 0  # change feed reads

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def following(self) -> bool:
        """Whether the change feed is read (until then nothing is kept)."""
        return self._following

    def cached(self, station_id: str) -> StationAccess | None:
        """The station's entry if the directory holds one (no database)."""
        return self._entries.get(station_id)

    async def get(self, station_id: str) -> StationAccess | None:
        """The station's entry, from the directory or else from the database."""
        entry = self._entries.get(station_id)
        if entry is not None:
            return entry
        return await self.load(station_id)

    async def load(self, station_id: str) -> StationAccess | None:
        """The station as the database has it now (None: not registered); read with the other
        stations asked for within `load_window`. Raises the database's errors."""
        if not self._running:  # no loading task (a command-line process): read it alone
            self.loads += 1
            return (await self._store.load([station_id])).get(station_id)
        future = self._wanted.get(station_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._wanted[station_id] = future
            self._wake.set()
        return await asyncio.shield(future)

    def remember(self, station_id: str, entry: StationAccess) -> None:
        """The station's data as this process just committed it (its boot)."""
        if self._following:
            self._entries[station_id] = entry
            if station_id in self._in_flight:
                self._stale.add(station_id)  # what is being read may be older

    def forget(self, station_ids: Iterable[str]) -> None:
        """The registry data of these stations changed: read them again when asked."""
        for station_id in station_ids:
            self._entries.pop(station_id, None)
            if station_id in self._in_flight:
                self._stale.add(station_id)

    async def run(self) -> None:
        """Load what callers wait for, and follow the change feed, until cancelled."""
        loop = asyncio.get_running_loop()
        self._running = True
        try:
            self._entries.clear()  # what changed while nobody followed the feed is unknown
            self._following = False
            next_refresh = loop.time()
            while True:
                if not self._wanted:
                    self._wake.clear()
                    timeout = max(next_refresh - loop.time(), 0.0)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
                if loop.time() >= next_refresh:
                    await self._refresh(loop.time())
                    next_refresh = loop.time() + self._refresh_interval
                if self._wanted:
                    if len(self._wanted) < self._max_load:
                        await asyncio.sleep(self._load_window)
                    await self._load_batch()
        finally:
            self._running = False
            self._following = False
            self._fail_wanted(RuntimeError("the station directory stopped"))

    async def _load_batch(self) -> None:
        batch: list[_Load] = []
        for station_id in list(self._wanted)[: self._max_load]:
            batch.append((station_id, self._wanted.pop(station_id)))
        ids = [station_id for station_id, _ in batch]
        self._in_flight = set(ids)
        self._stale = set()
        try:
            self.loads += 1
            found = await self._store.load(ids)
        except Exception as error:
            log.warning("loading %d stations failed: %s", len(ids), error)
            _fail(batch, error)
            return
        except BaseException:
            # Stopped while loading: these callers are no longer in `_wanted`, so nobody
            # else would answer them, and a connection waiting here holds up the server's
            # shutdown for ever.
            _fail(batch, RuntimeError("the station directory stopped"))
            raise
        finally:
            self._in_flight = set()
        for station_id, future in batch:
            entry = found.get(station_id)
            if self._following and station_id not in self._stale:
                if entry is not None:
                    self._entries[station_id] = entry
                else:
                    self._entries.pop(station_id, None)
            if not future.done():
                future.set_result(entry)
        self._stale = set()

    async def _refresh(self, now: float) -> None:
        """Read the change feed: forget the stations changed since the last read."""
        try:
            if not self._following:
                self._scan_from = await self._store.latest_change()
                self._seen.clear()
                self._marks.clear()
                self._following = True
                return
            changes = await self._store.changes_after(self._scan_from, CHANGE_KINDS)
        except Exception as error:  # the database is away: entries stay, read again later
            log.warning("reading the station change feed failed: %s", error)
            return
        self.refreshes += 1
        newest = self._marks[-1][1] if self._marks else self._scan_from
        changed = []
        for change_id, station_id in changes:
            newest = max(newest, change_id)
            if change_id not in self._seen:
                self._seen[change_id] = now
                changed.append(station_id)
        if changed:
            log.debug("registry changed by another process: %s", ", ".join(changed[:10]))
            self.forget(changed)
        self._marks.append((now, newest))
        while self._marks and self._marks[0][0] < now - self._lookback:
            _, self._scan_from = self._marks.popleft()
        if self._seen and min(self._seen) <= self._scan_from:
            self._seen = {k: v for k, v in self._seen.items() if k > self._scan_from}

    def _fail_wanted(self, error: BaseException) -> None:
        wanted, self._wanted = self._wanted, {}
        _fail(list(wanted.items()), error)


def _fail(batch: list[_Load], error: BaseException) -> None:
    fail_waiting((future for _, future in batch), error)


__all__ = [
    "CHANGE_KINDS",
    "REGISTRY_CHANGED",
    "StationAccess",
    "StationDirectory",
    "StationDirectoryStore",
]
