"""meter_reading's unique key in time order

(timestamp, station_id, evse_id, identity) instead of (station_id, evse_id, timestamp,
identity). A group commit stores a reading of each of
hundreds of stations at once: with the station first each landed in another page of the index
(a page written per message, most of what SQLite spent on it); in time order they are all new
entries at the end of the index. A replay is recognised by the same four columns.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = "uq_meter_reading_identity"
_IN_TIME_ORDER = ["timestamp", "station_id", "evse_id", "identity"]
_BY_STATION = ["station_id", "evse_id", "timestamp", "identity"]


def upgrade() -> None:
    _unique_key(_IN_TIME_ORDER)


def downgrade() -> None:
    _unique_key(_BY_STATION)


def _unique_key(columns: list[str]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(_KEY, "meter_reading", type_="unique")
        op.create_unique_constraint(_KEY, "meter_reading", columns)
        return
    # SQLite keeps a unique constraint in the table's definition: the table is rebuilt, and the
    # view over it (whatever its definition now) is put back afterwards.
    view = op.get_bind().scalar(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'meter_sample'")
    )
    op.execute(sa.text("DROP VIEW meter_sample"))
    with op.batch_alter_table("meter_reading", recreate="always") as batch:
        batch.drop_constraint(_KEY, type_="unique")
        batch.create_unique_constraint(_KEY, columns)
    op.execute(sa.text(view))
