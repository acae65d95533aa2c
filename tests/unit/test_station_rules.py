"""Pure station rules: reconnect back-off and retries, offline authorization, the local list,
stop reasons per version, meter samples, and the energy register across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from charge_point.domain.backoff import gives_up, message_retry_delay_s, reconnect_delay_s
from charge_point.domain.connector_state import ConnectorStatus
from charge_point.domain.local_auth import (
    AuthorizationPolicy,
    AuthorizationStatus,
    DecisionSource,
    IdToken,
    IdTokenInfo,
    LocalListEntry,
    LocalListStatus,
    UpdateType,
    apply_local_list,
    decide_offline,
    pre_authorize,
    same_driver,
    should_cache,
)
from charge_point.domain.metering import (
    DEFAULT_SAMPLED,
    Measurand,
    MeterSnapshot,
    ReadingContext,
    continue_register,
    parse_measurands,
    samples,
)
from charge_point.domain.stop_reason import StopReason
from charge_point.domain.transaction import (
    ChargingState,
    StopCause,
    cause_of_hardware_stop,
    charging_state,
    ocpp16_reason,
    ocpp201_stop_trigger,
    ocpp201_stopped_reason,
)

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
ACCEPTED = IdTokenInfo(AuthorizationStatus.ACCEPTED)
BLOCKED = IdTokenInfo(AuthorizationStatus.BLOCKED)


# --- back-off ---------------------------------------------------------------------------------


def delay(failures: int, fraction: float = 0.0, repeat: int = 3) -> float:
    return reconnect_delay_s(
        failures, wait_minimum_s=5, random_range_s=10, repeat_times=repeat, random_fraction=fraction
    )


def test_reconnect_back_off_doubles_up_to_the_repeat_limit_then_stays():
    assert [delay(n) for n in range(1, 7)] == [5, 10, 20, 40, 40, 40]


def test_every_reconnect_attempt_adds_its_own_random_part_within_the_range():
    assert delay(1, 0.5) == 5 + 5
    assert delay(3, 0.999) == pytest.approx(20 + 9.99)
    with pytest.raises(ValueError, match="random_fraction"):
        delay(1, 1.0)


def test_transaction_message_retries_wait_attempt_times_interval_and_give_up_at_the_limit():
    assert [message_retry_delay_s(a, 30) for a in (1, 2, 3)] == [30, 60, 90]
    assert not gives_up(2, 3)
    assert gives_up(3, 3)
    assert gives_up(1, 0)  # a message is tried once even when configured with 0 attempts


# --- authorization ----------------------------------------------------------------------------


def test_offline_the_local_list_wins_over_the_cache():
    policy = AuthorizationPolicy()
    decision = decide_offline(policy, BLOCKED, ACCEPTED, NOW)
    assert not decision.accepted
    assert decision.source is DecisionSource.LOCAL_LIST


def test_offline_a_cached_acceptance_past_its_expiry_is_expired():
    expired = IdTokenInfo(AuthorizationStatus.ACCEPTED, NOW - timedelta(minutes=1))
    decision = decide_offline(AuthorizationPolicy(), None, expired, NOW)
    assert not decision.accepted
    assert decision.info is not None and decision.info.status is AuthorizationStatus.EXPIRED


def test_unknown_tokens_charge_offline_only_when_allowed():
    assert not decide_offline(AuthorizationPolicy(), None, None, NOW).accepted
    allowed = AuthorizationPolicy(allow_offline_tx_for_unknown_id=True)
    decision = decide_offline(allowed, None, None, NOW)
    assert decision.accepted and decision.source is DecisionSource.OFFLINE_UNKNOWN
    # ... but a token known to be blocked never does
    assert not decide_offline(allowed, None, BLOCKED, NOW).accepted


def test_without_local_authorize_offline_nothing_charges_offline():
    policy = AuthorizationPolicy(local_authorize_offline=False)
    assert not decide_offline(policy, ACCEPTED, ACCEPTED, NOW).accepted


def test_disabled_list_and_cache_are_not_consulted():
    policy = AuthorizationPolicy(local_list_enabled=False, cache_enabled=False)
    assert not decide_offline(policy, ACCEPTED, ACCEPTED, NOW).accepted


def test_local_pre_authorize_skips_the_central_system_only_for_accepted_tokens():
    policy = AuthorizationPolicy(local_pre_authorize=True)
    early = pre_authorize(policy, None, ACCEPTED, NOW)
    assert early is not None and early.accepted and early.source is DecisionSource.CACHE
    assert pre_authorize(policy, BLOCKED, None, NOW) is None
    assert pre_authorize(AuthorizationPolicy(), ACCEPTED, None, NOW) is None


def test_answers_are_cached_except_unknown():
    assert should_cache(BLOCKED, cache_enabled=True)
    assert not should_cache(IdTokenInfo(AuthorizationStatus.UNKNOWN), cache_enabled=True)
    assert not should_cache(ACCEPTED, cache_enabled=False)


def test_a_token_of_the_same_group_may_stop_a_transaction():
    owner = IdToken("CARD-1")
    assert same_driver(IdToken("CARD-1"), None, owner, None)
    assert same_driver(IdToken("CARD-2"), "FAMILY", owner, "FAMILY")
    assert not same_driver(IdToken("CARD-2"), None, owner, "FAMILY")


def test_a_full_local_list_replaces_and_a_differential_one_needs_a_higher_version():
    full = apply_local_list(
        3, {"OLD": ACCEPTED}, UpdateType.FULL, 4, [LocalListEntry("A", ACCEPTED)], 10
    )
    assert full.status is LocalListStatus.ACCEPTED
    assert dict(full.entries) == {"A": ACCEPTED}
    stale = apply_local_list(4, full.entries, UpdateType.DIFFERENTIAL, 4, [], 10)
    assert stale.status is LocalListStatus.VERSION_MISMATCH
    diff = apply_local_list(
        4,
        full.entries,
        UpdateType.DIFFERENTIAL,
        5,
        [LocalListEntry("A", None), LocalListEntry("B", BLOCKED)],
        10,
    )
    assert diff.status is LocalListStatus.ACCEPTED
    assert dict(diff.entries) == {"B": BLOCKED}
    assert diff.version == 5


def test_a_local_list_that_would_be_too_long_fails_and_changes_nothing():
    entries = [LocalListEntry(str(i), ACCEPTED) for i in range(3)]
    result = apply_local_list(1, {"X": ACCEPTED}, UpdateType.FULL, 2, entries, 2)
    assert result.status is LocalListStatus.FAILED
    assert result.version == 1
    assert dict(result.entries) == {"X": ACCEPTED}


# --- stop reasons -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cause", "v16", "v201", "trigger"),
    [
        (StopCause.LOCAL, "Local", "Local", "StopAuthorized"),
        (StopCause.REMOTE, "Remote", "Remote", "RemoteStop"),
        (StopCause.EV_DISCONNECTED, "EVDisconnected", "EVDisconnected", "EVCommunicationLost"),
        (StopCause.STOPPED_BY_EV, "Other", "StoppedByEV", "ChargingStateChanged"),
        (StopCause.DEAUTHORIZED, "DeAuthorized", "DeAuthorized", "Deauthorized"),
        (StopCause.POWER_LOSS, "PowerLoss", "PowerLoss", "AbnormalCondition"),
        (StopCause.SOFT_RESET, "SoftReset", "Reboot", "ResetCommand"),
    ],
)
def test_stop_causes_are_spelled_per_version(cause, v16, v201, trigger):
    assert ocpp16_reason(cause) == v16
    assert ocpp201_stopped_reason(cause) == v201
    assert ocpp201_stop_trigger(cause) == trigger


def test_every_stop_cause_has_a_word_in_both_versions():
    for cause in StopCause:
        assert ocpp16_reason(cause)
        assert ocpp201_stopped_reason(cause)
        assert ocpp201_stop_trigger(cause)


def test_a_station_stop_keeps_the_reason_the_station_had():
    assert cause_of_hardware_stop(StopReason.EVSE, StopCause.REMOTE) is StopCause.REMOTE
    assert cause_of_hardware_stop(StopReason.EVSE, None) is StopCause.LOCAL
    assert cause_of_hardware_stop(StopReason.UNPLUGGED, None) is StopCause.EV_DISCONNECTED
    assert cause_of_hardware_stop(StopReason.EV_REQUEST, None) is StopCause.STOPPED_BY_EV
    assert cause_of_hardware_stop(StopReason.EVSE_FAULT, StopCause.REMOTE) is StopCause.EVSE_FAULT


def test_charging_states_follow_the_connector_status():
    assert charging_state(ConnectorStatus.CHARGING, True) is ChargingState.CHARGING
    assert charging_state(ConnectorStatus.SUSPENDED_EV, True) is ChargingState.SUSPENDED_EV
    assert charging_state(ConnectorStatus.PREPARING, True) is ChargingState.EV_CONNECTED
    assert charging_state(ConnectorStatus.FINISHING, False) is ChargingState.IDLE


# --- metering -----------------------------------------------------------------------------------


SNAPSHOT = MeterSnapshot(
    register_wh=12_345, power_w=11_000, current_a=30.55, voltage_v=360.04, soc_pct=42
)


def test_samples_carry_every_requested_measurand_with_its_unit_and_context():
    values = samples(SNAPSHOT, DEFAULT_SAMPLED, ReadingContext.PERIODIC)
    by_measurand = {s.measurand: s for s in values}
    assert values[0].measurand is Measurand.ENERGY_IMPORT_REGISTER
    assert by_measurand[Measurand.ENERGY_IMPORT_REGISTER].value == 12_345
    assert by_measurand[Measurand.ENERGY_IMPORT_REGISTER].unit == "Wh"
    assert by_measurand[Measurand.CURRENT_IMPORT].value == 30.6
    assert by_measurand[Measurand.SOC].unit == "Percent"
    assert by_measurand[Measurand.SOC].location == "EV"
    assert {s.context for s in values} == {ReadingContext.PERIODIC}


def test_soc_is_left_out_while_the_ev_reports_none():
    quiet_ev = MeterSnapshot(1, 0, 0.0, 0.0, None)
    assert Measurand.SOC not in {
        s.measurand for s in samples(quiet_ev, DEFAULT_SAMPLED, ReadingContext.PERIODIC)
    }


def test_measurand_lists_are_parsed_and_unsupported_ones_named():
    assert parse_measurands("SoC, Energy.Active.Import.Register,SoC") == (
        Measurand.SOC,
        Measurand.ENERGY_IMPORT_REGISTER,
    )
    with pytest.raises(ValueError, match="Frequency"):
        parse_measurands("SoC,Frequency")


def test_the_register_continues_after_a_restart_of_a_meter_that_starts_at_zero():
    assert continue_register(None, 0) == 0
    assert continue_register(5_000, 0) == 5_000
    # a real meter that kept counting needs no offset
    assert continue_register(5_000, 5_200) == 0
