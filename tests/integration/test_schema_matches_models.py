"""The migrations build the schema the ORM models describe, on SQLite and PostgreSQL: a column,
index or constraint added to a model without a migration (or the other way round) fails here,
not on an operator's database."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import central_system.persistence.billing_models
import central_system.persistence.models
import central_system.persistence.operations_models  # noqa: F401  (their tables)
from central_system.persistence.database import create_engine

# A view the models map read-only (migration 0005 defines it).
VIEWS = {"meter_sample"}


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [
        difference
        for difference in compare_metadata(context, SQLModel.metadata)
        if not (difference[0] == "add_table" and difference[1].name in VIEWS)
    ]


async def test_the_migrated_schema_is_the_models_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()
