"""Firmware: campaigns over many stations with retries and per-station status (TC_044, TC_080,
TC_081, L01-L02), a single station's update answered with its real reply, and publishing firmware
on a local controller (2.x L03/L04)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from central_system.api import convert
from central_system.api import maintenance_schemas as m
from central_system.api import schemas as s
from central_system.api.control_common import audited
from central_system.api.deps import Ctx, Operator, Pages
from central_system.api.problems import error_responses
from central_system.domain.accounts import Principal
from central_system.domain.firmware import (
    FirmwareCampaign,
    FirmwareJob,
    FirmwareRequest,
    RetryPolicy,
)
from central_system.services.maintenance_ports import StationLogEntry

router = APIRouter(prefix="/api/v1", tags=["firmware"])

StationPath = Annotated[str, Path(min_length=1, max_length=48, description="Station id")]
CampaignPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
COMMAND_ERRORS = error_responses(401, 403, 404, 409, 422, 502, 504)


def job_out(job: FirmwareJob) -> m.FirmwareJobOut:
    return m.FirmwareJobOut(
        id=job.id,
        campaign_id=job.campaign_id,
        station_id=job.station_id,
        status=job.status,
        attempts=job.attempts,
        last_error=job.last_error,
        next_attempt_at=job.next_attempt_at,
        updated_at=job.updated_at,
    )


def campaign_out(
    campaign: FirmwareCampaign, jobs: list[FirmwareJob], *, with_jobs: bool
) -> m.CampaignOut:
    request = campaign.request
    return m.CampaignOut(
        id=campaign.id,
        location=request.location,
        retrieve_at=request.retrieve_at,
        signed=request.signed,
        retries=campaign.policy.retries,
        retry_interval_s=int(campaign.policy.interval.total_seconds()),
        status=campaign.status.value,
        created_at=campaign.created_at,
        created_by=campaign.created_by,
        summary=dict(Counter(str(job.status) for job in jobs)),
        jobs=[job_out(job) for job in jobs] if with_jobs else None,
    )


def entry_out(entry: StationLogEntry) -> m.StationLogEntryOut:
    return m.StationLogEntryOut(
        station_id=entry.station_id, kind=entry.kind, at=entry.at, data=entry.data
    )


def _request(ctx: Ctx, body: m.FirmwareIn) -> tuple[FirmwareRequest, RetryPolicy]:
    request = FirmwareRequest(
        location=body.location,
        retrieve_at=body.retrieve_at or ctx.stations.now(),
        signing_certificate=body.signing_certificate,
        signature=body.signature,
    )
    return request, RetryPolicy(body.retries, timedelta(seconds=body.retry_interval_s))


async def _may_see(ctx: Ctx, caller: Principal, jobs: list[FirmwareJob]) -> None:
    """An owner sees a campaign only when every station in it is theirs."""
    for station_id in {job.station_id for job in jobs}:
        await ctx.catalog.manageable(caller, station_id)


@router.post(
    "/firmware/campaigns",
    response_model=m.CampaignOut,
    status_code=status.HTTP_201_CREATED,
    summary="Start a firmware campaign over many stations",
    responses=error_responses(401, 403, 404, 422),
)
async def start_campaign(
    request: Request, ctx: Ctx, caller: Operator, body: m.CampaignIn
) -> m.CampaignOut:
    """A job per station is sent to each connected station within
    EVCHARGE_FIRMWARE_CHECK_INTERVAL seconds, to an offline station once it connects; a failed
    station (Rejected, DownloadFailed, InstallationFailed, InvalidSignature, no answer ...) is
    tried again after `retry_interval_s`, `retries` times."""
    for station_id in body.station_ids:
        await ctx.catalog.manageable(caller, station_id)
    firmware, policy = _request(ctx, body)
    campaign = await ctx.core.firmware.start_campaign(
        body.station_ids, firmware, policy, created_by=caller.user_id
    )
    await ctx.audit.record(
        "firmware.campaign",
        "started",
        actor_id=caller.user_id,
        target=str(campaign.id),
        details={"stations": len(body.station_ids), "location": body.location},
    )
    _, jobs = await ctx.core.firmware.campaign(campaign.id)
    return campaign_out(campaign, jobs, with_jobs=True)


@router.get(
    "/firmware/campaigns",
    response_model=s.PageOut[m.CampaignOut],
    responses=error_responses(401, 403, 422),
)
async def list_campaigns(ctx: Ctx, caller: Operator, pages: Pages) -> s.PageOut[m.CampaignOut]:
    """Admins see every campaign; owners the campaigns they started."""
    found = await ctx.core.firmware.campaigns(
        created_by=None if caller.is_admin else caller.user_id,
        limit=pages.limit,
        offset=pages.offset,
    )
    items = []
    for campaign in found.items:
        _, jobs = await ctx.core.firmware.campaign(campaign.id)
        items.append(campaign_out(campaign, jobs, with_jobs=False))
    return convert.page(items, found, pages.limit, pages.offset)


@router.get(
    "/firmware/campaigns/{campaign_id}",
    response_model=m.CampaignOut,
    responses=error_responses(401, 403, 404, 422),
)
async def get_campaign(ctx: Ctx, caller: Operator, campaign_id: CampaignPath) -> m.CampaignOut:
    """The campaign with every station's job: status, attempts, last error, next attempt."""
    campaign, jobs = await ctx.core.firmware.campaign(campaign_id)
    await _may_see(ctx, caller, jobs)
    return campaign_out(campaign, jobs, with_jobs=True)


