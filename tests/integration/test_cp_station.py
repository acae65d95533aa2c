"""Both connectors of one station charging at once: the station maximum is a hard limit (the
grid connection is sized for it), and power one EV cannot use must go to the other."""

from __future__ import annotations

import asyncio

import pytest

from charge_point.domain.battery import BatteryState
from charge_point.domain.stop_reason import StopReason
from charge_point.hardware.base import EnergyTransferStarted, Resumed, Stopped, SuspendedByEvse
from charge_point.hardware.ccs import SimulatedConnector
from charge_point.hardware.chademo_can import ChademoCanConnector, SimulatedChademoCable
from charge_point.hardware.ev_simulator import CcsEvSimulator, ChademoEvSimulator
from charge_point.hardware.station_hardware import StationHardware
from tests.cp_helpers import unique_channel, wait_for

STATION_MAX_W = 22_000


def pack(soc: float, target: float = 100.0, max_power_w: int = 50_000) -> BatteryState:
    return BatteryState(
        capacity_wh=60_000, soc_pct=soc, target_soc_pct=target, max_power_w=max_power_w
    )


async def test_ccs_and_chademo_over_can_share_the_station_maximum():
    channel = unique_channel("station")
    cable = SimulatedChademoCable()
    station = StationHardware.with_chademo_can(
        channel=channel, lines=cable, tick_s=0.05, time_scale=20, station_max_w=STATION_MAX_W
    )
    ccs = station.member(1)
    chademo = station.member(2)
    assert isinstance(ccs, SimulatedConnector)
    assert isinstance(chademo, ChademoCanConnector)
    ccs_car = CcsEvSimulator(ccs, pack(20))
    ccs_events, chademo_events = ccs.events(), chademo.events()

    totals: list[int] = []

    async def sample() -> None:
        while True:
            totals.append(station.total_power_w())
            await asyncio.sleep(0.01)

    async with (
        station,
        ChademoEvSimulator(pack(30), cable=cable, channel=channel, time_scale=20) as chademo_car,
    ):
        sampler = asyncio.create_task(sample())
        ccs_car.plug_in()
        await ccs.enable()
        await ccs_events.wait_for(EnergyTransferStarted, timeout=2)
        assert ccs.reading().power_w == STATION_MAX_W  # alone, it gets the whole station

        chademo_car.plug_in()
        await chademo.enable()
        await chademo_events.wait_for(EnergyTransferStarted, timeout=5)
        await wait_for(lambda: chademo.reading().power_w > 9_000, timeout=5)
        assert station.allocations == {1: 11_000, 2: 11_000}
        assert ccs.reading().power_w == 11_000

        # A station-wide charging profile takes effect at once.
        station.set_station_limit(10_000)
        assert station.total_power_w() <= 10_000
        assert station.allocations == {1: 5_000, 2: 5_000}
        # The car sees the lower available current (dynamic control) and asks for no more.
        volts = chademo_car.battery.voltage_v
        await wait_for(lambda: chademo_car.current_request_a * volts <= 5_000 + volts, timeout=3)
        station.set_station_limit(None)

        # When the CHAdeMO car leaves, CCS gets everything again.
        await chademo.disable(StopReason.EVSE)
        assert (await chademo_events.wait_for(Stopped, timeout=1)).reason is StopReason.EVSE
        await wait_for(lambda: ccs.reading().power_w == STATION_MAX_W, timeout=2)

        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)

    assert len(totals) > 100
    assert max(totals) <= STATION_MAX_W
    assert sum(1 for total in totals if total > 20_000) > 20  # it really was used, not idle
    assert ccs_car.soc_pct > 20
    assert chademo_car.soc_pct > 30


async def test_fleet_station_redistributes_what_one_car_cannot_take():
    station = StationHardware.simulated(tick_s=0.02, time_scale=50)
    one, two = station.member(1), station.member(2)
    assert isinstance(one, SimulatedConnector)
    assert isinstance(two, SimulatedConnector)
    assert two.standard == "CHAdeMO"
    big = CcsEvSimulator(one, pack(20))
    small = CcsEvSimulator(two, pack(20, max_power_w=4_000))  # an old car with a slow charger

    async with station:
        for car, connector in ((big, one), (small, two)):
            car.plug_in()
            await connector.enable()
        assert station.allocations == {1: 18_000, 2: 4_000}
        assert station.total_power_w() == STATION_MAX_W

        # A per-connector profile limit of 0 suspends that connector and frees its share.
        events = two.events()
        two.set_power_limit(0)
        assert isinstance(await events.get(), SuspendedByEvse)
        assert one.reading().power_w == STATION_MAX_W
        two.set_power_limit(None)
        assert isinstance(await events.get(), Resumed)
        assert station.allocations == {1: 18_000, 2: 4_000}


async def test_fleet_station_session_ends_at_the_target_soc():
    station = StationHardware.simulated(tick_s=0.02, time_scale=2_000)
    connector = station.member(1)
    assert isinstance(connector, SimulatedConnector)
    car = CcsEvSimulator(connector, pack(50, target=80))
    events = connector.events()
    energies: list[int] = []
    async with station:
        car.plug_in()
        await connector.enable()
        while connector.energy_transfer_active:
            energies.append(connector.reading().energy_wh)
            await asyncio.sleep(0.02)
        stopped = await events.wait_for(Stopped, timeout=1)
    assert stopped.reason is StopReason.EV_REQUEST
    assert car.soc_pct == 80
    assert energies == sorted(energies)
    assert connector.reading().energy_wh == int(car.energy_received_wh)
    assert car.energy_received_wh == pytest.approx(0.30 * 60_000)
