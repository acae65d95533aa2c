"""Reservations made by operators, and what stations do with reservations (1.6 Reservation
profile, 2.0.1 H01-H04; TC_046-TC_053, TC_H_01-22).

An operator reserves an EVSE (or, with no EVSE, the whole station: 1.6 connector 0, TC_049; an
unspecified EVSE in 2.0.1, TC_H_08/14) for an id token; the token's group (parent id tag) from
the registry goes along, so any token of the group may use it (TC_053, TC_H_19). A transaction
that starts with the reservation's id and the right token uses it up; another token is refused.
The station's own answers (Accepted, Occupied, Faulted, Unavailable, Rejected: TC_048, TC_H_22)
and its ReservationStatusUpdate (TC_H_07, TC_H_20) are kept on the reservation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from central_system.domain import reservations as rules
from central_system.domain.accounts import Principal
from central_system.domain.authorization import (
    MAX_ID_TOKEN_LENGTH,
    AuthorizationStatus,
    IdToken,
    IdTokenInfo,
)
from central_system.domain.reservations import Reservation, ReservationStatus, ReservationUse
from central_system.services.errors import Conflict, InvalidRequest, NotFound
from central_system.services.ports import (
    Clock,
    CommandOutcome,
    StationCallError,
    StationCallTimeout,
    StationControl,
    StationOffline,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)

# The reservation table keeps tokens of at most 20 characters (the 1.6 idTag length).
MAX_RESERVATION_TOKEN_LENGTH = min(20, MAX_ID_TOKEN_LENGTH)


@dataclass(frozen=True, slots=True)
class Cancellation:
    reservation: Reservation
    outcome: CommandOutcome


class StationReservationService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        control: StationControl,
        *,
        max_minutes: int = rules.MAX_MINUTES,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._control = control
        self._max = timedelta(minutes=max_minutes)

    async def reserve(
        self,
        operator: Principal,
        station_id: str,
        id_token: str,
        *,
        evse_id: int | None,
        expires_at: datetime,
        connector_type: str | None = None,
    ) -> Reservation:
        """ReserveNow for `id_token` on `evse_id` (None: any EVSE / the whole station, 2.x: of
        `connector_type`). The reservation carries the station's answer; only Accepted holds
        the EVSE. Raises Conflict when that EVSE is reserved already, or the station errors;
        how many unspecified reservations a station takes is the station's to say (TC_H_14)."""
        now = self._clock.now()
        if not 0 < len(id_token) <= MAX_RESERVATION_TOKEN_LENGTH:
            raise InvalidRequest(
                f"a reserved id token has 1 to {MAX_RESERVATION_TOKEN_LENGTH} characters"
            )
        if not now < expires_at <= now + self._max:
            raise InvalidRequest(
                f"a reservation expires in the future, at most {self._max} from now"
            )
        async with self._uow() as uow:
            if await uow.stations.get(station_id) is None:
                raise NotFound(f"no station {station_id}")
            if (
                evse_id is not None
                and await uow.reservations.active_for_evse(station_id, evse_id, now) is not None
            ):
                raise Conflict("the EVSE is reserved already", problem="connector-reserved")
            record = await uow.tokens.get(id_token)
            reservation = await uow.reservations.add(
                Reservation(
                    id=0,
                    station_id=station_id,
                    evse_id=evse_id or 0,
                    user_id=operator.user_id,
                    id_token=id_token,
                    status=ReservationStatus.PENDING,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            await uow.commit()
        return await send_reservation(
            self._uow,
            self._clock,
            self._control,
            reservation,
            IdToken(id_token, record.type if record else None),
            group_id=record.group_id if record else None,
            connector_type=connector_type,
        )

    async def cancel(self, station_id: str, reservation_id: int) -> Cancellation:
        """CancelReservation (TC_051, TC_H_17); a Rejected answer (TC_052) leaves the
        reservation as it is."""
        async with self._uow() as uow:
            reservation = await uow.reservations.get(reservation_id)
        if reservation is None or reservation.station_id != station_id:
            raise NotFound(f"no reservation {reservation_id} at station {station_id}")
        if not reservation.is_active(self._clock.now()):
            raise Conflict(
                f"the reservation is {reservation.status.value}", problem="reservation-not-active"
            )
        outcome = await self._control.cancel_reservation(station_id, reservation_id)
        if outcome.accepted:
            reservation = rules.end(reservation, ReservationStatus.CANCELLED, self._clock.now())
            await save_reservation(self._uow, reservation)
        return Cancellation(reservation, outcome)

    async def get(self, station_id: str, reservation_id: int) -> Reservation:
        async with self._uow() as uow:
            reservation = await uow.reservations.get(reservation_id)
        if reservation is None or reservation.station_id != station_id:
            raise NotFound(f"no reservation {reservation_id} at station {station_id}")
        return reservation

    async def station_update(self, station_id: str, reservation_id: int, update: str) -> None:
        """2.0.1 ReservationStatusUpdate: the station ended the reservation (Expired,
        Removed)."""
        now = self._clock.now()
        async with self._uow() as uow:
            reservation = await uow.reservations.get(reservation_id)
            if reservation is None or reservation.station_id != station_id:
                log.warning(
                    "%s: status update of unknown reservation %s", station_id, reservation_id
                )
                return
            ended = rules.ended_by_station(reservation, update, now)
            if ended is not None:
                await uow.reservations.save(ended)
                await uow.commit()


async def send_reservation(
    uow: UnitOfWorkFactory,
    clock: Clock,
    control: StationControl,
    reservation: Reservation,
    id_token: IdToken,
    *,
    group_id: str | None = None,
    connector_type: str | None = None,
) -> Reservation:
    """ReserveNow for a reservation recorded Pending (EVSE 0: any EVSE / the whole station);
    the station's answer is kept on it. A station that cannot be asked leaves it Failed and
    the error is raised (StationOffline, StationCallTimeout, StationCallError, ValueError)."""
    try:
        answer = await control.reserve_now(
            reservation.station_id,
            reservation_id=reservation.id,
            expires_at=reservation.expires_at,
            id_token=id_token,
            evse_id=reservation.evse_id or None,
            group_id=group_id,
            connector_type=connector_type,
        )
    except (StationOffline, StationCallTimeout, StationCallError, ValueError):
        await save_reservation(uow, rules.end(reservation, ReservationStatus.FAILED, clock.now()))
        raise
    reservation = rules.station_answer(reservation, answer.status, clock.now())
    await save_reservation(uow, reservation)
    return reservation


async def save_reservation(uow: UnitOfWorkFactory, reservation: Reservation) -> None:
    async with uow() as unit:
        await unit.reservations.save(reservation)
        await unit.commit()


async def use_reservation(
    uow: UnitOfWork,
    station_id: str,
    reservation_id: int,
    token: IdToken | None,
    info: IdTokenInfo | None,
    now: datetime,
) -> IdTokenInfo | None:
    """At a transaction start that names a reservation (inside its unit of work): the right
    token uses the reservation up; another token is answered Invalid and the reservation
    stays (the station should not have let it start)."""
    reservation = await uow.reservations.get(reservation_id)
    reserved_group = None
    if reservation is not None:
        reserved = await uow.tokens.get(reservation.id_token)
        reserved_group = reserved.group_id if reserved else None
    decision = rules.use(
        reservation,
        station_id=station_id,
        presented=token.value if token else None,
        presented_group=info.group_id if info else None,
        reserved_group=reserved_group,
        now=now,
    )
    if decision is ReservationUse.USED and reservation is not None:
        await uow.reservations.save(
            replace(reservation, status=ReservationStatus.USED, ended_at=now)
        )
    elif decision is ReservationUse.WRONG_TOKEN:
        log.warning(
            "%s: transaction with reservation %s by another token: refused",
            station_id,
            reservation_id,
        )
        return IdTokenInfo(
            AuthorizationStatus.INVALID,
            info.expires_at if info else None,
            info.group_id if info else None,
        )
    return info
