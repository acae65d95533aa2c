"""Load management: share a site's power budget (a grid connection limit) between the charging
sessions behind it, with equal-share or priority policies (issue: smart charging, K01 from the
CSMS side).

The allocation is recomputed whenever a session starts or ends; the caller sends each station
the new limits, lowering limits before raising any, so that the sum stays within the budget
while profiles are being replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from schemas.charging_profiles import (
    ChargingProfile,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
)


class SharePolicy(StrEnum):
    EQUAL = "equal"
    PRIORITY = "priority"


@dataclass(frozen=True, slots=True)
class Demand:
    """A session (or a connector that may start one) behind the site limit."""

    key: str  # e.g. "CP-1/1"
    max_w: Decimal  # what the connector (and the EV, if known) can take
    priority: int = 0  # higher first under the PRIORITY policy
    min_w: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Allocation:
    limits: dict[str, Decimal]

    @property
    def total_w(self) -> Decimal:
        return sum(self.limits.values(), Decimal(0))


_WATT = Decimal(1)


def _equal_share(budget: Decimal, demands: Sequence[Demand]) -> dict[str, Decimal]:
    """Water-filling: everyone gets an equal share; what a session cannot use goes to others."""
    limits = {d.key: Decimal(0) for d in demands}
    open_demands = list(demands)
    remaining = budget
    while open_demands and remaining > 0:
        share = (remaining / len(open_demands)).quantize(_WATT, rounding=ROUND_DOWN)
        if share <= 0:
            break
        satisfied = [d for d in open_demands if d.max_w - limits[d.key] <= share]
        if not satisfied:
            for d in open_demands:
                limits[d.key] += share
            remaining -= share * len(open_demands)
            break
        for d in satisfied:
            remaining -= d.max_w - limits[d.key]
            limits[d.key] = d.max_w
        open_demands = [d for d in open_demands if d not in satisfied]
    return limits


def allocate(
    budget_w: Decimal, demands: Sequence[Demand], policy: SharePolicy = SharePolicy.EQUAL
) -> Allocation:
    """Limits per session whose sum never exceeds `budget_w`.

    A session below its minimum cannot charge at all (an EV's minimum charging rate), so
    minimums are granted first, in priority order, to the sessions whose minimum still fits;
    the others get 0 and no share. The rest is shared by the policy: EQUAL water-fills, PRIORITY
    serves higher priorities fully before lower ones (equal share among equal priorities).
    """
    if budget_w < 0:
        raise ValueError("a budget cannot be negative")
    limits = {d.key: Decimal(0) for d in demands}
    admitted: list[Demand] = []
    remaining = budget_w
    for d in sorted(demands, key=lambda d: -d.priority):
        floor = min(d.min_w, d.max_w)
        if floor <= remaining:
            limits[d.key] = floor
            remaining -= floor
            admitted.append(d)
    rest = [
        Demand(d.key, d.max_w - limits[d.key], d.priority)
        for d in admitted
        if d.max_w > limits[d.key]
    ]
    if policy is SharePolicy.EQUAL:
        extra = _equal_share(remaining, rest)
    else:
        extra = {}
        for level in sorted({d.priority for d in rest}, reverse=True):
            group = [d for d in rest if d.priority == level]
            shares = _equal_share(remaining, group)
            extra.update(shares)
            remaining -= sum(shares.values(), Decimal(0))
    for key, value in extra.items():
        limits[key] += value
    return Allocation(limits)


def rollout_order(
    current: dict[str, Decimal], target: dict[str, Decimal]
) -> list[tuple[str, Decimal]]:
    """The changes to send, decreases first, so that at no moment the sum of the limits in
    force exceeds max(sum(current), sum(target))."""
    changes = [(key, value) for key, value in target.items() if current.get(key) != value]
    return sorted(changes, key=lambda change: change[1] - current.get(change[0], Decimal(0)))


@dataclass(frozen=True, slots=True)
class SessionLoad:
    """An active session behind the site limit: its key (station/EVSE) and what it can take."""

    key: str
    max_w: Decimal


@dataclass(frozen=True, slots=True)
class StationLoad:
    """A member station of a site as load management sees it.

    `in_force_w` is the station limit the station last accepted (None: it never accepted one,
    so it may draw up to `max_w`). An offline station keeps whatever it has in force."""

    station_id: str
    max_w: Decimal
    priority: int = 0
    sessions: tuple[SessionLoad, ...] = ()
    online: bool = True
    in_force_w: Decimal | None = None

    @property
    def drawable_w(self) -> Decimal:
        """The most this station can draw now, given the limit it has in force."""
        if self.in_force_w is None:
            return self.max_w
        return min(self.in_force_w, self.max_w)


def station_limits(
    budget_w: Decimal,
    stations: Sequence[StationLoad],
    policy: SharePolicy = SharePolicy.EQUAL,
    *,
    min_session_w: Decimal = Decimal(0),
) -> dict[str, Decimal]:
    """The limit each online station should have (offline stations keep theirs and are left
    out). Their sum plus what offline stations can draw never exceeds `budget_w`.

    Sessions share what offline stations leave by `policy` (a station's priority is its
    sessions' priority); a station's limit is the sum of its sessions' shares, at most its
    maximum. What the sessions cannot use is given to online stations as standby, shared
    equally up to their maximum, so that a session that starts before the next recomputation
    can charge at once - within its station's limit, so the site stays within its budget.
    """
    reserved = sum((s.drawable_w for s in stations if not s.online), Decimal(0))
    available = max(budget_w - reserved, Decimal(0))
    online = [s for s in stations if s.online]
    demands = [
        Demand(session.key, min(session.max_w, station.max_w), station.priority, min_session_w)
        for station in online
        for session in station.sessions
    ]
    shares = allocate(available, demands, policy).limits
    limits: dict[str, Decimal] = {}
    for station in online:
        own = sum((shares[session.key] for session in station.sessions), Decimal(0))
        limits[station.station_id] = min(own, station.max_w)
    leftover = available - sum(limits.values(), Decimal(0))
    headroom = [
        Demand(s.station_id, s.max_w - limits[s.station_id])
        for s in online
        if s.max_w > limits[s.station_id]
    ]
    for key, extra in _equal_share(leftover, headroom).items():
        limits[key] += extra
    return limits


def allowed_increase(
    in_force: dict[str, Decimal], station_id: str, target_w: Decimal, budget_w: Decimal
) -> Decimal:
    """How far `station_id` may be raised towards `target_w` while the limits in force stay
    within the budget (a lowering elsewhere that failed leaves less room). Never below the
    station's current limit."""
    current = in_force.get(station_id, Decimal(0))
    others = sum(in_force.values(), Decimal(0)) - current
    return max(min(target_w, budget_w - others), current)


# The profile load management keeps on every member station: one station maximum (1.6
# ChargePointMaxProfile / 2.0.1 ChargingStationMaxProfile) that it replaces on every change.
LOAD_MANAGEMENT_PROFILE_ID = 900_001
LOAD_MANAGEMENT_STACK_LEVEL = 0


def station_limit_profile(limit_w: Decimal, now: datetime) -> ChargingProfile:
    """The station maximum that puts `limit_w` in force. Its schedule starts a day before `now`
    so that a station whose clock is behind ours applies it at once."""
    start = (now - timedelta(days=1)).replace(microsecond=0)
    return ChargingProfile(
        id=LOAD_MANAGEMENT_PROFILE_ID,
        stack_level=LOAD_MANAGEMENT_STACK_LEVEL,
        purpose=ProfilePurpose.STATION_MAX,
        kind=ProfileKind.ABSOLUTE,
        rate_unit=RateUnit.W,
        periods=(SchedulePeriod(0, limit_w),),
        evse_id=0,
        start_schedule=start,
    )


def limit_in_force(history: Sequence[tuple[str, Decimal | None]]) -> Decimal | None:
    """The station limit a station has in force, from load management's profiles to it, oldest
    first, as (status, limit): None when none is (it may draw its maximum).

    accepted/replaced: it was in force; cleared: no limit any more; sent/failed (no answer, so
    perhaps applied): the higher of it and the one before; rejected: nothing changed."""
    current: Decimal | None = None
    for status, limit in history:
        if status in ("accepted", "replaced"):
            current = limit
        elif status == "cleared":
            current = None
        elif status in ("sent", "failed") and current is not None and limit is not None:
            current = max(current, limit)
    return current
