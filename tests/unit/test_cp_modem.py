"""AT+CSQ interpretation: 99 must never read as a strong signal, and bad lines must say why."""

import pytest

from charge_point.domain.modem import (
    CsqError,
    SignalCondition,
    condition,
    csq_to_dbm,
    parse_csq,
)


@pytest.mark.parametrize(
    ("csq", "dbm"), [(0, -113), (1, -111), (2, -109), (15, -83), (30, -53), (31, -51), (99, None)]
)
def test_csq_to_dbm(csq, dbm):
    assert csq_to_dbm(csq) == dbm


def test_td_scdma_range():
    assert csq_to_dbm(100) == -116
    assert csq_to_dbm(191) == -25


@pytest.mark.parametrize("csq", [-1, 32, 98, 200])
def test_undefined_csq_values_are_errors(csq):
    with pytest.raises(CsqError):
        csq_to_dbm(csq)


@pytest.mark.parametrize(
    ("csq", "band"),
    [
        (0, SignalCondition.NO_SIGNAL),
        (1, SignalCondition.NO_SIGNAL),
        (2, SignalCondition.MARGINAL),
        (9, SignalCondition.MARGINAL),
        (10, SignalCondition.OK),
        (14, SignalCondition.OK),
        (15, SignalCondition.GOOD),
        (19, SignalCondition.GOOD),
        (20, SignalCondition.EXCELLENT),
        (30, SignalCondition.EXCELLENT),
        (31, SignalCondition.EXCELLENT),
        (99, SignalCondition.UNKNOWN),
    ],
)
def test_condition_bands(csq, band):
    assert condition(csq) is band


def test_parse_csq_line():
    quality = parse_csq("+CSQ: 18,99\r")
    assert (quality.csq, quality.ber, quality.rssi_dbm) == (18, None, -77)
    assert quality.condition is SignalCondition.GOOD
    assert not quality.weak
    assert parse_csq("  +CSQ:5,3").ber == 3
    assert parse_csq("+CSQ: 5,3").weak


def test_unknown_signal_is_not_weak_and_has_no_dbm():
    quality = parse_csq("+CSQ: 99,99")
    assert quality.rssi_dbm is None
    assert quality.condition is SignalCondition.UNKNOWN


@pytest.mark.parametrize(
    "line", ["", "OK", "ERROR", "+CSQ: ", "+CSQ: 18", "+CSQ: a,b", "+CESQ: 1,2", "+CSQ: 40,0"]
)
def test_bad_lines_raise_a_clear_error(line):
    with pytest.raises(CsqError, match=r"CSQ|rssi"):
        parse_csq(line)


def test_bad_ber_is_an_error():
    with pytest.raises(CsqError, match="ber"):
        parse_csq("+CSQ: 18,8")
