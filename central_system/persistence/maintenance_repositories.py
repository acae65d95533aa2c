"""SQL repositories of station maintenance: firmware campaigns and jobs, log/diagnostics upload
requests, and reads of the station log (security events, profile upgrades)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from central_system.domain.firmware import (
    CampaignStatus,
    FirmwareCampaign,
    FirmwareJob,
    FirmwareRequest,
    JobStatus,
    RetryPolicy,
)
from central_system.domain.log_uploads import LogRequest, LogType
from central_system.persistence.models import StationLogRow, utcnow
from central_system.persistence.operations_models import (
    DiagnosticsRequestRow,
    FirmwareCampaignRow,
    FirmwareJobRow,
)
from central_system.services.maintenance_ports import StationLogEntry
from central_system.services.ports import Page


async def _count(session: AsyncSession, query: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _campaign(row: FirmwareCampaignRow) -> FirmwareCampaign:
    assert row.id is not None
    return FirmwareCampaign(
        id=row.id,
        request=FirmwareRequest(
            location=row.location,
            retrieve_at=row.retrieve_at,
            signing_certificate=row.signing_certificate,
            signature=row.signature,
        ),
        policy=RetryPolicy(row.retries, timedelta(seconds=row.retry_interval_s)),
        status=CampaignStatus(row.status),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _job(row: FirmwareJobRow) -> FirmwareJob:
    assert row.id is not None
    return FirmwareJob(
        id=row.id,
        campaign_id=row.campaign_id,
        station_id=row.station_id,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        updated_at=row.updated_at,
    )


class SqlFirmwareRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_campaign(
        self, campaign: FirmwareCampaign, station_ids: Sequence[str]
    ) -> FirmwareCampaign:
        request = campaign.request
        row = FirmwareCampaignRow(
            location=request.location,
            retrieve_at=request.retrieve_at,
            retries=campaign.policy.retries,
            retry_interval_s=int(campaign.policy.interval.total_seconds()),
            signed=request.signed,
            signing_certificate=request.signing_certificate,
            signature=request.signature,
            status=campaign.status.value,
            created_by=campaign.created_by,
            created_at=campaign.created_at or utcnow(),
        )
        self._session.add(row)
        await self._session.flush()
        assert row.id is not None
        for station_id in dict.fromkeys(station_ids):
            self._session.add(
                FirmwareJobRow(
                    campaign_id=row.id,
                    station_id=station_id,
                    status=JobStatus.PENDING.value,
                    updated_at=row.created_at,
                )
            )
        await self._session.flush()
        return _campaign(row)

    async def get_campaign(self, campaign_id: int) -> FirmwareCampaign | None:
        row = await self._session.get(FirmwareCampaignRow, campaign_id)
        return _campaign(row) if row else None

    async def save_campaign(self, campaign: FirmwareCampaign) -> None:
        row = await self._session.get(FirmwareCampaignRow, campaign.id)
        if row is None:
            raise LookupError(f"firmware campaign {campaign.id} is gone")
        row.status = campaign.status.value
        await self._session.flush()

    async def list_campaigns(
        self, *, created_by: str | None, limit: int, offset: int
    ) -> Page[FirmwareCampaign]:
        query = select(FirmwareCampaignRow)
        if created_by is not None:
            query = query.where(col(FirmwareCampaignRow.created_by) == created_by)
        total = await _count(self._session, query)
        rows = await self._session.scalars(
            query.order_by(col(FirmwareCampaignRow.id).desc()).limit(limit).offset(offset)
        )
        return Page([_campaign(row) for row in rows], total)

    async def jobs(self, campaign_id: int) -> list[FirmwareJob]:
        rows = await self._session.scalars(
            select(FirmwareJobRow)
            .where(col(FirmwareJobRow.campaign_id) == campaign_id)
            .order_by(col(FirmwareJobRow.id))
        )
        return [_job(row) for row in rows]

    async def get_job(self, job_id: int, *, for_update: bool = False) -> FirmwareJob | None:
        query = select(FirmwareJobRow).where(col(FirmwareJobRow.id) == job_id)
        if for_update:
            query = query.with_for_update()
        row = await self._session.scalar(query.execution_options(populate_existing=True))
        return _job(row) if row else None

    async def save_job(self, job: FirmwareJob) -> None:
        row = await self._session.get(FirmwareJobRow, job.id)
        if row is None:
            raise LookupError(f"firmware job {job.id} is gone")
        row.status = job.status
        row.attempts = job.attempts
        row.last_error = job.last_error[:255] if job.last_error else None
        row.next_attempt_at = job.next_attempt_at
        row.updated_at = job.updated_at or utcnow()
        await self._session.flush()

    async def jobs_for_station(self, station_id: str) -> list[FirmwareJob]:
        rows = await self._session.scalars(
            select(FirmwareJobRow)
            .where(col(FirmwareJobRow.station_id) == station_id)
            .order_by(col(FirmwareJobRow.id).desc())
        )
        return [_job(row) for row in rows]

    async def due_jobs(self, now: datetime) -> list[FirmwareJob]:
        next_attempt = col(FirmwareJobRow.next_attempt_at)
        rows = await self._session.scalars(
            select(FirmwareJobRow)
            .join(FirmwareCampaignRow, col(FirmwareCampaignRow.id) == FirmwareJobRow.campaign_id)
            .where(
                col(FirmwareCampaignRow.status) == CampaignStatus.RUNNING.value,
                col(FirmwareJobRow.status) == JobStatus.PENDING.value,
                next_attempt.is_(None) | (next_attempt <= now),
            )
            .order_by(col(FirmwareJobRow.id))
        )
        return [_job(row) for row in rows]


def _log_request(row: DiagnosticsRequestRow) -> LogRequest:
    assert row.id is not None
    return LogRequest(
        id=row.id,
        station_id=row.station_id,
        log_type=LogType(row.log_type),
        upload_token=row.upload_token,
        status=row.status,
        requested_at=row.requested_at,
        file_name=row.file_name,
        stored_path=row.stored_path,
        size_bytes=row.size_bytes,
        uploaded_at=row.uploaded_at,
    )


class SqlLogRequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, request: LogRequest) -> LogRequest:
        row = DiagnosticsRequestRow(
            id=request.id or None,
            station_id=request.station_id,
            log_type=request.log_type.value,
            upload_token=request.upload_token,
            status=request.status,
            file_name=request.file_name,
            requested_at=request.requested_at,
        )
        self._session.add(row)
        await self._session.flush()
        return _log_request(row)

    async def get(self, request_id: int) -> LogRequest | None:
        row = await self._session.get(DiagnosticsRequestRow, request_id)
        return _log_request(row) if row else None

    async def by_token(self, token: str) -> LogRequest | None:
        row = await self._session.scalar(
            select(DiagnosticsRequestRow).where(col(DiagnosticsRequestRow.upload_token) == token)
        )
        return _log_request(row) if row else None

    async def save(self, request: LogRequest) -> None:
        row = await self._session.get(DiagnosticsRequestRow, request.id)
        if row is None:
            raise LookupError(f"log request {request.id} is gone")
        row.status = request.status[:30]
        row.file_name = request.file_name
        row.stored_path = request.stored_path
        row.size_bytes = request.size_bytes
        row.uploaded_at = request.uploaded_at
        await self._session.flush()

    async def recent(self, station_id: str, limit: int = 20) -> list[LogRequest]:
        rows = await self._session.scalars(
            select(DiagnosticsRequestRow)
            .where(col(DiagnosticsRequestRow.station_id) == station_id)
            .order_by(col(DiagnosticsRequestRow.id).desc())
            .limit(limit)
        )
        return [_log_request(row) for row in rows]

    async def for_station(self, station_id: str, *, limit: int, offset: int) -> Page[LogRequest]:
        query = select(DiagnosticsRequestRow).where(
            col(DiagnosticsRequestRow.station_id) == station_id
        )
        total = await _count(self._session, query)
        rows = await self._session.scalars(
            query.order_by(col(DiagnosticsRequestRow.id).desc()).limit(limit).offset(offset)
        )
        return Page([_log_request(row) for row in rows], total)


def _entry(row: StationLogRow) -> StationLogEntry:
    return StationLogEntry(row.station_id, row.kind, row.at, dict(row.data), row.id)


class SqlStationEventQueries:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def search(
        self,
        *,
        kinds: Sequence[str],
        station_id: str | None,
        since: datetime | None,
        limit: int,
        offset: int,
    ) -> Page[StationLogEntry]:
        query = select(StationLogRow).where(col(StationLogRow.kind).in_(list(kinds)))
        if station_id is not None:
            query = query.where(col(StationLogRow.station_id) == station_id)
        if since is not None:
            query = query.where(col(StationLogRow.at) >= since)
        total = await _count(self._session, query)
        rows = await self._session.scalars(
            query.order_by(col(StationLogRow.at).desc(), col(StationLogRow.id).desc())
            .limit(limit)
            .offset(offset)
        )
        return Page([_entry(row) for row in rows], total)

    async def of_kind(self, station_id: str, kind: str) -> list[StationLogEntry]:
        rows = await self._session.scalars(
            select(StationLogRow)
            .where(col(StationLogRow.station_id) == station_id, col(StationLogRow.kind) == kind)
            .order_by(col(StationLogRow.id))
        )
        return [_entry(row) for row in rows]
