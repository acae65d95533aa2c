"""The database side of group commit: the rows of a batch of messages, written in one database
transaction with one bulk statement per table.

The statements are SQLAlchemy Core constructs of the ORM's tables, compiled once at start-up for
the dialect; the values are converted by the column types' own bind processors (looked up once),
so the rows are exactly those the ORM writes, without compiling SQL or building ORM objects per
message. They are executed on the driver connection:

* SQLite: one writer connection (WAL, synchronous=FULL, as the engine's) owned by one thread; a
  batch is one hop to that thread and one fsync. Each reading (the samples of one timestamp, one
  row) is one `INSERT ... ON CONFLICT DO NOTHING` whose row count says whether it is new.
* PostgreSQL: one asyncpg connection from the engine's pool; the readings of the whole batch are
  one `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING RETURNING` whose returned rows
  say which were new, every other table one `executemany`.

A reading refers to its shape (meter_reading_shape) by key: a shape this process has not yet
seen committed is stored in the batch that first uses it (`StoredShapes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central_system.domain.events import DomainEvent
from central_system.persistence.columns import (
    READING_COLUMNS,
    READING_IDENTITY,
    UPDATE_COLUMNS,
    ReadingShape,
    check_stored_shapes,
    connector_values,
    reading_values,
    readings,
    status_history_values,
    transaction_event_values,
    update_values,
)
from central_system.persistence.database import configure_sqlite_connection
from central_system.persistence.models import (
    ConnectorRow,
    ConnectorStatusLogRow,
    MeterReadingRow,
    MeterReadingShapeRow,
    OutboxRow,
    StationRow,
    TransactionEventRow,
    TransactionRow,
    utcnow,
)
from central_system.persistence.outbox import OutboxValues
from central_system.services.message_writes import MessageWrite

log = logging.getLogger(__name__)

WRITER_CACHE_KIB = 32 * 1024


class BatchOutcome(NamedTuple):
    added: list[int]  # per message: its samples that were new
    events: list[DomainEvent]  # of the whole batch, in message order


class BatchStore(Protocol):
    # How many batches may be written at once, each on a connection of its own.
    concurrent_batches: int

    async def write(self, messages: Sequence[MessageWrite]) -> BatchOutcome:
        """Write every message in one database transaction, or none of them (raises)."""
        ...

    def fails_alone(self, error: BaseException) -> bool:
        """Whether `error` may be caused by one message of a batch (a constraint, a value the
        database refuses) rather than by the database (unreachable, locked, full)."""
        ...

    async def close(self) -> None: ...


Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class BulkStatement:
    """A compiled statement and how to bind a row of values to it."""

    sql: str
    keys: tuple[str, ...]  # bind parameters in positional order
    processors: tuple[tuple[int, Processor], ...]  # (position, bind processor)

    @classmethod
    def compile(cls, statement: Any, dialect: Dialect, column_keys: Sequence[str]) -> BulkStatement:
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys))
        keys = tuple(compiled.positiontup)
        processors = []
        for position, key in enumerate(keys):
            processor = compiled.binds[key].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors.append((position, processor))
        return cls(str(compiled), keys, tuple(processors))

    def bind(self, values: dict[str, Any]) -> list[Any]:
        return self.bind_ordered([values[key] for key in self.keys])

    def bind_ordered(self, values: Sequence[Any]) -> list[Any]:
        """A row of values already in `keys` order."""
        row = list(values)
        for position, processor in self.processors:
            row[position] = processor(row[position])
        return row


@dataclass(frozen=True)
class Statements:
    """Every bulk statement of a batch, compiled for one dialect."""

    reading: BulkStatement
    transaction: BulkStatement
    transaction_event: BulkStatement
    heartbeat: BulkStatement
    status_history: BulkStatement
    connector: BulkStatement
    outbox: BulkStatement

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> Statements:
        dml: Any = postgresql if dialect.name == "postgresql" else sqlite
        reading: Table = MeterReadingRow.__table__  # type: ignore[attr-defined]
        transactions: Table = TransactionRow.__table__  # type: ignore[attr-defined]
        events: Table = TransactionEventRow.__table__  # type: ignore[attr-defined]
        stations: Table = StationRow.__table__  # type: ignore[attr-defined]
        history: Table = ConnectorStatusLogRow.__table__  # type: ignore[attr-defined]
        connectors: Table = ConnectorRow.__table__  # type: ignore[attr-defined]
        outbox: Table = OutboxRow.__table__  # type: ignore[attr-defined]
        connector_keys = [c.name for c in connectors.columns]
        upsert = dml.insert(connectors)
        upsert = upsert.on_conflict_do_update(
            index_elements=list(connectors.primary_key.columns),
            set_={
                name: upsert.excluded[name]
                for name in connector_keys
                if not connectors.c[name].primary_key
            },
        )
        transaction = BulkStatement.compile(
            update(transactions).where(transactions.c.id == bindparam("row_id")),
            dialect,
            UPDATE_COLUMNS,
        )
        if transaction.keys != (*UPDATE_COLUMNS, "row_id"):  # Rows.of binds them in this order
            raise RuntimeError(f"unexpected order of the transaction UPDATE: {transaction.keys}")
        return cls(
            reading=BulkStatement.compile(
                dml.insert(reading).inline().on_conflict_do_nothing(), dialect, READING_COLUMNS
            ),
            transaction=transaction,
            transaction_event=BulkStatement.compile(
                insert(events).inline(),
                dialect,
                [c.name for c in events.columns if c.name != "id"],
            ),
            heartbeat=BulkStatement.compile(
                update(stations).where(stations.c.id == bindparam("station_key")),
                dialect,
                ["last_heartbeat_at"],
            ),
            status_history=BulkStatement.compile(
                insert(history).inline(),
                dialect,
                [c.name for c in history.columns if c.name != "id"],
            ),
            connector=BulkStatement.compile(upsert, dialect, connector_keys),
            outbox=BulkStatement.compile(
                insert(outbox).inline(),
                dialect,
                [c.name for c in outbox.columns if c.name != "id"],
            ),
        )


class Rows:
    """A batch's rows per table (but the samples), bound for one dialect's statements."""

    def __init__(self, statements: Statements, outbox: OutboxValues | None) -> None:
        self._sql = statements
        self._outbox = outbox

    def of(
        self, messages: Sequence[MessageWrite], added: Sequence[int]
    ) -> tuple[dict[BulkStatement, list[list[Any]]], list[DomainEvent]]:
        """Rows by statement, in the order they are to be executed, and the batch's events."""
        sql = self._sql
        now = utcnow()
        events: list[DomainEvent] = []
        event_rows: list[list[Any]] = []
        transactions: dict[int, list[Any]] = {}  # by row id: the last state wins
        seen: dict[str, list[Any]] = {}
        history: list[list[Any]] = []
        connectors: dict[tuple[str, int, int], list[Any]] = {}
        for message, new_samples in zip(messages, added, strict=True):
            if message.samples is not None and new_samples:
                events.append(message.samples.event)
            events.extend(message.events)
            transaction = message.transaction
            if transaction is not None:
                row_id = _row_id(transaction.row_id)
                if message.transaction_event is not None:
                    event_rows.append(
                        sql.transaction_event.bind(
                            transaction_event_values(row_id, message.transaction_event, now)
                        )
                    )
                transactions[row_id] = sql.transaction.bind_ordered(
                    (*update_values(transaction), row_id)
                )
            if message.seen is not None:
                seen[message.seen.station_id] = sql.heartbeat.bind(
                    {"last_heartbeat_at": message.seen.at, "station_key": message.seen.station_id}
                )
            status = message.status
            if status is not None:
                history.append(
                    sql.status_history.bind(
                        status_history_values(status.station_id, status.report, now)
                    )
                )
                state = status.state
                if state is not None:
                    key = (status.station_id, state.key.evse_id, state.key.connector_id)
                    connectors[key] = sql.connector.bind(connector_values(status.station_id, state))
        outbox = self._outbox(events) if self._outbox is not None and events else []
        rows = {
            sql.transaction_event: event_rows,
            sql.transaction: list(transactions.values()),
            sql.heartbeat: list(seen.values()),
            sql.status_history: history,
            sql.connector: list(connectors.values()),
            sql.outbox: [sql.outbox.bind(values) for values in outbox],
        }
        return {statement: params for statement, params in rows.items() if params}, events


