"""Simulated drivers and cars for a station: the fleet simulator, `evcharge demo` and
`evcharge station --simulate-cars` use them.

A driver per connector arrives after a random gap, plugs in a car with a random battery, shows
their token (or relies on free vend), waits until the car is full or their dwell time is over,
ends the session with the same token and drives off. On a connector driven over CAN the car is a
`ChademoEvSimulator` talking real CHAdeMO frames; elsewhere a `CcsEvSimulator`.

Times are simulated minutes; `time_scale` simulated seconds pass per real second (the hardware
must use the same scale).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from charge_point.domain.battery import BatteryState
from charge_point.hardware.ccs import SimulatedConnector
from charge_point.hardware.chademo_can import ChademoCanConnector, SimulatedChademoCable
from charge_point.hardware.ev_simulator import CcsEvSimulator, ChademoEvSimulator
from charge_point.hardware.station_hardware import StationHardware
from charge_point.model import StationConfig
from charge_point.station import Station

log = logging.getLogger(__name__)

RETRY_TOKEN_S = 2.0
"""A refused driver shows the token again after this many real seconds."""


@dataclass(frozen=True)
class TrafficProfile:
    """How drivers behave at one connector."""

    arrival_rate_per_hour: float = 2.0
    """Cars per connector per simulated hour, counted from when the previous one left."""
    session_minutes: float = 30.0
    """Mean time a car stays plugged in (simulated minutes, +-50 %)."""
    id_token: str | None = None
    """The token drivers show; None: the station charges without one (free vend)."""
    time_scale: float = 1.0
    first_arrival_minutes: float | None = None
    """When the first car comes; None: random within one mean gap."""

    def __post_init__(self) -> None:
        if self.arrival_rate_per_hour <= 0 or self.session_minutes <= 0 or self.time_scale <= 0:
            raise ValueError("arrival rate, session length and time scale must be positive")


def random_battery(rng: random.Random) -> BatteryState:
    capacity = rng.choice((40_000, 52_000, 64_000, 77_000, 82_000))
    soc = rng.uniform(10, 50)
    return BatteryState(
        capacity_wh=capacity,
        soc_pct=soc,
        target_soc_pct=rng.choice((80.0, 90.0, 100.0)),
        max_power_w=rng.choice((11_000, 22_000, 50_000)),
    )


class Driver:
    """Brings cars to one connector of a running station, one after the other."""

    def __init__(
        self,
        station: Station,
        connector_id: int,
        traffic: TrafficProfile,
        *,
        rng: random.Random | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.station = station
        self.connector_id = connector_id
        self.traffic = traffic
        self.rng = rng or random.Random()
        self.on_event = on_event or (lambda _text: None)
        self.cars = 0
        self.refused = 0

    def _real_s(self, minutes: float) -> float:
        return minutes * 60.0 / self.traffic.time_scale

    async def run(self) -> None:
        traffic = self.traffic
        mean_gap = 60.0 / traffic.arrival_rate_per_hour
        first = traffic.first_arrival_minutes
        await asyncio.sleep(self._real_s(self.rng.uniform(0, mean_gap) if first is None else first))
        while True:
            dwell = traffic.session_minutes * self.rng.uniform(0.5, 1.5)
            await self.visit(random_battery(self.rng), self._real_s(dwell))
            await asyncio.sleep(self._real_s(self.rng.expovariate(1.0 / mean_gap)))

    async def visit(self, battery: BatteryState, dwell_s: float) -> None:
        """One car: plug in, authorize, charge until full or the dwell time is over, leave."""
        member = self.station.hardware.member(self.connector_id)
        conn = self.station.connectors[self.connector_id]
        if conn.plugged or not conn.operative or conn.hw.faulted:
            self.refused += 1
            return
        self.cars += 1
        if isinstance(member, ChademoCanConnector):
            if not isinstance(member.lines, SimulatedChademoCable):
                return  # a real CHAdeMO inlet: real cars only
            car = ChademoEvSimulator(
                battery,
                cable=member.lines,
                channel=member.channel,
                interface=member.interface,
                time_scale=self.traffic.time_scale,
            )
            async with car:
                await self._session(car, dwell_s)
        elif isinstance(member, SimulatedConnector):
            await self._session(CcsEvSimulator(member, battery), dwell_s)

    async def _session(self, car: CcsEvSimulator | ChademoEvSimulator, dwell_s: float) -> None:
        station, cid = self.station, self.connector_id
        car.plug_in()
        self.on_event(f"{station.station_id}/{cid}: car plugged in, SoC {car.soc_pct:.0f} %")
        conn = station.connectors[cid]
        token = self.traffic.id_token
        deadline = asyncio.get_running_loop().time() + dwell_s
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await _until(lambda: conn.plugged, 5.0)
                if token is not None:
                    # Refused (the station may still be booting, or offline): try again.
                    while not await station.present_token(cid, token):
                        self.on_event(f"{station.station_id}/{cid}: token {token} refused")
                        await asyncio.sleep(RETRY_TOKEN_S)
                await _until(lambda: conn.transaction is not None, dwell_s)
                await _until(lambda: conn.transaction is None, dwell_s)
        if conn.transaction is not None and token is not None:
            await station.present_token(cid, token)  # the driver ends the session
        self.on_event(f"{station.station_id}/{cid}: car leaves, SoC {car.soc_pct:.0f} %")
        car.unplug()
        await _until(lambda: not conn.plugged, 5.0)


async def _until(condition: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll a cheap condition (a driver is in no hurry); False after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(interval)
    return True


async def run_simulated_station(
    station_id: str,
    url: str,
    version: str = "1.6",
    *,
    id_token: str | Sequence[str] | None = None,
    time_scale: float = 60.0,
    data_dir: Path | str = Path(".evcharge/stations"),
    password: str | None = None,
    arrival_rate_per_hour: float = 2.0,
    session_minutes: float = 30.0,
    first_arrival_minutes: float | None = 0.0,
    sample_interval_s: int = 10,
    settings: dict[str, str] | None = None,
    seed: int | None = None,
    started: asyncio.Event | None = None,
    on_event: Callable[[str], None] | None = None,
) -> None:
    """A station with simulated hardware and drivers on both connectors, until cancelled.

    The first cars arrive at once (`first_arrival_minutes=0`), so a demo shows charging
    immediately. `id_token` must be Accepted by the central system; the central system allows a
    token in one transaction at a time (ConcurrentTx), so give a sequence with one token per
    connector (connector 1 gets the first). Without a token the station charges in free-vend
    mode.
    """
    tokens: list[str | None] = (
        [id_token] if id_token is None or isinstance(id_token, str) else list(id_token)
    ) or [None]
    rng = random.Random(seed)
    values = {"MeterValueSampleInterval": str(sample_interval_s)}
    if tokens[0] is None:
        values["AuthorizationEnabled"] = "false"  # free vend
    values.update(settings or {})
    station = Station(
        StationConfig(
            station_id, url, version, password=password, data_dir=Path(data_dir), settings=values
        ),
        StationHardware.simulated(time_scale=time_scale),
        rng=rng,
    )
    traffic = TrafficProfile(
        arrival_rate_per_hour=arrival_rate_per_hour,
        session_minutes=session_minutes,
        time_scale=time_scale,
        first_arrival_minutes=first_arrival_minutes,
    )
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(station.run(started))
            for index, cid in enumerate(station.connectors):
                own = replace(traffic, id_token=tokens[index % len(tokens)])
                driver = Driver(
                    station, cid, own, rng=random.Random(rng.random()), on_event=on_event
                )
                tasks.create_task(driver.run())
    finally:
        station.store.close()
