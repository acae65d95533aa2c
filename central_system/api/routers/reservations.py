"""Reservations: hold a connector for some minutes (ReserveNow), cancel (CancelReservation)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from central_system.api import convert
from central_system.api import schemas as s
from central_system.api.deps import Caller, Ctx, Pages
from central_system.api.problems import error_responses

router = APIRouter(prefix="/api/v1/reservations", tags=["reservations"])

ReservationPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post(
    "",
    response_model=s.ReservationOut,
    status_code=status.HTTP_201_CREATED,
    summary="Reserve a connector (the station answers Accepted, Occupied, Faulted, ...)",
    responses=error_responses(401, 403, 404, 409, 422, 502, 504),
)
async def reserve(ctx: Ctx, caller: Caller, body: s.ReservationIn) -> s.ReservationOut:
    """201 when the station accepted; otherwise 409 `reservation-refused` with the station's
    status in `station_status`."""
    reservation = await ctx.reservations.reserve(
        caller, body.station_id, body.evse_id, body.minutes
    )
    return convert.reservation(reservation)


@router.get("", response_model=s.PageOut[s.ReservationOut], responses=error_responses(401, 422))
async def list_reservations(ctx: Ctx, caller: Caller, pages: Pages) -> s.PageOut[s.ReservationOut]:
    found = await ctx.reservations.list(caller, limit=pages.limit, offset=pages.offset)
    return convert.page(
        [convert.reservation(r) for r in found.items], found, pages.limit, pages.offset
    )


@router.get(
    "/{reservation_id}", response_model=s.ReservationOut, responses=error_responses(401, 404, 422)
)
async def get_reservation(
    ctx: Ctx, caller: Caller, reservation_id: ReservationPath
) -> s.ReservationOut:
    return convert.reservation(await ctx.reservations.get(caller, reservation_id))


@router.delete(
    "/{reservation_id}",
    response_model=s.ReservationOut,
    summary="Cancel (CancelReservation)",
    responses=error_responses(401, 404, 409, 422, 502, 504),
)
async def cancel(ctx: Ctx, caller: Caller, reservation_id: ReservationPath) -> s.ReservationOut:
    return convert.reservation(await ctx.reservations.cancel(caller, reservation_id))
