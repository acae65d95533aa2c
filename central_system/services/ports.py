"""The ports services depend on. Adapters (persistence/, transport/) implement them."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

from central_system.domain.accounts import Account
from central_system.domain.authorization import AuthorizationStatus, IdToken, IdTokenRecord
from central_system.domain.connectors import ConnectorKey, ConnectorState, StatusReport
from central_system.domain.events import DomainEvent
from central_system.domain.geo import BoundingBox, Position
from central_system.domain.load_management import SharePolicy
from central_system.domain.metering import MeterSample
from central_system.domain.payments import PaymentEventKind
from central_system.domain.receipts import Receipt
from central_system.domain.reservations import Reservation
from central_system.domain.sessions import ChargingSession, SessionStatus
from central_system.domain.smart_charging import (
    ClearCriteria,
    CompositeScheduleReply,
    ProfileRecord,
    ProfileSource,
    ProfileStatus,
    ReportCriteria,
)
from central_system.domain.stations import StationRecord
from central_system.domain.tariffs import Tariff
from central_system.domain.transactions import Transaction
from central_system.services.control_ports import DeviceModelRepository, LocalListRepository
from schemas.charging_profiles import ChargingProfile, RateUnit

if TYPE_CHECKING:  # station maintenance (that module imports this one)
    from central_system.services.maintenance_ports import (
        FirmwareRepository,
        LogRequestRepository,
        StationEventQueries,
    )


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
    async def seq_nos(self, row_id: int) -> list[int]:
        """The seqNos of the transaction's stored TransactionEvents."""
        ...

    async def add_event(self, row_id: int, event: TransactionEventRecord) -> None: ...


class MeterValueRepository(Protocol):
    async def add(
        self,
        station_id: str,
        key: ConnectorKey,
        transaction_row_id: int | None,
        samples: Sequence[MeterSample],
    ) -> int:
        """Store samples, a reading (the samples of one timestamp) at a time; a reading already
        stored (a replay) is skipped. Returns how many samples were added."""
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
    @property
    def firmware(self) -> FirmwareRepository: ...
    @property
    def log_requests(self) -> LogRequestRepository: ...
    @property
    def station_events(self) -> StationEventQueries: ...
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def catalog(self) -> CatalogRepository: ...
    @property
    def reservations(self) -> ReservationRepository: ...
    @property
    def charging_sessions(self) -> ChargingSessionRepository: ...
    @property
    def payments(self) -> PaymentRepository: ...
    @property
    def receipts(self) -> ReceiptRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def token_registry(self) -> TokenRegistryRepository: ...
    @property
    def transaction_queries(self) -> TransactionQueries: ...
    @property
    def local_lists(self) -> LocalListRepository: ...
    @property
    def device_model(self) -> DeviceModelRepository: ...
    @property
    def charging_profiles(self) -> ChargingProfileRepository: ...
    @property
    def sites(self) -> SiteRepository: ...
    @property
    def active_transactions(self) -> ActiveTransactionQueries: ...

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
    def reading(self) -> UnitOfWork:
        """A unit of work that only reads (it cannot commit); on SQLite it does not wait for
        the writers."""
        ...


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


T = TypeVar("T")


