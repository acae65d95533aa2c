"""The benchmark's pure helpers: percentiles, summaries, machine-readable lines, /proc parsing,
profile summaries. No timing assertions."""

from __future__ import annotations

import math
import re

import pytest

from bench import profile, report, stats
from bench.proc import parse_proc_stat_cores, parse_stat_cpu_ticks, parse_status_kib
from bench.stats import LOST_US


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert stats.percentile(values, 50) == 50
    assert stats.percentile(values, 99) == 99
    assert stats.percentile(values, 99.9) == 100
    assert stats.percentile(values, 100) == 100
    assert stats.percentile(values, 0) == 1
    assert stats.percentile([7], 99.9) == 7
    assert math.isnan(stats.percentile([], 50))
    with pytest.raises(ValueError, match="percentile"):
        stats.percentile(values, 101)


def test_summary_in_milliseconds() -> None:
    summary = stats.summarise([3000, 1000, 2000, 4000])
    assert summary.count == 4
    assert summary.lost == 0
    assert summary.p50_ms == 2.0
    assert summary.p99_ms == 4.0
    assert summary.mean_ms == 2.5
    assert not summary.overloaded


def test_unanswered_messages_push_the_tail_to_infinity() -> None:
    summary = stats.summarise([1000] * 95 + [LOST_US] * 5)
    assert summary.lost == 5
    assert summary.p50_ms == 1.0
    assert math.isinf(summary.p99_ms)
    assert summary.overloaded
    assert summary.mean_ms == 1.0  # of the answered ones


def test_empty_summary() -> None:
    summary = stats.summarise([])
    assert summary.count == 0 and math.isnan(summary.p50_ms)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.106, "0.11ms"), (3.14, "3.1ms"), (12.4, "12ms"), (270.0, "270ms"), (1570.0, "1.57s")],
)
def test_format_ms(value: float, text: str) -> None:
    assert stats.format_ms(value) == text


def test_format_ms_special_values() -> None:
    assert stats.format_ms(math.inf) == "inf"
    assert stats.format_ms(math.nan) == "n/a"


def test_ratio_lines_are_what_the_issue_shows() -> None:
    assert stats.ratio_line("ours/baseline", stats.ratio(5400, 593)) == "ours/baseline 9.1x"
    assert stats.ratio_line("ours/echo", stats.ratio(5400, 8700)) == "ours/echo 0.62x"
    assert stats.ratio_line("ours/echo", stats.ratio(1, 0)) == "ours/echo n/a"


def test_metric_lines() -> None:
    assert stats.throughput_line("ours_sqlite", 5400.4) == "throughput ours_sqlite 5400 msg/s"
    assert stats.series_key("ours_sqlite", "2.0.1") == "ours_sqlite.v201"
    summary = stats.summarise([3100] * 98 + [12_000, 30_000])
    assert (
        stats.latency_line("ours_sqlite", 2000, summary)
        == "latency ours_sqlite@2000 p50=3.1ms p99=12ms p99.9=30ms"
    )
    assert stats.cpu_line("ours_sqlite", 180.2) == "cpu ours_sqlite 180 us/msg"
    assert stats.rss_line("ours_sqlite", 19.24) == "rss ours_sqlite 19.2 KiB/conn"
    assert stats.cpu_us_per_message(0.5, 1000) == 500
    assert stats.kib_per_connection(1000, 3000, 100) == 20


def test_table_aligns_columns() -> None:
    text = stats.table([["a", "1"], ["bbb", "22"]], ["name", "n"])
    lines = text.splitlines()
    assert lines[0] == "name   n"
    assert lines[2] == "a      1"
    assert lines[3] == "bbb   22"


def _suite(rate: float, cpu: float) -> dict[str, object]:
    latency = stats.summarise([1000, 2000, 3000]).as_dict()
    return {
        "throughput": {
            "1.6": {"rate": rate, "cpu_us_per_msg": cpu},
            "2.0.1": {"rate": rate / 2, "cpu_us_per_msg": cpu * 2},
        },
        "latency": {"1.6@2000": {"latency": latency, "rate": 2000.0}},
        "rss": {"kib_per_conn": 19.2},
        "persisted": {"rows": 90, "expected_rows": 90, "acknowledged_messages": 10, "ok": True},
    }


def test_report_lines_and_targets_from_results() -> None:
    results = {
        "servers": {
            "baseline": _suite(600, 1600),
            "echo": _suite(9000, 108),
            "ours_sqlite": _suite(5460, 180),
        }
    }
    lines = report.machine_lines(results)
    assert "ours/baseline 9.1x" in lines
    assert "ours/echo 0.61x" in lines
    assert "ours.v201/baseline.v201 9.1x" in lines
    assert "throughput ours_sqlite 5460 msg/s" in lines
    assert "latency ours_sqlite@2000 p50=2.0ms p99=3.0ms p99.9=3.0ms" in lines
    targets = report.target_lines(results)
    assert not any(re.match(r"target FAIL", t) for t in targets)
    assert "target ok: throughput ours/baseline >= 8x (9.1x, per core 8.9x)" in targets
    assert "target ok: throughput ours/echo >= 0.5x (0.61x, per core 0.60x)" in targets
    assert "ours/baseline per-core 8.9x" in lines
    assert any(t.startswith("target ok: latency p99 < 50 ms") for t in targets)
    assert "MISSING" not in report.server_table(results)


def test_jsonable_replaces_infinities() -> None:
    value = {"a": math.inf, "b": (1, math.nan), "_x": 1}
    assert report.jsonable(value) == {"a": "inf", "b": [1, None]}
    back = report.from_json(report.jsonable(value))
    assert back["a"] == math.inf and math.isnan(back["b"][1])


