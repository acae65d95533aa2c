"""CHAdeMO (IEEE 2030.1.1) frames and the charger-side charging sequence, without any I/O.

Byte layouts follow /work/shared/reference/chademo-can.md: 11-bit ids, DLC 8, every multi-byte
value little-endian. Decoding is faithful (it keeps what the bytes say); whether a value makes
sense is a separate question answered by `implausibility`, because a rejected frame must still be
counted and logged by the adapter, and must not refresh the EV-alive timer.

The sequence is a pure function `step(state, now_s, frames, commands) -> StepResult`: the adapter
calls it every 100 ms with the EV frames that arrived since the last call, sends the frames it
returns, drives the pins named in `actions`, and forwards the `events`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import IntFlag, StrEnum
from typing import ClassVar, Self

from charge_point.domain.stop_reason import StopReason

FRAME_LENGTH = 8
MAX_VOLTAGE_V = 600
"""Upper end of every CHAdeMO voltage field before the 2.0 high-voltage extension."""


class FrameError(ValueError):
    """Bytes that cannot be a CHAdeMO frame (wrong length)."""


class UnknownFrameId(FrameError):
    """An arbitration id that is not part of the modelled CHAdeMO frame set."""


# --- flags ---------------------------------------------------------------------------------


class EvFault(IntFlag):
    """0x102 byte 4 (1 = fault). Bit order as furdog/ccs32clara, not rand12345 (reversed there)."""

    NONE = 0
    BATTERY_OVERVOLTAGE = 0x01
    BATTERY_UNDERVOLTAGE = 0x02
    BATTERY_CURRENT_DEVIATION = 0x04
    HIGH_BATTERY_TEMPERATURE = 0x08
    BATTERY_VOLTAGE_DEVIATION = 0x10


class EvStatusFlag(IntFlag):
    """0x102 byte 5."""

    NONE = 0
    CHARGING_ENABLED = 0x01
    SHIFT_LEVER_NOT_PARK = 0x02
    CHARGING_SYSTEM_FAULT = 0x04
    CONTACTOR_OPEN = 0x08
    """1 = EV contactor open (or welding detection finished), 0 = closed."""
    NORMAL_STOP_REQUEST = 0x10
    VENDOR_BIT6 = 0x40
    """Set by the Leaf ZE0; meaning unknown, kept so re-encoding is lossless."""
    DISCHARGE_COMPATIBLE = 0x80


class ChargerStatusFlag(IntFlag):
    """0x109 byte 5."""

    NONE = 0
    CHARGING = 0x01
    MALFUNCTION = 0x02
    CONNECTOR_LOCKED = 0x04
    BATTERY_INCOMPATIBLE = 0x08
    SYSTEM_MALFUNCTION = 0x10
    STOP_CONTROL = 0x20
    """1 = stopped or stopping; the initial value."""


class ExtendedFunction(IntFlag):
    """0x110 / 0x118 byte 0 (CHAdeMO 2.0 "extended function 1")."""

    NONE = 0
    DYNAMIC_CONTROL = 0x01
    HIGH_CURRENT_CONTROL = 0x02
    HIGH_VOLTAGE_CONTROL = 0x04


# --- byte helpers ----------------------------------------------------------------------------


def _check(data: bytes, arbitration_id: int) -> None:
    if len(data) != FRAME_LENGTH:
        raise FrameError(
            f"frame 0x{arbitration_id:03X} has {len(data)} data bytes, CHAdeMO needs {FRAME_LENGTH}"
        )


def _u16(data: bytes, index: int) -> int:
    return data[index] | data[index + 1] << 8


def _put_u16(buffer: bytearray, index: int, value: int) -> None:
    buffer[index] = value & 0xFF
    buffer[index + 1] = (value >> 8) & 0xFF


def _u8(value: int, name: str) -> int:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name}={value} does not fit one byte")
    return value


def _u16_checked(value: int, name: str) -> int:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name}={value} does not fit two bytes")
    return value


# --- frames: EV -> charger -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvChargingLimits:
    """0x100: the vehicle's charging limits."""

    ARBITRATION_ID: ClassVar[int] = 0x100

    minimum_current_a: int = 0
    minimum_battery_voltage_v: int = 0
    maximum_battery_voltage_v: int = 0
    charging_rate_constant_pct: int = 100

    def encode(self) -> bytes:
        out = bytearray(FRAME_LENGTH)
        out[0] = _u8(self.minimum_current_a, "minimum_current_a")
        _put_u16(out, 2, _u16_checked(self.minimum_battery_voltage_v, "minimum_battery_voltage_v"))
        _put_u16(out, 4, _u16_checked(self.maximum_battery_voltage_v, "maximum_battery_voltage_v"))
        out[6] = _u8(self.charging_rate_constant_pct, "charging_rate_constant_pct")
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _check(data, cls.ARBITRATION_ID)
        return cls(data[0], _u16(data, 2), _u16(data, 4), data[6])


