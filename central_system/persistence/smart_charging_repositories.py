"""SQL repositories of smart charging and load management: charging profiles (sent, reported,
notified), sites and their member stations, and the transactions still running at stations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from central_system.domain.clock import format_timestamp, parse_timestamp
from central_system.domain.load_management import SharePolicy
from central_system.domain.smart_charging import (
    ChargingLimitSource,
    ProfileRecord,
    ProfileSource,
    ProfileStatus,
)
from central_system.domain.transactions import Transaction
from central_system.persistence.models import TransactionRow
from central_system.persistence.operations_models import (
    ChargingProfileRow,
    SiteMemberRow,
    SiteRow,
)
from central_system.services.ports import SiteMember, SiteRecord
from schemas.charging_profiles import (
    ChargingProfile,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

# --- the version-neutral profile as JSON --------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return format_timestamp(value) if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    return parse_timestamp(value) if value else None


def _decimal(value: Any) -> Decimal | None:
    return Decimal(str(value)) if value is not None else None


def profile_to_json(profile: ChargingProfile) -> dict[str, Any]:
    """A profile as JSON (Decimals as strings, times as RFC 3339)."""
    return {
        "id": profile.id,
        "stack_level": profile.stack_level,
        "purpose": profile.purpose.value,
        "kind": profile.kind.value,
        "rate_unit": profile.rate_unit.value,
        "periods": [
            {"start_s": p.start_s, "limit": str(p.limit), "number_phases": p.number_phases}
            for p in profile.periods
        ],
        "evse_id": profile.evse_id,
        "start_schedule": _time(profile.start_schedule),
        "duration_s": profile.duration_s,
        "recurrency": profile.recurrency.value if profile.recurrency else None,
        "valid_from": _time(profile.valid_from),
        "valid_to": _time(profile.valid_to),
        "transaction_id": profile.transaction_id,
        "min_charging_rate": (
            str(profile.min_charging_rate) if profile.min_charging_rate is not None else None
        ),
    }


def profile_from_json(data: dict[str, Any]) -> ChargingProfile:
    recurrency = data.get("recurrency")
    return ChargingProfile(
        id=int(data["id"]),
        stack_level=int(data["stack_level"]),
        purpose=ProfilePurpose(data["purpose"]),
        kind=ProfileKind(data["kind"]),
        rate_unit=RateUnit(data["rate_unit"]),
        periods=tuple(
            SchedulePeriod(int(p["start_s"]), Decimal(str(p["limit"])), p.get("number_phases"))
            for p in data["periods"]
        ),
        evse_id=int(data.get("evse_id", 0)),
        start_schedule=_parse_time(data.get("start_schedule")),
        duration_s=data.get("duration_s"),
        recurrency=Recurrency(recurrency) if recurrency else None,
        valid_from=_parse_time(data.get("valid_from")),
        valid_to=_parse_time(data.get("valid_to")),
        transaction_id=data.get("transaction_id"),
        min_charging_rate=_decimal(data.get("min_charging_rate")),
    )


def _record_to_row(record: ProfileRecord, row: ChargingProfileRow) -> None:
    profile = record.profile
    row.station_id = record.station_id
    row.evse_id = profile.evse_id
    row.profile_id = profile.id
    row.stack_level = profile.stack_level
    row.purpose = profile.purpose.value
    row.kind = profile.kind.value
    row.transaction_id = profile.transaction_id
    row.source = record.source.value
    row.status = record.status.value
    data = profile_to_json(profile)
    data["status_info"] = record.status_info
    data["limit_source"] = record.limit_source.value if record.limit_source else None
    data["request_id"] = record.request_id
    row.profile = data
    row.created_at = record.created_at
    row.updated_at = record.updated_at


def _record_from_row(row: ChargingProfileRow) -> ProfileRecord:
    data = row.profile
    limit_source = data.get("limit_source")
    return ProfileRecord(
        station_id=row.station_id,
        profile=profile_from_json(data),
        source=ProfileSource(row.source),
        status=ProfileStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        status_info=data.get("status_info"),
        limit_source=ChargingLimitSource(limit_source) if limit_source else None,
        request_id=data.get("request_id"),
        row_id=row.id,
    )


class SqlChargingProfileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: ProfileRecord) -> ProfileRecord:
        row = ChargingProfileRow(
            station_id=record.station_id,
            profile_id=record.profile.id,
            purpose=record.profile.purpose.value,
            kind=record.profile.kind.value,
        )
        _record_to_row(record, row)
        self._session.add(row)
        await self._session.flush()
        return _record_from_row(row)

    async def save(self, record: ProfileRecord) -> None:
        if record.row_id is None:
            raise ValueError("the profile record is not stored yet")
        row = await self._session.get(ChargingProfileRow, record.row_id)
        if row is None:
            raise ValueError(f"no charging profile row {record.row_id}")
        _record_to_row(record, row)
        await self._session.flush()

    async def for_station(
        self,
        station_id: str,
        *,
        statuses: Iterable[ProfileStatus] | None = None,
        source: ProfileSource | None = None,
    ) -> list[ProfileRecord]:
        query = select(ChargingProfileRow).where(col(ChargingProfileRow.station_id) == station_id)
        if statuses is not None:
            query = query.where(col(ChargingProfileRow.status).in_([s.value for s in statuses]))
        if source is not None:
            query = query.where(col(ChargingProfileRow.source) == source.value)
        rows = await self._session.scalars(query.order_by(col(ChargingProfileRow.id)))
        return [_record_from_row(row) for row in rows]

    async def used_ids(self, station_id: str) -> list[int]:
        ids = await self._session.scalars(
            select(col(ChargingProfileRow.profile_id))
            .where(col(ChargingProfileRow.station_id) == station_id)
            .distinct()
        )
        return list(ids)


# --- sites -------------------------------------------------------------------------------------


def _site(row: SiteRow) -> SiteRecord:
    return SiteRecord(
        id=row.id, grid_limit_w=row.grid_limit_w, policy=SharePolicy(row.policy), name=row.name
    )


def _member(row: SiteMemberRow) -> SiteMember:
    return SiteMember(row.station_id, row.site_id, row.priority, row.max_power_w)


class SqlSiteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, site_id: str) -> SiteRecord | None:
        row = await self._session.get(SiteRow, site_id)
        return _site(row) if row else None

    async def all(self) -> list[SiteRecord]:
        rows = await self._session.scalars(select(SiteRow).order_by(col(SiteRow.id)))
        return [_site(row) for row in rows]

    async def save(self, site: SiteRecord) -> None:
        row = await self._session.get(SiteRow, site.id)
        if row is None:
            row = SiteRow(id=site.id, grid_limit_w=site.grid_limit_w)
            self._session.add(row)
        row.name = site.name
        row.grid_limit_w = site.grid_limit_w
        row.policy = site.policy.value
        await self._session.flush()

    async def delete(self, site_id: str) -> None:
        await self._session.execute(
            delete(SiteMemberRow).where(col(SiteMemberRow.site_id) == site_id)
        )
        await self._session.execute(delete(SiteRow).where(col(SiteRow.id) == site_id))

    async def members(self, site_id: str) -> list[SiteMember]:
        rows = await self._session.scalars(
            select(SiteMemberRow)
            .where(col(SiteMemberRow.site_id) == site_id)
            .order_by(col(SiteMemberRow.station_id))
        )
        return [_member(row) for row in rows]

    async def membership(self, station_id: str) -> SiteMember | None:
        row = await self._session.get(SiteMemberRow, station_id)
        return _member(row) if row else None

    async def save_member(self, member: SiteMember) -> None:
        row = await self._session.get(SiteMemberRow, member.station_id)
        if row is None:
            row = SiteMemberRow(station_id=member.station_id, site_id=member.site_id)
            self._session.add(row)
        row.site_id = member.site_id
        row.priority = member.priority
        row.max_power_w = member.max_power_w
        await self._session.flush()

    async def delete_member(self, station_id: str) -> None:
        await self._session.execute(
            delete(SiteMemberRow).where(col(SiteMemberRow.station_id) == station_id)
        )


class SqlActiveTransactionQueries:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def list(self, station_ids: Sequence[str] | None = None) -> list[Transaction]:
        from central_system.persistence.repositories import _transaction_from_row

        query = select(TransactionRow).where(col(TransactionRow.stopped_at).is_(None))
        if station_ids is not None:
            query = query.where(col(TransactionRow.station_id).in_(list(station_ids)))
        rows = await self._session.scalars(query.order_by(col(TransactionRow.id)))
        return [_transaction_from_row(row) for row in rows]
