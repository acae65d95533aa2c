"""Fixtures with real parts: a SQLite file, the PostgreSQL that .ci/run starts, and the central
system serving on a free port of 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import threading
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from central_system.app import CentralSystem
from central_system.persistence.migrate import upgrade
from central_system.settings import Environment, Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_URL = os.environ.get("EVCHARGE_TEST_POSTGRES_URL")


def missing(reason: str) -> None:
    """Skip a test whose external service is missing; in CI that is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    if not POSTGRES_URL:
        missing("PostgreSQL not configured: set EVCHARGE_TEST_POSTGRES_URL (as .ci/run does)")
    return POSTGRES_URL or ""


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    parsed = make_url(url)
    connection = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database=parsed.database or "postgres",
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """An empty PostgreSQL database of its own (for tests that need a schema-less one)."""
    name = f"evcharge_test_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Migrating a database costs about a second: SQLite tests copy a file migrated once per run;
# PostgreSQL tests share one database migrated once per run, emptied before each test.
_MIGRATED: dict[str, str] = {}


async def _migrated_sqlite_template(directory: Path) -> Path:
    if "sqlite" not in _MIGRATED:
        path = directory / "template.db"
        await upgrade(f"sqlite+aiosqlite:///{path}")
        _MIGRATED["sqlite"] = str(path)
    return Path(_MIGRATED["sqlite"])


async def _emptied_postgres_database(server_url: str) -> str:
    if "postgresql" not in _MIGRATED:
        name = f"evcharge_test_{uuid.uuid4().hex[:12]}"
        await _admin(server_url, f'CREATE DATABASE "{name}"')
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        await upgrade(url)
        _MIGRATED["postgresql"] = url
        _MIGRATED["postgresql-name"] = name
    url = _MIGRATED["postgresql"]
    await _admin(
        url,
        """DO $$ DECLARE tables text; BEGIN
             SELECT string_agg(format('%I', tablename), ', ') INTO tables
               FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version';
             EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY CASCADE';
           END $$""",
    )
    return url


@pytest.fixture(scope="session")
def _template_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("templates")
    if "postgresql-name" in _MIGRATED and POSTGRES_URL:
        name = _MIGRATED.pop("postgresql-name")
        asyncio.run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, _template_directory: Path
) -> AsyncIterator[str]:
    """A migrated, empty database: a SQLite file, and the same test again on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "evcharge.db"
        shutil.copyfile(await _migrated_sqlite_template(_template_directory), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server_url = request.getfixturevalue("postgres_server_url")
    yield await _emptied_postgres_database(server_url)


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'evcharge.db'}"


def test_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": Environment.DEVELOPMENT,
        "database_url": database_url,
        "ocpp_port": 0,
        "api_port": 0,
        "ocpp_validate_responses": True,
        "ocpp_call_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


class RunningCentralSystem:
    def __init__(self, system: CentralSystem, task: asyncio.Task[None]) -> None:
        self.system = system
        self.task = task

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.system.ocpp_port}{self.system.settings.ocpp_path}"

    @property
    def services(self):  # type: ignore[no-untyped-def]
        return self.system.services

    async def stop(self) -> None:
        """Cancel the central system and wait for its shutdown; one that does not finish is a
        failure that shows where each of its tasks waits (not a test time-out without them)."""
        self.task.cancel()
        done, _ = await asyncio.wait({self.task}, timeout=STOP_TIMEOUT)
        if not done:
            raise AssertionError(
                f"the central system did not stop within {STOP_TIMEOUT} s:\n{task_stacks()}"
            )
        with contextlib.suppress(asyncio.CancelledError):
            self.task.result()


STOP_TIMEOUT = 60.0


def task_stacks() -> str:
    """Where every task waits, down its chain of awaits (a task's own stack shows only its
    outermost coroutine), and every thread's stack (an aiosqlite thread may be the one waiting,
    e.g. for SQLite's write lock)."""
    lines = []
    for task in asyncio.all_tasks():
        lines.append(f"{task!r} awaits:")
        awaited: Any = task.get_coro()
        while awaited is not None:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            frame = frame or getattr(awaited, "ag_frame", None)
            if frame is None:
                lines.append(f"    {awaited!r}")
                break
            lines.append(
                f"    {frame.f_code.co_qualname} ({frame.f_code.co_filename}:{frame.f_lineno})"
            )
            awaited = (
                getattr(awaited, "cr_await", None)
                or getattr(awaited, "gi_yieldfrom", None)
                or getattr(awaited, "ag_await", None)
            )
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        lines.append(f"thread {names.get(ident, ident)}:")
        lines.extend("    " + line.rstrip() for line in traceback.format_stack(frame)[-6:])
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def running_central_system(settings: Settings) -> AsyncIterator[RunningCentralSystem]:
    system = CentralSystem(settings)
    started = asyncio.Event()
    task = asyncio.create_task(system.run(started))
    waiter = asyncio.create_task(started.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        if task.done():
            task.result()  # raises the start-up error
        raise AssertionError("the central system did not start within 20 s")
    running = RunningCentralSystem(system, task)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def central_system(database_url: str) -> AsyncIterator[RunningCentralSystem]:
    async with running_central_system(test_settings(database_url)) as running:
        yield running