@dataclass(frozen=True, slots=True)
class EvBatteryInfo:
    """0x101: charging time limits and rated capacity."""

    ARBITRATION_ID: ClassVar[int] = 0x101
    TIME_10S_UNUSED: ClassVar[int] = 0xFF

    max_charging_time_10s: int = 0xFF
    max_charging_time_min: int = 0
    estimated_charging_time_min: int = 0
    rated_capacity_raw: int = 0
    """Raw units; see `rated_capacity_kwh` for why the factor is a parameter."""

    def encode(self) -> bytes:
        out = bytearray(FRAME_LENGTH)
        out[1] = _u8(self.max_charging_time_10s, "max_charging_time_10s")
        out[2] = _u8(self.max_charging_time_min, "max_charging_time_min")
        out[3] = _u8(self.estimated_charging_time_min, "estimated_charging_time_min")
        _put_u16(out, 5, _u16_checked(self.rated_capacity_raw, "rated_capacity_raw"))
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _check(data, cls.ARBITRATION_ID)
        return cls(data[1], data[2], data[3], _u16(data, 5))

    @property
    def max_charging_time_s(self) -> int:
        """Byte 1 in 10 s units, or byte 2 in minutes when byte 1 is 0xFF."""
        if self.max_charging_time_10s == self.TIME_10S_UNUSED:
            return self.max_charging_time_min * 60
        return self.max_charging_time_10s * 10

    def rated_capacity_kwh(self, kwh_per_bit: float = 0.1) -> float:
        """0.1 kWh/bit per furdog and ccs32clara; older hobby documents say 0.11, so callers
        that talk to such cars can pass their factor. A Leaf ZE0 sends 0 (unknown)."""
        return self.rated_capacity_raw * kwh_per_bit


@dataclass(frozen=True, slots=True)
class EvStatus:
    """0x102: what the vehicle wants now, its faults and its state of charge."""

    ARBITRATION_ID: ClassVar[int] = 0x102

    protocol_number: int = 2
    target_battery_voltage_v: int = 0
    charging_current_request_a: int = 0
    faults: EvFault = EvFault.NONE
    status: EvStatusFlag = EvStatusFlag.CONTACTOR_OPEN
    state_of_charge_pct: int = 0
    """Raw byte 6; scaled by 0x100 byte 6 when that is not 100 (see `soc_percent`)."""

    def encode(self) -> bytes:
        out = bytearray(FRAME_LENGTH)
        out[0] = _u8(self.protocol_number, "protocol_number")
        _put_u16(out, 1, _u16_checked(self.target_battery_voltage_v, "target_battery_voltage_v"))
        out[3] = _u8(self.charging_current_request_a, "charging_current_request_a")
        out[4] = _u8(int(self.faults), "faults")
        out[5] = _u8(int(self.status), "status")
        out[6] = _u8(self.state_of_charge_pct, "state_of_charge_pct")
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _check(data, cls.ARBITRATION_ID)
        return cls(
            data[0], _u16(data, 1), data[3], EvFault(data[4]), EvStatusFlag(data[5]), data[6]
        )

    @property
    def charging_enabled(self) -> bool:
        return EvStatusFlag.CHARGING_ENABLED in self.status

    @property
    def contactor_open(self) -> bool:
        return EvStatusFlag.CONTACTOR_OPEN in self.status


@dataclass(frozen=True, slots=True)
class EvExtendedFunctions:
    """0x110 (CHAdeMO 2.0): which extended functions the EV supports."""

    ARBITRATION_ID: ClassVar[int] = 0x110

    functions: ExtendedFunction = ExtendedFunction.NONE

    def encode(self) -> bytes:
        out = bytearray(FRAME_LENGTH)
        out[0] = _u8(int(self.functions), "functions")
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _check(data, cls.ARBITRATION_ID)
        return cls(ExtendedFunction(data[0]))


# --- frames: charger -> EV -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargerCapability:
    """0x108: what the charger can deliver."""

    ARBITRATION_ID: ClassVar[int] = 0x108

    welding_detection_supported: bool = True
    available_voltage_v: int = 0
    available_current_a: int = 0
    threshold_voltage_v: int = 0

    def encode(self) -> bytes:
        out = bytearray(FRAME_LENGTH)
        out[0] = 1 if self.welding_detection_supported else 0
        _put_u16(out, 1, _u16_checked(self.available_voltage_v, "available_voltage_v"))
        out[3] = _u8(self.available_current_a, "available_current_a")
        _put_u16(out, 4, _u16_checked(self.threshold_voltage_v, "threshold_voltage_v"))
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _check(data, cls.ARBITRATION_ID)
        return cls(bool(data[0] & 0x01), _u16(data, 1), data[3], _u16(data, 4))


