"""Engine and sessions. SQLite gets WAL, foreign keys and BEGIN IMMEDIATE (one writer at a time
without lock-upgrade failures; read-only sessions begin deferred and never wait for a writer);
PostgreSQL is used as is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    if not is_sqlite(url) or not database or database == ":memory:":
        return None
    return Path(database)


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": 30}, pool_size=4, max_overflow=4
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


# Pages the WAL may hold before a commit copies them into the database file (SQLite's default
# is 1,000, 4 MiB). The group commit rewrites the same last pages of the readings' indexes
# batch after batch; a checkpoint copies each page once however often it was rewritten, so
# rarer checkpoints copy less (the SQLite writer's CPU per MeterValues -25 % measured alone).
WAL_AUTOCHECKPOINT_PAGES = 16_000  # 64 MiB with 4 KiB pages


def configure_sqlite_connection(dbapi_connection: Any) -> None:
    """WAL checkpointed every WAL_AUTOCHECKPOINT_PAGES, a commit is durable when it returns
    (synchronous=FULL), foreign keys, and waiting up to 30 s for another writer. The caller
    begins its transactions (BEGIN IMMEDIATE)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        configure_sqlite_connection(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")  # a WAL reader never waits for the writer
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


# Execution option of sessions that only read (`session_factory(read_only=True)`).
READ_ONLY = "evcharge_read_only"


def reading_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine for connections that only read: on SQLite they begin deferred and do not take
    the write lock (they must not write: a deferred transaction that writes after reading may
    fail to get the lock). A loop that reads every second through the plain engine holds the
    lock a few ms each time, and a writer arriving meanwhile sleeps in SQLite's busy handler
    for up to 100 ms: the group-commit writer's batches, and every station's answer, with it."""
    return engine.execution_options(**{READ_ONLY: True})


def session_factory(
    engine: AsyncEngine, *, read_only: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions; `read_only` ones begin as `reading_engine` connections."""
    bind = reading_engine(engine) if read_only else engine
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False)
