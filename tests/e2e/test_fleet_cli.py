"""The load generator as the benchmark runs it: `python -m charge_point simulate --stations 200
--duration 60 --quiet` against `evcharge serve` with auto-registration. About 70 s."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.e2e.cli import cli_env, serve


@pytest.mark.timeout(150)
async def test_two_hundred_stations_for_a_minute_run_cleanly(tmp_path: Path):
    database = tmp_path / "central.db"
    env = cli_env(
        database_url=f"sqlite+aiosqlite:///{database}",
        auto_register="true",
        ocpp_port="0",
        env="development",
    )
    async with serve(env) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "charge_point", "simulate",
            "--stations", "200", "--duration", "60", "--quiet", "--url", server.ocpp_url,
            env=cli_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        output, errors = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode()
    assert process.returncode == 0, errors.decode()[-3000:]
    [summary] = [line for line in text.splitlines() if line.startswith("summary ")]
    fields = {key: value for key, _, value in (p.partition("=") for p in summary.split()[1:])}
    assert fields["stations"] == "200"
    assert fields["online"] == "200"
    assert int(fields["sessions"]) > 0
    assert float(fields["energy_kwh"]) > 0
    assert fields["errors"] == "0", errors.decode()[-3000:]
    assert fields["queued"] == "0"
    with sqlite3.connect(database) as db:
        [(stored,)] = db.execute(
            "SELECT COUNT(*) FROM charging_transaction WHERE stopped_at IS NOT NULL"
        ).fetchall()
    assert stored == int(fields["sessions"])
