"""Diagnostics and log files: ask a station for one (1.6 GetDiagnostics TC_045_1/2, GetLog of
the 1.6 security extension TC_079 and 2.0.1 N01 TC_N_25/34/35/36), receive its upload at a URL
with an unguessable per-request token, and track the request from the station's answer and its
DiagnosticsStatusNotification / LogStatusNotification."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from central_system.domain import log_uploads as rules
from central_system.domain.log_uploads import LogRequest, LogType, RequestStatus
from central_system.services.errors import Conflict, InvalidRequest, NotFound
from central_system.services.maintenance_ports import LogControl
from central_system.services.ports import (
    Clock,
    CommandOutcome,
    Page,
    StationCallError,
    StationCallTimeout,
    StationOffline,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)


class UploadTokens(Protocol):
    def url_token(self) -> str:
        """An unguessable URL-safe token of at most 64 characters."""
        ...


class LogUploadService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        control: LogControl,
        tokens: UploadTokens,
        upload_url: Callable[[str], str],
    ) -> None:
        """`upload_url(token)` is the URL stations upload to (the API's public address)."""
        self._uow = uow
        self._clock = clock
        self._control = control
        self._tokens = tokens
        self._upload_url = upload_url

    async def request(
        self,
        station_id: str,
        log_type: LogType,
        *,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        retries: int | None = None,
        retry_interval: int | None = None,
    ) -> tuple[LogRequest, CommandOutcome]:
        """Send GetDiagnostics / GetLog and record the answer. Station errors are raised after
        the request is recorded as not delivered; ValueError when the version lacks it."""
        if oldest is not None and latest is not None and oldest > latest:
            raise InvalidRequest("the oldest time is after the latest")
        async with self._uow() as uow:
            if await uow.stations.get(station_id) is None:
                raise NotFound(f"no station {station_id}")
            request = await uow.log_requests.add(
                LogRequest(
                    id=0,
                    station_id=station_id,
                    log_type=log_type,
                    upload_token=self._tokens.url_token(),
                    status=RequestStatus.REQUESTED,
                    requested_at=self._clock.now(),
                )
            )
            await uow.commit()
        try:
            outcome = await self._control.request_log(
                station_id,
                request_id=request.id,
                log_type=log_type,
                location=self._upload_url(request.upload_token),
                oldest=oldest,
                latest=latest,
                retries=retries,
                retry_interval=retry_interval,
            )
        except (StationOffline, StationCallTimeout, StationCallError, ValueError):
            await self._set_status(request.id, RequestStatus.NOT_DELIVERED)
            raise
        request = await self._answered(request.id, outcome)
        return request, outcome

    async def _answered(self, request_id: int, outcome: CommandOutcome) -> LogRequest:
        payload = outcome.payload
        reported_name = payload.get("fileName") or payload.get("filename")
        async with self._uow() as uow:
            request = await uow.log_requests.get(request_id)
            assert request is not None
            status = rules.status_after_answer(request.log_type, outcome.status, reported_name)
            file_name = request.file_name
            if reported_name:
                file_name = rules.safe_file_name(str(reported_name), f"{request.log_type}.log")
            if request.status == RequestStatus.REQUESTED or status != RequestStatus.ACCEPTED:
                # a progress report that overtook the answer is kept
                request = replace(request, status=status)
            request = replace(request, file_name=file_name)
            await uow.log_requests.save(request)
            if outcome.status == rules.REPLACED_OLDER:
                await self._cancel_older(uow, request)
            await uow.commit()
        return request

    @staticmethod
    async def _cancel_older(uow: UnitOfWork, request: LogRequest) -> None:
        """AcceptedCanceled (TC_N_36): the station dropped the upload it was busy with."""
        for other in await uow.log_requests.recent(request.station_id):
            if other.id != request.id and other.open and other.uploaded_at is None:
                await uow.log_requests.save(replace(other, status=RequestStatus.CANCELLED))

    async def _set_status(self, request_id: int, status: str) -> None:
        async with self._uow() as uow:
            request = await uow.log_requests.get(request_id)
            if request is not None:
                await uow.log_requests.save(replace(request, status=status))
                await uow.commit()

    async def status_reported(
        self, station_id: str, status: str, request_id: int | None, *, diagnostics: bool
    ) -> LogRequest | None:
        """DiagnosticsStatusNotification (`diagnostics`, no requestId) or
        LogStatusNotification (requestId where the station gives one)."""
        async with self._uow() as uow:
            requests = await uow.log_requests.recent(station_id)
            request = rules.request_for_report(requests, request_id, diagnostics=diagnostics)
            if request is None and request_id is not None:
                found = await uow.log_requests.get(request_id)
                request = found if found and found.station_id == station_id else None
            if request is None:
                if status not in rules.NEUTRAL_REPORTS:
                    log.info("%s: log status %s for no known request", station_id, status)
                return None
            new_status = rules.status_after_report(request, status)
            if new_status != request.status:
                request = replace(request, status=new_status)
                await uow.log_requests.save(request)
                await uow.commit()
        return request

    # --- uploads -------------------------------------------------------------------------------

    async def upload_target(self, token: str) -> LogRequest:
        """The request an upload with `token` belongs to; NotFound for an unknown token,
        Conflict when it takes no file (refused, replaced, or the file already arrived)."""
        async with self._uow() as uow:
            request = await uow.log_requests.by_token(token)
        if request is None:
            raise NotFound("no upload is expected at this address")
        if not request.accepts_upload:
            raise Conflict("this upload address takes no (further) file")
        return request

    async def uploaded(
        self, request_id: int, *, file_name: str, stored_path: str, size_bytes: int
    ) -> LogRequest:
        """The file arrived whole: the request is Uploaded."""
        async with self._uow() as uow:
            request = await uow.log_requests.get(request_id)
            if request is None:
                raise NotFound(f"no log request {request_id}")
            request = replace(
                request,
                status=RequestStatus.UPLOADED,
                file_name=file_name,
                stored_path=stored_path,
                size_bytes=size_bytes,
                uploaded_at=self._clock.now(),
            )
            await uow.log_requests.save(request)
            await uow.commit()
        log.info("%s: %s uploaded (%d bytes)", request.station_id, file_name, size_bytes)
        return request

    async def get(self, station_id: str, request_id: int) -> LogRequest:
        async with self._uow() as uow:
            request = await uow.log_requests.get(request_id)
        if request is None or request.station_id != station_id:
            raise NotFound(f"no log request {request_id} of station {station_id}")
        return request

    async def list(self, station_id: str, *, limit: int, offset: int) -> Page[LogRequest]:
        async with self._uow() as uow:
            return await uow.log_requests.for_station(station_id, limit=limit, offset=offset)
