"""The charger side of the CHAdeMO sequence, driven by hand-made EV frames and a fake clock:
every safety stop the reference lists must end energy transfer, and the happy path must walk the
pins and flags in the documented order."""

from dataclasses import replace

import pytest

from charge_point.domain.chademo import (
    Action,
    ChargerCapability,
    ChargerConfig,
    ChargerExtendedFunctions,
    ChargerStatus,
    ChargerStatusFlag,
    CommandIgnored,
    EnergyTransferStarted,
    EvBatteryInfo,
    EvChargingLimits,
    EvExtendedFunctions,
    EvFault,
    EvParametersReceived,
    EvStatus,
    EvStatusFlag,
    ExtendedFunction,
    FrameRejected,
    MeasuredVoltage,
    Phase,
    Resumed,
    SequenceState,
    SessionEnded,
    SetPowerLimit,
    StartCharging,
    StepResult,
    StopCharging,
    Stopped,
    StopRequested,
    SuspendedByEv,
    SuspendedByEvse,
    limit_output,
    step,
)
from charge_point.domain.stop_reason import StopReason

LIMITS = EvChargingLimits(
    minimum_current_a=0, minimum_battery_voltage_v=250, maximum_battery_voltage_v=410
)
BATTERY = EvBatteryInfo(
    max_charging_time_10s=0xFF, max_charging_time_min=60, rated_capacity_raw=400
)
ENABLED = EvStatusFlag.CHARGING_ENABLED


def ev(request_a=0, status=EvStatusFlag.CONTACTOR_OPEN, faults=EvFault.NONE, target_v=400, soc=50):
    return EvStatus(2, target_v, request_a, faults, status, soc)


def status_frame(result: StepResult) -> ChargerStatus:
    return next(f for f in result.frames if isinstance(f, ChargerStatus))


def capability_frame(result: StepResult) -> ChargerCapability:
    return next(f for f in result.frames if isinstance(f, ChargerCapability))


def kinds(result: StepResult) -> list[type]:
    return [type(e) for e in result.events]


class Session:
    """Steps the sequence at 100 ms with a fake clock."""

    def __init__(self, config: ChargerConfig | None = None) -> None:
        self.state = SequenceState(config or ChargerConfig())
        self.now = 0.0

    def step(self, *frames, commands=(), dt=0.1) -> StepResult:
        self.now += dt
        result = step(self.state, self.now, frames, commands)
        self.state = result.state
        return result

    def start_charging(self, request_a=40, extra=()) -> StepResult:
        """Run the sequence up to energy flowing at `request_a`."""
        self.step(commands=[StartCharging()])
        self.step(LIMITS, BATTERY, ev(), *extra)
        self.step(ev(status=ENABLED | EvStatusFlag.CONTACTOR_OPEN))
        self.step(ev(status=ENABLED))
        return self.step(ev(request_a, status=ENABLED))


def test_happy_path_walks_the_reference_sequence():
    s = Session()
    idle = s.step()
    assert idle.frames == ()  # CAN is silent before d1

    started = s.step(commands=[StartCharging()])
    assert started.actions == (Action.CLOSE_D1,)
    assert status_frame(started).stop_control  # 0x109 starts with stop control = 1
    assert s.state.phase is Phase.WAIT_EV_PARAMETERS

    params = s.step(LIMITS, BATTERY, ev())
    assert EvParametersReceived in kinds(params)
    assert s.state.phase is Phase.WAIT_EV_ENABLE
    assert capability_frame(params).threshold_voltage_v == 410  # min(EV max, charger max)
    assert capability_frame(params).available_voltage_v == 500

    enabled = s.step(ev(status=ENABLED | EvStatusFlag.CONTACTOR_OPEN))
    assert enabled.actions == (Action.LOCK_CONNECTOR, Action.CLOSE_D2)
    assert ChargerStatusFlag.CONNECTOR_LOCKED in status_frame(enabled).status

    contactor = s.step(ev(0, status=ENABLED))
    assert s.state.phase is Phase.CHARGING
    assert EnergyTransferStarted not in kinds(contactor)  # the EV has not asked for current yet
    flags = status_frame(contactor).status
    assert ChargerStatusFlag.CHARGING in flags
    assert ChargerStatusFlag.STOP_CONTROL not in flags

    flowing = s.step(ev(30, status=ENABLED))
    assert kinds(flowing) == [EnergyTransferStarted]
    assert status_frame(flowing).present_current_a == 30
    assert status_frame(flowing).present_voltage_v == 400

    following = s.step(ev(80, status=ENABLED))
    assert status_frame(following).present_current_a == 80  # follows the request
    assert s.state.energy_flowing

    # Battery at target: the EV clears "charging enabled".
    stop = s.step(ev(0, status=EvStatusFlag.NONE))
    assert kinds(stop)[0] is StopRequested
    assert stop.events[0].reason is StopReason.EV_REQUEST
    assert status_frame(stop).stop_control
    ramp = [stop]
    while s.state.phase is Phase.STOP_RAMP_DOWN:
        ramp.append(s.step(ev(0, status=EvStatusFlag.NONE)))
    assert any(Stopped in kinds(r) for r in ramp)
    assert s.state.output_current_a == 0
    assert s.state.phase is Phase.STOP_WAIT_EV_CONTACTOR
    assert Action.OPEN_D2 not in [a for r in ramp for a in r.actions]  # welding detection first

    welded = s.step(ev(0, status=EvStatusFlag.CONTACTOR_OPEN))
    assert welded.actions == (Action.OPEN_D2, Action.UNLOCK_CONNECTOR)
    assert ChargerStatusFlag.CONNECTOR_LOCKED not in status_frame(welded).status

    ended = s.step(ev(0, status=EvStatusFlag.CONTACTOR_OPEN), dt=0.2)
    assert Action.OPEN_D1 not in ended.actions  # d1 waits at least 500 ms after unlock
    ended = s.step(ev(0, status=EvStatusFlag.CONTACTOR_OPEN), dt=0.4)
    assert ended.actions == (Action.OPEN_D1,)
    assert kinds(ended) == [SessionEnded]
    assert s.state.phase is Phase.IDLE
    assert ended.frames == ()


