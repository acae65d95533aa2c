"""Domain events: what happened, for the live API (SSE) and the outbox the bridge publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from central_system.domain.connectors import ConnectorState
from central_system.domain.metering import MeterSample
from central_system.domain.receipts import Receipt
from central_system.domain.signal import SignalReading
from central_system.domain.transactions import Transaction


@dataclass(frozen=True, slots=True)
class StationConnected:
    station_id: str
    ocpp_version: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StationDisconnected:
    station_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ConnectorStatusChanged:
    station_id: str
    state: ConnectorState


@dataclass(frozen=True, slots=True)
class MeterValuesReceived:
    station_id: str
    evse_id: int
    transaction: Transaction | None
    samples: tuple[MeterSample, ...]


@dataclass(frozen=True, slots=True)
class TransactionStarted:
    transaction: Transaction


@dataclass(frozen=True, slots=True)
class TransactionEnded:
    transaction: Transaction


@dataclass(frozen=True, slots=True)
class ReceiptIssued:
    """A receipt (or a correction) was written for an app charging session."""

    receipt: Receipt


@dataclass(frozen=True, slots=True)
class SignalStrengthReported:
    station_id: str
    reading: SignalReading


DomainEvent = (
    SignalStrengthReported
    | StationConnected
    | StationDisconnected
    | ConnectorStatusChanged
    | MeterValuesReceived
    | TransactionStarted
    | TransactionEnded
    | ReceiptIssued
)
