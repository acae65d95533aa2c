"""`evcharge demo`: the whole system on this machine with development defaults: the central system
with its REST API, the bridge against a local Mosquitto when one is installed, and two simulated
stations (one OCPP 1.6, one 2.0.1) charging cars on both connectors."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from pathlib import Path

from bridge.app import Bridge
from bridge.demo import find_mosquitto, local_broker
from bridge.settings import BridgeSettings
from central_system.app import CentralSystem, prepare_database
from central_system.cli import configure_logging, run_until_signalled
from central_system.domain.accounts import Role
from central_system.settings import Environment, Settings
from charge_point.simulation import run_simulated_station
from evcharge.serve import run_with_bridge

log = logging.getLogger("evcharge.demo")

DEMO_DIR = Path(".demo")
# One token per connector: the central system allows a token in one transaction at a time.
DEMO_STATIONS = {
    "DEMO-1": ("1.6", ("DEMO-TOKEN-1", "DEMO-TOKEN-2")),
    "DEMO-2": ("2.0.1", ("DEMO-TOKEN-3", "DEMO-TOKEN-4")),
}
DEMO_ADMIN = "admin@example.com"
DEMO_ADMIN_PASSWORD = "demo-admin-password"  # development mode only
DEMO_TIME_SCALE = 60.0  # a simulated minute per second: a car charges in about a minute


def _port_or_any(host: str, port: int) -> int:
    """`port` if it is free, else 0 (any free port; the demo prints the one it got)."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            log.warning("port %s is in use: the demo takes another one", port)
            return 0
    return port


def demo_settings(mqtt_url: str | None) -> Settings:
    defaults = Settings(env=Environment.DEVELOPMENT)
    return Settings(
        env=Environment.DEVELOPMENT,
        database_url=f"sqlite+aiosqlite:///{DEMO_DIR / 'evcharge.db'}",
        auto_register=True,
        ocpp_port=_port_or_any(defaults.ocpp_host, defaults.ocpp_port),
        api_port=_port_or_any(defaults.api_host, defaults.api_port),
        mqtt_url=mqtt_url,
        outbox=mqtt_url is not None,
    )


def _banner(settings: Settings, system: CentralSystem, watch: str | None) -> str:
    ocpp = f"ws://{settings.ocpp_host}:{system.ocpp_port}{settings.ocpp_path}"
    api = f"http://{settings.api_host}:{system.api_port}"
    stations = ", ".join(f"{sid} (OCPP {version})" for sid, (version, _) in DEMO_STATIONS.items())
    return "\n".join(
        [
            "",
            "evcharge demo is running (Ctrl-C stops it)",
            f"  stations     : {stations}, two cars each, charging at 60x speed",
            f"  OCPP         : {ocpp}/{{station_id}}  (connect your own station; development "
            "mode accepts unknown ids)",
            f"  REST API     : {api}/docs  (admin {DEMO_ADMIN} / {DEMO_ADMIN_PASSWORD})",
            f"  live status  : curl -s {api}/api/v1/stations/DEMO-1/status "
            '-H "Authorization: Bearer $TOKEN"  (TOKEN: POST /api/v1/auth/token)',
            f"  MQTT         : {watch}"
            if watch
            else "  MQTT         : mosquitto is not installed: running without the bridge",
            f"  database     : {DEMO_DIR / 'evcharge.db'}",
            "",
        ]
    )


async def run_demo() -> None:
    async with local_broker(DEMO_DIR / "mosquitto", find_mosquitto()) as broker:
        settings = demo_settings(broker.url if broker else None)
        await prepare_database(settings.database_url)
        system = CentralSystem(settings)
        for station_id, (_, tokens) in DEMO_STATIONS.items():
            await system.services.stations.register(station_id)
            for token in tokens:
                await system.services.authorization.add_token(token, group_id="DEMO")
        await system.api.accounts.set_or_create(DEMO_ADMIN, DEMO_ADMIN_PASSWORD, Role.ADMIN)
        bridge = None
        if broker is not None:
            bridge = Bridge(
                BridgeSettings(
                    database_url=settings.database_url,
                    mqtt_url=broker.url,
                    mqtt_shadow_retain=True,
                    mqtt_max_publish_rate=0,
                )
            )
        started = asyncio.Event()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(run_with_bridge(system, bridge, started))
            await started.wait()
            url = f"ws://{settings.ocpp_host}:{system.ocpp_port}{settings.ocpp_path}"
            print(_banner(settings, system, broker.watch_command if broker else None), flush=True)
            for station_id, (version, tokens) in DEMO_STATIONS.items():
                tasks.create_task(
                    run_simulated_station(
                        station_id,
                        url,
                        version,
                        id_token=tokens,
                        time_scale=DEMO_TIME_SCALE,
                        data_dir=DEMO_DIR / "stations",
                        on_event=print,
                    )
                )


def main() -> int:
    configure_logging()
    DEMO_DIR.mkdir(exist_ok=True)
    with contextlib.suppress(KeyboardInterrupt):
        run_until_signalled(run_demo())
    return 0
