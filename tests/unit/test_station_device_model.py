"""The device model / configuration catalog shared by 1.6 and 2.0.1, its value checks, the
variable monitors, and the charging-profile rules of the station."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from charge_point.domain.device_model import (
    Component,
    EventTrigger,
    EvseInfo,
    LookupStatus,
    Monitor,
    MonitorType,
    Mutability,
    VariableRef,
    check_monitor,
    check_value,
    evaluate_monitor,
    station_catalog,
)
from charge_point.domain.smart_charging import (
    ActiveTransaction,
    ProfileRejected,
    check_install,
    clear,
    connector_limit_w,
    end_of_transaction,
    from_json,
    install,
    station_limit_w,
    to_json,
)
from schemas.charging_profiles import (
    ChargingProfile,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
)

CATALOG = station_catalog([EvseInfo(1, "cCCS2", 22_000), EvseInfo(2, "cG105", 22_000)])
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def ref(component: str, variable: str, *, evse: int | None = None, instance: str | None = None):
    connector = 1 if component == "Connector" else None
    return VariableRef(Component(component, None, evse, connector), variable, instance)


def test_one_setting_has_its_1_6_key_and_its_2_0_1_address():
    by_key = CATALOG.ocpp16("meterValueSampleInterval")  # 1.6 keys are case-insensitive
    found = CATALOG.find(ref("SampledDataCtrlr", "TxUpdatedInterval"))
    assert by_key is not None and found.variable is by_key
    attempts = CATALOG.find(ref("OCPPCommCtrlr", "MessageAttempts", instance="TransactionEvent"))
    assert attempts.variable is CATALOG.ocpp16("TransactionMessageAttempts")


def test_the_password_is_write_only_in_both_versions():
    password = CATALOG.find(ref("SecurityCtrlr", "BasicAuthPassword")).variable
    assert password is CATALOG.ocpp16("AuthorizationKey")
    assert password.mutability is Mutability.WRITE_ONLY
    assert not password.readable


def test_unknown_components_and_variables_are_told_apart():
    assert CATALOG.find(ref("NoSuchCtrlr", "X")).status is LookupStatus.UNKNOWN_COMPONENT
    assert CATALOG.find(ref("OCPPCommCtrlr", "Nope")).status is LookupStatus.UNKNOWN_VARIABLE
    # EVSE-specific variables need their EVSE
    assert CATALOG.find(ref("EVSE", "Power")).status is LookupStatus.UNKNOWN_COMPONENT
    assert CATALOG.find(ref("EVSE", "Power", evse=2)).status is LookupStatus.FOUND


def test_each_connector_reports_its_type_and_the_signal_strength_is_monitorable():
    ccs = CATALOG.find(ref("Connector", "ConnectorType", evse=1)).variable
    chademo = CATALOG.find(ref("Connector", "ConnectorType", evse=2)).variable
    assert (ccs.default, chademo.default) == ("cCCS2", "cG105")
    signal = CATALOG.find(ref("DataLink", "SignalStrength")).variable
    assert signal.supports_monitoring and signal.unit == "dBm" and not signal.stored


@pytest.mark.parametrize(
    ("name", "value", "ok", "stored"),
    [
        ("HeartbeatInterval", "120", True, "120"),
        ("HeartbeatInterval", "-1", False, ""),
        ("HeartbeatInterval", "1.5", False, ""),
        ("LocalAuthorizeOffline", "TRUE", True, "true"),
        ("LocalAuthorizeOffline", "yes", False, ""),
        ("MeterValuesSampledData", "SoC, Voltage", True, "SoC,Voltage"),
        ("MeterValuesSampledData", "SoC,Frequency", False, ""),
        ("AuthorizationKey", "short", False, ""),
        ("AuthorizationKey", "0123456789abcdef0123", True, "0123456789abcdef0123"),
        ("TransactionMessageAttempts", "0", False, ""),
    ],
)
def test_values_are_checked_against_type_and_limits(name, value, ok, stored):
    check = check_value(CATALOG[name], value)
    assert check.ok is ok
    if ok:
        assert check.value == stored
    else:
        assert check.reason


def test_read_only_facts_of_1_6():
    assert CATALOG["NumberOfConnectors"].default == "2"
    assert CATALOG["NumberOfConnectors"].mutability is Mutability.READ_ONLY
    assert "SmartCharging" in CATALOG["SupportedFeatureProfiles"].default


def monitor(kind: MonitorType, value: int) -> Monitor:
    return Monitor(1, "SignalStrength", kind, Decimal(value))


def feed(m: Monitor, *values: int | None, step_s: float = 1.0):
    events = []
    for i, v in enumerate(values):
        m, event = evaluate_monitor(m, None if v is None else Decimal(v), i * step_s)
        events.append(event)
    return m, events


def test_a_delta_monitor_reports_moves_of_at_least_its_value_from_the_last_report():
    _, events = feed(monitor(MonitorType.DELTA, 6), -80, -76, -74, -80, None, -81)
    triggered = [e for e in events if e is not None]
    assert [e.value for e in triggered] == [Decimal(-74), Decimal(-80)]
    assert {e.trigger for e in triggered} == {EventTrigger.DELTA}


def test_a_threshold_monitor_reports_crossing_and_clearing_once_each():
    _, events = feed(monitor(MonitorType.LOWER_THRESHOLD, -100), -90, -105, -107, -95)
    triggered = [e for e in events if e is not None]
    assert [(e.value, e.cleared) for e in triggered] == [
        (Decimal(-105), False),
        (Decimal(-95), True),
    ]


def test_a_periodic_monitor_reports_every_period():
    _, events = feed(monitor(MonitorType.PERIODIC, 2), -80, -80, -80, -80, -80)
    assert [e is not None for e in events] == [True, False, True, False, True]


def test_monitors_only_on_monitorable_variables_and_with_sensible_values():
    assert check_monitor(CATALOG["HeartbeatInterval"], MonitorType.DELTA, Decimal(1)) == (
        "UnsupportedMonitorType"
    )
    assert check_monitor(CATALOG["SignalStrength"], MonitorType.DELTA, Decimal(0)) == "Rejected"
    assert check_monitor(CATALOG["SignalStrength"], MonitorType.UPPER_THRESHOLD, Decimal(5)) == (
        "Rejected"
    )
    assert check_monitor(CATALOG["SignalStrength"], MonitorType.DELTA, Decimal(4)) is None


# --- charging profiles ------------------------------------------------------------------------


def profile(
    profile_id: int,
    purpose: ProfilePurpose,
    limit: int,
    *,
    evse: int = 0,
    stack: int = 0,
    transaction_id: str | None = None,
) -> ChargingProfile:
    return ChargingProfile(
        id=profile_id,
        stack_level=stack,
        purpose=purpose,
        kind=ProfileKind.ABSOLUTE,
        rate_unit=RateUnit.W,
        periods=(SchedulePeriod(0, Decimal(limit)),),
        evse_id=evse,
        start_schedule=NOW - timedelta(hours=1),
        transaction_id=transaction_id,
    )


TX = ActiveTransaction(1, "T-1", NOW - timedelta(minutes=5))


def test_a_tx_profile_needs_a_transaction_on_its_evse():
    tx_profile = profile(1, ProfilePurpose.TX, 7_000, evse=1)
    check_install(tx_profile, 1, [TX], max_stack_level=10, max_periods=24)
    with pytest.raises(ProfileRejected, match="no transaction"):
        check_install(tx_profile, 2, [TX], max_stack_level=10, max_periods=24)
    with pytest.raises(ProfileRejected, match="EVSE 0"):
        check_install(
            profile(2, ProfilePurpose.STATION_MAX, 10_000),
            1,
            [],
            max_stack_level=10,
            max_periods=24,
        )
    with pytest.raises(ProfileRejected, match="stack level"):
        check_install(
            profile(3, ProfilePurpose.TX_DEFAULT, 1, stack=11),
            0,
            [],
            max_stack_level=10,
            max_periods=24,
        )


def test_install_replaces_the_same_id_or_the_same_stack_level_and_purpose():
    first = profile(1, ProfilePurpose.TX_DEFAULT, 10_000, evse=1)
    same_slot = profile(2, ProfilePurpose.TX_DEFAULT, 8_000, evse=1)
    other_evse = profile(3, ProfilePurpose.TX_DEFAULT, 5_000, evse=2)
    installed = install(install(install((), first), other_evse), same_slot)
    assert {p.id for p in installed} == {2, 3}
    assert {p.id for p in install(installed, profile(3, ProfilePurpose.TX_DEFAULT, 1))} == {2, 3}


def test_clear_by_id_or_by_criteria():
    profiles = (
        profile(1, ProfilePurpose.TX_DEFAULT, 10_000, evse=1),
        profile(2, ProfilePurpose.STATION_MAX, 20_000),
    )
    assert clear(profiles, profile_id=2)[1] == 1
    remaining, removed = clear(profiles, purpose=ProfilePurpose.TX_DEFAULT)
    assert removed == 1 and [p.id for p in remaining] == [2]
    assert clear(profiles, profile_id=9)[1] == 0


def test_limits_per_connector_and_for_the_station():
    profiles = (
        profile(1, ProfilePurpose.TX_DEFAULT, 11_000),
        profile(2, ProfilePurpose.TX, 7_000, evse=1, stack=1),
        profile(3, ProfilePurpose.STATION_MAX, 15_000),
    )
    assert connector_limit_w(profiles, 1, NOW, TX) == 7_000  # the TxProfile wins
    assert connector_limit_w(profiles, 2, NOW, None) == 11_000
    assert station_limit_w(profiles, NOW) == 15_000
    assert connector_limit_w((), 1, NOW, None) is None


def test_a_tx_profile_ends_with_its_transaction_and_profiles_survive_json():
    profiles = (
        profile(1, ProfilePurpose.TX, 7_000, evse=1),
        profile(2, ProfilePurpose.TX_DEFAULT, 9_000),
    )
    assert [p.id for p in end_of_transaction(profiles, 1, "T-1")] == [2]
    assert [from_json(to_json(p)) for p in profiles] == list(profiles)
