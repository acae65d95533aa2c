"""CHAdeMO connector on a python-can bus, driving the pure sequence in `domain.chademo`.

Every `cycle_s` (100 ms) the connector hands the EV frames received since the last cycle to
`chademo.step`, sends the 0x108/0x109 (+0x118) frames it returns, drives the pins it names and
turns its events into hardware events. Frames are received by a `can.Notifier` feeding a
`can.AsyncBufferedReader` (no busy polling); the bus and notifier are always shut down when
`run()` ends, also on cancellation.

Whatever arrives on the bus - wrong lengths, foreign ids, error frames, implausible values, or
nothing at all - is counted in `counters`, logged (rate-limited) and at worst stops the session
through the sequence; it never raises out of `run()`.

The pins of the CHAdeMO connector (proximity, d1, d2, the lock, the DC output voltage sense)
are not on CAN: they sit behind `ChademoLines`. `SimulatedChademoCable` implements both ends of
that harness in-process so the simulated EV can share it; a real station provides a GPIO-backed
implementation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import can

from charge_point.can_codec import FrameCodec, PureCodec
from charge_point.domain import chademo
from charge_point.domain.chademo import (
    Action,
    ChargerConfig,
    Command,
    EvFrame,
    FrameError,
    MeasuredVoltage,
    Phase,
    SequenceState,
    SetPowerLimit,
    StartCharging,
    StopCharging,
    UnknownFrameId,
)
from charge_point.domain.stop_reason import StopReason
from charge_point.hardware.base import (
    ConnectorBase,
    ConnectorStandard,
    ConnectorUnavailable,
    EnergyTransferStarted,
    FaultCleared,
    FaultRaised,
    PluggedIn,
    Reading,
    Resumed,
    Stopped,
    SuspendedByEv,
    SuspendedByEvse,
    Unplugged,
)

log = logging.getLogger(__name__)

CYCLE_S = 0.1
"""Both sides transmit every 100 ms (reference: CHA_CYCLE_MS 100)."""

DEMAND_HEADROOM = 1.1
"""A CHAdeMO car never asks above what is offered, so a request just below the offer says
little about what it would take; shares are given 10 % above a lower request so that a car
that wants more can show it at the next rebalance."""


class ChademoLines(Protocol):
    """The connector's non-CAN signals, as the charger sees them."""

    def plugged_in(self) -> bool:
        """Proximity detection (pin 7)."""
        ...

    def set_d1(self, closed: bool) -> None:
        """Charge sequence signal 1 (pin 2): wakes the EV and starts CAN."""
        ...

    def set_d2(self, closed: bool) -> None:
        """Charge sequence signal 2 (pin 10): lets the EV close its contactors."""
        ...

    def set_locked(self, locked: bool) -> None: ...

    def output_voltage_v(self) -> float | None:
        """DC output voltage sense: the battery voltage once the EV contactor is closed."""
        ...


class SimulatedChademoCable:
    """Both ends of a CHAdeMO cable in one object: the charger drives d1/d2/lock and reads the
    proximity pin and the DC voltage; the simulated EV does the opposite."""

    def __init__(self) -> None:
        self.plugged = False
        self.d1 = False
        self.d2 = False
        self.locked = False
        self.dc_voltage_v: float | None = None

    # charger side (ChademoLines)
    def plugged_in(self) -> bool:
        return self.plugged

    def set_d1(self, closed: bool) -> None:
        self.d1 = closed

    def set_d2(self, closed: bool) -> None:
        self.d2 = closed

    def set_locked(self, locked: bool) -> None:
        self.locked = locked

    def output_voltage_v(self) -> float | None:
        return self.dc_voltage_v


