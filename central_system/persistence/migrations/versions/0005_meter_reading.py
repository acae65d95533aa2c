"""meter readings: replays are recognised per reading (one index entry per message) instead of
per sampled value (a 7-column unique index entry for each)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 03:30:00.000000
"""

from collections.abc import Sequence
from itertools import groupby

import sqlalchemy as sa
import sqlmodel
from alembic import op

import central_system.persistence.types
from central_system.persistence.columns import identity_of

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_IDENTITY_COLUMNS = (
    "station_id",
    "evse_id",
    "timestamp",
    "measurand",
    "phase",
    "location",
    "context",
)


def upgrade() -> None:
    op.create_table(
        "meter_reading",
        sa.Column("id", _ID, nullable=False),
        sa.Column("station_id", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("transaction_row_id", sa.Integer(), nullable=True),
        sa.Column(
            "timestamp", central_system.persistence.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("identity", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["transaction_row_id"], ["charging_transaction.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "station_id", "evse_id", "timestamp", "identity", name="uq_meter_reading_identity"
        ),
    )
    op.create_index(
        "ix_meter_reading_transaction", "meter_reading", ["transaction_row_id", "timestamp"]
    )
    with op.batch_alter_table("meter_sample") as batch:
        batch.add_column(sa.Column("reading_id", _ID, nullable=True))
    _group_stored_samples_into_readings()
    with op.batch_alter_table("meter_sample") as batch:
        batch.alter_column("reading_id", existing_type=_ID, nullable=False)
        batch.create_foreign_key("fk_meter_sample_reading", "meter_reading", ["reading_id"], ["id"])
        batch.drop_constraint("uq_meter_sample_identity", type_="unique")
        batch.drop_index("ix_meter_sample_transaction")
        batch.create_index("ix_meter_sample_reading", ["reading_id"])


def _group_stored_samples_into_readings() -> None:
    """The samples of one (station, EVSE, timestamp) become one reading (the old unique
    constraint made their keys distinct), with the identity the writer computes."""
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "INSERT INTO meter_reading "
            "(station_id, evse_id, connector_id, transaction_row_id, timestamp, identity) "
            "SELECT station_id, evse_id, MIN(connector_id), MIN(transaction_row_id), timestamp, 0 "
            "FROM meter_sample GROUP BY station_id, evse_id, timestamp"
        )
    )
    bind.execute(
        sa.text(
            "UPDATE meter_sample SET reading_id = (SELECT r.id FROM meter_reading r "
            "WHERE r.station_id = meter_sample.station_id AND r.evse_id = meter_sample.evse_id "
            "AND r.timestamp = meter_sample.timestamp)"
        )
    )
    keys = bind.execute(
        sa.text(
            "SELECT reading_id, measurand, phase, location, context FROM meter_sample "
            "ORDER BY reading_id"
        )
    )
    identities = [
        {"reading_id": reading_id, "identity": identity_of(tuple(row[1:]) for row in rows)}
        for reading_id, rows in groupby(keys, key=lambda row: row[0])
    ]
    if identities:
        bind.execute(
            sa.text("UPDATE meter_reading SET identity = :identity WHERE id = :reading_id"),
            identities,
        )


def downgrade() -> None:
    with op.batch_alter_table("meter_sample") as batch:
        batch.drop_index("ix_meter_sample_reading")
        batch.drop_constraint("fk_meter_sample_reading", type_="foreignkey")
        batch.drop_column("reading_id")
        batch.create_unique_constraint("uq_meter_sample_identity", list(_IDENTITY_COLUMNS))
        batch.create_index("ix_meter_sample_transaction", ["transaction_row_id", "timestamp"])
    op.drop_index("ix_meter_reading_transaction", table_name="meter_reading")
    op.drop_table("meter_reading")
