"""A small fleet of simulated stations (both OCPP versions) against the real central system:
every session the fleet counts is stored, with the same energy."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

from rich.console import Console
from sqlalchemy import select

from central_system.persistence.models import TransactionRow
from charge_point.fleet import (
    Fleet,
    FleetOptions,
    assign_versions,
    parse_mix,
    progress_view,
    station_ids,
)
from charge_point.simulation import run_simulated_station
from tests.conftest import RunningCentralSystem
from tests.helpers import wait_for


def test_the_ocpp_mix_is_split_exactly():
    mix = parse_mix("1.6=1,2.0.1=3")
    assert mix == {"1.6": 0.25, "2.0.1": 0.75}
    versions = assign_versions(10, mix)
    assert len(versions) == 10
    assert versions.count("2.0.1") in (7, 8)


async def test_a_small_fleet_charges_and_every_session_is_stored(
    central_system: RunningCentralSystem, tmp_path: Path
):
    options = FleetOptions(
        stations=6,
        url=central_system.ocpp_url,
        duration_s=6,
        arrival_rate_per_hour=20,
        session_minutes=10,
        time_scale=300,
        sample_interval_s=1,
        ramp_up_s=0.5,
        data_dir=tmp_path / "fleet",
        settings={"RetryBackOffWaitMinimum": "1", "RetryBackOffRandomRange": "1"},
    )
    for station_id in station_ids(options):
        await central_system.services.stations.register(station_id)
    fleet = Fleet(options)
    assert {s.version for s in fleet.stations} == {"1.6", "2.0.1"}
    screen = io.StringIO()
    summary = await fleet.run(progress_view(console=Console(file=screen, width=120)))

    assert summary.online == 6
    assert summary.sessions > 0
    assert summary.sessions == summary.sessions_started  # the fleet ended what it started
    assert summary.errors == 0
    assert summary.queued == 0
    assert summary.line().startswith("summary stations=6 online=6 sessions=")
    view = screen.getvalue()
    assert "evcharge fleet" in view and "6/6" in view  # the live table: all stations online
    async with central_system.system.uow() as uow:
        stored = list((await uow.session.scalars(select(TransactionRow))).all())
    assert len(stored) == summary.sessions
    assert all(t.stopped_at is not None for t in stored)
    assert sum(t.meter_stop_wh - t.meter_start_wh for t in stored) == summary.energy_wh
    assert summary.energy_wh > 0


async def test_the_demo_station_charges_cars_with_the_demo_token(
    central_system: RunningCentralSystem, tmp_path: Path
):
    """What `evcharge demo` runs: a station whose simulated drivers show DEMO-TOKEN."""
    await central_system.services.stations.register("DEMO-1")
    for token in ("DEMO-TOKEN-1", "DEMO-TOKEN-2"):
        await central_system.services.authorization.add_token(token, group_id="DEMO")
    events: list[str] = []
    task = asyncio.create_task(
        run_simulated_station(
            "DEMO-1",
            central_system.ocpp_url,
            "2.0.1",
            id_token=("DEMO-TOKEN-1", "DEMO-TOKEN-2"),
            time_scale=120,
            data_dir=tmp_path,
            sample_interval_s=1,
            on_event=events.append,
        )
    )

    async def charging() -> list[TransactionRow] | None:
        async with central_system.system.uow() as uow:
            found = (await uow.session.scalars(select(TransactionRow))).all()
        metered = [t for t in found if t.live_soc_percent is not None]
        return metered if len(metered) == 2 else None

    try:
        transactions = await wait_for(charging, 10, 0.1, "both demo cars charge")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert {(t.evse_id, t.id_token) for t in transactions} == {
        (1, "DEMO-TOKEN-1"),
        (2, "DEMO-TOKEN-2"),
    }
    assert {t.start_authorization for t in transactions} == {"Accepted"}
    assert all(t.station_id == "DEMO-1" and t.stopped_at is None for t in transactions)
    assert sum("car plugged in" in event for event in events) == 2
