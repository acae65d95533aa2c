"""Charging sessions started from the app, and the live view the driver watches.

A session is the app's side of a transaction: the payment hold, the short-lived charging
authorization (an id token of type Central issued for this session only) and the remote start.
It becomes Charging when the station starts a transaction with that token, and Completed when the
transaction ends and the receipt is written. Time estimates are estimates: to 80 % at the present
power, above 80 % at a tapering power (CC/CV charging slows down near full).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from central_system.domain.tariffs import PriceBreakdown, Tariff, price
from central_system.domain.transactions import Transaction

TAPER_SOC = Decimal(80)
FULL_SOC = Decimal(100)
# Average power above 80 % as a fraction of the power measured below it, and of the power
# measured when already above 80 %.
TAPER_FACTOR_FROM_BELOW = Decimal("0.5")
TAPER_FACTOR_ABOVE = Decimal("0.75")
MIN_SOC_GAIN_FOR_ESTIMATE = Decimal(2)  # percentage points before the capacity is estimated
MAX_BATTERY_WH = 300_000


class SessionStatus(StrEnum):
    STARTING = "Starting"  # payment held, remote start being sent
    PENDING = "Pending"  # the station accepted the remote start; waiting for the transaction
    CHARGING = "Charging"
    STOPPING = "Stopping"  # the station accepted the remote stop
    COMPLETED = "Completed"
    FAILED = "Failed"


OPEN_STATUSES = frozenset(
    {SessionStatus.STARTING, SessionStatus.PENDING, SessionStatus.CHARGING, SessionStatus.STOPPING}
)


class SessionError(ValueError):
    """A request that the session's state does not allow."""


@dataclass(frozen=True, slots=True)
class ChargingSession:
    id: str
    user_id: str
    station_id: str
    evse_id: int
    id_token: str
    remote_start_id: int
    tariff_id: int
    tariff: Tariff
    status: SessionStatus
    created_at: datetime
    payment_reference: str | None = None
    preauthorized_amount: Decimal | None = None
    battery_capacity_wh: int | None = None
    reservation_id: int | None = None
    transaction_row_id: int | None = None
    transaction_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    failure_reason: str | None = None

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES


def link_transaction(session: ChargingSession, transaction: Transaction) -> ChargingSession:
    """The station started the transaction with this session's token."""
    if transaction.row_id is None:
        raise SessionError("the transaction is not stored")
    status = session.status
    if status in (SessionStatus.STARTING, SessionStatus.PENDING):
        status = SessionStatus.CHARGING
    return replace(
        session,
        status=status,
        transaction_row_id=transaction.row_id,
        transaction_id=transaction.transaction_id,
        started_at=transaction.started_at,
    )


def fail(session: ChargingSession, reason: str, now: datetime) -> ChargingSession:
    return replace(session, status=SessionStatus.FAILED, failure_reason=reason, ended_at=now)


def start_timed_out(session: ChargingSession, now: datetime, timeout: timedelta) -> bool:
    """The remote start was accepted long ago and no transaction came."""
    return (
        session.status in (SessionStatus.STARTING, SessionStatus.PENDING)
        and session.transaction_row_id is None
        and now - session.created_at >= timeout
    )


def estimate_capacity_wh(
    energy_wh: int | None, soc_start: Decimal | None, soc_now: Decimal | None
) -> int | None:
    """The battery capacity implied by the energy delivered for the SoC gained, when the gain is
    large enough to mean something."""
    if energy_wh is None or soc_start is None or soc_now is None or energy_wh <= 0:
        return None
    gain = soc_now - soc_start
    if gain < MIN_SOC_GAIN_FOR_ESTIMATE:
        return None
    capacity = int(Decimal(energy_wh) * 100 / gain)
    return capacity if 0 < capacity <= MAX_BATTERY_WH else None


def time_to_soc(
    soc: Decimal | None, power_w: Decimal | None, capacity_wh: int | None, target: Decimal
) -> timedelta | None:
    """Estimated time until the battery reaches `target` percent, None when unknown."""
    if soc is None or capacity_wh is None or capacity_wh <= 0:
        return None
    if soc >= target:
        return timedelta(0)
    if power_w is None or power_w <= 0:
        return None
    capacity = Decimal(capacity_wh)
    seconds = Decimal(0)
    if soc < TAPER_SOC:
        below = min(target, TAPER_SOC) - soc
        seconds += below / 100 * capacity / power_w * 3600
        if target > TAPER_SOC:
            above = target - TAPER_SOC
            seconds += above / 100 * capacity / (power_w * TAPER_FACTOR_FROM_BELOW) * 3600
    else:
        seconds += (target - soc) / 100 * capacity / (power_w * TAPER_FACTOR_ABOVE) * 3600
    return timedelta(seconds=int(seconds.to_integral_value()))


@dataclass(frozen=True, slots=True)
class LiveView:
    """What the app shows while charging."""

    soc_percent: Decimal | None
    power_w: Decimal | None
    energy_wh: int
    elapsed: timedelta
    cost: PriceBreakdown
    time_to_80: timedelta | None
    time_to_full: timedelta | None
    sampled_at: datetime | None
    battery_capacity_wh: int | None


def live_view(
    session: ChargingSession,
    transaction: Transaction | None,
    now: datetime,
) -> LiveView:
    """The live values of a session: from its transaction when there is one, priced with the
    session's tariff; the elapsed time stops at the transaction's end."""
    if transaction is None:
        nothing = price(session.tariff, energy_wh=0, duration=timedelta(0))
        return LiveView(
            None, None, 0, timedelta(0), nothing, None, None, None, session.battery_capacity_wh
        )
    until = transaction.stopped_at or now
    elapsed = max(until - transaction.started_at, timedelta(0))
    energy = transaction.energy_wh or 0
    live = transaction.live
    capacity = session.battery_capacity_wh or estimate_capacity_wh(
        energy, live.start_soc_percent, live.soc_percent
    )
    charging = not transaction.ended
    soc, power = live.soc_percent, live.power_w
    return LiveView(
        soc_percent=soc,
        power_w=power if charging else Decimal(0),
        energy_wh=energy,
        elapsed=elapsed,
        cost=price(session.tariff, energy_wh=energy, duration=elapsed),
        time_to_80=time_to_soc(soc, power, capacity, TAPER_SOC) if charging else None,
        time_to_full=time_to_soc(soc, power, capacity, FULL_SOC) if charging else None,
        sampled_at=live.sampled_at,
        battery_capacity_wh=capacity,
    )
