"""Tables. Billing data (transactions, meter samples) is only ever inserted or completed, never
rewritten; corrections are new rows (DESIGN.md section 4)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Numeric, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from central_system.persistence.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(nullable: bool = True, **kwargs: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, **kwargs)


class StationRow(SQLModel, table=True):
    __tablename__ = "station"

    id: str = Field(primary_key=True, max_length=48)
    registration_status: str = Field(default="Accepted", max_length=16)
    security_profile: int = Field(default=0)
    password_hash: str | None = Field(default=None, max_length=255)
    boot_status: str | None = Field(default=None, max_length=16)
    vendor: str | None = Field(default=None, max_length=50)
    model: str | None = Field(default=None, max_length=50)
    serial_number: str | None = Field(default=None, max_length=50)
    firmware_version: str | None = Field(default=None, max_length=50)
    iccid: str | None = Field(default=None, max_length=20)
    imsi: str | None = Field(default=None, max_length=20)
    meter_type: str | None = Field(default=None, max_length=50)
    meter_serial_number: str | None = Field(default=None, max_length=50)
    boot_reason: str | None = Field(default=None, max_length=50)
    last_boot_at: datetime | None = _utc()
    last_heartbeat_at: datetime | None = _utc()
    ocpp_version: str | None = Field(default=None, max_length=8)
    connected: bool = Field(default=False)
    # The central-system process (csms_node) the station is connected to.
    connected_node: str | None = Field(default=None, max_length=36)
    last_connected_at: datetime | None = _utc()
    last_disconnected_at: datetime | None = _utc()
    firmware_status: str | None = Field(default=None, max_length=40)
    diagnostics_status: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ConnectorRow(SQLModel, table=True):
    __tablename__ = "connector"

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=48)
    evse_id: int = Field(primary_key=True)
    connector_id: int = Field(primary_key=True)
    status: str = Field(max_length=20)
    error_code: str | None = Field(default=None, max_length=50)
    info: str | None = Field(default=None, max_length=50)
    vendor_error_code: str | None = Field(default=None, max_length=50)
    reported_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class ConnectorStatusLogRow(SQLModel, table=True):
    __tablename__ = "connector_status_log"
    __table_args__ = (Index("ix_connector_status_log_station", "station_id", "reported_at"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48)
    evse_id: int
    connector_id: int
    status: str = Field(max_length=20)
    error_code: str | None = Field(default=None, max_length=50)
    info: str | None = Field(default=None, max_length=50)
    vendor_error_code: str | None = Field(default=None, max_length=50)
    reported_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class IdTokenRow(SQLModel, table=True):
    __tablename__ = "id_token"

    value: str = Field(primary_key=True, max_length=36)
    type: str | None = Field(default=None, max_length=20)
    status: str = Field(max_length=20)
    expires_at: datetime | None = _utc()
    group_id: str | None = Field(default=None, max_length=36)
    # Whether the token goes into the stations' local authorization lists (D01).
    local_list: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class TransactionRow(SQLModel, table=True):
    __tablename__ = "charging_transaction"
    __table_args__ = (
        UniqueConstraint("station_id", "transaction_id", name="uq_transaction_station_txid"),
        UniqueConstraint("station_id", "start_key", name="uq_transaction_station_start_key"),
        Index("ix_transaction_active_token", "id_token", "stopped_at"),
        Index("ix_transaction_station_started", "station_id", "started_at"),
    )

    # The row id is also the 1.6 transactionId (an OCPP integer).
    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(max_length=48)
    transaction_id: str = Field(max_length=36)
    start_key: str | None = Field(default=None, max_length=200)
    evse_id: int
    connector_id: int
    id_token: str | None = Field(default=None, max_length=36)
    id_token_type: str | None = Field(default=None, max_length=20)
    start_authorization: str | None = Field(default=None, max_length=20)
    group_id: str | None = Field(default=None, max_length=36)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    meter_start_wh: int | None = Field(default=None, sa_type=BigInteger)
    reservation_id: int | None = None
    remote_start_id: int | None = None
    offline: bool = False
    charging_state: str | None = Field(default=None, max_length=20)
    stopped_at: datetime | None = _utc()
    meter_stop_wh: int | None = Field(default=None, sa_type=BigInteger)
    stop_reason: str | None = Field(default=None, max_length=30)
    stop_id_token: str | None = Field(default=None, max_length=36)
    stop_id_token_type: str | None = Field(default=None, max_length=20)
    stop_authorization: str | None = Field(default=None, max_length=20)
    last_seq_no: int | None = None
    live_soc_percent: Decimal | None = Field(default=None, sa_type=Numeric(9, 3))
    live_power_w: Decimal | None = Field(default=None, sa_type=Numeric(14, 3))
    live_energy_register_wh: int | None = Field(default=None, sa_type=BigInteger)
    live_sampled_at: datetime | None = _utc()
    start_soc_percent: Decimal | None = Field(default=None, sa_type=Numeric(9, 3))
    start_soc_at: datetime | None = _utc()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class TransactionEventRow(SQLModel, table=True):
    """A processed 2.0.1 TransactionEvent; (transaction, seqNo) recognises a replay."""

    __tablename__ = "transaction_event"
    __table_args__ = (
        UniqueConstraint("transaction_row_id", "seq_no", name="uq_transaction_event_seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    transaction_row_id: int = Field(foreign_key="charging_transaction.id")
    seq_no: int
    event_type: str = Field(max_length=10)
    trigger_reason: str | None = Field(default=None, max_length=40)
    timestamp: datetime = Field(sa_type=UTCDateTime, nullable=False)
    offline: bool = False
    id_token_status: str | None = Field(default=None, max_length=20)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class MeterReadingShapeRow(SQLModel, table=True):
    """What the readings of one shape have in common: which values they carry, in which order,
    with which units (a JSON array of objects with the keys measurand, phase, location, context
    and unit). A station sends the same shape message after message, so a reading stores only
    its numbers and this row's key (migration 0009).

    `key` is a digest of `samples` (columns.shape_key), so a writer knows a shape's key without
    reading it back; a writer checks once per shape and process that the stored text is its
    own. Shapes are never deleted."""

    __tablename__ = "meter_reading_shape"

    key: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    samples: str = Field(sa_type=Text)


class MeterReadingRow(SQLModel, table=True):
    """The sampled values a message carries for one timestamp of one EVSE (an OCPP MeterValue),
    in base units, as one row: `shape_key` says which values (meter_reading_shape),
    `sample_values` is a JSON array of their numbers in that order (null for a 1.6 SignedData
    value without one), `signed_data` a JSON array of their signed data, or NULL when none has
    any (columns.readings; the view meter_sample has one row per value).

    A reading is stored once: (timestamp, station, EVSE, identity) recognises a replay, where
    `identity` is a digest of its values' (measurand, phase, location, context). One row and one
    index entry per message, instead of a row and a 7-column index entry per sampled value, is
    most of what storing a MeterValues costs (bench/README.md). The key begins with the time, so
    that the readings of hundreds of stations committed together are new entries at the end of
    its index, not one in each station's part of it (migration 0007). For the same reason there
    is no index by transaction (migration 0008): its entries would land in a page of each
    transaction's part of it, a page written per message; nothing reads readings by
    transaction (the transaction keeps its start SoC, the one value a session read back).

    `shape_key` has no foreign key: every writer stores a shape in the same database
    transaction as its first reading, and shapes are never deleted; on PostgreSQL a foreign
    key would lock the few shape rows for every reading of every writer."""

    __tablename__ = "meter_reading"
    __table_args__ = (
        UniqueConstraint(
            "timestamp", "station_id", "evse_id", "identity", name="uq_meter_reading_identity"
        ),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    station_id: str = Field(max_length=48)
    evse_id: int
    connector_id: int
    transaction_row_id: int | None = Field(default=None, foreign_key="charging_transaction.id")
    timestamp: datetime = Field(sa_type=UTCDateTime, nullable=False)
    identity: int = Field(sa_type=BigInteger)
    shape_key: int = Field(sa_type=BigInteger)
    sample_values: str = Field(sa_type=Text)
    signed_data: str | None = Field(default=None, sa_type=Text)


class MeterSampleRow(SQLModel, table=True):
    """One sampled value: a row of the view meter_sample, which unpacks each meter_reading with
    its shape (migration 0009 defines it for SQLite and PostgreSQL). Read-only: values are
    written with their reading. For SQL users and reports that want a value per row."""

    __tablename__ = "meter_sample"

    reading_id: int = Field(primary_key=True)
    position: int = Field(primary_key=True)  # in the reading, from 0
    station_id: str
    evse_id: int
    connector_id: int
    transaction_row_id: int | None = None
    timestamp: datetime = Field(sa_type=UTCDateTime, nullable=False)
    measurand: str
    phase: str
    location: str
    context: str
    unit: str
    value: Decimal | None = Field(default=None, sa_type=Numeric(20, 6))
    signed_data: str | None = Field(default=None, sa_type=Text)


class NodeRow(SQLModel, table=True):
    """A running central-system process. It writes `seen_at` every EVCHARGE_NODE_HEARTBEAT_
    INTERVAL; one not seen for EVCHARGE_NODE_TIMEOUT has died (killed, its machine gone) and any
    other process marks the stations it had connected as disconnected."""

    __tablename__ = "csms_node"

    id: str = Field(primary_key=True, max_length=36)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class StationLogRow(SQLModel, table=True):
    """Append-only station notifications: security events, firmware/diagnostics/log status,
    device-model events and reports."""

    __tablename__ = "station_log"
    __table_args__ = (Index("ix_station_log_station_kind", "station_id", "kind", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48)
    kind: str = Field(max_length=40)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


__all__ = [
    "ConnectorRow",
    "ConnectorStatusLogRow",
    "IdTokenRow",
    "MeterReadingRow",
    "MeterReadingShapeRow",
    "MeterSampleRow",
    "NodeRow",
    "OutboxRow",
    "SQLModel",
    "StationLogRow",
    "StationRow",
    "TransactionEventRow",
    "TransactionRow",
]


class OutboxRow(SQLModel, table=True):
    """An event waiting for the bridge, written in the same database transaction as the state
    change that caused it; deleted by the bridge only after the broker acknowledged it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_station", "station_id", "id"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    message_id: str = Field(max_length=36, unique=True)
    station_id: str = Field(max_length=48)
    topic: str = Field(max_length=256)
    # "record" rows (sessions, receipts) are never dropped; "telemetry" may be thinned.
    retention: str = Field(default="telemetry", max_length=10)
    payload: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
