"""The `evcharge` console script: every component's commands under one name.

Each command imports what it needs when it runs: `evcharge stations add` must not pay for
importing the web stack.
"""

from __future__ import annotations

import argparse

from bridge import cli as bridge_cli
from central_system import cli as central_system_cli
from charge_point import cli as charge_point_cli


def serve(args: argparse.Namespace) -> int:
    from evcharge.serve import serve as serve_everything

    return serve_everything(args)


def demo(args: argparse.Namespace) -> int:
    from evcharge.demo import main as run_demo

    return run_demo()


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
    demo_parser = commands.add_parser(
        "demo", help="run everything locally with development defaults"
    )
    demo_parser.set_defaults(func=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