def _row_id(row_id: int | None) -> int:
    if row_id is None:
        raise ValueError("a transaction without a row id cannot be saved")
    return row_id


class ReadingRow(NamedTuple):
    """A reading's row, bound, how many sampled values it holds, and its shape."""

    row: list[Any]
    samples: int
    shape: ReadingShape


def reading_rows(statements: Statements, message: MessageWrite) -> list[ReadingRow]:
    samples = message.samples
    if samples is None:
        return []
    station_id, key, row_id = samples.station_id, samples.key, samples.transaction_row_id
    bind = statements.reading.bind_ordered
    return [
        ReadingRow(
            bind(reading_values(station_id, key, row_id, reading)),
            len(reading.samples),
            reading.shape,
        )
        for reading in readings(samples.samples)
    ]


SHAPE_TABLE: Table = MeterReadingShapeRow.__table__  # type: ignore[attr-defined]


class StoredShapes:
    """The keys of the reading shapes this process knows are committed. A batch stores the
    shapes it uses that are not among them (`INSERT ... ON CONFLICT DO NOTHING`: another
    process may have stored them), checks that a shape stored under the same key is the same
    text, and adds them here once it is committed: a batch rolled back takes its shapes with
    it."""

    def __init__(self) -> None:
        self._keys: set[int] = set()

    def new(self, rows: Iterable[Iterable[ReadingRow]]) -> dict[int, str]:
        """The shapes of `rows` not known to be stored, by key."""
        keys = self._keys
        return {
            reading.shape.key: reading.shape.samples
            for readings_of_message in rows
            for reading in readings_of_message
            if reading.shape.key not in keys
        }

    def committed(self, shapes: Iterable[int]) -> None:
        self._keys.update(shapes)


