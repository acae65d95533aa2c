"""The group-commit writer on a real SQLite file and PostgreSQL: messages written together in one
database transaction, each answered only once committed (and its events published after the
commit), a failing batch failing only its own messages, and a database outage failing every
message of the batch with nothing stored."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from central_system.domain.connectors import (
    ConnectorKey,
    ConnectorState,
    ConnectorStatus,
    StatusReport,
)
from central_system.domain.events import (
    ConnectorStatusChanged,
    DomainEvent,
    MeterValuesReceived,
)
from central_system.domain.metering import LiveValues, MeterSample
from central_system.domain.stations import RegistrationStatus, SecurityProfile, StationRecord
from central_system.domain.transactions import Transaction
from central_system.persistence.batch_store import (
    PostgresBatchStore,
    SqliteBatchStore,
    batch_store_for,
)
from central_system.persistence.columns import (
    ShapeCollision,
    reading_identity,
    readings,
    samples_json,
)
from central_system.persistence.database import (
    WAL_AUTOCHECKPOINT_PAGES,
    create_engine,
    session_factory,
)
from central_system.persistence.group_commit import GroupCommitWriter, WriterStopped
from central_system.persistence.migrate import alembic_config
from central_system.persistence.models import (
    ConnectorRow,
    ConnectorStatusLogRow,
    MeterReadingRow,
    MeterReadingShapeRow,
    MeterSampleRow,
    OutboxRow,
    StationRow,
    TransactionEventRow,
    TransactionRow,
)
from central_system.persistence.outbox import outbox_values
from central_system.persistence.repositories import SqlUnitOfWorkFactory
from central_system.persistence.types import UTCDateTime
from central_system.services.event_bus import EventBus
from central_system.services.message_writes import (
    MessageWrite,
    SampleRows,
    StationSeen,
    StatusRows,
)
from central_system.services.ports import TransactionEventRecord
from tests.conftest import fresh_postgres_database
from tests.helpers import wait_for

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
KEY = ConnectorKey(1, 1)


@dataclass
class Parts:
    engine: AsyncEngine
    writer: GroupCommitWriter
    events: list[DomainEvent]
    transaction: Transaction
    running: asyncio.Task[None]  # the writer's


async def _station_and_transaction(engine: AsyncEngine, station_id: str) -> Transaction:
    """A station and its running transaction, written with the columns every schema since the
    first has (the migration tests run the writer on older schemas)."""
    uow_factory = SqlUnitOfWorkFactory(session_factory(engine), EventBus())
    async with uow_factory() as uow:
        await uow.stations.add(
            StationRecord(station_id, RegistrationStatus.ACCEPTED, SecurityProfile.NONE)
        )
        await uow.commit()
    transaction = Transaction(station_id=station_id, transaction_id="TX-1", key=KEY, started_at=T0)
    async with engine.begin() as connection:
        inserted = await connection.execute(
            insert(TransactionRow.__table__).values(  # type: ignore[attr-defined]
                station_id=station_id,
                transaction_id=transaction.transaction_id,
                evse_id=KEY.evse_id,
                connector_id=KEY.connector_id,
                started_at=T0,
                offline=False,
                created_at=T0,
            )
        )
    return replace(transaction, row_id=inserted.inserted_primary_key[0])


@contextlib.asynccontextmanager
async def running_writer(url: str, **store_options: object) -> AsyncIterator[Parts]:
    engine = create_engine(url)
    transaction = await _station_and_transaction(engine, "CS-1")
    store = (
        SqliteBatchStore(Path(make_url(url).database or ""), outbox_values, **store_options)  # type: ignore[arg-type]
        if store_options
        else batch_store_for(url, engine, outbox_values)
    )
    bus = EventBus()
    events: list[DomainEvent] = []
    bus.subscribe(events.extend)
    writer = GroupCommitWriter(store, bus, window=0.0)
    task = asyncio.create_task(writer.run())
    try:
        yield Parts(engine, writer, events, transaction, task)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await writer.close()
        await engine.dispose()


def samples_at(at: datetime, energy_wh: int) -> list[MeterSample]:
    return [
        MeterSample(at, "Energy.Active.Import.Register", Decimal(energy_wh), "Wh"),
        MeterSample(at, "Power.Active.Import", Decimal("11000.5"), "W"),
        MeterSample(at, "Voltage", Decimal("230.1"), "V", phase="L1-N"),
    ]


def meter_write(
    transaction: Transaction, minute: int, seq_no: int | None = None, station_id: str = "CS-1"
) -> MessageWrite:
    at = T0 + timedelta(minutes=minute)
    samples = samples_at(at, 1000 + minute)
    updated = replace(
        transaction,
        last_seq_no=seq_no,
        live=LiveValues(
            power_w=Decimal("11000.5"), energy_register_wh=1000 + minute, sampled_at=at
        ),
    )
    event = None
    if seq_no is not None:
        event = TransactionEventRecord(seq_no, "Updated", "MeterValuePeriodic", at, False, None)
    return MessageWrite(
        samples=SampleRows(
            station_id,
            KEY,
            transaction.row_id,
            samples,
            MeterValuesReceived(station_id, KEY.evse_id, updated, tuple(samples)),
        ),
        transaction=updated,
        transaction_event=event,
    )


async def terminate_backend(engine: AsyncEngine, pid: int) -> None:
    """End a PostgreSQL connection as an outage does, and wait until it is gone."""
    async with engine.connect() as connection:
        await connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")

    async def gone() -> bool:
        async with engine.connect() as connection:
            result = await connection.exec_driver_sql(
                f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"
            )
            return result.scalar_one() == 0

    await wait_for(gone, 10, what="the backend to end")


async def count(engine: AsyncEngine, table: type, *where: object) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).select_from(table.__table__)  # type: ignore[attr-defined]
        for condition in where:
            query = query.where(condition)  # type: ignore[arg-type]
        return int((await connection.execute(query)).scalar_one())


async def test_messages_that_arrive_together_are_one_commit(database_url: str) -> None:
    async with running_writer(database_url) as parts:
        writes = [meter_write(parts.transaction, minute, seq_no=minute) for minute in range(20)]
        added = await asyncio.gather(*(parts.writer.write(w) for w in writes))
        assert added == [3] * 20
        assert (parts.writer.batches, parts.writer.messages) == (1, 20)
        assert await count(parts.engine, MeterSampleRow) == 60
        assert await count(parts.engine, TransactionEventRow) == 20
        assert await count(parts.engine, OutboxRow) == 20
        async with parts.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(TransactionRow.__table__).where(  # type: ignore[attr-defined]
                        TransactionRow.id == parts.transaction.row_id
                    )
                )
            ).one()
        # the last message of the batch wins; values as the ORM stores them
        assert (row.last_seq_no, row.live_energy_register_wh) == (19, 1019)
        assert row.live_power_w == Decimal("11000.5")
        assert row.live_sampled_at.replace(tzinfo=UTC) == T0 + timedelta(minutes=19)


async def test_a_message_is_answered_after_its_commit_and_events_follow_the_commit(
    database_url: str,
) -> None:
    async with running_writer(database_url) as parts:
        seen_by_subscriber: list[int] = []

        def subscriber(events: Sequence[DomainEvent]) -> None:
            # the bus runs subscribers synchronously: look at the database from another
            # connection right now
            seen_by_subscriber.append(len(events))

        bus_events = parts.events
        parts.writer._bus.subscribe(subscriber)
        write = meter_write(parts.transaction, 1)
        pending = asyncio.ensure_future(parts.writer.write(write))
        assert not pending.done()
        assert await pending == 3
        # answered: the rows are there for any other connection, the event was published
        assert await count(parts.engine, MeterSampleRow) == 3
        assert [type(e) for e in bus_events] == [MeterValuesReceived]
        assert seen_by_subscriber == [1]

        # the same samples again (a replay): nothing new, no event, no outbox row
        assert await parts.writer.write(meter_write(parts.transaction, 1)) == 0
        assert await count(parts.engine, MeterSampleRow) == 3
        assert await count(parts.engine, OutboxRow) == 1
        assert len(bus_events) == 1


async def test_heartbeats_and_status_notifications(database_url: str) -> None:
    async with running_writer(database_url) as parts:
        at = T0 + timedelta(hours=1)
        report = StatusReport(KEY, ConnectorStatus.CHARGING, at, error_code="NoError")
        state = ConnectorState(KEY, ConnectorStatus.CHARGING, None, None, None, at)
        changed = ConnectorStatusChanged("CS-1", state)
        await asyncio.gather(
            parts.writer.write(MessageWrite(seen=StationSeen("CS-1", at))),
            parts.writer.write(
                MessageWrite(status=StatusRows("CS-1", report, state), events=(changed,))
            ),
            parts.writer.write(  # an older report: history only
                MessageWrite(
                    status=StatusRows(
                        "CS-1", replace(report, reported_at=at - timedelta(minutes=5)), None
                    )
                )
            ),
        )
        assert parts.events == [changed]
        assert await count(parts.engine, ConnectorStatusLogRow) == 2
        async with parts.engine.connect() as connection:
            station = (
                await connection.execute(
                    select(StationRow.__table__).where(StationRow.id == "CS-1")  # type: ignore[attr-defined]
                )
            ).one()
            connector = (await connection.execute(select(ConnectorRow.__table__))).one()  # type: ignore[attr-defined]
        assert station.last_heartbeat_at.replace(tzinfo=UTC) == at
        assert (connector.status, connector.error_code) == ("Charging", None)
        # a later status replaces the connector's state (upsert)
        later = replace(state, status=ConnectorStatus.FINISHING, reported_at=at + timedelta(1))
        await parts.writer.write(
            MessageWrite(
                status=StatusRows("CS-1", replace(report, reported_at=later.reported_at), later)
            )
        )
        assert await count(parts.engine, ConnectorRow, ConnectorRow.status == "Finishing") == 1


async def test_a_failing_batch_fails_only_the_message_that_broke_it(database_url: str) -> None:
    async with running_writer(database_url) as parts:
        await parts.writer.write(meter_write(parts.transaction, 0, seq_no=0))
        events_before = len(parts.events)
        good_1 = meter_write(parts.transaction, 1, seq_no=1)
        replayed = meter_write(parts.transaction, 2, seq_no=0)  # seqNo 0 is stored
        good_2 = meter_write(parts.transaction, 3, seq_no=3)
        results = await asyncio.gather(
            *(parts.writer.write(w) for w in (good_1, replayed, good_2)), return_exceptions=True
        )
        assert results[0] == 3 and results[2] == 3
        assert isinstance(results[1], Exception)
        assert "unique" in str(results[1]).lower() or "duplicate" in str(results[1]).lower()
        assert await count(parts.engine, TransactionEventRow) == 3  # 0, 1, 3
        # none of the failed message's samples was stored, and it published nothing
        minute_2 = T0 + timedelta(minutes=2)
        assert await count(parts.engine, MeterSampleRow, MeterSampleRow.timestamp == minute_2) == 0
        assert len(parts.events) == events_before + 2


async def test_no_reading_is_stored_under_a_shape_key_stored_with_other_values(
    database_url: str,
) -> None:
    """A shape's key is a 64-bit digest: were another shape stored under the same key, the
    writer and the ORM path would store no reading under it (the message fails) rather than
    label its numbers with another shape's values."""
    async with running_writer(database_url) as parts:
        (reading,) = readings(samples_of_minute(1))
        async with parts.engine.begin() as connection:
            await connection.execute(
                insert(MeterReadingShapeRow.__table__),  # type: ignore[attr-defined]
                {"key": reading.shape.key, "samples": '[{"measurand":"Other"}]'},
            )
        (result,) = await asyncio.gather(
            parts.writer.write(meter_write(parts.transaction, 1)), return_exceptions=True
        )
        assert isinstance(result, ShapeCollision)
        uow_factory = SqlUnitOfWorkFactory(session_factory(parts.engine), EventBus())
        async with uow_factory() as uow:
            with pytest.raises(ShapeCollision):
                await uow.meter_values.add(
                    "CS-1", KEY, parts.transaction.row_id, samples_of_minute(1)
                )
        assert await count(parts.engine, MeterReadingRow) == 0
        # another shape is stored and used as ever
        assert await parts.writer.write(readings_other_shape(parts.transaction)) == 1
        assert await count(parts.engine, MeterReadingRow) == 1