def test_power_limit_caps_the_current_and_zero_suspends():
    s = Session()
    s.start_charging(request_a=100, extra=())
    s.step(ev(100, status=ENABLED), commands=[MeasuredVoltage(380.0)])
    limited = s.step(ev(100, status=ENABLED), commands=[SetPowerLimit(11_000)])
    assert status_frame(limited).present_current_a == 11_000 // 380
    assert s.state.output_voltage_v == 380.0

    suspended = s.step(ev(100, status=ENABLED), commands=[SetPowerLimit(0)])
    assert kinds(suspended) == [SuspendedByEvse]
    assert status_frame(suspended).present_current_a == 0

    resumed = s.step(ev(100, status=ENABLED), commands=[SetPowerLimit(None)])
    assert kinds(resumed) == [Resumed]
    assert status_frame(resumed).present_current_a == 100


def test_limit_output_lowers_the_current_between_cycles():
    s = Session()
    s.start_charging(request_a=100)
    assert s.state.output_current_a == 100
    lowered = limit_output(s.state, 8_000)
    assert lowered.output_current_a * lowered.output_voltage_v <= 8_000


def test_dynamic_control_lowers_the_advertised_current_only_when_the_ev_supports_it():
    dynamic = Session()
    ext = EvExtendedFunctions(ExtendedFunction.DYNAMIC_CONTROL)
    result = dynamic.start_charging(request_a=50, extra=(ext,))
    assert any(isinstance(f, ChargerExtendedFunctions) for f in result.frames)
    result = dynamic.step(ev(50, status=ENABLED), commands=[SetPowerLimit(8_000)])
    assert capability_frame(result).available_current_a == 8_000 // 400

    static = Session()
    static.start_charging(request_a=50)
    result = static.step(ev(50, status=ENABLED), commands=[SetPowerLimit(8_000)])
    assert capability_frame(result).available_current_a == 125  # fixed after the exchange
    assert status_frame(result).present_current_a == 20  # but the output is still capped


def test_ev_suspending_with_zero_request():
    s = Session()
    s.start_charging(request_a=40)
    paused = s.step(ev(0, status=ENABLED))
    assert kinds(paused) == [SuspendedByEv]
    again = s.step(ev(20, status=ENABLED))
    assert kinds(again) == [Resumed]


@pytest.mark.parametrize(
    "fault",
    [
        EvFault.BATTERY_OVERVOLTAGE,
        EvFault.HIGH_BATTERY_TEMPERATURE,
        EvFault.BATTERY_VOLTAGE_DEVIATION,
    ],
)
def test_ev_fault_flag_stops_the_session(fault):
    s = Session()
    s.start_charging(request_a=60)
    result = s.step(ev(60, status=ENABLED, faults=fault))
    assert isinstance(result.events[0], StopRequested)
    assert result.events[0].reason is StopReason.EV_FAULT
    assert status_frame(result).stop_control
    # The current is down within a few cycles, not at the EV's next request.
    for _ in range(3):
        s.step(ev(60, status=ENABLED, faults=fault))
    assert s.state.output_current_a == 0


@pytest.mark.parametrize(
    "flag", [EvStatusFlag.CHARGING_SYSTEM_FAULT, EvStatusFlag.SHIFT_LEVER_NOT_PARK]
)
def test_ev_status_faults_stop_the_session(flag):
    s = Session()
    s.start_charging(request_a=60)
    result = s.step(ev(60, status=ENABLED | flag))
    assert result.events[0].reason is StopReason.EV_FAULT


