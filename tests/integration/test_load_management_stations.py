"""The load-management acceptance test with OUR station software (charge_point.Station with
simulated hardware and cars): three stations (1.6, 2.0.1, 1.6; 22 kW each, two connectors
sharing it) behind a 60 kW site limit. Cars arrive and leave in a varied sequence; the sum of
the power the stations measure and report (Power.Active.Import meter values, sampled every
second) never exceeds 60 kW for longer than one meter interval; on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from central_system.domain.events import DomainEvent, MeterValuesReceived, TransactionEnded
from central_system.domain.load_management import SessionLoad, StationLoad, station_limits
from central_system.services.ports import SiteRecord
from charge_point.domain.battery import BatteryState
from charge_point.hardware.ccs import SimulatedConnector
from charge_point.hardware.ev_simulator import CcsEvSimulator
from charge_point.hardware.station_hardware import StationHardware
from charge_point.model import StationConfig
from charge_point.station import Station
from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import wait_for

SITE_LIMIT_W = 60_000
STATION_MAX_W = 22_000
METER_INTERVAL_S = 1
# The realised interval is the configured one plus the sampling loop's own work.
METER_INTERVAL = timedelta(seconds=METER_INTERVAL_S, milliseconds=250)
STATIONS = {"LM-1": "1.6", "LM-2": "2.0.1", "LM-3": "1.6"}
POWER = "Power.Active.Import"

Key = tuple[str, int]


class MeasuredPower:
    """The power each connector reported, as the central system received it: a sample's value
    holds until the connector's next sample, and 0 from its transaction's end."""

    def __init__(self) -> None:
        self.readings: list[tuple[datetime, Key, Decimal]] = []

    def __call__(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, MeterValuesReceived):
                for sample in event.samples:
                    if sample.measurand == POWER and not sample.phase and sample.value is not None:
                        key = (event.station_id, event.evse_id)
                        self.readings.append((sample.timestamp, key, sample.value))
            elif isinstance(event, TransactionEnded) and event.transaction.stopped_at:
                tx = event.transaction
                key = (tx.station_id, tx.key.evse_id)
                self.readings.append((tx.stopped_at, key, Decimal(0)))

    def sampled_since(self, key: Key, moment: datetime) -> bool:
        return any(k == key and at > moment for at, k, _ in self.readings)

    def totals(self) -> list[tuple[datetime, Decimal]]:
        """The site's total after every reading, in time order."""
        current: dict[Key, Decimal] = {}
        totals = []
        for at, key, watts in sorted(self.readings, key=lambda r: r[0]):
            current[key] = watts
            totals.append((at, sum(current.values(), Decimal(0))))
        return totals

    def overloads(self, limit_w: int) -> list[tuple[datetime, timedelta]]:
        """Every stretch of time the total was above `limit_w`: (start, duration)."""
        found = []
        start: datetime | None = None
        for at, total in self.totals():
            if total > limit_w and start is None:
                start = at
            elif total <= limit_w and start is not None:
                found.append((start, at - start))
                start = None
        if start is not None:
            found.append((start, datetime.now(UTC) - start))
        return found


