"""Simulated cars for tests, demos and the fleet.

`CcsEvSimulator` is an in-process car for `SimulatedConnector` (no I/O at all). The
`ChademoEvSimulator` is the EV side of a real CHAdeMO conversation: it sends 0x100/0x101/0x102
(+0x110) every 100 ms on the same python-can channel as the charger, follows 0x108/0x109, raises
its current request step by step, and ends the session at its target SoC. The pins it shares
with the charger (proximity, d1, d2, DC voltage) go through a `SimulatedChademoCable`.

`time_scale` (simulated seconds per real second) makes the battery charge faster so a test sees
SoC move within seconds; CAN timing always stays at 100 ms real time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import can

from charge_point.can_codec import FrameCodec, PureCodec
from charge_point.domain import battery as battery_model
from charge_point.domain.battery import BatteryState, accepted_power_w
from charge_point.domain.chademo import (
    ChargerCapability,
    ChargerStatus,
    ChargerStatusFlag,
    EvBatteryInfo,
    EvChargingLimits,
    EvExtendedFunctions,
    EvFault,
    EvFrame,
    EvStatus,
    EvStatusFlag,
    ExtendedFunction,
    FrameError,
)
from charge_point.hardware.ccs import SimulatedConnector
from charge_point.hardware.chademo_can import CYCLE_S, SimulatedChademoCable

log = logging.getLogger(__name__)


class CcsEvSimulator:
    """A car on a `SimulatedConnector`; it implements the connector's `SimulatedEvPort`."""

    def __init__(self, connector: SimulatedConnector, battery: BatteryState) -> None:
        self._connector = connector
        self._battery = battery
        self._paused = False
        self._stop_requested = False
        self._fault: str | None = None
        self.energy_received_wh = 0.0

    # SimulatedEvPort
    @property
    def soc_pct(self) -> float:
        return self._battery.soc_pct

    @property
    def voltage_v(self) -> float:
        return self._battery.voltage_v

    @property
    def wants_to_charge(self) -> bool:
        return not (self._stop_requested or self._battery.full or self._fault)

    def demand_w(self) -> int:
        if self._paused or not self.wants_to_charge:
            return 0
        return accepted_power_w(self._battery)

    def take_energy(self, power_w: float, dt_s: float) -> float:
        result = battery_model.step(self._battery, power_w, dt_s)
        self._battery = result.state
        self.energy_received_wh += result.energy_wh
        return result.energy_wh

    # what a test (or the fleet) does to the car
    @property
    def battery(self) -> BatteryState:
        return self._battery

    def plug_in(self) -> None:
        self._stop_requested = False
        self._connector.ev_plugged_in(self)

    def unplug(self) -> None:
        self._connector.ev_unplugged()

    def request_stop(self) -> None:
        """The driver ends charging from the car."""
        self._stop_requested = True
        self._connector.ev_changed()

    def pause(self) -> None:
        self._paused = True
        self._connector.ev_changed()

    def resume(self) -> None:
        self._paused = False
        self._connector.ev_changed()

    def raise_fault(self, detail: str = "battery over-temperature") -> None:
        self._fault = detail
        self._connector.ev_fault(detail)

    def clear_fault(self) -> None:
        self._fault = None