@dataclass(frozen=True, slots=True)
class ChargerStatus:
    """0x109: what the charger is doing."""

    ARBITRATION_ID: ClassVar[int] = 0x109

    protocol_number: int = 2
    present_voltage_v: int = 0
    present_current_a: int = 0
    discharge_compatible: bool = False
    status: ChargerStatusFlag = ChargerStatusFlag.STOP_CONTROL
    remaining_time_10s: int = 0xFF
    remaining_time_min: int = 0

    def encode(self) -> bytes:
        out = bytearray(FRAME_LENGTH)
        out[0] = _u8(self.protocol_number, "protocol_number")
        _put_u16(out, 1, _u16_checked(self.present_voltage_v, "present_voltage_v"))
        out[3] = _u8(self.present_current_a, "present_current_a")
        out[4] = 1 if self.discharge_compatible else 0
        out[5] = _u8(int(self.status), "status")
        out[6] = _u8(self.remaining_time_10s, "remaining_time_10s")
        out[7] = _u8(self.remaining_time_min, "remaining_time_min")
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _check(data, cls.ARBITRATION_ID)
        return cls(
            data[0],
            _u16(data, 1),
            data[3],
            bool(data[4] & 0x01),
            ChargerStatusFlag(data[5]),
            data[6],
            data[7],
        )

    @property
    def stop_control(self) -> bool:
        return ChargerStatusFlag.STOP_CONTROL in self.status


@dataclass(frozen=True, slots=True)
class ChargerExtendedFunctions:
    """0x118 (CHAdeMO 2.0): which extended functions the charger uses in this session."""

    ARBITRATION_ID: ClassVar[int] = 0x118

    functions: ExtendedFunction = ExtendedFunction.NONE

    def encode(self) -> bytes:
        out = bytearray(FRAME_LENGTH)
        out[0] = _u8(int(self.functions), "functions")
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _check(data, cls.ARBITRATION_ID)
        return cls(ExtendedFunction(data[0]))


EvFrame = EvChargingLimits | EvBatteryInfo | EvStatus | EvExtendedFunctions
ChargerFrame = ChargerCapability | ChargerStatus | ChargerExtendedFunctions
Frame = EvFrame | ChargerFrame

EV_FRAME_TYPES: dict[int, type[EvFrame]] = {
    t.ARBITRATION_ID: t for t in (EvChargingLimits, EvBatteryInfo, EvStatus, EvExtendedFunctions)
}
CHARGER_FRAME_TYPES: dict[int, type[ChargerFrame]] = {
    t.ARBITRATION_ID: t for t in (ChargerCapability, ChargerStatus, ChargerExtendedFunctions)
}
FRAME_TYPES: dict[int, type[Frame]] = {**EV_FRAME_TYPES, **CHARGER_FRAME_TYPES}


def decode_frame(arbitration_id: int, data: bytes) -> Frame:
    """Any modelled frame; raises UnknownFrameId or FrameError."""
    frame_type = FRAME_TYPES.get(arbitration_id)
    if frame_type is None:
        raise UnknownFrameId(f"0x{arbitration_id:03X} is not a modelled CHAdeMO frame")
    return frame_type.decode(data)


def decode_ev_frame(arbitration_id: int, data: bytes) -> EvFrame:
    """What the charger listens to; anything else on the bus is UnknownFrameId to it."""
    frame_type = EV_FRAME_TYPES.get(arbitration_id)
    if frame_type is None:
        raise UnknownFrameId(f"0x{arbitration_id:03X} is not an EV->charger CHAdeMO frame")
    return frame_type.decode(data)


def decode_charger_frame(arbitration_id: int, data: bytes) -> ChargerFrame:
    """What the EV listens to."""
    frame_type = CHARGER_FRAME_TYPES.get(arbitration_id)
    if frame_type is None:
        raise UnknownFrameId(f"0x{arbitration_id:03X} is not a charger->EV CHAdeMO frame")
    return frame_type.decode(data)


def soc_percent(status: EvStatus, limits: EvChargingLimits | None) -> float:
    """SoC in percent: byte 6 of 0x102, scaled by 0x100 byte 6 when that is not 100 (ccs32clara)."""
    constant = 100 if limits is None else limits.charging_rate_constant_pct
    if constant in (0, 100):
        return float(status.state_of_charge_pct)
    return status.state_of_charge_pct * 100.0 / constant


