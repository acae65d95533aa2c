"""The run's results as a table for people, lines for scripts, and the targets of the issue."""

from __future__ import annotations

import math
from typing import Any

from bench import stats
from bench.frames import V16, V201
from bench.stats import LatencySummary

HEADLINE = "ours_sqlite"
BASELINE = "baseline"
ECHO = "echo"

TARGET_VS_BASELINE = 8.0
TARGET_VS_ECHO = 0.5
TARGET_P99_MS = 50.0
TARGET_RATE = 2000
TARGET_KIB_PER_CONN = 20.0
TARGET_STORM_S = 60.0
TARGET_FRESHNESS_MS = 1000.0


def _summary(latency: dict[str, Any]) -> LatencySummary:
    return LatencySummary(
        count=latency["count"],
        lost=latency["lost"],
        p50_ms=latency["p50_ms"],
        p99_ms=latency["p99_ms"],
        p999_ms=latency["p99.9_ms"],
        max_ms=latency["max_ms"],
        mean_ms=latency["mean_ms"],
    )


def _rate(results: dict[str, Any], server: str, version: str) -> float:
    suite = results.get("servers", {}).get(server, {})
    value = suite.get("throughput", {}).get(version, {}).get("rate")
    return float(value) if value is not None else math.nan


def max_noise(suite: dict[str, Any]) -> float:
    """The largest share of the server's core other processes took in any measured window."""
    windows = [*suite.get("throughput", {}).values(), *suite.get("latency", {}).values()]
    values = [w.get("noise_server_core", math.nan) for w in windows]
    values = [v for v in values if v is not None and not math.isnan(v)]
    return max(values) if values else math.nan


def _cpu(results: dict[str, Any], server: str, version: str) -> float:
    suite = results.get("servers", {}).get(server, {})
    value = suite.get("throughput", {}).get(version, {}).get("cpu_us_per_msg")
    return float(value) if value is not None else math.nan


def server_table(results: dict[str, Any]) -> str:
    suites = results.get("servers", {})
    rates = sorted(
        {key for suite in suites.values() for key in suite.get("latency", {})},
        key=lambda k: (k.split("@")[0], int(k.split("@")[1])),
    )
    header = [
        "server",
        "1.6 msg/s",
        "2.0.1 msg/s",
        "CPU us/msg 1.6",
        "2.0.1",
        *[f"p50/p99/p99.9 {key}" for key in rates],
        "KiB/conn",
        "stored",
        "noise",
    ]
    rows = []
    for name, suite in suites.items():
        throughput = suite.get("throughput", {})
        cells = [name]
        for version in (V16, V201):
            r = throughput.get(version)
            cells.append(f"{r['rate']:.0f}" if r else "-")
        for version in (V16, V201):
            r = throughput.get(version)
            cells.append(f"{r['cpu_us_per_msg']:.0f}" if r else "-")
        for key in rates:
            r = suite.get("latency", {}).get(key)
            if r is None:
                cells.append("-")
                continue
            s = _summary(r["latency"])
            cells.append(
                f"{stats.format_ms(s.p50_ms)}/{stats.format_ms(s.p99_ms)}/"
                f"{stats.format_ms(s.p999_ms)}"
            )
        rss = suite.get("rss", {}).get("kib_per_conn", math.nan)
        cells.append("n/a" if math.isnan(rss) else f"{rss:.1f}")
        persisted = suite.get("persisted") or {}
        if not persisted:
            cells.append("-")
        else:
            cells.append("all" if persisted["ok"] else "MISSING")
        noise = max_noise(suite)
        cells.append("n/a" if math.isnan(noise) else f"{noise:.0%}")
        rows.append(cells)
    return stats.table(rows, header)


