"""SQL implementations of the service ports, and the unit of work that ties them to one database
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from central_system.domain.authorization import AuthorizationStatus, IdToken, IdTokenRecord
from central_system.domain.connectors import (
    ConnectorKey,
    ConnectorState,
    ConnectorStatus,
    StatusReport,
)
from central_system.domain.events import DomainEvent
from central_system.domain.metering import LiveValues, MeterSample
from central_system.domain.stations import (
    BootInfo,
    RegistrationStatus,
    SecurityProfile,
    StationRecord,
)
from central_system.domain.transactions import Transaction
from central_system.persistence.billing_repositories import (
    SqlAccountRepository,
    SqlAuditRepository,
    SqlCatalogRepository,
    SqlChargingSessionRepository,
    SqlPaymentRepository,
    SqlReceiptRepository,
    SqlReservationRepository,
    SqlTokenRegistryRepository,
    SqlTransactionQueries,
)
from central_system.persistence.columns import (
    READING_COLUMNS,
    check_stored_shapes,
    reading_values,
    readings,
    transaction_values,
)
from central_system.persistence.device_model_repository import SqlDeviceModelRepository
from central_system.persistence.local_list_repository import SqlLocalListRepository
from central_system.persistence.maintenance_repositories import (
    SqlFirmwareRepository,
    SqlLogRequestRepository,
    SqlStationEventQueries,
)
from central_system.persistence.models import (
    ConnectorRow,
    ConnectorStatusLogRow,
    IdTokenRow,
    MeterReadingRow,
    MeterReadingShapeRow,
    StationLogRow,
    StationRow,
    TransactionEventRow,
    TransactionRow,
    utcnow,
)
from central_system.persistence.outbox import OutboxMapper
from central_system.persistence.smart_charging_repositories import (
    SqlActiveTransactionQueries,
    SqlChargingProfileRepository,
    SqlSiteRepository,
)
from central_system.services.event_bus import EventBus
from central_system.services.ports import TransactionEventRecord


def _status(value: str | None) -> AuthorizationStatus | None:
    return AuthorizationStatus(value) if value else None


def _token(value: str | None, token_type: str | None) -> IdToken | None:
    return IdToken(value, token_type) if value is not None else None


class SqlStationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, station_id: str) -> StationRecord | None:
        row = await self._session.get(StationRow, station_id)
        return _station_from_row(row) if row else None

    async def add(self, record: StationRecord) -> None:
        row = StationRow(id=record.id)
        _station_to_row(record, row)
        self._session.add(row)
        await self._session.flush()

    async def save(self, record: StationRecord) -> None:
        row = await self._session.get(StationRow, record.id)
        if row is None:
            await self.add(record)
            return
        _station_to_row(record, row)
        await self._session.flush()

    async def list_ids(self) -> list[str]:
        return list((await self._session.scalars(select(col(StationRow.id)))).all())


def _station_from_row(row: StationRow) -> StationRecord:
    boot_info = None
    if row.vendor is not None:
        boot_info = BootInfo(
            vendor=row.vendor,
            model=row.model or "",
            serial_number=row.serial_number,
            firmware_version=row.firmware_version,
            iccid=row.iccid,
            imsi=row.imsi,
            meter_type=row.meter_type,
            meter_serial_number=row.meter_serial_number,
            reason=row.boot_reason,
        )
    return StationRecord(
        id=row.id,
        registration_status=RegistrationStatus(row.registration_status),
        security_profile=SecurityProfile(row.security_profile),
        password_hash=row.password_hash,
        boot_status=RegistrationStatus(row.boot_status) if row.boot_status else None,
        boot_info=boot_info,
        last_boot_at=row.last_boot_at,
        last_heartbeat_at=row.last_heartbeat_at,
        ocpp_version=row.ocpp_version,
        connected=row.connected,
        last_connected_at=row.last_connected_at,
        last_disconnected_at=row.last_disconnected_at,
        firmware_status=row.firmware_status,
        diagnostics_status=row.diagnostics_status,
    )


def _station_to_row(record: StationRecord, row: StationRow) -> None:
    row.registration_status = record.registration_status.value
    row.security_profile = int(record.security_profile)
    row.password_hash = record.password_hash
    row.boot_status = record.boot_status.value if record.boot_status else None
    info = record.boot_info
    if info is not None:
        row.vendor = info.vendor
        row.model = info.model
        row.serial_number = info.serial_number
        row.firmware_version = info.firmware_version
        row.iccid = info.iccid
        row.imsi = info.imsi
        row.meter_type = info.meter_type
        row.meter_serial_number = info.meter_serial_number
        row.boot_reason = info.reason
    row.last_boot_at = record.last_boot_at
    row.last_heartbeat_at = record.last_heartbeat_at
    row.ocpp_version = record.ocpp_version
    row.connected = record.connected
    row.last_connected_at = record.last_connected_at
    row.last_disconnected_at = record.last_disconnected_at
    row.firmware_status = record.firmware_status
    row.diagnostics_status = record.diagnostics_status


class SqlConnectorRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, station_id: str, key: ConnectorKey) -> ConnectorState | None:
        row = await self._session.get(ConnectorRow, (station_id, key.evse_id, key.connector_id))
        return _connector_from_row(row) if row else None

    async def save(self, station_id: str, state: ConnectorState) -> None:
        pk = (station_id, state.key.evse_id, state.key.connector_id)
        row = await self._session.get(ConnectorRow, pk)
        if row is None:
            row = ConnectorRow(
                station_id=station_id,
                evse_id=state.key.evse_id,
                connector_id=state.key.connector_id,
                status=state.status.value,
                reported_at=state.reported_at,
            )
            self._session.add(row)
        row.status = state.status.value
        row.error_code = state.error_code
        row.info = state.info
        row.vendor_error_code = state.vendor_error_code
        row.reported_at = state.reported_at
        await self._session.flush()

    async def add_history(self, station_id: str, report: StatusReport) -> None:
        self._session.add(
            ConnectorStatusLogRow(
                station_id=station_id,
                evse_id=report.key.evse_id,
                connector_id=report.key.connector_id,
                status=report.status.value,
                error_code=report.error_code,
                info=report.info,
                vendor_error_code=report.vendor_error_code,
                reported_at=report.reported_at,
            )
        )

    async def list(self, station_id: str) -> list[ConnectorState]:
        rows = await self._session.scalars(
            select(ConnectorRow)
            .where(col(ConnectorRow.station_id) == station_id)
            .order_by(col(ConnectorRow.evse_id), col(ConnectorRow.connector_id))
        )
        return [_connector_from_row(row) for row in rows]


def _connector_from_row(row: ConnectorRow) -> ConnectorState:
    return ConnectorState(
        key=ConnectorKey(row.evse_id, row.connector_id),
        status=ConnectorStatus(row.status),
        error_code=row.error_code,
        info=row.info,
        vendor_error_code=row.vendor_error_code,
        reported_at=row.reported_at,
    )


class SqlTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, value: str) -> IdTokenRecord | None:
        row = await self._session.get(IdTokenRow, value)
        if row is None:
            return None
        return IdTokenRecord(
            value=row.value,
            status=AuthorizationStatus(row.status),
            type=row.type,
            expires_at=row.expires_at,
            group_id=row.group_id,
        )

    async def save(self, record: IdTokenRecord) -> None:
        row = await self._session.get(IdTokenRow, record.value)
        if row is None:
            row = IdTokenRow(value=record.value, status=record.status.value)
            self._session.add(row)
        row.status = record.status.value
        row.type = record.type
        row.expires_at = record.expires_at
        row.group_id = record.group_id
        row.updated_at = utcnow()
        await self._session.flush()


class SqlTransactionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, station_id: str, transaction_id: str) -> Transaction | None:
        row = await self._session.scalar(
            select(TransactionRow).where(
                col(TransactionRow.station_id) == station_id,
                col(TransactionRow.transaction_id) == transaction_id,
            )
        )
        return _transaction_from_row(row) if row else None

    async def get_by_row_id(self, row_id: int) -> Transaction | None:
        row = await self._session.get(TransactionRow, row_id)
        return _transaction_from_row(row) if row else None

    async def get_by_start_key(self, station_id: str, start_key: str) -> Transaction | None:
        row = await self._session.scalar(
            select(TransactionRow).where(
                col(TransactionRow.station_id) == station_id,
                col(TransactionRow.start_key) == start_key,
            )
        )
        return _transaction_from_row(row) if row else None

    async def add(self, transaction: Transaction, start_key: str | None) -> Transaction:
        row = TransactionRow(
            station_id=transaction.station_id,
            transaction_id=transaction.transaction_id,
            start_key=start_key,
            evse_id=transaction.key.evse_id,
            connector_id=transaction.key.connector_id,
            started_at=transaction.started_at,
        )
        _transaction_to_row(transaction, row)
        if not transaction.transaction_id:
            # 1.6: the id is the row id; a unique placeholder until the row id is known.
            row.transaction_id = f"p{uuid4().hex}"
        self._session.add(row)
        await self._session.flush()
        if not transaction.transaction_id:
            row.transaction_id = str(row.id)
            await self._session.flush()
        return _transaction_from_row(row)

    async def save(self, transaction: Transaction) -> None:
        if transaction.row_id is None:
            raise ValueError("save() needs a stored transaction")
        row = await self._session.get(TransactionRow, transaction.row_id)
        if row is None:
            raise LookupError(f"transaction row {transaction.row_id} is gone")
        _transaction_to_row(transaction, row)
        await self._session.flush()

    async def has_active_for_token(self, token: str, *, excluding_row_id: int | None) -> bool:
        query = select(col(TransactionRow.id)).where(
            col(TransactionRow.id_token) == token,
            col(TransactionRow.stopped_at).is_(None),
        )
        if excluding_row_id is not None:
            query = query.where(col(TransactionRow.id) != excluding_row_id)
        return (await self._session.scalar(query.limit(1))) is not None

    async def get_event(self, row_id: int, seq_no: int) -> TransactionEventRecord | None:
        row = await self._session.scalar(
            select(TransactionEventRow).where(
                col(TransactionEventRow.transaction_row_id) == row_id,
                col(TransactionEventRow.seq_no) == seq_no,
            )
        )
        if row is None:
            return None
        return TransactionEventRecord(
            seq_no=row.seq_no,
            event_type=row.event_type,
            trigger_reason=row.trigger_reason,
            timestamp=row.timestamp,
            offline=row.offline,
            id_token_status=_status(row.id_token_status),
        )

    async def seq_nos(self, row_id: int) -> list[int]:
        return list(
            await self._session.scalars(
                select(col(TransactionEventRow.seq_no)).where(
                    col(TransactionEventRow.transaction_row_id) == row_id
                )
            )
        )

    async def add_event(self, row_id: int, event: TransactionEventRecord) -> None:
        self._session.add(
            TransactionEventRow(
                transaction_row_id=row_id,
                seq_no=event.seq_no,
                event_type=event.event_type,
                trigger_reason=event.trigger_reason,
                timestamp=event.timestamp,
                offline=event.offline,
                id_token_status=event.id_token_status.value if event.id_token_status else None,
            )
        )
        await self._session.flush()


def _transaction_from_row(row: TransactionRow) -> Transaction:
    return Transaction(
        station_id=row.station_id,
        transaction_id=row.transaction_id,
        key=ConnectorKey(row.evse_id, row.connector_id),
        started_at=row.started_at,
        id_token=_token(row.id_token, row.id_token_type),
        start_authorization=_status(row.start_authorization),
        group_id=row.group_id,
        meter_start_wh=row.meter_start_wh,
        reservation_id=row.reservation_id,
        remote_start_id=row.remote_start_id,
        offline=row.offline,
        charging_state=row.charging_state,
        stopped_at=row.stopped_at,
        meter_stop_wh=row.meter_stop_wh,
        stop_reason=row.stop_reason,
        stop_id_token=_token(row.stop_id_token, row.stop_id_token_type),
        stop_authorization=_status(row.stop_authorization),
        last_seq_no=row.last_seq_no,
        live=LiveValues(
            soc_percent=row.live_soc_percent,
            power_w=row.live_power_w,
            energy_register_wh=row.live_energy_register_wh,
            sampled_at=row.live_sampled_at,
            start_soc_percent=row.start_soc_percent,
            start_soc_at=row.start_soc_at,
        ),
        row_id=row.id,
    )


def _transaction_to_row(transaction: Transaction, row: TransactionRow) -> None:
    for column, value in transaction_values(transaction).items():
        setattr(row, column, value)


class SqlMeterValueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        station_id: str,
        key: ConnectorKey,
        transaction_row_id: int | None,
        samples: Sequence[MeterSample],
    ) -> int:
        dialect = self._session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        grouped = readings(samples)
        if not grouped:
            return 0
        added = 0
        shapes = {reading.shape.key: reading.shape.samples for reading in grouped}
        await self._session.execute(
            insert(MeterReadingShapeRow).on_conflict_do_nothing(),
            [{"key": key, "samples": text} for key, text in shapes.items()],
        )
        stored = await self._session.execute(
            select(col(MeterReadingShapeRow.key), col(MeterReadingShapeRow.samples)).where(
                col(MeterReadingShapeRow.key).in_(shapes)
            )
        )
        check_stored_shapes(shapes, stored)
        for reading in grouped:
            values = reading_values(station_id, key, transaction_row_id, reading)
            result: Any = await self._session.execute(
                insert(MeterReadingRow)
                .values(dict(zip(READING_COLUMNS, values, strict=True)))
                .on_conflict_do_nothing()
            )
            if result.rowcount > 0:  # else a replay
                added += len(reading.samples)
        return added


class SqlStationLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, station_id: str, kind: str, at: datetime, data: dict[str, Any]) -> None:
        self._session.add(StationLogRow(station_id=station_id, kind=kind, at=at, data=data))

    async def by_kind(self, kind: str) -> list[tuple[str, datetime, dict[str, Any]]]:
        rows = await self._session.scalars(
            select(StationLogRow)
            .where(col(StationLogRow.kind) == kind)
            .order_by(col(StationLogRow.id))
        )
        return [(row.station_id, row.at, row.data) for row in rows]

    async def list(self, station_id: str, kind: str | None = None) -> list[StationLogRow]:
        query = select(StationLogRow).where(col(StationLogRow.station_id) == station_id)
        if kind is not None:
            query = query.where(col(StationLogRow.kind) == kind)
        rows = await self._session.scalars(query.order_by(col(StationLogRow.id)))
        return list(rows)


class SqlUnitOfWork:
    """One database transaction; recorded events go to the event bus after the commit."""

    session: AsyncSession
    stations: SqlStationRepository
    connectors: SqlConnectorRepository
    tokens: SqlTokenRepository
    transactions: SqlTransactionRepository
    meter_values: SqlMeterValueRepository
    station_log: SqlStationLogRepository
    firmware: SqlFirmwareRepository
    log_requests: SqlLogRequestRepository
    station_events: SqlStationEventQueries
    accounts: SqlAccountRepository
    catalog: SqlCatalogRepository
    reservations: SqlReservationRepository
    charging_sessions: SqlChargingSessionRepository
    payments: SqlPaymentRepository
    receipts: SqlReceiptRepository
    audit: SqlAuditRepository
    token_registry: SqlTokenRegistryRepository
    transaction_queries: SqlTransactionQueries
    local_lists: SqlLocalListRepository
    device_model: SqlDeviceModelRepository
    charging_profiles: SqlChargingProfileRepository
    sites: SqlSiteRepository
    active_transactions: SqlActiveTransactionQueries

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        outbox: OutboxMapper | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._outbox = outbox
        self._read_only = read_only
        self._events: list[DomainEvent] = []

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        self.stations = SqlStationRepository(self.session)
        self.connectors = SqlConnectorRepository(self.session)
        self.tokens = SqlTokenRepository(self.session)
        self.transactions = SqlTransactionRepository(self.session)
        self.meter_values = SqlMeterValueRepository(self.session)
        self.station_log = SqlStationLogRepository(self.session)
        self.firmware = SqlFirmwareRepository(self.session)
        self.log_requests = SqlLogRequestRepository(self.session)
        self.station_events = SqlStationEventQueries(self.session)
        self.accounts = SqlAccountRepository(self.session)
        self.catalog = SqlCatalogRepository(self.session)
        self.reservations = SqlReservationRepository(self.session)
        self.charging_sessions = SqlChargingSessionRepository(self.session)
        self.payments = SqlPaymentRepository(self.session)
        self.receipts = SqlReceiptRepository(self.session)
        self.audit = SqlAuditRepository(self.session)
        self.token_registry = SqlTokenRegistryRepository(self.session)
        self.transaction_queries = SqlTransactionQueries(self.session)
        self.local_lists = SqlLocalListRepository(self.session)
        self.device_model = SqlDeviceModelRepository(self.session)
        self.charging_profiles = SqlChargingProfileRepository(self.session)
        self.sites = SqlSiteRepository(self.session)
        self.active_transactions = SqlActiveTransactionQueries(self.session)
        self._events = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back what was not committed and detaches loaded rows without expiring
        # them, so values read in the unit of work stay readable after it.
        await self.session.close()

    async def commit(self) -> None:
        """Commit the state change together with its outbox rows, then tell live listeners."""
        if self._read_only:
            raise RuntimeError("a reading unit of work cannot commit")
        events, self._events = self._events, []
        if events and self._outbox is not None:
            self.session.add_all(self._outbox(events))
        await self.session.commit()
        self._bus.publish(events)

    def record(self, *events: DomainEvent) -> None:
        self._events.extend(events)


class SqlUnitOfWorkFactory:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        outbox: OutboxMapper | None = None,
        *,
        reading_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._outbox = outbox
        self._reading_sessions = reading_sessions or sessions

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions, self._bus, self._outbox)

    def reading(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._reading_sessions, self._bus, read_only=True)


__all__ = ["SqlUnitOfWork", "SqlUnitOfWorkFactory"]