def implausibility(frame: EvFrame, limits: EvChargingLimits | None = None) -> str | None:
    """Why an EV frame cannot be trusted, or None. Only checks that hold for every car."""
    if isinstance(frame, EvChargingLimits):
        if not 0 < frame.maximum_battery_voltage_v <= MAX_VOLTAGE_V:
            return f"maximum battery voltage {frame.maximum_battery_voltage_v} V outside 1..600"
        if frame.minimum_battery_voltage_v > frame.maximum_battery_voltage_v:
            return (
                f"minimum battery voltage {frame.minimum_battery_voltage_v} V above maximum "
                f"{frame.maximum_battery_voltage_v} V"
            )
    elif isinstance(frame, EvStatus):
        if frame.target_battery_voltage_v > MAX_VOLTAGE_V:
            return f"target voltage {frame.target_battery_voltage_v} V above 600"
        soc = soc_percent(frame, limits)
        if soc > 100.0:
            return f"state of charge {soc:.0f} % above 100"
    return None


# --- the charger-side sequence ---------------------------------------------------------------


class Phase(StrEnum):
    IDLE = "idle"
    """No session: CAN silent, d1 open."""
    WAIT_EV_PARAMETERS = "wait_ev_parameters"
    """d1 closed, sending 0x108/0x109, waiting for 0x100, 0x101 and 0x102."""
    WAIT_EV_ENABLE = "wait_ev_enable"
    """Compatible; waiting for 0x102 "charging enabled" (switch k)."""
    WAIT_EV_CONTACTOR = "wait_ev_contactor"
    """Connector locked, insulation test done, d2 closed; waiting for the EV contactor."""
    CHARGING = "charging"
    """Following the EV's current request."""
    STOP_RAMP_DOWN = "stop_ramp_down"
    """Stop control set, output current ramping down to <= 5 A."""
    STOP_WAIT_EV_CONTACTOR = "stop_wait_ev_contactor"
    """Output off; waiting for the EV's welding detection (contactor open)."""
    STOP_WAIT_D1 = "stop_wait_d1"
    """d2 open, connector unlocked; d1 opens after the minimum delay."""


class Action(StrEnum):
    """Pins and actuators the adapter drives."""

    CLOSE_D1 = "close_d1"
    CLOSE_D2 = "close_d2"
    OPEN_D2 = "open_d2"
    OPEN_D1 = "open_d1"
    LOCK_CONNECTOR = "lock_connector"
    UNLOCK_CONNECTOR = "unlock_connector"


# Commands from the station (driver, central system, power sharing, measurements).


@dataclass(frozen=True, slots=True)
class StartCharging:
    """Driver authorized and the cable is in: close d1 and begin the parameter exchange."""


@dataclass(frozen=True, slots=True)
class StopCharging:
    reason: StopReason = StopReason.EVSE
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SetPowerLimit:
    """None = only the charger's own rating limits the output."""

    watts: int | None


@dataclass(frozen=True, slots=True)
class MeasuredVoltage:
    """The DC output voltage the power stage measures (the battery voltage once connected)."""

    volts: float | None


Command = StartCharging | StopCharging | SetPowerLimit | MeasuredVoltage


# Events for the station.


@dataclass(frozen=True, slots=True)
class EvParametersReceived:
    limits: EvChargingLimits
    battery: EvBatteryInfo
    status: EvStatus


@dataclass(frozen=True, slots=True)
class EnergyTransferStarted:
    pass


@dataclass(frozen=True, slots=True)
class SuspendedByEv:
    """The EV is enabled but requests 0 A."""


@dataclass(frozen=True, slots=True)
class SuspendedByEvse:
    """The station allows 0 W (charging profile or power sharing)."""


@dataclass(frozen=True, slots=True)
class Resumed:
    pass


@dataclass(frozen=True, slots=True)
class StopRequested:
    """The stop sequence began; `Stopped` follows when the current is off."""

    reason: StopReason
    detail: str


@dataclass(frozen=True, slots=True)
class Stopped:
    """Energy transfer is over (or never started); the rest of the stop sequence continues."""

    reason: StopReason
    detail: str


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """d1 is open and CAN goes quiet: the charger is ready for the next session."""

    reason: StopReason


@dataclass(frozen=True, slots=True)
class FrameRejected:
    arbitration_id: int
    detail: str


@dataclass(frozen=True, slots=True)
class CommandIgnored:
    command: Command
    detail: str


SequenceEvent = (
    EvParametersReceived
    | EnergyTransferStarted
    | SuspendedByEv
    | SuspendedByEvse
    | Resumed
    | StopRequested
    | Stopped
    | SessionEnded
    | FrameRejected
    | CommandIgnored
)


