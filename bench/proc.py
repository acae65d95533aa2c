"""What the kernel says about a process: CPU time, resident memory, open files (Linux /proc)."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_stat_cpu_ticks(stat_line: str) -> int:
    """utime + stime (clock ticks) from a /proc/<pid>/stat line (comm may contain spaces)."""
    fields = stat_line[stat_line.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of all the threads of `pid`."""
    return parse_stat_cpu_ticks(Path(f"/proc/{pid}/stat").read_text()) / CLOCK_TICKS


def parse_status_kib(status_text: str, field: str) -> int:
    for line in status_text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def rss_kib(pid: int) -> int:
    return parse_status_kib(Path(f"/proc/{pid}/status").read_text(), "VmRSS")


def open_files(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def processes_named(name: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if comm == name:
            pids.append(int(entry))
    return pids


def cpu_seconds_of(name: str) -> float:
    """CPU time of every process called `name` (e.g. PostgreSQL's backends) that is alive now."""
    total = 0.0
    for pid in processes_named(name):
        try:
            total += cpu_seconds(pid)
        except (OSError, ValueError):
            continue
    return total


def raise_open_files_limit() -> int:
    """Raise this process's RLIMIT_NOFILE to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pin_and_raise(cpu: int | None) -> None:
    """preexec_fn of a child: pin it (and the threads it will start) to one core and let it open
    as many files as allowed."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    raise_open_files_limit()


def machine() -> dict[str, str | int]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kib = 0
    with contextlib.suppress(OSError, KeyError):
        memory_kib = parse_status_kib(Path("/proc/meminfo").read_text(), "MemTotal")
    kernel = platform.release()
    try:
        somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    except OSError:
        somaxconn = 0
    try:
        sqlite_version = subprocess.run(
            [sys.executable, "-c", "import sqlite3; print(sqlite3.sqlite_version)"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        sqlite_version = ""
    return {
        "cpus": os.cpu_count() or 0,
        "cpu_model": model,
        "memory_gib": round(memory_kib / 1024 / 1024),
        "python": platform.python_version(),
        "kernel": kernel,
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "somaxconn": somaxconn,
        "sqlite": sqlite_version,
    }


def parse_proc_stat_cores(text: str) -> dict[int, tuple[int, int]]:
    """{core: (busy ticks without irq/softirq, irq+softirq ticks)} from /proc/stat."""
    cores: dict[int, tuple[int, int]] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        values = [int(v) for v in rest.split()]
        user, nice, system, _idle, _iowait, irq, softirq = values[:7]
        steal = values[7] if len(values) > 7 else 0
        cores[int(name[3:])] = (user + nice + system + steal, irq + softirq)
    return cores


def core_ticks() -> dict[int, tuple[int, int]]:
    return parse_proc_stat_cores(Path("/proc/stat").read_text())


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """{thread id: user + system CPU seconds} of every thread of `pid` alive now."""
    result: dict[int, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return result
    for tid in tids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            result[int(tid)] = parse_stat_cpu_ticks(text) / CLOCK_TICKS
    return result
