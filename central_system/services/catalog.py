"""The station catalogue: owners register stations with credentials, location, connectors and a
tariff; drivers find stations near a position with live status and prices."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from central_system.domain.accounts import Principal, may_manage_station, may_manage_stations
from central_system.domain.connectors import ConnectorState
from central_system.domain.geo import MAX_RADIUS_KM, Position, bounding_box, distance_km
from central_system.domain.stations import SecurityProfile, StationRecord
from central_system.domain.tariffs import Tariff
from central_system.services.errors import Conflict, Forbidden, InvalidRequest, NotFound
from central_system.services.ports import (
    Clock,
    ConnectorSpec,
    Page,
    StationSite,
    TariffRecord,
    UnitOfWork,
    UnitOfWorkFactory,
)
from central_system.services.stations import StationService

SIGNAL_LOG_KIND = "SignalStrength"  # written by StationService.signal
CONNECTOR_STANDARDS = ("CCS", "CHAdeMO", "Type2", "Type1", "GB/T", "NACS", "Schuko")
MAX_CONNECTOR_POWER_W = 1_000_000


@dataclass(frozen=True, slots=True)
class StationView:
    site: StationSite
    record: StationRecord
    connectors: list[ConnectorState]
    tariff: TariffRecord | None
    distance_km: float | None = None


def validate_connectors(connectors: tuple[ConnectorSpec, ...]) -> None:
    keys = [(c.evse_id, c.connector_id) for c in connectors]
    if len(set(keys)) != len(keys):
        raise InvalidRequest("two connectors have the same evse_id and connector_id")
    for spec in connectors:
        if spec.standard not in CONNECTOR_STANDARDS:
            raise InvalidRequest(f"connector standard is one of {', '.join(CONNECTOR_STANDARDS)}")
        if spec.evse_id < 1 or spec.connector_id < 1:
            raise InvalidRequest("evse_id and connector_id start at 1")
        if not 0 < spec.max_power_w <= MAX_CONNECTOR_POWER_W:
            raise InvalidRequest("max power is between 1 W and 1 MW")


class CatalogService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, stations: StationService) -> None:
        self._uow = uow
        self._clock = clock
        self._stations = stations

    async def register(
        self,
        principal: Principal,
        site: StationSite,
        *,
        tariff: Tariff | None,
        password: str | None,
        security_profile: SecurityProfile | None,
    ) -> StationView:
        """Register a station (or update one the caller manages) with its catalogue entry."""
        if not may_manage_stations(principal):
            raise Forbidden("only owners and admins register stations")
        validate_connectors(site.connectors)
        owner_id = site.owner_id if principal.is_admin else principal.user_id
        async with self._uow() as uow:
            existing_site = await uow.catalog.get_site(site.station_id)
            existing_station = await uow.stations.get(site.station_id)
            if owner_id is not None and await uow.accounts.get(owner_id) is None:
                raise InvalidRequest(f"no account {owner_id} to own the station")
        if existing_site is not None and not may_manage_station(principal, existing_site.owner_id):
            raise Conflict("this station id is taken", problem="station-exists")
        if existing_site is None and existing_station is not None and not principal.is_admin:
            raise Conflict("this station id is taken", problem="station-exists")
        try:
            await self._stations.register(
                site.station_id, password=password, security_profile=security_profile
            )
        except ValueError as error:
            raise InvalidRequest(str(error)) from error
        async with self._uow() as uow:
            await uow.catalog.save_site(replace(site, owner_id=owner_id))
            if tariff is not None:
                await uow.catalog.add_tariff(site.station_id, tariff, self._clock.now())
            await uow.commit()
        return await self.view(site.station_id)

    async def manageable(self, principal: Principal, station_id: str) -> StationSite:
        """The station's entry if the caller may manage it: NotFound for a station that is not in
        the catalogue, Forbidden for someone else's."""
        async with self._uow() as uow:
            site = await uow.catalog.get_site(station_id)
            if site is None and principal.is_admin and await uow.stations.get(station_id):
                return StationSite(station_id, None, "", Position(0.0, 0.0), "")
        if site is None:
            raise NotFound(f"no station {station_id}")
        if not may_manage_station(principal, site.owner_id):
            raise Forbidden("you do not manage this station")
        return site

    async def update(
        self,
        principal: Principal,
        station_id: str,
        *,
        name: str | None = None,
        position: Position | None = None,
        address: str | None = None,
        connectors: tuple[ConnectorSpec, ...] | None = None,
    ) -> StationView:
        site = await self.manageable(principal, station_id)
        if connectors is not None:
            validate_connectors(connectors)
        site = replace(
            site,
            name=site.name if name is None else name,
            position=site.position if position is None else position,
            address=site.address if address is None else address,
            connectors=site.connectors if connectors is None else connectors,
        )
        async with self._uow() as uow:
            await uow.catalog.save_site(site)
            await uow.commit()
        return await self.view(station_id)

    async def set_tariff(
        self, principal: Principal, station_id: str, tariff: Tariff
    ) -> StationView:
        """A new tariff row from now on (earlier sessions keep the tariff they started with)."""
        await self.manageable(principal, station_id)
        async with self._uow() as uow:
            await uow.catalog.add_tariff(station_id, tariff, self._clock.now())
            await uow.commit()
        return await self.view(station_id)

    async def _view(
        self, uow: UnitOfWork, site: StationSite, now: datetime, distance: float | None = None
    ) -> StationView | None:
        record = await uow.stations.get(site.station_id)
        if record is None:
            return None
        return StationView(
            site=site,
            record=record,
            connectors=await uow.connectors.list(site.station_id),
            tariff=await uow.catalog.current_tariff(site.station_id, now),
            distance_km=distance,
        )

    async def signal(self, station_id: str) -> dict[str, Any] | None:
        """The station's latest mobile signal report (rssiDbm, quality, csq, ber, at)."""
        async with self._uow() as uow:
            latest = await uow.catalog.latest_log(station_id, SIGNAL_LOG_KIND)
        if latest is None:
            return None
        at, data = latest
        return {**data, "at": at.isoformat()}

    async def view(self, station_id: str) -> StationView:
        async with self._uow() as uow:
            site = await uow.catalog.get_site(station_id)
            view = await self._view(uow, site, self._clock.now()) if site else None
        if view is None:
            raise NotFound(f"no station {station_id}")
        return view

    async def nearby(
        self, center: Position, radius_km: float, *, limit: int, offset: int
    ) -> Page[StationView]:
        """Stations within `radius_km` of `center`, nearest first."""
        if not 0 < radius_km <= MAX_RADIUS_KM:
            raise InvalidRequest(f"the radius is more than 0 and at most {MAX_RADIUS_KM:g} km")
        now = self._clock.now()
        async with self._uow() as uow:
            candidates = await uow.catalog.sites_in(bounding_box(center, radius_km))
            found = sorted(
                (
                    (distance_km(center, site.position), site)
                    for site in candidates
                    if distance_km(center, site.position) <= radius_km
                ),
                key=lambda pair: (pair[0], pair[1].station_id),
            )
            views = []
            for distance, site in found[offset : offset + limit]:
                view = await self._view(uow, site, now, distance)
                if view is not None:
                    views.append(view)
        return Page(views, len(found))

    async def owned(self, principal: Principal, *, limit: int, offset: int) -> Page[StationView]:
        """The stations the caller manages (all of them for an admin)."""
        if not may_manage_stations(principal):
            raise Forbidden("only owners and admins manage stations")
        now = self._clock.now()
        owner = None if principal.is_admin else principal.user_id
        async with self._uow() as uow:
            page = await uow.catalog.list_sites(owner_id=owner, limit=limit, offset=offset)
            views = [v for site in page.items if (v := await self._view(uow, site, now))]
        return Page(views, page.total)