# --- SQLite ---------------------------------------------------------------------------------


class SqliteBatchStore:
    """One connection in one thread: the only connection that writes the high-volume tables."""

    concurrent_batches = 1  # SQLite has one writer at a time anyway

    def __init__(
        self, path: Path, outbox: OutboxValues | None, *, busy_timeout_ms: int = 30_000
    ) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._statements = Statements.for_dialect(sqlite.dialect())
        self._rows = Rows(self._statements, outbox)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._connection: sqlite3.Connection | None = None
        self._shapes = StoredShapes()

    async def write(self, messages: Sequence[MessageWrite]) -> BatchOutcome:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._write, messages)

    def fails_alone(self, error: BaseException) -> bool:
        return not isinstance(error, sqlite3.OperationalError | sqlite3.InterfaceError)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    # in the writer thread

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None)
            configure_sqlite_connection(connection)
            # The sample indexes take rows from every station at once: with SQLite's default
            # 2 MiB page cache most inserts read their index pages from the OS (-10% CPU).
            connection.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            connection.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            self._connection = connection
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _write(self, messages: Sequence[MessageWrite]) -> BatchOutcome:
        # Everything is bound before the write lock is taken (other connections wait for it),
        # assuming every reading is new; a replayed message's event is taken out afterwards.
        statements = self._statements
        per_message = [reading_rows(statements, message) for message in messages]
        expected = [sum(reading.samples for reading in rows) for rows in per_message]
        by_statement, events = self._rows.of(messages, expected)
        shapes = self._shapes.new(per_message)
        connection = self._connect()
        cursor = connection.cursor()
        insert_reading = statements.reading.sql
        try:
            cursor.execute("BEGIN IMMEDIATE")
            if shapes:
                self._store_shapes(cursor, shapes)
            added = []
            for rows in per_message:
                new = 0
                for reading in rows:
                    cursor.execute(insert_reading, reading.row)
                    if cursor.rowcount > 0:
                        new += reading.samples
                added.append(new)
            if added != expected:
                by_statement, events = self._rows.of(messages, added)
            for bulk, params in by_statement.items():
                cursor.executemany(bulk.sql, params)
            cursor.execute("COMMIT")
        except BaseException as error:
            with contextlib.suppress(sqlite3.Error):
                if connection.in_transaction:
                    cursor.execute("ROLLBACK")
                cursor.close()
            if not self.fails_alone(error):
                with contextlib.suppress(sqlite3.Error):
                    self._close()  # a fresh connection for the next batch
            raise
        cursor.close()
        self._shapes.committed(shapes)
        return BatchOutcome(added, events)

    @staticmethod
    def _store_shapes(cursor: sqlite3.Cursor, shapes: dict[int, str]) -> None:
        cursor.executemany(_SQLITE_INSERT_SHAPE, shapes.items())
        keys = list(shapes)
        stored = cursor.execute(
            f"SELECT key, samples FROM {SHAPE_TABLE.name} WHERE key IN "
            f"({', '.join('?' * len(keys))})",
            keys,
        )
        check_stored_shapes(shapes, stored)