@dataclass(frozen=True, slots=True)
class ChargerConfig:
    """The charger's ratings and the sequence's timing (ccs32clara values by default)."""

    max_voltage_v: int = 500
    min_voltage_v: int = 50
    max_current_a: int = 125
    protocol_number: int = 2
    welding_detection_supported: bool = True
    supported_functions: ExtendedFunction = ExtendedFunction.DYNAMIC_CONTROL
    ev_timeout_s: float = 1.0
    start_phase_timeout_s: float = 20.0
    stop_phase_timeout_s: float = 10.0
    d1_open_delay_s: float = 0.5
    stop_current_a: float = 5.0
    ramp_down_a_per_s: float = 500.0

    def __post_init__(self) -> None:
        if not 0 < self.max_voltage_v <= MAX_VOLTAGE_V:
            raise ValueError("max_voltage_v must be within 1..600")
        if not 0 < self.max_current_a <= 0xFF:
            raise ValueError("max_current_a must be within 1..255")
        if self.min_voltage_v >= self.max_voltage_v:
            raise ValueError("min_voltage_v must be below max_voltage_v")


_ACTIVE = (Phase.WAIT_EV_PARAMETERS, Phase.WAIT_EV_ENABLE, Phase.WAIT_EV_CONTACTOR, Phase.CHARGING)
_STOPPING = (Phase.STOP_RAMP_DOWN, Phase.STOP_WAIT_EV_CONTACTOR, Phase.STOP_WAIT_D1)


class Delivery(StrEnum):
    """Why current is or is not flowing in the CHARGING phase (drives Suspended events)."""

    NOT_STARTED = "not_started"
    FLOWING = "flowing"
    SUSPENDED_EV = "suspended_ev"
    SUSPENDED_EVSE = "suspended_evse"


@dataclass(frozen=True, slots=True)
class SequenceState:
    config: ChargerConfig = field(default_factory=ChargerConfig)
    phase: Phase = Phase.IDLE
    phase_since_s: float = 0.0
    last_step_s: float | None = None
    ev_limits: EvChargingLimits | None = None
    ev_battery: EvBatteryInfo | None = None
    ev_status: EvStatus | None = None
    ev_functions: ExtendedFunction | None = None
    last_ev_status_s: float | None = None
    power_limit_w: int | None = None
    measured_voltage_v: float | None = None
    advertised_current_a: int = 0
    output_voltage_v: float = 0.0
    output_current_a: float = 0.0
    locked: bool = False
    d2_closed: bool = False
    incompatible: bool = False
    charging_since_s: float | None = None
    delivery: Delivery = Delivery.NOT_STARTED
    transfer_started: bool = False
    stop_reason: StopReason | None = None
    stop_detail: str = ""

    @property
    def in_session(self) -> bool:
        return self.phase is not Phase.IDLE

    @property
    def energy_flowing(self) -> bool:
        return self.output_current_a > 0 and self.output_voltage_v > 0

    @property
    def soc_pct(self) -> float | None:
        if self.ev_status is None:
            return None
        return soc_percent(self.ev_status, self.ev_limits)

    @property
    def dynamic_control(self) -> bool:
        if self.ev_functions is None:
            return False
        shared = self.ev_functions & self.config.supported_functions
        return ExtendedFunction.DYNAMIC_CONTROL in shared

    @property
    def threshold_voltage_v(self) -> int:
        if self.ev_limits is None:
            return self.config.max_voltage_v
        return min(self.ev_limits.maximum_battery_voltage_v, self.config.max_voltage_v)


@dataclass(frozen=True, slots=True)
class StepResult:
    state: SequenceState
    frames: tuple[ChargerFrame, ...]
    actions: tuple[Action, ...]
    events: tuple[SequenceEvent, ...]


def allowed_current_a(state: SequenceState) -> int:
    """Current the power limit allows at the present (or expected) voltage, capped by rating."""
    rating = state.config.max_current_a
    if state.power_limit_w is None:
        return rating
    volts = state.measured_voltage_v or state.output_voltage_v
    if not volts and state.ev_status is not None:
        volts = float(state.ev_status.target_battery_voltage_v)
    if not volts:
        volts = float(state.config.max_voltage_v)
    return max(0, min(rating, math.floor(state.power_limit_w / volts)))


def limit_output(state: SequenceState, power_limit_w: int | None) -> SequenceState:
    """Apply a lower power limit to the output at once, between two cycles.

    Power sharing lowers one connector before it raises another; doing that synchronously
    keeps the station below its maximum even for the ~100 ms until the next `step`.
    """
    limited = replace(state, power_limit_w=power_limit_w)
    current = min(state.output_current_a, float(allowed_current_a(limited)))
    return replace(limited, output_current_a=current)


