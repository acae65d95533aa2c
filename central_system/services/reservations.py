"""Reservations from the app (1.6 ReserveNow/CancelReservation, 2.0.1 H01/H02).

The reservation holds an id token value known only to the central system and the station; a
session started with the reservation uses that value for its charging authorization, so the
station lets exactly that session use the reserved connector."""

from __future__ import annotations

import logging

from central_system.domain import reservations as rules
from central_system.domain.accounts import Principal, may_charge
from central_system.domain.authorization import IdToken
from central_system.domain.reservations import Reservation, ReservationStatus
from central_system.services.errors import Conflict, Forbidden, InvalidRequest, NotFound
from central_system.services.ports import (
    Clock,
    IdGenerator,
    Page,
    StationControl,
    UnitOfWorkFactory,
)
from central_system.services.station_reservations import save_reservation, send_reservation

log = logging.getLogger(__name__)

CHARGING_AUTHORIZATION_TYPE = "Central"


class ReservationService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        control: StationControl,
        ids: IdGenerator,
        *,
        max_minutes: int = rules.MAX_MINUTES,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._control = control
        self._ids = ids
        self._max_minutes = max_minutes

    async def reserve(
        self, principal: Principal, station_id: str, evse_id: int, minutes: int
    ) -> Reservation:
        """Send ReserveNow; raises Conflict (problem reservation-refused) unless the station
        accepts, or StationOffline / StationCallTimeout / StationCallError."""
        if not may_charge(principal):
            raise Forbidden("you may not reserve")
        now = self._clock.now()
        try:
            expires_at = rules.expiry(now, minutes, max_minutes=self._max_minutes)
        except rules.InvalidReservation as error:
            raise InvalidRequest(str(error)) from error
        async with self._uow() as uow:
            site = await uow.catalog.get_site(station_id)
            if site is None:
                raise NotFound(f"no station {station_id}")
            if evse_id not in {c.evse_id for c in site.connectors}:
                raise InvalidRequest(f"station {station_id} has no EVSE {evse_id}")
            if await uow.reservations.active_for_evse(station_id, evse_id, now) is not None:
                raise Conflict("the connector is reserved", problem="connector-reserved")
            reservation = await uow.reservations.add(
                Reservation(
                    id=0,
                    station_id=station_id,
                    evse_id=evse_id,
                    user_id=principal.user_id,
                    id_token=self._ids.token(),
                    status=ReservationStatus.PENDING,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            await uow.commit()
        reservation = await send_reservation(
            self._uow,
            self._clock,
            self._control,
            reservation,
            IdToken(reservation.id_token, CHARGING_AUTHORIZATION_TYPE),
        )
        if reservation.status is not ReservationStatus.ACCEPTED:
            raise Conflict(
                f"the station answered {reservation.status.value}",
                problem="reservation-refused",
                reservation_id=reservation.id,
                station_status=reservation.status.value,
            )
        return reservation

    async def get(self, principal: Principal, reservation_id: int) -> Reservation:
        async with self._uow() as uow:
            reservation = await uow.reservations.get(reservation_id)
        if reservation is None or not (
            principal.is_admin or reservation.user_id == principal.user_id
        ):
            raise NotFound(f"no reservation {reservation_id}")
        return reservation

    async def cancel(self, principal: Principal, reservation_id: int) -> Reservation:
        """Send CancelReservation; raises Conflict when the reservation is not active or the
        station refuses."""
        reservation = await self.get(principal, reservation_id)
        if not reservation.is_active(self._clock.now()):
            raise Conflict(
                f"the reservation is {reservation.status.value}", problem="reservation-not-active"
            )
        answer = await self._control.cancel_reservation(reservation.station_id, reservation.id)
        if not answer.accepted:
            raise Conflict(
                f"the station answered {answer.status}",
                problem="cancellation-refused",
                station_status=answer.status,
            )
        reservation = rules.end(reservation, ReservationStatus.CANCELLED, self._clock.now())
        await save_reservation(self._uow, reservation)
        return reservation

    async def list(self, principal: Principal, *, limit: int, offset: int) -> Page[Reservation]:
        user = None if principal.is_admin else principal.user_id
        async with self._uow() as uow:
            return await uow.reservations.list(user_id=user, limit=limit, offset=offset)

    async def expire_due(self) -> int:
        """Mark accepted reservations past their expiry Expired (the station frees the connector
        by itself at that time). Runs every few seconds: it looks without the write lock first
        (on SQLite the group-commit writer would wait for it), and takes it only to expire."""
        now = self._clock.now()
        async with self._uow.reading() as uow:
            if not await uow.reservations.due_to_expire(now):
                return 0
        async with self._uow() as uow:
            expired = 0
            for due in await uow.reservations.due_to_expire(now):
                reservation = rules.expire_if_due(due, now)
                if reservation is not None:
                    await uow.reservations.save(reservation)
                    expired += 1
            await uow.commit()
        return expired
