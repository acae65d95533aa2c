"""`evcharge station` (one station) and `evcharge simulate` (a fleet); also
`python -m charge_point station|simulate ...`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_URL = "ws://127.0.0.1:9000/ocpp"
PASSWORD_ENV = "EVCHARGE_STATION_PASSWORD"


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("websockets").setLevel(logging.WARNING)


async def _until_signalled(coroutine: Awaitable[Any]) -> Any:
    """Run `coroutine`; SIGTERM or SIGINT cancels it so that it shuts down cleanly."""
    task = asyncio.ensure_future(coroutine)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        return None
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _key_values(pairs: Sequence[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {pair!r}")
        values[key.strip()] = value
    return values


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


# --- evcharge station ---------------------------------------------------------------------


def station_command(args: argparse.Namespace) -> int:
    from charge_point.hardware.chademo_can import SimulatedChademoCable
    from charge_point.hardware.modem import SerialModem, SignalSource, SimulatedModem
    from charge_point.hardware.station_hardware import StationHardware
    from charge_point.model import StationConfig
    from charge_point.simulation import Driver, TrafficProfile
    from charge_point.station import Station

    _configure_logging(args.log_level)
    log = logging.getLogger("charge_point")
    settings = _key_values(args.config or [])
    if args.sample_interval is not None:
        settings["MeterValueSampleInterval"] = str(args.sample_interval)
    if args.signal_interval is not None:
        settings["SignalStrengthReportInterval"] = str(args.signal_interval)
    if args.simulate_cars and args.id_token is None:
        settings.setdefault("AuthorizationEnabled", "false")
    try:
        config = StationConfig(
            args.id,
            args.url,
            args.ocpp,
            password=args.password or os.environ.get(PASSWORD_ENV) or None,
            data_dir=Path(args.data_dir),
            vendor=args.vendor,
            model=args.model,
            serial_number=args.serial_number,
            firmware_version=args.firmware_version,
            settings=settings,
        )
    except ValueError as error:
        print(f"evcharge station: {error}", file=sys.stderr)
        return 2
    if args.can_interface:
        hardware = StationHardware.with_chademo_can(
            channel=args.can_channel,
            interface=args.can_interface,
            lines=SimulatedChademoCable() if args.simulate_cars else None,
            station_max_w=args.station_max_power,
            connector_max_w=args.connector_max_power,
            time_scale=args.time_scale,
        )
    else:
        hardware = StationHardware.simulated(
            station_max_w=args.station_max_power,
            connector_max_w=args.connector_max_power,
            time_scale=args.time_scale,
        )
    modem: SignalSource = (
        SerialModem(args.modem, baudrate=args.modem_baud) if args.modem else SimulatedModem()
    )
    try:
        station = Station(config, hardware, modem=modem)
    except ValueError as error:
        print(f"evcharge station: {error}", file=sys.stderr)
        return 2

    async def run() -> None:
        log.info(
            "station %s: OCPP %s to %s, database %s",
            config.station_id,
            config.version,
            config.url,
            config.database_path,
        )
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(station.run())
            if args.simulate_cars:
                traffic = TrafficProfile(
                    arrival_rate_per_hour=args.arrival_rate,
                    session_minutes=args.session_minutes,
                    id_token=args.id_token,
                    time_scale=args.time_scale,
                    first_arrival_minutes=args.first_arrival,
                )
                for cid in station.connectors:
                    driver = Driver(station, cid, traffic, on_event=log.info)
                    tasks.create_task(driver.run())

    try:
        asyncio.run(_until_signalled(run()))
    except Exception as error:  # e.g. the CAN interface cannot be opened
        log.critical("station %s stopped: %s", config.station_id, _describe(error))
        return 1
    finally:
        station.store.close()
    return 0


def _describe(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in error.exceptions)
    return f"{type(error).__name__}: {error}"


def _add_car_arguments(parser: argparse.ArgumentParser) -> None:
    """How often simulated cars arrive and how long they stay (`station --simulate-cars` and
    `simulate` alike)."""
    parser.add_argument(
        "--arrival-rate",
        type=_positive,
        default=2.0,
        help="cars per connector per simulated hour (2)",
    )
    parser.add_argument(
        "--session-minutes",
        type=_positive,
        default=30.0,
        help="mean plug-in time, simulated minutes (30)",
    )


def _add_station(commands: Any) -> None:
    parser = commands.add_parser(
        "station",
        help="run one charging station (CCS + CHAdeMO) against a central system",
        description="Run the station controller: boots against the central system, reports "
        "both connectors, authorizes drivers, runs transactions and keeps them through outages.",
    )
    parser.add_argument("--id", required=True, help="charging station identity (<= 48 chars)")
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"central system (default {DEFAULT_URL})"
    )
    parser.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6", help="OCPP version")
    parser.add_argument(
        "--password", help=f"HTTP Basic-auth password (security profile 1; or ${PASSWORD_ENV})"
    )
    parser.add_argument(
        "--can-interface",
        help="python-can interface of the CHAdeMO connector (socketcan, virtual, ...); "
        "without it both connectors are simulated in-process",
    )
    parser.add_argument("--can-channel", default="can0", help="CAN channel (default can0)")
    parser.add_argument(
        "--data-dir", default=".evcharge/stations", help="where the station's SQLite file lives"
    )
    parser.add_argument("--sample-interval", type=int, help="MeterValueSampleInterval, s")
    parser.add_argument("--signal-interval", type=int, help="modem signal report interval, s")
    parser.add_argument(
        "--time-scale",
        type=_positive,
        default=1.0,
        help="simulated seconds per real second for simulated connectors and cars",
    )
    parser.add_argument("--station-max-power", type=int, default=22_000, help="W (22000)")
    parser.add_argument("--connector-max-power", type=int, default=22_000, help="W (22000)")
    parser.add_argument("--vendor", default="evcharge")
    parser.add_argument("--model", default="DC-2 CCS+CHAdeMO")
    parser.add_argument("--serial-number", help="default: the station id")
    parser.add_argument("--firmware-version", default="1.0.0")
    parser.add_argument("--modem", help="serial device of the modem (AT+CSQ); default simulated")
    parser.add_argument("--modem-baud", type=int, default=115_200)
    parser.add_argument(
        "--config",
        action="append",
        metavar="KEY=VALUE",
        help="initial configuration (1.6 key or 2.0.1 Component.Variable), repeatable",
    )
    parser.add_argument("--simulate-cars", action="store_true", help="simulated drivers bring cars")
    parser.add_argument(
        "--id-token", help="token the simulated drivers show (default: free vend, no token)"
    )
    _add_car_arguments(parser)
    parser.add_argument(
        "--first-arrival",
        type=float,
        default=0.0,
        help="first car after this many simulated minutes (0)",
    )
    parser.add_argument("--log-level", default=os.environ.get("EVCHARGE_LOG_LEVEL", "INFO"))
    parser.set_defaults(func=station_command)


# --- evcharge simulate --------------------------------------------------------------------


def simulate_command(args: argparse.Namespace) -> int:
    import ocpp.messages

    from charge_point.fleet import FleetOptions, parse_mix, run_fleet

    _configure_logging(args.log_level)
    # Schema validation inline: a thread hop per message costs more than the validation.
    ocpp.messages.ASYNC_VALIDATION = False
    try:
        options = FleetOptions(
            stations=args.stations,
            url=args.url,
            duration_s=args.duration,
            arrival_rate_per_hour=args.arrival_rate,
            session_minutes=args.session_minutes,
            ocpp_mix=parse_mix(args.ocpp_mix),
            time_scale=args.time_scale,
            id_prefix=args.id_prefix,
            password=args.password or os.environ.get(PASSWORD_ENV) or None,
            id_token=args.id_token,
            sample_interval_s=args.sample_interval,
            ramp_up_s=args.ramp_up,
            data_dir=Path(args.data_dir) if args.data_dir else None,
            seed=args.seed,
            settings=_key_values(args.config or []),
        )
    except (ValueError, argparse.ArgumentTypeError) as error:
        print(f"evcharge simulate: {error}", file=sys.stderr)
        return 2
    summary = asyncio.run(_until_signalled(run_fleet(options, live=not args.quiet)))
    if summary is None:
        print("evcharge simulate: interrupted", file=sys.stderr)
        return 130
    if summary.errors_by_kind:
        for kind, count in sorted(summary.errors_by_kind.items(), key=lambda kv: -kv[1])[:10]:
            print(f"  last error on {count} station(s): {kind}", file=sys.stderr)
    print(summary.line(), flush=True)
    return 0


def _add_simulate(commands: Any) -> None:
    parser = commands.add_parser(
        "simulate",
        help="run a fleet of simulated stations with simulated cars (load generator)",
        description="N simulated stations in one process; the stations must be known to the "
        "central system (EVCHARGE_AUTO_REGISTER=true, or `evcharge stations add`).",
    )
    parser.add_argument("--stations", type=int, default=10, help="number of stations (10)")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"central system ({DEFAULT_URL})")
    parser.add_argument("--duration", type=_positive, default=60.0, help="seconds to run (60)")
    _add_car_arguments(parser)
    parser.add_argument(
        "--ocpp-mix",
        default="1.6=0.5,2.0.1=0.5",
        help="share of stations per OCPP version (1.6=0.5,2.0.1=0.5)",
    )
    parser.add_argument(
        "--time-scale", type=_positive, default=60.0, help="simulated seconds per real second (60)"
    )
    parser.add_argument("--id-prefix", default="SIM-", help="station ids are PREFIX0001...")
    parser.add_argument(
        "--password", help=f"Basic-auth password of every station (${PASSWORD_ENV})"
    )
    parser.add_argument(
        "--id-token", help="token the drivers show (must be Accepted); default free vend"
    )
    parser.add_argument(
        "--sample-interval",
        type=int,
        default=10,
        help="MeterValueSampleInterval, real seconds (10)",
    )
    parser.add_argument("--ramp-up", type=float, help="seconds over which stations connect")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--data-dir", help="keep the stations' SQLite files here")
    parser.add_argument(
        "--config",
        action="append",
        metavar="KEY=VALUE",
        help="configuration of every station, repeatable",
    )
    parser.add_argument("--quiet", action="store_true", help="no live view (CI, benchmarks)")
    parser.add_argument("--log-level", default=os.environ.get("EVCHARGE_LOG_LEVEL", "WARNING"))
    parser.set_defaults(func=simulate_command)


def register(commands: Any) -> None:
    """Add `station` and `simulate` to an argparse subparsers object."""
    _add_station(commands)
    _add_simulate(commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m charge_point", description="Charging station software and simulator."
    )
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
