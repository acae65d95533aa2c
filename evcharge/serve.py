"""`evcharge serve`: the central system with its REST API, and the bridge in the same process
when an MQTT broker is configured (EVCHARGE_MQTT_URL). `python -m central_system serve` runs the
central system alone; `evcharge bridge` runs the bridge alone, for scale."""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
import sys

from bridge.app import Bridge, BridgeError
from bridge.settings import BridgeSettings
from central_system.api.runtime import ApiConfigurationError
from central_system.app import CentralSystem, DatabaseOutOfDate
from central_system.cli import configure_logging, run_until_signalled
from central_system.process import event_loop_factory, tune_garbage_collector
from central_system.settings import Settings

log = logging.getLogger("evcharge.serve")


async def run_with_bridge(
    system: CentralSystem, bridge: Bridge | None, started: asyncio.Event | None = None
) -> None:
    """Run the central system and, if given, the bridge next to it; the bridge is woken by
    every committed event so that it publishes at once instead of at its next poll. `started`
    is set once the central system's listeners accept connections."""
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(system.run(started))
        if bridge is not None:
            system.events.subscribe(bridge.wake)
            tasks.create_task(bridge.run())


def bridge_for(settings: Settings, **overrides: object) -> Bridge | None:
    """The in-process bridge for these settings, or None without a broker."""
    if not settings.mqtt_url:
        log.info("EVCHARGE_MQTT_URL is not set: running without the bridge")
        return None
    return Bridge(BridgeSettings(database_url=settings.database_url, **overrides))  # type: ignore[arg-type]


# What a user can fix (a configuration, a schema, a port in use): said in one line, exit 2.
USER_ERRORS = (
    DatabaseOutOfDate,
    ApiConfigurationError,
    BridgeError,
    ValueError,
    OSError,
    ssl.SSLError,
)


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def serve(args: argparse.Namespace) -> int:
    configure_logging()
    try:
        settings = Settings()
        system = CentralSystem(settings)
        bridge = bridge_for(settings)
        tune_garbage_collector()
        run_until_signalled(
            run_with_bridge(system, bridge), loop_factory=event_loop_factory(settings.uvloop)
        )
    except BaseExceptionGroup as group:
        user_errors, rest = group.split(USER_ERRORS)
        if rest is not None:
            raise
        for error in _leaves(user_errors) if user_errors else ():
            print(f"evcharge: {error}", file=sys.stderr)
        return 2
    except USER_ERRORS as error:
        print(f"evcharge: {error}", file=sys.stderr)
        return 2
    return 0