@pytest.fixture
async def site(database_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    settings = test_settings(database_url, load_management_interval=5.0)
    async with running_central_system(settings) as running:
        site = Site(running, tmp_path)
        await site.prepare()
        async with contextlib.AsyncExitStack() as stack:
            for station in site.stations.values():
                await stack.enter_async_context(station)
            yield site


class Site:
    def __init__(self, running: RunningCentralSystem, data_dir: Path) -> None:
        self.running = running
        self.power = MeasuredPower()
        running.system.events.subscribe(self.power)
        self.stations = {
            station_id: Station(
                StationConfig(
                    station_id,
                    running.ocpp_url,
                    version,
                    data_dir=data_dir,
                    durable=False,
                    settings={"MeterValueSampleInterval": str(METER_INTERVAL_S)},
                ),
                StationHardware.simulated(
                    station_max_w=STATION_MAX_W, connector_max_w=STATION_MAX_W
                ),
                rng=random.Random(index),
            )
            for index, (station_id, version) in enumerate(STATIONS.items())
        }
        self.cars: dict[Key, CcsEvSimulator] = {}

    async def prepare(self) -> None:
        load = self.running.services.load_management
        await load.create_site(SiteRecord("DEPOT", SITE_LIMIT_W, name="Depot"))
        for station_id in self.stations:
            await self.running.services.stations.register(station_id)
            for cid in (1, 2):
                await self.running.services.authorization.add_token(f"{station_id}-CAR-{cid}")
            await load.set_member("DEPOT", station_id, max_power_w=STATION_MAX_W)

    def expected_limits(self) -> dict[str, int]:
        loads = [
            StationLoad(
                station_id,
                Decimal(STATION_MAX_W),
                sessions=tuple(
                    SessionLoad(f"{sid}/{cid}", Decimal(STATION_MAX_W))
                    for sid, cid in self.cars
                    if sid == station_id
                ),
            )
            for station_id in self.stations
        ]
        return {k: int(v) for k, v in station_limits(Decimal(SITE_LIMIT_W), loads).items()}

    def limits(self) -> dict[str, int | None]:
        return {sid: s.hardware.station_limit_w for sid, s in self.stations.items()}

    async def settle(self, what: str) -> None:
        """Wait until every station applies its share and every charging connector reported
        its power at least once since."""
        expected = self.expected_limits()
        await wait_for(lambda: self.limits() == expected, timeout=15, what=f"limits {what}")
        applied = datetime.now(UTC)
        await wait_for(
            lambda: all(self.power.sampled_since(key, applied) for key in self.cars),
            timeout=10,
            what=f"power sampled after {what}",
        )

    async def arrive(self, station_id: str, cid: int) -> None:
        station = self.stations[station_id]
        member = station.hardware.member(cid)
        assert isinstance(member, SimulatedConnector)
        car = CcsEvSimulator(
            member, BatteryState(capacity_wh=80_000, soc_pct=20.0, max_power_w=50_000)
        )
        car.plug_in()
        conn = station.connectors[cid]
        await wait_for(lambda: conn.plugged, what=f"{station_id}/{cid} plugged in")
        assert await station.present_token(cid, f"{station_id}-CAR-{cid}")
        await wait_for(
            lambda: conn.transaction is not None and conn.transaction.transaction_id,
            timeout=10,
            what=f"{station_id}/{cid} transaction started",
        )
        self.cars[(station_id, cid)] = car

    async def leave(self, station_id: str, cid: int) -> None:
        car = self.cars.pop((station_id, cid))
        car.unplug()
        conn = self.stations[station_id].connectors[cid]
        await wait_for(lambda: conn.transaction is None, what=f"{station_id}/{cid} ended")


async def test_three_stations_never_exceed_the_site_limit_for_longer_than_a_meter_interval(
    site: Site,
) -> None:
    await wait_for(lambda: all(s.online for s in site.stations.values()), timeout=15)
    await site.settle("while idle")  # 20 kW standby each
    # A varied sequence: single arrivals, arrivals in quick succession (no settling in
    # between), a station with both connectors busy, departures while others arrive.
    await site.arrive("LM-1", 1)
    await site.settle("LM-1/1")
    await site.arrive("LM-2", 1)
    await site.arrive("LM-3", 1)
    await site.settle("one car per station")
    await site.arrive("LM-1", 2)
    await site.arrive("LM-2", 2)
    await site.settle("five cars")
    await site.leave("LM-3", 1)
    await site.arrive("LM-3", 2)
    await site.leave("LM-1", 1)
    await site.settle("cars swapped")
    await site.arrive("LM-3", 1)
    await site.leave("LM-2", 2)
    await site.settle("LM-3 full")
    for key in list(site.cars):
        await site.leave(*key)
    await site.settle("everyone gone")

    totals = [total for _, total in site.power.totals()]
    assert max(totals) >= 50_000, "the cars used the site's power (else the test proves nothing)"
    overloads = site.power.overloads(SITE_LIMIT_W)
    too_long = [(start, length) for start, length in overloads if length > METER_INTERVAL]
    assert too_long == [], f"above {SITE_LIMIT_W} W for longer than a meter interval: {too_long}"
    assert site.power.totals()[-1][1] == 0  # every session ended
