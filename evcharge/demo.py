"""`evcharge demo`: the whole system on this machine with development defaults."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from central_system.app import CentralSystem, prepare_database
from central_system.cli import configure_logging, run_until_signalled
from central_system.domain.accounts import Role
from central_system.settings import Environment, Settings

log = logging.getLogger("evcharge.demo")

DEMO_DIR = Path(".demo")
DEMO_STATIONS = ("DEMO-1", "DEMO-2")
DEMO_TOKEN = "DEMO-TOKEN"
DEMO_ADMIN = "admin@example.com"
DEMO_ADMIN_PASSWORD = "demo-admin-password"  # development mode only


def demo_settings() -> Settings:
    return Settings(
        env=Environment.DEVELOPMENT,
        database_url=f"sqlite+aiosqlite:///{DEMO_DIR / 'evcharge.db'}",
        auto_register=True,
    )


async def run_demo() -> None:
    settings = demo_settings()
    await prepare_database(settings.database_url)
    system = CentralSystem(settings)
    for station_id in DEMO_STATIONS:
        await system.services.stations.register(station_id)
    await system.services.authorization.add_token(DEMO_TOKEN, group_id="DEMO")
    await system.api.accounts.set_or_create(DEMO_ADMIN, DEMO_ADMIN_PASSWORD, Role.ADMIN)
    started = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(system.run(started))
        await started.wait()
        url = f"ws://{settings.ocpp_host}:{system.ocpp_port}{settings.ocpp_path}"
        print(
            "\n".join(
                [
                    "",
                    "evcharge demo is running (Ctrl-C stops it)",
                    f"  OCPP endpoint : {url}/{{station_id}}  (ocpp1.6, ocpp2.0.1, ocpp2.1)",
                    f"  stations      : {', '.join(DEMO_STATIONS)} registered; unknown ids are "
                    "auto-registered (development mode)",
                    f"  REST API      : http://{settings.api_host}:{system.api_port}/docs "
                    f"(admin {DEMO_ADMIN} / {DEMO_ADMIN_PASSWORD}, development only)",
                    f"  id token      : {DEMO_TOKEN} (Accepted)",
                    f"  database      : {DEMO_DIR / 'evcharge.db'}",
                    "",
                ]
            ),
            flush=True,
        )


def main() -> int:
    configure_logging()
    run_until_signalled(run_demo())
    return 0