_SQLITE_INSERT_SHAPE = (
    f"INSERT INTO {SHAPE_TABLE.name} (key, samples) VALUES (?, ?) ON CONFLICT DO NOTHING"
)


# --- PostgreSQL -----------------------------------------------------------------------------


def _unnest_arrays(dialect: Dialect, table: Table, columns: Sequence[str]) -> str:
    return ", ".join(
        f"${i}::{table.c[name].type.compile(dialect=dialect)}[]"
        for i, name in enumerate(columns, start=1)
    )


def _unnest_insert(
    dialect: Dialect, table: Table, columns: Sequence[str], returning: Sequence[str] = ()
) -> str:
    """INSERT of many rows as one statement: one array parameter per column. With `returning`,
    a row already stored is skipped and the new rows' `returning` columns are returned."""
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"SELECT * FROM unnest({_unnest_arrays(dialect, table, columns)})"
    )
    if returning:
        sql += f" ON CONFLICT DO NOTHING RETURNING {', '.join(returning)}"
    return sql


def _unnest_update(dialect: Dialect, table: Table, columns: Sequence[str], key: str) -> str:
    """UPDATE of many rows by their key as one statement: one array parameter per column, the
    key's last. The rows' keys must differ (Rows.of keeps the last state of each)."""
    names = [*columns, key]
    return (
        f"UPDATE {table.name} SET {', '.join(f'{name} = v.{name}' for name in columns)} "
        f"FROM unnest({_unnest_arrays(dialect, table, names)}) AS v({', '.join(names)}) "
        f"WHERE {table.name}.{key} = v.{key}"
    )


def _columns(rows: Iterable[Sequence[Any]], width: int) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


