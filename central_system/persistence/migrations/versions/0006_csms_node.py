"""central-system processes (csms_node) and the one a station is connected to

The table csms_node and station.connected_node: the stations of a process that died are
marked disconnected

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 03:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import central_system.persistence.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "csms_node",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column(
            "started_at",
            central_system.persistence.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "seen_at", central_system.persistence.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("station") as batch:
        batch.add_column(
            sa.Column("connected_node", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True)
        )
    # Connections recorded before nodes existed belong to no running process: the central
    # system is upgraded while it is stopped, and its stations connect again after the upgrade.
    op.execute(sa.text("UPDATE station SET connected = false WHERE connected"))


def downgrade() -> None:
    with op.batch_alter_table("station") as batch:
        batch.drop_column("connected_node")
    op.drop_table("csms_node")
