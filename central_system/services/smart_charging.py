"""Charging profiles: send, record, clear, report, and composite schedules (1.6 Smart Charging
TC_056/057/059/066/067; 2.0.1 K01, K05, K08, K09, K10, K12, K13).

Every profile the central system sends is recorded before it is sent and marked by the
station's answer (accepted / rejected, or failed when the station is offline, silent or answers
a CALLERROR); an accepted profile marks the ones it replaces on the station. A station that is a
member of a load-management site has its station maximum managed by the site: an operator can
neither set nor clear it. Profiles a 2.0.1 station reports (GetChargingProfiles ->
ReportChargingProfiles) and the external limits it notifies are recorded beside them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from central_system.domain.authorization import IdToken
from central_system.domain.load_management import LOAD_MANAGEMENT_PROFILE_ID, limit_in_force
from central_system.domain.smart_charging import (
    ON_STATION,
    ChargingLimitSource,
    ClearCriteria,
    CompositeScheduleReply,
    EVChargingNeeds,
    InvalidProfile,
    ProfileRecord,
    ProfileSource,
    ProfileStatus,
    ReportCriteria,
    check_profile,
    ev_profile,
    first_limit_w,
    next_profile_id,
    offered_limit_w,
    replaces,
    schedule_within,
)
from central_system.domain.transactions import Transaction
from central_system.services.errors import Conflict, InvalidRequest
from central_system.services.ports import (
    ChargingProfileControl,
    Clock,
    CommandOutcome,
    StationCallError,
    StationCallTimeout,
    StationOffline,
    UnitOfWork,
    UnitOfWorkFactory,
)
from schemas.charging_profiles import ChargingProfile, ProfilePurpose, RateUnit

log = logging.getLogger(__name__)

_STATION_ERRORS = (StationOffline, StationCallTimeout, StationCallError, ValueError)


@dataclass(frozen=True, slots=True)
class ProfileResult:
    """The station's answer to a SetChargingProfile and the record as it now stands."""

    outcome: CommandOutcome
    record: ProfileRecord


@dataclass(frozen=True, slots=True)
class ClearResult:
    outcome: CommandOutcome
    cleared: list[ProfileRecord]


@dataclass(frozen=True, slots=True)
class ReportResult:
    """GetChargingProfiles: the station's answer, and what it reported for this request
    (`complete`: its last ReportChargingProfiles arrived, or it has no matching profiles)."""

    outcome: CommandOutcome
    request_id: int
    complete: bool
    profiles: list[ProfileRecord]


@dataclass(frozen=True, slots=True)
class RemoteStartResult:
    outcome: CommandOutcome
    remote_start_id: int
    record: ProfileRecord | None


def _status_info(outcome: CommandOutcome) -> str | None:
    info = outcome.payload.get("statusInfo")
    if not isinstance(info, dict):
        return None
    text = str(info.get("reasonCode", ""))
    if info.get("additionalInfo"):
        text += f": {info['additionalInfo']}"
    return text[:255] or None


