"""The simulated battery: charging curves must look like a real car's, tapering above ~80 %."""

import itertools

import pytest

from charge_point.domain.battery import BatteryState, accepted_power_w, step


def pack(soc: float, target: float = 100.0) -> BatteryState:
    return BatteryState(capacity_wh=40_000, soc_pct=soc, target_soc_pct=target, max_power_w=50_000)


def test_full_power_below_80_percent_and_tapering_above():
    assert accepted_power_w(pack(20)) == 50_000
    assert accepted_power_w(pack(80)) == 50_000
    assert accepted_power_w(pack(85)) < accepted_power_w(pack(82)) < 50_000
    assert accepted_power_w(pack(90)) == 25_000
    # Never zero before the target, or a car set to 100 % would never finish.
    assert accepted_power_w(pack(99.9)) >= 2_500


def test_step_delivers_the_offer_when_the_pack_takes_it():
    result = step(pack(50), offered_power_w=11_000, dt_s=3600)
    assert result.energy_wh == pytest.approx(11_000)
    assert result.state.soc_pct == pytest.approx(50 + 11_000 / 40_000 * 100)


def test_step_is_limited_by_acceptance_in_the_taper():
    result = step(pack(90), offered_power_w=50_000, dt_s=10)
    assert result.power_w == pytest.approx(25_000)


def test_step_stops_exactly_at_the_target():
    result = step(pack(79.9, target=80), offered_power_w=50_000, dt_s=3600)
    assert result.state.soc_pct == 80
    assert result.state.full
    assert result.energy_wh == pytest.approx(0.1 / 100 * 40_000)
    again = step(result.state, offered_power_w=50_000, dt_s=60)
    assert again.energy_wh == 0
    assert again.state == result.state


def test_simulated_session_has_a_taper_shape_and_is_deterministic():
    def session() -> list[float]:
        state, powers = pack(10), []
        while not state.full:
            result = step(state, offered_power_w=40_000, dt_s=30)
            powers.append(result.power_w)
            state = result.state
        return powers

    powers = session()
    assert powers == session()
    assert powers[0] == pytest.approx(40_000)
    assert powers[-1] < 5_000
    assert all(later <= earlier + 1e-6 for earlier, later in itertools.pairwise(powers))


def test_voltage_rises_with_soc():
    assert pack(0).voltage_v == 300
    assert pack(100).voltage_v == 400
    assert pack(20).voltage_v < pack(80).voltage_v


def test_invalid_pack_is_rejected():
    with pytest.raises(ValueError, match="soc_pct"):
        BatteryState(capacity_wh=40_000, soc_pct=120)
    with pytest.raises(ValueError, match="dt_s"):
        step(pack(50), 1_000, -1)
