"""Reservations of a connector for a number of minutes (1.6 ReserveNow, 2.0.1 H01/H02)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

MIN_MINUTES = 1
MAX_MINUTES = 120


class ReservationStatus(StrEnum):
    PENDING = "Pending"  # stored, ReserveNow not answered yet
    ACCEPTED = "Accepted"
    OCCUPIED = "Occupied"
    FAULTED = "Faulted"
    UNAVAILABLE = "Unavailable"
    REJECTED = "Rejected"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"
    USED = "Used"  # a session started with it
    FAILED = "Failed"  # the station could not be reached


# The answers a station gives to ReserveNow (1.6 and 2.0.1 share them).
STATION_ANSWERS = frozenset(
    {
        ReservationStatus.ACCEPTED,
        ReservationStatus.OCCUPIED,
        ReservationStatus.FAULTED,
        ReservationStatus.UNAVAILABLE,
        ReservationStatus.REJECTED,
    }
)


class InvalidReservation(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int
    station_id: str
    evse_id: int
    user_id: str
    id_token: str
    status: ReservationStatus
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        """Holding the connector: accepted by the station and not expired."""
        return self.status is ReservationStatus.ACCEPTED and now < self.expires_at


def expiry(now: datetime, minutes: int, *, max_minutes: int = MAX_MINUTES) -> datetime:
    if not MIN_MINUTES <= minutes <= max_minutes:
        raise InvalidReservation(f"a reservation lasts {MIN_MINUTES} to {max_minutes} minutes")
    return now + timedelta(minutes=minutes)


def station_answer(reservation: Reservation, status: str | None, now: datetime) -> Reservation:
    """Apply the station's answer to ReserveNow; an unknown status counts as Rejected."""
    try:
        outcome = ReservationStatus(status or "")
    except ValueError:
        outcome = ReservationStatus.REJECTED
    if outcome not in STATION_ANSWERS:
        outcome = ReservationStatus.REJECTED
    ended = None if outcome is ReservationStatus.ACCEPTED else now
    return replace(reservation, status=outcome, ended_at=ended)


def end(reservation: Reservation, status: ReservationStatus, now: datetime) -> Reservation:
    return replace(reservation, status=status, ended_at=now)


def expire_if_due(reservation: Reservation, now: datetime) -> Reservation | None:
    """The expired reservation, or None if it is not an accepted reservation past its expiry."""
    if reservation.status is ReservationStatus.ACCEPTED and now >= reservation.expires_at:
        return replace(
            reservation, status=ReservationStatus.EXPIRED, ended_at=reservation.expires_at
        )
    return None
