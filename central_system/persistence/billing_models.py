"""Tables of the REST API: accounts, the station catalogue (location, connectors, tariffs),
reservations, app charging sessions, payment events, receipts and the audit log.

Money is NUMERIC, energy BIGINT Wh, times UTC. Tariffs, payment events and receipts are insert-only
(a price change is a new tariff row, a correction a new receipt row); the migration adds triggers
that refuse UPDATE and DELETE on payment events and receipts.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from central_system.persistence.models import utcnow
from central_system.persistence.types import UTCDateTime

MONEY = Numeric(18, 6)  # prices per kWh / minute may have more decimals than the currency
AMOUNT = Numeric(18, 4)


def _utc(nullable: bool = True, **kwargs: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, **kwargs)


class UserAccountRow(SQLModel, table=True):
    __tablename__ = "user_account"

    id: str = Field(primary_key=True, max_length=36)
    email: str = Field(max_length=254, unique=True)
    role: str = Field(max_length=10)
    password_hash: str | None = Field(default=None, max_length=255)
    guest: bool = False
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RefreshTokenRow(SQLModel, table=True):
    __tablename__ = "refresh_token"

    jti: str = Field(primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="user_account.id", max_length=36, index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = _utc()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class StationSiteRow(SQLModel, table=True):
    """A station's catalogue entry: owner, name, position, address."""

    __tablename__ = "station_site"
    __table_args__ = (Index("ix_station_site_position", "latitude", "longitude"),)

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=48)
    owner_id: str | None = Field(
        default=None, foreign_key="user_account.id", max_length=36, index=True
    )
    name: str = Field(default="", max_length=100)
    latitude: float
    longitude: float
    address: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ConnectorSpecRow(SQLModel, table=True):
    """A connector as built (standard, maximum power); its live status is `connector`."""

    __tablename__ = "connector_spec"

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=48)
    evse_id: int = Field(primary_key=True)
    connector_id: int = Field(primary_key=True)
    standard: str = Field(max_length=20)
    max_power_w: int = Field(sa_type=BigInteger)


class TariffRow(SQLModel, table=True):
    """Insert-only: the station's tariff is its latest row with valid_from <= now."""

    __tablename__ = "tariff"
    __table_args__ = (Index("ix_tariff_station_valid_from", "station_id", "valid_from"),)

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(foreign_key="station.id", max_length=48)
    currency: str = Field(max_length=3)
    per_kwh: Decimal = Field(sa_type=MONEY)
    per_minute: Decimal = Field(sa_type=MONEY)
    session_fee: Decimal = Field(sa_type=MONEY)
    valid_from: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ReservationRow(SQLModel, table=True):
    __tablename__ = "reservation"
    __table_args__ = (
        Index("ix_reservation_station_evse", "station_id", "evse_id", "status"),
        Index("ix_reservation_status_expires", "status", "expires_at"),
    )

    # The row id is the OCPP reservationId (an integer).
    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(foreign_key="station.id", max_length=48)
    evse_id: int
    user_id: str = Field(foreign_key="user_account.id", max_length=36, index=True)
    id_token: str = Field(max_length=20)
    status: str = Field(max_length=12)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ended_at: datetime | None = _utc()


class ChargingSessionRow(SQLModel, table=True):
    """An app charging session; its state changes, its money is in payment_event and receipt."""

    __tablename__ = "charging_session"
    __table_args__ = (
        Index("ix_charging_session_token", "station_id", "id_token", "status"),
        Index("ix_charging_session_user", "user_id", "created_at"),
        Index("ix_charging_session_status", "status"),
    )

    id: str = Field(primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="user_account.id", max_length=36)
    station_id: str = Field(foreign_key="station.id", max_length=48)
    evse_id: int
    id_token: str = Field(max_length=20)
    remote_start_id: int = Field(sa_type=BigInteger)
    tariff_id: int = Field(foreign_key="tariff.id")
    status: str = Field(max_length=10)
    payment_reference: str | None = Field(default=None, max_length=64)
    preauthorized_amount: Decimal | None = Field(default=None, sa_type=AMOUNT)
    battery_capacity_wh: int | None = Field(default=None, sa_type=BigInteger)
    reservation_id: int | None = Field(default=None, foreign_key="reservation.id")
    transaction_row_id: int | None = Field(default=None, foreign_key="charging_transaction.id")
    transaction_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    started_at: datetime | None = _utc()
    ended_at: datetime | None = _utc()
    failure_reason: str | None = Field(default=None, max_length=200)


class PaymentEventRow(SQLModel, table=True):
    """Insert-only: preauthorized, declined, captured, released."""

    __tablename__ = "payment_event"

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    session_id: str = Field(foreign_key="charging_session.id", max_length=36, index=True)
    kind: str = Field(max_length=16)
    amount: Decimal = Field(sa_type=AMOUNT)
    currency: str = Field(max_length=3)
    provider: str = Field(max_length=20)
    reference: str | None = Field(default=None, max_length=64)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class ReceiptRow(SQLModel, table=True):
    """Insert-only, kept at least ten years; sequence 0 is the receipt, 1.. corrections."""

    __tablename__ = "receipt"
    __table_args__ = (
        UniqueConstraint("session_id", "sequence", name="uq_receipt_session_sequence"),
        Index("ix_receipt_user_issued", "user_id", "issued_at"),
        Index("ix_receipt_station_issued", "station_id", "issued_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    session_id: str = Field(foreign_key="charging_session.id", max_length=36)
    sequence: int = 0
    corrects: str | None = Field(default=None, max_length=36)
    note: str | None = Field(default=None, max_length=500)
    user_id: str = Field(max_length=36)
    station_id: str = Field(max_length=48)
    evse_id: int
    transaction_id: str = Field(max_length=36)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    stopped_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    energy_wh: int = Field(sa_type=BigInteger)
    duration_s: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    per_kwh: Decimal = Field(sa_type=MONEY)
    per_minute: Decimal = Field(sa_type=MONEY)
    session_fee_rate: Decimal = Field(sa_type=MONEY)
    energy_cost: Decimal = Field(sa_type=AMOUNT)
    time_cost: Decimal = Field(sa_type=AMOUNT)
    session_fee: Decimal = Field(sa_type=AMOUNT)
    total: Decimal = Field(sa_type=AMOUNT)
    captured: Decimal = Field(sa_type=AMOUNT)
    uncollected: Decimal = Field(sa_type=AMOUNT)
    payment_reference: str | None = Field(default=None, max_length=64)
    issued_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class AuditLogRow(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_action_actor_at", "action", "actor", "at"),
        Index("ix_audit_log_actor_id", "actor_id", "id"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    action: str = Field(max_length=40)
    outcome: str = Field(max_length=20)
    actor_id: str | None = Field(default=None, max_length=36)
    actor: str | None = Field(default=None, max_length=254)
    target: str | None = Field(default=None, max_length=200)
    source: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] | None = Field(default=None, sa_type=JSON)


# Tables whose rows are never updated or deleted (the migration installs triggers for this).
INSERT_ONLY_TABLES = ("payment_event", "receipt", "tariff")

__all__ = [
    "INSERT_ONLY_TABLES",
    "AuditLogRow",
    "ChargingSessionRow",
    "ConnectorSpecRow",
    "PaymentEventRow",
    "ReceiptRow",
    "RefreshTokenRow",
    "ReservationRow",
    "StationSiteRow",
    "TariffRow",
    "UserAccountRow",
]