class _Builder:
    """Collects one step's outputs while the state is rewritten."""

    def __init__(self, state: SequenceState, now_s: float) -> None:
        self.state = state
        self.now_s = now_s
        self.actions: list[Action] = []
        self.events: list[SequenceEvent] = []

    def enter(self, phase: Phase, **changes: object) -> None:
        self.state = replace(self.state, phase=phase, phase_since_s=self.now_s, **changes)  # type: ignore[arg-type]

    def update(self, **changes: object) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]

    def stop(self, reason: StopReason, detail: str) -> None:
        """Begin the stop sequence (first reason wins)."""
        if self.state.phase not in _ACTIVE:
            return
        self.events.append(StopRequested(reason, detail))
        self.enter(Phase.STOP_RAMP_DOWN, stop_reason=reason, stop_detail=detail)

    @property
    def phase_age_s(self) -> float:
        return self.now_s - self.state.phase_since_s


def step(
    state: SequenceState,
    now_s: float,
    frames: Sequence[EvFrame] = (),
    commands: Sequence[Command] = (),
) -> StepResult:
    """One 100 ms cycle of the charger side of the sequence (reference "Charging sequence")."""
    b = _Builder(state, now_s)
    dt = 0.0 if state.last_step_s is None else max(0.0, now_s - state.last_step_s)

    for command in commands:
        _apply_command(b, command)
    if b.state.in_session:
        for frame in frames:
            _receive(b, frame)
        _check_ev_alive(b)
        _advance(b, dt)
    b.update(last_step_s=now_s)
    out_frames = _frames(b.state) if b.state.in_session else ()
    return StepResult(b.state, out_frames, tuple(b.actions), tuple(b.events))


def _apply_command(b: _Builder, command: Command) -> None:
    if isinstance(command, StartCharging):
        if b.state.phase is not Phase.IDLE:
            b.events.append(CommandIgnored(command, f"session already in {b.state.phase.value}"))
            return
        b.enter(
            Phase.WAIT_EV_PARAMETERS,
            ev_limits=None,
            ev_battery=None,
            ev_status=None,
            ev_functions=None,
            last_ev_status_s=None,
            incompatible=False,
            output_current_a=0.0,
            output_voltage_v=0.0,
            charging_since_s=None,
            delivery=Delivery.NOT_STARTED,
            transfer_started=False,
            stop_reason=None,
            stop_detail="",
            advertised_current_a=allowed_current_a(b.state),
        )
        b.actions.append(Action.CLOSE_D1)
    elif isinstance(command, StopCharging):
        if b.state.phase in _ACTIVE:
            b.stop(command.reason, command.detail or "stop requested by the station")
        else:
            b.events.append(CommandIgnored(command, f"nothing to stop in {b.state.phase.value}"))
    elif isinstance(command, SetPowerLimit):
        b.state = limit_output(b.state, command.watts)
    else:
        b.update(measured_voltage_v=command.volts)


def _receive(b: _Builder, frame: EvFrame) -> None:
    problem = implausibility(frame, b.state.ev_limits)
    if problem is not None:
        b.events.append(FrameRejected(frame.ARBITRATION_ID, problem))
        return
    if isinstance(frame, EvChargingLimits):
        b.update(ev_limits=frame)
    elif isinstance(frame, EvBatteryInfo):
        b.update(ev_battery=frame)
    elif isinstance(frame, EvStatus):
        b.update(ev_status=frame, last_ev_status_s=b.now_s)
    else:
        b.update(ev_functions=frame.functions)


def _check_ev_alive(b: _Builder) -> None:
    s = b.state
    if s.phase not in _ACTIVE:
        return
    if s.last_ev_status_s is None:
        if b.phase_age_s > s.config.start_phase_timeout_s:
            b.stop(StopReason.COMMUNICATION_TIMEOUT, "the EV never sent 0x102")
        return
    silent = b.now_s - s.last_ev_status_s
    if silent > s.config.ev_timeout_s:
        b.stop(StopReason.COMMUNICATION_TIMEOUT, f"no 0x102 from the EV for {silent:.2f} s")


def _ev_stop_reason(status: EvStatus) -> tuple[StopReason, str] | None:
    """Conditions in 0x102 that end the session at any point (reference step 7)."""
    if status.faults:
        return StopReason.EV_FAULT, f"EV fault flags {status.faults!r}"
    if EvStatusFlag.CHARGING_SYSTEM_FAULT in status.status:
        return StopReason.EV_FAULT, "EV charging-system fault"
    if EvStatusFlag.SHIFT_LEVER_NOT_PARK in status.status:
        return StopReason.EV_FAULT, "shift lever not in park"
    if EvStatusFlag.NORMAL_STOP_REQUEST in status.status:
        return StopReason.EV_REQUEST, "EV normal stop request"
    return None