class PostgresBatchStore:
    """Up to `connections` asyncpg connections of the engine's pool, kept while they work: one
    per batch being written."""

    def __init__(
        self, engine: AsyncEngine, outbox: OutboxValues | None, *, connections: int = 2
    ) -> None:
        self.concurrent_batches = connections
        self._engine = engine
        dialect = engine.dialect
        self._statements = Statements.for_dialect(dialect)
        self._rows = Rows(self._statements, outbox)
        reading: Table = MeterReadingRow.__table__  # type: ignore[attr-defined]
        self._insert_readings = _unnest_insert(dialect, reading, READING_COLUMNS, READING_IDENTITY)
        self._identity = tuple(READING_COLUMNS.index(name) for name in READING_IDENTITY)
        # An executemany runs one statement per row in PostgreSQL: a batch of 500 MeterValues
        # waited 6 ms for its 500 UPDATEs, the event loop idle for part of it. As one statement
        # over arrays, PostgreSQL's CPU per MeterValues in the bench went 17.9 -> 13 us. The
        # inserts that keep executemany give their rows ids in message order (the outbox and
        # the status history are read in that order).
        statements = self._statements
        transactions: Table = TransactionRow.__table__  # type: ignore[attr-defined]
        stations: Table = StationRow.__table__  # type: ignore[attr-defined]
        events: Table = TransactionEventRow.__table__  # type: ignore[attr-defined]
        self._as_one_statement = {
            statements.transaction: _unnest_update(dialect, transactions, UPDATE_COLUMNS, "id"),
            statements.heartbeat: _unnest_update(dialect, stations, ["last_heartbeat_at"], "id"),
            statements.transaction_event: _unnest_insert(
                dialect, events, statements.transaction_event.keys
            ),
        }
        self._idle: list[tuple[AsyncConnection, Any]] = []  # (connection, asyncpg's)
        self._shapes = StoredShapes()

    async def write(self, messages: Sequence[MessageWrite]) -> BatchOutcome:
        per_message = [reading_rows(self._statements, message) for message in messages]
        shapes = self._shapes.new(per_message)
        connection, driver = self._idle.pop() if self._idle else await self._connect()
        try:
            async with driver.transaction():
                if shapes:
                    # in the order of their keys: two batches storing the same new shapes at
                    # once wait for each other in the same order, never in a deadlock
                    await driver.executemany(_POSTGRES_INSERT_SHAPE, sorted(shapes.items()))
                    stored = await driver.fetch(_POSTGRES_SHAPES, list(shapes))
                    check_stored_shapes(shapes, stored)
                added = await self._readings(driver, per_message)
                by_statement, events = self._rows.of(messages, added)
                for bulk, params in by_statement.items():
                    one_statement = self._as_one_statement.get(bulk)
                    if one_statement is None:
                        await driver.executemany(bulk.sql, params)
                    else:
                        await driver.execute(one_statement, *_columns(params, len(bulk.keys)))
        except BaseException as error:
            if self.fails_alone(error):
                self._idle.append((connection, driver))
            else:
                await _disconnect(connection)
            raise
        self._idle.append((connection, driver))
        self._shapes.committed(shapes)
        return BatchOutcome(added, events)

    def fails_alone(self, error: BaseException) -> bool:
        import asyncpg

        return isinstance(
            error,
            asyncpg.IntegrityConstraintViolationError
            | asyncpg.DataError
            | ValueError
            | TypeError
            | OverflowError,
        )

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            await _disconnect(connection)

    async def _connect(self) -> tuple[AsyncConnection, Any]:
        connection = await self._engine.connect()
        try:
            raw = await connection.get_raw_connection()
        except BaseException:
            await connection.close()
            raise
        return connection, raw.driver_connection

    async def _readings(self, driver: Any, per_message: Sequence[list[ReadingRow]]) -> list[int]:
        """Insert every message's readings at once; count per message the sampled values of
        those that were new."""
        identity = self._identity
        owner: dict[tuple[Any, ...], tuple[int, ReadingRow]] = {}
        for index, rows_of_message in enumerate(per_message):
            for reading in rows_of_message:
                key = tuple(reading.row[i] for i in identity)
                owner.setdefault(key, (index, reading))  # a replay within the batch: the first
        added = [0] * len(per_message)
        if not owner:
            return added
        rows = _columns((reading.row for _, reading in owner.values()), len(READING_COLUMNS))
        for record in await driver.fetch(self._insert_readings, *rows):
            found = owner.get(tuple(record))
            if found is None:
                raise RuntimeError(f"an inserted reading matches none of the batch: {record}")
            index, reading = found
            added[index] += reading.samples
        return added


async def _disconnect(connection: AsyncConnection) -> None:
    """Close one of the writer's connections for good, after a failure or at the end
    (invalidated: the pool does not hand it out again)."""
    with contextlib.suppress(Exception):
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()


_POSTGRES_INSERT_SHAPE = (
    f"INSERT INTO {SHAPE_TABLE.name} (key, samples) VALUES ($1, $2) ON CONFLICT DO NOTHING"
)
_POSTGRES_SHAPES = f"SELECT key, samples FROM {SHAPE_TABLE.name} WHERE key = ANY($1::bigint[])"


def batch_store_for(
    url: str, engine: AsyncEngine, outbox: OutboxValues | None, *, postgres_connections: int = 2
) -> SqliteBatchStore | PostgresBatchStore:
    from central_system.persistence.database import is_sqlite, sqlite_path

    if is_sqlite(url):
        path = sqlite_path(url)
        if path is None:
            raise ValueError("the central system needs a SQLite database file, not :memory:")
        return SqliteBatchStore(path, outbox)
    if engine.dialect.name == "postgresql":
        return PostgresBatchStore(engine, outbox, connections=postgres_connections)
    raise ValueError(f"no group-commit writer for the {engine.dialect.name} dialect")


__all__ = [
    "BatchOutcome",
    "BatchStore",
    "BulkStatement",
    "PostgresBatchStore",
    "SqliteBatchStore",
    "Statements",
    "batch_store_for",
]
