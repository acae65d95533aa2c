"""The station software against the real central system over 127.0.0.1, OCPP 1.6 and 2.0.1:
a CHAdeMO session read over the python-can virtual bus, both connectors at once under the station
maximum, remote start and stop, and an outage of the central system in the middle of a session.

Helpers here are also used by the other test_station_* integration modules."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central_system.domain.authorization import IdToken as CsIdToken
from central_system.persistence.models import MeterSampleRow, TransactionEventRow, TransactionRow
from charge_point.domain.battery import BatteryState
from charge_point.hardware.ccs import SimulatedConnector
from charge_point.hardware.chademo_can import SimulatedChademoCable
from charge_point.hardware.ev_simulator import CcsEvSimulator, ChademoEvSimulator
from charge_point.hardware.station_hardware import StationHardware
from charge_point.model import StationConfig
from charge_point.station import Station
from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.cp_helpers import unique_channel
from tests.helpers import wait_for

VERSIONS = ["1.6", "2.0.1"]
STATION_ID = "CP-1"

# Short timers for tests: sample every second, reconnect after a second without jitter.
TEST_SETTINGS = {
    "MeterValueSampleInterval": "1",
    "RetryBackOffWaitMinimum": "1",
    "RetryBackOffRandomRange": "0",
    "RetryBackOffRepeatTimes": "0",
    "MessageTimeout": "5",
    "TransactionMessageRetryInterval": "1",
    "SignalStrengthReportInterval": "3600",
}


def battery(soc: float = 20, target: float = 100, *, capacity: int = 60_000) -> BatteryState:
    return BatteryState(
        capacity_wh=capacity, soc_pct=soc, target_soc_pct=target, max_power_w=50_000
    )


def make_station(
    url: str,
    tmp_path: Path,
    version: str,
    *,
    station_id: str = STATION_ID,
    hardware: StationHardware | None = None,
    settings: dict[str, str] | None = None,
    **config: Any,
) -> Station:
    return Station(
        StationConfig(
            station_id,
            url,
            version,
            data_dir=tmp_path / "station",
            settings={**TEST_SETTINGS, **(settings or {})},
            **config,
        ),
        hardware or StationHardware.simulated(tick_s=0.05, time_scale=60),
    )


@contextlib.asynccontextmanager
async def online(station: Station) -> AsyncIterator[Station]:
    async with station:
        await wait_for(lambda: station.online, 10, what="the station is online")
        yield station


def ccs_car(station: Station, connector_id: int = 1, **kwargs: Any) -> CcsEvSimulator:
    member = station.hardware.member(connector_id)
    assert isinstance(member, SimulatedConnector)
    return CcsEvSimulator(member, battery(**kwargs))


async def rows(running: RunningCentralSystem, model: type, *where: Any, order: Any = None) -> list:
    async with running.system.uow() as uow:
        query = select(model).where(*where)
        if order is not None:
            query = query.order_by(order)
        return list((await uow.session.scalars(query)).all())


async def stored_transactions(
    running: RunningCentralSystem, station_id: str = STATION_ID
) -> list[TransactionRow]:
    return await rows(
        running, TransactionRow, TransactionRow.station_id == station_id, order=TransactionRow.id
    )


async def samples_of(
    running: RunningCentralSystem, transaction: TransactionRow, measurand: str
) -> list[MeterSampleRow]:
    return await rows(
        running,
        MeterSampleRow,
        MeterSampleRow.transaction_row_id == transaction.id,
        MeterSampleRow.measurand == measurand,
        order=MeterSampleRow.timestamp,
    )


async def ended(running: RunningCentralSystem, count: int = 1) -> list[TransactionRow]:
    async def check() -> list[TransactionRow] | None:
        found = await stored_transactions(running)
        done = [t for t in found if t.stopped_at is not None]
        return found if len(done) >= count else None

    result: list[TransactionRow] = await wait_for(check, 20, 0.1, "transactions ended")
    return result


async def prepared(running: RunningCentralSystem, *tokens: str) -> None:
    await running.services.stations.register(STATION_ID)
    for token in tokens:
        await running.services.authorization.add_token(token)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_chademo_session_soc_from_can_frames_reaches_the_stored_meter_values(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
):
    await prepared(central_system, "TAG-1")
    channel = unique_channel("station-ocpp")
    cable = SimulatedChademoCable()
    hardware = StationHardware.with_chademo_can(
        channel=channel, lines=cable, tick_s=0.05, time_scale=300
    )
    station = make_station(central_system.ocpp_url, tmp_path, version, hardware=hardware)
    car = ChademoEvSimulator(
        battery(soc=30, target=45, capacity=40_000), cable=cable, channel=channel, time_scale=300
    )
    async with online(station), car:
        car.plug_in()
        assert await station.present_token(2, "TAG-1")
        # The car ends the session itself at its target SoC.
        await wait_for(lambda: station.completed, 30, 0.05, "the CHAdeMO session ended")
        await wait_for(lambda: station.store.queue_length() == 0, 10)

    [done] = station.completed
    [tx] = await ended(central_system)
    assert (tx.evse_id, tx.id_token) == (2, "TAG-1")
    assert tx.meter_stop_wh - tx.meter_start_wh == done.energy_wh > 0
    soc = [s.value for s in await samples_of(central_system, tx, "SoC")]
    assert len(soc) >= 3
    assert soc == sorted(soc), "SoC never goes down while charging"
    assert soc[0] < soc[-1]
    assert soc[-1] >= 44
    assert tx.live_soc_percent is not None and tx.live_soc_percent >= 44


@pytest.mark.parametrize("version", VERSIONS)
async def test_both_connectors_charge_at_once_within_the_station_maximum(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
):
    await prepared(central_system, "TAG-A", "TAG-B")
    hardware = StationHardware.simulated(station_max_w=22_000, tick_s=0.05, time_scale=60)
    station = make_station(central_system.ocpp_url, tmp_path, version, hardware=hardware)
    totals: list[int] = []

    async def watch_power() -> None:
        while True:
            totals.append(hardware.total_power_w())
            await asyncio.sleep(0.02)

    async with online(station):
        watcher = asyncio.create_task(watch_power())
        cars = [ccs_car(station, 1), ccs_car(station, 2)]
        for car in cars:
            car.plug_in()
        assert await station.present_token(1, "TAG-A")
        assert await station.present_token(2, "TAG-B")

        async def sampled_together() -> bool:
            found = await stored_transactions(central_system)
            if len(found) < 2:
                return False
            counts = [
                len(await samples_of(central_system, t, "Power.Active.Import")) for t in found
            ]
            return min(counts) >= 3

        await wait_for(sampled_together, 20, 0.1, "both connectors sampled")
        for cid, token in ((1, "TAG-A"), (2, "TAG-B")):
            assert await station.present_token(cid, token)  # the drivers stop
        await wait_for(lambda: station.store.queue_length() == 0, 10)
        watcher.cancel()

    txs = await ended(central_system, 2)
    assert {t.evse_id for t in txs} == {1, 2}
    assert max(t.started_at for t in txs) < min(t.stopped_at for t in txs), "they overlapped"
    per_time: dict[Any, Decimal] = {}
    for tx in txs:
        for sample in await samples_of(central_system, tx, "Power.Active.Import"):
            per_time[sample.timestamp] = per_time.get(sample.timestamp, Decimal(0)) + sample.value
    shared = [total for total in per_time.values() if total > 11_000]
    assert shared, "samples of both connectors at the same moment"
    assert max(per_time.values()) <= 22_000
    assert max(totals) <= 22_000
    assert sum(1 for t in totals if t > 20_000) > 10, "the station maximum was really used"
    for tx, done in zip(txs, sorted(station.completed, key=lambda c: c.connector_id), strict=True):
        assert tx.meter_stop_wh - tx.meter_start_wh == done.energy_wh


@pytest.mark.parametrize("version", VERSIONS)
async def test_remote_start_and_remote_stop(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
):
    await prepared(central_system, "APP-7")
    commands = central_system.system.commands
    station = make_station(central_system.ocpp_url, tmp_path, version)
    async with online(station):
        ccs_car(station, 1).plug_in()
        result = await commands.remote_start(
            STATION_ID, CsIdToken("APP-7"), evse_id=1, remote_start_id=42
        )
        assert result.accepted

        async def started() -> TransactionRow | None:
            found = await stored_transactions(central_system)
            return found[0] if found else None

        tx = await wait_for(started, 10, 0.05, "the remote start reached the central system")
        assert tx.id_token == "APP-7"
        if version == "2.0.1":
            assert tx.remote_start_id == 42
        # A second remote start on the busy connector is refused.
        again = await commands.remote_start(
            STATION_ID, CsIdToken("APP-7"), evse_id=1, remote_start_id=43
        )
        assert not again.accepted
        stop = await commands.remote_stop(STATION_ID, tx.transaction_id)
        assert stop.accepted
        [tx] = await ended(central_system)
        unknown = await commands.remote_stop(
            STATION_ID, "999999" if version == "1.6" else "no-such-transaction"
        )
        assert not unknown.accepted
    assert tx.stop_reason == "Remote"
    [done] = station.completed
    assert tx.meter_stop_wh - tx.meter_start_wh == done.energy_wh


@pytest.mark.parametrize("version", VERSIONS)
async def test_central_system_outage_mid_session_loses_nothing_and_sends_nothing_twice(
    database_url: str, tmp_path: Path, version: str
):
    port = free_port()
    settings = test_settings(database_url, ocpp_port=port)
    url = f"ws://127.0.0.1:{port}/ocpp"
    station = make_station(url, tmp_path, version)
    async with station:
        async with running_central_system(settings) as first:
            await prepared(first, "TAG-1")
            await wait_for(lambda: station.online, 10, what="the station is online")
            ccs_car(station, 1, soc=10).plug_in()
            assert await station.present_token(1, "TAG-1")

            async def sampled() -> bool:
                found = await stored_transactions(first)
                return bool(found) and len(await samples_of(first, found[0], "SoC")) >= 2

            await wait_for(sampled, 10, 0.05, "samples stored before the outage")
        # The central system is down; the session goes on and its messages wait on disk.
        await wait_for(lambda: not station.online, 10)
        await wait_for(lambda: station.store.queue_length() >= 3, 10, 0.05, "queued offline")
        assert station.connectors[1].transaction is not None, "charging continues offline"
        assert await station.present_token(1, "TAG-1")  # the driver stops while offline
        queued = station.store.queued()
        assert [m.action for m in queued][-1] in ("StopTransaction", "TransactionEvent")
        async with running_central_system(settings) as second:
            await wait_for(lambda: station.store.queue_length() == 0, 20, 0.05, "replayed")
            [tx] = await ended(second)
            energy = await samples_of(second, tx, "Energy.Active.Import.Register")
            events = (
                await rows(
                    second, TransactionEventRow, TransactionEventRow.transaction_row_id == tx.id
                )
                if version == "2.0.1"
                else []
            )

    [done] = station.completed
    assert station.stats.discarded == 0
    assert tx.meter_stop_wh - tx.meter_start_wh == done.energy_wh
    assert tx.meter_stop_wh == done.meter_stop_wh
    # Every queued sample arrived (the central system keeps one row per sample identity).
    stored_times = {s.timestamp.isoformat(timespec="milliseconds") for s in energy}
    queued_times = {
        mv["timestamp"].replace("Z", "+00:00")
        for m in queued
        for mv in m.payload.get("meterValue", []) + m.payload.get("transactionData", [])
    }
    assert queued_times <= stored_times
    if version == "2.0.1":
        seq_nos = sorted(e.seq_no for e in events)
        assert seq_nos == list(range(len(seq_nos))), "every seqNo exactly once"
        offline = {m.payload["seqNo"] for m in queued if m.payload.get("offline")}
        assert offline, "events of the outage are marked offline"
        assert {e.seq_no for e in events if e.offline} >= offline
