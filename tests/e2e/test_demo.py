"""`evcharge demo` (what `make demo` runs) from an empty directory, as a user starts it: it says
where everything listens, both simulated stations start charging, and Ctrl-C/SIGTERM ends it
cleanly."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

from tests.e2e.cli import EVCHARGE, cli_env


async def test_demo_runs_two_charging_stations(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        EVCHARGE,
        "demo",
        cwd=tmp_path,
        env=cli_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output: list[str] = []
    started: set[str] = set()

    async def until_both_stations_charge() -> None:
        assert process.stdout is not None
        while line := (await process.stdout.readline()).decode():
            output.append(line)
            if match := re.search(r"(DEMO-\d): transaction \S+ started", line):
                started.add(match.group(1))
                if started == {"DEMO-1", "DEMO-2"}:
                    return
        raise AssertionError("the demo exited:\n" + "".join(output))

    try:
        await asyncio.wait_for(until_both_stations_charge(), 60)
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 30)
        output.append(rest.decode())
    text = "".join(output)
    assert process.returncode == 0, text
    assert "evcharge demo is running" in text
    assert re.search(r"OCPP +: ws://127\.0\.0\.1:\d+/ocpp/", text)
    assert re.search(r"REST API +: http://127\.0\.0\.1:\d+/docs", text)
    assert "MQTT" in text  # the mosquitto_sub command, or that it runs without the bridge
    assert (tmp_path / ".demo" / "evcharge.db").exists()
