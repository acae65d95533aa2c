"""Pure domain rules of the central system: no event loop, no database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central_system.domain.authorization import (
    AuthorizationStatus,
    IdToken,
    IdTokenRecord,
    authorize,
)
from central_system.domain.clock import format_timestamp, parse_timestamp
from central_system.domain.connectors import (
    ConnectorKey,
    ConnectorState,
    ConnectorStatus,
    StatusReport,
    apply_status,
)
from central_system.domain.data_transfer import DataTransferStatus, route_status
from central_system.domain.metering import (
    InvalidSample,
    LiveValues,
    energy_readings,
    latest_live_values,
    sampled_value,
)
from central_system.domain.stations import (
    Admission,
    Credentials,
    InvalidStationId,
    RegistrationStatus,
    SecurityProfile,
    StationRecord,
    admit,
    decide_boot,
    validate_station_id,
)
from central_system.domain.transactions import (
    StopDetails,
    Transaction,
    apply_samples,
    end,
    ocpp16_start_key,
    replaced,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


# --- stations -------------------------------------------------------------------------------


@pytest.mark.parametrize("station_id", ["CP-1", "A" * 48, "cs*1=+|@._"])
def test_valid_station_ids(station_id: str) -> None:
    assert validate_station_id(station_id) == station_id


@pytest.mark.parametrize("station_id", ["", "A" * 49, "CP:1", "CP 1", "CP\n1"])
def test_invalid_station_ids(station_id: str) -> None:
    with pytest.raises(InvalidStationId):
        validate_station_id(station_id)


def test_boot_decision_carries_heartbeat_or_retry_interval() -> None:
    assert (
        decide_boot(
            RegistrationStatus.ACCEPTED, heartbeat_interval=300, retry_interval=60
        ).interval_seconds
        == 300
    )
    assert (
        decide_boot(
            RegistrationStatus.PENDING, heartbeat_interval=300, retry_interval=60
        ).interval_seconds
        == 60
    )


BASIC = StationRecord("CP-1", security_profile=SecurityProfile.BASIC_AUTH, password_hash="h")


@pytest.mark.parametrize(
    ("record", "credentials", "auto", "expected"),
    [
        (None, Credentials(None, False), False, Admission.UNKNOWN_STATION),
        (None, Credentials(None, False), True, Admission.REGISTER_AND_ACCEPT),
        (StationRecord("CP-1"), Credentials(None, False), False, Admission.ACCEPT),
        (BASIC, Credentials("CP-1", True), False, Admission.ACCEPT),
        (BASIC, Credentials("CP-1", False), False, Admission.UNAUTHORIZED),
        (BASIC, Credentials("OTHER", True), False, Admission.UNAUTHORIZED),
        (BASIC, Credentials(None, False), False, Admission.UNAUTHORIZED),
        (
            StationRecord(
                "CP-1", security_profile=SecurityProfile.TLS_BASIC_AUTH, password_hash="h"
            ),
            Credentials("CP-1", True, over_tls=False),
            False,
            Admission.UNAUTHORIZED,
        ),
        (
            StationRecord("CP-1", security_profile=SecurityProfile.TLS_CLIENT_CERTIFICATE),
            Credentials(None, False, over_tls=True, client_certificate_ok=True),
            False,
            Admission.ACCEPT,
        ),
    ],
)
def test_admission(
    record: StationRecord | None, credentials: Credentials, auto: bool, expected: Admission
) -> None:
    assert admit("CP-1", record, credentials, auto_register=auto) is expected


# --- authorization --------------------------------------------------------------------------


def record(status: AuthorizationStatus, expires: datetime | None = None) -> IdTokenRecord:
    return IdTokenRecord("TAG", status, expires_at=expires, group_id="G")


@pytest.mark.parametrize(
    ("known", "in_other", "expected"),
    [
        (None, False, AuthorizationStatus.UNKNOWN),
        (record(AuthorizationStatus.ACCEPTED), False, AuthorizationStatus.ACCEPTED),
        (
            record(AuthorizationStatus.ACCEPTED, T0 - timedelta(seconds=1)),
            False,
            AuthorizationStatus.EXPIRED,
        ),
        (
            record(AuthorizationStatus.ACCEPTED, T0 + timedelta(days=1)),
            False,
            AuthorizationStatus.ACCEPTED,
        ),
        (
            record(AuthorizationStatus.BLOCKED, T0 - timedelta(days=1)),
            False,
            AuthorizationStatus.BLOCKED,
        ),
        (record(AuthorizationStatus.INVALID), True, AuthorizationStatus.INVALID),
        (record(AuthorizationStatus.ACCEPTED), True, AuthorizationStatus.CONCURRENT_TX),
    ],
)
def test_authorize(
    known: IdTokenRecord | None, in_other: bool, expected: AuthorizationStatus
) -> None:
    info = authorize(IdToken("TAG"), known, now=T0, in_other_transaction=in_other)
    assert info.status is expected
    if known is not None:
        assert info.group_id == "G"


def test_no_authorization_token_type_is_accepted() -> None:
    assert authorize(IdToken("", "NoAuthorization"), None, now=T0).accepted


# --- connectors -----------------------------------------------------------------------------


def test_older_status_report_does_not_overwrite_newer() -> None:
    key = ConnectorKey(1, 1)
    current = ConnectorState(key, ConnectorStatus.CHARGING, None, None, None, T0)
    older = StatusReport(key, ConnectorStatus.PREPARING, T0 - timedelta(seconds=5))
    assert apply_status(current, older) is None
    newer = StatusReport(key, ConnectorStatus.FAULTED, T0, error_code="GroundFailure")
    state = apply_status(current, newer)
    assert state is not None and (state.status, state.error_code) == (
        ConnectorStatus.FAULTED,
        "GroundFailure",
    )
    cleared = apply_status(
        state, StatusReport(key, ConnectorStatus.AVAILABLE, T0, error_code="NoError")
    )
    assert cleared is not None and cleared.error_code is None


def test_ocpp16_connector_mapping() -> None:
    assert ConnectorKey.from_ocpp16(0) == ConnectorKey(0, 0)
    assert ConnectorKey.from_ocpp16(2) == ConnectorKey(2, 1)


# --- metering -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "unit"),
    [
        (("12.5", None, "kWh"), Decimal("12500"), "Wh"),
        (("12500",), Decimal("12500"), "Wh"),  # 1.6 default measurand and unit
        (("7.4", "Power.Active.Import", "kW"), Decimal("7400"), "W"),
        (("16", "Current.Import"), Decimal("16"), "A"),
        (("16 ", "Current.Import"), Decimal("16"), "A"),  # surrounding blanks
        ((2302, "Voltage", "V", -1), Decimal("230.2"), "V"),  # 2.0.1 number and multiplier
        ((0.1, "Voltage", "kV"), Decimal("100"), "V"),  # a float by its decimal text
        ((1, None, "Wh", 3), Decimal("1000"), "Wh"),
        (("80", "SoC"), Decimal("80"), "Percent"),
        (("1.5", "Energy.Reactive.Import.Register", "kvarh"), Decimal("1500"), "varh"),
    ],
)
def test_sample_normalisation(raw: tuple[object, ...], value: Decimal, unit: str) -> None:
    sample = sampled_value(T0, *raw)  # type: ignore[arg-type]
    assert (sample.value, sample.unit) == (value, unit)


@given(st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False))
def test_kwh_and_wh_readings_are_the_same_energy(kwh: Decimal) -> None:
    in_kwh = sampled_value(T0, str(kwh), unit="kWh")
    in_wh = sampled_value(T0, str(kwh * 1000), unit="Wh")
    assert in_kwh.value == in_wh.value


def test_signed_16_sample_keeps_the_blob() -> None:
    sample = sampled_value(T0, "AQIDBA==", format="SignedData")
    assert sample.value is None and sample.signed_data == "AQIDBA=="


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", ""])
def test_non_numeric_sample_is_invalid(bad: str) -> None:
    with pytest.raises(InvalidSample):
        sampled_value(T0, bad)


def test_energy_readings_prefer_transaction_contexts() -> None:
    samples = [
        sampled_value(T0 + timedelta(seconds=10), "150"),
        sampled_value(T0, "100", context="Transaction.Begin"),
        sampled_value(T0 + timedelta(seconds=20), "300", context="Transaction.End"),
        sampled_value(T0 + timedelta(seconds=20), "50", phase="L1"),
    ]
    readings = energy_readings(samples)
    assert (readings.first_wh, readings.last_wh, readings.begin_wh, readings.end_wh) == (
        100,
        300,
        100,
        300,
    )


def test_live_values_ignore_older_samples() -> None:
    newer = [sampled_value(T0 + timedelta(seconds=60), "55", measurand="SoC")]
    older = [
        sampled_value(T0, "40", measurand="SoC"),
        sampled_value(T0, "7", unit="kW", measurand="Power.Active.Import"),
    ]
    live = latest_live_values(latest_live_values(LiveValues(), newer), older)
    assert live.soc_percent == Decimal(55) and live.power_w is None


def test_the_start_soc_is_the_earliest_soc_even_when_it_arrives_late() -> None:
    """A receipt and the capacity estimate need the SoC the session started at: the earliest
    SoC sample (a station's offline queue may deliver it after later ones); a per-phase SoC or
    a signed sample without a number is not one."""
    later = [sampled_value(T0 + timedelta(seconds=60), "55", measurand="SoC")]
    live = latest_live_values(LiveValues(), later)
    assert (live.start_soc_percent, live.start_soc_at) == (Decimal(55), T0 + timedelta(seconds=60))
    earlier = [
        sampled_value(T0 - timedelta(seconds=1), "20", measurand="SoC", phase="L1"),
        sampled_value(T0, "40", measurand="SoC"),
    ]
    live = latest_live_values(live, earlier)
    assert (live.start_soc_percent, live.start_soc_at) == (Decimal(40), T0)
    assert live.soc_percent == Decimal(55)  # the live SoC stays the newest
    newer = [sampled_value(T0 + timedelta(seconds=120), "60", measurand="SoC")]
    assert latest_live_values(live, newer).start_soc_percent == Decimal(40)


# --- transactions ---------------------------------------------------------------------------


def transaction(**kwargs: object) -> Transaction:
    return Transaction(
        station_id="CP-1", transaction_id="1", key=ConnectorKey(1, 1), started_at=T0, **kwargs
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Transaction)])
def test_a_transaction_replaced_is_dataclasses_replace(name: str) -> None:
    tx = transaction(meter_start_wh=5, last_seq_no=3, row_id=7)
    changed = object()
    assert replaced(tx, **{name: changed}) == dataclasses.replace(tx, **{name: changed})
    assert replaced(tx, last_seq_no=4, offline=True) == dataclasses.replace(
        tx, last_seq_no=4, offline=True
    )


def test_start_register_from_first_reading_then_begin_context() -> None:
    tx = apply_samples(transaction(), [sampled_value(T0, "1000")])
    assert tx.meter_start_wh == 1000
    tx = apply_samples(tx, [sampled_value(T0, "900", context="Transaction.Begin")])
    assert tx.meter_start_wh == 900


def test_end_is_idempotent_and_energy_is_never_negative() -> None:
    tx = transaction(meter_start_wh=1000)
    ended = end(tx, StopDetails(T0 + timedelta(hours=1), 3500, "Remote"), [])
    assert (ended.energy_wh, ended.stop_reason) == (2500, "Remote")
    again = end(ended, StopDetails(T0 + timedelta(hours=2), 9000, "Local"), [])
    assert again == ended
    assert end(tx, StopDetails(T0, 500, None), []).energy_wh == 0
    assert end(tx, StopDetails(T0, 2000, None), []).stop_reason == "Local"


def test_end_without_meter_stop_uses_the_end_register() -> None:
    samples = [sampled_value(T0, "4.2", unit="kWh", context="Transaction.End")]
    ended = end(transaction(meter_start_wh=1000), StopDetails(T0, None, "EVDisconnected"), samples)
    assert (ended.meter_stop_wh, ended.energy_wh) == (4200, 3200)


def test_start_key_identifies_a_replay() -> None:
    assert ocpp16_start_key(1, "TAG", T0, 10) == ocpp16_start_key(1, "TAG", T0, 10)
    assert ocpp16_start_key(1, "TAG", T0, 10) != ocpp16_start_key(2, "TAG", T0, 10)


# --- data transfer, time --------------------------------------------------------------------


def test_data_transfer_routing() -> None:
    known = {"com.example": frozenset({"Echo"})}
    assert route_status(known, "org.other", "Echo") is DataTransferStatus.UNKNOWN_VENDOR_ID
    assert route_status(known, "com.example", "Nope") is DataTransferStatus.UNKNOWN_MESSAGE_ID
    assert route_status(known, "com.example", "Echo") is None


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00",
        "2026-01-01T01:00:00+01:00",
        "2026-01-01T00:00:00.000Z",
    ],
)
def test_timestamps_are_utc(text: str) -> None:
    assert parse_timestamp(text) == T0
    assert format_timestamp(parse_timestamp(text)) == "2026-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("dbm", "quality"),
    [
        (-51, "excellent"),
        (-73, "excellent"),
        (-75, "good"),
        (-85, "ok"),
        (-95, "marginal"),
        (-109, "marginal"),
        (-111, "no_signal"),
        (None, "unknown"),
    ],
)
def test_signal_bands(dbm: int | None, quality: str) -> None:
    from central_system.domain.signal import quality_for_dbm

    assert quality_for_dbm(dbm).value == quality


def test_signal_report_from_csq() -> None:
    from central_system.domain.signal import reading_from_report

    reading = reading_from_report({"csq": 99, "ber": 99}, T0)
    assert (reading.rssi_dbm, reading.quality.value, reading.at) == (None, "unknown", T0)
    assert reading_from_report({"csq": 10}, T0).rssi_dbm == -93
    with pytest.raises(ValueError, match="csq"):
        reading_from_report({"csq": 40}, T0)
