"""Transactions, version-neutral (1.6 Start/StopTransaction, 2.0.1 E01-E15 TransactionEvent).

A transaction is identified by the id the station uses: 1.6 gets an integer id from the central
system (our row id), 2.0.1 brings its own string id. Both can be replayed by a station that queued
them while offline; the rules here make a replay change nothing and get the first answer again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any

from central_system.domain.authorization import AuthorizationStatus, IdToken
from central_system.domain.connectors import ConnectorKey
from central_system.domain.metering import (
    CONTEXT_TRANSACTION_BEGIN,
    EnergyReadings,
    LiveValues,
    MeterSample,
    energy_readings,
    latest_live_values,
)


class TransactionEventType(StrEnum):
    STARTED = "Started"
    UPDATED = "Updated"
    ENDED = "Ended"


DEFAULT_STOP_REASON = "Local"  # 1.6: an absent reason means Local; 2.0.1 likewise.
# 2.0.1: a transaction may start before its EVSE is known (TxStartPoint Authorized).
UNKNOWN_EVSE = ConnectorKey(0, 0)
_CONTEXT = attrgetter("context")


@dataclass(frozen=True, slots=True)
class Transaction:
    station_id: str
    transaction_id: str
    key: ConnectorKey
    started_at: datetime
    id_token: IdToken | None = None
    start_authorization: AuthorizationStatus | None = None
    group_id: str | None = None
    meter_start_wh: int | None = None
    reservation_id: int | None = None
    remote_start_id: int | None = None
    offline: bool = False
    charging_state: str | None = None
    stopped_at: datetime | None = None
    meter_stop_wh: int | None = None
    stop_reason: str | None = None
    stop_id_token: IdToken | None = None
    stop_authorization: AuthorizationStatus | None = None
    last_seq_no: int | None = None
    live: LiveValues = field(default_factory=LiveValues)
    # The storage row id; 1.6 uses it as the transactionId.
    row_id: int | None = None

    @property
    def ended(self) -> bool:
        return self.stopped_at is not None

    @property
    def energy_wh(self) -> int | None:
        """Energy delivered so far (or in total once ended), from the import register."""
        end = self.meter_stop_wh if self.meter_stop_wh is not None else self.live.energy_register_wh
        if self.meter_start_wh is None or end is None:
            return None
        return max(end - self.meter_start_wh, 0)


def ocpp16_start_key(
    connector_id: int, id_tag: str, timestamp: datetime, meter_start_wh: int
) -> str:
    """What makes a 1.6 StartTransaction the same one when a station sends it again."""
    return f"{connector_id}|{id_tag}|{timestamp.isoformat()}|{meter_start_wh}"


def apply_samples(transaction: Transaction, samples: list[MeterSample]) -> Transaction:
    """Fold a message's samples into the transaction's meter readings and live values.

    The start register is the Transaction.Begin reading, else the earliest reading seen
    (2.0.1 has no meterStart field); an ended transaction's totals never change.
    """
    if not samples:
        return transaction
    live = latest_live_values(transaction.live, samples)
    meter_start = transaction.meter_start_wh
    # Most messages neither begin the transaction nor carry its first reading: the registers
    # are only sorted out when one may.
    if not transaction.ended and (
        meter_start is None or CONTEXT_TRANSACTION_BEGIN in map(_CONTEXT, samples)
    ):
        readings: EnergyReadings = energy_readings(samples)
        if readings.begin_wh is not None:
            meter_start = readings.begin_wh
        elif meter_start is None and readings.first_wh is not None:
            meter_start = readings.first_wh
    return replaced(transaction, meter_start_wh=meter_start, live=live)


_FIELDS = tuple(f.name for f in fields(Transaction))
_ALL_FIELDS = attrgetter(*_FIELDS)
_FIELD_AT = {name: index for index, name in enumerate(_FIELDS)}


def replaced(transaction: Transaction, **changes: Any) -> Transaction:
    """`dataclasses.replace(transaction, **changes)` at half its cost (1.8 against 3.3 us; every
    meter value message makes one, every 2.0.1 one two): the fields positionally, in their
    order."""
    values = list(_ALL_FIELDS(transaction))
    for name, value in changes.items():
        values[_FIELD_AT[name]] = value
    return Transaction(*values)


def at_evse(transaction: Transaction, key: ConnectorKey | None) -> Transaction:
    """Take the EVSE a later event names when the transaction began without one
    (TC_J_08)."""
    if key is None or key.evse_id == 0 or transaction.key != UNKNOWN_EVSE:
        return transaction
    return replace(transaction, key=key)


@dataclass(frozen=True, slots=True)
class StopDetails:
    stopped_at: datetime
    meter_stop_wh: int | None
    reason: str | None
    id_token: IdToken | None = None
    authorization: AuthorizationStatus | None = None


def end(transaction: Transaction, stop: StopDetails, samples: list[MeterSample]) -> Transaction:
    """End a transaction. Ending an ended transaction returns it unchanged (a replayed stop)."""
    if transaction.ended:
        return transaction
    with_samples = apply_samples(transaction, samples)
    readings = energy_readings(samples)
    meter_stop = stop.meter_stop_wh
    if meter_stop is None:
        meter_stop = readings.end_wh if readings.end_wh is not None else readings.last_wh
    if meter_stop is None:
        meter_stop = with_samples.live.energy_register_wh
    return replace(
        with_samples,
        stopped_at=stop.stopped_at,
        meter_stop_wh=meter_stop,
        stop_reason=stop.reason or DEFAULT_STOP_REASON,
        stop_id_token=stop.id_token,
        stop_authorization=stop.authorization,
        charging_state=None,
    )
