"""Domain objects as column values: one mapping for the ORM repositories and the group-commit
writer's bulk statements, so both store the same rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from hashlib import blake2b
from itertools import repeat
from operator import is_, itemgetter
from typing import Any, NamedTuple

import orjson

from central_system.domain.connectors import ConnectorKey, ConnectorState, StatusReport
from central_system.domain.metering import MeterSample
from central_system.domain.transactions import Transaction
from central_system.services.ports import TransactionEventRecord

# meter_reading, in this order (the bulk inserts bind tuples).
READING_COLUMNS = (
    "station_id",
    "evse_id",
    "connector_id",
    "transaction_row_id",
    "timestamp",
    "identity",
    "shape_key",
    "sample_values",
    "signed_data",
)
# The columns of uq_meter_reading_identity: a reading with these already stored is a replay.
READING_IDENTITY = ("timestamp", "station_id", "evse_id", "identity")


# A MeterSample's measurand, unit, phase, location and context; its value; its signed data.
_SAMPLE_SHAPE = itemgetter(1, 3, 4, 5, 6)
_TIMESTAMP = itemgetter(0)
_VALUE = itemgetter(2)
_SIGNED_DATA = itemgetter(7)
_NONES = repeat(None)


class ReadingShape(NamedTuple):
    """What the readings of the same values have in common (a meter_reading_shape row)."""

    key: int  # shape_key(samples)
    samples: str  # JSON: [{"measurand", "phase", "location", "context", "unit"}, ...]
    identity: int  # the readings' identity (reading_identity)
    values_template: str  # "[%s,...,%s]": a reading's sample_values, one %s per value


class Reading(NamedTuple):
    """The samples of one timestamp as a meter_reading row: their shape, their numbers as a JSON
    array in the shape's order, and their signed data (None when none has any)."""

    timestamp: datetime
    shape: ReadingShape
    sample_values: str
    signed_data: str | None
    samples: Sequence[MeterSample]


def readings(samples: Sequence[MeterSample]) -> list[Reading]:
    """A message's samples grouped by timestamp (in order of first appearance).

    A reading's identity is a stable signed 64-bit digest (BLAKE2b) of the sorted (measurand,
    phase, location, context) of the group: the same reading sent again has the same identity
    whatever the order of its sampled values; one with another set of values at the same time
    does not.
    """
    if samples and all(map(is_, map(_TIMESTAMP, samples), repeat(samples[0].timestamp))):
        # one timestamp object for all: a message with one meterValue (nearly every one)
        return [_reading(samples[0].timestamp, samples)]
    groups: dict[datetime, list[MeterSample]] = {}
    for sample in samples:
        group = groups.get(sample.timestamp)
        if group is None:
            groups[sample.timestamp] = [sample]
        else:
            group.append(sample)
    return [_reading(timestamp, group) for timestamp, group in groups.items()]


def _reading(timestamp: datetime, samples: Sequence[MeterSample]) -> Reading:
    shape = reading_shape(tuple(map(_SAMPLE_SHAPE, samples)))
    values = tuple(map(_VALUE, samples))
    # by identity: `None in values` compares each Decimal with None, an isinstance of an ABC
    if any(map(is_, values, _NONES)):
        sample_values = "[" + ",".join("null" if v is None else str(v) for v in values) + "]"
    else:
        sample_values = shape.values_template % values  # a Decimal's str() is a JSON number
    signed_data = None
    if not all(map(is_, map(_SIGNED_DATA, samples), _NONES)):
        signed_data = orjson.dumps([sample.signed_data for sample in samples]).decode()
    return Reading(timestamp, shape, sample_values, signed_data, samples)


@lru_cache(maxsize=4096)
def reading_shape(shape: tuple[tuple[str, str, str, str, str], ...]) -> ReadingShape:
    """The shape of readings of these (measurand, unit, phase, location, context), in this
    order. A station sends the same values message after message: its shape's JSON, key and
    identity are computed once."""
    samples = orjson.dumps(
        [
            {
                "measurand": measurand,
                "phase": phase,
                "location": location,
                "context": context,
                "unit": unit,
            }
            for measurand, unit, phase, location, context in shape
        ]
    ).decode()
    return ReadingShape(
        shape_key(samples),
        samples,
        identity_of((m, p, loc, c) for m, _, p, loc, c in shape),
        "[" + ",".join(["%s"] * len(shape)) + "]",
    )


def shape_key(shape_samples: str) -> int:
    """The key of a meter_reading_shape: a signed 64-bit digest (BLAKE2b) of its JSON. Stored:
    never change it (migration 0009 computed it for the readings stored before)."""
    return _digest(shape_samples)


class ShapeCollision(ValueError):
    """Two reading shapes with the same key (a 64-bit digest): never seen, but not stored."""


def check_stored_shapes(ours: dict[int, str], stored: Iterable[tuple[int, str]]) -> None:
    """Raise ShapeCollision when a stored shape has one of our keys but other values."""
    for key, samples in stored:
        if ours.get(key, samples) != samples:
            raise ShapeCollision(f"reading shape {key} is stored as {samples!r}, not {ours[key]!r}")


def reading_identity(samples: Iterable[MeterSample]) -> int:
    return identity_of((s.measurand, s.phase, s.location, s.context) for s in samples)