def test_ev_silent_for_more_than_one_second_stops_the_session():
    s = Session()
    s.start_charging(request_a=60)
    quiet = [s.step() for _ in range(9)]  # 0.9 s without a frame
    assert not any(StopRequested in kinds(r) for r in quiet)
    assert s.state.phase is Phase.CHARGING
    timed_out = s.step(dt=0.15)  # 1.05 s
    assert isinstance(timed_out.events[0], StopRequested)
    assert timed_out.events[0].reason is StopReason.COMMUNICATION_TIMEOUT
    # With the EV gone there is no welding-detection answer to wait for.
    while s.state.phase is not Phase.IDLE:
        last = s.step()
    assert kinds(last) == [SessionEnded]
    assert s.now < 3.0


def test_ev_that_never_answers_times_out_after_the_start_phase_limit():
    s = Session(ChargerConfig(start_phase_timeout_s=2.0))
    s.step(commands=[StartCharging()])
    results = [s.step() for _ in range(25)]
    reasons = [e.reason for r in results for e in r.events if isinstance(e, StopRequested)]
    assert reasons == [StopReason.COMMUNICATION_TIMEOUT]


def test_incompatible_target_voltage_is_refused_before_locking():
    s = Session(ChargerConfig(max_voltage_v=400))
    s.step(commands=[StartCharging()])
    result = s.step(LIMITS, BATTERY, ev(target_v=450))
    assert result.events[0] == StopRequested(StopReason.INCOMPATIBLE, result.events[0].detail)
    assert "450" in result.events[0].detail
    assert ChargerStatusFlag.BATTERY_INCOMPATIBLE in status_frame(result).status
    assert Action.LOCK_CONNECTOR not in result.actions
    assert Action.CLOSE_D2 not in result.actions
    assert Stopped in kinds(result)
    while s.state.phase is not Phase.IDLE:
        last = s.step(ev(target_v=450))
    assert last.actions == (Action.OPEN_D1,)


def test_incompatible_minimum_voltage_is_refused():
    s = Session(ChargerConfig(min_voltage_v=300))
    s.step(commands=[StartCharging()])
    result = s.step(LIMITS, BATTERY, ev())
    assert result.events[0].reason is StopReason.INCOMPATIBLE


def test_request_above_the_charger_rating_stops_the_session():
    s = Session(ChargerConfig(max_current_a=100))
    s.start_charging(request_a=50)
    result = s.step(ev(120, status=ENABLED))
    assert result.events[0].reason is StopReason.EV_FAULT
    assert "120 A" in result.events[0].detail


def test_implausible_frames_are_rejected_and_do_not_keep_the_session_alive():
    s = Session()
    s.start_charging(request_a=50)
    bad = ev(50, status=ENABLED, soc=150)
    rejected = s.step(bad)
    assert [type(e) for e in rejected.events] == [FrameRejected]
    assert rejected.events[0].arbitration_id == 0x102
    assert s.state.soc_pct == 50  # the bad SoC never reached the state
    later = [s.step(bad) for _ in range(11)]
    stops = [e for r in later for e in r.events if isinstance(e, StopRequested)]
    assert [e.reason for e in stops] == [StopReason.COMMUNICATION_TIMEOUT]
    assert sum(isinstance(e, FrameRejected) for r in later for e in r.events) >= 10


def test_station_stop_runs_the_stop_sequence():
    s = Session()
    s.start_charging(request_a=50)
    result = s.step(ev(50, status=ENABLED), commands=[StopCharging(StopReason.EVSE, "remote stop")])
    assert result.events[0] == StopRequested(StopReason.EVSE, "remote stop")
    while s.state.phase is Phase.STOP_RAMP_DOWN:
        s.step(ev(0, status=ENABLED))
    assert s.state.stop_reason is StopReason.EVSE
    assert s.state.phase is Phase.STOP_WAIT_EV_CONTACTOR


def test_commands_that_do_not_fit_the_phase_are_reported():
    s = Session()
    result = s.step(commands=[StopCharging()])
    assert kinds(result) == [CommandIgnored]
    s.step(commands=[StartCharging()])
    result = s.step(commands=[StartCharging()])
    assert kinds(result) == [CommandIgnored]


def test_remaining_time_counts_down_in_ten_second_units():
    s = Session()
    short = replace(BATTERY, max_charging_time_10s=60)  # 600 s
    s.step(commands=[StartCharging()])
    s.step(LIMITS, short, ev())
    s.step(ev(status=ENABLED | EvStatusFlag.CONTACTOR_OPEN))
    s.step(ev(status=ENABLED))
    first = status_frame(s.step(ev(10, status=ENABLED)))
    later = status_frame(s.step(ev(10, status=ENABLED), dt=20))
    assert first.remaining_time_10s == 60
    assert later.remaining_time_10s == 58


def test_unplugged_stop_does_not_wait_for_welding_detection():
    s = Session()
    s.start_charging(request_a=50)
    s.step(commands=[StopCharging(StopReason.UNPLUGGED, "cable pulled")])
    actions = [a for _ in range(3) for a in s.step().actions]
    assert actions == [Action.OPEN_D2, Action.UNLOCK_CONNECTOR]
