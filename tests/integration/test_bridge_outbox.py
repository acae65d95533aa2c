"""The outbox in SQLite and PostgreSQL: the bounded-storage policy, and one publisher at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from bridge.app import Bridge
from bridge.outbox import OutboxStore
from central_system.domain.connectors import ConnectorStatus
from central_system.persistence.models import OutboxRow
from tests.helpers import wait_for
from tests.mosquitto import (
    Mosquitto,
    bridge_settings,
    enqueue,
    message_ids,
    mosquitto_fixture,  # noqa: F401 (the `mosquitto` fixture)
    outbox,
    outbox_count_is,
    status,
    subscribed,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def add_rows(store: OutboxStore, rows: list[tuple[str, str, str, datetime]]) -> None:
    """(station, topic kind, retention, created_at) rows, in this order."""
    values = [
        {
            "message_id": f"{index:036d}",
            "station_id": station,
            "topic": f"dt/evcharge/{station.lower()}/{kind}",
            "retention": retention,
            "payload": "{}",
            "created_at": created_at,
        }
        for index, (station, kind, retention, created_at) in enumerate(rows)
    ]
    async with store.engine.begin() as connection:
        await connection.execute(insert(OutboxRow.__table__), values)  # type: ignore[attr-defined]


async def remaining(store: OutboxStore) -> list[tuple[int, str, str, str]]:
    return [
        (int(row.message_id), row.station_id, row.topic.rsplit("/", 1)[1], row.retention)
        for row in await store.fetch(100_000)
    ]


async def test_old_telemetry_expires_except_the_newest_of_each_station_and_topic(
    database_url: str,
) -> None:
    old, new = NOW - timedelta(days=3), NOW - timedelta(minutes=5)
    async with outbox(database_url) as store:
        await add_rows(
            store,
            [("CP-1", "meter", "telemetry", old)] * 5
            + [("CP-1", "session", "record", old)] * 2
            + [("CP-1", "status", "telemetry", old)] * 3
            + [("CP-2", "meter", "telemetry", old)] * 2
            + [("CP-2", "meter", "telemetry", new)] * 2,
        )
        result = await store.thin(max_telemetry_rows=1000, max_age=timedelta(days=1), now=NOW)
        assert (result.expired, result.thinned) == (5 + 3 + 2 - 2, 0)
        assert await remaining(store) == [
            (4, "CP-1", "meter", "telemetry"),  # the newest CP-1 meter row, though old
            (5, "CP-1", "session", "record"),
            (6, "CP-1", "session", "record"),  # records are never dropped
            (9, "CP-1", "status", "telemetry"),
            (12, "CP-2", "meter", "telemetry"),
            (13, "CP-2", "meter", "telemetry"),
        ]


async def test_too_much_telemetry_is_thinned_oldest_first_and_records_are_kept(
    database_url: str,
) -> None:
    rows = []
    for minute in range(600):
        rows.append(("CP-1", "meter", "telemetry", NOW))
        rows.append(("CP-2", "meter", "telemetry", NOW))
        if minute % 100 == 0:
            rows.append(("CP-1", "session", "record", NOW))
    async with outbox(database_url) as store:
        await add_rows(store, rows)
        result = await store.thin(max_telemetry_rows=500, max_age=None, now=NOW)
        left = await remaining(store)
    telemetry = [row for row in left if row[3] == "telemetry"]
    assert len(telemetry) <= 500
    assert result.thinned == 1200 - len(telemetry)
    assert [row for row in left if row[3] == "record"] == [
        (index, "CP-1", "session", "record") for index, row in enumerate(rows) if row[2] == "record"
    ]
    # The newest telemetry is complete; the oldest is sparse, never the other way round.
    newest = [index for index, row in enumerate(rows) if row[2] == "telemetry"][-100:]
    assert set(newest) <= {row[0] for row in telemetry}
    per_station = Counter(row[1] for row in telemetry)
    assert abs(per_station["CP-1"] - per_station["CP-2"]) <= 2
    first_half = [row for row in telemetry if row[0] < len(rows) // 2]
    second_half = [row for row in telemetry if row[0] >= len(rows) // 2]
    assert len(first_half) < len(second_half)


async def test_under_its_bounds_the_outbox_is_left_alone(database_url: str) -> None:
    async with outbox(database_url) as store:
        await add_rows(store, [("CP-1", "meter", "telemetry", NOW)] * 50)
        result = await store.thin(max_telemetry_rows=100, max_age=timedelta(days=1), now=NOW)
        assert result.deleted == 0
        assert await store.count() == 50


@pytest.mark.mosquitto
async def test_one_bridge_publishes_an_outbox_and_another_takes_over(
    database_url: str, mosquitto: Mosquitto
) -> None:
    settings = bridge_settings(mosquitto, database_url, outbox_thin_interval=0.1)
    async with outbox(database_url) as store, subscribed(mosquitto, ["dt/#"]) as partner:
        first_ids = await enqueue(store, [status("CP-1", 1, ConnectorStatus.AVAILABLE)])
        async with contextlib.AsyncExitStack() as stack:
            bridges = [Bridge(settings), Bridge(settings)]
            tasks = [asyncio.create_task(bridge.run()) for bridge in bridges]
            for task in tasks:
                stack.push_async_callback(_stop, task)
            await wait_for(lambda: message_ids(partner.messages) == first_ids, timeout=10)
            await wait_for(lambda: outbox_count_is(store, 0), timeout=10)
            # Whichever took the outbox publishes; the other stands by, never connecting.
            active = 0 if bridges[0].stats.connections else 1
            standby = bridges[1 - active]
            assert bridges[active].stats.connections == 1
            assert standby.stats.connections == 0

            await _stop(tasks[active])
            more = await enqueue(store, [status("CP-1", 2, ConnectorStatus.PREPARING)])
            await wait_for(lambda: message_ids(partner.messages) == first_ids + more, timeout=10)
            await wait_for(lambda: standby.stats.published == 1, timeout=10)
            assert await store.count() == 0
            assert standby.stats.connections == 1


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
