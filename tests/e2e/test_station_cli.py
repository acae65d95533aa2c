"""`python -m charge_point station` as a station maker runs it, against `evcharge serve`: the
central system goes away mid-session, the station process is killed with messages still
queued, and after both come back every queued message arrives and the stored energy equals the
station's register."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import cli_env, serve
from tests.helpers import wait_for

STATION_ID = "CP-E2E"
FAST = [
    "--config", "RetryBackOffWaitMinimum=1",
    "--config", "RetryBackOffRandomRange=0",
    "--config", "RetryBackOffRepeatTimes=0",
    "--config", "TransactionMessageRetryInterval=1",
]  # fmt: skip


def query(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read another process's SQLite file (WAL: readers do not disturb the writer)."""
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as db:
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return []


@contextlib.asynccontextmanager
async def station_process(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "charge_point",
        "station",
        *args,
        env=cli_env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_killed_station_replays_its_queue_after_the_restart(tmp_path: Path, version: str):
    central_db = tmp_path / "central.db"
    station_dir = tmp_path / "station"
    station_db = station_dir / f"{STATION_ID}.db"
    env = cli_env(
        database_url=f"sqlite+aiosqlite:///{central_db}",
        auto_register="true",
        ocpp_port="0",
        env="development",
    )
    common = ["--id", STATION_ID, "--ocpp", version, "--data-dir", str(station_dir), *FAST]
    charging = [
        "--simulate-cars", "--time-scale", "60", "--sample-interval", "1",
        "--session-minutes", "600",
    ]  # fmt: skip

    def stored_samples() -> int:
        rows = query(
            central_db,
            "SELECT COUNT(*) FROM meter_sample WHERE station_id = ? AND transaction_row_id IS "
            "NOT NULL",
            STATION_ID,
        )
        return int(rows[0][0]) if rows else 0

    def queue_length() -> int:
        rows = query(station_db, "SELECT COUNT(*) FROM queue")
        return int(rows[0][0]) if rows else 0

    async with (
        serve(env) as server,
        station_process("--url", server.ocpp_url, *common, *charging) as station,
    ):
        await wait_for(lambda: stored_samples() >= 2, 30, 0.2, "the session is metered")
        server.process.send_signal(signal.SIGTERM)  # the central system goes away
        await asyncio.wait_for(server.process.wait(), 15)
        await wait_for(lambda: queue_length() >= 3, 20, 0.2, "messages queue up offline")
        station.kill()  # and the station dies with them still queued
        await station.wait()

    queued = query(station_db, "SELECT action, payload FROM queue ORDER BY id")
    assert len(queued) >= 3
    registers = dict(query(station_db, "SELECT connector_id, energy_wh FROM registers"))

    async with (
        serve(env) as server,
        station_process("--url", server.ocpp_url, *common),
    ):
        await wait_for(lambda: queue_length() == 0, 30, 0.2, "the queue is replayed")
        await wait_for(
            lambda: (
                query(
                    central_db,
                    "SELECT COUNT(*) FROM charging_transaction WHERE station_id = ? AND "
                    "stopped_at IS NULL",
                    STATION_ID,
                )
                == [(0,)]
            ),
            15,
            0.2,
            "the interrupted transactions are ended",
        )

    transactions = query(
        central_db,
        "SELECT id, evse_id, meter_start_wh, meter_stop_wh, stop_reason FROM charging_transaction"
        " WHERE station_id = ?",
        STATION_ID,
    )
    assert {t[1] for t in transactions} == {1, 2}  # one car on each connector
    for _row_id, evse_id, meter_start, meter_stop, reason in transactions:
        assert reason == "PowerLoss"
        assert meter_stop == registers[evse_id], "the station's last persisted register"
        assert meter_stop > meter_start
    stored_times = {
        (evse, ts[:23])
        for evse, ts in query(
            central_db,
            "SELECT evse_id, timestamp FROM meter_sample WHERE station_id = ? AND measurand = ?",
            STATION_ID,
            "Energy.Active.Import.Register",
        )
    }
    for action, text in queued:
        payload = json.loads(text)
        for mv in payload.get("meterValue", []) + payload.get("transactionData", []):
            evse = payload.get("connectorId") or payload.get("evse", {}).get("id")
            stamp = mv["timestamp"].replace("T", " ").removesuffix("Z")[:23]
            assert (evse, stamp) in stored_times, f"queued {action} sample reached the database"
    if version == "2.0.1":
        for row_id, *_ in transactions:
            seq = [s for (s,) in query(
                central_db,
                "SELECT seq_no FROM transaction_event WHERE transaction_row_id = ? ORDER BY seq_no",
                row_id,
            )]  # fmt: skip
            assert seq == list(range(len(seq))), "every seqNo exactly once, none missing"
