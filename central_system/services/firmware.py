"""Firmware campaigns: UpdateFirmware rolled out to many stations with retries, each station's
progress tracked from its FirmwareStatusNotifications (1.6 TC_044_1-3, 1.6 security extension
TC_080/TC_081, 2.0.1 L01-L02 TC_L_01-TC_L_13), and PublishFirmware / UnpublishFirmware to a local
controller (2.0.1 L03/L04, TC_L_17-TC_L_24).

Jobs are sent by `run_due` (the central system calls it periodically) to stations connected to
this process; a station that is offline gets its job once it is back. `run_job` sends one job at
once (the REST API's single-station update).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from central_system.domain import firmware as rules
from central_system.domain.firmware import (
    CampaignStatus,
    FirmwareCampaign,
    FirmwareJob,
    FirmwareRequest,
    JobStatus,
    RetryPolicy,
)
from central_system.services.errors import Conflict, InvalidRequest, NotFound
from central_system.services.maintenance_ports import FirmwareControl, StationLogEntry
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

PUBLISH_REQUESTED = "PublishFirmware"
UNPUBLISH_REQUESTED = "UnpublishFirmware"
PUBLISH_STATUS = "PublishFirmwareStatusNotification"
PUBLICATION_KINDS = (PUBLISH_REQUESTED, UNPUBLISH_REQUESTED, PUBLISH_STATUS)


class Connectivity(Protocol):
    def is_connected(self, station_id: str) -> bool: ...


class RequestIds(Protocol):
    def integer(self) -> int:
        """A positive 31-bit integer (an OCPP requestId)."""
        ...


class FirmwareService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        control: FirmwareControl,
        connectivity: Connectivity,
        ids: RequestIds,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._control = control
        self._connectivity = connectivity
        self._ids = ids
        self._sending: set[int] = set()

    # --- campaigns -----------------------------------------------------------------------------

    async def start_campaign(
        self,
        station_ids: Sequence[str],
        request: FirmwareRequest,
        policy: RetryPolicy,
        *,
        created_by: str | None = None,
    ) -> FirmwareCampaign:
        """A campaign with a Pending job per station; jobs go out on the next `run_due`."""
        campaign, _ = await self._create(station_ids, request, policy, created_by, claim=False)
        return campaign

    async def _create(
        self,
        station_ids: Sequence[str],
        request: FirmwareRequest,
        policy: RetryPolicy,
        created_by: str | None,
        *,
        claim: bool,
    ) -> tuple[FirmwareCampaign, list[FirmwareJob]]:
        """Store the campaign; `claim`: its jobs are sent by the caller, not by `run_due`."""
        if not station_ids:
            raise InvalidRequest("a campaign needs at least one station")
        try:
            rules.validate_request(request)
        except ValueError as error:
            raise InvalidRequest(str(error)) from None
        now = self._clock.now()
        async with self._uow() as uow:
            for station_id in station_ids:
                if await uow.stations.get(station_id) is None:
                    raise NotFound(f"no station {station_id}")
            campaign = await uow.firmware.add_campaign(
                FirmwareCampaign(
                    id=0, request=request, policy=policy, created_by=created_by, created_at=now
                ),
                station_ids,
            )
            jobs = await uow.firmware.jobs(campaign.id)
            if claim:
                jobs = [rules.sent(job, now) for job in jobs]
                for job in jobs:
                    await uow.firmware.save_job(job)
            await uow.commit()
        log.info("firmware campaign %s: %d stations", campaign.id, len(jobs))
        return campaign, jobs

    async def update_station(
        self,
        station_id: str,
        request: FirmwareRequest,
        policy: RetryPolicy,
        *,
        created_by: str | None = None,
    ) -> tuple[FirmwareJob, CommandOutcome | None]:
        """Update one station now: a campaign of one whose job is sent at once (later attempts
        go like a campaign's). Raises the station errors (StationOffline, ...) after recording
        them on the job."""
        campaign, (job,) = await self._create([station_id], request, policy, created_by, claim=True)
        self._sending.add(job.id)
        try:
            return await self._deliver(job, campaign, raise_errors=True)
        finally:
            self._sending.discard(job.id)

    async def cancel_campaign(self, campaign_id: int) -> FirmwareCampaign:
        """Stop sending: Pending jobs are cancelled. Updates a station already took cannot be
        recalled through OCPP; they stay tracked until they end."""
        now = self._clock.now()
        async with self._uow() as uow:
            campaign = await uow.firmware.get_campaign(campaign_id)
            if campaign is None:
                raise NotFound(f"no firmware campaign {campaign_id}")
            if campaign.status is not CampaignStatus.RUNNING:
                raise Conflict(f"the campaign is {campaign.status.value}")
            for job in await uow.firmware.jobs(campaign_id):
                if job.status == JobStatus.PENDING:
                    await uow.firmware.save_job(rules.cancelled(job, now, "campaign cancelled"))
            campaign = replace(campaign, status=CampaignStatus.CANCELLED)
            await uow.firmware.save_campaign(campaign)
            await uow.commit()
        return campaign

    async def campaign(self, campaign_id: int) -> tuple[FirmwareCampaign, list[FirmwareJob]]:
        async with self._uow() as uow:
            campaign = await uow.firmware.get_campaign(campaign_id)
            if campaign is None:
                raise NotFound(f"no firmware campaign {campaign_id}")
            return campaign, await uow.firmware.jobs(campaign_id)

    async def campaigns(
        self, *, created_by: str | None = None, limit: int, offset: int
    ) -> Page[FirmwareCampaign]:
        async with self._uow() as uow:
            return await uow.firmware.list_campaigns(
                created_by=created_by, limit=limit, offset=offset
            )

    async def station_jobs(self, station_id: str) -> list[FirmwareJob]:
        async with self._uow() as uow:
            return await uow.firmware.jobs_for_station(station_id)

    # --- sending -------------------------------------------------------------------------------

    async def run_due(self) -> int:
        """Send every due job whose station is connected here; returns how many were sent.
        Looks for them without SQLite's write lock (every 30 s it would hold up the
        group-commit writer); sending a job takes it."""
        now = self._clock.now()
        async with self._uow.reading() as uow:
            jobs = await uow.firmware.due_jobs(now)
        sent = 0
        for job in jobs:
            if job.id in self._sending or not self._connectivity.is_connected(job.station_id):
                continue
            try:
                await self.run_job(job.id)
            except Exception:  # one station's failure must not stop the others
                log.exception("%s: firmware job %s failed", job.station_id, job.id)
            sent += 1
        return sent

    async def run_job(
        self, job_id: int, *, raise_errors: bool = False
    ) -> tuple[FirmwareJob, CommandOutcome | None]:
        """Send one Pending job and apply the station's answer."""
        if job_id in self._sending:
            raise Conflict(f"firmware job {job_id} is being sent")
        self._sending.add(job_id)
        try:
            return await self._run_job(job_id, raise_errors)
        finally:
            self._sending.discard(job_id)

    async def _run_job(
        self, job_id: int, raise_errors: bool
    ) -> tuple[FirmwareJob, CommandOutcome | None]:
        async with self._uow() as uow:
            job = await uow.firmware.get_job(job_id, for_update=True)
            if job is None:
                raise NotFound(f"no firmware job {job_id}")
            campaign = await uow.firmware.get_campaign(job.campaign_id)
            assert campaign is not None
            if job.status != JobStatus.PENDING or campaign.status is not CampaignStatus.RUNNING:
                return job, None
            job = rules.sent(job, self._clock.now())
            await uow.firmware.save_job(job)
            await uow.commit()
        return await self._deliver(job, campaign, raise_errors=raise_errors)

    async def _deliver(
        self, job: FirmwareJob, campaign: FirmwareCampaign, *, raise_errors: bool
    ) -> tuple[FirmwareJob, CommandOutcome | None]:
        """Send a job already marked Sent and apply the answer."""
        error: Exception | None = None
        outcome: CommandOutcome | None = None
        try:
            outcome = await self._control.update_firmware(job.station_id, job.id, campaign.request)
        except (StationOffline, StationCallTimeout, StationCallError, ValueError) as failure:
            error = failure
        job = await self._after_send(job.id, campaign.policy, outcome, error)
        if error is not None and raise_errors:
            raise error
        return job, outcome

    async def _after_send(
        self,
        job_id: int,
        policy: RetryPolicy,
        outcome: CommandOutcome | None,
        error: Exception | None,
    ) -> FirmwareJob:
        now = self._clock.now()
        async with self._uow() as uow:
            job = await uow.firmware.get_job(job_id, for_update=True)
            assert job is not None
            if error is not None:
                reason = _describe(error)
                log.warning("%s: firmware job %s not delivered: %s", job.station_id, job.id, reason)
                if job.status == JobStatus.SENT:
                    job = rules.not_delivered(
                        job, reason, policy, now, offline=isinstance(error, StationOffline)
                    )
            else:
                assert outcome is not None
                job = rules.answered(job, outcome.status, policy, now)
                if outcome.status == rules.REPLACED_OLDER:
                    await self._cancel_older(uow, job, now)
            await uow.firmware.save_job(job)
            await self._refresh_campaign(uow, job.campaign_id)
            await uow.commit()
        return job

    async def _cancel_older(self, uow: UnitOfWork, job: FirmwareJob, now: datetime) -> None:
        """AcceptedCanceled: the station dropped the update it was busy with (L01.FR.24)."""
        for other in await uow.firmware.jobs_for_station(job.station_id):
            if other.id != job.id and other.in_progress:
                await uow.firmware.save_job(
                    rules.cancelled(other, now, f"replaced by request {job.id}")
                )
                await self._refresh_campaign(uow, other.campaign_id)

    @staticmethod
    async def _refresh_campaign(uow: UnitOfWork, campaign_id: int) -> None:
        campaign = await uow.firmware.get_campaign(campaign_id)
        if campaign is None:
            return
        status = rules.campaign_status(campaign.status, await uow.firmware.jobs(campaign_id))
        if status is not campaign.status:
            await uow.firmware.save_campaign(replace(campaign, status=status))

    # --- station reports -----------------------------------------------------------------------

    async def status_reported(self, station_id: str, status: str, request_id: int | None) -> None:
        """FirmwareStatusNotification (1.6: no requestId, the station's current job),
        SignedFirmwareStatusNotification and 2.0.1 FirmwareStatusNotification (requestId)."""
        now = self._clock.now()
        async with self._uow() as uow:
            jobs = await uow.firmware.jobs_for_station(station_id)
            job = rules.job_for_report(jobs, request_id)
            if job is None:
                if status not in rules.NEUTRAL:
                    log.info("%s: firmware status %s for no known request", station_id, status)
                return
            job = await uow.firmware.get_job(job.id, for_update=True)
            assert job is not None
            campaign = await uow.firmware.get_campaign(job.campaign_id)
            assert campaign is not None
            updated = rules.reported(job, status, campaign.policy, now)
            if updated == job:
                return
            await uow.firmware.save_job(updated)
            await self._refresh_campaign(uow, job.campaign_id)
            await uow.commit()

    # --- publishing to a local controller (2.0.1 L03/L04) --------------------------------------

    async def publish(
        self, station_id: str, location: str, checksum: str
    ) -> tuple[int, CommandOutcome]:
        """PublishFirmware (TC_L_17-TC_L_20, TC_L_24): the local controller downloads the file,
        checks its MD5 and serves it to its stations; progress arrives as
        PublishFirmwareStatusNotification with the returned requestId."""
        if "://" not in location or len(location) > 512:
            raise InvalidRequest("the location must be a URL of at most 512 characters")
        if not rules.valid_checksum(checksum):
            raise InvalidRequest("the checksum is the file's MD5 as 32 hexadecimal digits")
        request_id = self._ids.integer()
        outcome = await self._control.publish_firmware(station_id, request_id, location, checksum)
        await self._log(
            station_id,
            PUBLISH_REQUESTED,
            {
                "requestId": request_id,
                "location": location,
                "checksum": checksum.lower(),
                "status": outcome.status,
            },
        )
        return request_id, outcome

    async def unpublish(self, station_id: str, checksum: str) -> CommandOutcome:
        """UnpublishFirmware (TC_L_21-TC_L_23): Unpublished, NoFirmware or DownloadOngoing."""
        if not rules.valid_checksum(checksum):
            raise InvalidRequest("the checksum is the file's MD5 as 32 hexadecimal digits")
        outcome = await self._control.unpublish_firmware(station_id, checksum)
        await self._log(
            station_id,
            UNPUBLISH_REQUESTED,
            {"checksum": checksum.lower(), "status": outcome.status},
        )
        return outcome

    async def publications(self, station_id: str, *, limit: int = 50) -> list[StationLogEntry]:
        """Publish/unpublish requests and the controller's reports, newest first."""
        async with self._uow() as uow:
            page = await uow.station_events.search(
                kinds=PUBLICATION_KINDS, station_id=station_id, since=None, limit=limit, offset=0
            )
        return page.items

    async def _log(self, station_id: str, kind: str, data: dict[str, Any]) -> None:
        async with self._uow() as uow:
            await uow.station_log.add(station_id, kind, self._clock.now(), data)
            await uow.commit()


def _describe(error: Exception) -> str:
    if isinstance(error, StationOffline):
        return "offline"
    if isinstance(error, StationCallTimeout):
        return "no answer"
    if isinstance(error, StationCallError):
        return f"CALLERROR {error.code}"
    return f"invalid request: {error}"
