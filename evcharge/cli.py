"""The `evcharge` console script: every component's commands under one name."""

from __future__ import annotations

import argparse

from bridge import cli as bridge_cli
from central_system import cli as central_system_cli
from charge_point import cli as charge_point_cli
from evcharge.demo import main as run_demo
from evcharge.serve import serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evcharge",
        description="OCPP charging network: central system, stations, bridge.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    central_system_cli.register(commands)
    # `evcharge serve` is the central system with the bridge beside it when a broker is set.
    commands.choices["serve"].set_defaults(func=serve)
    bridge_cli.register(commands)
    charge_point_cli.register(commands)
    demo = commands.add_parser("demo", help="run everything locally with development defaults")
    demo.set_defaults(func=lambda _args: run_demo())
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
