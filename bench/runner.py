"""The scenarios: throughput and latency per server, connection capacity with a reconnect storm,
and freshness (meter value -> outbox row / SSE event). Each returns plain dicts; bench/report.py
turns them into the table and the machine-readable lines."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import api, proc, servers, stats
from bench import profile as profiling
from bench.fleet import STATION_PREFIX, Fleet
from bench.frames import SAMPLES_PER_MESSAGE, V16, V201
from bench.servers import ServerProcess

Log = Callable[[str], None]


@dataclass
class Config:
    stations: int = 1000
    duration: float = 10.0
    warmup: float = 3.0
    rates: list[int] = field(default_factory=lambda: [400, 2000])
    latency_versions: list[str] = field(default_factory=lambda: [V16])
    servers: list[str] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)
    capacity_levels: list[int] = field(default_factory=lambda: [10_000, 18_000])
    # A window of 60 s holds every periodic round of 60 s or less (housekeeping, firmware, load
    # management, running costs): a shorter one can miss what a round costs at this scale.
    capacity_hold: float = 60.0
    heartbeat_interval: int = 300
    ping_interval: float = 20.0
    storm_stations: int = 10_000
    storm_deadline: float = 75.0
    freshness_rate: int = 2000
    stations_per_generator: int = 5000
    profile: bool = True
    profile_seconds: float = 8.0
    sse_sessions: int = 10
    workdir: Path = Path(".bench")
    quick: bool = False


class Bench:
    def __init__(self, config: Config, log: Log) -> None:
        self.config = config
        self.log = log
        self.server_cpu, self.generator_cpu = servers.cores()
        self.postgres_admin = servers.postgres_admin_url()
        self._postgres_databases: list[str] = []

    # --- servers -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def server(
        self, name: str, settings: dict[str, str] | None = None, tag: str = ""
    ) -> AsyncIterator[ServerProcess]:
        workdir = self.config.workdir
        label = name + (f"_{tag}" if tag else "")
        database_name = None
        if name in ("echo", "echo_uvloop"):
            running = servers.start_echo(workdir, self.server_cpu, uvloop=name == "echo_uvloop")
        elif name in servers.BASELINES:
            running = servers.start_baseline(workdir, self.server_cpu, store=name == "baseline_orm")
        elif name == "ours_sqlite":
            database = workdir / f"{label}.db"
            for stale in workdir.glob(f"{label}.db*"):
                stale.unlink()
            running = servers.start_ours(
                label,
                workdir,
                self.server_cpu,
                database_url=f"sqlite+aiosqlite:///{database.resolve()}",
                settings=settings,
            )
        elif name == "ours_postgres":
            if self.postgres_admin is None:
                raise RuntimeError("ours_postgres needs EVCHARGE_BENCH_POSTGRES_URL")
            database_name = f"evcharge_bench_{os.getpid()}_{label}"
            url = await servers.create_postgres_database(self.postgres_admin, database_name)
            running = servers.start_ours(
                label, workdir, self.server_cpu, database_url=url, settings=settings
            )
        else:
            raise ValueError(f"unknown server {name}")
        self.log(f"  {label}: pid {running.pid}, ws port {running.port}")
        try:
            yield running
        finally:
            running.stop()
            if database_name is not None and self.postgres_admin is not None:
                await servers.drop_postgres_database(self.postgres_admin, database_name)

    async def fleet(self, server: ServerProcess, processes: int = 1) -> Fleet:
        return await Fleet.start(
            server.port, processes, self.generator_cpu, self.config.workdir / "generator.log"
        )

    def _db_cpu(self, server: ServerProcess) -> float:
        if server.database_url and server.database_url.startswith("postgresql"):
            return proc.cpu_seconds_of("postgres")
        return 0.0

    # --- loops ------------------------------------------------------------------------------------

    async def _measured(
        self, server: ServerProcess, fleet: Fleet, command: dict[str, Any]
    ) -> dict[str, Any]:
        """Run a loop on the fleet; sample the server's CPU and RSS over its window."""
        config = self.config
        start_at = time.time() + 0.5
        command = {"warmup": config.warmup, "duration": config.duration} | command
        command["start_at"] = start_at
        task = asyncio.ensure_future(fleet.loop(command))
        await _sleep_until(start_at + command["warmup"])
        cpu0, db0, cores0 = server.cpu(), self._db_cpu(server), proc.core_ticks()
        await _sleep_until(start_at + command["warmup"] + command["duration"])
        cpu1, db1, cores1 = server.cpu(), self._db_cpu(server), proc.core_ticks()
        result = await task
        latencies = result.pop("latencies_us")
        summary = stats.summarise(latencies)
        completed = result["completed"]
        result |= {
            "latency": summary.as_dict(),
            "server_cpu_s": cpu1 - cpu0,
            "server_utilisation": (cpu1 - cpu0) / command["duration"],
            "cpu_us_per_msg": stats.cpu_us_per_message(cpu1 - cpu0, completed),
            "db_cpu_us_per_msg": stats.cpu_us_per_message(db1 - db0, completed) if db1 else None,
            "rss_kib": server.rss_kib(),
        }
        result["_summary"] = summary
        duration = command["duration"]
        generators = len(fleet.generators)
        result["noise_server_core"] = self._noise(
            cores0, cores1, self.server_cpu, cpu1 - cpu0, duration
        )
        result["noise_generator_core"] = self._noise(
            cores0,
            cores1,
            self.generator_cpu,
            result["generator_cpu"] * duration * generators,
            duration,
        )
        if result["noise_server_core"] > 0.1:
            self.log(
                f"    WARNING: other processes used {result['noise_server_core']:.0%} of the "
                "server's core during the next window: its figures are disturbed"
            )
        if result["generator_cpu"] > 0.9:
            self.log(
                f"    WARNING: the load generator used {result['generator_cpu']:.0%} of its core:"
                " it may be the bottleneck"
            )
        return result

    def _noise(
        self,
        before: dict[int, tuple[int, int]],
        after: dict[int, tuple[int, int]],
        core: int | None,
        ours_seconds: float,
        duration: float,
    ) -> float:
        """Share of a core's time that went to other processes during a window."""
        if core is None or core not in before or core not in after:
            return math.nan
        busy = (after[core][0] - before[core][0]) / proc.CLOCK_TICKS
        return max(0.0, busy - ours_seconds) / duration

    async def _settle(self, server: ServerProcess, limit: float = 20.0) -> None:
        """Wait until the server has worked off what an overloaded loop left queued."""
        deadline = time.monotonic() + limit
        previous = server.cpu()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            current = server.cpu()
            if current - previous < 0.1:  # under 20 % of a core
                return
            previous = current

    # --- scenario: throughput + latency ---------------------------------------------------------

    async def suite(self, name: str) -> dict[str, Any]:
        config = self.config
        scenarios = config.scenarios
        result: dict[str, Any] = {"server": name}
        async with self.server(name) as server:
            fleet = await self.fleet(server)
            try:
                await asyncio.sleep(0.5)
                rss0 = server.rss_kib()
                setup = {}
                for version in (V16, V201):
                    setup[version] = await fleet.setup(version, config.stations)
                    self.log(f"    {version}: " + _setup_text(setup[version]))
                await asyncio.sleep(1.0)
                rss1 = server.rss_kib()
                connected = sum(s["connected"] for s in setup.values())
                result["setup"] = setup
                result["rss"] = {
                    "before_kib": rss0,
                    "after_kib": rss1,
                    "connections": connected,
                    "kib_per_conn": stats.kib_per_connection(rss0, rss1, connected),
                }
                if "throughput" in scenarios:
                    result["throughput"] = {}
                    for version in (V16, V201):
                        r = await self._measured(server, fleet, {"cmd": "closed", "group": version})
                        summary = r.pop("_summary")
                        result["throughput"][version] = r
                        self.log(
                            f"    closed loop {version}: {r['rate']:.0f} msg/s, "
                            f"{r['cpu_us_per_msg']:.0f} us/msg server CPU "
                            f"({r['server_utilisation']:.0%} of a core), "
                            f"p50 {stats.format_ms(summary.p50_ms)}, errors {r['errors']}, "
                            f"generator {r['generator_cpu']:.0%}"
                        )
                        if r["errors"]:
                            self.log(f"      first errors: {r['error_samples'][:2]}")
                        await self._settle(server)
                if "latency" in scenarios:
                    result["latency"] = {}
                    for version in config.latency_versions:
                        for rate in config.rates:
                            r = await self._measured(
                                server,
                                fleet,
                                {"cmd": "open", "group": version, "rate": rate, "kind": "meter"},
                            )
                            summary = r.pop("_summary")
                            result["latency"][f"{version}@{rate}"] = r | {"target_rate": rate}
                            self.log(
                                f"    open loop {version} @ {rate}/s: achieved {r['rate']:.0f}/s, "
                                f"p50 {stats.format_ms(summary.p50_ms)} "
                                f"p99 {stats.format_ms(summary.p99_ms)} "
                                f"p99.9 {stats.format_ms(summary.p999_ms)}"
                                + (f", {summary.lost} unanswered" if summary.lost else "")
                            )
                            await self._settle(server)
                if (
                    config.profile
                    and "throughput" in scenarios
                    and name in servers.OURS
                    and profiling.py_spy_executable()
                ):
                    result["profile"] = await self._profile(server, fleet, name)
                status = await fleet.status()
                result["generator_status"] = status
                result["persisted"] = await self._persisted(server, status)
            finally:
                await fleet.quit()
        return result

    async def _persisted(self, server: ServerProcess, status: dict[str, Any]) -> dict[str, Any]:
        """Compare stored sampled values with the meter messages the server acknowledged."""
        if server.name.startswith("ours"):
            table = "meter_sample"
        elif server.name == "baseline_orm":
            table = "meter_value"
        else:
            return {}
        assert server.database_url is not None
        await asyncio.sleep(0.5)
        url = server.database_url.replace("sqlite+aiosqlite", "sqlite")
        rows = await servers.count_rows(url, table)
        answered = sum(status["meter_answered"].values())
        sent = status["meter_sent"]
        # Every acknowledged message must be stored; a message the generator gave up on
        # (overload) may or may not have been.
        return {
            "rows": rows,
            "acknowledged_messages": answered,
            "sent_messages": sent,
            "expected_rows": answered * SAMPLES_PER_MESSAGE,
            "ok": answered * SAMPLES_PER_MESSAGE <= rows <= sent * SAMPLES_PER_MESSAGE,
        }

    async def _profile(self, server: ServerProcess, fleet: Fleet, name: str) -> dict[str, Any]:
        config = self.config
        output = config.workdir / f"{name}.pyspy.txt"
        output.unlink(missing_ok=True)
        seconds = config.profile_seconds
        start_at = time.time() + 0.5
        command = {
            "cmd": "closed",
            "group": V16,
            "warmup": 1.0,
            "duration": seconds + 1.0,
            "start_at": start_at,
        }
        task = asyncio.ensure_future(fleet.loop(command))
        await _sleep_until(start_at + 1.0)
        cpu0, threads0 = server.cpu(), proc.thread_cpu_seconds(server.pid)
        spy = profiling.record(server.pid, seconds, output, cpu=self.generator_cpu)
        await asyncio.to_thread(spy.wait)
        cpu1, threads1 = server.cpu(), proc.thread_cpu_seconds(server.pid)
        result = await task
        await self._settle(server)
        if not output.exists():
            error = spy.stderr.read().decode(errors="replace") if spy.stderr else ""
            self.log(f"    profile: py-spy wrote nothing: {error.strip()[:300]}")
            return {}
        summary = profiling.load(output)
        rate = result["rate"]
        messages = rate * seconds
        us_per_msg = (cpu1 - cpu0) / messages * 1e6 if rate else math.nan
        # CPU time per thread (/proc): the event loop's thread has the server's pid as its id;
        # the others are aiosqlite's workers (SQLite's C code runs there) and the like.
        main = threads1.get(server.pid, 0.0) - threads0.get(server.pid, 0.0)
        others = sum(t - threads0.get(tid, 0.0) for tid, t in threads1.items() if tid != server.pid)
        main_us = main / messages * 1e6 if rate else math.nan
        others_us = others / messages * 1e6 if rate else math.nan
        self.log(
            f"    profile: {summary.samples} samples over {seconds:.0f} s at {rate:.0f} msg/s: "
            f"{us_per_msg:.0f} us/msg = event loop thread {main_us:.0f} + other threads "
            f"{others_us:.0f}"
        )
        result = {
            "samples": summary.samples,
            "rate": rate,
            "cpu_us_per_msg": us_per_msg,
            "main_thread_us_per_msg": main_us,
            "other_threads_us_per_msg": others_us,
            "idle_samples": summary.idle,
            "components": summary.by_component,
            "top_functions": summary.top_functions,
            "raw": str(output),
        }
        # The group-commit writer's thread (SQLite): its own CPU and components.
        writer_tid = profiling.thread_ids(output.read_text(errors="replace").splitlines()).get(
            profiling.WRITER_THREAD
        )
        if writer_tid is not None and rate:
            writer = profiling.load(output, thread=profiling.WRITER_THREAD)
            cpu = threads1.get(writer_tid, 0.0) - threads0.get(writer_tid, 0.0)
            result["writer_thread"] = {
                "us_per_msg": cpu / messages * 1e6,
                "components": writer.by_component,
                "top_functions": writer.top_functions,
            }
        return result

    # --- scenario: capacity + storm -------------------------------------------------------------

    async def capacity_and_storm(self, name: str = "ours_sqlite") -> dict[str, Any]:
        """Idle stations at each capacity level (heartbeats at the configured interval, websocket
        pings every `ping_interval` s), then a reconnect storm of `storm_stations` of them."""
        config = self.config
        levels = sorted(config.capacity_levels) if "capacity" in config.scenarios else []
        storm_n = config.storm_stations if "storm" in config.scenarios else 0
        top = max([*levels, storm_n])
        processes = max(1, math.ceil(top / config.stations_per_generator))
        settings = {
            "ocpp_ping_interval": str(config.ping_interval),
            "heartbeat_interval": str(config.heartbeat_interval),
        }
        result: dict[str, Any] = {"server": name, "levels": {}, "settings": settings}
        async with self.server(name, settings, tag="capacity") as server:
            fleet = await self.fleet(server, processes)
            try:
                await asyncio.sleep(0.5)
                rss0 = server.rss_kib()
                result["rss_before_kib"] = rss0
                connected = 0
                # The storm's stations come first and carry a transaction (their queued meter
                # value needs one); half speak 1.6, half 2.0.1.
                if storm_n:
                    for version, count in ((V16, storm_n // 2), (V201, storm_n - storm_n // 2)):
                        setup = await fleet.setup(version, count, transaction=True)
                        connected += setup["connected"]
                        self.log(
                            f"    {connected} up; {version} with a transaction: "
                            + _setup_text(setup)
                        )
                for level in levels or [connected]:
                    missing = level - connected
                    if missing > 0:
                        for version, count in (
                            (V16, missing // 2),
                            (V201, missing - missing // 2),
                        ):
                            setup = await fleet.setup(version, count, transaction=False)
                            connected += setup["connected"]
                            self.log(f"    {connected} up; {version} idle: " + _setup_text(setup))
                    if not levels:
                        break
                    result["levels"][str(level)] = await self._hold(server, fleet, level, rss0)
                if storm_n:
                    result["storm"] = await self._storm(server, fleet, storm_n)
            finally:
                await fleet.quit()
        return result

    async def _hold(
        self, server: ServerProcess, fleet: Fleet, level: int, rss0: int
    ) -> dict[str, Any]:
        config = self.config
        before = await fleet.status()
        rss = server.rss_kib()
        rate = before["open"] / config.heartbeat_interval
        command = {
            "cmd": "open",
            "group": "all",
            "rate": max(rate, 1.0),
            "kind": "heartbeat",
            "warmup": 0.0,
            "duration": config.capacity_hold,
            "grace": 10.0,
        }
        loop = await self._measured(server, fleet, command)
        summary = loop.pop("_summary")
        after = await fleet.status()
        pings = after["pings"] - before["pings"]
        expected_pings = int(after["open"] * config.capacity_hold / config.ping_interval * 0.8)
        ok = (
            after["open"] >= level
            and after["unexpected_disconnects"] == 0
            and loop["lost"] == 0
            and loop["errors"] == 0
        )
        held = {
            "stations": before["open"],
            "open_after": after["open"],
            "rss_kib": rss,
            "kib_per_conn": stats.kib_per_connection(rss0, rss, before["open"]),
            "open_files": proc.open_files(server.pid),
            "idle_cpu_core_share": loop["server_utilisation"],
            "idle_cpu_per_10k": loop["server_utilisation"] * 10_000 / max(before["open"], 1),
            "heartbeats": loop["completed"],
            "heartbeat_latency": loop["latency"],
            "heartbeat_errors": loop["errors"],
            "heartbeats_unanswered": loop["lost"],
            "pings": pings,
            "pings_expected_at_least": expected_pings,
            "unexpected_disconnects": after["unexpected_disconnects"],
            "ok": ok,
        }
        self.log(
            f"    {level}: {after['open']} open, {held['kib_per_conn']:.1f} KiB/conn, "
            f"idle CPU {held['idle_cpu_core_share']:.0%} of a core, {loop['completed']} heartbeats "
            f"(p99 {stats.format_ms(summary.p99_ms)}, {loop['lost']} unanswered), {pings} pings "
            f"answered, {after['unexpected_disconnects']} dropped -> {'ok' if ok else 'FAIL'}"
        )
        return held

    async def _storm(self, server: ServerProcess, fleet: Fleet, count: int) -> dict[str, Any]:
        config = self.config
        before = await fleet.status()
        errors_before = _server_errors(server)
        url = (server.database_url or "").replace("sqlite+aiosqlite", "sqlite")
        rows_before = await servers.count_rows(url, "meter_sample")
        start_at = time.time() + 0.5
        # The storm's stations are the first `count` of each generator process: the ones set
        # up with a transaction. `group` "tx" is not a thing: pick them by version and index.
        replies = await fleet.broadcast(
            {
                "cmd": "storm",
                "group": "transaction",
                "start_at": start_at,
                "deadline": config.storm_deadline,
            }
        )
        back = sorted(t for r in replies for t in r["back"])
        synced = sorted(t for r in replies for t in r["synced"])
        stations = sum(r["stations"] for r in replies)
        failures: dict[str, int] = {}
        for reply in replies:
            for reason, n in reply["failures"].items():
                failures[reason] = failures.get(reason, 0) + n
        await asyncio.sleep(1.0)
        after = await fleet.status()
        rows_after = await servers.count_rows(url, "meter_sample")
        queued_answered = sum(after["meter_answered"].values()) - sum(
            before["meter_answered"].values()
        )
        stored = rows_after - rows_before
        # Lost: acknowledged but not stored. A station that never got back still holds its
        # message (undelivered, not lost).
        lost = max(0, queued_answered * SAMPLES_PER_MESSAGE - stored)
        all_back = len(synced) == stations
        within = synced[-1] if all_back and synced else math.inf
        result = {
            "server_alive": server.alive(),
            "server_exit_code": server.process.returncode,
            "server_errors": {k: v - errors_before[k] for k, v in _server_errors(server).items()},
            "stations": stations,
            "back": len(back),
            "synced": len(synced),
            "attempts": sum(r["attempts"] for r in replies),
            "failures": failures,
            "back_p50_s": stats.percentile(back, 50),
            "back_p99_s": stats.percentile(back, 99),
            "all_back_s": back[-1] if len(back) == stations and back else math.inf,
            "all_synced_s": within,
            "queued_messages_answered": queued_answered,
            "rows_stored": stored,
            "rows_expected": stations * SAMPLES_PER_MESSAGE,
            "rows_lost": lost,
            "undelivered_stations": stations - len(synced),
            "ok": all_back and lost == 0 and within <= 60.0,
        }
        self.log(
            f"    storm: {len(synced)}/{stations} back and synced, all within "
            f"{within:.1f} s, {result['attempts']} connection attempts, "
            f"{stored}/{stations * SAMPLES_PER_MESSAGE} queued samples stored"
            + (f", failures {failures}" if failures else "")
        )
        if any(result["server_errors"].values()):
            self.log(f"    server errors during the storm: {result['server_errors']}")
        if not server.alive():
            self.log(
                f"    the server EXITED during the storm (code {server.process.returncode}); "
                f"see {server.log_path}"
            )
        return result

    # --- scenario: freshness --------------------------------------------------------------------

    async def freshness(self, name: str = "ours_sqlite") -> dict[str, Any]:
        """Meter value -> outbox row (EVCHARGE_OUTBOX=true) and -> SSE event of an app session,
        under an open loop at `freshness_rate`."""
        config = self.config
        result: dict[str, Any] = {"server": name, "rate": config.freshness_rate}
        async with self.server(name, {"outbox": "true"}, tag="freshness") as server:
            fleet = await self.fleet(server)
            try:
                api_url = await _api_url(server)
                sse_skip = None
                if api_url is None:
                    sse_skip = "the central system serves no API (no 'API listening on' in its log)"
                watched_n = min(config.sse_sessions, config.stations) if api_url else 0
                first = fleet.next_index[V16]
                watched = [f"{STATION_PREFIX[V16]}{i:05d}" for i in range(first, first + watched_n)]
                sessions: list[tuple[str, str]] = []
                if watched:
                    # Connected but idle: the app session starts their transaction.
                    await fleet.setup(V16, watched_n, transaction=False)
                    try:
                        sessions = await self._app_sessions(server, api_url or "", fleet, watched)
                    except (api.ApiError, httpx.HTTPError, TimeoutError, KeyError) as error:
                        sse_skip = f"no app session could be started: {error}"
                        self.log(f"    SSE: {sse_skip}")
                setup = await fleet.setup(V16, config.stations - watched_n)
                self.log(f"    {setup['connected'] + watched_n} stations up")
                delays_sse: list[tuple[float, int]] = []
                watchers = [
                    asyncio.ensure_future(api.watch(api_url or "", session_id, token, delays_sse))
                    for session_id, token in sessions
                ]
                wall0 = time.time() + 0.5 + config.warmup
                loop = await self._measured(
                    server,
                    fleet,
                    {"cmd": "open", "group": V16, "rate": config.freshness_rate, "kind": "meter"},
                )
                summary = loop.pop("_summary")
                wall1 = wall0 + config.duration
                delays = await servers.outbox_meter_delays(server.database_url or "", wall0, wall1)
                outbox = stats.summarise(delays)
                result["load"] = loop
                result["outbox"] = outbox.as_dict() | {"rows": len(delays)}
                self.log(
                    f"    at {loop['rate']:.0f}/s "
                    f"(p99 round trip {stats.format_ms(summary.p99_ms)}): "
                    f"meter value -> outbox row p50 {stats.format_ms(outbox.p50_ms)} "
                    f"p99 {stats.format_ms(outbox.p99_ms)} over {len(delays)} rows"
                )
                for watcher in watchers:  # the loop and its grace are over: stop watching
                    if not watcher.done():
                        watcher.cancel()
                watch_errors = [
                    repr(e)
                    for e in await asyncio.gather(*watchers, return_exceptions=True)
                    if isinstance(e, BaseException) and not isinstance(e, asyncio.CancelledError)
                ]
                in_window = [d for at, d in delays_sse if wall0 <= at < wall1]
                if sse_skip is None and in_window:
                    sse = stats.summarise(in_window)
                    result["sse"] = sse.as_dict() | {
                        "events": len(in_window),
                        "sessions": len(sessions),
                        "errors": watch_errors,
                    }
                    self.log(
                        f"    meter value -> SSE event p50 {stats.format_ms(sse.p50_ms)} "
                        f"p99 {stats.format_ms(sse.p99_ms)} over {len(in_window)} events of "
                        f"{len(sessions)} app sessions"
                    )
                else:
                    reason = sse_skip or f"no meter events on the streams ({watch_errors[:2]})"
                    result["sse"] = {"skipped": reason}
                    self.log(f"    SSE skipped: {reason}")
            finally:
                await fleet.quit()
        return result

    async def _app_sessions(
        self, server: ServerProcess, api_url: str, fleet: Fleet, station_ids: list[str]
    ) -> list[tuple[str, str]]:
        """Start an app session on each station (see bench/api.py); wait for its transaction."""
        await api.create_admin(server.extra["settings"])
        sessions = []
        async with httpx.AsyncClient(base_url=api_url, timeout=60.0) as client:
            admin = await api.sign_in(client, api.ADMIN, api.PASSWORD)
            for station_id in station_ids:
                await api.register_station(client, admin, station_id)
            for number, station_id in enumerate(station_ids):
                sessions.append(await api.start_session(client, station_id, number))
        async with asyncio.timeout(30):
            while True:
                status = await fleet.status()
                if status["remote_start_failures"]:
                    raise api.ApiError(f"StartTransaction: {status['remote_start_failures'][0]}")
                if status["with_transaction"] >= len(station_ids):
                    return sessions
                await asyncio.sleep(0.2)


def _setup_text(setup: dict[str, Any]) -> str:
    text = f"{setup['connected']} stations up in {setup['seconds']:.1f} s"
    if setup["failed"]:
        text += f", {setup['failed']} failed: {setup['failures']}"
    return text


def _server_errors(server: ServerProcess) -> dict[str, int]:
    return {
        "pool_timeouts": server.log_count("QueuePool limit"),
        "database_locked": server.log_count("database is locked"),
        "tracebacks": server.log_count("Traceback"),
    }


async def _api_url(server: ServerProcess, timeout: float = 5.0) -> str | None:
    """The API's address from the server's log (it starts listening after OCPP does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = servers.API_LISTENING.search(server.log_tail(200))
        if match:
            return match.group(1)
        await asyncio.sleep(0.1)
    return None


async def _sleep_until(wall_time: float) -> None:
    delay = wall_time - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
