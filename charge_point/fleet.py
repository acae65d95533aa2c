"""`evcharge simulate`: many simulated stations with simulated drivers in one process.

It is the load generator of the benchmarks, so a station costs little: no thread, a handful of
mostly idle tasks, simulated connectors that wake once a second only while charging, its own
SQLite file without a sync per commit, and one shared seeded random generator from which every
station draws its own jitter (connection ramp-up, sampling phase, reconnect back-off), so
stations never act in lock-step and a run can be repeated.

At the end the drivers end their sessions, the queues drain (bounded wait), and one summary
line is printed that scripts can grep:

    summary stations=200 online=200 sessions=412 energy_kwh=83.1 messages=10234 errors=0 ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charge_point.hardware.modem import SimulatedModem
from charge_point.hardware.station_hardware import StationHardware
from charge_point.model import OCPP_VERSIONS, StationConfig
from charge_point.simulation import Driver, TrafficProfile
from charge_point.station import Station

log = logging.getLogger(__name__)


def parse_mix(text: str) -> dict[str, float]:
    """`1.6=0.5,2.0.1=0.5` -> weights per version (normalised)."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        version, _, weight = part.partition("=")
        version = version.strip()
        if version not in OCPP_VERSIONS:
            raise ValueError(f"unknown OCPP version {version!r} in the mix")
        weights[version] = float(weight) if weight.strip() else 1.0
    total = sum(weights.values())
    if not weights or total <= 0:
        raise ValueError("the OCPP mix needs a positive weight")
    return {version: weight / total for version, weight in weights.items()}


def assign_versions(count: int, mix: Mapping[str, float]) -> list[str]:
    """Deterministic split of `count` stations by the mix (largest remainder)."""
    exact = {v: w * count for v, w in mix.items()}
    counts = {v: int(x) for v, x in exact.items()}
    for version in sorted(exact, key=lambda v: exact[v] - counts[v], reverse=True):
        if sum(counts.values()) >= count:
            break
        counts[version] += 1
    versions: list[str] = []
    for version, n in counts.items():
        versions += [version] * n
    return versions


@dataclass(frozen=True)
class FleetOptions:
    stations: int = 10
    url: str = "ws://127.0.0.1:9000/ocpp"
    duration_s: float = 60.0
    arrival_rate_per_hour: float = 2.0
    session_minutes: float = 30.0
    ocpp_mix: Mapping[str, float] = field(default_factory=lambda: {"1.6": 0.5, "2.0.1": 0.5})
    time_scale: float = 60.0
    id_prefix: str = "SIM-"
    password: str | None = None
    id_token: str | None = None
    sample_interval_s: int = 10
    ramp_up_s: float | None = None
    data_dir: Path | None = None
    seed: int = 1
    drain_timeout_s: float = 15.0
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass
class FleetSummary:
    stations: int
    online: int
    sessions_started: int
    sessions: int
    energy_wh: int
    messages: int
    errors: int
    reconnects: int
    queued: int
    discarded: int
    duration_s: float
    errors_by_kind: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"summary stations={self.stations} online={self.online} "
            f"sessions={self.sessions} started={self.sessions_started} "
            f"energy_kwh={self.energy_wh / 1000:.1f} messages={self.messages} "
            f"errors={self.errors} reconnects={self.reconnects} queued={self.queued} "
            f"discarded={self.discarded} duration_s={self.duration_s:.0f}"
        )