# --- REST API: accounts, catalogue, reservations, app charging sessions, billing ----------------


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and the total number of items."""

    items: list[T]
    total: int


class AccountRepository(Protocol):
    async def get(self, user_id: str) -> Account | None: ...
    async def get_by_email(self, email: str) -> Account | None: ...
    async def add(self, account: Account) -> None: ...
    async def save(self, account: Account) -> None: ...
    async def list(self, *, limit: int, offset: int) -> Page[Account]: ...
    async def add_refresh_token(self, jti: str, user_id: str, expires_at: datetime) -> None: ...
    async def use_refresh_token(self, jti: str, now: datetime) -> str | None:
        """Revoke a valid refresh token (rotation) and return its user id; None if it is
        unknown, revoked or expired."""
        ...


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """A connector as built: plug standard and maximum power."""

    evse_id: int
    connector_id: int
    standard: str
    max_power_w: int


@dataclass(frozen=True, slots=True)
class StationSite:
    """The catalogue entry of a station: who owns it, where it is, what it offers."""

    station_id: str
    owner_id: str | None
    name: str
    position: Position
    address: str
    connectors: tuple[ConnectorSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class TariffRecord:
    id: int
    station_id: str
    tariff: Tariff
    valid_from: datetime


class CatalogRepository(Protocol):
    async def get_site(self, station_id: str) -> StationSite | None: ...
    async def save_site(self, site: StationSite) -> None: ...
    async def sites_in(self, box: BoundingBox) -> list[StationSite]: ...
    async def list_sites(
        self, *, owner_id: str | None, limit: int, offset: int
    ) -> Page[StationSite]: ...
    async def add_tariff(self, station_id: str, tariff: Tariff, valid_from: datetime) -> int: ...
    async def current_tariff(self, station_id: str, now: datetime) -> TariffRecord | None: ...
    async def tariffs_of(self, station_ids: Collection[str]) -> dict[str, list[TariffRecord]]:
        """Every tariff of these stations, by station: what a round over many stations prices
        with (one query instead of one per station)."""
        ...

    async def get_tariff(self, tariff_id: int) -> TariffRecord | None: ...
    async def latest_log(
        self, station_id: str, kind: str
    ) -> tuple[datetime, dict[str, Any]] | None:
        """The newest station log entry of a kind (e.g. SignalStrength)."""
        ...


class ReservationRepository(Protocol):
    async def add(self, reservation: Reservation) -> Reservation:
        """Insert; a reservation with id 0 gets the next id (the OCPP reservationId)."""
        ...

    async def get(self, reservation_id: int) -> Reservation | None: ...
    async def save(self, reservation: Reservation) -> None: ...
    async def active_for_evse(
        self, station_id: str, evse_id: int, now: datetime
    ) -> Reservation | None: ...
    async def due_to_expire(self, now: datetime) -> list[Reservation]: ...
    async def list(self, *, user_id: str | None, limit: int, offset: int) -> Page[Reservation]: ...


class ChargingSessionRepository(Protocol):
    async def add(self, session: ChargingSession) -> None: ...
    async def get(self, session_id: str, *, for_update: bool = False) -> ChargingSession | None:
        """`for_update`: lock the row until the unit of work ends (PostgreSQL)."""
        ...

    async def save(self, session: ChargingSession) -> None: ...
    async def open_for_token(self, station_id: str, id_token: str) -> ChargingSession | None: ...
    async def open_for_evse(self, station_id: str, evse_id: int) -> ChargingSession | None:
        """An open session on the EVSE that has no transaction yet (being started)."""
        ...

    async def open_sessions(self) -> list[ChargingSession]: ...
    async def list(
        self,
        *,
        user_id: str | None,
        owner_id: str | None,
        status: SessionStatus | None,
        limit: int,
        offset: int,
    ) -> Page[ChargingSession]: ...


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """One step of a session's payment, insert-only."""

    session_id: str
    kind: PaymentEventKind
    amount: Decimal
    currency: str
    provider: str
    reference: str | None
    at: datetime


class PaymentRepository(Protocol):
    async def add(self, event: PaymentEvent) -> None: ...
    async def for_session(self, session_id: str) -> list[PaymentEvent]: ...


class ReceiptRepository(Protocol):
    async def add(self, receipt: Receipt) -> None:
        """Insert only; a second receipt with the same (session, sequence) raises
        DuplicateReceipt."""
        ...

    async def get(self, receipt_id: str) -> Receipt | None: ...
    async def latest_for_session(self, session_id: str) -> Receipt | None: ...
    async def list(
        self, *, user_id: str | None, owner_id: str | None, limit: int, offset: int
    ) -> Page[Receipt]: ...


