"""Operator reservations of a station's EVSE (or of any EVSE / the whole station) for an id token,
with the station's own answer (TC_046-TC_053, TC_H_01-22)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, Field

from central_system.api.control_common import StationPath, audited
from central_system.api.deps import Ctx, Operator
from central_system.api.problems import error_responses
from central_system.domain.reservations import Reservation
from central_system.services.errors import InvalidRequest

router = APIRouter(prefix="/api/v1/stations/{station_id}/reservations", tags=["reservations"])

ReservationPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
ERRORS = error_responses(401, 403, 404, 409, 422, 502, 504)


class OperatorReservationIn(BaseModel):
    model_config = {
        "json_schema_extra": {"examples": [{"id_token": "RFID-0042", "evse_id": 1, "minutes": 30}]}
    }
    id_token: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[\x21-\x7e]+$")]
    evse_id: Annotated[int | None, Field(ge=1, le=100)] = Field(
        default=None,
        description="Leave out to reserve any EVSE (2.0.1) / the whole station (1.6 connector 0).",
    )
    connector_type: Annotated[str | None, Field(min_length=1, max_length=20)] = Field(
        default=None, description="2.x: reserve any EVSE with this connector type (e.g. cCCS2)."
    )
    minutes: Annotated[int | None, Field(ge=1, le=1440)] = None
    expires_at: datetime | None = Field(
        default=None, description="Instead of minutes: when the reservation ends (UTC)."
    )


class OperatorReservationOut(BaseModel):
    id: int = Field(description="The OCPP reservationId.")
    station_id: str
    evse_id: int | None = Field(description="None: any EVSE / the whole station.")
    id_token: str
    status: str = Field(
        description="Pending, the station's answer (Accepted, Occupied, Faulted, Unavailable, "
        "Rejected), or how it ended (Used, Expired, Cancelled, Failed)."
    )
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None


class CancellationOut(BaseModel):
    reservation: OperatorReservationOut
    status: str | None = Field(description="The station's answer to CancelReservation.")
    response: dict[str, Any]


def _out(r: Reservation) -> OperatorReservationOut:
    return OperatorReservationOut(
        id=r.id,
        station_id=r.station_id,
        evse_id=r.evse_id or None,
        id_token=r.id_token,
        status=r.status.value,
        created_at=r.created_at,
        expires_at=r.expires_at,
        ended_at=r.ended_at,
    )


@router.post(
    "",
    response_model=OperatorReservationOut,
    status_code=status.HTTP_201_CREATED,
    summary="Reserve for an id token (ReserveNow); the reservation carries the station's answer",
    responses=ERRORS,
)
async def reserve(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    body: OperatorReservationIn,
) -> OperatorReservationOut:
    """The token's group from the registry goes along (parentIdTag / groupIdToken), so any token
    of the group may use the reservation (TC_053, TC_H_19)."""
    await ctx.catalog.manageable(caller, station_id)
    if (body.minutes is None) == (body.expires_at is None):
        raise InvalidRequest("give minutes or expires_at")
    expires_at = body.expires_at or ctx.core.stations.now() + timedelta(minutes=body.minutes or 0)
    call = ctx.core.station_reservations.reserve(
        caller,
        station_id,
        body.id_token,
        evse_id=body.evse_id,
        expires_at=expires_at,
        connector_type=body.connector_type,
    )
    details = {"evse_id": body.evse_id, "id_token": body.id_token}
    return _out(await audited(request, ctx, caller, station_id, "reserve", call, details))


@router.get(
    "/{reservation_id}",
    response_model=OperatorReservationOut,
    responses=error_responses(401, 403, 404, 422),
)
async def get_reservation(
    ctx: Ctx, caller: Operator, station_id: StationPath, reservation_id: ReservationPath
) -> OperatorReservationOut:
    await ctx.catalog.manageable(caller, station_id)
    return _out(await ctx.core.station_reservations.get(station_id, reservation_id))


@router.delete(
    "/{reservation_id}",
    response_model=CancellationOut,
    summary="Cancel (CancelReservation); a Rejected answer leaves the reservation",
    responses=ERRORS,
)
async def cancel(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    reservation_id: ReservationPath,
) -> CancellationOut:
    """TC_051, TC_H_17 (Accepted), TC_052 (Rejected)."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.station_reservations.cancel(station_id, reservation_id)
    done = await audited(
        request,
        ctx,
        caller,
        station_id,
        "cancel-reservation",
        call,
        {"reservation_id": reservation_id},
        outcome=lambda c: str(c.outcome.status),
    )
    return CancellationOut(
        reservation=_out(done.reservation),
        status=done.outcome.status,
        response=done.outcome.payload,
    )
