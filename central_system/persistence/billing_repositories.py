"""SQL repositories of the REST API's tables (see billing_models.py), used by the unit of work."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from central_system.domain.accounts import Account, Role
from central_system.domain.authorization import AuthorizationStatus, IdTokenRecord
from central_system.domain.geo import BoundingBox, Position
from central_system.domain.payments import PaymentEventKind
from central_system.domain.receipts import Receipt
from central_system.domain.reservations import Reservation, ReservationStatus
from central_system.domain.sessions import OPEN_STATUSES, ChargingSession, SessionStatus
from central_system.domain.tariffs import PriceBreakdown, Tariff, in_force, quantum
from central_system.domain.transactions import Transaction
from central_system.persistence.billing_models import (
    AuditLogRow,
    ChargingSessionRow,
    ConnectorSpecRow,
    PaymentEventRow,
    ReceiptRow,
    RefreshTokenRow,
    ReservationRow,
    StationSiteRow,
    TariffRow,
    UserAccountRow,
)
from central_system.persistence.models import (
    IdTokenRow,
    StationLogRow,
    TransactionRow,
    utcnow,
)
from central_system.services.ports import (
    AuditEntry,
    ConnectorSpec,
    DuplicateReceipt,
    Page,
    PaymentEvent,
    StationSite,
    TariffRecord,
)


async def _count(session: AsyncSession, query: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)


# --- accounts ------------------------------------------------------------------------------------


def _account(row: UserAccountRow) -> Account:
    return Account(
        id=row.id,
        email=row.email,
        role=Role(row.role),
        password_hash=row.password_hash,
        guest=row.guest,
        disabled=row.disabled,
        created_at=row.created_at,
    )


class SqlAccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: str) -> Account | None:
        row = await self._session.get(UserAccountRow, user_id)
        return _account(row) if row else None

    async def get_by_email(self, email: str) -> Account | None:
        row = await self._session.scalar(
            select(UserAccountRow).where(col(UserAccountRow.email) == email)
        )
        return _account(row) if row else None

    async def add(self, account: Account) -> None:
        self._session.add(
            UserAccountRow(
                id=account.id,
                email=account.email,
                role=account.role.value,
                password_hash=account.password_hash,
                guest=account.guest,
                disabled=account.disabled,
                created_at=account.created_at or utcnow(),
            )
        )
        await self._session.flush()

    async def save(self, account: Account) -> None:
        row = await self._session.get(UserAccountRow, account.id)
        if row is None:
            await self.add(account)
            return
        row.email = account.email
        row.role = account.role.value
        row.password_hash = account.password_hash
        row.guest = account.guest
        row.disabled = account.disabled
        await self._session.flush()

    async def list(self, *, limit: int, offset: int) -> Page[Account]:
        query = select(UserAccountRow)
        total = await _count(self._session, query)
        rows = await self._session.scalars(
            query.order_by(col(UserAccountRow.created_at), col(UserAccountRow.id))
            .limit(limit)
            .offset(offset)
        )
        return Page([_account(r) for r in rows], total)

    async def add_refresh_token(self, jti: str, user_id: str, expires_at: datetime) -> None:
        self._session.add(RefreshTokenRow(jti=jti, user_id=user_id, expires_at=expires_at))
        await self._session.flush()

    async def use_refresh_token(self, jti: str, now: datetime) -> str | None:
        result: Any = await self._session.execute(
            update(RefreshTokenRow)
            .where(
                col(RefreshTokenRow.jti) == jti,
                col(RefreshTokenRow.revoked_at).is_(None),
                col(RefreshTokenRow.expires_at) > now,
            )
            .values(revoked_at=now)
            .returning(col(RefreshTokenRow.user_id))
        )
        user_id: str | None = result.scalar_one_or_none()
        return user_id


# --- catalogue -----------------------------------------------------------------------------------


M = TypeVar("M", bound=SQLModel)

# Values per IN (...) of a query over many stations or rows (SQLite allows 32,766 parameters).
_IN_CHUNK = 500


async def _rows_in(
    session: AsyncSession, model: type[M], column: Any, values: Collection[Any]
) -> list[M]:
    """The rows of `model` whose `column` is one of `values`, in queries of _IN_CHUNK values."""
    wanted = sorted(values)
    rows: list[M] = []
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        rows.extend(await session.scalars(select(model).where(col(column).in_(chunk))))
    return rows


class SqlCatalogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _connectors(self, station_ids: list[str]) -> dict[str, tuple[ConnectorSpec, ...]]:
        if not station_ids:
            return {}
        rows = await self._session.scalars(
            select(ConnectorSpecRow)
            .where(col(ConnectorSpecRow.station_id).in_(station_ids))
            .order_by(col(ConnectorSpecRow.evse_id), col(ConnectorSpecRow.connector_id))
        )
        found: dict[str, list[ConnectorSpec]] = {}
        for row in rows:
            found.setdefault(row.station_id, []).append(
                ConnectorSpec(row.evse_id, row.connector_id, row.standard, row.max_power_w)
            )
        return {key: tuple(value) for key, value in found.items()}

    async def _sites(self, rows: list[StationSiteRow]) -> list[StationSite]:
        connectors = await self._connectors([r.station_id for r in rows])
        return [
            StationSite(
                station_id=r.station_id,
                owner_id=r.owner_id,
                name=r.name,
                position=Position(r.latitude, r.longitude),
                address=r.address,
                connectors=connectors.get(r.station_id, ()),
            )
            for r in rows
        ]

    async def get_site(self, station_id: str) -> StationSite | None:
        row = await self._session.get(StationSiteRow, station_id)
        if row is None:
            return None
        return (await self._sites([row]))[0]

    async def save_site(self, site: StationSite) -> None:
        row = await self._session.get(StationSiteRow, site.station_id)
        if row is None:
            row = StationSiteRow(
                station_id=site.station_id,
                latitude=site.position.latitude,
                longitude=site.position.longitude,
            )
            self._session.add(row)
        row.owner_id = site.owner_id
        row.name = site.name
        row.latitude = site.position.latitude
        row.longitude = site.position.longitude
        row.address = site.address
        await self._session.execute(
            delete(ConnectorSpecRow).where(col(ConnectorSpecRow.station_id) == site.station_id)
        )
        for spec in site.connectors:
            self._session.add(
                ConnectorSpecRow(
                    station_id=site.station_id,
                    evse_id=spec.evse_id,
                    connector_id=spec.connector_id,
                    standard=spec.standard,
                    max_power_w=spec.max_power_w,
                )
            )
        await self._session.flush()

    async def sites_in(self, box: BoundingBox) -> list[StationSite]:
        lat = col(StationSiteRow.latitude)
        lon = col(StationSiteRow.longitude)
        query = select(StationSiteRow).where(lat >= box.min_latitude, lat <= box.max_latitude)
        if box.wraps:
            query = query.where(or_(lon >= box.min_longitude, lon <= box.max_longitude))
        else:
            query = query.where(lon >= box.min_longitude, lon <= box.max_longitude)
        rows = list(await self._session.scalars(query.order_by(col(StationSiteRow.station_id))))
        return await self._sites(rows)

    async def list_sites(
        self, *, owner_id: str | None, limit: int, offset: int
    ) -> Page[StationSite]:
        query = select(StationSiteRow)
        if owner_id is not None:
            query = query.where(col(StationSiteRow.owner_id) == owner_id)
        total = await _count(self._session, query)
        rows = list(
            await self._session.scalars(
                query.order_by(col(StationSiteRow.station_id)).limit(limit).offset(offset)
            )
        )
        return Page(await self._sites(rows), total)

    async def add_tariff(self, station_id: str, tariff: Tariff, valid_from: datetime) -> int:
        row = TariffRow(
            station_id=station_id,
            currency=tariff.currency,
            per_kwh=tariff.per_kwh,
            per_minute=tariff.per_minute,
            session_fee=tariff.session_fee,
            valid_from=valid_from,
        )
        self._session.add(row)
        await self._session.flush()
        assert row.id is not None
        return row.id

    @staticmethod
    def _tariff(row: TariffRow) -> TariffRecord:
        assert row.id is not None
        return TariffRecord(
            id=row.id,
            station_id=row.station_id,
            tariff=Tariff(
                currency=row.currency,
                per_kwh=Decimal(row.per_kwh).normalize() + 0,
                per_minute=Decimal(row.per_minute).normalize() + 0,
                session_fee=Decimal(row.session_fee).normalize() + 0,
            ),
            valid_from=row.valid_from,
        )

    async def current_tariff(self, station_id: str, now: datetime) -> TariffRecord | None:
        """The one in force (domain.tariffs.in_force: one rule for one station and a round)."""
        return in_force((await self.tariffs_of({station_id})).get(station_id, ()), now)

    async def tariffs_of(self, station_ids: Collection[str]) -> dict[str, list[TariffRecord]]:
        found: dict[str, list[TariffRecord]] = {}
        for row in await _rows_in(self._session, TariffRow, TariffRow.station_id, station_ids):
            found.setdefault(row.station_id, []).append(self._tariff(row))
        return found

    async def get_tariff(self, tariff_id: int) -> TariffRecord | None:
        row = await self._session.get(TariffRow, tariff_id)
        return self._tariff(row) if row else None

    async def latest_log(
        self, station_id: str, kind: str
    ) -> tuple[datetime, dict[str, Any]] | None:
        row = await self._session.scalar(
            select(StationLogRow)
            .where(col(StationLogRow.station_id) == station_id, col(StationLogRow.kind) == kind)
            .order_by(col(StationLogRow.at).desc(), col(StationLogRow.id).desc())
            .limit(1)
        )
        return (row.at, dict(row.data)) if row else None


# --- reservations --------------------------------------------------------------------------------


def _reservation(row: ReservationRow) -> Reservation:
    assert row.id is not None
    return Reservation(
        id=row.id,
        station_id=row.station_id,
        evse_id=row.evse_id,
        user_id=row.user_id,
        id_token=row.id_token,
        status=ReservationStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
    )


class SqlReservationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, reservation: Reservation) -> Reservation:
        row = ReservationRow(
            id=reservation.id or None,
            station_id=reservation.station_id,
            evse_id=reservation.evse_id,
            user_id=reservation.user_id,
            id_token=reservation.id_token,
            status=reservation.status.value,
            created_at=reservation.created_at,
            expires_at=reservation.expires_at,
            ended_at=reservation.ended_at,
        )
        self._session.add(row)
        await self._session.flush()
        return _reservation(row)

    async def get(self, reservation_id: int) -> Reservation | None:
        row = await self._session.get(ReservationRow, reservation_id)
        return _reservation(row) if row else None

    async def save(self, reservation: Reservation) -> None:
        row = await self._session.get(ReservationRow, reservation.id)
        if row is None:
            raise LookupError(f"reservation {reservation.id} is gone")
        row.status = reservation.status.value
        row.ended_at = reservation.ended_at
        row.expires_at = reservation.expires_at
        await self._session.flush()

    async def active_for_evse(
        self, station_id: str, evse_id: int, now: datetime
    ) -> Reservation | None:
        row = await self._session.scalar(
            select(ReservationRow).where(
                col(ReservationRow.station_id) == station_id,
                col(ReservationRow.evse_id) == evse_id,
                col(ReservationRow.status).in_(
                    [ReservationStatus.ACCEPTED.value, ReservationStatus.PENDING.value]
                ),
                col(ReservationRow.expires_at) > now,
            )
        )
        return _reservation(row) if row else None

    async def due_to_expire(self, now: datetime) -> list[Reservation]:
        rows = await self._session.scalars(
            select(ReservationRow).where(
                col(ReservationRow.status) == ReservationStatus.ACCEPTED.value,
                col(ReservationRow.expires_at) <= now,
            )
        )
        return [_reservation(r) for r in rows]

    async def list(self, *, user_id: str | None, limit: int, offset: int) -> Page[Reservation]:
        query = select(ReservationRow)
        if user_id is not None:
            query = query.where(col(ReservationRow.user_id) == user_id)
        total = await _count(self._session, query)
        rows = await self._session.scalars(
            query.order_by(col(ReservationRow.id).desc()).limit(limit).offset(offset)
        )
        return Page([_reservation(r) for r in rows], total)


# --- charging sessions ---------------------------------------------------------------------------


class SqlChargingSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _from_row(self, row: ChargingSessionRow) -> ChargingSession:
        tariff = await self._session.get(TariffRow, row.tariff_id)
        assert tariff is not None
        return ChargingSession(
            id=row.id,
            user_id=row.user_id,
            station_id=row.station_id,
            evse_id=row.evse_id,
            id_token=row.id_token,
            remote_start_id=row.remote_start_id,
            tariff_id=row.tariff_id,
            tariff=SqlCatalogRepository._tariff(tariff).tariff,
            status=SessionStatus(row.status),
            created_at=row.created_at,
            payment_reference=row.payment_reference,
            preauthorized_amount=row.preauthorized_amount,
            battery_capacity_wh=row.battery_capacity_wh,
            reservation_id=row.reservation_id,
            transaction_row_id=row.transaction_row_id,
            transaction_id=row.transaction_id,
            started_at=row.started_at,
            ended_at=row.ended_at,
            failure_reason=row.failure_reason,
        )

    @staticmethod
    def _to_row(session: ChargingSession, row: ChargingSessionRow) -> None:
        row.status = session.status.value
        row.payment_reference = session.payment_reference
        row.preauthorized_amount = session.preauthorized_amount
        row.battery_capacity_wh = session.battery_capacity_wh
        row.reservation_id = session.reservation_id
        row.transaction_row_id = session.transaction_row_id
        row.transaction_id = session.transaction_id
        row.started_at = session.started_at
        row.ended_at = session.ended_at
        row.failure_reason = session.failure_reason[:200] if session.failure_reason else None

    async def add(self, session: ChargingSession) -> None:
        row = ChargingSessionRow(
            id=session.id,
            user_id=session.user_id,
            station_id=session.station_id,
            evse_id=session.evse_id,
            id_token=session.id_token,
            remote_start_id=session.remote_start_id,
            tariff_id=session.tariff_id,
            status=session.status.value,
            created_at=session.created_at,
        )
        self._to_row(session, row)
        self._session.add(row)
        await self._session.flush()

    async def get(self, session_id: str, *, for_update: bool = False) -> ChargingSession | None:
        query = select(ChargingSessionRow).where(col(ChargingSessionRow.id) == session_id)
        if for_update:
            query = query.with_for_update()
        row = await self._session.scalar(query.execution_options(populate_existing=True))
        return await self._from_row(row) if row else None

    async def save(self, session: ChargingSession) -> None:
        row = await self._session.get(ChargingSessionRow, session.id)
        if row is None:
            raise LookupError(f"charging session {session.id} is gone")
        self._to_row(session, row)
        await self._session.flush()

    async def open_for_token(self, station_id: str, id_token: str) -> ChargingSession | None:
        row = await self._session.scalar(
            select(ChargingSessionRow)
            .where(
                col(ChargingSessionRow.station_id) == station_id,
                col(ChargingSessionRow.id_token) == id_token,
                col(ChargingSessionRow.status).in_([s.value for s in OPEN_STATUSES]),
            )
            .limit(1)
        )
        return await self._from_row(row) if row else None

    async def open_for_evse(self, station_id: str, evse_id: int) -> ChargingSession | None:
        row = await self._session.scalar(
            select(ChargingSessionRow)
            .where(
                col(ChargingSessionRow.station_id) == station_id,
                col(ChargingSessionRow.evse_id) == evse_id,
                col(ChargingSessionRow.transaction_row_id).is_(None),
                col(ChargingSessionRow.status).in_([s.value for s in OPEN_STATUSES]),
            )
            .limit(1)
        )
        return await self._from_row(row) if row else None

    async def open_sessions(self) -> list[ChargingSession]:
        rows = await self._session.scalars(
            select(ChargingSessionRow).where(
                col(ChargingSessionRow.status).in_([s.value for s in OPEN_STATUSES])
            )
        )
        return [await self._from_row(r) for r in rows]

    async def list(
        self,
        *,
        user_id: str | None,
        owner_id: str | None,
        status: SessionStatus | None,
        limit: int,
        offset: int,
    ) -> Page[ChargingSession]:
        query = select(ChargingSessionRow)
        if user_id is not None and owner_id is not None:
            owned = select(col(StationSiteRow.station_id)).where(
                col(StationSiteRow.owner_id) == owner_id
            )
            query = query.where(
                or_(
                    col(ChargingSessionRow.user_id) == user_id,
                    col(ChargingSessionRow.station_id).in_(owned),
                )
            )
        elif user_id is not None:
            query = query.where(col(ChargingSessionRow.user_id) == user_id)
        if status is not None:
            query = query.where(col(ChargingSessionRow.status) == status.value)
        total = await _count(self._session, query)
        rows = await self._session.scalars(
            query.order_by(col(ChargingSessionRow.created_at).desc(), col(ChargingSessionRow.id))
            .limit(limit)
            .offset(offset)
        )
        return Page([await self._from_row(r) for r in rows], total)


# --- payments and receipts -----------------------------------------------------------------------


class SqlPaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, event: PaymentEvent) -> None:
        self._session.add(
            PaymentEventRow(
                session_id=event.session_id,
                kind=event.kind.value,
                amount=event.amount,
                currency=event.currency,
                provider=event.provider,
                reference=event.reference,
                at=event.at,
            )
        )
        await self._session.flush()

    async def for_session(self, session_id: str) -> list[PaymentEvent]:
        rows = await self._session.scalars(
            select(PaymentEventRow)
            .where(col(PaymentEventRow.session_id) == session_id)
            .order_by(col(PaymentEventRow.id))
        )
        return [
            PaymentEvent(
                session_id=r.session_id,
                kind=PaymentEventKind(r.kind),
                amount=Decimal(r.amount),
                currency=r.currency,
                provider=r.provider,
                reference=r.reference,
                at=r.at,
            )
            for r in rows
        ]


def _receipt(row: ReceiptRow) -> Receipt:
    unit = quantum(row.currency)
    tariff = Tariff(
        currency=row.currency,
        per_kwh=Decimal(row.per_kwh).normalize() + 0,
        per_minute=Decimal(row.per_minute).normalize() + 0,
        session_fee=Decimal(row.session_fee_rate).normalize() + 0,
    )
    return Receipt(
        id=row.id,
        session_id=row.session_id,
        sequence=row.sequence,
        user_id=row.user_id,
        station_id=row.station_id,
        evse_id=row.evse_id,
        transaction_id=row.transaction_id,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
        tariff=tariff,
        price=PriceBreakdown(
            currency=row.currency,
            energy_wh=row.energy_wh,
            duration=timedelta(seconds=row.duration_s),
            energy_cost=Decimal(row.energy_cost).quantize(unit),
            time_cost=Decimal(row.time_cost).quantize(unit),
            session_fee=Decimal(row.session_fee).quantize(unit),
            total=Decimal(row.total).quantize(unit),
        ),
        captured=Decimal(row.captured).quantize(unit),
        uncollected=Decimal(row.uncollected).quantize(unit),
        payment_reference=row.payment_reference,
        issued_at=row.issued_at,
        corrects=row.corrects,
        note=row.note,
    )


class SqlReceiptRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, receipt: Receipt) -> None:
        p = receipt.price
        row = ReceiptRow(
            id=receipt.id,
            session_id=receipt.session_id,
            sequence=receipt.sequence,
            corrects=receipt.corrects,
            note=receipt.note,
            user_id=receipt.user_id,
            station_id=receipt.station_id,
            evse_id=receipt.evse_id,
            transaction_id=receipt.transaction_id,
            started_at=receipt.started_at,
            stopped_at=receipt.stopped_at,
            energy_wh=p.energy_wh,
            duration_s=int(p.duration.total_seconds()),
            currency=p.currency,
            per_kwh=receipt.tariff.per_kwh,
            per_minute=receipt.tariff.per_minute,
            session_fee_rate=receipt.tariff.session_fee,
            energy_cost=p.energy_cost,
            time_cost=p.time_cost,
            session_fee=p.session_fee,
            total=p.total,
            captured=receipt.captured,
            uncollected=receipt.uncollected,
            payment_reference=receipt.payment_reference,
            issued_at=receipt.issued_at,
        )
        try:
            async with self._session.begin_nested():
                self._session.add(row)
                await self._session.flush()
        except IntegrityError as error:
            raise DuplicateReceipt(
                f"session {receipt.session_id} has a receipt #{receipt.sequence}"
            ) from error

    async def get(self, receipt_id: str) -> Receipt | None:
        row = await self._session.get(ReceiptRow, receipt_id)
        return _receipt(row) if row else None

    async def latest_for_session(self, session_id: str) -> Receipt | None:
        row = await self._session.scalar(
            select(ReceiptRow)
            .where(col(ReceiptRow.session_id) == session_id)
            .order_by(col(ReceiptRow.sequence).desc())
            .limit(1)
        )
        return _receipt(row) if row else None

    async def list(
        self, *, user_id: str | None, owner_id: str | None, limit: int, offset: int
    ) -> Page[Receipt]:
        query = select(ReceiptRow)
        if user_id is not None and owner_id is not None:
            owned = select(col(StationSiteRow.station_id)).where(
                col(StationSiteRow.owner_id) == owner_id
            )
            query = query.where(
                or_(col(ReceiptRow.user_id) == user_id, col(ReceiptRow.station_id).in_(owned))
            )
        elif user_id is not None:
            query = query.where(col(ReceiptRow.user_id) == user_id)
        total = await _count(self._session, query)
        rows = await self._session.scalars(
            query.order_by(col(ReceiptRow.issued_at).desc(), col(ReceiptRow.id))
            .limit(limit)
            .offset(offset)
        )
        return Page([_receipt(r) for r in rows], total)


# --- audit log -----------------------------------------------------------------------------------


class SqlAuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, entry: AuditEntry) -> None:
        self._session.add(
            AuditLogRow(
                at=entry.at,
                action=entry.action,
                outcome=entry.outcome,
                actor_id=entry.actor_id,
                actor=entry.actor[:254] if entry.actor else None,
                target=entry.target[:200] if entry.target else None,
                source=entry.source[:64] if entry.source else None,
                details=entry.details,
            )
        )
        await self._session.flush()

    async def list(
        self, *, action: str | None, actor_id: str | None, limit: int, offset: int
    ) -> Page[AuditEntry]:
        query = select(AuditLogRow)
        if action is not None:
            query = query.where(col(AuditLogRow.action) == action)
        if actor_id is not None:
            query = query.where(col(AuditLogRow.actor_id) == actor_id)
        total = await _count(self._session, query)
        rows = await self._session.scalars(
            query.order_by(col(AuditLogRow.id).desc()).limit(limit).offset(offset)
        )
        return Page(
            [
                AuditEntry(
                    id=r.id,
                    at=r.at,
                    action=r.action,
                    outcome=r.outcome,
                    actor_id=r.actor_id,
                    actor=r.actor,
                    target=r.target,
                    source=r.source,
                    details=r.details,
                )
                for r in rows
            ],
            total,
        )

    async def recent_attempts(
        self, action: str, since: datetime, *, actor: str | None = None, source: str | None = None
    ) -> Sequence[datetime]:
        query = select(col(AuditLogRow.at)).where(
            col(AuditLogRow.action) == action, col(AuditLogRow.at) >= since
        )
        if actor is not None:
            query = query.where(col(AuditLogRow.actor) == actor)
        if source is not None:
            query = query.where(col(AuditLogRow.source) == source)
        return list(await self._session.scalars(query))


# --- id token registry and transaction queries ---------------------------------------------------


class SqlTokenRegistryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def list(self, *, limit: int, offset: int) -> Page[IdTokenRecord]:
        query = select(IdTokenRow)
        total = await _count(self._session, query)
        rows = await self._session.scalars(
            query.order_by(col(IdTokenRow.value)).limit(limit).offset(offset)
        )
        return Page(
            [
                IdTokenRecord(
                    value=r.value,
                    status=AuthorizationStatus(r.status),
                    type=r.type,
                    expires_at=r.expires_at,
                    group_id=r.group_id,
                )
                for r in rows
            ],
            total,
        )

    async def delete(self, value: str) -> bool:
        result: Any = await self._session.execute(
            delete(IdTokenRow).where(col(IdTokenRow.value) == value)
        )
        return bool(result.rowcount)


class SqlTransactionQueries:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_by_row_id(self, row_id: int) -> Transaction | None:
        from central_system.persistence.repositories import _transaction_from_row

        row = await self._session.get(TransactionRow, row_id)
        return _transaction_from_row(row) if row else None

    async def by_row_ids(self, row_ids: Collection[int]) -> dict[int, Transaction]:
        from central_system.persistence.repositories import _transaction_from_row

        rows = await _rows_in(self._session, TransactionRow, TransactionRow.id, row_ids)
        return {row.id: _transaction_from_row(row) for row in rows if row.id is not None}

    async def by_token(self, station_id: str, id_token: str) -> Transaction | None:
        from central_system.persistence.repositories import _transaction_from_row

        row = await self._session.scalar(
            select(TransactionRow)
            .where(
                col(TransactionRow.station_id) == station_id,
                col(TransactionRow.id_token) == id_token,
            )
            .order_by(col(TransactionRow.id).desc())
            .limit(1)
        )
        return _transaction_from_row(row) if row else None

    async def count_active(self) -> int:
        return int(
            await self._session.scalar(
                select(func.count())
                .select_from(TransactionRow)
                .where(col(TransactionRow.stopped_at).is_(None))
            )
            or 0
        )

    async def list_for_station(
        self, station_id: str, *, limit: int, offset: int
    ) -> Page[Transaction]:
        from central_system.persistence.repositories import _transaction_from_row

        query = select(TransactionRow).where(col(TransactionRow.station_id) == station_id)
        total = await _count(self._session, query)
        rows = await self._session.scalars(
            query.order_by(col(TransactionRow.started_at).desc(), col(TransactionRow.id).desc())
            .limit(limit)
            .offset(offset)
        )
        return Page([_transaction_from_row(r) for r in rows], total)