class ChademoEvSimulator:
    """The EV end of a CHAdeMO session over real CAN frames; use as `async with`.

    Its own 100 ms loop runs while the bus is open; it only transmits while d1 is closed (the
    charger woke it) and it is not told to `go_silent()`.
    """

    def __init__(
        self,
        battery: BatteryState,
        *,
        cable: SimulatedChademoCable,
        channel: str,
        interface: str = "virtual",
        time_scale: float = 1.0,
        cycle_s: float = CYCLE_S,
        max_current_a: int = 125,
        ramp_a_per_cycle: int = 10,
        dynamic_control: bool = True,
        protocol_number: int = 2,
        rated_capacity_kwh: float | None = None,
        codec: FrameCodec | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._battery = battery
        self.cable = cable
        self.channel = channel
        self.interface = interface
        self.time_scale = time_scale
        self._cycle_s = cycle_s
        self.max_current_a = max_current_a
        self.ramp_a_per_cycle = ramp_a_per_cycle
        self.dynamic_control = dynamic_control
        self.protocol_number = protocol_number
        capacity = battery.capacity_wh / 1000 if rated_capacity_kwh is None else rated_capacity_kwh
        self._capacity_raw = min(0xFFFF, round(capacity * 10))
        self._codec = codec or PureCodec()
        self._clock = clock
        self._bus: can.BusABC | None = None
        self._notifier: can.Notifier | None = None
        self._task: asyncio.Task[None] | None = None
        self._inbox: list[ChargerCapability | ChargerStatus] = []
        # session state (reset whenever d1 opens)
        self._stop_requested = False
        self._faults = EvFault.NONE
        self._silent = False
        self._charger_seen = False
        self._energy_phase_seen = False
        self._enabled = False
        self._contactor_closed = False
        self._request_a = 0
        self._last_capability: ChargerCapability | None = None
        self._last_status: ChargerStatus | None = None
        self._last_s: float | None = None
        self.energy_received_wh = 0.0
        self.frames_sent = 0
        self.frames_received = 0

    # --- observation ------------------------------------------------------------------

    @property
    def battery(self) -> BatteryState:
        return self._battery

    @property
    def soc_pct(self) -> float:
        return self._battery.soc_pct

    @property
    def current_request_a(self) -> int:
        return self._request_a

    @property
    def contactor_closed(self) -> bool:
        return self._contactor_closed

    @property
    def charger_status(self) -> ChargerStatus | None:
        return self._last_status

    @property
    def charger_capability(self) -> ChargerCapability | None:
        return self._last_capability

    # --- controls ---------------------------------------------------------------------

    def plug_in(self) -> None:
        self.cable.plugged = True

    def unplug(self) -> None:
        self.cable.plugged = False
        self._reset_session()

    def request_stop(self) -> None:
        """The driver presses stop in the car: charging enabled goes to 0."""
        self._stop_requested = True

    def raise_fault(self, faults: EvFault = EvFault.HIGH_BATTERY_TEMPERATURE) -> None:
        self._faults |= faults

    def clear_fault(self) -> None:
        self._faults = EvFault.NONE

    def go_silent(self) -> None:
        """The car's CAN transmitter dies (the charger must stop within about a second)."""
        self._silent = True

    def resume_talking(self) -> None:
        self._silent = False

    # --- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._bus = can.Bus(interface=self.interface, channel=self.channel)
        reader = can.AsyncBufferedReader()
        self._notifier = can.Notifier(
            self._bus, [reader], timeout=0.1, loop=asyncio.get_running_loop()
        )
        self._task = asyncio.create_task(self._run(reader), name=f"chademo-ev-{self.channel}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        try:
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    if not task.cancelled():
                        raise
        finally:
            if self._notifier is not None:
                self._notifier.stop(timeout=1.0)
            if self._bus is not None:
                self._bus.shutdown()
            self.cable.dc_voltage_v = None

    async def _run(self, reader: can.AsyncBufferedReader) -> None:
        assert self._bus is not None
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._receive(reader))
            deadline = self._clock()
            while True:
                self._tick(self._bus)
                deadline += self._cycle_s
                await asyncio.sleep(max(0.0, deadline - self._clock()))

    async def _receive(self, reader: can.AsyncBufferedReader) -> None:
        async for message in reader:
            if message.is_error_frame or message.is_extended_id or message.is_remote_frame:
                continue
            try:
                frame = self._codec.decode_charger(message.arbitration_id, bytes(message.data))
            except FrameError:
                continue  # EV frames of another car, garbage: not for us
            if isinstance(frame, ChargerCapability | ChargerStatus):
                self.frames_received += 1
                self._inbox.append(frame)

    # --- the EV's side of the sequence -------------------------------------------------

    def _reset_session(self) -> None:
        self._stop_requested = False
        self._charger_seen = False
        self._energy_phase_seen = False
        self._enabled = False
        self._contactor_closed = False
        self._request_a = 0
        self._last_capability = None
        self._last_status = None
        self.cable.dc_voltage_v = None

    def _tick(self, bus: can.BusABC) -> None:
        now = self._clock()
        dt = 0.0 if self._last_s is None else now - self._last_s
        self._last_s = now
        inbox, self._inbox = self._inbox, []
        for frame in inbox:
            if isinstance(frame, ChargerCapability):
                self._last_capability = frame
            else:
                self._last_status = frame
        self._charge_battery(dt)
        if not (self.cable.plugged and self.cable.d1):
            if self._charger_seen or self._contactor_closed:
                self._reset_session()
            return
        self._follow_charger()
        if self._contactor_closed:
            self.cable.dc_voltage_v = self._battery.voltage_v
        if not self._silent:
            for ev_frame in self._frames():
                self._send(bus, ev_frame)

    def _charge_battery(self, dt: float) -> None:
        status = self._last_status
        if not self._contactor_closed or status is None or dt <= 0:
            return
        power = status.present_current_a * self._battery.voltage_v
        result = battery_model.absorb(self._battery, power, dt * self.time_scale)
        self._battery = result.state
        self.energy_received_wh += result.energy_wh

    def _follow_charger(self) -> None:
        status = self._last_status
        capability = self._last_capability
        if status is None or capability is None:
            return  # the charger has not spoken yet: keep announcing our parameters
        self._charger_seen = True
        charger_charging = ChargerStatusFlag.CHARGING in status.status
        if charger_charging:
            self._energy_phase_seen = True
        # Once the charger has charged and then set stop control, this session is over for
        # the car too: it never re-closes its contactor before d1 opens.
        charger_ended = self._energy_phase_seen and status.stop_control
        wants = not (self._stop_requested or self._battery.full or self._faults)
        incompatible = ChargerStatusFlag.BATTERY_INCOMPATIBLE in status.status
        self._enabled = wants and not incompatible and not charger_ended
        if (
            self.cable.d2
            and self._enabled
            and not self._contactor_closed
            and not self._energy_phase_seen
        ):
            self._contactor_closed = True  # d2 closed: close the EV contactor
        elif self._contactor_closed and (
            (charger_ended and not charger_charging and status.present_current_a <= 5)
            or not self.cable.d2
        ):
            self._contactor_closed = False  # welding detection done, contactor open
            self.cable.dc_voltage_v = None
        if self._contactor_closed and self._enabled and not status.stop_control:
            volts = self._battery.voltage_v
            desired = min(
                int(accepted_power_w(self._battery) / volts),
                self.max_current_a,
                capability.available_current_a,
            )
            self._request_a = (
                min(desired, self._request_a + self.ramp_a_per_cycle)
                if desired > self._request_a
                else desired
            )
        else:
            self._request_a = 0

    def _frames(self) -> list[EvFrame]:
        b = self._battery
        status = EvStatusFlag.NONE
        if self._enabled:
            status |= EvStatusFlag.CHARGING_ENABLED
        if not self._contactor_closed:
            status |= EvStatusFlag.CONTACTOR_OPEN
        frames: list[EvFrame] = [
            EvChargingLimits(
                minimum_current_a=0,
                minimum_battery_voltage_v=int(b.min_voltage_v),
                maximum_battery_voltage_v=int(b.max_voltage_v) + 10,
                charging_rate_constant_pct=100,
            ),
            EvBatteryInfo(
                max_charging_time_10s=0xFF,
                max_charging_time_min=0xFF,
                estimated_charging_time_min=60,
                rated_capacity_raw=self._capacity_raw,
            ),
            EvStatus(
                protocol_number=self.protocol_number,
                target_battery_voltage_v=int(b.max_voltage_v),
                charging_current_request_a=self._request_a,
                faults=self._faults,
                status=status,
                state_of_charge_pct=int(b.soc_pct),
            ),
        ]
        if self.dynamic_control:
            frames.append(EvExtendedFunctions(ExtendedFunction.DYNAMIC_CONTROL))
        return frames

    def _send(self, bus: can.BusABC, frame: EvFrame) -> None:
        message = can.Message(
            arbitration_id=frame.ARBITRATION_ID,
            data=self._codec.encode(frame),
            is_extended_id=False,
        )
        try:
            bus.send(message, timeout=0.05)
        except can.CanError as error:
            log.warning("simulated EV could not send on %s: %s", self.channel, error)
            return
        self.frames_sent += 1