def identity_of(sample_keys: Iterable[tuple[str, str, str, str]]) -> int:
    """The digest of (measurand, phase, location, context) keys. Stored: never change it
    (migration 0005 computed it for the samples stored before)."""
    return _digest("\x1e".join(sorted("\x1f".join(key) for key in sample_keys)))


def _digest(text: str) -> int:
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def reading_values(
    station_id: str, key: ConnectorKey, transaction_row_id: int | None, reading: Reading
) -> tuple[Any, ...]:
    """A meter_reading row in READING_COLUMNS order."""
    return (
        station_id,
        key.evse_id,
        key.connector_id,
        transaction_row_id,
        reading.timestamp,
        reading.shape.identity,
        reading.shape.key,
        reading.sample_values,
        reading.signed_data,
    )


def samples_json(samples: Iterable[MeterSample]) -> str:
    """A reading's sampled values as meter_reading.samples held them from migration 0005 to
    0009 (which convert to and from it): a JSON array of objects with the keys measurand, phase,
    location, context, unit, value and signed_data; `value` is the exact decimal as a JSON
    number (null for a 1.6 SignedData value), `signed_data` only when there is some."""
    return orjson.dumps(
        [
            {
                "measurand": sample.measurand,
                "phase": sample.phase,
                "location": sample.location,
                "context": sample.context,
                "unit": sample.unit,
                "value": None if sample.value is None else orjson.Fragment(str(sample.value)),
            }
            | ({"signed_data": sample.signed_data} if sample.signed_data is not None else {})
            for sample in samples
        ]
    ).decode()


# charging_transaction: the columns an update of a running transaction (MeterValues, a 2.0.1
# TransactionEvent Updated) can change, which the group-commit writer saves. Never the tokens,
# the reservation or the stop: an update committed after the stop (through another connection)
# cannot undo it, and the UPDATE leaves the indexes on them alone.
UPDATE_COLUMNS = (
    "evse_id",
    "connector_id",
    "meter_start_wh",
    "remote_start_id",
    "offline",
    "charging_state",
    "last_seq_no",
    "live_soc_percent",
    "live_power_w",
    "live_energy_register_wh",
    "live_sampled_at",
    "start_soc_percent",
    "start_soc_at",
)


def update_values(transaction: Transaction) -> tuple[Any, ...]:
    """UPDATE_COLUMNS of a transaction, in that order."""
    live = transaction.live
    return (
        transaction.key.evse_id,
        transaction.key.connector_id,
        transaction.meter_start_wh,
        transaction.remote_start_id,
        transaction.offline,
        transaction.charging_state,
        transaction.last_seq_no,
        live.soc_percent,
        live.power_w,
        live.energy_register_wh,
        live.sampled_at,
        live.start_soc_percent,
        live.start_soc_at,
    )


def transaction_values(transaction: Transaction) -> dict[str, Any]:
    """The columns of a transaction that its messages change (all but the ids, the station, the
    start key and the start time)."""
    live = transaction.live
    return {
        "evse_id": transaction.key.evse_id,
        "connector_id": transaction.key.connector_id,
        "id_token": transaction.id_token.value if transaction.id_token else None,
        "id_token_type": transaction.id_token.type if transaction.id_token else None,
        "start_authorization": (
            transaction.start_authorization.value if transaction.start_authorization else None
        ),
        "group_id": transaction.group_id,
        "meter_start_wh": transaction.meter_start_wh,
        "reservation_id": transaction.reservation_id,
        "remote_start_id": transaction.remote_start_id,
        "offline": transaction.offline,
        "charging_state": transaction.charging_state,
        "stopped_at": transaction.stopped_at,
        "meter_stop_wh": transaction.meter_stop_wh,
        "stop_reason": transaction.stop_reason,
        "stop_id_token": transaction.stop_id_token.value if transaction.stop_id_token else None,
        "stop_id_token_type": (
            transaction.stop_id_token.type if transaction.stop_id_token else None
        ),
        "stop_authorization": (
            transaction.stop_authorization.value if transaction.stop_authorization else None
        ),
        "last_seq_no": transaction.last_seq_no,
        "live_soc_percent": live.soc_percent,
        "live_power_w": live.power_w,
        "live_energy_register_wh": live.energy_register_wh,
        "live_sampled_at": live.sampled_at,
        "start_soc_percent": live.start_soc_percent,
        "start_soc_at": live.start_soc_at,
    }


def transaction_event_values(
    transaction_row_id: int, event: TransactionEventRecord, received_at: datetime
) -> dict[str, Any]:
    return {
        "transaction_row_id": transaction_row_id,
        "seq_no": event.seq_no,
        "event_type": event.event_type,
        "trigger_reason": event.trigger_reason,
        "timestamp": event.timestamp,
        "offline": event.offline,
        "id_token_status": event.id_token_status.value if event.id_token_status else None,
        "received_at": received_at,
    }


def connector_values(station_id: str, state: ConnectorState) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "evse_id": state.key.evse_id,
        "connector_id": state.key.connector_id,
        "status": state.status.value,
        "error_code": state.error_code,
        "info": state.info,
        "vendor_error_code": state.vendor_error_code,
        "reported_at": state.reported_at,
    }


def status_history_values(
    station_id: str, report: StatusReport, received_at: datetime
) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "evse_id": report.key.evse_id,
        "connector_id": report.key.connector_id,
        "status": report.status.value,
        "error_code": report.error_code,
        "info": report.info,
        "vendor_error_code": report.vendor_error_code,
        "reported_at": report.reported_at,
        "received_at": received_at,
    }
