"""The hot path end to end: meter values and transaction updates written by group commit, the
running transaction kept in memory per connected station, several central-system processes on
one database, and a database outage seen by a station."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.exceptions import InternalError
from ocpp.v16 import call as call16
from sqlalchemy import select

from central_system.persistence.batch_store import PostgresBatchStore
from central_system.persistence.models import MeterSampleRow, TransactionEventRow, TransactionRow
from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import OcppClient, connect, statements_with
from tests.integration.test_group_commit import terminate_backend
from tests.integration.test_ocpp201_core import boot, energy, event, ts


async def rows(running: RunningCentralSystem, model: type, *where: object) -> list[Any]:
    async with running.system.uow() as uow:
        return list((await uow.session.scalars(select(model).where(*where))).all())


@contextlib.asynccontextmanager
async def station(
    running: RunningCentralSystem, version: str = "2.0.1"
) -> AsyncIterator[OcppClient]:
    client = await connect(running.ocpp_url, "CS-1", version=version)
    try:
        yield client
    finally:
        await client.close()


async def test_a_station_that_moves_between_processes_is_read_afresh(database_url: str) -> None:
    """Two central-system processes on one database: what one of them keeps in memory for a
    station is dropped when the station connects to it again, so a replay of an event the
    other process stored is recognised and nothing the other process wrote is overwritten."""
    async with (
        running_central_system(test_settings(database_url)) as first,
        running_central_system(test_settings(database_url)) as second,
    ):
        await first.services.stations.register("CS-1")
        async with station(first) as client:
            assert (await client.call(boot())).status == "Accepted"
            await client.call(event("Started", 0, 0, samples=[energy(1_000)]))
            await client.call(event("Updated", 1, 60, samples=[energy(2_000)]))
        async with station(second) as client:  # a reconnect reaches the other process
            await client.call(event("Updated", 2, 120, samples=[energy(3_000)]))
            await client.call(event("Updated", 3, 180, samples=[energy(4_000)]))
        async with station(first) as client:
            # a replay of what the second process stored: its first answer, nothing written
            await client.call(event("Updated", 2, 120, samples=[energy(3_000)]))
            await client.call(event("Updated", 4, 240, samples=[energy(5_000)]))
        (tx,) = await rows(first, TransactionRow)
        assert (tx.last_seq_no, tx.live_energy_register_wh, tx.meter_start_wh) == (4, 5_000, 1_000)
        events = await rows(first, TransactionEventRow)
        assert sorted(e.seq_no for e in events) == [0, 1, 2, 3, 4]
        assert len(await rows(first, MeterSampleRow)) == 5


async def test_meter_values_update_the_running_transaction_in_memory_and_in_the_database(
    central_system: RunningCentralSystem,
) -> None:
    """1.6 MeterValues of a running transaction use the one in memory, kept there as the start
    committed it (none reads it back); each answer comes after its samples and live values are
    committed."""
    await central_system.services.stations.register("CS-1")
    await central_system.services.authorization.add_token("TAG")
    running = central_system.services.transactions.running
    async with station(central_system, "1.6") as client:
        await client.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        start = await client.call(
            call16.StartTransaction(connector_id=1, id_tag="TAG", meter_start=1_000, timestamp=ts())
        )
        for minute in (1, 2, 3):
            with statements_with(central_system.system.engine, "charging_transaction") as reads:
                await client.call(
                    call16.MeterValues(
                        connector_id=1,
                        transaction_id=start.transaction_id,
                        meter_value=[
                            {
                                "timestamp": ts(60 * minute),
                                "sampledValue": [
                                    {"value": str(1_000 + 100 * minute), "unit": "Wh"},
                                    {
                                        "value": str(20 + minute),
                                        "measurand": "SoC",
                                        "unit": "Percent",
                                    },
                                ],
                            }
                        ],
                    )
                )
            assert [sql for sql in reads if sql.lstrip().startswith("SELECT")] == []
            (tx,) = await rows(central_system, TransactionRow)
            assert tx.live_energy_register_wh == 1_000 + 100 * minute  # committed when answered
        assert len(running) == 1
        await client.call(
            call16.StopTransaction(
                transaction_id=start.transaction_id, meter_stop=1_400, timestamp=ts(240)
            )
        )
        assert len(running) == 0  # a stop goes to the database; the next update reads it
    (tx,) = await rows(central_system, TransactionRow)
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.live_soc_percent) == (1_000, 1_400, 23)
    assert len(await rows(central_system, MeterSampleRow)) == 6


async def test_the_first_update_of_a_new_transaction_reads_nothing_back(
    central_system: RunningCentralSystem,
) -> None:
    """2.0.1: the transaction and its seqNo 0 are kept in memory as TransactionEvent(Started)
    committed them; the Updated events that follow read neither back, and a replay of the
    Started is still recognised (E01, E07)."""
    await central_system.services.stations.register("CS-1")
    async with station(central_system) as client:
        await client.call(boot())
        await client.call(event("Started", 0, 0, samples=[energy(1_000)]))
        engine = central_system.system.engine
        with statements_with(engine, "SELECT") as reads:
            await client.call(event("Updated", 1, 60, samples=[energy(2_000)]))
            await client.call(event("Updated", 2, 120, samples=[energy(3_000)]))
        assert [sql for sql in reads if "transaction" in sql] == []
        await client.call(event("Started", 0, 0, samples=[energy(1_000)]))  # a replay
    assert sorted(e.seq_no for e in await rows(central_system, TransactionEventRow)) == [0, 1, 2]
    (tx,) = await rows(central_system, TransactionRow)
    assert (tx.last_seq_no, tx.live_energy_register_wh, tx.meter_start_wh) == (2, 3_000, 1_000)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_database_outage_is_an_internal_error_and_the_retry_is_stored(
    central_system: RunningCentralSystem,
) -> None:
    """The writer's database connection is lost: the station's message is answered with
    InternalError (nothing was stored, so nothing is lost); it sends it again and it is
    stored once."""
    await central_system.services.stations.register("CS-1")
    async with station(central_system) as client:
        await client.call(boot())
        await client.call(event("Started", 0, 0, samples=[energy(1_000)]))
        await client.call(event("Updated", 1, 60, samples=[energy(2_000)]))
        store = central_system.system.writer._store
        assert isinstance(store, PostgresBatchStore)
        assert store._idle  # the writer's connections, between batches
        for _, driver in store._idle:
            await terminate_backend(central_system.system.engine, driver.get_server_pid())
        updated = event("Updated", 2, 120, samples=[energy(3_000)])
        with pytest.raises(InternalError):
            await client.call(updated)
        await client.call(updated)  # the station's retry
    assert len(await rows(central_system, MeterSampleRow)) == 3
    assert sorted(e.seq_no for e in await rows(central_system, TransactionEventRow)) == [0, 1, 2]
