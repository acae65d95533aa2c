"""The outbox table as the bridge sees it: read oldest first, delete what the broker acknowledged,
and keep the table bounded by thinning telemetry (never records).

Bounded-storage policy (docs/bridge.md):

* ``record`` rows (sessions, receipts) are never deleted unless published.
* ``telemetry`` rows (status, meter, signal) older than ``max_age`` are deleted, except the newest
  row of each station and topic, so the last known status survives a long outage.
* When there are more than ``max_rows`` telemetry rows, every second row of each station's topic
  in the oldest half is deleted (never the newest of a station and topic), repeatedly until the
  count is under the bound or nothing more can be thinned: old telemetry gets sparser, recent
  telemetry stays complete.

Billing data is not at risk: meter samples are kept in the central system's own tables; the
session ``ended`` record carries the session's energy.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Protocol

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central_system.persistence.database import is_sqlite, reading_engine, sqlite_path
from central_system.persistence.models import OutboxRow
from central_system.persistence.outbox import TELEMETRY

log = logging.getLogger(__name__)

_outbox = OutboxRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PendingMessage:
    id: int
    message_id: str
    station_id: str
    topic: str
    retention: str
    payload: str


@dataclass(frozen=True, slots=True)
class ThinningResult:
    expired: int = 0
    thinned: int = 0

    @property
    def deleted(self) -> int:
        return self.expired + self.thinned


class OutboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._reader = reading_engine(engine)  # polled: reads never take SQLite's write lock

    async def fetch(
        self, limit: int, skip: Collection[int] = (), skip_stations: Collection[str] = ()
    ) -> list[PendingMessage]:
        """The oldest rows (lowest id first), leaving out the ids in `skip` and the rows of the
        stations in `skip_stations`."""
        query = select(
            _outbox.c.id,
            _outbox.c.message_id,
            _outbox.c.station_id,
            _outbox.c.topic,
            _outbox.c.retention,
            _outbox.c.payload,
        )
        if skip:
            query = query.where(_outbox.c.id.not_in(list(skip)))
        if skip_stations:
            query = query.where(_outbox.c.station_id.not_in(list(skip_stations)))
        query = query.order_by(_outbox.c.id).limit(limit)
        async with self._reader.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [PendingMessage(*row) for row in rows]

    async def delete(self, ids: Collection[int]) -> None:
        if not ids:
            return
        async with self.engine.begin() as connection:
            await connection.execute(delete(_outbox).where(_outbox.c.id.in_(list(ids))))

    async def count(self, retention: str | None = None) -> int:
        query = select(func.count()).select_from(_outbox)
        if retention is not None:
            query = query.where(_outbox.c.retention == retention)
        async with self._reader.connect() as connection:
            return int((await connection.scalar(query)) or 0)

    async def thin(
        self, *, max_telemetry_rows: int, max_age: timedelta | None, now: datetime
    ) -> ThinningResult:
        """Apply the bounded-storage policy (module docstring); records are never touched."""
        expired = 0
        if max_age is not None:
            async with self.engine.begin() as connection:
                expired = await _delete_telemetry(connection, created_before=now - max_age)
        thinned = 0
        while True:
            async with self.engine.begin() as connection:
                count = await _telemetry_count(connection)
                if count <= max_telemetry_rows:
                    break
                # The id below which the oldest half of the telemetry rows lie.
                cut = await connection.scalar(
                    select(_outbox.c.id)
                    .where(_outbox.c.retention == TELEMETRY)
                    .order_by(_outbox.c.id)
                    .offset(count // 2)
                    .limit(1)
                )
                deleted = await _delete_telemetry(connection, every_second_below=cut)
            thinned += deleted
            if deleted == 0:
                break
        return ThinningResult(expired, thinned)


async def _telemetry_count(connection: AsyncConnection) -> int:
    query = select(func.count()).select_from(_outbox).where(_outbox.c.retention == TELEMETRY)
    return int((await connection.scalar(query)) or 0)


async def _delete_telemetry(
    connection: AsyncConnection,
    *,
    created_before: datetime | None = None,
    every_second_below: int | None = None,
) -> int:
    """Delete telemetry rows, never the newest of a station and topic: those created before a
    time, or every second one (by rank from the newest) of those with an id below a bound."""
    ranked = (
        select(
            _outbox.c.id,
            _outbox.c.created_at,
            func.row_number()
            .over(
                partition_by=(_outbox.c.station_id, _outbox.c.topic),
                order_by=_outbox.c.id.desc(),
            )
            .label("rank"),
        )
        .where(_outbox.c.retention == TELEMETRY)
        .subquery()
    )
    condition = ranked.c.rank > 1
    if created_before is not None:
        condition = condition & (ranked.c.created_at < created_before)
    if every_second_below is not None:
        condition = condition & (ranked.c.rank % 2 == 0) & (ranked.c.id < every_second_below)
    doomed = select(ranked.c.id).where(condition)
    result = await connection.execute(
        delete(_outbox).where(_outbox.c.id.in_(doomed), _outbox.c.retention == TELEMETRY)
    )
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


# ---------------------------------------------------------------------------------------------
# One publisher per outbox
# ---------------------------------------------------------------------------------------------

# pg_advisory_lock key of the outbox publisher (any constant; advisory locks are per database).
ADVISORY_LOCK_KEY = 0x65766368_6F757462  # "evchoutb"


class Lease(Protocol):
    async def check(self) -> None:
        """Raise LeaseLost when this publisher may no longer hold the outbox."""


class LeaseLost(RuntimeError):
    pass


class _FileLease:
    """SQLite: an exclusive flock on a file next to the database (released when the process
    dies, however it dies)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    async def check(self) -> None:
        return None


class _AdvisoryLease:
    """PostgreSQL: a session-level advisory lock, held by a connection kept open."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def check(self) -> None:
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except Exception as error:
            raise LeaseLost(f"the connection holding the outbox lock failed: {error}") from error


class _NoLease:
    async def check(self) -> None:
        return None


def lock_file_path(url: str) -> str | None:
    path = sqlite_path(url)
    return None if path is None else f"{path}.bridge-lock"


def _lock_file(path: str) -> IO[bytes] | None:
    """The open lock file with an exclusive flock on it, or None when another process has it."""
    handle = open(path, "ab")  # noqa: SIM115 (held open for the lease's lifetime)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n".encode())
    handle.flush()
    return handle


@contextlib.asynccontextmanager
async def try_lease(engine: AsyncEngine, url: str) -> AsyncIterator[Lease | None]:
    """Take the outbox for this publisher, or yield None when another one holds it.

    Only one bridge may publish an outbox: two would publish the same rows, out of order, and on
    AWS IoT Core with the same client id they would disconnect each other.
    """
    if is_sqlite(url):
        lock_path = lock_file_path(url)
        if lock_path is None:  # an in-memory database belongs to one process
            yield _NoLease()
            return
        handle = _lock_file(lock_path)
        if handle is None:
            yield None
            return
        try:
            yield _FileLease(handle)
        finally:
            handle.close()
        return
    connection = await engine.connect()
    try:
        locked = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
        )
        await connection.commit()
        if not locked:
            yield None
            return
        try:
            yield _AdvisoryLease(connection)
        finally:
            with contextlib.suppress(Exception):
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                await connection.commit()
    finally:
        await connection.close()
