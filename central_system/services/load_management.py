"""Load management: a site's grid connection limit shared by the stations behind it.

Whenever a transaction starts or ends at a member station (and at start-up, periodically, and
when a member boots), the site's allocation is recomputed (domain.load_management) and each
online member gets its share as a station maximum profile (1.6 ChargePointMaxProfile, 2.0.1
ChargingStationMaxProfile; the station divides it among its connectors). Limits are lowered
before any is raised, and a raise is sent only once the lowerings it needs were accepted, so the
limits in force never add up to more than the budget, not even while profiles are replaced.

Every online station always has a limit in force, at least what its sessions were given plus a
standby share of what they leave: a session that starts before the next recomputation charges
within its station's limit. An offline station keeps the limit it last accepted and that much
of the budget stays reserved for it (its whole maximum if it never accepted one).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from central_system.domain.events import DomainEvent, TransactionEnded, TransactionStarted
from central_system.domain.load_management import (
    LOAD_MANAGEMENT_PROFILE_ID,
    SessionLoad,
    SharePolicy,
    StationLoad,
    allowed_increase,
    limit_in_force,
    station_limit_profile,
    station_limits,
)
from central_system.domain.smart_charging import (
    ClearCriteria,
    ProfileSource,
    ProfileStatus,
    first_limit_w,
)
from central_system.domain.transactions import Transaction
from central_system.services.errors import Conflict, InvalidRequest, NotFound
from central_system.services.ports import (
    ChargingProfileControl,
    Clock,
    SiteMember,
    SiteRecord,
    StationCallError,
    StationCallTimeout,
    StationOffline,
    UnitOfWork,
    UnitOfWorkFactory,
)
from central_system.services.smart_charging import SmartChargingService

log = logging.getLogger(__name__)

MAX_GRID_LIMIT_W = 100_000_000  # 100 MW: a sanity limit for input
_HISTORY = (ProfileStatus.ACCEPTED, ProfileStatus.SENT, ProfileStatus.FAILED, ProfileStatus.CLEARED)


@dataclass(frozen=True, slots=True)
class MemberView:
    member: SiteMember
    max_w: Decimal
    online: bool
    in_force_w: Decimal | None  # None: no limit from load management in force
    active_sessions: int


@dataclass(frozen=True, slots=True)
class SiteView:
    site: SiteRecord
    members: list[MemberView]

    @property
    def in_force_total_w(self) -> Decimal:
        return sum(
            (m.in_force_w if m.in_force_w is not None else m.max_w for m in self.members),
            Decimal(0),
        )


@dataclass(frozen=True, slots=True)
class LimitChange:
    """One station limit load management sent, and the station's answer (Accepted, Rejected,
    offline, timeout or the CALLERROR code), or `deferred` when a lowering elsewhere failed."""

    station_id: str
    previous_w: Decimal | None
    target_w: Decimal
    sent_w: Decimal | None
    outcome: str


@dataclass(frozen=True, slots=True)
class RebalanceReport:
    site_id: str
    budget_w: Decimal
    targets: dict[str, Decimal]
    changes: list[LimitChange]
    in_force: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class _Work:
    station_id: str
    resend: bool = False
    ended: Transaction | None = None


class LoadManagementService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        control: ChargingProfileControl,
        profiles: SmartChargingService,
        *,
        default_evse_w: int = 22_000,
        min_session_w: int = 0,
        interval_s: float = 60.0,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._control = control
        self._profiles = profiles
        self._default_evse_w = Decimal(default_evse_w)
        self._min_session_w = Decimal(min_session_w)
        self._interval_s = interval_s
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._queue: asyncio.Queue[_Work] = asyncio.Queue()

    # --- sites and members ---------------------------------------------------------------------

    async def create_site(self, site: SiteRecord) -> SiteView:
        _check_site(site)
        async with self._uow() as uow:
            if await uow.sites.get(site.id) is not None:
                raise Conflict(f"site {site.id} exists", problem="site-exists")
            await uow.sites.save(site)
            await uow.commit()
        return await self.view(site.id)

    async def update_site(
        self,
        site_id: str,
        *,
        name: str | None = None,
        grid_limit_w: int | None = None,
        policy: SharePolicy | None = None,
    ) -> SiteView:
        async with self._uow() as uow:
            site = await self._site(uow, site_id)
            site = replace(
                site,
                name=site.name if name is None else name,
                grid_limit_w=site.grid_limit_w if grid_limit_w is None else grid_limit_w,
                policy=site.policy if policy is None else policy,
            )
            _check_site(site)
            await uow.sites.save(site)
            await uow.commit()
        await self.rebalance(site_id)
        return await self.view(site_id)

    async def delete_site(self, site_id: str) -> None:
        """Forget the site; its members' limits are cleared (best effort: an offline station
        keeps its last limit)."""
        async with self._uow() as uow:
            await self._site(uow, site_id)
            members = await uow.sites.members(site_id)
            await uow.sites.delete(site_id)
            await uow.commit()
        for member in members:
            await self._release(member.station_id)

    async def set_member(
        self, site_id: str, station_id: str, *, priority: int = 0, max_power_w: int | None = None
    ) -> SiteView:
        """Add a station to the site (or change its priority / maximum) and rebalance."""
        if max_power_w is not None and not 0 < max_power_w <= MAX_GRID_LIMIT_W:
            raise InvalidRequest("a station's maximum is between 1 W and 100 MW")
        async with self._uow() as uow:
            await self._site(uow, site_id)
            if await uow.stations.get(station_id) is None:
                raise NotFound(f"no station {station_id}")
            current = await uow.sites.membership(station_id)
            if current is not None and current.site_id != site_id:
                raise Conflict(
                    f"station {station_id} belongs to site {current.site_id}",
                    problem="station-in-another-site",
                )
            await uow.sites.save_member(SiteMember(station_id, site_id, priority, max_power_w))
            await uow.commit()
        await self.rebalance(site_id)
        return await self.view(site_id)

    async def remove_member(self, site_id: str, station_id: str) -> None:
        async with self._uow() as uow:
            member = await uow.sites.membership(station_id)
            if member is None or member.site_id != site_id:
                raise NotFound(f"station {station_id} is not in site {site_id}")
            await uow.sites.delete_member(station_id)
            await uow.commit()
        await self._release(station_id)
        await self.rebalance(site_id)

    async def _release(self, station_id: str) -> None:
        if not self._control.is_connected(station_id):
            log.warning("%s left its site while offline: it keeps its last limit", station_id)
            return
        try:
            await self._profiles.clear(
                station_id,
                ClearCriteria(profile_id=LOAD_MANAGEMENT_PROFILE_ID),
                source=ProfileSource.LOAD_MANAGEMENT,
            )
        except (StationOffline, StationCallTimeout, StationCallError, ValueError) as error:
            log.warning("%s: site limit not cleared: %s", station_id, error)

    async def sites(self) -> list[SiteRecord]:
        async with self._uow() as uow:
            return await uow.sites.all()

    async def view(self, site_id: str) -> SiteView:
        async with self._uow() as uow:
            site = await self._site(uow, site_id)
            members = await uow.sites.members(site_id)
            loads = await self._loads(uow, members)
        by_id = {load.station_id: load for load in loads}
        return SiteView(
            site,
            [
                MemberView(
                    member,
                    by_id[member.station_id].max_w,
                    by_id[member.station_id].online,
                    by_id[member.station_id].in_force_w,
                    len(by_id[member.station_id].sessions),
                )
                for member in members
            ],
        )

    @staticmethod
    async def _site(uow: UnitOfWork, site_id: str) -> SiteRecord:
        site = await uow.sites.get(site_id)
        if site is None:
            raise NotFound(f"no site {site_id}")
        return site

    # --- what the stations can draw ------------------------------------------------------------

    async def _loads(self, uow: UnitOfWork, members: list[SiteMember]) -> list[StationLoad]:
        ids = [m.station_id for m in members]
        transactions = await uow.active_transactions.list(ids) if ids else []
        loads = []
        for member in members:
            station_id = member.station_id
            entry = await uow.catalog.get_site(station_id)
            evse_max: dict[int, Decimal] = {}
            for spec in entry.connectors if entry else ():
                evse_max[spec.evse_id] = max(
                    evse_max.get(spec.evse_id, Decimal(0)), Decimal(spec.max_power_w)
                )
            if member.max_power_w is not None:
                station_max = Decimal(member.max_power_w)
            elif evse_max:
                station_max = sum(evse_max.values(), Decimal(0))
            else:
                evses = {c.key.evse_id for c in await uow.connectors.list(station_id)}
                station_max = self._default_evse_w * max(len(evses - {0}), 1)
            sessions = tuple(
                SessionLoad(
                    f"{station_id}/{t.key.evse_id}/{t.transaction_id}",
                    evse_max.get(t.key.evse_id, self._default_evse_w),
                )
                for t in transactions
                if t.station_id == station_id
            )
            history = await uow.charging_profiles.for_station(
                station_id, statuses=_HISTORY, source=ProfileSource.LOAD_MANAGEMENT
            )
            in_force = limit_in_force([(r.status, first_limit_w(r.profile)) for r in history])
            online = self._control.is_connected(station_id) and self._control.boot_accepted(
                station_id
            )
            loads.append(
                StationLoad(
                    station_id,
                    station_max,
                    member.priority,
                    sessions,
                    online,
                    in_force,
                )
            )
        return loads

    # --- rebalancing ---------------------------------------------------------------------------

    async def rebalance(self, site_id: str, *, resend: Iterable[str] = ()) -> RebalanceReport:
        """Recompute the site's allocation and send the changed limits, lowering first.
        `resend`: stations to send their limit to even if it did not change (after a boot)."""
        async with self._locks[site_id]:
            async with self._uow.reading() as uow:
                site = await self._site(uow, site_id)
                loads = await self._loads(uow, await uow.sites.members(site_id))
            budget = Decimal(site.grid_limit_w)
            targets = station_limits(budget, loads, site.policy, min_session_w=self._min_session_w)
            by_id = {load.station_id: load for load in loads}
            in_force = {load.station_id: load.drawable_w for load in loads}
            again = set(resend)
            lower = [
                (sid, target)
                for sid, target in targets.items()
                if target < in_force[sid]
                or (target == in_force[sid] and (sid in again or by_id[sid].in_force_w is None))
            ]
            raise_ = [(sid, target) for sid, target in targets.items() if target > in_force[sid]]
            changes = list(
                await asyncio.gather(
                    *(self._send(sid, by_id[sid].in_force_w, target) for sid, target in lower)
                )
            )
            for change in changes:
                if change.outcome == "Accepted" and change.sent_w is not None:
                    in_force[change.station_id] = change.sent_w
            planned: list[tuple[str, Decimal, Decimal]] = []
            for sid, target in sorted(raise_, key=lambda item: -by_id[item[0]].priority):
                allowed = allowed_increase(in_force, sid, target, budget)
                if allowed <= in_force[sid]:
                    changes.append(
                        LimitChange(sid, by_id[sid].in_force_w, target, None, "deferred")
                    )
                    continue
                planned.append((sid, target, allowed))
                in_force[sid] = allowed  # reserved now; a failed raise only leaves more room
            raised = await asyncio.gather(
                *(
                    self._send(sid, by_id[sid].in_force_w, target, allowed)
                    for sid, target, allowed in planned
                )
            )
            for change in raised:
                if change.outcome != "Accepted":
                    in_force[change.station_id] = by_id[change.station_id].drawable_w
            changes.extend(raised)
        if changes:
            log.info(
                "site %s (%s W): %s",
                site_id,
                budget,
                ", ".join(f"{c.station_id} {c.sent_w} W {c.outcome}" for c in changes),
            )
        return RebalanceReport(site_id, budget, targets, changes, in_force)

    async def _send(
        self,
        station_id: str,
        previous: Decimal | None,
        target: Decimal,
        limit: Decimal | None = None,
    ) -> LimitChange:
        sent = target if limit is None else limit
        profile = station_limit_profile(sent, self._clock.now())
        try:
            result = await self._profiles.set_profile(
                station_id, profile, source=ProfileSource.LOAD_MANAGEMENT
            )
            outcome = result.outcome.status or "answered"
        except StationOffline:
            outcome = "offline"
        except StationCallTimeout:
            outcome = "timeout"
        except StationCallError as error:
            outcome = error.code
        except (ValueError, InvalidRequest) as error:
            log.error("%s: site limit not sendable: %s", station_id, error)
            outcome = "invalid"
        return LimitChange(station_id, previous, target, sent, outcome)

    async def rebalance_all(self) -> list[RebalanceReport]:
        reports = []
        for site in await self.sites():
            try:
                reports.append(await self.rebalance(site.id))
            except Exception:
                log.exception("site %s could not be rebalanced", site.id)
        return reports

    # --- triggers ------------------------------------------------------------------------------

    EVENT_KINDS = (TransactionStarted, TransactionEnded)

    def on_events(self, events: Iterable[DomainEvent]) -> None:
        """EventBus subscriber (EVENT_KINDS): sessions starting and ending at a station."""
        for event in events:
            if isinstance(event, TransactionStarted):
                self._queue.put_nowait(_Work(event.transaction.station_id))
            elif isinstance(event, TransactionEnded):
                transaction = event.transaction
                self._queue.put_nowait(_Work(transaction.station_id, ended=transaction))

    def station_booted(self, station_id: str) -> None:
        """After an accepted BootNotification: the station may have lost its profiles."""
        self._queue.put_nowait(_Work(station_id, resend=True))

    async def run(self) -> None:
        """Rebalance on every queued trigger, and every site every `interval_s` (start-up
        included). Failures are logged; the next run repairs what they left."""
        await self.rebalance_all()
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self._interval_s
        while True:
            try:
                first = await asyncio.wait_for(self._queue.get(), max(next_full - loop.time(), 0.0))
            except TimeoutError:
                await self.rebalance_all()
                next_full = loop.time() + self._interval_s
                continue
            batch = [first]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._process(batch)
            except Exception:
                log.exception("load management could not process %d triggers", len(batch))

    async def _process(self, batch: list[_Work]) -> None:
        for work in batch:
            if work.ended is not None:
                await self._profiles.transaction_ended(work.ended)
        resend: defaultdict[str, set[str]] = defaultdict(set)
        sites: set[str] = set()
        async with self._uow.reading() as uow:
            for work in batch:
                member = await uow.sites.membership(work.station_id)
                if member is None:
                    continue
                sites.add(member.site_id)
                if work.resend:
                    resend[member.site_id].add(work.station_id)
        for site_id in sorted(sites):
            await self.rebalance(site_id, resend=resend[site_id])


def _check_site(site: SiteRecord) -> None:
    if not site.id or len(site.id) > 48:
        raise InvalidRequest("a site id has 1 to 48 characters")
    if not 0 <= site.grid_limit_w <= MAX_GRID_LIMIT_W:
        raise InvalidRequest("a grid limit is between 0 W and 100 MW")