def _compatibility_problem(s: SequenceState) -> str | None:
    assert s.ev_limits is not None
    assert s.ev_status is not None
    config = s.config
    if s.ev_status.protocol_number < 1:
        return f"EV protocol number {s.ev_status.protocol_number} predates CHAdeMO 0.9"
    if s.ev_status.target_battery_voltage_v > config.max_voltage_v:
        return (
            f"EV target voltage {s.ev_status.target_battery_voltage_v} V above charger "
            f"maximum {config.max_voltage_v} V"
        )
    if s.ev_limits.minimum_battery_voltage_v < config.min_voltage_v:
        return (
            f"EV minimum battery voltage {s.ev_limits.minimum_battery_voltage_v} V below "
            f"charger minimum {config.min_voltage_v} V"
        )
    return None


def _advance(b: _Builder, dt: float) -> None:
    """Phase logic after this cycle's frames and commands are in."""
    s = b.state
    config = s.config
    status = s.ev_status
    if s.phase in _ACTIVE and status is not None and s.phase is not Phase.WAIT_EV_PARAMETERS:
        stop = _ev_stop_reason(status)
        if stop is not None:
            b.stop(*stop)

    s = b.state
    if s.phase is Phase.WAIT_EV_PARAMETERS:
        if s.ev_limits is not None and s.ev_battery is not None and s.ev_status is not None:
            problem = _compatibility_problem(s)
            if problem is not None:
                b.update(incompatible=True)
                b.events.append(StopRequested(StopReason.INCOMPATIBLE, problem))
                b.enter(
                    Phase.STOP_RAMP_DOWN,
                    stop_reason=StopReason.INCOMPATIBLE,
                    stop_detail=problem,
                )
            else:
                b.events.append(EvParametersReceived(s.ev_limits, s.ev_battery, s.ev_status))
                stop = _ev_stop_reason(s.ev_status)
                if stop is not None:
                    b.stop(*stop)
                else:
                    advertised = allowed_current_a(s) if s.dynamic_control else config.max_current_a
                    b.enter(Phase.WAIT_EV_ENABLE, advertised_current_a=advertised)
    elif s.phase is Phase.WAIT_EV_ENABLE:
        assert status is not None
        if status.charging_enabled:
            # Lock, insulation test and pre-charge are instantaneous in this model.
            b.actions += [Action.LOCK_CONNECTOR, Action.CLOSE_D2]
            b.enter(Phase.WAIT_EV_CONTACTOR, locked=True, d2_closed=True)
        elif b.phase_age_s > config.start_phase_timeout_s:
            b.stop(StopReason.EV_FAULT, "EV did not enable charging in time")
    elif s.phase is Phase.WAIT_EV_CONTACTOR:
        assert status is not None
        if not status.charging_enabled:
            b.stop(StopReason.EV_REQUEST, "EV withdrew charging permission")
        elif not status.contactor_open:
            b.enter(Phase.CHARGING, charging_since_s=b.now_s)
        elif b.phase_age_s > config.start_phase_timeout_s:
            b.stop(StopReason.EV_FAULT, "EV contactor did not close in time")
    if b.state.phase is Phase.CHARGING:
        _charge(b)

    if b.state.phase in _STOPPING:
        _stop_sequence(b, dt)


def _charge(b: _Builder) -> None:
    s = b.state
    status = s.ev_status
    assert status is not None
    config = s.config
    if not status.charging_enabled:
        b.stop(StopReason.EV_REQUEST, "EV cleared charging enabled")
        return
    if status.contactor_open:
        b.stop(StopReason.EV_FAULT, "EV opened its contactor while charging")
        return
    if status.charging_current_request_a > config.max_current_a:
        b.stop(
            StopReason.EV_FAULT,
            f"current request {status.charging_current_request_a} A above charger rating "
            f"{config.max_current_a} A",
        )
        return
    if status.target_battery_voltage_v > s.threshold_voltage_v:
        b.stop(
            StopReason.EV_FAULT,
            f"target voltage {status.target_battery_voltage_v} V above threshold "
            f"{s.threshold_voltage_v} V",
        )
        return
    voltage = s.measured_voltage_v or float(status.target_battery_voltage_v)
    if voltage > s.threshold_voltage_v:
        b.stop(StopReason.EVSE_FAULT, f"output {voltage:.0f} V above threshold")
        return
    allowed = allowed_current_a(s)
    current = float(min(status.charging_current_request_a, allowed))
    if allowed == 0:
        delivery = Delivery.SUSPENDED_EVSE
    elif status.charging_current_request_a > 0:
        delivery = Delivery.FLOWING
    elif s.delivery is Delivery.NOT_STARTED:
        delivery = Delivery.NOT_STARTED  # the EV is still raising its first request
    else:
        delivery = Delivery.SUSPENDED_EV
    if delivery is not s.delivery:
        if delivery is Delivery.FLOWING:
            b.events.append(Resumed() if s.transfer_started else EnergyTransferStarted())
            b.update(transfer_started=True)
        elif delivery is Delivery.SUSPENDED_EV:
            b.events.append(SuspendedByEv())
        elif delivery is Delivery.SUSPENDED_EVSE:
            b.events.append(SuspendedByEvse())
    advertised = allowed if s.dynamic_control else s.advertised_current_a
    b.update(
        output_voltage_v=voltage,
        output_current_a=current,
        delivery=delivery,
        advertised_current_a=advertised,
    )


