"""Local authorization lists kept in step with the token registry (1.6 Local Auth List Management,
2.0.1 D01-D04, D08/D09; TC_042, TC_043, TC_D_01-09, TC_C_40/43).

An operator puts a station under local-list management with a first (full) push; from then on
every change of a local-list token (added, blocked, expired, removed) reaches the station as a
differential update, at once when it is connected, else when it reconnects. A VersionMismatch
answer, or a version the station reports that is not ours, makes the next update a full one; a
NotSupported answer takes the station out of the management until an operator pushes again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from central_system.domain import local_lists as rules
from central_system.domain.authorization import IdTokenRecord
from central_system.domain.device_model import items_per_message
from central_system.domain.events import DomainEvent, StationConnected
from central_system.domain.local_lists import LocalListEntry, LocalListState, LocalListUpdate
from central_system.services.control_ports import LocalListAnswer, LocalListControl
from central_system.services.errors import NotFound
from central_system.services.ports import (
    Clock,
    StationCallError,
    StationCallTimeout,
    StationOffline,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)

# At most this many stations are updated at the same time by the background sync.
MAX_CONCURRENT_SYNCS = 20


@dataclass(frozen=True, slots=True)
class SentUpdate:
    update: LocalListUpdate
    answer: LocalListAnswer


@dataclass(frozen=True, slots=True)
class SyncResult:
    """The messages sent (possibly none: the list was already right) and the state after."""

    state: LocalListState
    sent: tuple[SentUpdate, ...] = ()

    @property
    def status(self) -> str | None:
        """The last answer, or None when nothing had to be sent."""
        return self.sent[-1].answer.status if self.sent else None


@dataclass
class _Pending:
    stations: set[str] = field(default_factory=set)
    all: bool = False


class LocalListService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        control: LocalListControl,
        *,
        sync_interval: float = 300.0,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._control = control
        self._sync_interval = sync_interval
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending = _Pending()
        self._wake = asyncio.Event()

    # --- registry ------------------------------------------------------------------------------

    async def mark_token(self, value: str, in_list: bool) -> None:
        """Put a registry token into the local lists (or take it out); raises NotFound."""
        async with self._uow() as uow:
            if not await uow.local_lists.mark(value, in_list):
                raise NotFound(f"no id token {value}")
            await uow.commit()
        self.tokens_changed()

    async def desired(self) -> list[LocalListEntry]:
        """The list every managed station should hold now."""
        async with self._uow() as uow:
            entries = rules.desired_entries(await uow.local_lists.tokens(), self._clock.now())
        return [entries[token] for token in sorted(entries)]

    async def state(self, station_id: str) -> LocalListState | None:
        async with self._uow() as uow:
            return await uow.local_lists.get(station_id)

    # --- commands ------------------------------------------------------------------------------

    async def push(self, station_id: str, *, full: bool = False) -> SyncResult:
        """Operator: bring the station's list up to date now (a full update if asked for or
        needed, else a differential one) and keep it so. Raises the station errors."""
        async with self._lock(station_id):
            async with self._uow.reading() as uow:
                state = await uow.local_lists.get(station_id) or LocalListState(station_id)
                desired = await self._desired_in(uow, station_id)
                limit = await self._limit(uow, station_id)
            return await self._send(replace(state, enabled=True), desired, full=full, limit=limit)

    async def clear(self, station_id: str) -> SyncResult:
        """Operator: send an empty full list (TC_D_04) and stop managing the station's list."""
        async with self._lock(station_id):
            async with self._uow.reading() as uow:
                state = await uow.local_lists.get(station_id) or LocalListState(station_id)
            return await self._send(replace(state, enabled=False), {}, full=True, limit=None)

    async def fetch_version(self, station_id: str) -> int:
        """GetLocalListVersion (TC_042, TC_D_08/09); a version other than ours makes the next
        update of a managed station a full one."""
        reported = await self._control.get_local_list_version(station_id)
        async with self._lock(station_id), self._uow() as uow:
            state = await uow.local_lists.get(station_id)
            if state is not None:
                observed = rules.observe_version(state, reported)
                if observed != state:
                    await uow.local_lists.save(observed)
                    await uow.commit()
        return reported

    async def sync(
        self, station_id: str, tokens: Sequence[IdTokenRecord] | None = None
    ) -> SyncResult | None:
        """Bring a managed, connected station's list up to date (None: not managed or not
        connected) with the registry's local-list `tokens` (read when not given). Raises the
        station errors."""
        if not self._control.is_connected(station_id):
            return None
        async with self._lock(station_id):
            async with self._uow.reading() as uow:
                state = await uow.local_lists.get(station_id)
                if state is None or not state.enabled:
                    return None
                desired = await self._desired_in(uow, station_id, tokens)
                limit = await self._limit(uow, station_id)
            return await self._send(state, desired, full=False, limit=limit)

    # --- background ----------------------------------------------------------------------------

    def tokens_changed(self) -> None:
        """Registry tokens changed: update every managed station soon."""
        self._pending.all = True
        self._wake.set()

    def station_connected(self, station_id: str) -> None:
        self._pending.stations.add(station_id)
        self._wake.set()

    EVENT_KINDS = (StationConnected,)

    def on_events(self, events: Iterable[DomainEvent]) -> None:
        """Event-bus subscriber (EVENT_KINDS): a station that reconnects gets the changes it
        missed."""
        for event in events:
            if isinstance(event, StationConnected):
                self.station_connected(event.station_id)

    async def run(self) -> None:
        """Keep the managed stations' lists up to date: on token changes, on reconnects, and
        every `sync_interval` seconds (changes made by another process, e.g. the CLI)."""
        limit = asyncio.Semaphore(MAX_CONCURRENT_SYNCS)

        async def one(station_id: str, tokens: Sequence[IdTokenRecord]) -> None:
            async with limit:
                try:
                    await self.sync(station_id, tokens)
                except (StationOffline, StationCallTimeout, StationCallError, ValueError) as error:
                    log.warning("%s: local list not updated: %s", station_id, error)

        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._sync_interval)
            except TimeoutError:
                self._pending.all = True
            self._wake.clear()
            pending, self._pending = self._pending, _Pending()
            try:
                async with self._uow.reading() as uow:
                    managed = set(await uow.local_lists.synced_stations())
                    stations = managed if pending.all else pending.stations & managed
                    # once for the round: every station's list is made from the same tokens
                    tokens = await uow.local_lists.tokens() if stations else []
                await asyncio.gather(*(one(s, tokens) for s in sorted(stations)))
            except Exception:  # e.g. the database is away: log it, try again next round
                log.exception("local list round failed")

    # --- internals -----------------------------------------------------------------------------

    def _lock(self, station_id: str) -> asyncio.Lock:
        return self._locks.setdefault(station_id, asyncio.Lock())

    async def _desired_in(
        self, uow: UnitOfWork, station_id: str, tokens: Sequence[IdTokenRecord] | None = None
    ) -> dict[str, LocalListEntry]:
        return rules.desired_entries(
            tokens if tokens is not None else await uow.local_lists.tokens(),
            self._clock.now(),
            max_token_length=self._control.max_token_length(station_id),
        )

    @staticmethod
    async def _limit(uow: UnitOfWork, station_id: str) -> int | None:
        return items_per_message(await uow.device_model.values(station_id), "SendLocalList")

    async def _send(
        self,
        state: LocalListState,
        desired: dict[str, LocalListEntry],
        *,
        full: bool,
        limit: int | None,
    ) -> SyncResult:
        """Send the planned updates one after the other, stopping at the first one not
        accepted. The state is saved after the answers, also when the station fails us after
        one; nothing is saved when the first message could not be delivered."""
        sent: list[SentUpdate] = []
        delivered = False
        try:
            for update in rules.plan_updates(state, desired, full=full, max_items=limit):
                answer = await self._control.send_local_list(state.station_id, update)
                state = rules.apply_answer(state, update, answer.status)
                sent.append(SentUpdate(update, answer))
                log.info(
                    "%s: local list %s v%d (%d changes): %s",
                    state.station_id,
                    update.update_type.value,
                    update.version,
                    len(update.changes),
                    answer.status,
                )
                if answer.status != rules.SendStatus.ACCEPTED:
                    break
            delivered = True
        finally:
            if delivered or sent:
                async with self._uow() as uow:
                    await uow.local_lists.save(state)
                    await uow.commit()
        return SyncResult(state, tuple(sent))
