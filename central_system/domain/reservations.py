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


class ReservationUse(StrEnum):
    """What a transaction that names a reservation does to it (TC_046, TC_053, TC_H_19)."""

    USED = "Used"  # the reserved token, or one of its group: the reservation ends, used
    WRONG_TOKEN = "WrongToken"  # someone else: refused, the reservation stays
    NOT_ACTIVE = "NotActive"  # no such active reservation here: nothing to do


def use(
    reservation: Reservation | None,
    *,
    station_id: str,
    presented: str | None,
    presented_group: str | None,
    reserved_group: str | None,
    now: datetime,
) -> ReservationUse:
    """Whether the token that starts a transaction with this reservation may use it: the
    reserved token itself, or a token with the reservation's parent id tag / group id."""
    if (
        reservation is None
        or reservation.station_id != station_id
        or not reservation.is_active(now)
        or presented is None
    ):
        return ReservationUse.NOT_ACTIVE
    if presented == reservation.id_token:
        return ReservationUse.USED
    if reserved_group is not None and presented_group == reserved_group:
        return ReservationUse.USED
    return ReservationUse.WRONG_TOKEN


# 2.0.1 ReservationStatusUpdate: the station ended a reservation by itself (H03/H04).
_STATION_ENDS = {"Expired": ReservationStatus.EXPIRED, "Removed": ReservationStatus.CANCELLED}


def ended_by_station(reservation: Reservation, update: str, now: datetime) -> Reservation | None:
    """The reservation after the station says it expired (TC_H_07) or removed it (e.g. the
    EVSE faulted, TC_H_20); None when it is already over or the update is unknown."""
    status = _STATION_ENDS.get(update)
    if status is None or reservation.status not in (
        ReservationStatus.ACCEPTED,
        ReservationStatus.PENDING,
    ):
        return None
    ended = min(now, reservation.expires_at) if status is ReservationStatus.EXPIRED else now
    return replace(reservation, status=status, ended_at=ended)