@dataclass(slots=True)
class ChademoCounters:
    """Bus health, exposed for logs, metrics and tests."""

    received: int = 0
    accepted: int = 0
    unknown_id: int = 0
    bad_length: int = 0
    not_standard: int = 0
    """Extended-id or remote frames: CHAdeMO uses 11-bit data frames only."""
    error_frames: int = 0
    implausible: int = 0
    comm_timeouts: int = 0
    sent: int = 0
    send_errors: int = 0
    cycle_overruns: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


def _should_log(count: int) -> bool:
    """First ten, then every hundredth: a flooding node must not flood the log too."""
    return count <= 10 or count % 100 == 0


class _BusErrorListener(can.Listener):
    """Turns a dying receive thread (interface down, adapter unplugged) into a connector
    fault instead of a silent bus; the sequence's EV timeout already stops any session."""

    def __init__(self, connector: ChademoCanConnector) -> None:
        self._connector = connector

    def on_message_received(self, msg: can.Message) -> None:
        pass

    def on_error(self, exc: Exception) -> None:
        self._connector.bus_failed(exc)


class ChademoCanConnector(ConnectorBase):
    """CHAdeMO connector 2 of the station. Implements `PowerSharingMember`."""

    def __init__(
        self,
        connector_id: int = 2,
        *,
        channel: str = "chademo0",
        interface: str = "virtual",
        lines: ChademoLines | None = None,
        max_power_w: int = 22_000,
        config: ChargerConfig | None = None,
        cycle_s: float = CYCLE_S,
        time_scale: float = 1.0,
        codec: FrameCodec | None = None,
        bus_options: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(connector_id, ConnectorStandard.CHADEMO, max_power_w)
        if cycle_s <= 0 or time_scale <= 0:
            raise ValueError("cycle_s and time_scale must be positive")
        self.channel = channel
        self.interface = interface
        self.lines: ChademoLines = lines if lines is not None else SimulatedChademoCable()
        self.counters = ChademoCounters()
        self._config = config or ChargerConfig()
        self._cycle_s = cycle_s
        self._time_scale = time_scale
        self._codec: FrameCodec = codec or PureCodec()
        self._bus_options = dict(bus_options or {})
        self._clock = clock
        self._state = SequenceState(self._config)
        self._inbox: list[EvFrame] = []
        self._commands: list[Command] = []
        self._authorized = False
        self._plugged = False
        self._running = False
        self._fault: str | None = None
        self._energy_wh = 0.0
        self._last_account_s: float | None = None
        self._sent_power_limit: int | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._consecutive_send_errors = 0
        self._bus: can.BusABC | None = None

    # --- ConnectorHardware ---------------------------------------------------------------

    @property
    def plugged_in(self) -> bool:
        return self._plugged

    @property
    def energy_transfer_active(self) -> bool:
        return self._state.phase in _SESSION_PHASES

    @property
    def faulted(self) -> bool:
        return self._fault is not None

    @property
    def bus(self) -> can.BusABC | None:
        """The open bus while `run()` is active (diagnostics)."""
        return self._bus

    @property
    def phase(self) -> Phase:
        return self._state.phase

    @property
    def sequence_state(self) -> SequenceState:
        return self._state

    def reading(self) -> Reading:
        self._account()
        s = self._state
        soc = s.soc_pct
        return Reading(
            energy_wh=int(self._energy_wh),
            power_w=round(s.output_voltage_v * s.output_current_a),
            current_a=s.output_current_a,
            voltage_v=s.output_voltage_v,
            soc_pct=None if soc is None or not s.in_session else int(soc),
        )

    async def enable(self, power_limit_w: int | None = None) -> None:
        if self._fault is not None:
            raise ConnectorUnavailable(f"connector {self.connector_id} is faulted: {self._fault}")
        self._profile_limit_w = power_limit_w
        self._authorized = True

    def set_power_limit(self, watts: int | None) -> None:
        self._profile_limit_w = watts
        self._notify_power_change()
        self._limit_now()

    async def disable(self, reason: StopReason = StopReason.EVSE) -> None:
        self._authorized = False
        if self._state.phase is Phase.IDLE:
            return
        if self._state.phase in _SESSION_PHASES:
            self._commands.append(StopCharging(reason, "stopped by the station"))
        if not self._running:
            return
        # Stop sequence: ramp down, welding detection (<= 10 s), d1 delay.
        timeout = self._config.stop_phase_timeout_s + self._config.d1_open_delay_s + 5.0
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    async def unlock(self) -> bool:
        if self._state.in_session:
            return False
        self.lines.set_locked(False)
        return True

    # --- PowerSharingMember ---------------------------------------------------------------

    @property
    def power_active(self) -> bool:
        return self._state.phase in _SESSION_PHASES

    def demand_w(self) -> int | None:
        s = self._state
        if s.phase is not Phase.CHARGING or s.ev_status is None:
            return None
        request = s.ev_status.charging_current_request_a
        if request >= s.advertised_current_a:
            return None  # it may want more than it is offered
        volts = s.output_voltage_v or float(s.ev_status.target_battery_voltage_v)
        return int(request * volts * DEMAND_HEADROOM) + 500

    def apply_allocation(self, watts: int) -> None:
        self._allocation_w = watts
        self._limit_now()

    # --- running ----------------------------------------------------------------------

    async def run(self) -> None:
        """Open the bus and run the 100 ms cycle until cancelled; always closes the bus."""
        try:
            bus = can.Bus(interface=self.interface, channel=self.channel, **self._bus_options)
        except (can.CanError, OSError, ValueError) as error:
            self._set_fault("InternalError", f"cannot open CAN bus {self.channel}: {error}")
            raise
        self._bus = bus
        reader = can.AsyncBufferedReader()
        errors = _BusErrorListener(self)
        notifier = can.Notifier(bus, [reader, errors], timeout=0.1, loop=asyncio.get_running_loop())
        self._running = True
        log.info("CHAdeMO connector %s on %s/%s", self.connector_id, self.interface, self.channel)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._receive(reader))
                tasks.create_task(self._cycle(bus))
        finally:
            self._running = False
            self._safe_shutdown()
            notifier.stop(timeout=1.0)
            bus.shutdown()
            self._bus = None

    def bus_failed(self, error: Exception) -> None:
        """Called in the event loop by the notifier when receiving from the bus failed."""
        if self._fault is None:
            self._set_fault(
                "EVCommunicationError", f"CAN receive failed on {self.channel}: {error}"
            )

    def _safe_shutdown(self) -> None:
        """The loop is leaving: open the DC path and the pins whatever phase we were in, and
        start from a clean sequence if `run()` is called again."""
        self._account()
        if self._state.in_session:
            log.warning("connector %s shut down during a session", self.connector_id)
            self.lines.set_d2(False)
            self.lines.set_locked(False)
            self.lines.set_d1(False)
            if self.power_active:
                self._publish(
                    Stopped(
                        connector_id=self.connector_id,
                        reason=StopReason.EVSE,
                        detail="CHAdeMO controller shut down",
                    )
                )
        self._state = SequenceState(self._config)
        self._sent_power_limit = None
        self._inbox.clear()
        self._idle.set()

    async def _receive(self, reader: can.AsyncBufferedReader) -> None:
        async for message in reader:
            self._on_message(message)

    def _on_message(self, message: can.Message) -> None:
        counters = self.counters
        counters.received += 1
        if message.is_error_frame:
            counters.error_frames += 1
            if _should_log(counters.error_frames):
                log.warning(
                    "CAN error frame on %s (%d so far)", self.channel, counters.error_frames
                )
            return
        if message.is_extended_id or message.is_remote_frame:
            counters.not_standard += 1
            if _should_log(counters.not_standard):
                log.warning("ignored non-CHAdeMO frame %s", message)
            return
        try:
            frame = self._codec.decode_ev(message.arbitration_id, bytes(message.data))
        except UnknownFrameId:
            counters.unknown_id += 1
            if _should_log(counters.unknown_id):
                log.warning("ignored frame with unknown id 0x%03X", message.arbitration_id)
            return
        except FrameError as error:
            counters.bad_length += 1
            if _should_log(counters.bad_length):
                log.warning("ignored malformed frame: %s", error)
            return
        except Exception:  # a codec bug must not take the station down
            counters.bad_length += 1
            log.exception("could not decode frame 0x%03X", message.arbitration_id)
            return
        counters.accepted += 1
        self._inbox.append(frame)

    async def _cycle(self, bus: can.BusABC) -> None:
        deadline = self._clock()
        while True:
            try:
                self._tick(bus)
            except Exception:
                # A bug in a cycle must not leave the output on: stop safely, then surface.
                log.exception("CHAdeMO cycle failed on connector %s", self.connector_id)
                self._set_fault("InternalError", "CHAdeMO control loop failed")
                raise
            deadline += self._cycle_s
            delay = deadline - self._clock()
            if delay < 0:
                self.counters.cycle_overruns += 1
                deadline = self._clock()
                delay = 0
            await asyncio.sleep(delay)

    def _tick(self, bus: can.BusABC) -> None:
        now = self._clock()
        commands = self._collect_commands()
        frames, self._inbox = self._inbox, []
        was_active = self.power_active
        self._account(now)
        result = chademo.step(self._state, now, frames, commands)
        self._state = result.state
        for frame in result.frames:
            self._send(bus, frame)
        for action in result.actions:
            self._apply(action)
        for event in result.events:
            self._on_sequence_event(event)
        if self.power_active != was_active:
            self._notify_power_change()
            self._limit_now()
        if self._state.phase is Phase.IDLE:
            self._idle.set()
        else:
            self._idle.clear()

    def _collect_commands(self) -> list[Command]:
        commands, self._commands = self._commands, []
        plugged = self.lines.plugged_in()
        if plugged != self._plugged:
            self._plugged = plugged
            cid = self.connector_id
            self._publish(PluggedIn(connector_id=cid) if plugged else Unplugged(connector_id=cid))
            if not plugged:
                self._authorized = False
                if self._state.in_session:
                    commands.append(StopCharging(StopReason.UNPLUGGED, "cable pulled"))
        if self._authorized and plugged and self._fault is None and self._state.phase is Phase.IDLE:
            self._authorized = False  # one authorization, one session
            commands.append(StartCharging())
        commands.append(MeasuredVoltage(self.lines.output_voltage_v()))
        limit = self.offered_power_w()
        if limit != self._sent_power_limit:
            self._sent_power_limit = limit
            commands.append(SetPowerLimit(limit))
        return commands

    def _limit_now(self) -> None:
        """Lower the output between cycles (a share went down); raising waits for the cycle."""
        self._account()
        limit = self.offered_power_w()
        if self._state.power_limit_w is None or limit < self._state.power_limit_w:
            self._state = chademo.limit_output(self._state, limit)
            self._sent_power_limit = limit

    def _send(self, bus: can.BusABC, frame: chademo.ChargerFrame) -> None:
        message = can.Message(
            arbitration_id=frame.ARBITRATION_ID,
            data=self._codec.encode(frame),
            is_extended_id=False,
        )
        try:
            bus.send(message, timeout=0.05)
        except can.CanError as error:
            self.counters.send_errors += 1
            self._consecutive_send_errors += 1
            if _should_log(self.counters.send_errors):
                log.warning("CAN send failed on %s: %s", self.channel, error)
            if self._consecutive_send_errors == 50 and self._fault is None:
                # 5 s without a single frame out: the EV has long stopped; tell the operator.
                self._set_fault("EVCommunicationError", f"cannot send on {self.channel}: {error}")
            return
        self.counters.sent += 1
        if self._consecutive_send_errors >= 50:
            self._clear_fault()
        self._consecutive_send_errors = 0

    def _apply(self, action: Action) -> None:
        lines = self.lines
        if action is Action.CLOSE_D1:
            lines.set_d1(True)
        elif action is Action.OPEN_D1:
            lines.set_d1(False)
        elif action is Action.CLOSE_D2:
            lines.set_d2(True)
        elif action is Action.OPEN_D2:
            lines.set_d2(False)
        elif action is Action.LOCK_CONNECTOR:
            lines.set_locked(True)
        else:
            lines.set_locked(False)

    def _on_sequence_event(self, event: chademo.SequenceEvent) -> None:
        cid = self.connector_id
        if isinstance(event, chademo.EnergyTransferStarted):
            self._publish(EnergyTransferStarted(connector_id=cid))
        elif isinstance(event, chademo.SuspendedByEv):
            self._publish(SuspendedByEv(connector_id=cid))
        elif isinstance(event, chademo.SuspendedByEvse):
            self._publish(SuspendedByEvse(connector_id=cid))
        elif isinstance(event, chademo.Resumed):
            self._publish(Resumed(connector_id=cid))
        elif isinstance(event, chademo.Stopped):
            if event.reason is StopReason.COMMUNICATION_TIMEOUT:
                self.counters.comm_timeouts += 1
            log.info("connector %s stopped: %s (%s)", cid, event.reason.value, event.detail)
            self._publish(Stopped(connector_id=cid, reason=event.reason, detail=event.detail))
        elif isinstance(event, chademo.StopRequested):
            log.info("connector %s stopping: %s (%s)", cid, event.reason.value, event.detail)
        elif isinstance(event, chademo.FrameRejected):
            self.counters.implausible += 1
            if _should_log(self.counters.implausible):
                log.warning(
                    "rejected implausible frame 0x%03X: %s", event.arbitration_id, event.detail
                )
        elif isinstance(event, chademo.EvParametersReceived):
            log.info(
                "connector %s EV: %d-%d V, target %d V, capacity %.1f kWh, SoC %d %%",
                cid,
                event.limits.minimum_battery_voltage_v,
                event.limits.maximum_battery_voltage_v,
                event.status.target_battery_voltage_v,
                event.battery.rated_capacity_kwh(),
                event.status.state_of_charge_pct,
            )
        elif isinstance(event, chademo.SessionEnded):
            log.info("connector %s session ended (%s)", cid, event.reason.value)
        else:
            log.debug("connector %s: %s", cid, event)

    def _set_fault(self, error_code: str, detail: str) -> None:
        if self._state.phase in _SESSION_PHASES:
            self._commands.append(StopCharging(StopReason.EVSE_FAULT, detail))
        self._fault = error_code
        self._authorized = False
        log.error("connector %s fault %s: %s", self.connector_id, error_code, detail)
        self._publish(
            FaultRaised(connector_id=self.connector_id, error_code=error_code, detail=detail)
        )

    def _clear_fault(self) -> None:
        if self._fault is None:
            return
        self._fault = None
        self._publish(FaultCleared(connector_id=self.connector_id))
        if self._plugged:
            self._publish(PluggedIn(connector_id=self.connector_id))

    def _account(self, now: float | None = None) -> None:
        """Integrate the output power since the last call into the energy register."""
        now = self._clock() if now is None else now
        last, self._last_account_s = self._last_account_s, now
        if last is None:
            return
        s = self._state
        power = s.output_voltage_v * s.output_current_a
        if power > 0:
            self._energy_wh += power * max(0.0, now - last) * self._time_scale / 3600.0


_SESSION_PHASES = (
    Phase.WAIT_EV_PARAMETERS,
    Phase.WAIT_EV_ENABLE,
    Phase.WAIT_EV_CONTACTOR,
    Phase.CHARGING,
    Phase.STOP_RAMP_DOWN,
)
"""From d1 closing until the current is off: the span between `enable()` and `Stopped`."""
