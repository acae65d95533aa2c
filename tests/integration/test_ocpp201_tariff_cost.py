"""OCPP 2.0.1 block I (tariff and cost): the running cost sent with CostUpdated during a
transaction (TC_I_01) and the total cost in the answer to TransactionEvent(Ended) (TC_I_02),
priced with the station's catalogue tariff in Decimal; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from central_system.domain.tariffs import Tariff, price
from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import OcppClient, statements_with, wait_for
from tests.smart_charging_helpers import boot16, boot201

STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
async def costing_system(database_url: str) -> AsyncIterator[RunningCentralSystem]:
    settings = test_settings(database_url, cost_update_interval=0.1)
    async with running_central_system(settings) as running:
        yield running


async def add_tariff(running: RunningCentralSystem, station_id: str, tariff: Tariff) -> None:
    async with running.system.uow() as uow:
        await uow.catalog.add_tariff(station_id, tariff, STARTED - timedelta(days=1))
        await uow.commit()


def energy(wh: int, context: str = "Sample.Periodic") -> dict[str, Any]:
    return {
        "value": wh,
        "context": context,
        "measurand": "Energy.Active.Import.Register",
        "unitOfMeasure": {"unit": "Wh"},
    }


def event(
    event_type: str, seq_no: int, at: datetime, wh: int, context: str, **info: Any
) -> call201.TransactionEvent:
    return call201.TransactionEvent(
        event_type=event_type,
        timestamp=at.isoformat(),
        trigger_reason="MeterValuePeriodic" if event_type == "Updated" else "Authorized",
        seq_no=seq_no,
        transaction_info={"transactionId": "TX-1", **info},
        evse={"id": 1, "connectorId": 1},
        meter_value=[{"timestamp": at.isoformat(), "sampledValue": [energy(wh, context)]}],
    )


async def test_TC_I_01_running_total_cost_with_cost_updated(
    costing_system: RunningCentralSystem,
) -> None:
    """TC_I_01_CSMS: while the transaction runs the station gets CostUpdated with the cost so
    far (energy at 0.40/kWh plus a 1.00 session fee), again as the energy grows; a 1.6 station
    with a tariff gets no cost message (1.6 has none)."""
    client: OcppClient = await boot201(costing_system)
    await add_tariff(
        costing_system, "CS-1", Tariff("EUR", per_kwh=Decimal("0.40"), session_fee=Decimal("1"))
    )
    old = await boot16(costing_system, "CP-16")
    await add_tariff(costing_system, "CP-16", Tariff("EUR", per_kwh=Decimal("0.40")))
    try:
        await old.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=0, timestamp=STARTED.isoformat()
            )
        )
        await client.call(event("Started", 0, STARTED, 10_000, "Transaction.Begin"))
        await client.call(
            event("Updated", 1, STARTED + timedelta(minutes=10), 12_500, "Sample.Periodic")
        )

        def totals() -> list[float]:
            return [u["total_cost"] for u in client.cp.cost_updates]

        await wait_for(lambda: Decimal("2.00") in map(Decimal, map(str, totals())), what="2.00")
        assert {u["transaction_id"] for u in client.cp.cost_updates} == {"TX-1"}
        await client.call(
            event("Updated", 2, STARTED + timedelta(minutes=20), 15_000, "Sample.Periodic")
        )
        await wait_for(lambda: Decimal("3.00") in map(Decimal, map(str, totals())), what="3.00")
        # sent only when the cost changes: never the same total twice in a row
        assert all(a != b for a, b in zip(totals(), totals()[1:], strict=False))
        assert await costing_system.services.costs.send_updates() == 0  # 1.6: nothing to send
    finally:
        await client.close()
        await old.close()


async def test_TC_I_02_final_total_cost_after_charging(
    central_system: RunningCentralSystem,
) -> None:
    """TC_I_02_CSMS: the answer to TransactionEvent(Ended) carries totalCost: 12.5 kWh at
    0.30/kWh, 30 minutes at 0.10/min and a 1.00 fee = 7.75, the same Decimal rule a receipt
    uses; a replayed Ended gets the same answer; a station without a tariff gets none."""
    tariff = Tariff(
        "EUR", per_kwh=Decimal("0.30"), per_minute=Decimal("0.10"), session_fee=Decimal("1.00")
    )
    client = await boot201(central_system)
    await add_tariff(central_system, "CS-1", tariff)
    try:
        started = await client.call(event("Started", 0, STARTED, 1_000, "Transaction.Begin"))
        assert started.total_cost is None
        ended_at = STARTED + timedelta(minutes=30)
        ended = event("Ended", 1, ended_at, 13_500, "Transaction.End", stoppedReason="Local")
        reply = await client.call(ended)
        expected = price(tariff, energy_wh=12_500, duration=timedelta(minutes=30)).total
        assert expected == Decimal("7.75")
        assert Decimal(str(reply.total_cost)) == expected
        again = await client.call(ended)  # replayed from the station's offline queue
        assert again.total_cost == reply.total_cost
    finally:
        await client.close()
    other = await boot201(central_system, "CS-2")
    try:
        await other.call(event("Started", 0, STARTED, 0, "Transaction.Begin"))
        reply = await other.call(
            event("Ended", 1, STARTED + timedelta(minutes=5), 500, "Transaction.End")
        )
        assert reply.total_cost is None
    finally:
        await other.close()


async def test_a_round_of_running_costs_reads_the_tariffs_once(database_url: str) -> None:
    """TC_I_01 at scale: a round of CostUpdated reads the tariffs of every session's station in
    one query, and does not price the sessions of 1.6 stations (1.6 has no cost message).
    Priced with a query each, a round over 9,000 sessions took seconds of CPU every minute."""
    settings = test_settings(database_url, cost_update_interval=3600)  # rounds run here
    async with running_central_system(settings) as running:
        tariff = Tariff("EUR", per_kwh=Decimal("0.40"))
        clients = []
        try:
            for n in range(3):
                client = await boot201(running, f"CS-{n}")
                clients.append(client)
                await add_tariff(running, f"CS-{n}", tariff)
                begin = event("Started", 0, STARTED, 10_000, "Transaction.Begin")
                later = STARTED + timedelta(minutes=10)
                update = event("Updated", 1, later, 10_000 + 1_000 * (n + 1), "Sample.Periodic")
                for message in (begin, update):
                    message.transaction_info["transactionId"] = f"TX-{n}"
                    await client.call(message)
            for n in range(2):
                old = await boot16(running, f"CP-{n}")
                clients.append(old)
                await add_tariff(running, f"CP-{n}", tariff)
                await old.call(
                    call16.StartTransaction(
                        connector_id=1, id_tag="TAG", meter_start=0, timestamp=STARTED.isoformat()
                    )
                )
            with statements_with(running.system.engine, "FROM tariff") as tariff_queries:
                assert await running.services.costs.send_updates() == 3
            assert len(tariff_queries) == 1
            # each 2.0.1 session got its own cost: 1, 2 and 3 kWh at 0.40
            for n, client in enumerate(clients[:3]):
                await wait_for(lambda c=client: bool(c.cp.cost_updates), what="a cost update")
                assert [Decimal(str(u["total_cost"])) for u in client.cp.cost_updates] == [
                    Decimal("0.40") * (n + 1)
                ]
        finally:
            for client in clients:
                await client.close()