class DuplicateReceipt(Exception):
    """The session already has a receipt with that sequence number."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    action: str
    outcome: str
    actor_id: str | None = None
    actor: str | None = None  # e-mail as given (also for failed logins)
    target: str | None = None
    source: str | None = None  # client address
    details: dict[str, Any] | None = None
    id: int | None = None


class AuditRepository(Protocol):
    async def add(self, entry: AuditEntry) -> None: ...
    async def list(
        self, *, action: str | None, actor_id: str | None, limit: int, offset: int
    ) -> Page[AuditEntry]: ...
    async def recent_attempts(
        self, action: str, since: datetime, *, actor: str | None = None, source: str | None = None
    ) -> Sequence[datetime]: ...


class TokenRegistryRepository(Protocol):
    """Listing and removing id tokens (the registry's lookups are TokenRepository)."""

    async def list(self, *, limit: int, offset: int) -> Page[IdTokenRecord]: ...
    async def delete(self, value: str) -> bool: ...


class TransactionQueries(Protocol):
    """Read-side queries over transactions for the API."""

    async def get_by_row_id(self, row_id: int) -> Transaction | None: ...
    async def by_row_ids(self, row_ids: Collection[int]) -> dict[int, Transaction]:
        """The stored ones of these transactions, by row id (one query for a round)."""
        ...

    async def by_token(self, station_id: str, id_token: str) -> Transaction | None: ...
    async def count_active(self) -> int: ...
    async def list_for_station(
        self, station_id: str, *, limit: int, offset: int
    ) -> Page[Transaction]: ...


# --- Smart charging and load management ----------------------------------------------------


class ChargingProfileRepository(Protocol):
    """The charging profiles sent to stations, reported by them, or notified as limits."""

    async def add(self, record: ProfileRecord) -> ProfileRecord:
        """Insert; returns the record with its row id."""
        ...

    async def save(self, record: ProfileRecord) -> None: ...
    async def for_station(
        self,
        station_id: str,
        *,
        statuses: Iterable[ProfileStatus] | None = None,
        source: ProfileSource | None = None,
    ) -> list[ProfileRecord]:
        """Oldest first."""
        ...

    async def used_ids(self, station_id: str) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class SiteRecord:
    """A grid connection shared by stations: its limit is the load-management budget."""

    id: str
    grid_limit_w: int
    policy: SharePolicy = SharePolicy.EQUAL
    name: str = ""


@dataclass(frozen=True, slots=True)
class SiteMember:
    station_id: str
    site_id: str
    priority: int = 0
    max_power_w: int | None = None  # the station's total output, if known


class SiteRepository(Protocol):
    async def get(self, site_id: str) -> SiteRecord | None: ...
    async def all(self) -> list[SiteRecord]: ...
    async def save(self, site: SiteRecord) -> None: ...
    async def delete(self, site_id: str) -> None:
        """The site and its memberships."""
        ...

    async def members(self, site_id: str) -> list[SiteMember]: ...
    async def membership(self, station_id: str) -> SiteMember | None: ...
    async def save_member(self, member: SiteMember) -> None: ...
    async def delete_member(self, station_id: str) -> None: ...


class ActiveTransactionQueries(Protocol):
    async def list(self, station_ids: Sequence[str] | None = None) -> list[Transaction]:
        """Transactions not ended yet, of the given stations (None: of every station)."""
        ...


class ChargingProfileControl(Protocol):
    """Smart-charging and cost commands (transport's SmartChargingCommands), version-neutral.

    Each raises StationOffline, StationCallTimeout or StationCallError; ValueError when the
    station's OCPP version has no such command or its schema refuses the payload."""

    def is_connected(self, station_id: str) -> bool: ...
    def boot_accepted(self, station_id: str) -> bool: ...
    async def set_charging_profile(
        self, station_id: str, profile: ChargingProfile
    ) -> CommandOutcome: ...
    async def clear_charging_profile(
        self, station_id: str, criteria: ClearCriteria
    ) -> CommandOutcome: ...
    async def get_composite_schedule(
        self, station_id: str, evse_id: int, duration_s: int, rate_unit: RateUnit | None
    ) -> CompositeScheduleReply: ...
    async def get_charging_profiles(
        self, station_id: str, request_id: int, criteria: ReportCriteria
    ) -> CommandOutcome: ...
    async def remote_start_with_profile(
        self,
        station_id: str,
        id_token: IdToken,
        *,
        evse_id: int | None,
        remote_start_id: int,
        profile: ChargingProfile | None,
    ) -> CommandOutcome: ...
    async def cost_updated(
        self, station_id: str, transaction_id: str, total_cost: Decimal
    ) -> CommandOutcome | None:
        """CostUpdated (2.x, I02); None when the station's version has no cost message."""
        ...

    def takes_cost_updates(self, station_id: str) -> bool:
        """Connected, with an OCPP version that has CostUpdated."""
        ...


class CommandOutcome(Protocol):
    """A station's answer to a command (transport's CommandResult)."""

    @property
    def status(self) -> str | None: ...
    @property
    def accepted(self) -> bool: ...
    @property
    def payload(self) -> dict[str, Any]: ...


class StationControl(Protocol):
    """The commands the services send to stations (implemented by transport's StationCommands).

    Each raises StationOffline, StationCallTimeout or StationCallError."""

    async def remote_start(
        self,
        station_id: str,
        id_token: IdToken,
        *,
        evse_id: int | None = None,
        remote_start_id: int,
        charging_profile: dict[str, Any] | None = None,
    ) -> CommandOutcome: ...
    async def remote_stop(self, station_id: str, transaction_id: str) -> CommandOutcome: ...
    async def reserve_now(
        self,
        station_id: str,
        *,
        reservation_id: int,
        expires_at: datetime,
        id_token: IdToken,
        evse_id: int | None = None,
        group_id: str | None = None,
        connector_type: str | None = None,
    ) -> CommandOutcome: ...
    async def cancel_reservation(self, station_id: str, reservation_id: int) -> CommandOutcome: ...


class StationOperations(StationControl, Protocol):
    """Everything an operator can do to a station through the API (transport implements it).

    Besides the station errors, a command the station's OCPP version does not have raises
    ValueError, and so does a payload its schema refuses."""

    def ocpp_version(self, station_id: str) -> str | None: ...
    def defines(self, station_id: str, action: str) -> bool:
        """Whether the station's OCPP version has `action` as a central-system-initiated CALL."""
        ...

    async def send(
        self, station_id: str, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]: ...
    async def reset(
        self, station_id: str, *, hard: bool = False, evse_id: int | None = None
    ) -> CommandOutcome: ...
    async def unlock(
        self, station_id: str, evse_id: int, connector_id: int = 1
    ) -> CommandOutcome: ...
    async def change_availability(
        self,
        station_id: str,
        *,
        operative: bool,
        evse_id: int | None = None,
        connector_id: int | None = None,
    ) -> CommandOutcome: ...
    async def trigger_message(
        self,
        station_id: str,
        message: str,
        *,
        evse_id: int | None = None,
        connector_id: int | None = None,
    ) -> CommandOutcome: ...
    async def clear_cache(self, station_id: str) -> CommandOutcome: ...
    async def get_configuration(
        self, station_id: str, keys: list[str] | None = None
    ) -> dict[str, Any]: ...
    async def change_configuration(
        self, station_id: str, key: str, value: str
    ) -> CommandOutcome: ...
    async def get_variables(
        self, station_id: str, variables: list[dict[str, Any]]
    ) -> dict[str, Any]: ...
    async def set_variables(
        self, station_id: str, variables: list[dict[str, Any]]
    ) -> dict[str, Any]: ...


class PaymentDeclined(Exception):
    """The payment provider refused the card or the amount."""


@dataclass(frozen=True, slots=True)
class PaymentHold:
    reference: str
    amount: Decimal
    currency: str


class PaymentProvider(Protocol):
    """Card payments with a hold: pre-authorize at start, capture at the end, or release.

    Every call carries an idempotency key: repeating it (after a crash) has no further effect."""

    name: str

    async def preauthorize(
        self, card_token: str, amount: Decimal, currency: str, *, idempotency_key: str
    ) -> PaymentHold:
        """Raises PaymentDeclined."""
        ...

    async def capture(self, reference: str, amount: Decimal, *, idempotency_key: str) -> str: ...
    async def release(self, reference: str, *, idempotency_key: str) -> None: ...


class IdGenerator(Protocol):
    def uuid(self) -> str: ...
    def token(self) -> str:
        """A fresh id token value for a charging authorization (<= 20 characters)."""
        ...

    def integer(self) -> int:
        """A positive 31-bit integer (an OCPP remoteStartId)."""
        ...
