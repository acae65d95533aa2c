"""The station's own SQLite file: everything that must survive a restart or an outage.

* `queue`: transaction messages (1.6 StartTransaction / transaction MeterValues /
  StopTransaction, 2.0.1 TransactionEvent) in the order they happened. A message is written here
  before it is sent and deleted only after the central system answered it, so an outage or a
  killed process loses nothing; the central system recognises a replay by its identifying
  fields, which is why the stored payload is sent as it is, byte for byte.
* `transaction_ids`: 1.6 transaction ids the central system assigned, by the station's local
  transaction reference (queued MeterValues / StopTransaction get theirs when they are sent).
* `sessions`: transactions in progress (a restart ends them with reason PowerLoss).
* `registers`: the last energy register per connector (the simulated meter starts at 0 again).
* `settings`, `auth_cache`, `local_list`, `state`: configuration, authorization data, and small
  JSON documents (profiles, reservations, availability, monitors, firmware version).

stdlib `sqlite3` in WAL mode, used synchronously: each write is a few tens of microseconds, and
a fleet of hundreds of stations in one process needs no thread per station. `durable=True`
(a real station) syncs every commit to disk; the fleet simulator uses `durable=False`, which
leaves writing to the operating system: a killed process loses nothing, a power cut might.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from charge_point.domain.local_auth import AuthorizationStatus, IdTokenInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    tx_ref TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transaction_ids (
    tx_ref TEXT PRIMARY KEY,
    transaction_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    connector_id INTEGER PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registers (
    connector_id INTEGER PRIMARY KEY,
    energy_wh INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_cache (
    token TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    expires_at TEXT,
    group_id TEXT,
    stored_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS local_list (
    token TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    expires_at TEXT,
    group_id TEXT
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    id: int
    action: str
    payload: dict[str, Any]
    tx_ref: str | None
    attempts: int


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class StationStore:
    def __init__(self, path: Path | str, *, durable: bool = True) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        # OFF still survives a killed process (the OS has the data), not a power cut.
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(f"BEGIN;{SCHEMA}COMMIT;")
        self._depth: int | None = None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit (nested use joins the outer transaction)."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            self._depth = None  # recount: the rolled-back inserts were counted
            raise
        self._db.execute("COMMIT")

    # --- queue --------------------------------------------------------------------------

    def enqueue(
        self, action: str, payload: dict[str, Any], tx_ref: str | None, created_at: datetime
    ) -> int:
        cursor = self._db.execute(
            "INSERT INTO queue (action, payload, tx_ref, created_at) VALUES (?, ?, ?, ?)",
            (action, json.dumps(payload, separators=(",", ":")), tx_ref, created_at.isoformat()),
        )
        if self._depth is not None:
            self._depth += 1
        return int(cursor.lastrowid or 0)

    def queue_head(self) -> QueuedMessage | None:
        row = self._db.execute(
            "SELECT id, action, payload, tx_ref, attempts FROM queue ORDER BY id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return QueuedMessage(row[0], row[1], json.loads(row[2]), row[3], row[4])

    def queued(self) -> list[QueuedMessage]:
        rows = self._db.execute(
            "SELECT id, action, payload, tx_ref, attempts FROM queue ORDER BY id"
        ).fetchall()
        return [QueuedMessage(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def queue_length(self) -> int:
        if self._depth is None:
            self._depth = int(self._db.execute("SELECT COUNT(*) FROM queue").fetchone()[0])
        return self._depth

    def has_queued(self, tx_ref: str) -> bool:
        row = self._db.execute("SELECT 1 FROM queue WHERE tx_ref = ? LIMIT 1", (tx_ref,))
        return row.fetchone() is not None

    def record_attempt(self, message_id: int) -> int:
        self._db.execute("UPDATE queue SET attempts = attempts + 1 WHERE id = ?", (message_id,))
        row = self._db.execute("SELECT attempts FROM queue WHERE id = ?", (message_id,))
        found = row.fetchone()
        return int(found[0]) if found else 0

    def remove(self, message_id: int) -> None:
        cursor = self._db.execute("DELETE FROM queue WHERE id = ?", (message_id,))
        if self._depth is not None and cursor.rowcount:
            self._depth -= cursor.rowcount

    # --- 1.6 transaction ids ----------------------------------------------------------------

    def set_transaction_id(self, tx_ref: str, transaction_id: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO transaction_ids (tx_ref, transaction_id) VALUES (?, ?)",
            (tx_ref, transaction_id),
        )

    def transaction_id(self, tx_ref: str) -> str | None:
        row = self._db.execute(
            "SELECT transaction_id FROM transaction_ids WHERE tx_ref = ?", (tx_ref,)
        ).fetchone()
        return str(row[0]) if row else None

    def forget_transaction_id(self, tx_ref: str) -> None:
        self._db.execute("DELETE FROM transaction_ids WHERE tx_ref = ?", (tx_ref,))

    # --- sessions and registers ---------------------------------------------------------

    def save_session(self, connector_id: int, data: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO sessions (connector_id, data) VALUES (?, ?)",
            (connector_id, json.dumps(data)),
        )

    def delete_session(self, connector_id: int) -> None:
        self._db.execute("DELETE FROM sessions WHERE connector_id = ?", (connector_id,))

    def sessions(self) -> dict[int, dict[str, Any]]:
        rows = self._db.execute("SELECT connector_id, data FROM sessions").fetchall()
        return {int(r[0]): json.loads(r[1]) for r in rows}

    def save_register(self, connector_id: int, energy_wh: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO registers (connector_id, energy_wh) VALUES (?, ?)",
            (connector_id, energy_wh),
        )

    def registers(self) -> dict[int, int]:
        rows = self._db.execute("SELECT connector_id, energy_wh FROM registers").fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    # --- settings -----------------------------------------------------------------------

    def settings(self) -> dict[str, str]:
        rows = self._db.execute("SELECT name, value FROM settings").fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def save_setting(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", (name, value)
        )

    # --- authorization ------------------------------------------------------------------

    def cached(self, token: str) -> tuple[IdTokenInfo, datetime] | None:
        row = self._db.execute(
            "SELECT status, expires_at, group_id, stored_at FROM auth_cache WHERE token = ?",
            (token,),
        ).fetchone()
        if row is None:
            return None
        info = IdTokenInfo(AuthorizationStatus(row[0]), _parse(row[1]), row[2])
        stored_at = _parse(row[3])
        assert stored_at is not None
        return info, stored_at

    def cache(self, token: str, info: IdTokenInfo, stored_at: datetime) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO auth_cache (token, status, expires_at, group_id, stored_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (token, info.status.value, _time(info.expires_at), info.group_id, _time(stored_at)),
        )

    def clear_cache(self) -> None:
        self._db.execute("DELETE FROM auth_cache")

    def local_entry(self, token: str) -> IdTokenInfo | None:
        row = self._db.execute(
            "SELECT status, expires_at, group_id FROM local_list WHERE token = ?", (token,)
        ).fetchone()
        if row is None:
            return None
        return IdTokenInfo(AuthorizationStatus(row[0]), _parse(row[1]), row[2])

    def local_list(self) -> dict[str, IdTokenInfo]:
        rows = self._db.execute(
            "SELECT token, status, expires_at, group_id FROM local_list"
        ).fetchall()
        return {str(r[0]): IdTokenInfo(AuthorizationStatus(r[1]), _parse(r[2]), r[3]) for r in rows}

    def replace_local_list(self, version: int, entries: dict[str, IdTokenInfo]) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM local_list")
            self._db.executemany(
                "INSERT INTO local_list (token, status, expires_at, group_id) VALUES (?,?,?,?)",
                [
                    (token, info.status.value, _time(info.expires_at), info.group_id)
                    for token, info in entries.items()
                ],
            )
            self.put("local_list_version", version)

    def local_list_size(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM local_list").fetchone()[0])

    # --- small JSON documents -------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )
