"""Domain events -> outbox rows, written in the unit of work's database transaction.

Each event becomes zero or more MQTT messages (`schemas.telemetry`), stored as rows the bridge
publishes oldest first. The row id gives the order, the payload is the exact JSON to publish.

To publish a new kind of event, add a function for it with ``@messages_for.register`` that
returns its messages; a unit test checks every `DomainEvent` has one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import singledispatch
from typing import Any
from uuid import uuid4

from central_system.domain.authorization import IdToken
from central_system.domain.events import (
    ConnectorStatusChanged,
    DomainEvent,
    MeterValuesReceived,
    ReceiptIssued,
    SignalStrengthReported,
    StationConnected,
    StationDisconnected,
    TransactionEnded,
    TransactionStarted,
)
from central_system.domain.metering import POWER_IMPORT, SOC, MeterSample, wh
from central_system.domain.transactions import Transaction
from central_system.persistence.models import OutboxRow, utcnow
from schemas.telemetry import (
    ConnectorStatus,
    ConnectorStatusMessage,
    Envelope,
    IdTokenPayload,
    MeterMessage,
    ReceiptMessage,
    Sample,
    SessionEndedMessage,
    SessionStartedMessage,
    SignalMessage,
    SignalQuality,
    StationConnectedMessage,
    StationDisconnectedMessage,
    TopicKind,
    topic_of,
)

OutboxMapper = Callable[[Sequence[DomainEvent]], Iterable[OutboxRow]]
# The same rows as column values (the group-commit writer inserts them in bulk).
OutboxValues = Callable[[Sequence[DomainEvent]], list[dict[str, Any]]]

RECORD = "record"
TELEMETRY = "telemetry"
# Sessions and receipts are records the bridge never drops; the rest may be thinned.
RECORD_TOPICS = frozenset({TopicKind.SESSION})

# AWS IoT Core refuses payloads over 128 KiB; a meter message is split well below that.
MAX_PAYLOAD_BYTES = 120_000
# A sample without signed data is well under 1 KB in JSON: this many always fit one message.
SAMPLES_THAT_FIT = 100


def outbox_rows(events: Sequence[DomainEvent]) -> Iterable[OutboxRow]:
    """The outbox rows of committed events, in event order (an `OutboxMapper`)."""
    return [OutboxRow(**values) for values in outbox_values(events)]


def outbox_values(events: Sequence[DomainEvent]) -> list[dict[str, Any]]:
    """`outbox_rows` as column values (an `OutboxValues`)."""
    now = utcnow()
    return [_values(message, now) for event in events for message in messages_for(event)]


def _values(message: Envelope, created_at: datetime) -> dict[str, Any]:
    return {
        "message_id": str(message.message_id),
        "station_id": message.station_id,
        "topic": topic_of(message),
        "retention": RECORD if message.topic_kind in RECORD_TOPICS else TELEMETRY,
        "payload": message.model_dump_json(),
        "created_at": created_at,
    }


@singledispatch
def messages_for(event: object) -> Sequence[Envelope]:
    """The MQTT messages an event is published as (none for an event without a mapping)."""
    return ()


@messages_for.register
def _connected(event: StationConnected) -> Sequence[Envelope]:
    return (
        StationConnectedMessage(
            message_id=uuid4(),
            station_id=event.station_id,
            event_time=event.at,
            ocpp_version=event.ocpp_version,
        ),
    )


@messages_for.register
def _disconnected(event: StationDisconnected) -> Sequence[Envelope]:
    return (
        StationDisconnectedMessage(
            message_id=uuid4(), station_id=event.station_id, event_time=event.at
        ),
    )


@messages_for.register
def _status(event: ConnectorStatusChanged) -> Sequence[Envelope]:
    state = event.state
    return (
        ConnectorStatusMessage(
            message_id=uuid4(),
            station_id=event.station_id,
            event_time=state.reported_at,
            evse_id=state.key.evse_id,
            connector_id=state.key.connector_id,
            status=ConnectorStatus(state.status.value),
            error_code=state.error_code,
            info=state.info,
            vendor_error_code=state.vendor_error_code,
        ),
    )


@messages_for.register
def _meter(event: MeterValuesReceived) -> Sequence[Envelope]:
    samples = sorted(event.samples, key=lambda s: s.timestamp)
    if not samples:
        return ()
    transaction = event.transaction
    chunks = _split_samples(event, samples)
    return tuple(
        _meter_message(event, transaction, chunk, part, len(chunks))
        for part, chunk in enumerate(chunks, start=1)
    )


def _split_samples(
    event: MeterValuesReceived, samples: list[MeterSample]
) -> list[list[MeterSample]]:
    """Halve a message's samples until every part's payload fits (in order)."""
    if len(samples) <= SAMPLES_THAT_FIT and not any(s.signed_data for s in samples):
        return [samples]  # the common case, without serialising twice
    size = len(_meter_message(event, event.transaction, samples, 1, 1).model_dump_json())
    if size <= MAX_PAYLOAD_BYTES or len(samples) == 1:
        return [samples]
    middle = len(samples) // 2
    return _split_samples(event, samples[:middle]) + _split_samples(event, samples[middle:])


def _meter_message(
    event: MeterValuesReceived,
    transaction: Transaction | None,
    samples: list[MeterSample],
    part: int,
    parts: int,
) -> MeterMessage:
    energy: int | None = None
    power: Decimal | None = None
    soc: Decimal | None = None
    for sample in samples:  # oldest first: the newest value wins
        if sample.value is None or sample.phase:
            continue
        if sample.is_total_energy_register:
            energy = wh(sample.value)
        elif sample.measurand == POWER_IMPORT:
            power = sample.value
        elif sample.measurand == SOC:
            soc = sample.value
    return MeterMessage(
        message_id=uuid4(),
        station_id=event.station_id,
        event_time=samples[-1].timestamp,
        evse_id=event.evse_id,
        connector_id=transaction.key.connector_id if transaction else None,
        transaction_id=transaction.transaction_id if transaction else None,
        energy_register_wh=energy,
        power_w=power,
        soc_percent=soc,
        part=part,
        parts=parts,
        samples=[
            Sample(
                timestamp=s.timestamp,
                measurand=s.measurand,
                value=s.value,
                unit=s.unit,
                phase=s.phase or None,
                location=s.location or None,
                context=s.context or None,
                signed_data=s.signed_data,
            )
            for s in samples
        ],
    )


def _token(token: IdToken | None) -> IdTokenPayload | None:
    return IdTokenPayload(value=token.value, type=token.type) if token else None


@messages_for.register
def _started(event: TransactionStarted) -> Sequence[Envelope]:
    tx = event.transaction
    return (
        SessionStartedMessage(
            message_id=uuid4(),
            station_id=tx.station_id,
            event_time=tx.started_at,
            transaction_id=tx.transaction_id,
            evse_id=tx.key.evse_id,
            connector_id=tx.key.connector_id,
            id_token=_token(tx.id_token),
            authorization=tx.start_authorization.value if tx.start_authorization else None,
            meter_start_wh=tx.meter_start_wh,
            reservation_id=tx.reservation_id,
            remote_start_id=tx.remote_start_id,
            offline=tx.offline,
        ),
    )


@messages_for.register
def _ended(event: TransactionEnded) -> Sequence[Envelope]:
    tx = event.transaction
    return (
        SessionEndedMessage(
            message_id=uuid4(),
            station_id=tx.station_id,
            event_time=tx.stopped_at or utcnow(),
            transaction_id=tx.transaction_id,
            evse_id=tx.key.evse_id,
            connector_id=tx.key.connector_id,
            started_at=tx.started_at,
            id_token=_token(tx.id_token),
            stop_id_token=_token(tx.stop_id_token),
            meter_start_wh=tx.meter_start_wh,
            meter_stop_wh=tx.meter_stop_wh,
            energy_wh=tx.energy_wh,
            stop_reason=tx.stop_reason,
        ),
    )


@messages_for.register
def _receipt(event: ReceiptIssued) -> Sequence[Envelope]:
    receipt = event.receipt
    price = receipt.price
    return (
        ReceiptMessage(
            message_id=uuid4(),
            station_id=receipt.station_id,
            event_time=receipt.issued_at,
            receipt_id=receipt.id,
            sequence=receipt.sequence,
            corrects=receipt.corrects,
            note=receipt.note,
            transaction_id=receipt.transaction_id,
            evse_id=receipt.evse_id,
            started_at=receipt.started_at,
            stopped_at=receipt.stopped_at,
            energy_wh=price.energy_wh,
            duration_seconds=int(price.duration.total_seconds()),
            currency=price.currency,
            energy_cost=price.energy_cost,
            time_cost=price.time_cost,
            session_fee=price.session_fee,
            total=price.total,
        ),
    )


@messages_for.register
def _signal(event: SignalStrengthReported) -> Sequence[Envelope]:
    reading = event.reading
    return (
        SignalMessage(
            message_id=uuid4(),
            station_id=event.station_id,
            event_time=reading.at,
            csq=reading.csq,
            rssi_dbm=reading.rssi_dbm,
            ber=reading.ber,
            quality=SignalQuality(reading.quality.value),
        ),
    )


__all__ = [
    "MAX_PAYLOAD_BYTES",
    "OutboxMapper",
    "OutboxValues",
    "messages_for",
    "outbox_rows",
    "outbox_values",
]
