"""CHAdeMO over a real python-can `virtual` bus: the station's connector and a simulated car
exchange real frames every 100 ms. These are the behaviours that keep a car and a person safe:
stopping on EV faults and on silence, following the request, surviving garbage on the bus."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import can
import pytest

from charge_point.can_codec import DbcCodec
from charge_point.domain.battery import BatteryState
from charge_point.domain.chademo import ChargerConfig, EvFault, EvStatus, EvStatusFlag, Phase
from charge_point.domain.stop_reason import StopReason
from charge_point.hardware.base import (
    ConnectorUnavailable,
    EnergyTransferStarted,
    FaultRaised,
    PluggedIn,
    Stopped,
    Unplugged,
)
from charge_point.hardware.chademo_can import ChademoCanConnector, SimulatedChademoCable
from charge_point.hardware.ev_simulator import ChademoEvSimulator
from tests.cp_helpers import unique_channel, wait_for


class Rig:
    """One charger connector and one simulated car on their own virtual channel."""

    def __init__(
        self,
        name: str,
        battery: BatteryState,
        *,
        time_scale: float = 1.0,
        config: ChargerConfig | None = None,
        codec=None,
    ) -> None:
        self.channel = unique_channel(name)
        self.cable = SimulatedChademoCable()
        self.connector = ChademoCanConnector(
            2,
            channel=self.channel,
            lines=self.cable,
            config=config,
            time_scale=time_scale,
            codec=codec,
        )
        self.ev = ChademoEvSimulator(
            battery, cable=self.cable, channel=self.channel, time_scale=time_scale
        )
        self.events = self.connector.events()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Rig:
        self._task = asyncio.create_task(self.connector.run())
        await self.ev.__aenter__()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.ev.__aexit__(*exc_info)
        assert self._task is not None
        assert not self._task.done(), "the connector loop must never end on its own"
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start_charging(self) -> None:
        self.ev.plug_in()
        await self.events.wait_for(PluggedIn, timeout=2)
        await self.connector.enable()
        await self.events.wait_for(EnergyTransferStarted, timeout=5)


def pack(soc: float, target: float = 100.0, max_power_w: int = 50_000) -> BatteryState:
    return BatteryState(
        capacity_wh=40_000, soc_pct=soc, target_soc_pct=target, max_power_w=max_power_w
    )


async def test_full_session_soc_rises_and_current_follows_the_request():
    # A 25 kW pack tapers above 80 %: the request first ramps up, then falls with the taper.
    async with Rig("full", pack(77, target=86, max_power_w=25_000), time_scale=250) as rig:
        ev, connector = rig.ev, rig.connector
        await rig.start_charging()
        assert rig.cable.locked
        assert rig.cable.d1
        assert rig.cable.d2

        samples: list[tuple[float, int, float, float]] = []  # time, request, current, volts
        socs: list[float] = []
        while connector.phase is Phase.CHARGING:
            reading = connector.reading()
            samples.append(
                (time.monotonic(), ev.current_request_a, reading.current_a, reading.voltage_v)
            )
            socs.append(ev.soc_pct)
            await asyncio.sleep(0.02)
        stopped = await rig.events.wait_for(Stopped, timeout=5)
        assert stopped.reason is StopReason.EV_REQUEST  # the car reached its target

        assert ev.soc_pct == pytest.approx(86, abs=1.0)
        assert socs == sorted(socs)
        requests = [request for _, request, _, _ in samples]
        peak = max(requests)
        assert peak >= 50  # 22 kW at ~380 V
        assert requests[-2] < peak * 0.8  # tapered above 80 %

        def follows(index: int) -> bool:
            """The output is a request the car made within the last 250 ms (frames take up to
            two cycles to go round), or lower because the charger is at its 22 kW limit."""
            at, _, current, volts = samples[index]
            recent = {r for t, r, _, _ in samples[: index + 1] if at - t <= 0.25}
            return current in recent or current * volts >= 22_000 - volts

        following = sum(follows(i) for i in range(len(samples)))
        assert following >= 0.95 * len(samples)

        # Stop sequence completes: d2 open, unlocked, d1 open, CAN quiet.
        await wait_for(lambda: connector.phase is Phase.IDLE, timeout=5)
        assert not rig.cable.locked
        assert not rig.cable.d2
        assert not rig.cable.d1
        reading = connector.reading()
        assert reading.power_w == 0
        # The meter and the car agree on the energy (within a few cycles of rounding).
        assert reading.energy_wh == pytest.approx(ev.energy_received_wh, rel=0.03)
        assert reading.energy_wh >= 0.09 * 40_000 * 0.95
        assert connector.counters.implausible == 0
        assert connector.counters.unknown_id == 0


async def test_ev_fault_flag_stops_charging():
    async with Rig("fault", pack(40)) as rig:
        await rig.start_charging()
        await wait_for(lambda: rig.connector.reading().current_a > 0, timeout=3)
        rig.ev.raise_fault(EvFault.BATTERY_OVERVOLTAGE)
        stopped = await rig.events.wait_for(Stopped, timeout=2)
        assert stopped.reason is StopReason.EV_FAULT
        assert "BATTERY_OVERVOLTAGE" in stopped.detail
        assert rig.connector.reading().current_a == 0
        await wait_for(lambda: rig.connector.phase is Phase.IDLE, timeout=5)
        assert not rig.cable.locked


async def test_silent_car_stops_charging_within_about_a_second():
    async with Rig("silent", pack(40)) as rig:
        await rig.start_charging()
        await wait_for(lambda: rig.connector.reading().current_a > 0, timeout=3)
        rig.ev.go_silent()
        silent_since = time.monotonic()
        stopped = await rig.events.wait_for(Stopped, timeout=3)
        elapsed = time.monotonic() - silent_since
        assert stopped.reason is StopReason.COMMUNICATION_TIMEOUT
        assert 0.9 <= elapsed <= 1.6
        assert rig.connector.reading().power_w == 0
        assert rig.connector.counters.comm_timeouts == 1
        # Nobody answers the welding detection; the charger still finishes its stop sequence.
        await wait_for(lambda: rig.connector.phase is Phase.IDLE, timeout=3)
        assert not rig.cable.d1
        assert not rig.cable.locked


async def test_garbage_on_the_bus_is_counted_and_does_not_disturb_charging():
    async with Rig("garbage", pack(30)) as rig:
        await rig.start_charging()
        counters = rig.connector.counters
        before = counters.as_dict()
        implausible_102 = EvStatus(
            2, 400, 50, EvFault.NONE, EvStatusFlag.CHARGING_ENABLED, state_of_charge_pct=200
        )
        garbage = [
            can.Message(arbitration_id=0x102, data=b"\x02\x9a\x01", is_extended_id=False),
            can.Message(arbitration_id=0x100, data=bytes(7), is_extended_id=False),
            can.Message(arbitration_id=0x7FF, data=bytes(8), is_extended_id=False),
            can.Message(arbitration_id=0x102, data=bytes(8), is_extended_id=True),
            can.Message(arbitration_id=0x102, is_remote_frame=True, dlc=8, is_extended_id=False),
            can.Message(is_error_frame=True),
            can.Message(arbitration_id=0x102, data=implausible_102.encode(), is_extended_id=False),
        ]
        with can.Bus(interface="virtual", channel=rig.channel) as noise:
            for _ in range(5):
                for message in garbage:
                    noise.send(message)
                await asyncio.sleep(0.03)
        await wait_for(lambda: counters.implausible - before["implausible"] >= 5, timeout=2)
        assert counters.bad_length - before["bad_length"] == 10
        assert counters.unknown_id - before["unknown_id"] == 5
        assert counters.not_standard - before["not_standard"] == 10
        assert counters.error_frames - before["error_frames"] == 5
        # The car's own frames keep the session going.
        assert rig.connector.phase is Phase.CHARGING
        assert rig.connector.reading().current_a > 0
        assert rig.connector.sequence_state.soc_pct is not None
        assert rig.connector.sequence_state.soc_pct <= 100
        assert rig.running


async def test_unplug_ends_the_session_and_is_reported():
    async with Rig("unplug", pack(40)) as rig:
        await rig.start_charging()
        rig.ev.unplug()
        await rig.events.wait_for(Unplugged, timeout=1)
        stopped = await rig.events.wait_for(Stopped, timeout=1)
        assert stopped.reason is StopReason.UNPLUGGED
        assert not rig.connector.plugged_in
        await wait_for(lambda: rig.connector.phase is Phase.IDLE, timeout=5)
        assert not rig.cable.d1


async def test_station_stop_runs_the_stop_sequence_and_a_new_session_can_start():
    async with Rig("restart", pack(40)) as rig:
        await rig.start_charging()
        assert not await rig.connector.unlock()  # never under load
        await rig.connector.disable(StopReason.EVSE)
        stopped = await rig.events.wait_for(Stopped, timeout=1)
        assert stopped.reason is StopReason.EVSE
        assert rig.connector.phase is Phase.IDLE  # disable() returns after the whole sequence
        assert not rig.cable.locked
        assert await rig.connector.unlock()
        energy = rig.connector.reading().energy_wh

        await rig.connector.enable()
        await rig.events.wait_for(EnergyTransferStarted, timeout=5)
        await wait_for(lambda: rig.connector.reading().energy_wh > energy, timeout=5)


async def test_incompatible_car_is_refused():
    config = ChargerConfig(max_voltage_v=350)  # the car wants 400 V
    async with Rig("incompatible", pack(40), config=config) as rig:
        rig.ev.plug_in()
        await rig.connector.enable()
        stopped = await rig.events.wait_for(Stopped, timeout=3)
        assert stopped.reason is StopReason.INCOMPATIBLE
        assert not rig.ev.contactor_closed
        await wait_for(lambda: rig.connector.phase is Phase.IDLE, timeout=3)
        assert rig.connector.reading().energy_wh == 0


async def test_the_dbc_codec_drives_a_session_too():
    async with Rig("dbc", pack(40), codec=DbcCodec()) as rig:
        await rig.start_charging()
        await wait_for(lambda: rig.connector.reading().current_a >= 30, timeout=5)
        assert rig.connector.counters.accepted > 0


async def test_bus_and_notifier_are_shut_down():
    """The notifier's reader threads are named after the channel; none may outlive the rig,
    and the pins must be left safe when the controller stops mid-session."""
    rig = Rig("shutdown", pack(40))
    async with rig:
        await rig.start_charging()
        assert sum(rig.channel in t.name for t in threading.enumerate()) == 2  # charger + EV
    assert not any(rig.channel in t.name for t in threading.enumerate())
    assert not rig.cable.d1
    assert not rig.cable.d2
    assert not rig.cable.locked
    stopped = await rig.events.wait_for(Stopped, timeout=0.1)
    assert stopped.reason is StopReason.EVSE


async def test_a_bus_that_cannot_open_is_a_fault_not_a_hang():
    connector = ChademoCanConnector(2, channel="x", interface="no-such-interface")
    events = connector.events()
    with pytest.raises(can.CanInterfaceNotImplementedError, match="no-such-interface"):
        await connector.run()
    fault = events.get_nowait()
    assert isinstance(fault, FaultRaised)
    assert fault.error_code == "InternalError"
    assert connector.faulted


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_a_bus_that_dies_mid_session_faults_the_connector_and_stops_safely():
    """python-can's receive thread ends with the error; the connector must notice."""
    async with Rig("dying", pack(40)) as rig:
        await rig.start_charging()
        bus = rig.connector.bus
        assert bus is not None
        bus.shutdown()  # the adapter disappears under the notifier
        fault = await rig.events.wait_for(FaultRaised, timeout=2)
        assert fault.error_code == "EVCommunicationError"
        stopped = await rig.events.wait_for(Stopped, timeout=2)
        assert stopped.reason is StopReason.EVSE_FAULT
        assert rig.connector.reading().power_w == 0
        await wait_for(lambda: rig.connector.counters.send_errors > 0, timeout=2)
        await wait_for(lambda: rig.connector.phase is Phase.IDLE, timeout=5)
        assert not rig.cable.d1
        assert rig.running
        with pytest.raises(ConnectorUnavailable):
            await rig.connector.enable()