def machine_lines(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    suites = results.get("servers", {})
    for name, suite in suites.items():
        for version, r in suite.get("throughput", {}).items():
            key = stats.series_key(name, version)
            lines.append(stats.throughput_line(key, r["rate"]))
            lines.append(stats.cpu_line(key, r["cpu_us_per_msg"]))
        for label, r in suite.get("latency", {}).items():
            version, rate = label.split("@")
            key = stats.series_key(name, version)
            lines.append(stats.latency_line(key, int(rate), _summary(r["latency"])))
        rss = suite.get("rss")
        if rss:
            lines.append(stats.rss_line(name, rss["kib_per_conn"]))
        persisted = suite.get("persisted")
        if persisted:
            lines.append(
                f"stored {name} {persisted['rows']} sampled values for "
                f"{persisted['acknowledged_messages']} acknowledged messages "
                + ("ok" if persisted["ok"] else "MISSING")
            )
    for ours in ("ours_sqlite", "ours_postgres"):
        if ours not in suites:
            continue
        short = "ours" if ours == HEADLINE else ours
        for version in (V16, V201):
            suffix = "" if version == V16 else ".v201"
            for other in ("baseline", "baseline_orm", "echo", "echo_uvloop"):
                if other in suites:
                    name = f"{short}{suffix}/{other}{suffix}"
                    value = stats.ratio(
                        _rate(results, ours, version), _rate(results, other, version)
                    )
                    lines.append(stats.ratio_line(name, value))
                    # The same from CPU time per message: holds when other processes share
                    # the server's core (not for a server that waits on I/O, baseline_orm).
                    per_core = stats.ratio(
                        _cpu(results, other, version), _cpu(results, ours, version)
                    )
                    lines.append(stats.ratio_line(f"{name} per-core", per_core))
    capacity = results.get("capacity")
    if capacity:
        for level, held in capacity.get("levels", {}).items():
            lines.append(
                f"capacity {level} {'ok' if held['ok'] else 'FAIL'} "
                f"{held['kib_per_conn']:.1f} KiB/conn idle_cpu={held['idle_cpu_per_10k']:.0%}/10k "
                f"heartbeats={held['heartbeats']} unanswered={held['heartbeats_unanswered']} "
                f"pings={held['pings']} dropped={held['unexpected_disconnects']}"
            )
        storm = capacity.get("storm")
        if storm:
            synced = storm["all_synced_s"]
            lines.append(
                f"storm {storm['stations']} {'ok' if storm['ok'] else 'FAIL'} "
                f"back={storm['synced']}/{storm['stations']} "
                f"all_back={'never' if math.isinf(synced) else f'{synced:.1f}s'} "
                f"lost={storm['rows_lost']} undelivered={storm.get('undelivered_stations', 0)}"
            )
    freshness = results.get("freshness")
    if freshness:
        outbox = freshness.get("outbox")
        if outbox:
            s = _summary(outbox)
            lines.append(
                f"freshness outbox@{freshness['rate']} p50={stats.format_ms(s.p50_ms)} "
                f"p99={stats.format_ms(s.p99_ms)} rows={outbox['rows']}"
            )
        sse = freshness.get("sse", {})
        if "skipped" in sse:
            lines.append("freshness sse skipped")
        elif sse:
            s = _summary(sse)
            lines.append(
                f"freshness sse@{freshness['rate']} p50={stats.format_ms(s.p50_ms)} "
                f"p99={stats.format_ms(s.p99_ms)}"
            )
    return lines


def targets(results: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    """(target, met? (None: not measured), measured value)."""
    out: list[tuple[str, bool | None, str]] = []
    suites = results.get("servers", {})

    def add_ratio(name: str, ours: str, other: str, limit: float) -> None:
        if ours in suites and other in suites:
            value = stats.ratio(_rate(results, ours, V16), _rate(results, other, V16))
            per_core = stats.ratio(_cpu(results, other, V16), _cpu(results, ours, V16))
            met = None if math.isnan(value) else value >= limit
            noise = max(max_noise(suites[ours]), max_noise(suites[other]))
            text = f"{stats.format_ratio(value)}, per core {stats.format_ratio(per_core)}"
            if noise > 0.1:
                text += f"; other processes took up to {noise:.0%} of the server's core"
            out.append((name, met, text))

    add_ratio(f"throughput ours/baseline >= {TARGET_VS_BASELINE:g}x", HEADLINE, BASELINE, 8.0)
    add_ratio(f"throughput ours/echo >= {TARGET_VS_ECHO:g}x", HEADLINE, ECHO, 0.5)
    add_ratio("throughput ours_postgres/baseline >= 8x", "ours_postgres", BASELINE, 8.0)
    latency = suites.get(HEADLINE, {}).get("latency", {}).get(f"{V16}@{TARGET_RATE}")
    if latency:
        s = _summary(latency["latency"])
        out.append(
            (
                f"latency p99 < {TARGET_P99_MS:g} ms at {TARGET_RATE} msg/s",
                s.p99_ms < TARGET_P99_MS,
                f"p99={stats.format_ms(s.p99_ms)}, achieved {latency['rate']:.0f} msg/s",
            )
        )
    for name, suite in suites.items():
        persisted = suite.get("persisted")
        if persisted and name.startswith("ours"):
            out.append(
                (
                    f"every meter value persisted ({name})",
                    persisted["ok"],
                    f"{persisted['rows']} sampled values, at least "
                    f"{persisted['expected_rows']} expected",
                )
            )
    capacity = results.get("capacity") or {}
    for level, held in capacity.get("levels", {}).items():
        out.append(
            (
                f"capacity {level} stations, <= {TARGET_KIB_PER_CONN:g} KiB each, "
                "heartbeats and pings answered",
                held["ok"] and held["kib_per_conn"] <= TARGET_KIB_PER_CONN,
                f"{held['open_after']} open, {held['kib_per_conn']:.1f} KiB/conn, "
                f"{held['heartbeats_unanswered']} heartbeats unanswered, "
                f"{held['unexpected_disconnects']} dropped",
            )
        )
    storm = capacity.get("storm")
    if storm:
        synced = storm["all_synced_s"]
        out.append(
            (
                f"storm {storm['stations']} back within {TARGET_STORM_S:g} s, nothing lost",
                storm["ok"],
                f"{storm['synced']}/{storm['stations']} back, last after "
                f"{'never' if math.isinf(synced) else f'{synced:.1f} s'}, "
                f"{storm['rows_lost']} acknowledged samples lost",
            )
        )
    freshness = results.get("freshness") or {}
    if freshness.get("outbox"):
        s = _summary(freshness["outbox"])
        out.append(
            (
                f"freshness outbox p99 < 1 s at {freshness['rate']} msg/s",
                s.p99_ms < TARGET_FRESHNESS_MS and freshness["load"]["lost"] == 0,
                f"p99={stats.format_ms(s.p99_ms)} over {freshness['outbox']['rows']} rows, "
                f"{freshness['load']['lost']} messages unanswered",
            )
        )
    if freshness.get("sse"):
        sse = freshness["sse"]
        if "skipped" in sse:
            out.append(("freshness SSE p99 < 1 s", None, sse["skipped"]))
        else:
            s = _summary(sse)
            met = s.p99_ms < TARGET_FRESHNESS_MS
            out.append(("freshness SSE p99 < 1 s", met, stats.format_ms(s.p99_ms)))
    return out


def target_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for name, met, value in targets(results):
        verdict = "n/a" if met is None else ("ok" if met else "FAIL")
        lines.append(f"target {verdict}: {name} ({value})")
    return lines


def profile_table(profile: dict[str, Any]) -> str:
    """CPU per message by thread, then the event loop thread's components and busiest leaf
    functions (py-spy shares of its busy samples times its CPU time per message)."""
    us = profile.get("main_thread_us_per_msg", profile.get("cpu_us_per_msg", math.nan))
    head = ""
    if "main_thread_us_per_msg" in profile:
        head = (
            f"server CPU {profile['cpu_us_per_msg']:.0f} us/msg = event loop thread "
            f"{profile['main_thread_us_per_msg']:.0f} + other threads "
            f"{profile['other_threads_us_per_msg']:.0f}\n\n"
        )

    def rows(items: list[tuple[str, float]], us: float) -> list[list[str]]:
        return [
            [name, f"{share:.0%}", "-" if math.isnan(us) else f"{share * us:.0f}"]
            for name, share in items
        ]

    def tables(of: dict[str, Any], us: float) -> str:
        components = stats.table(rows(of.get("components", []), us), ["where", "share", "us/msg"])
        functions = stats.table(
            rows(of.get("top_functions", []), us), ["self time in", "share", "us/msg"]
        )
        return components + "\n\n" + functions

    text = head + tables(profile, us)
    writer = profile.get("writer_thread")
    if writer:
        text += (
            f"\n\ngroup-commit writer thread (SQLite): {writer['us_per_msg']:.0f} us/msg\n\n"
            + tables(writer, writer["us_per_msg"])
        )
    return text


def jsonable(value: Any) -> Any:
    """Strict JSON: infinity as the string "inf", NaN as null, tuples as lists."""
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def from_json(value: Any) -> Any:
    """Undo `jsonable` for numbers: "inf" -> inf, null -> NaN."""
    if value == "inf":
        return math.inf
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value