@router.post(
    "/firmware/campaigns/{campaign_id}/cancel",
    response_model=m.CampaignOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def cancel_campaign(ctx: Ctx, caller: Operator, campaign_id: CampaignPath) -> m.CampaignOut:
    """Jobs not sent yet are cancelled; updates stations already took go on and stay tracked."""
    _, jobs = await ctx.core.firmware.campaign(campaign_id)
    await _may_see(ctx, caller, jobs)
    campaign = await ctx.core.firmware.cancel_campaign(campaign_id)
    await ctx.audit.record(
        "firmware.campaign", "cancelled", actor_id=caller.user_id, target=str(campaign_id)
    )
    _, jobs = await ctx.core.firmware.campaign(campaign_id)
    return campaign_out(campaign, jobs, with_jobs=True)


@router.post(
    "/stations/{station_id}/firmware",
    response_model=m.FirmwareUpdateOut,
    status_code=status.HTTP_201_CREATED,
    summary="Update one station's firmware now",
    responses=COMMAND_ERRORS,
)
async def update_station(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: m.FirmwareIn
) -> m.FirmwareUpdateOut:
    """UpdateFirmware (1.6; SignedUpdateFirmware with a signing certificate and signature) or
    2.x UpdateFirmware, sent at once; the answer is the station's. The job then follows the
    station's FirmwareStatusNotifications and is retried like a campaign's."""
    await ctx.catalog.manageable(caller, station_id)
    firmware, policy = _request(ctx, body)
    call = ctx.core.firmware.update_station(station_id, firmware, policy, created_by=caller.user_id)
    job, outcome = await audited(
        request, ctx, caller, station_id, "update-firmware", call, {"location": body.location}
    )
    answer = s.CommandOut.of(outcome) if outcome else None
    return m.FirmwareUpdateOut(job=job_out(job), station_answer=answer)


@router.get(
    "/stations/{station_id}/firmware",
    response_model=m.StationFirmwareOut,
    responses=error_responses(401, 403, 404, 422),
)
async def station_firmware(
    ctx: Ctx, caller: Operator, station_id: StationPath
) -> m.StationFirmwareOut:
    await ctx.catalog.manageable(caller, station_id)
    record = await ctx.stations.get(station_id)
    jobs = await ctx.core.firmware.station_jobs(station_id)
    return m.StationFirmwareOut(
        station_id=station_id,
        firmware_status=record.firmware_status if record else None,
        jobs=[job_out(job) for job in jobs],
    )


@router.post(
    "/stations/{station_id}/firmware/publication",
    response_model=m.PublishOut,
    summary="Publish firmware on a local controller (2.x PublishFirmware)",
    responses=COMMAND_ERRORS,
)
async def publish(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: m.PublishIn
) -> m.PublishOut:
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.firmware.publish(station_id, body.location, body.checksum)
    request_id, outcome = await audited(request, ctx, caller, station_id, "publish-firmware", call)
    return m.PublishOut(request_id=request_id, status=outcome.status, response=outcome.payload)


@router.post(
    "/stations/{station_id}/firmware/publication/unpublish",
    response_model=s.CommandOut,
    summary="Unpublish firmware from a local controller (2.x UnpublishFirmware)",
    responses=COMMAND_ERRORS,
)
async def unpublish(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: m.UnpublishIn
) -> s.CommandOut:
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.firmware.unpublish(station_id, body.checksum)
    outcome = await audited(request, ctx, caller, station_id, "unpublish-firmware", call)
    return s.CommandOut.of(outcome)


@router.get(
    "/stations/{station_id}/firmware/publication",
    response_model=list[m.StationLogEntryOut],
    responses=error_responses(401, 403, 404, 422),
)
async def publications(
    ctx: Ctx, caller: Operator, station_id: StationPath
) -> list[m.StationLogEntryOut]:
    """Publish and unpublish requests and the controller's PublishFirmwareStatusNotifications,
    newest first."""
    await ctx.catalog.manageable(caller, station_id)
    return [entry_out(e) for e in await ctx.core.firmware.publications(station_id)]