def _stop_sequence(b: _Builder, dt: float) -> None:
    """Reference step 8: ramp down, welding detection, open d2, unlock, open d1."""
    s = b.state
    config = s.config
    reason = s.stop_reason or StopReason.EVSE
    if s.phase is Phase.STOP_RAMP_DOWN:
        current = max(0.0, s.output_current_a - config.ramp_down_a_per_s * dt)
        if current > config.stop_current_a:
            b.update(output_current_a=current)
            return
        b.update(output_current_a=0.0)
        b.events.append(Stopped(reason, s.stop_detail))
        if s.d2_closed:
            b.enter(Phase.STOP_WAIT_EV_CONTACTOR)
        else:
            _finish_stop(b)
    elif s.phase is Phase.STOP_WAIT_EV_CONTACTOR:
        ev_silent = s.last_ev_status_s is None or b.now_s - s.last_ev_status_s > config.ev_timeout_s
        contactor_open = s.ev_status is not None and s.ev_status.contactor_open
        unplugged = s.stop_reason is StopReason.UNPLUGGED  # no EV left to answer
        if contactor_open or ev_silent or unplugged or b.phase_age_s > config.stop_phase_timeout_s:
            _finish_stop(b)
    elif s.phase is Phase.STOP_WAIT_D1 and b.phase_age_s >= config.d1_open_delay_s:
        b.actions.append(Action.OPEN_D1)
        b.events.append(SessionEnded(reason))
        b.enter(Phase.IDLE, output_voltage_v=0.0, output_current_a=0.0)


def _finish_stop(b: _Builder) -> None:
    """Open d2 (output falls below 10 V at once in this model) and unlock."""
    if b.state.d2_closed:
        b.actions.append(Action.OPEN_D2)
    if b.state.locked:
        b.actions.append(Action.UNLOCK_CONNECTOR)
    b.enter(Phase.STOP_WAIT_D1, d2_closed=False, locked=False, output_voltage_v=0.0)


def _remaining_time(s: SequenceState, now_s: float) -> tuple[int, int]:
    """0x109 bytes 6/7: 10 s units when it fits, else 0xFF and minutes."""
    if s.ev_battery is None:
        return 0xFF, 0
    remaining = float(s.ev_battery.max_charging_time_s)
    if s.charging_since_s is not None:
        remaining -= now_s - s.charging_since_s
    remaining = max(0.0, remaining)
    tens = math.ceil(remaining / 10.0)
    if tens < 0xFF:
        return tens, math.ceil(remaining / 60.0)
    return 0xFF, min(0xFF, math.ceil(remaining / 60.0))


def _frames(s: SequenceState) -> tuple[ChargerFrame, ...]:
    config = s.config
    flags = ChargerStatusFlag.NONE
    if s.phase is Phase.CHARGING or (
        s.phase is Phase.STOP_RAMP_DOWN and s.charging_since_s is not None
    ):
        flags |= ChargerStatusFlag.CHARGING
    if s.phase is not Phase.CHARGING:
        flags |= ChargerStatusFlag.STOP_CONTROL
    if s.locked:
        flags |= ChargerStatusFlag.CONNECTOR_LOCKED
    if s.incompatible:
        flags |= ChargerStatusFlag.BATTERY_INCOMPATIBLE
    if s.stop_reason is StopReason.EVSE_FAULT:
        flags |= ChargerStatusFlag.MALFUNCTION
    ten_s, minutes = _remaining_time(s, s.last_step_s or 0.0)
    frames: list[ChargerFrame] = [
        ChargerCapability(
            welding_detection_supported=config.welding_detection_supported,
            available_voltage_v=config.max_voltage_v,
            available_current_a=s.advertised_current_a,
            threshold_voltage_v=s.threshold_voltage_v,
        ),
        ChargerStatus(
            protocol_number=config.protocol_number,
            present_voltage_v=min(0xFFFF, round(s.output_voltage_v)),
            present_current_a=min(0xFF, round(s.output_current_a)),
            discharge_compatible=False,
            status=flags,
            remaining_time_10s=ten_s,
            remaining_time_min=minutes,
        ),
    ]
    if s.ev_functions is not None:
        frames.append(ChargerExtendedFunctions(s.ev_functions & config.supported_functions))
    return tuple(frames)
