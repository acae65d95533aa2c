"""meter readings store their numbers only; what they are is a shape they share

A reading kept its values as a JSON array of objects (measurand, phase, location, context, unit
and value: about 1 KB for a MeterValues of nine values). A station sends the same values message
after message: what they are is now a row of meter_reading_shape, once, and a reading keeps its
shape's key and its numbers (`[1078,11000,15.1,...]`, about 60 bytes). The SQLite writer wrote
about 600 KB per batch of 370 messages, now about 250 KB; it spent 16 -> 10 us per message.
The view meter_sample keeps its columns.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 11:00:00.000000
"""

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

from central_system.domain.metering import MeterSample
from central_system.persistence.columns import readings, samples_json

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_READINGS_PER_ROUND = 5000
_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)  # a reading's samples share one timestamp object

_SQLITE_VIEW = """
CREATE VIEW meter_sample AS
SELECT r.id AS reading_id, CAST(j.key AS INTEGER) AS position, r.station_id, r.evse_id,
       r.connector_id, r.transaction_row_id, r.timestamp,
       json_extract(j.value, '$.measurand') AS measurand,
       json_extract(j.value, '$.phase') AS phase,
       json_extract(j.value, '$.location') AS location,
       json_extract(j.value, '$.context') AS context,
       json_extract(j.value, '$.unit') AS unit,
       json_extract(r.sample_values, '$[' || j.key || ']') AS value,
       json_extract(r.signed_data, '$[' || j.key || ']') AS signed_data
FROM meter_reading AS r
JOIN meter_reading_shape AS h ON h.key = r.shape_key, json_each(h.samples) AS j
"""
_POSTGRES_VIEW = """
CREATE VIEW meter_sample AS
SELECT r.id AS reading_id, (j.position - 1)::integer AS position, r.station_id, r.evse_id,
       r.connector_id, r.transaction_row_id, r.timestamp,
       j.shape ->> 'measurand' AS measurand,
       j.shape ->> 'phase' AS phase,
       j.shape ->> 'location' AS location,
       j.shape ->> 'context' AS context,
       j.shape ->> 'unit' AS unit,
       j.value::numeric(20, 6) AS value,
       j.signed_data
FROM meter_reading AS r
JOIN meter_reading_shape AS h ON h.key = r.shape_key
CROSS JOIN LATERAL ROWS FROM (
    jsonb_array_elements(h.samples::jsonb),
    jsonb_array_elements_text(r.sample_values::jsonb),
    jsonb_array_elements_text(r.signed_data::jsonb)
) WITH ORDINALITY AS j(shape, value, signed_data, position)
"""
# The view as migrations 0005 and 0007 left it, for the downgrade.
_SQLITE_VIEW_0008 = """
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
_POSTGRES_VIEW_0008 = """
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


def upgrade() -> None:
    op.create_table(
        "meter_reading_shape",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("samples", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.execute(sa.text("DROP VIEW meter_sample"))
    op.add_column("meter_reading", sa.Column("shape_key", sa.BigInteger(), nullable=True))
    op.add_column("meter_reading", sa.Column("sample_values", sa.Text(), nullable=True))
    op.add_column("meter_reading", sa.Column("signed_data", sa.Text(), nullable=True))
    _stored_readings_into_shapes()
    with op.batch_alter_table("meter_reading", recreate=_recreate()) as batch:
        batch.drop_column("samples")
        batch.alter_column("shape_key", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("sample_values", existing_type=sa.Text(), nullable=False)
    op.execute(sa.text(_POSTGRES_VIEW if _postgres() else _SQLITE_VIEW))


def downgrade() -> None:
    op.execute(sa.text("DROP VIEW meter_sample"))
    op.add_column("meter_reading", sa.Column("samples", sa.Text(), nullable=True))
    _shapes_into_stored_readings()
    with op.batch_alter_table("meter_reading", recreate=_recreate()) as batch:
        batch.drop_column("shape_key")
        batch.drop_column("sample_values")
        batch.drop_column("signed_data")
        batch.alter_column("samples", existing_type=sa.Text(), nullable=False)
    op.drop_table("meter_reading_shape")
    op.execute(sa.text(_POSTGRES_VIEW_0008 if _postgres() else _SQLITE_VIEW_0008))


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _recreate() -> Any:
    # SQLite cannot alter a column's NOT NULL: its table is rebuilt. PostgreSQL alters in place.
    return "auto" if _postgres() else "always"


def _rounds(query: str) -> Iterator[list[Any]]:
    """The rows of `query` (which selects `r.id` first and has an `:after` bound) in rounds of
    _READINGS_PER_ROUND, by id."""
    bind = op.get_bind()
    after = -(2**63)
    while True:
        rows = bind.execute(sa.text(query), {"after": after, "limit": _READINGS_PER_ROUND}).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _stored_readings_into_shapes() -> None:
    """Each reading's samples as the writer stores them now: its shape (stored once), its
    numbers and its signed data. Numbers are read as decimals, so they stay as they were."""
    bind = op.get_bind()
    insert_shape = sa.text(
        "INSERT INTO meter_reading_shape (key, samples) VALUES (:key, :samples) "
        "ON CONFLICT DO NOTHING"
    )
    update = sa.text(
        "UPDATE meter_reading SET shape_key = :shape_key, sample_values = :sample_values, "
        "signed_data = :signed_data WHERE id = :id"
    )
    stored_shapes: set[int] = set()
    query = (
        "SELECT r.id, r.samples FROM meter_reading AS r WHERE r.id > :after "
        "ORDER BY r.id LIMIT :limit"
    )
    for rows in _rounds(query):
        shapes: dict[int, str] = {}
        changes = []
        for row_id, stored in rows:
            samples = [
                MeterSample(
                    _ANY_TIME,
                    value["measurand"],
                    value["value"],
                    value["unit"],
                    value["phase"],
                    value["location"],
                    value["context"],
                    value.get("signed_data"),
                )
                for value in json.loads(stored, parse_float=Decimal, parse_int=Decimal)
            ]
            (reading,) = readings(samples)
            if reading.shape.key not in stored_shapes:
                shapes[reading.shape.key] = reading.shape.samples
            changes.append(
                {
                    "id": row_id,
                    "shape_key": reading.shape.key,
                    "sample_values": reading.sample_values,
                    "signed_data": reading.signed_data,
                }
            )
        if shapes:
            bind.execute(insert_shape, [{"key": k, "samples": s} for k, s in shapes.items()])
            stored_shapes.update(shapes)
        bind.execute(update, changes)


def _shapes_into_stored_readings() -> None:
    bind = op.get_bind()
    update = sa.text("UPDATE meter_reading SET samples = :samples WHERE id = :id")
    query = (
        "SELECT r.id, h.samples, r.sample_values, r.signed_data FROM meter_reading AS r "
        "JOIN meter_reading_shape AS h ON h.key = r.shape_key WHERE r.id > :after "
        "ORDER BY r.id LIMIT :limit"
    )
    for rows in _rounds(query):
        changes = []
        for row_id, shape, values, signed_data in rows:
            numbers = json.loads(values, parse_float=Decimal, parse_int=Decimal)
            signed = json.loads(signed_data) if signed_data else [None] * len(numbers)
            samples = [
                MeterSample(
                    _ANY_TIME,
                    names["measurand"],
                    number,
                    names["unit"],
                    names["phase"],
                    names["location"],
                    names["context"],
                    signed_value,
                )
                for names, number, signed_value in zip(
                    json.loads(shape), numbers, signed, strict=True
                )
            ]
            changes.append({"id": row_id, "samples": samples_json(samples)})
        bind.execute(update, changes)