class SmartChargingService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        control: ChargingProfileControl,
        *,
        default_evse_w: int = 22_000,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._control = control
        self._default_evse_w = Decimal(default_evse_w)
        self._ev_needs: dict[tuple[str, int], EVChargingNeeds] = {}
        self._caps: dict[tuple[str, int], tuple[str, Decimal]] = {}  # CSMS limit per transaction
        self._next_id = int(clock.now().timestamp()) % 1_000_000_000
        self._reports: dict[tuple[str, int], asyncio.Event] = {}

    def _new_id(self) -> int:
        """A request / remote start id (positive, below 2**31, unique in this process)."""
        self._next_id = self._next_id % 2_000_000_000 + 1
        return self._next_id

    # --- queries -------------------------------------------------------------------------------

    async def profiles(
        self,
        station_id: str,
        *,
        statuses: Iterable[ProfileStatus] | None = None,
        source: ProfileSource | None = None,
    ) -> list[ProfileRecord]:
        async with self._uow() as uow:
            return await uow.charging_profiles.for_station(
                station_id, statuses=statuses, source=source
            )

    async def new_profile_id(self, station_id: str) -> int:
        """An id the station has not seen from us (below the load-management profile's)."""
        async with self._uow() as uow:
            used = [
                i
                for i in await uow.charging_profiles.used_ids(station_id)
                if i < LOAD_MANAGEMENT_PROFILE_ID
            ]
        return next_profile_id(used)

    # --- SetChargingProfile --------------------------------------------------------------------

    async def set_profile(
        self,
        station_id: str,
        profile: ChargingProfile,
        *,
        source: ProfileSource = ProfileSource.OPERATOR,
    ) -> ProfileResult:
        """Send a profile (TC_056, TC_057, K01, K15-K17 via a TxProfile) and record the answer.

        Raises InvalidRequest (a profile no station may accept), Conflict (the station maximum
        of a load-managed station), and the station errors (the record is marked failed)."""
        try:
            check_profile(profile)
        except InvalidProfile as error:
            raise InvalidRequest(str(error), problem="invalid-charging-profile") from error
        now = self._clock.now()
        async with self._uow() as uow:
            if source is not ProfileSource.LOAD_MANAGEMENT:
                await self._guard_managed(uow, station_id, profile)
            if not self._control.is_connected(station_id):
                raise StationOffline(f"station {station_id} is not connected")
            record = await uow.charging_profiles.add(
                ProfileRecord(station_id, profile, source, ProfileStatus.SENT, now, now)
            )
            await uow.commit()
        try:
            outcome = await self._control.set_charging_profile(station_id, profile)
        except _STATION_ERRORS as error:
            await self._mark(record, ProfileStatus.FAILED, str(error)[:255])
            raise
        if outcome.accepted:
            record = await self._accepted(record)
        else:
            record = await self._mark(record, ProfileStatus.REJECTED, _status_info(outcome))
        log.info(
            "%s: %s %s (id %s) %s",
            station_id,
            source.value,
            profile.purpose.value,
            profile.id,
            outcome.status,
        )
        return ProfileResult(outcome, record)

    async def _guard_managed(
        self, uow: UnitOfWork, station_id: str, profile: ChargingProfile
    ) -> None:
        if profile.purpose is not ProfilePurpose.STATION_MAX and profile.id != (
            LOAD_MANAGEMENT_PROFILE_ID
        ):
            return
        member = await uow.sites.membership(station_id)
        if member is not None:
            raise Conflict(
                f"the station maximum of {station_id} is managed by site {member.site_id}: "
                "change the site member's max_power_kw instead",
                problem="managed-by-load-management",
            )

    async def _mark(
        self, record: ProfileRecord, status: ProfileStatus, info: str | None = None
    ) -> ProfileRecord:
        updated = replace(record, status=status, status_info=info, updated_at=self._clock.now())
        async with self._uow() as uow:
            await uow.charging_profiles.save(updated)
            await uow.commit()
        return updated

    async def _accepted(self, record: ProfileRecord) -> ProfileRecord:
        """Mark `record` accepted and the older profiles it replaced on the station replaced.

        A station answers the profiles in the order they were sent (one call at a time), but
        the answers are recorded by concurrent tasks: when a profile sent after this one that
        replaces it (TC_K_58: the same TxProfile id with a new limit) was recorded first, this
        one is replaced, and the newer one stays in force."""
        now = self._clock.now()
        accepted = replace(record, status=ProfileStatus.ACCEPTED, status_info=None, updated_at=now)
        async with self._uow() as uow:
            held = await uow.charging_profiles.for_station(record.station_id, statuses=ON_STATION)
            if any(
                _sent_after(newer, record) and replaces(newer.profile, record.profile)
                for newer in held
                if newer.source is not ProfileSource.EXTERNAL
            ):
                superseded = replace(accepted, status=ProfileStatus.REPLACED)
                await uow.charging_profiles.save(superseded)
                await uow.commit()
                return superseded
            for old in held:
                if old.source is ProfileSource.EXTERNAL or not _sent_after(record, old):
                    continue
                if replaces(record.profile, old.profile):
                    await uow.charging_profiles.save(
                        replace(old, status=ProfileStatus.REPLACED, updated_at=now)
                    )
            await uow.charging_profiles.save(accepted)
            await uow.commit()
        return accepted

    # --- ClearChargingProfile ------------------------------------------------------------------

    async def clear(
        self,
        station_id: str,
        criteria: ClearCriteria,
        *,
        source: ProfileSource = ProfileSource.OPERATOR,
    ) -> ClearResult:
        """ClearChargingProfile by id or by EVSE / purpose / stack level (TC_067, K10). Accepted
        or Unknown (K_08: nothing matched on the station), the matching records are cleared."""
        async with self._uow() as uow:
            if source is not ProfileSource.LOAD_MANAGEMENT:
                member = await uow.sites.membership(station_id)
                held = await uow.charging_profiles.for_station(
                    station_id,
                    statuses=(*ON_STATION, ProfileStatus.SENT),
                    source=ProfileSource.LOAD_MANAGEMENT,
                )
                if member is not None and any(criteria.matches(r.profile) for r in held):
                    raise Conflict(
                        f"this would clear the limit site {member.site_id} keeps on "
                        f"{station_id}; narrow the criteria or remove the station from the site",
                        problem="managed-by-load-management",
                    )
        outcome = await self._control.clear_charging_profile(station_id, criteria)
        cleared: list[ProfileRecord] = []
        if outcome.status in ("Accepted", "Unknown"):
            now = self._clock.now()
            async with self._uow() as uow:
                held = await uow.charging_profiles.for_station(
                    station_id, statuses=(*ON_STATION, ProfileStatus.SENT)
                )
                for record in held:
                    if criteria.matches(record.profile):
                        done = replace(record, status=ProfileStatus.CLEARED, updated_at=now)
                        await uow.charging_profiles.save(done)
                        cleared.append(done)
                await uow.commit()
        return ClearResult(outcome, cleared)

    async def transaction_ended(self, transaction: Transaction) -> None:
        """A TxProfile lives as long as its transaction: forget those of an ended
        transaction's EVSE (and what its EV asked for)."""
        self._ev_needs.pop((transaction.station_id, transaction.key.evse_id), None)
        self._caps.pop((transaction.station_id, transaction.key.evse_id), None)
        now = self._clock.now()
        async with self._uow() as uow:
            held = await uow.charging_profiles.for_station(
                transaction.station_id, statuses=ON_STATION
            )
            changed = False
            for record in held:
                profile = record.profile
                if (
                    profile.purpose is ProfilePurpose.TX
                    and profile.evse_id in (transaction.key.evse_id, 0)
                    and profile.transaction_id in (None, transaction.transaction_id)
                ):
                    await uow.charging_profiles.save(
                        replace(record, status=ProfileStatus.CLEARED, updated_at=now)
                    )
                    changed = True
            if changed:
                await uow.commit()

    # --- GetCompositeSchedule ------------------------------------------------------------------

    async def composite_schedule(
        self,
        station_id: str,
        evse_id: int,
        duration_s: int,
        rate_unit: RateUnit | None = None,
    ) -> CompositeScheduleReply:
        """TC_066, K08 (TC_K_43 one EVSE, TC_K_44 EVSE 0: the whole station)."""
        if evse_id < 0 or duration_s <= 0:
            raise InvalidRequest("evse_id is 0 or more and duration_s more than 0")
        return await self._control.get_composite_schedule(
            station_id, evse_id, duration_s, rate_unit
        )

    # --- GetChargingProfiles / ReportChargingProfiles (2.x) ------------------------------------

    async def request_report(
        self, station_id: str, criteria: ReportCriteria, *, wait_s: float = 5.0
    ) -> ReportResult:
        """K09 (TC_K_29-36, TC_K_52): ask the station for its profiles and wait up to `wait_s`
        for its last ReportChargingProfiles."""
        request_id = self._new_id()
        key = (station_id, request_id)
        done = asyncio.Event()
        self._reports[key] = done
        try:
            outcome = await self._control.get_charging_profiles(station_id, request_id, criteria)
            complete = outcome.status == "NoProfiles"
            if outcome.status == "Accepted" and wait_s > 0:
                try:
                    await asyncio.wait_for(done.wait(), wait_s)
                    complete = True
                except TimeoutError:
                    log.info("%s: report %s not complete in %g s", station_id, request_id, wait_s)
        finally:
            self._reports.pop(key, None)
        async with self._uow() as uow:
            reported = await uow.charging_profiles.for_station(
                station_id, source=ProfileSource.REPORT
            )
        mine = [r for r in reported if r.request_id == request_id]
        return ReportResult(outcome, request_id, complete, mine)

    async def profiles_reported(
        self,
        station_id: str,
        *,
        request_id: int,
        limit_source: ChargingLimitSource,
        evse_id: int,
        profiles: Sequence[ChargingProfile],
        more_to_come: bool,
    ) -> None:
        """ReportChargingProfiles: what the station holds now replaces what it reported
        before for the same profile id and EVSE."""
        now = self._clock.now()
        async with self._uow() as uow:
            earlier = await uow.charging_profiles.for_station(
                station_id, statuses=(ProfileStatus.REPORTED,), source=ProfileSource.REPORT
            )
            for profile in profiles:
                for old in earlier:
                    if (old.profile.id, old.profile.evse_id) == (profile.id, evse_id):
                        await uow.charging_profiles.save(
                            replace(old, status=ProfileStatus.REPLACED, updated_at=now)
                        )
                await uow.charging_profiles.add(
                    ProfileRecord(
                        station_id,
                        replace(profile, evse_id=evse_id),
                        ProfileSource.REPORT,
                        ProfileStatus.REPORTED,
                        now,
                        now,
                        limit_source=limit_source,
                        request_id=request_id,
                    )
                )
            await uow.commit()
        if not more_to_come:
            waiter = self._reports.get((station_id, request_id))
            if waiter is not None:
                waiter.set()

    # --- external limits (2.x K12 / K13) ------------------------------------------------------

    async def external_limit(
        self,
        station_id: str,
        *,
        evse_id: int,
        limit_source: ChargingLimitSource,
        profiles: Sequence[ChargingProfile],
        grid_critical: bool | None = None,
    ) -> None:
        """NotifyChargingLimit (TC_K_48): an EMS or the grid operator set a limit at the
        station; its schedules are kept as external-constraints profiles."""
        now = self._clock.now()
        info = "grid critical" if grid_critical else None
        async with self._uow() as uow:
            earlier = await self._external(uow, station_id, evse_id, limit_source)
            for old in earlier:
                await uow.charging_profiles.save(
                    replace(old, status=ProfileStatus.REPLACED, updated_at=now)
                )
            for profile in profiles:
                await uow.charging_profiles.add(
                    ProfileRecord(
                        station_id,
                        replace(profile, evse_id=evse_id),
                        ProfileSource.EXTERNAL,
                        ProfileStatus.REPORTED,
                        now,
                        now,
                        status_info=info,
                        limit_source=limit_source,
                    )
                )
            await uow.commit()

    async def external_limit_cleared(
        self, station_id: str, *, evse_id: int | None, limit_source: ChargingLimitSource
    ) -> int:
        """ClearedChargingLimit (TC_K_50/51): the external limit no longer applies."""
        now = self._clock.now()
        async with self._uow() as uow:
            earlier = await self._external(uow, station_id, evse_id, limit_source)
            for old in earlier:
                await uow.charging_profiles.save(
                    replace(old, status=ProfileStatus.CLEARED, updated_at=now)
                )
            await uow.commit()
        return len(earlier)

    @staticmethod
    async def _external(
        uow: UnitOfWork, station_id: str, evse_id: int | None, limit_source: ChargingLimitSource
    ) -> list[ProfileRecord]:
        held = await uow.charging_profiles.for_station(
            station_id, statuses=(ProfileStatus.REPORTED,), source=ProfileSource.EXTERNAL
        )
        return [
            r
            for r in held
            if r.limit_source is limit_source and (evse_id is None or r.profile.evse_id == evse_id)
        ]

    # --- remote start with a charging profile --------------------------------------------------

    async def remote_start(
        self,
        station_id: str,
        id_token: IdToken,
        *,
        evse_id: int | None = None,
        profile: ChargingProfile | None = None,
    ) -> RemoteStartResult:
        """RemoteStartTransaction / RequestStartTransaction with a TxProfile (TC_059, K05 /
        TC_K_37). The profile is recorded for the EVSE and lives as long as the transaction."""
        record: ProfileRecord | None = None
        if profile is not None:
            if profile.purpose is not ProfilePurpose.TX or profile.transaction_id is not None:
                raise InvalidRequest(
                    "a remote start carries a TxProfile without a transaction id",
                    problem="invalid-charging-profile",
                )
            profile = replace(profile, evse_id=evse_id or 0)
            try:
                check_profile(replace(profile, evse_id=max(profile.evse_id, 1)))
            except InvalidProfile as error:
                raise InvalidRequest(str(error), problem="invalid-charging-profile") from error
        remote_start_id = self._new_id()
        outcome = await self._control.remote_start_with_profile(
            station_id,
            id_token,
            evse_id=evse_id,
            remote_start_id=remote_start_id,
            profile=profile,
        )
        if profile is not None:
            now = self._clock.now()
            status = ProfileStatus.ACCEPTED if outcome.accepted else ProfileStatus.REJECTED
            async with self._uow() as uow:
                record = await uow.charging_profiles.add(
                    ProfileRecord(station_id, profile, ProfileSource.OPERATOR, status, now, now)
                )
                await uow.commit()
        return RemoteStartResult(outcome, remote_start_id, record)

    # --- ISO 15118 EVs: charging needs and schedules (K15-K17) ---------------------------------

    async def ev_charging_needs(self, station_id: str, needs: EVChargingNeeds) -> str:
        """NotifyEVChargingNeeds (TC_K_53/57/59): Accepted when there is a transaction on the
        EVSE to offer a schedule for (the caller then sends it with `offer_schedule`)."""
        async with self._uow() as uow:
            transaction = await self._transaction_on(uow, station_id, needs.evse_id)
        if transaction is None:
            return "Rejected"
        self._ev_needs[(station_id, needs.evse_id)] = needs
        return "Accepted"

    async def offer_schedule(
        self, station_id: str, evse_id: int, *, limit_w: Decimal | None = None
    ) -> ProfileResult | None:
        """Send the EV on `evse_id` a TxProfile for its transaction (TC_K_53/57/59 after its
        needs, TC_K_58 renegotiation started by the CSMS with a new `limit_w`): at most what the
        EV, the EVSE and the station's site limit allow. None: no transaction there."""
        async with self._uow() as uow:
            transaction = await self._transaction_on(uow, station_id, evse_id)
            if transaction is None:
                return None
            entry = await uow.catalog.get_site(station_id)
            evse_max = max(
                (
                    Decimal(c.max_power_w)
                    for c in (entry.connectors if entry else ())
                    if c.evse_id == evse_id
                ),
                default=self._default_evse_w,
            )
            station_limit = None
            if await uow.sites.membership(station_id) is not None:
                history = await uow.charging_profiles.for_station(
                    station_id, source=ProfileSource.LOAD_MANAGEMENT
                )
                station_limit = limit_in_force(
                    [(r.status, first_limit_w(r.profile)) for r in history]
                )
            earlier = await uow.charging_profiles.for_station(
                station_id, source=ProfileSource.EV_NEGOTIATION
            )
            used = await uow.charging_profiles.used_ids(station_id)
        key = (station_id, evse_id)
        if limit_w is not None:
            self._caps[key] = (transaction.transaction_id, limit_w)
        cap = self._caps.get(key)
        if cap is not None and cap[0] == transaction.transaction_id:
            station_limit = min(cap[1], station_limit) if station_limit is not None else cap[1]
        limit = offered_limit_w(self._ev_needs.get(key), evse_max, station_limit)
        if limit_w is not None:  # the CSMS's new limit, whatever the EV asked for before
            limit = offered_limit_w(None, evse_max, station_limit)
        same = [
            r.profile.id for r in earlier if r.profile.transaction_id == transaction.transaction_id
        ]
        profile_id = (
            same[-1]
            if same
            else next_profile_id([i for i in used if i < LOAD_MANAGEMENT_PROFILE_ID])
        )
        profile = ev_profile(profile_id, evse_id, transaction.transaction_id, limit)
        log.info("%s/%s: offering %s W to the EV", station_id, evse_id, limit)
        return await self.set_profile(station_id, profile, source=ProfileSource.EV_NEGOTIATION)

    async def ev_charging_schedule(
        self,
        station_id: str,
        evse_id: int,
        periods: Sequence[tuple[int, Decimal]],
        rate_unit: RateUnit,
    ) -> str:
        """NotifyEVChargingSchedule (TC_K_53/55): Accepted when the EV's schedule stays within
        the TxProfile offered for its transaction, else Rejected (the caller renegotiates)."""
        async with self._uow() as uow:
            transaction = await self._transaction_on(uow, station_id, evse_id)
            held = await uow.charging_profiles.for_station(
                station_id, statuses=(ProfileStatus.ACCEPTED, ProfileStatus.SENT)
            )  # an offer the station accepted before its answer was read is still in force
        offered = [
            first_limit_w(r.profile)
            for r in held
            if r.profile.purpose is ProfilePurpose.TX
            and r.profile.evse_id == evse_id
            and transaction is not None
            and r.profile.transaction_id in (None, transaction.transaction_id)
        ]
        limits = [limit for limit in offered if limit is not None]
        if not limits:
            return "Accepted"  # nothing offered: nothing to hold the EV to
        return "Accepted" if schedule_within(periods, rate_unit, min(limits)) else "Rejected"

    @staticmethod
    async def _transaction_on(uow: UnitOfWork, station_id: str, evse_id: int) -> Transaction | None:
        running = await uow.active_transactions.list([station_id])
        on_evse = [t for t in running if t.key.evse_id == evse_id]
        return on_evse[-1] if on_evse else None

    def now(self) -> datetime:
        return self._clock.now()


def _sent_after(record: ProfileRecord, other: ProfileRecord) -> bool:
    """Whether `record` was sent after `other` (records are added just before sending)."""
    return (record.row_id or 0) > (other.row_id or 0)
