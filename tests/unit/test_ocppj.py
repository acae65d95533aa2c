"""OCPP-J framing and schema-violation mapping, as pure functions."""

from __future__ import annotations

import pytest

from central_system.transport import validation
from central_system.transport.ocppj import (
    Call,
    CallError,
    CallResult,
    ErrorKind,
    OcppVersion,
    RpcError,
    dump_error,
    parse_frame,
)


def test_parse_the_three_message_types() -> None:
    assert parse_frame('[2,"a","Heartbeat",{}]', OcppVersion.V16) == Call("a", "Heartbeat", {})
    assert parse_frame('[3,"a",{"x":1}]', OcppVersion.V16) == CallResult("a", {"x": 1})
    assert parse_frame('[4,"a","GenericError","d",{}]', OcppVersion.V16) == CallError(
        "a", "GenericError", "d", {}
    )


def test_21_send_and_callresulterror() -> None:
    send = parse_frame('[6,"a","NotifyPeriodicEventStream",{}]', OcppVersion.V21)
    assert isinstance(send, Call) and send.unconfirmed
    assert parse_frame('[5,"a","GenericError","d",{}]', OcppVersion.V21) is None
    with pytest.raises(RpcError) as error:
        parse_frame('[6,"a","X",{}]', OcppVersion.V201)
    assert error.value.kind is ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED


def test_unreadable_id_is_minus_one() -> None:
    with pytest.raises(RpcError) as error:
        parse_frame('[2, null, "Heartbeat", {}]', OcppVersion.V201)
    assert error.value.unique_id == "-1"


def test_binary_frames_are_refused() -> None:
    with pytest.raises(RpcError):
        parse_frame(b"[2]", OcppVersion.V16)


@pytest.mark.parametrize(
    ("kind", "code16", "code201"),
    [
        (ErrorKind.FORMAT, "FormationViolation", "FormatViolation"),
        (ErrorKind.OCCURRENCE, "OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
        (ErrorKind.RPC_FRAMEWORK, "FormationViolation", "RpcFrameworkError"),
        (ErrorKind.NOT_IMPLEMENTED, "NotImplemented", "NotImplemented"),
    ],
)
def test_error_codes_are_spelled_per_version(kind: ErrorKind, code16: str, code201: str) -> None:
    assert kind.code(OcppVersion.V16) == code16
    assert kind.code(OcppVersion.V201) == code201 == kind.code(OcppVersion.V21)


def test_error_description_is_truncated_to_255() -> None:
    frame = dump_error(RpcError(ErrorKind.GENERIC, "x" * 1000, unique_id="a"), OcppVersion.V16)
    assert len(frame) < 300


@pytest.mark.parametrize("version", list(OcppVersion))
def test_every_version_defines_the_core_actions(version: OcppVersion) -> None:
    assert {"BootNotification", "Heartbeat", "Authorize", "DataTransfer"} <= validation.actions(
        version
    )


def test_violation_kinds() -> None:
    v16 = OcppVersion.V16
    cases = [
        ({"idTag": 5}, ErrorKind.TYPE),
        ({}, ErrorKind.OCCURRENCE),
        ({"idTag": "x" * 21}, ErrorKind.TYPE),
        ({"idTag": "A", "more": 1}, ErrorKind.FORMAT),
    ]
    for payload, kind in cases:
        with pytest.raises(RpcError) as error:
            validation.validate(v16, "Authorize", payload)
        assert error.value.kind is kind, payload
    with pytest.raises(RpcError) as error:
        validation.validate(
            v16,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "Nope", "status": "Available"},
        )
    assert error.value.kind is ErrorKind.PROPERTY
    validation.validate(v16, "Authorize", {"idTag": "A"})


def test_16_decimal_limits_validate() -> None:
    """The 1.6 schemas' multipleOf 0.1 must accept 21.4 (a float-rounding trap)."""
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
        },
    }
    validation.validate(
        OcppVersion.V16, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}
    )