def test_proc_stat_parsing() -> None:
    line = "1234 (evcharge (serve) x) S 1 1234 1234 0 -1 4194560 10 0 0 0 250 75 0 0 20 0 3 0"
    assert parse_stat_cpu_ticks(line) == 325
    status = "Name:\tpython\nVmPeak:\t  200 kB\nVmRSS:\t  123456 kB\n"
    assert parse_status_kib(status, "VmRSS") == 123456
    cores = parse_proc_stat_cores(
        "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 1 4 50 0 2 3 1 0 0\ncpu1 5 0 6 50 0 0 0 0 0 0\n"
        "intr 1 2 3\n"
    )
    assert cores == {0: (11, 5), 1: (11, 0)}


def test_profile_components_leave_idle_threads_out() -> None:
    wait_line, work_line = profile._aiosqlite_lines()
    raw = [
        "<module> (evcharge:6);run (asyncio/base_events.py:600);"
        "_dispatch (central_system/transport/connection.py:130);"
        "validate (central_system/transport/validation.py:90) 30",
        f"Thread._bootstrap (threading.py:995);_connection_worker_thread (aiosqlite/core.py:"
        f"{work_line}) 40",
        f"Thread._bootstrap (threading.py:995);_connection_worker_thread (aiosqlite/core.py:"
        f"{wait_line}) 500",
        "<module> (evcharge:6);_run_once (asyncio/base_events.py:1900);"
        "EpollSelector.select (selectors.py:468) 300",
        "Session.execute (sqlalchemy/orm/session.py:2300);"
        "_compile_w_cache (sqlalchemy/sql/elements.py:700);visit_insert (sqlalchemy/sql/x.py:1) 20",
        "Session.execute (sqlalchemy/orm/session.py:2300) 10",
    ]
    raw = ["thread (7): MainThread;" + line for line in raw] + [
        "thread (8): Thread-1;run (threading.py:1) 999"  # not the event loop's thread
    ]
    summary = profile.summarise(profile.parse_raw(raw))
    assert summary.idle == 800
    assert summary.samples == 900
    shares = dict(summary.by_component)
    assert shares["SQLite library (execute, commit) in aiosqlite threads"] == 0.4
    assert shares["schema validation (jsonschema-rs)"] == 0.3
    assert shares["SQLAlchemy: compiling SQL statements"] == 0.2
    assert shares["SQLAlchemy ORM/Core: sessions, flush, rows"] == 0.1
    assert dict(summary.top_functions)["validate (central_system/transport/validation.py)"] == 0.3
    table = report.profile_table(
        {"cpu_us_per_msg": 1000.0, "components": summary.by_component, "top_functions": []}
    )
    assert "400" in table  # 40 % of 1000 us


def test_profile_of_the_group_commit_writer_thread() -> None:
    raw = [
        "thread (7): MainThread;<module> (evcharge:6);"
        "parse_frame (central_system/transport/ocppj.py:120) 10",
        "thread (9): sqlite-writer_0;Thread._bootstrap (threading.py:995);"
        "SqliteBatchStore._write (central_system/persistence/batch_store.py:400) 60",
        "thread (9): sqlite-writer_0;Thread._bootstrap (threading.py:995);"
        "SqliteBatchStore._write (central_system/persistence/batch_store.py:390);"
        "sample_rows (central_system/persistence/batch_store.py:300);"
        "process (sqlalchemy/sql/type_api.py:10) 30",
        "thread (9): sqlite-writer_0;Thread._bootstrap (threading.py:995);"
        "_worker (concurrent/futures/thread.py:81);SimpleQueue.get (queue.py:1) 500",
        "thread (9): sqlite-writer_0;Thread._bootstrap (threading.py:995);"
        "SqliteBatchStore._write (central_system/persistence/batch_store.py:395);"
        "Rows.of (central_system/persistence/batch_store.py:250);"
        "outbox_values (central_system/persistence/outbox.py:70);"
        "model_dump_json (pydantic/main.py:1) 10",
    ]
    assert profile.thread_ids(raw) == {"MainThread": 7, "sqlite-writer_0": 9}
    writer = profile.summarise(profile.parse_raw(raw), thread=profile.WRITER_THREAD)
    assert writer.idle == 500
    assert dict(writer.by_component) == {
        profile.WRITER_SQLITE: 0.6,
        profile.WRITER_BINDING: 0.3,
        "pydantic (outbox messages)": 0.1,
    }
    table = report.profile_table(
        {
            "cpu_us_per_msg": 300.0,
            "main_thread_us_per_msg": 100.0,
            "other_threads_us_per_msg": 200.0,
            "components": [],
            "top_functions": [],
            "writer_thread": {
                "us_per_msg": 200.0,
                "components": writer.by_component,
                "top_functions": [],
            },
        }
    )
    assert "writer thread (SQLite): 200 us/msg" in table and "120" in table  # 60 % of 200


def test_profile_counts_our_websocket_transport_as_websockets() -> None:
    """transport/websocket.py is the websockets layer (framing, socket writes) we run on
    websockets' Sans-I/O protocol: it is compared with websockets', not with our domain."""
    raw = [
        "thread (7): MainThread;<module> (evcharge:6);data_received "
        "(central_system/transport/websocket.py:190);receive_data (websockets/protocol.py:1) 30",
        "thread (7): MainThread;<module> (evcharge:6);StationWebsocket._write "
        "(central_system/transport/websocket.py:290) 50",
        "thread (7): MainThread;<module> (evcharge:6);apply_samples "
        "(central_system/domain/transactions.py:90) 20",
    ]
    shares = dict(profile.summarise(profile.parse_raw(raw)).by_component)
    assert shares["websockets (framing, I/O)"] == 0.8
    assert shares["our code: domain, services, repositories, handlers"] == 0.2
