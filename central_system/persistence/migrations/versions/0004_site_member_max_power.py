"""load management: a site member's total output (site_member.max_power_w)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 22:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("site_member") as batch:
        batch.add_column(sa.Column("max_power_w", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("site_member") as batch:
        batch.drop_column("max_power_w")
