"""Signed meter values kept with their reading (1.6 SignedData next to the plain value), and a
2.0.1 transaction that learns its EVSE after it started (TC_J_08)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from central_system.domain.connectors import ConnectorKey
from central_system.domain.metering import merge_signed, sampled_value
from central_system.domain.transactions import UNKNOWN_EVSE, Transaction, at_evse

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
END = "Transaction.End"


def test_signed_data_joins_the_plain_sample_of_the_same_reading() -> None:
    samples = merge_signed(
        [
            sampled_value(T0, "2000", context=END),
            sampled_value(T0, "OCMF|blob", context=END, format="SignedData"),
            sampled_value(T0, "OCMF|other", context="Sample.Clock", format="SignedData"),
        ]
    )
    assert [(s.context, s.value, s.signed_data) for s in samples] == [
        (END, Decimal(2000), "OCMF|blob"),
        ("Sample.Clock", None, "OCMF|other"),  # no plain twin: kept on its own
    ]


def test_a_transaction_takes_the_evse_of_a_later_event_once() -> None:
    started = Transaction("CS-1", "T1", UNKNOWN_EVSE, T0)
    placed = at_evse(started, ConnectorKey(2, 1))
    assert placed.key == ConnectorKey(2, 1)
    assert at_evse(placed, ConnectorKey(1, 1)).key == ConnectorKey(2, 1)
    assert at_evse(started, None) == started
    assert at_evse(started, ConnectorKey(0, 0)) == started
