"""`evcharge bridge` (also `python -m bridge [bridge]`): the bridge alone, publishing the outbox
of `EVCHARGE_DATABASE_URL` to `EVCHARGE_MQTT_URL`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
import sys
from typing import Any

from pydantic import ValidationError


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("EVCHARGE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )


async def _serve(bridge: Any) -> None:
    """Run until SIGTERM or SIGINT, then disconnect from the broker cleanly."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        if task is not None:
            loop.add_signal_handler(signum, task.cancel)
    try:
        await bridge.run()
    except asyncio.CancelledError:
        logging.getLogger(__name__).info("bridge stopped")


def run_bridge(args: argparse.Namespace) -> int:
    from bridge.app import Bridge, BridgeError
    from bridge.settings import BridgeSettings

    configure_logging()
    try:
        settings = BridgeSettings()
        bridge = Bridge(settings)
    except (ValidationError, ValueError, OSError, ssl.SSLError) as error:
        print(f"evcharge bridge: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(bridge))
    except BridgeError as error:
        print(f"evcharge bridge: {error}", file=sys.stderr)
        return 2
    return 0


def register(commands: Any) -> None:
    """Add the `bridge` command to an argparse subparsers object."""
    parser = commands.add_parser(
        "bridge",
        help="publish the outbox to the MQTT broker (EVCHARGE_MQTT_URL), alone",
        description="Publish the central system's events from the outbox of "
        "EVCHARGE_DATABASE_URL to the MQTT broker at EVCHARGE_MQTT_URL (see docs/bridge.md).",
    )
    parser.set_defaults(func=run_bridge)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge")
    register(parser.add_subparsers(dest="command", metavar="COMMAND"))
    args = parser.parse_args(argv)
    func = getattr(args, "func", run_bridge)  # no command: the bridge
    result: int = func(args)
    return result
