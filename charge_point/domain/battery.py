"""A simulated EV traction battery, good enough to make charging curves look real.

Constant-power charging up to `taper_start_pct`, then the accepted power falls linearly towards
`min_taper_fraction` of the maximum at 100 % (the constant-voltage phase of a real pack). The
pack voltage rises linearly with SoC between `min_voltage_v` and `max_voltage_v`. Everything is a
pure function of its inputs so a fleet of simulated cars is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class BatteryState:
    capacity_wh: int
    soc_pct: float
    target_soc_pct: float = 100.0
    max_power_w: int = 50_000
    min_voltage_v: float = 300.0
    max_voltage_v: float = 400.0
    taper_start_pct: float = 80.0
    min_taper_fraction: float = 0.05

    def __post_init__(self) -> None:
        if self.capacity_wh <= 0:
            raise ValueError("capacity_wh must be positive")
        if not 0.0 <= self.soc_pct <= 100.0:
            raise ValueError(f"soc_pct {self.soc_pct} outside 0..100")
        if not 0.0 <= self.target_soc_pct <= 100.0:
            raise ValueError(f"target_soc_pct {self.target_soc_pct} outside 0..100")
        if self.max_power_w < 0:
            raise ValueError("max_power_w must not be negative")
        if not 0.0 < self.taper_start_pct < 100.0:
            raise ValueError("taper_start_pct must be inside 0..100")
        if self.min_voltage_v >= self.max_voltage_v:
            raise ValueError("min_voltage_v must be below max_voltage_v")

    @property
    def full(self) -> bool:
        """At or above the target: the EV ends the session."""
        return self.soc_pct >= self.target_soc_pct

    @property
    def voltage_v(self) -> float:
        span = self.max_voltage_v - self.min_voltage_v
        return self.min_voltage_v + span * self.soc_pct / 100.0

    @property
    def energy_to_target_wh(self) -> float:
        return max(0.0, (self.target_soc_pct - self.soc_pct) / 100.0 * self.capacity_wh)


def accepted_power_w(state: BatteryState) -> int:
    """The most the pack takes right now (what a CCS car asks for, or a CHAdeMO car requests)."""
    if state.full:
        return 0
    if state.soc_pct <= state.taper_start_pct:
        return state.max_power_w
    fraction = (100.0 - state.soc_pct) / (100.0 - state.taper_start_pct)
    fraction = max(state.min_taper_fraction, fraction)
    return int(state.max_power_w * fraction)


@dataclass(frozen=True, slots=True)
class BatteryStep:
    state: BatteryState
    energy_wh: float
    """Energy that went into the pack during the step."""
    power_w: float
    """Average power over the step."""


def step(state: BatteryState, offered_power_w: float, dt_s: float) -> BatteryStep:
    """Advance the pack by `dt_s` seconds with `offered_power_w` available at the connector.

    The pack takes the lesser of the offer and its acceptance at the start of the step and never
    overshoots the target; callers keep `dt_s` small (a second or so) for a smooth taper.
    """
    if dt_s < 0:
        raise ValueError("dt_s must not be negative")
    if dt_s == 0 or offered_power_w <= 0:
        return BatteryStep(state, 0.0, 0.0)
    power = min(float(offered_power_w), float(accepted_power_w(state)))
    energy = min(power * dt_s / 3600.0, state.energy_to_target_wh)
    if energy <= 0:
        return BatteryStep(state, 0.0, 0.0)
    soc = min(100.0, state.soc_pct + energy / state.capacity_wh * 100.0)
    if state.energy_to_target_wh - energy < 1e-9:
        soc = state.target_soc_pct
    return BatteryStep(replace(state, soc_pct=soc), energy, energy * 3600.0 / dt_s)


def absorb(state: BatteryState, power_w: float, dt_s: float) -> BatteryStep:
    """Advance with a current the charger forces into the pack (CHAdeMO: the charger follows
    the EV's request, but a request change takes a cycle to arrive). Only a full pack limits
    it, so the SoC may end slightly above the target, as on a real car."""
    if dt_s < 0:
        raise ValueError("dt_s must not be negative")
    if dt_s == 0 or power_w <= 0:
        return BatteryStep(state, 0.0, 0.0)
    room_wh = (100.0 - state.soc_pct) / 100.0 * state.capacity_wh
    energy = min(power_w * dt_s / 3600.0, room_wh)
    soc = min(100.0, state.soc_pct + energy / state.capacity_wh * 100.0)
    return BatteryStep(replace(state, soc_pct=soc), energy, energy * 3600.0 / dt_s)