class Fleet:
    def __init__(self, options: FleetOptions) -> None:
        if options.stations < 1:
            raise ValueError("a fleet has at least one station")
        self.options = options
        self.rng = random.Random(options.seed)
        self._own_dir = options.data_dir is None
        self.data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="evcharge-fleet-"))
        self.stations: list[Station] = []
        self.drivers: list[Driver] = []
        versions = assign_versions(options.stations, options.ocpp_mix)
        self.rng.shuffle(versions)
        width = max(4, len(str(options.stations)))
        settings = {
            "MeterValueSampleInterval": str(options.sample_interval_s),
            "RetryBackOffWaitMinimum": "2",
            "RetryBackOffRandomRange": "5",
            **({"AuthorizationEnabled": "false"} if options.id_token is None else {}),
            **options.settings,
        }
        traffic = TrafficProfile(
            arrival_rate_per_hour=options.arrival_rate_per_hour,
            session_minutes=options.session_minutes,
            id_token=options.id_token,
            time_scale=options.time_scale,
        )
        for index, version in enumerate(versions, start=1):
            station_rng = random.Random(self.rng.random())
            station = Station(
                StationConfig(
                    f"{options.id_prefix}{index:0{width}d}",
                    options.url,
                    version,
                    password=options.password,
                    data_dir=self.data_dir,
                    settings=settings,
                    durable=False,
                ),
                StationHardware.simulated(time_scale=options.time_scale),
                modem=SimulatedModem(seed=index),
                rng=station_rng,
            )
            self.stations.append(station)
            for cid in station.connectors:
                self.drivers.append(
                    Driver(station, cid, traffic, rng=random.Random(station_rng.random()))
                )
        self.started_at: float | None = None
        self.online_at_end: int | None = None

    def summary(self) -> FleetSummary:
        stats = [s.stats for s in self.stations]
        elapsed = time.monotonic() - self.started_at if self.started_at else 0.0
        kinds: dict[str, int] = {}
        for s in stats:
            if s.last_error:
                kinds[s.last_error] = kinds.get(s.last_error, 0) + 1
        return FleetSummary(
            stations=len(self.stations),
            online=(
                self.online_at_end
                if self.online_at_end is not None
                else sum(1 for s in self.stations if s.online)
            ),
            sessions_started=sum(s.sessions_started for s in stats),
            sessions=sum(s.sessions_completed for s in stats),
            energy_wh=sum(s.energy_wh for s in stats),
            messages=sum(s.messages_sent + s.messages_received for s in stats),
            errors=sum(s.errors for s in stats),
            reconnects=sum(s.reconnects for s in stats),
            queued=sum(s.store.queue_length() for s in self.stations),
            discarded=sum(s.discarded for s in stats),
            duration_s=elapsed,
            errors_by_kind=kinds,
        )

    def charging(self) -> int:
        return sum(
            1 for s in self.stations for c in s.connectors.values() if c.transaction is not None
        )

    async def run(self, view: Any | None = None) -> FleetSummary:
        """Run for `duration_s`, then end the sessions, drain the queues and stop."""
        options = self.options
        ramp = options.ramp_up_s
        if ramp is None:
            ramp = min(10.0, len(self.stations) / 40.0)
        self.started_at = time.monotonic()
        try:
            async with asyncio.TaskGroup() as tasks:
                runners = []
                for index, station in enumerate(self.stations):
                    delay = ramp * index / len(self.stations)
                    runners.append(tasks.create_task(self._start(station, delay)))
                drivers = [tasks.create_task(self._drive(d, ramp)) for d in self.drivers]
                viewer = tasks.create_task(view(self)) if view is not None else None
                await asyncio.sleep(options.duration_s)
                self.online_at_end = sum(1 for s in self.stations if s.online)
                for task in drivers:
                    task.cancel()
                await self._finish()
                if viewer is not None:
                    viewer.cancel()
                for task in runners:
                    task.cancel()
            return self.summary()
        finally:
            for station in self.stations:
                with contextlib.suppress(Exception):
                    station.store.close()
            if self._own_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)

    async def _start(self, station: Station, delay: float) -> None:
        await asyncio.sleep(delay)
        await station.run()

    async def _drive(self, driver: Driver, ramp: float) -> None:
        await asyncio.sleep(ramp)
        try:
            await driver.run()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # one driver's bug must not end the fleet
            log.exception("driver of %s failed", driver.station.station_id)
            driver.station.stats.error(f"driver: {error}")

    async def _finish(self) -> None:
        """End running sessions (the drivers are gone) and wait for the queues to drain."""
        stops = []
        for station in self.stations:
            for conn in station.connectors.values():
                if conn.transaction is not None:
                    stops.append(station.end_session(conn.id))
        if stops:
            await asyncio.gather(*stops, return_exceptions=True)
        deadline = time.monotonic() + self.options.drain_timeout_s
        while time.monotonic() < deadline:
            if all(s.store.queue_length() == 0 for s in self.stations if s.online):
                break
            await asyncio.sleep(0.2)


def progress_view(refresh_per_second: float = 2.0, console: Any | None = None) -> Any:
    """A rich live table of the fleet (returned as a coroutine function for `Fleet.run`)."""
    from rich.live import Live
    from rich.table import Table

    def table(fleet: Fleet) -> Table:
        s = fleet.summary()
        grid = Table(title="evcharge fleet", show_header=True, expand=False)
        for column in (
            "time",
            "online",
            "charging",
            "sessions",
            "kWh",
            "messages",
            "msg/s",
            "queued",
            "errors",
            "reconnects",
        ):
            grid.add_column(column, justify="right")
        rate = s.messages / s.duration_s if s.duration_s > 0 else 0.0
        grid.add_row(
            f"{s.duration_s:.0f}/{fleet.options.duration_s:.0f} s",
            f"{s.online}/{s.stations}",
            str(fleet.charging()),
            f"{s.sessions}/{s.sessions_started}",
            f"{s.energy_wh / 1000:.1f}",
            str(s.messages),
            f"{rate:.0f}",
            str(s.queued),
            str(s.errors),
            str(s.reconnects),
        )
        return grid

    async def view(fleet: Fleet) -> None:
        try:
            with Live(table(fleet), refresh_per_second=refresh_per_second, console=console) as live:
                while True:
                    await asyncio.sleep(1.0 / refresh_per_second)
                    live.update(table(fleet))
        finally:
            if console is None:
                print(flush=True)  # the summary line starts on a line of its own

    return view


async def run_fleet(options: FleetOptions, *, live: bool = True) -> FleetSummary:
    fleet = Fleet(options)
    return await fleet.run(progress_view() if live else None)


def station_ids(options: FleetOptions) -> Sequence[str]:
    width = max(4, len(str(options.stations)))
    return [f"{options.id_prefix}{i:0{width}d}" for i in range(1, options.stations + 1)]
