"""meter readings: one row per timestamp, meter_sample a view over them

The sampled values of one timestamp are one row (meter_reading.samples, a JSON array)
recognised as a replay by one unique index entry, instead of one row and one 7-column unique
index entry per sampled value; meter_sample becomes a view over them

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 03:30:00.000000
"""

from collections.abc import Sequence
from decimal import Decimal
from itertools import groupby
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import central_system.persistence.types
from central_system.domain.metering import MeterSample
from central_system.persistence.columns import reading_identity, samples_json

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_READINGS_PER_INSERT = 1000

_SQLITE_VIEW = """
CREATE VIEW meter_sample AS
SELECT r.id AS reading_id, CAST(j.key AS INTEGER) AS position, r.station_id, r.evse_id,
       r.connector_id, r.transaction_row_id, r.timestamp,
       json_extract(j.value, '$.measurand') AS measurand,
       json_extract(j.value, '$.phase') AS phase,
       json_extract(j.value, '$.location') AS location,
       json_extract(j.value, '$.context') AS context,
       json_extract(j.value, '$.unit') AS unit,
       json_extract(j.value, '$.value') AS value,
       json_extract(j.value, '$.signed_data') AS signed_data
FROM meter_reading AS r, json_each(r.samples) AS j
"""
_POSTGRES_VIEW = """
CREATE VIEW meter_sample AS
SELECT r.id AS reading_id, (j.position - 1)::integer AS position, r.station_id, r.evse_id,
       r.connector_id, r.transaction_row_id, r.timestamp,
       j.value ->> 'measurand' AS measurand,
       j.value ->> 'phase' AS phase,
       j.value ->> 'location' AS location,
       j.value ->> 'context' AS context,
       j.value ->> 'unit' AS unit,
       (j.value ->> 'value')::numeric(20, 6) AS value,
       j.value ->> 'signed_data' AS signed_data
FROM meter_reading AS r
CROSS JOIN LATERAL jsonb_array_elements(r.samples::jsonb) WITH ORDINALITY AS j(value, position)
"""
_SAMPLE_COLUMNS = (
    "station_id",
    "evse_id",
    "connector_id",
    "transaction_row_id",
    "timestamp",
    "measurand",
    "phase",
    "location",
    "context",
    "unit",
    "value",
    "signed_data",
)


def _where_and_when() -> list[sa.Column[object]]:
    """The columns a reading and a sample row (before 0005) both have."""
    return [
        sa.Column("station_id", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("transaction_row_id", sa.Integer(), nullable=True),
        sa.Column(
            "timestamp", central_system.persistence.types.UTCDateTime(timezone=True), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "meter_reading",
        sa.Column("id", _ID, nullable=False),
        *_where_and_when(),
        sa.Column("identity", sa.BigInteger(), nullable=False),
        sa.Column("samples", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["transaction_row_id"], ["charging_transaction.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "station_id", "evse_id", "timestamp", "identity", name="uq_meter_reading_identity"
        ),
    )
    op.create_index(
        "ix_meter_reading_transaction", "meter_reading", ["transaction_row_id", "timestamp"]
    )
    _stored_samples_into_readings()
    op.drop_table("meter_sample")
    op.execute(sa.text(_view()))


def _view() -> str:
    return _POSTGRES_VIEW if op.get_bind().dialect.name == "postgresql" else _SQLITE_VIEW


def _stored_samples_into_readings() -> None:
    """The samples of one (station, EVSE, timestamp) become one reading (the old unique
    constraint made their keys distinct), with the identity and JSON the writer makes."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            f"SELECT {', '.join(_SAMPLE_COLUMNS)} FROM meter_sample "
            "ORDER BY station_id, evse_id, timestamp, id"
        )
    )
    insert = sa.text(
        "INSERT INTO meter_reading (station_id, evse_id, connector_id, transaction_row_id, "
        "timestamp, identity, samples) VALUES (:station_id, :evse_id, :connector_id, "
        ":transaction_row_id, :timestamp, :identity, :samples)"
    )
    readings: list[dict[str, Any]] = []
    for (station_id, evse_id, stored_at), group in groupby(
        rows, key=lambda row: row[:2] + row[4:5]
    ):
        values = list(group)
        # the stored timestamp goes back as it is; the samples only need it to be one object
        samples = [
            MeterSample(
                stored_at,
                row.measurand,
                None if row.value is None else Decimal(str(row.value)),
                row.unit,
                row.phase,
                row.location,
                row.context,
                row.signed_data,
            )
            for row in values
        ]
        readings.append(
            {
                "station_id": station_id,
                "evse_id": evse_id,
                "connector_id": values[0].connector_id,
                "transaction_row_id": values[0].transaction_row_id,
                "timestamp": stored_at,
                "identity": reading_identity(samples),
                "samples": samples_json(samples),
            }
        )
        if len(readings) == _READINGS_PER_INSERT:
            bind.execute(insert, readings)
            readings = []
    if readings:
        bind.execute(insert, readings)


def downgrade() -> None:
    op.create_table(
        "meter_sample_restored",
        sa.Column("id", _ID, nullable=False),
        *_where_and_when(),
        sa.Column("measurand", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("phase", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("context", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("value", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column("signed_data", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["transaction_row_id"], ["charging_transaction.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "station_id",
            "evse_id",
            "timestamp",
            "measurand",
            "phase",
            "location",
            "context",
            name="uq_meter_sample_identity",
        ),
    )
    columns = ", ".join(_SAMPLE_COLUMNS)
    op.execute(
        sa.text(
            f"INSERT INTO meter_sample_restored ({columns}) SELECT {columns} FROM meter_sample "
            "ORDER BY reading_id, position"
        )
    )
    op.execute(sa.text("DROP VIEW meter_sample"))
    op.rename_table("meter_sample_restored", "meter_sample")
    op.create_index(
        "ix_meter_sample_transaction", "meter_sample", ["transaction_row_id", "timestamp"]
    )
    op.drop_index("ix_meter_reading_transaction", table_name="meter_reading")
    op.drop_table("meter_reading")
