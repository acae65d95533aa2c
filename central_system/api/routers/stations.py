"""The station catalogue: find stations near a position; owners register and manage theirs."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from central_system.api import convert
from central_system.api import schemas as s
from central_system.api.deps import Caller, Ctx, Operator, Pages
from central_system.api.problems import error_responses
from central_system.domain.geo import InvalidPosition, Position
from central_system.domain.stations import SecurityProfile
from central_system.domain.tariffs import InvalidTariff, Tariff
from central_system.services.errors import InvalidRequest
from central_system.services.ports import ConnectorSpec, StationSite

router = APIRouter(prefix="/api/v1/stations", tags=["stations"])

StationPath = Annotated[str, Path(min_length=1, max_length=48, description="Station id")]


def _tariff(body: s.TariffIn) -> Tariff:
    try:
        return Tariff(
            currency=body.currency.upper(),
            per_kwh=body.per_kwh,
            per_minute=body.per_minute,
            session_fee=body.session_fee,
        )
    except InvalidTariff as error:
        raise InvalidRequest(str(error)) from error


def _connectors(items: list[s.ConnectorIn]) -> tuple[ConnectorSpec, ...]:
    return tuple(
        ConnectorSpec(c.evse_id, c.connector_id, c.standard, int(c.max_power_kw * Decimal(1000)))
        for c in items
    )


def _position(location: s.Location) -> Position:
    try:
        return Position(location.latitude, location.longitude)
    except InvalidPosition as error:
        raise InvalidRequest(str(error)) from error


@router.get(
    "",
    response_model=s.PageOut[s.StationOut],
    summary="Stations near a position (map view), nearest first",
    responses=error_responses(401, 422),
)
async def nearby(
    ctx: Ctx,
    caller: Caller,
    pages: Pages,
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude")],
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude")],
    radius_km: Annotated[float, Query(gt=0, le=500)] = 10.0,
) -> s.PageOut[s.StationOut]:
    found = await ctx.catalog.nearby(
        _position(s.Location(latitude=lat, longitude=lon)),
        radius_km,
        limit=pages.limit,
        offset=pages.offset,
    )
    return convert.page([convert.station(v) for v in found.items], found, pages.limit, pages.offset)


@router.get(
    "/managed",
    response_model=s.PageOut[s.StationStatusOut],
    summary="The stations the caller manages (owners: their own; admins: all)",
    responses=error_responses(401, 403, 422),
)
async def managed(ctx: Ctx, caller: Operator, pages: Pages) -> s.PageOut[s.StationStatusOut]:
    found = await ctx.catalog.owned(caller, limit=pages.limit, offset=pages.offset)
    return convert.page(
        [convert.station_status(v, None) for v in found.items], found, pages.limit, pages.offset
    )


@router.post(
    "",
    response_model=s.StationStatusOut,
    status_code=status.HTTP_201_CREATED,
    summary="Register a station with credentials, location, connectors and tariff",
    responses=error_responses(401, 403, 409, 422),
)
async def register(ctx: Ctx, caller: Operator, body: s.StationIn) -> s.StationStatusOut:
    site = StationSite(
        station_id=body.id,
        owner_id=body.owner_id,
        name=body.name,
        position=_position(body.location),
        address=body.address,
        connectors=_connectors(body.connectors),
    )
    profile = SecurityProfile(body.security_profile) if body.security_profile is not None else None
    view = await ctx.catalog.register(
        caller,
        site,
        tariff=_tariff(body.tariff) if body.tariff else None,
        password=body.password,
        security_profile=profile,
    )
    await ctx.audit.record("station.register", "success", actor_id=caller.user_id, target=body.id)
    return convert.station_status(view, None)


@router.get(
    "/{station_id}",
    response_model=s.StationOut,
    summary="A station: location, connectors with live status, tariff",
    responses=error_responses(401, 404, 422),
)
async def get_station(ctx: Ctx, caller: Caller, station_id: StationPath) -> s.StationOut:
    return convert.station(await ctx.catalog.view(station_id))


@router.patch(
    "/{station_id}",
    response_model=s.StationStatusOut,
    summary="Change a station's name, location, address or connectors",
    responses=error_responses(401, 403, 404, 422),
)
async def update_station(
    ctx: Ctx, caller: Operator, station_id: StationPath, body: s.StationPatch
) -> s.StationStatusOut:
    view = await ctx.catalog.update(
        caller,
        station_id,
        name=body.name,
        position=_position(body.location) if body.location else None,
        address=body.address,
        connectors=_connectors(body.connectors) if body.connectors is not None else None,
    )
    return convert.station_status(view, None)


@router.put(
    "/{station_id}/tariff",
    response_model=s.StationStatusOut,
    summary="Set the tariff from now on (running sessions keep theirs)",
    responses=error_responses(401, 403, 404, 422),
)
async def set_tariff(
    ctx: Ctx, caller: Operator, station_id: StationPath, body: s.TariffIn
) -> s.StationStatusOut:
    view = await ctx.catalog.set_tariff(caller, station_id, _tariff(body))
    await ctx.audit.record("station.tariff", "success", actor_id=caller.user_id, target=station_id)
    return convert.station_status(view, None)


@router.get(
    "/{station_id}/status",
    response_model=s.StationStatusOut,
    summary="Live status, boot data, faults and signal of a station you manage",
    responses=error_responses(401, 403, 404, 422),
)
async def station_status(ctx: Ctx, caller: Operator, station_id: StationPath) -> s.StationStatusOut:
    await ctx.catalog.manageable(caller, station_id)
    signal = await ctx.catalog.signal(station_id)
    return convert.station_status(await ctx.catalog.view(station_id), signal)


@router.get(
    "/{station_id}/transactions",
    response_model=s.PageOut[s.TransactionOut],
    summary="Transactions of a station you manage (app sessions and RFID), newest first",
    responses=error_responses(401, 403, 404, 422),
)
async def station_transactions(
    ctx: Ctx, caller: Operator, station_id: StationPath, pages: Pages
) -> s.PageOut[s.TransactionOut]:
    await ctx.catalog.manageable(caller, station_id)
    found = await ctx.charging.station_transactions(
        station_id, limit=pages.limit, offset=pages.offset
    )
    return convert.page(
        [convert.transaction(t) for t in found.items], found, pages.limit, pages.offset
    )
