"""The in-process connector as the OCPP client will drive it: the events it emits must walk the
OCPP status table without a single rejected transition, whatever the driver or the car does."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from charge_point.domain.battery import BatteryState
from charge_point.domain.connector_state import ConnectorStatus, transition
from charge_point.domain.stop_reason import StopReason
from charge_point.hardware.base import (
    ConnectorHardware,
    ConnectorUnavailable,
    EnergyTransferStarted,
    EventSubscription,
    FaultCleared,
    PluggedIn,
    Stopped,
    Unplugged,
    connector_event,
)
from charge_point.hardware.ccs import SimulatedConnector
from charge_point.hardware.ev_simulator import CcsEvSimulator
from tests.cp_helpers import wait_for


def pack(soc: float = 30, target: float = 100.0) -> BatteryState:
    return BatteryState(capacity_wh=50_000, soc_pct=soc, target_soc_pct=target)


class StatusTracker:
    """What the OCPP client will do: feed hardware events through the status table."""

    def __init__(self, events: EventSubscription) -> None:
        self.events = events
        self.status = ConnectorStatus.AVAILABLE
        self.history = [self.status]

    def drain(self) -> list[ConnectorStatus]:
        while (event := self.events.get_nowait()) is not None:
            result = transition(self.status, connector_event(event))
            assert result.accepted, f"{type(event).__name__}: {result.error}"
            if result.changed:
                self.status = result.status
                self.history.append(result.status)
        return self.history


@contextlib.asynccontextmanager
async def running(connector: SimulatedConnector):
    task = asyncio.create_task(connector.run())
    try:
        yield connector
    finally:
        assert not task.done()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_connector_satisfies_the_protocol():
    connector = SimulatedConnector(1)
    assert isinstance(connector, ConnectorHardware)
    assert connector.standard == "CCS"
    assert connector.reading().energy_wh == 0
    assert connector.reading().soc_pct is None


async def test_plug_authorize_charge_and_car_stop_walk_the_status_table():
    connector = SimulatedConnector(1, tick_s=0.02, time_scale=100)
    tracker = StatusTracker(connector.events())
    car = CcsEvSimulator(connector, pack())
    async with running(connector):
        car.plug_in()
        await connector.enable(power_limit_w=11_000)
        assert connector.reading().power_w == 11_000
        assert connector.locked
        assert not await connector.unlock()  # never under load
        await wait_for(lambda: connector.reading().energy_wh > 0, timeout=2)
        assert connector.reading().soc_pct == int(car.soc_pct)
        car.pause()
        assert connector.reading().power_w == 0
        car.resume()
        car.request_stop()
        assert not connector.energy_transfer_active
        assert await connector.unlock()
        car.unplug()
    assert tracker.drain() == [
        ConnectorStatus.AVAILABLE,
        ConnectorStatus.PREPARING,
        ConnectorStatus.CHARGING,
        ConnectorStatus.SUSPENDED_EV,
        ConnectorStatus.CHARGING,
        ConnectorStatus.FINISHING,
        ConnectorStatus.AVAILABLE,
    ]


async def test_authorize_first_then_plug_in():
    connector = SimulatedConnector(1)
    events = connector.events()
    await connector.enable()
    assert not connector.energy_transfer_active
    CcsEvSimulator(connector, pack()).plug_in()
    assert isinstance(events.get_nowait(), PluggedIn)
    assert isinstance(events.get_nowait(), EnergyTransferStarted)


async def test_car_fault_and_unplug_end_the_session_with_their_reasons():
    connector = SimulatedConnector(1)
    events = connector.events()
    car = CcsEvSimulator(connector, pack())
    car.plug_in()
    await connector.enable()
    car.raise_fault("isolation fault")
    stopped = await events.wait_for(Stopped, timeout=1)
    assert (stopped.reason, stopped.detail) == (StopReason.EV_FAULT, "isolation fault")

    car.clear_fault()
    await connector.enable()
    await events.wait_for(EnergyTransferStarted, timeout=1)
    car.unplug()
    stopped = await events.wait_for(Stopped, timeout=1)
    assert stopped.reason is StopReason.UNPLUGGED
    assert isinstance(events.get_nowait(), Unplugged)
    assert not connector.locked


async def test_station_fault_blocks_charging_until_cleared():
    connector = SimulatedConnector(1)
    tracker = StatusTracker(connector.events())
    car = CcsEvSimulator(connector, pack())
    car.plug_in()
    await connector.enable()
    connector.raise_fault("GroundFailure", "RCD tripped")
    assert connector.faulted
    assert connector.reading().power_w == 0
    with pytest.raises(ConnectorUnavailable, match="GroundFailure"):
        await connector.enable()
    connector.clear_fault()
    await connector.enable()
    assert connector.energy_transfer_active
    assert tracker.drain() == [
        ConnectorStatus.AVAILABLE,
        ConnectorStatus.PREPARING,
        ConnectorStatus.CHARGING,
        ConnectorStatus.FINISHING,  # the session is stopped first ...
        ConnectorStatus.FAULTED,  # ... then the connector reports its fault
        ConnectorStatus.AVAILABLE,
        ConnectorStatus.PREPARING,  # PluggedIn re-sent: the car is still there
        ConnectorStatus.CHARGING,
    ]


async def test_event_subscription_tools():
    connector = SimulatedConnector(1)
    async with connector.events() as events:
        car = CcsEvSimulator(connector, pack())
        car.plug_in()
        event = await events.wait_for(PluggedIn, timeout=1)
        assert event.connector_id == 1
        assert event.at.tzinfo is not None  # OCPP timestamps are UTC
        with pytest.raises(TimeoutError):
            await events.wait_for(FaultCleared, timeout=0.05)
    connector.raise_fault()
    assert events.get_nowait() is None  # closed subscriptions receive nothing
    assert isinstance(connector.events(), EventSubscription)
