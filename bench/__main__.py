"""`python -m bench` (`make bench`): our central system against the naive baseline and the echo
ceiling, on this machine, in one run. See bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import proc, report, servers
from bench.frames import V16, V201
from bench.runner import Bench, Config

SCENARIOS = ("throughput", "latency", "capacity", "storm", "freshness")


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _ints(text: str) -> list[int]:
    return [int(part) for part in _csv(text)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the central system against the ocpp docs' baseline and a bare "
        "websockets echo server.",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (~1.5 min)")
    parser.add_argument("--stations", type=int, help="stations per protocol version (1000)")
    parser.add_argument("--duration", type=float, help="seconds measured per loop (10)")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (3)")
    parser.add_argument("--rates", type=_ints, help="open-loop rates, msg/s (400,2000)")
    parser.add_argument(
        "--latency-versions",
        type=_csv,
        help=f"protocol versions for the open loops ({V16}; add {V201})",
    )
    parser.add_argument(
        "--servers",
        type=_csv,
        help="baseline,baseline_orm,echo,ours_sqlite,ours_postgres (ours_postgres when "
        "EVCHARGE_BENCH_POSTGRES_URL or EVCHARGE_TEST_POSTGRES_URL is set)",
    )
    parser.add_argument("--scenarios", type=_csv, help=",".join(SCENARIOS))
    parser.add_argument("--capacity", type=_ints, help="idle station counts (10000,18000)")
    parser.add_argument("--capacity-hold", type=float, help="seconds held at each level (60)")
    parser.add_argument("--heartbeat-interval", type=int, help="stations' heartbeat, s (300)")
    parser.add_argument("--ping-interval", type=float, help="server's websocket ping, s (20)")
    parser.add_argument("--storm", type=int, help="stations in the reconnect storm (10000)")
    parser.add_argument("--storm-deadline", type=float, help="seconds to wait for it (75)")
    parser.add_argument("--freshness-rate", type=int, help="msg/s during freshness (2000)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--sse-sessions", type=int, help="app sessions watched over SSE (10)")
    parser.add_argument("--output", type=Path, default=Path(".bench"), help="results folder")
    parser.add_argument(
        "--report", type=Path, metavar="RESULTS_JSON", help="print the report of an earlier run"
    )
    return parser


def make_config(args: argparse.Namespace) -> Config:
    postgres = servers.postgres_admin_url() is not None
    if args.quick:
        config = Config(
            stations=200,
            duration=3.0,
            warmup=1.0,
            rates=[400],
            servers=["baseline", "echo", "ours_sqlite"],
            capacity_levels=[2000],
            capacity_hold=8.0,
            storm_stations=1000,
            storm_deadline=60.0,
            freshness_rate=400,
            sse_sessions=3,
            profile=False,
            quick=True,
        )
    else:
        config = Config(
            servers=["baseline", "baseline_orm", "echo", "ours_sqlite"]
            + (["ours_postgres"] if postgres else [])
        )
    config.scenarios = list(SCENARIOS)
    overrides = {
        "stations": args.stations,
        "duration": args.duration,
        "warmup": args.warmup,
        "rates": args.rates,
        "latency_versions": args.latency_versions,
        "servers": args.servers,
        "scenarios": args.scenarios,
        "capacity_levels": args.capacity,
        "capacity_hold": args.capacity_hold,
        "heartbeat_interval": args.heartbeat_interval,
        "ping_interval": args.ping_interval,
        "storm_stations": args.storm,
        "storm_deadline": args.storm_deadline,
        "freshness_rate": args.freshness_rate,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(config, key, value)
    if args.no_profile:
        config.profile = False
    if args.sse_sessions is not None:
        config.sse_sessions = args.sse_sessions
    unknown = set(config.scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    unknown = set(config.servers) - set(servers.ALL_SERVERS)
    if unknown:
        raise SystemExit(f"unknown servers: {', '.join(sorted(unknown))}")
    if "ours_postgres" in config.servers and not postgres:
        print("bench: ours_postgres skipped: EVCHARGE_BENCH_POSTGRES_URL is not set")
        config.servers.remove("ours_postgres")
    return config


def log(message: str) -> None:
    print(message, flush=True)


async def run(config: Config) -> dict[str, Any]:
    bench = Bench(config, log)
    started = time.monotonic()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": proc.machine(),
        "config": {k: v for k, v in vars(config).items() if k != "workdir"},
        "cores": {"server": bench.server_cpu, "generator": bench.generator_cpu},
        "servers": {},
    }
    machine = results["machine"]
    log(
        f"bench: {machine['cpus']} cores ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
        f"Python {machine['python']}; server on core {bench.server_cpu}, load generator on "
        f"core {bench.generator_cpu}"
    )
    if {"throughput", "latency"} & set(config.scenarios):
        for name in config.servers:
            log(f"== {name}: {config.stations} stations per protocol version")
            try:
                results["servers"][name] = await bench.suite(name)
            except Exception as error:
                log(f"  {name} failed: {type(error).__name__}: {error}")
                results["servers"][name] = {"error": str(error)}
    if {"capacity", "storm"} & set(config.scenarios):
        log(
            f"== capacity {config.capacity_levels} and reconnect storm of "
            f"{config.storm_stations} (ours_sqlite, ping every {config.ping_interval:g} s, "
            f"heartbeat every {config.heartbeat_interval} s)"
        )
        try:
            results["capacity"] = await bench.capacity_and_storm()
        except Exception as error:
            log(f"  capacity failed: {type(error).__name__}: {error}")
            results["capacity"] = {"error": str(error)}
    if "freshness" in config.scenarios:
        log(f"== freshness at {config.freshness_rate} msg/s (ours_sqlite, EVCHARGE_OUTBOX=true)")
        try:
            results["freshness"] = await bench.freshness()
        except Exception as error:
            log(f"  freshness failed: {type(error).__name__}: {error}")
            results["freshness"] = {"error": str(error)}
    results["seconds"] = time.monotonic() - started
    return results


def print_report(results: dict[str, Any]) -> None:
    print()
    if results.get("servers"):
        print(report.server_table(results))
        print()
    for name, suite in results.get("servers", {}).items():
        if suite.get("profile"):
            profile = suite["profile"]
            print(
                f"profile of {name} (py-spy, {profile['samples']} samples, closed loop 1.6 at "
                f"{profile['rate']:.0f} msg/s):"
            )
            print(report.profile_table(profile))
            print()
    for line in report.machine_lines(results):
        print(line)
    for line in report.target_lines(results):
        print(line)
    print(f"bench: {results['seconds']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.report is not None:
        print_report(report.from_json(json.loads(args.report.read_text())))
        return 0
    config = make_config(args)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    config.workdir = (args.output / f"run-{stamp}").resolve()
    config.workdir.mkdir(parents=True, exist_ok=True)
    proc.raise_open_files_limit()
    results = asyncio.run(run(config))
    print_report(results)
    text = json.dumps(report.jsonable(results), indent=2)
    (config.workdir / "results.json").write_text(text)
    (args.output / "latest.json").write_text(text)
    print(f"bench: results in {config.workdir / 'results.json'} and {args.output / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
