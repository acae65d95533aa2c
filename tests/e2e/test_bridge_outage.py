"""Outage test: stations charge while the broker is stopped and started again and the bridge
process is killed (SIGKILL) and restarted; the partner then has every event exactly once after
de-duplication by message_id, in order per station, and the outbox is empty.

The central system runs as `evcharge serve` with the outbox on, the bridge as `python -m bridge`
(the command behind `evcharge bridge`), the broker is a real Mosquitto with mutual TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.outbox import OutboxStore
from central_system.persistence.database import create_engine
from tests.e2e.cli import cli_env, run, serve
from tests.helpers import connect, wait_for
from tests.mosquitto import (
    Mosquitto,
    Received,
    Station16,
    dedupe,
    mosquitto_fixture,  # noqa: F401 (the `mosquitto` fixture)
    subscribed,
)

pytestmark = pytest.mark.mosquitto

STATIONS = ["CP-1", "CP-2", "CP-3"]
BEFORE, DURING_OUTAGE, WHILE_BRIDGE_DEAD = 5, 100, 30


class BridgeProcess:
    """`python -m bridge` with its output collected."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.output: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge",
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._drain = asyncio.create_task(self._read(self.process))

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := (await process.stdout.readline()).decode():
            self.output.append(line)

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        assert self.process is not None and self._drain is not None
        if self.process.returncode is None:
            self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), 15)
        await self._drain
        return code


@contextlib.asynccontextmanager
async def bridge_process(env: dict[str, str]) -> AsyncIterator[BridgeProcess]:
    bridge = BridgeProcess(env)
    await bridge.start()
    try:
        yield bridge
    finally:
        if bridge.process is not None and bridge.process.returncode is None:
            await bridge.stop()


def sequence(messages: list[Received], station: str) -> list[tuple[str, object]]:
    """What a station's messages say, in arrival order: (event, detail)."""
    result = []
    for message in messages:
        payload = message.json()
        if payload["station_id"] != station:
            continue
        event = payload["event"]
        detail = {
            "status": payload.get("status"),
            "meter": payload.get("energy_register_wh"),
            "started": payload.get("meter_start_wh"),
            "ended": payload.get("meter_stop_wh"),
        }.get(str(event))
        result.append((str(event), detail))
    return result


def expected_sequence(meters: list[int]) -> list[tuple[str, object]]:
    return [
        ("connected", None),
        ("status", "Available"),
        ("status", "Preparing"),
        ("started", 0),
        ("status", "Charging"),
        *[("meter", wh) for wh in meters],
        ("ended", meters[-1]),
        ("status", "Finishing"),
        ("status", "Available"),
        ("disconnected", None),
    ]


async def test_outage_of_broker_and_bridge_loses_nothing(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    env = cli_env(database_url=database_url, ocpp_port="0", outbox="true")
    for station in STATIONS:
        for command in (["stations", "add", station], ["tokens", "add", f"TAG-{station}"]):
            code, output = await run(*command, env=env)
            assert code == 0, output
    bridge_env = cli_env(
        database_url=database_url,
        mqtt_reconnect_min="0.1",
        mqtt_reconnect_max="1",
        outbox_poll_interval="0.05",
        mqtt_max_publish_rate="0",  # Mosquitto has no per-connection publish quota
        **{key[len("EVCHARGE_") :].lower(): value for key, value in mosquitto.bridge_env().items()},
    )
    engine = create_engine(database_url)
    outbox = OutboxStore(engine)
    registers = dict.fromkeys(STATIONS, 0)
    meters: dict[str, list[int]] = {station: [] for station in STATIONS}

    async def charge(stations: dict[str, tuple[Station16, int]], count: int) -> None:
        async def one(station: Station16, tx: int) -> None:
            for _ in range(count):
                registers[station.station_id] += 250
                meters[station.station_id].append(registers[station.station_id])
                await station.meter(1, tx, registers[station.station_id])

        await asyncio.gather(*(one(station, tx) for station, tx in stations.values()))

    try:
        async with (
            serve(env) as server,
            subscribed(mosquitto, ["dt/evcharge/#", "$aws/things/+/shadow/update"]) as partner,
            bridge_process(bridge_env) as bridge,
        ):
            stations: dict[str, tuple[Station16, int]] = {}
            for station_id in STATIONS:
                station = Station16(await connect(server.ocpp_url, station_id), station_id)
                await station.boot()
                await station.status(1, "Available")
                await station.status(1, "Preparing")
                tx = await station.start(1, f"TAG-{station_id}", 0)
                await station.status(1, "Charging")
                stations[station_id] = (station, tx)
            await charge(stations, BEFORE)
            await wait_for(
                lambda: len(partner.on("dt/")) >= len(STATIONS) * (5 + BEFORE), timeout=20
            )

            # The broker goes away while the stations charge on.
            mosquitto.stop()
            await charge(stations, DURING_OUTAGE)
            backlog = await outbox.count()
            assert backlog >= len(STATIONS) * DURING_OUTAGE

            # It comes back; the bridge is killed while it drains the backlog.
            received_before = len(partner.messages)
            mosquitto.start()
            await wait_for(lambda: len(partner.messages) > received_before, timeout=20)
            assert await bridge.stop(signal.SIGKILL) == -signal.SIGKILL
            await charge(stations, WHILE_BRIDGE_DEAD)
            left_by_the_dead = await outbox.count()

            restarted_at = time.monotonic()
            await bridge.start()
            for station, tx in stations.values():
                await station.stop(tx, registers[station.station_id])
                await station.status(1, "Finishing")
                await station.status(1, "Available")
                await station.client.close()
            total = sum(len(expected_sequence(m)) for m in meters.values())
            await wait_for(
                lambda: len(dedupe(partner.on("dt/"))) >= total,
                timeout=60,
                what=f"{total} distinct messages",
            )
            await wait_for(lambda: _empty(outbox), timeout=20, what="an empty outbox")
            emptied_after = time.monotonic() - restarted_at
        drained = [m for m in partner.messages if m.at >= restarted_at]
    finally:
        await engine.dispose()

    events = dedupe(partner.on("dt/"))
    for station_id in STATIONS:
        assert sequence(events, station_id) == expected_sequence(meters[station_id]), station_id
    assert len(events) == total
    assert await _count(database_url) == 0

    # The shadow ends at each station's last known state.
    for station_id in STATIONS:
        last = partner.on(f"$aws/things/{station_id}/shadow/update")[-1].json()
        reported = last["state"]["reported"]
        assert reported["connected"] is False
        assert reported["evses"]["1"]["connectors"]["1"]["status"] == "Available"
        assert reported["evses"]["1"]["energy_register_wh"] == registers[station_id]

    duplicates = len(partner.on("dt/")) - len(events)
    seconds = drained[-1].at - drained[0].at if len(drained) > 1 else 0.0
    print(
        f"\noutage test ({database_url.split('+')[0]}): {len(events)} events, {duplicates} "
        f"delivered twice; backlog {backlog} rows during the broker outage, {left_by_the_dead} "
        f"left by the killed bridge; after its restart the outbox was empty in "
        f"{emptied_after:.2f} s (process start included), and {len(drained)} messages (events "
        f"and shadow updates) arrived within {seconds:.2f} s"
        + (f" = {len(drained) / seconds:.0f} messages/s" if seconds else "")
    )


async def _empty(outbox: OutboxStore) -> bool:
    return await outbox.count() == 0


async def _count(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        return await OutboxStore(engine).count()
    finally:
        await engine.dispose()
