"""Start, measure and stop the servers under test, each in its own process pinned to one core.

* `baseline`: bench/baseline.py, the `ocpp` documentation's central system (no storage);
* `baseline_orm`: the same, storing every sampled value with an ORM commit per message;
* `echo`: bench/echo.py, bare websockets (the ceiling);
* `ours_sqlite` / `ours_postgres`: `evcharge serve` as a user starts it, configured only through
  `EVCHARGE_*` variables, with a fresh SQLite file / a fresh PostgreSQL database per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import proc

SERVER_CPU = 0
GENERATOR_CPU = 1

LISTENING = re.compile(r"listening on ws://[^\s:]+:(\d+)")
API_LISTENING = re.compile(r"API listening on (https?://\S+)")
BASELINES = ("baseline", "baseline_orm")
OURS = ("ours_sqlite", "ours_postgres")
ALL_SERVERS = ("baseline", "baseline_orm", "echo", "echo_uvloop", "ours_sqlite", "ours_postgres")


def evcharge_executable() -> str:
    return str(Path(sys.executable).parent / "evcharge")


def postgres_admin_url() -> str | None:
    return os.environ.get("EVCHARGE_BENCH_POSTGRES_URL") or os.environ.get(
        "EVCHARGE_TEST_POSTGRES_URL"
    )


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """postgresql+asyncpg://u:p@h:port/db -> postgresql://u:p@h:port/db"""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", sqlalchemy_url)


def with_database(sqlalchemy_url: str, database: str) -> str:
    head, _, _ = sqlalchemy_url.rpartition("/")
    return f"{head}/{database}"


def cores() -> tuple[int | None, int | None]:
    """(server core, generator core); no pinning on a single-core machine."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return None, None
    return available[0], available[1]


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    database_url: str | None = None
    api_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return proc.cpu_seconds(self.pid)

    def rss_kib(self) -> int:
        return proc.rss_kib(self.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_count(self, pattern: str) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(pattern)
        except OSError:
            return 0

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_listening(
    process: subprocess.Popen[bytes], log_path: Path, timeout: float
) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        match = LISTENING.search(text)
        if match:
            return int(match.group(1)), text
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{text[-3000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"the server did not start within {timeout:.0f} s:\n{log_path}")


def _spawn(
    name: str, argv: Sequence[str], env: dict[str, str], log_path: Path, cpu: int | None
) -> tuple[subprocess.Popen[bytes], int, str]:
    log = log_path.open("wb")
    process = subprocess.Popen(
        list(argv),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: proc.pin_and_raise(cpu),
        cwd=log_path.parent,
    )
    log.close()
    try:
        port, text = _wait_listening(process, log_path, 120)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process, port, text


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EVCHARGE_")}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_echo(workdir: Path, cpu: int | None, *, uvloop: bool = False) -> ServerProcess:
    name = "echo_uvloop" if uvloop else "echo"
    log_path = workdir / f"{name}.log"
    argv = [sys.executable, "-m", "bench.echo", "--port", "0"] + (["--uvloop"] if uvloop else [])
    process, port, _ = _spawn(name, argv, _base_env() | {"PYTHONPATH": _repo_root()}, log_path, cpu)
    return ServerProcess(name, process, port, log_path)


def start_baseline(workdir: Path, cpu: int | None, *, store: bool) -> ServerProcess:
    name = "baseline_orm" if store else "baseline"
    log_path = workdir / f"{name}.log"
    argv = [sys.executable, "-m", "bench.baseline", "--port", "0"]
    database_url = None
    if store:
        database = workdir / "baseline_orm.db"
        database.unlink(missing_ok=True)
        database_url = f"sqlite:///{database}"
        argv += ["--store", database_url]
    process, port, _ = _spawn(name, argv, _base_env() | {"PYTHONPATH": _repo_root()}, log_path, cpu)
    return ServerProcess(name, process, port, log_path, database_url=database_url)


def _repo_root() -> str:
    return str(Path(__file__).resolve().parent.parent)


async def create_postgres_database(admin_url: str, name: str) -> str:
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return with_database(admin_url, name)


async def drop_postgres_database(admin_url: str, name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def start_ours(
    name: str,
    workdir: Path,
    cpu: int | None,
    *,
    database_url: str,
    settings: dict[str, str] | None = None,
) -> ServerProcess:
    """`evcharge serve` with EVCHARGE_* settings only (auto-registration of stations)."""
    env = _base_env() | {
        "EVCHARGE_ENV": "development",
        "EVCHARGE_DATABASE_URL": database_url,
        "EVCHARGE_OCPP_HOST": "127.0.0.1",
        "EVCHARGE_OCPP_PORT": "0",
        "EVCHARGE_API_HOST": "127.0.0.1",
        "EVCHARGE_API_PORT": str(free_port()),
        "EVCHARGE_AUTO_REGISTER": "true",
    }
    env |= {f"EVCHARGE_{k.upper()}": v for k, v in (settings or {}).items()}
    log_path = workdir / f"{name}.log"
    process, port, text = _spawn(name, [evcharge_executable(), "serve"], env, log_path, cpu)
    api = API_LISTENING.search(text)
    server = ServerProcess(name, process, port, log_path, database_url=database_url)
    server.api_url = api.group(1) if api else None
    server.extra["settings"] = {k: v for k, v in env.items() if k.startswith("EVCHARGE_")}
    return server


def sqlite_file(url: str) -> str:
    return re.sub(r"^sqlite(\+\w+)?:///", "", url)


# --- reading the results back from the database ------------------------------------------------


async def count_rows(database_url: str, table: str) -> int:
    if database_url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(sqlite_file(database_url), timeout=60)) as db:
            return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return int(await connection.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await connection.close()


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    result: datetime = value.astimezone(UTC)
    return result


async def outbox_meter_delays(database_url: str, since: float, until: float) -> list[int]:
    """Microseconds from each meter message's event time (the station's timestamp, which the
    load generator sets to the moment it sends) to its outbox row's created_at, for event
    times within [since, until) (epoch seconds)."""
    query = "SELECT created_at, payload FROM outbox WHERE topic LIKE '%/meter'"
    rows: list[tuple[Any, str]]
    if database_url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(sqlite_file(database_url), timeout=60)) as db:
            rows = list(db.execute(query).fetchall())
    else:
        import asyncpg

        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            rows = [(r[0], r[1]) for r in await connection.fetch(query)]
        finally:
            await connection.close()
    delays = []
    for created_at, payload in rows:
        event_time = _as_utc(json.loads(payload)["event_time"]).timestamp()
        if since <= event_time < until:
            delays.append(int((_as_utc(created_at).timestamp() - event_time) * 1e6))
    return delays


async def wait_port_closed(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return
        writer.close()
        await asyncio.sleep(0.1)
