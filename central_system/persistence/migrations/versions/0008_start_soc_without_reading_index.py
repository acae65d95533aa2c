"""the transaction keeps its start SoC; meter_reading loses its index by transaction

charging_transaction.start_soc_percent and start_soc_at are new; ix_meter_reading_transaction
is dropped.

The index was there for one query: a session's SoC at start (its earliest SoC sample), read
back for every live view and receipt. Its entries, (transaction, time), land in a page of each
transaction's part of the index: a group commit of hundreds of stations' messages wrote one
page of it per message, about 9 us of the writer's CPU per message on SQLite (bench/README.md).
The start SoC is now folded into the transaction with its live values as samples arrive; here
it is filled in from the stored samples for the transactions that have any, before the index
goes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import central_system.persistence.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_meter_reading_transaction"
_FIRST_SOC = """
SELECT {value}, s.timestamp FROM meter_sample AS s
WHERE s.transaction_row_id = charging_transaction.id AND s.measurand = 'SoC'
  AND s.phase = '' AND s.value IS NOT NULL
ORDER BY s.timestamp, s.reading_id, s.position LIMIT 1
"""


def upgrade() -> None:
    op.add_column(
        "charging_transaction",
        sa.Column("start_soc_percent", sa.Numeric(precision=9, scale=3), nullable=True),
    )
    op.add_column(
        "charging_transaction",
        sa.Column(
            "start_soc_at",
            central_system.persistence.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
    )
    value = "CAST(s.value AS NUMERIC(9, 3))" if _postgres() else "s.value"
    op.execute(
        sa.text(
            "UPDATE charging_transaction SET (start_soc_percent, start_soc_at) = "
            f"({_FIRST_SOC.format(value=value)}) "
            "WHERE id IN (SELECT transaction_row_id FROM meter_reading)"
        )
    )
    op.drop_index(_INDEX, table_name="meter_reading")


def downgrade() -> None:
    op.create_index(_INDEX, "meter_reading", ["transaction_row_id", "timestamp"])
    # SQLite (3.35 and later) drops a column in place; alembic's batch mode would rebuild the
    # table, which the readings, events and sessions that refer to it forbid.
    for column in ("start_soc_at", "start_soc_percent"):
        op.execute(sa.text(f"ALTER TABLE charging_transaction DROP COLUMN {column}"))


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")
