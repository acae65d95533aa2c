"""The ports services depend on. Adapters (persistence/, transport/) implement them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from central_system.domain.authorization import AuthorizationStatus, IdTokenRecord
from central_system.domain.connectors import ConnectorKey, ConnectorState, StatusReport
from central_system.domain.events import DomainEvent
from central_system.domain.metering import MeterSample
from central_system.domain.stations import StationRecord
from central_system.domain.transactions import Transaction


class Clock(Protocol):
    def now(self) -> datetime: ...


class StationRepository(Protocol):
    async def get(self, station_id: str) -> StationRecord | None: ...
    async def add(self, record: StationRecord) -> None: ...
    async def save(self, record: StationRecord) -> None: ...


class ConnectorRepository(Protocol):
    async def get(self, station_id: str, key: ConnectorKey) -> ConnectorState | None: ...
    async def save(self, station_id: str, state: ConnectorState) -> None: ...
    async def add_history(self, station_id: str, report: StatusReport) -> None: ...
    async def list(self, station_id: str) -> list[ConnectorState]: ...


class TokenRepository(Protocol):
    async def get(self, value: str) -> IdTokenRecord | None: ...
    async def save(self, record: IdTokenRecord) -> None: ...


@dataclass(frozen=True, slots=True)
class TransactionEventRecord:
    """A processed 2.0.1 TransactionEvent, kept to recognise a replay by its seqNo."""

    seq_no: int
    event_type: str
    trigger_reason: str | None
    timestamp: datetime
    offline: bool
    id_token_status: AuthorizationStatus | None


class TransactionRepository(Protocol):
    async def get(self, station_id: str, transaction_id: str) -> Transaction | None: ...
    async def get_by_start_key(self, station_id: str, start_key: str) -> Transaction | None: ...
    async def add(self, transaction: Transaction, start_key: str | None) -> Transaction:
        """Insert; a transaction without an id (1.6) gets its row id as transaction id."""
        ...

    async def save(self, transaction: Transaction) -> None: ...
    async def has_active_for_token(self, token: str, *, excluding_row_id: int | None) -> bool: ...
    async def get_event(self, row_id: int, seq_no: int) -> TransactionEventRecord | None: ...
    async def add_event(self, row_id: int, event: TransactionEventRecord) -> None: ...


class MeterValueRepository(Protocol):
    async def add(
        self,
        station_id: str,
        key: ConnectorKey,
        transaction_row_id: int | None,
        samples: Sequence[MeterSample],
    ) -> int:
        """Store samples; a sample already stored (a replay) is skipped. Returns rows added."""
        ...


class StationLogRepository(Protocol):
    """Append-only log of station notifications (security events, firmware/diagnostics/log
    status, device-model events and reports), queryable by kind."""

    async def add(self, station_id: str, kind: str, at: datetime, data: dict[str, Any]) -> None: ...
    async def by_kind(self, kind: str) -> list[tuple[str, datetime, dict[str, Any]]]:
        """(station id, time, data) of every entry of `kind`, oldest first."""
        ...


class UnitOfWork(Protocol):
    """One database transaction. Events recorded in it are published only after commit."""

    @property
    def stations(self) -> StationRepository: ...
    @property
    def connectors(self) -> ConnectorRepository: ...
    @property
    def tokens(self) -> TokenRepository: ...
    @property
    def transactions(self) -> TransactionRepository: ...
    @property
    def meter_values(self) -> MeterValueRepository: ...
    @property
    def station_log(self) -> StationLogRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...
    def record(self, *events: DomainEvent) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...


class EventSubscriber(Protocol):
    def __call__(self, events: Iterable[DomainEvent]) -> None: ...


class StationOffline(Exception):
    """The station has no open connection to this central system."""


class StationCallTimeout(Exception):
    """The station did not answer a command in time."""


class StationCallError(Exception):
    """The station answered a command with a CALLERROR."""

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


class StationGateway(Protocol):
    """Sends CSMS-initiated OCPP calls to connected stations (one outstanding call each)."""

    def is_connected(self, station_id: str) -> bool: ...
    def ocpp_version(self, station_id: str) -> str | None: ...
    async def call(
        self,
        station_id: str,
        action: str,
        payload: dict[str, Any],
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send `action` with its wire payload; return the station's CALLRESULT payload.

        Raises StationOffline, StationCallTimeout, StationCallError, or ValueError when the
        payload violates the station's OCPP version schema (nothing is sent then).
        """
        ...