def readings_other_shape(transaction: Transaction) -> MessageWrite:
    at = T0 + timedelta(minutes=5)
    samples = [MeterSample(at, "SoC", Decimal(50), "Percent", location="EV")]
    event = MeterValuesReceived("CS-1", KEY.evse_id, transaction, tuple(samples))
    return MessageWrite(samples=SampleRows("CS-1", KEY, transaction.row_id, samples, event))


async def test_sqlite_locked_by_another_writer_fails_the_batch_and_stores_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    from central_system.persistence.migrate import upgrade

    await upgrade(sqlite_url)
    path = Path(make_url(sqlite_url).database or "")
    async with running_writer(sqlite_url, busy_timeout_ms=50) as parts:
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            results = await asyncio.gather(
                *(parts.writer.write(meter_write(parts.transaction, m)) for m in range(3)),
                return_exceptions=True,
            )
            assert all(isinstance(r, sqlite3.OperationalError) for r in results), results
            assert parts.events == []
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        assert await count(parts.engine, MeterSampleRow) == 0
        # the database is back: the stations' retries are stored
        assert await parts.writer.write(meter_write(parts.transaction, 0)) == 3


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgres_connection_lost_fails_the_batch_then_reconnects(database_url: str) -> None:
    async with running_writer(database_url) as parts:
        await parts.writer.write(meter_write(parts.transaction, 0))
        store = parts.writer._store
        assert isinstance(store, PostgresBatchStore)
        ((_, driver),) = store._idle  # the writer's connection, between batches
        pid = driver.get_server_pid()
        await terminate_backend(parts.engine, pid)
        lost = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
        with pytest.raises(lost):
            await parts.writer.write(meter_write(parts.transaction, 1))
        assert await count(parts.engine, MeterSampleRow) == 3
        assert await parts.writer.write(meter_write(parts.transaction, 1)) == 3


async def batches_waiting_for_a_lock(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
    return int(waiting or 0)


@contextlib.asynccontextmanager
async def a_batch_waiting(parts: Parts) -> AsyncIterator[tuple[Transaction, asyncio.Future[int]]]:
    """A batch of CS-1's message waiting for its transaction's row, which another connection
    holds until the block ends; and a second station, CS-2, whose readings' shape is stored
    (a batch storing a new shape would wait for another batch storing it too)."""
    other = await _station_and_transaction(parts.engine, "CS-2")
    assert await parts.writer.write(meter_write(other, 0, None, "CS-2")) == 3
    async with parts.engine.connect() as blocker:
        await blocker.begin()
        await blocker.execute(
            text("SELECT id FROM charging_transaction WHERE id = :id FOR UPDATE"),
            {"id": parts.transaction.row_id},
        )
        waiting = parts.writer.write(meter_write(parts.transaction, 0))
        await wait_for(lambda: batches_waiting_for_a_lock(parts.engine), what="a batch waits")
        yield other, waiting
        await blocker.rollback()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgres_batches_of_other_stations_commit_while_one_waits(database_url: str) -> None:
    """Two batches are written at once, each on its own connection: one that waits for the
    database does not hold up the stations of the next."""
    async with running_writer(database_url) as parts:
        async with a_batch_waiting(parts) as (other, waiting):
            assert await asyncio.wait_for(
                parts.writer.write(meter_write(other, 1, None, "CS-2")), 5
            )
            assert not waiting.done()
        assert await asyncio.wait_for(waiting, 5) == 3


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_stations_next_message_is_not_written_before_the_batch_holding_its_last(
    database_url: str,
) -> None:
    """A station's writes commit in the order it made them, even with batches written at once:
    its next message waits for the batch that holds its last (others are written meanwhile)."""
    async with running_writer(database_url) as parts:
        async with a_batch_waiting(parts) as (other, first):
            second = parts.writer.write(meter_write(parts.transaction, 1))
            assert await asyncio.wait_for(
                parts.writer.write(meter_write(other, 1, None, "CS-2")), 5
            )
            assert await batches_waiting_for_a_lock(parts.engine) == 1
            assert not first.done() and not second.done()
        assert await asyncio.wait_for(first, 5) == 3
        assert await asyncio.wait_for(second, 5) == 3
        async with parts.engine.connect() as connection:
            energy = await connection.scalar(
                text("SELECT live_energy_register_wh FROM charging_transaction WHERE id = :id"),
                {"id": parts.transaction.row_id},
            )
        assert energy == 1001  # the later message's state


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_stopping_finishes_the_batches_being_written_and_refuses_the_rest(
    database_url: str,
) -> None:
    """A write cancelled half-way leaves nobody knowing what was stored: when the central system
    stops, the batches being written end first; what is still queued is refused (WriterStopped:
    not written, the station sends it again)."""
    async with running_writer(database_url) as parts:
        async with a_batch_waiting(parts) as (other, being_written):
            queued = parts.writer.write(meter_write(parts.transaction, 1))
            parts.running.cancel()
            await asyncio.sleep(0)  # the writer's task is stopping, its batch still waiting
            assert not parts.running.done()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(parts.running, 5)
        assert being_written.result() == 3
        with pytest.raises(WriterStopped):
            queued.result()
        with pytest.raises(WriterStopped):
            parts.writer.write(meter_write(other, 1, None, "CS-2"))
        assert await count(parts.engine, MeterSampleRow) == 6


@pytest.mark.postgres
async def test_postgres_unreachable_fails_every_message(postgres_server_url: str) -> None:
    unreachable = make_url(postgres_server_url).set(host="127.0.0.1", port=1)
    engine = create_engine(unreachable.render_as_string(hide_password=False))
    writer = GroupCommitWriter(PostgresBatchStore(engine, None), EventBus(), window=0.0)
    task = asyncio.create_task(writer.run())
    try:
        transaction = Transaction("CS-1", "TX-1", KEY, T0, row_id=1)
        results = await asyncio.gather(
            *(writer.write(meter_write(transaction, m)) for m in range(3)),
            return_exceptions=True,
        )
        assert all(isinstance(r, OSError) for r in results), results
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await writer.close()
        await engine.dispose()


async def test_a_reading_unit_of_work_does_not_wait_for_the_writer(sqlite_url: str) -> None:
    """SQLite in WAL mode: a read-only unit of work reads while another connection holds the
    write lock (an ordinary one would wait for it up to the busy timeout); it cannot commit."""
    from central_system.persistence.migrate import upgrade

    await upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    try:
        await _station_and_transaction(engine, "CS-1")
        factory = SqlUnitOfWorkFactory(
            session_factory(engine),
            EventBus(),
            reading_sessions=session_factory(engine, read_only=True),
        )
        blocker = sqlite3.connect(Path(make_url(sqlite_url).database or ""), isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            blocker.execute("UPDATE charging_transaction SET charging_state = 'Charging'")
            async with factory.reading() as uow:
                transaction = await uow.transactions.get("CS-1", "TX-1")
                assert transaction is not None and transaction.charging_state is None
                with pytest.raises(RuntimeError):
                    await uow.commit()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    finally:
        await engine.dispose()


def table_as_it_was(name: str, *columns: tuple[str, Any]) -> Table:
    """A table as an older schema had it: the columns the test writes, by name and type."""
    return Table(name, MetaData(), *(Column(column, type_) for column, type_ in columns))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database without a schema: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'evcharge.db'}"
        return
    async with fresh_postgres_database(request.getfixturevalue("postgres_server_url")) as url:
        yield url


async def test_samples_stored_before_readings_existed_still_recognise_a_replay(
    unmigrated_url: str,
) -> None:
    """Migration 0005 groups the samples stored one row each (schema 0004) into readings with
    the identity the writer computes: a station that replays such a message after the upgrade
    stores nothing twice; a new message is stored."""
    from central_system.persistence.migrate import upgrade

    await upgrade(unmigrated_url, "0004")
    old_samples = table_as_it_was(  # meter_sample as schema 0004 had it
        "meter_sample",
        ("station_id", String),
        ("evse_id", Integer),
        ("connector_id", Integer),
        ("timestamp", UTCDateTime),
        ("measurand", String),
        ("phase", String),
        ("location", String),
        ("context", String),
        ("unit", String),
        ("value", Numeric(20, 6)),
    )
    engine = create_engine(unmigrated_url)
    try:
        async with engine.begin() as connection:
            for minute in (1, 2):
                at = T0 + timedelta(minutes=minute)
                await connection.execute(
                    insert(old_samples),
                    [
                        {
                            "station_id": "CS-1",
                            "evse_id": KEY.evse_id,
                            "connector_id": KEY.connector_id,
                            "timestamp": s.timestamp,
                            "measurand": s.measurand,
                            "phase": s.phase,
                            "location": s.location,
                            "context": s.context,
                            "unit": s.unit,
                            "value": s.value,
                        }
                        for s in reversed(samples_at(at, 1000 + minute))  # any order
                    ],
                )
    finally:
        await engine.dispose()
    await upgrade(unmigrated_url)

    async with running_writer(unmigrated_url) as parts:
        assert await count(parts.engine, MeterReadingRow) == 2
        async with parts.engine.connect() as connection:
            stored = (
                await connection.execute(
                    select(MeterSampleRow.__table__).order_by("timestamp", "measurand")  # type: ignore[attr-defined]
                )
            ).all()
        expected = sorted(
            (
                s
                for minute in (1, 2)
                for s in samples_at(T0 + timedelta(minutes=minute), 1000 + minute)
            ),
            key=lambda s: (s.timestamp, s.measurand),
        )
        assert [
            (row.timestamp.replace(tzinfo=UTC), row.measurand, row.phase, row.unit, row.value)
            for row in stored
        ] == [(s.timestamp, s.measurand, s.phase, s.unit, s.value) for s in expected]
        assert await parts.writer.write(meter_write(parts.transaction, 2)) == 0  # a replay
        assert await parts.writer.write(meter_write(parts.transaction, 3)) == 3
        assert await count(parts.engine, MeterSampleRow) == 9
        assert await count(parts.engine, MeterReadingRow) == 3


async def test_an_update_written_after_the_stop_does_not_undo_it(database_url: str) -> None:
    """A MeterValues folded into the running transaction before its StopTransaction was
    stored, committed after it: the writer saves only what an update changes (live values,
    seqNo ...), so the transaction stays stopped with its stop register."""
    async with running_writer(database_url) as parts:
        stopped = replace(
            parts.transaction,
            stopped_at=T0 + timedelta(minutes=30),
            meter_stop_wh=1_500,
            stop_reason="Local",
        )
        uow_factory = SqlUnitOfWorkFactory(session_factory(parts.engine), EventBus())
        async with uow_factory() as uow:
            await uow.transactions.save(stopped)
            await uow.commit()
        assert await parts.writer.write(meter_write(parts.transaction, 29)) == 3
        async with uow_factory.reading() as uow:
            stored = await uow.transactions.get("CS-1", "TX-1")
        assert stored is not None
        assert (stored.stopped_at, stored.meter_stop_wh, stored.stop_reason) == (
            T0 + timedelta(minutes=30),
            1_500,
            "Local",
        )
        assert stored.live.energy_register_wh == 1_029  # the update's live values are saved


async def store_old_reading(
    engine: AsyncEngine, transaction: Transaction, samples: Sequence[MeterSample]
) -> int:
    """Store one reading as schemas 0005 to 0008 held it (its samples as one JSON array of
    objects), as their writer did: the number of samples stored, 0 for a replay."""
    old_readings = table_as_it_was(  # meter_reading as schema 0008 had it
        "meter_reading",
        ("station_id", String),
        ("evse_id", Integer),
        ("connector_id", Integer),
        ("transaction_row_id", Integer),
        ("timestamp", UTCDateTime),
        ("identity", BigInteger),
        ("samples", Text),
    )
    dml = postgresql if engine.dialect.name == "postgresql" else sqlite
    async with engine.begin() as connection:
        result = await connection.execute(
            dml.insert(old_readings)
            .values(
                station_id=transaction.station_id,
                evse_id=KEY.evse_id,
                connector_id=KEY.connector_id,
                transaction_row_id=transaction.row_id,
                timestamp=samples[0].timestamp,
                identity=reading_identity(samples),
                samples=samples_json(samples),
            )
            .on_conflict_do_nothing()
        )
    return len(samples) if result.rowcount else 0


def samples_of_minute(minute: int) -> list[MeterSample]:
    return samples_at(T0 + timedelta(minutes=minute), 1000 + minute)


async def indexes_of_readings(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        indexes = await connection.run_sync(lambda sync: inspect(sync).get_indexes("meter_reading"))
    return {index["name"] for index in indexes if index["name"]}


async def unique_key_of_readings(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        constraints = await connection.run_sync(
            lambda sync: inspect(sync).get_unique_constraints("meter_reading")
        )
    return next(c["column_names"] for c in constraints if c["name"] == "uq_meter_reading_identity")


def _downgrade(connection: Connection, url: str, revision: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_readings_are_recognised_again_across_the_reordering_of_their_key(
    unmigrated_url: str,
) -> None:
    """Migration 0007 puts meter_reading's unique key in time order, and back on downgrade:
    the stored readings and the view over them stay, and a replay of a reading stored before
    is still recognised after it (readings stored as schemas before 0009 held them)."""
    from central_system.persistence.migrate import upgrade

    await upgrade(unmigrated_url, "0006")
    async with running_writer(unmigrated_url) as parts:
        engine, transaction = parts.engine, parts.transaction
        by_station = ["station_id", "evse_id", "timestamp", "identity"]
        assert await unique_key_of_readings(engine) == by_station
        for minute in (1, 2):
            stored = await store_old_reading(engine, transaction, samples_of_minute(minute))
            assert stored == 3
        await upgrade(unmigrated_url, "0008")
        in_time_order = ["timestamp", "station_id", "evse_id", "identity"]
        assert await unique_key_of_readings(engine) == in_time_order
        replay = await store_old_reading(engine, transaction, samples_of_minute(2))
        assert replay == 0
        assert await store_old_reading(engine, transaction, samples_of_minute(3)) == 3
        assert await count(engine, MeterSampleRow) == 9

        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, unmigrated_url, "0006")
        assert await unique_key_of_readings(engine) == by_station
        replay = await store_old_reading(engine, transaction, samples_of_minute(3))
        assert replay == 0
        assert await count(engine, MeterReadingRow) == 3
        assert await count(engine, MeterSampleRow) == 9


async def test_the_start_soc_moves_from_the_readings_to_the_transaction(
    unmigrated_url: str,
) -> None:
    """Migration 0008 fills each transaction's start SoC from its earliest stored SoC sample
    and drops the readings' index by transaction; the downgrade puts the index back and the
    readings stay."""
    from central_system.persistence.migrate import upgrade

    await upgrade(unmigrated_url, "0007")
    async with running_writer(unmigrated_url) as parts:
        engine = parts.engine
        for minute, soc in ((2, 41), (1, 40), (3, 42)):  # the first one arrives late
            at = T0 + timedelta(minutes=minute)
            samples = [*samples_of_minute(minute), MeterSample(at, "SoC", Decimal(soc), "Percent")]
            assert await store_old_reading(engine, parts.transaction, samples) == 4
        assert "ix_meter_reading_transaction" in await indexes_of_readings(engine)

        await upgrade(unmigrated_url, "0008")
        assert "ix_meter_reading_transaction" not in await indexes_of_readings(engine)
        uow_factory = SqlUnitOfWorkFactory(session_factory(engine), EventBus())
        async with uow_factory.reading() as uow:
            stored = await uow.transactions.get("CS-1", "TX-1")
        assert stored is not None
        assert stored.live.start_soc_percent == Decimal(40)
        assert stored.live.start_soc_at == T0 + timedelta(minutes=1)

        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, unmigrated_url, "0007")
        assert "ix_meter_reading_transaction" in await indexes_of_readings(engine)
        assert await count(engine, MeterSampleRow) == 12
        new = await store_old_reading(engine, parts.transaction, samples_of_minute(4))
        assert new == 3


async def view_rows(engine: AsyncEngine) -> list[tuple[object, ...]]:
    """Every row of the view meter_sample, as a SQL user reads them."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(MeterSampleRow.__table__).order_by("reading_id", "position")  # type: ignore[attr-defined]
        )
        return [tuple(row) for row in rows]


async def test_readings_stored_before_shapes_keep_their_values_both_ways(
    unmigrated_url: str,
) -> None:
    """Migration 0009 splits each stored reading into its shape (stored once) and its numbers:
    the view shows the same rows before and after, numbers as they were sent (15.50 stays
    15.50), signed data and a SignedData value without a number included; the writer then
    recognises a replay of a reading stored before. The downgrade puts the readings' JSON back
    as it was and the view shows the same rows again."""
    from central_system.persistence.migrate import upgrade

    await upgrade(unmigrated_url, "0008")
    at = T0 + timedelta(minutes=1)
    unusual = [
        MeterSample(at, "Energy.Active.Import.Register", Decimal("1078"), "Wh", signed_data="sd1"),
        MeterSample(at, "Current.Import", Decimal("15.50"), "A", "L1", "Outlet", "Sample.Clock"),
        MeterSample(at, "Voltage", Decimal("-0.001"), "V", "L2-N"),
        MeterSample(at, "SoC", Decimal("1E+2"), "Percent", location="EV"),
        MeterSample(at, 'Odd "100%" %s', None, "%d", signed_data="blob"),
    ]
    async with running_writer(unmigrated_url) as parts:
        engine, transaction = parts.engine, parts.transaction
        assert await store_old_reading(engine, transaction, unusual) == 5
        for minute in (2, 3):
            stored = await store_old_reading(engine, transaction, samples_of_minute(minute))
            assert stored == 3
        before = await view_rows(engine)
        async with engine.connect() as connection:
            stored_json = (
                (await connection.exec_driver_sql("SELECT samples FROM meter_reading ORDER BY id"))
                .scalars()
                .all()
            )
        assert stored_json[0] == samples_json(unusual)

        await upgrade(unmigrated_url)
        assert await view_rows(engine) == before
        async with engine.connect() as connection:
            shapes = await connection.exec_driver_sql("SELECT count(*) FROM meter_reading_shape")
            assert shapes.scalar_one() == 2  # the unusual reading's, and the one of minutes 2, 3
            values = await connection.exec_driver_sql(
                "SELECT sample_values, signed_data FROM meter_reading ORDER BY id"
            )
            assert values.first() == (
                "[1078,15.50,-0.001,1E+2,null]",
                '["sd1",null,null,null,"blob"]',
            )
        assert await parts.writer.write(meter_write(transaction, 3)) == 0  # a replay
        assert await parts.writer.write(meter_write(transaction, 4)) == 3
        assert len(await view_rows(engine)) == len(before) + 3

        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, unmigrated_url, "0008")
        assert (await view_rows(engine))[: len(before)] == before
        async with engine.connect() as connection:
            restored = (
                (await connection.exec_driver_sql("SELECT samples FROM meter_reading ORDER BY id"))
                .scalars()
                .all()
            )
        assert restored[:3] == stored_json
        assert await store_old_reading(engine, transaction, samples_of_minute(4)) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_sqlite_wal_is_checkpointed_after_many_batches_not_after_each_few(
    database_url: str,
) -> None:
    """Every connection checkpoints the WAL only once it holds WAL_AUTOCHECKPOINT_PAGES: a
    checkpoint copies each page once however often batches rewrote it, so at SQLite's default
    (1,000 pages) the group commit copied the same index pages into the database again and
    again."""
    path = Path(make_url(database_url).database or "")
    async with running_writer(database_url) as parts:
        async with parts.engine.connect() as connection:
            pages = await connection.exec_driver_sql("PRAGMA wal_autocheckpoint")
            assert pages.scalar_one() == WAL_AUTOCHECKPOINT_PAGES
        minute = 0
        wal = path.with_name(path.name + "-wal")
        while wal.stat().st_size < 1_200 * 4096:  # past SQLite's default: not checkpointed
            minute += 1
            assert minute < 5_000, "the WAL stopped growing: it was checkpointed"
            assert await parts.writer.write(meter_write(parts.transaction, minute)) == 3
    assert WAL_AUTOCHECKPOINT_PAGES > 1_200
