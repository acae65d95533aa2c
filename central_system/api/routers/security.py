"""Security of a station: a new Basic-auth password (TC_073, TC_A_09/TC_A_10), a higher
security profile (TC_083, TC_A_19), certificates on the station (TC_075, TC_076, M01-M05),
renewal of its own certificate (TC_074, TC_A_11-14) and its security events (TC_077, TC_078)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from central_system.api import convert
from central_system.api import maintenance_schemas as m
from central_system.api import schemas as s
from central_system.api.control_common import audited
from central_system.api.deps import Admin, Ctx, Operator, Pages
from central_system.api.problems import error_responses
from central_system.domain.security_flows import CertificateHashData, CertificateUse
from central_system.domain.stations import SecurityProfile
from central_system.services.errors import InvalidRequest
from central_system.services.maintenance_ports import StationLogEntry
from central_system.services.security import SECURITY_EVENT

router = APIRouter(prefix="/api/v1", tags=["security"])

StationPath = Annotated[str, Path(min_length=1, max_length=48, description="Station id")]
COMMAND_ERRORS = error_responses(401, 403, 404, 409, 422, 502, 504)
READ_ERRORS = error_responses(401, 403, 404, 422)


def event_out(entry: StationLogEntry) -> m.SecurityEventOut:
    from_station = entry.kind == SECURITY_EVENT
    tech_info = entry.data.get("techInfo") if from_station else None
    return m.SecurityEventOut(
        station_id=entry.station_id,
        source="station" if from_station else "central_system",
        type=entry.data.get("type"),
        at=entry.at,
        tech_info=str(tech_info) if tech_info is not None else None,
        data=entry.data,
    )


@router.post(
    "/stations/{station_id}/security/password",
    response_model=s.CommandOut,
    summary="Give the station a new random Basic-auth password",
    responses=COMMAND_ERRORS,
)
async def rotate_password(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath
) -> s.CommandOut:
    """1.6 ChangeConfiguration AuthorizationKey, 2.x SetVariables
    SecurityCtrlr.BasicAuthPassword. The central system keeps the new password only when the
    station accepted it; the password itself is never shown."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.security.rotate_password(station_id)
    outcome = await audited(request, ctx, caller, station_id, "rotate-password", call)
    return s.CommandOut.of(outcome)


@router.post(
    "/stations/{station_id}/security/profile",
    response_model=m.ProfileOut,
    summary="Move the station to a higher security profile",
    responses=COMMAND_ERRORS,
)
async def upgrade_profile(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: m.ProfileIn
) -> m.ProfileOut:
    """1.6 ChangeConfiguration SecurityProfile; 2.x SetNetworkProfile, NetworkConfigurationPriority
    and Reset. The station's profile changes when it reconnects with the new one; until then
    it may still connect with the old one."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.security.upgrade_profile(
        station_id,
        SecurityProfile(body.profile),
        csms_url=body.csms_url,
        configuration_slot=body.configuration_slot,
    )
    steps = await audited(
        request, ctx, caller, station_id, "security-profile", call, {"profile": body.profile}
    )
    record = await ctx.stations.get(station_id)
    current = int(record.security_profile) if record else 0
    return m.ProfileOut(
        current_profile=current,
        target_profile=body.profile,
        pending=all(outcome.accepted for _, outcome in steps) and current != body.profile,
        steps=[
            m.ProfileStep(action=action, status=outcome.status, response=outcome.payload)
            for action, outcome in steps
        ],
    )


@router.get(
    "/stations/{station_id}/security/events",
    response_model=s.PageOut[m.SecurityEventOut],
    responses=READ_ERRORS,
)
async def station_events(
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    pages: Pages,
    since: Annotated[datetime | None, Query(description="Only events from this time")] = None,
) -> s.PageOut[m.SecurityEventOut]:
    """The station's SecurityEventNotifications and what the central system recorded about it
    (refused connections, password and profile changes), newest first."""
    await ctx.catalog.manageable(caller, station_id)
    found = await ctx.core.security.events(
        station_id=station_id, since=since, limit=pages.limit, offset=pages.offset
    )
    return convert.page([event_out(e) for e in found.items], found, pages.limit, pages.offset)


@router.get(
    "/security/events",
    response_model=s.PageOut[m.SecurityEventOut],
    responses=error_responses(401, 403, 422),
)
async def all_events(
    ctx: Ctx,
    caller: Admin,
    pages: Pages,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    since: Annotated[datetime | None, Query()] = None,
) -> s.PageOut[m.SecurityEventOut]:
    """Security events of every station (admins), newest first."""
    found = await ctx.core.security.events(
        station_id=station_id, since=since, limit=pages.limit, offset=pages.offset
    )
    return convert.page([event_out(e) for e in found.items], found, pages.limit, pages.offset)


@router.post(
    "/stations/{station_id}/certificates",
    response_model=s.CommandOut,
    summary="Install a root certificate on the station (InstallCertificate)",
    responses=COMMAND_ERRORS,
)
async def install_certificate(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    body: m.InstallCertificateIn,
) -> s.CommandOut:
    await ctx.catalog.manageable(caller, station_id)
    use = CertificateUse.parse(body.certificate_type)
    call = ctx.core.security.install_certificate(station_id, use, body.certificate)
    outcome = await audited(
        request, ctx, caller, station_id, "install-certificate", call, {"type": use.value}
    )
    return s.CommandOut.of(outcome)


@router.get(
    "/stations/{station_id}/certificates",
    response_model=s.CommandOut,
    summary="The certificates installed on the station (GetInstalledCertificateIds)",
    responses=COMMAND_ERRORS,
)
async def installed_certificates(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    certificate_type: Annotated[list[str] | None, Query(max_length=5)] = None,
) -> s.CommandOut:
    """`certificate_type` may repeat; none asks for every type (2.x V2GCertificateChain too)."""
    await ctx.catalog.manageable(caller, station_id)
    try:
        uses = [CertificateUse.parse(name) for name in certificate_type or []]
    except ValueError as error:
        raise InvalidRequest(f"unknown certificate type: {error}") from None
    call = ctx.core.security.installed_certificates(station_id, uses)
    outcome = await audited(request, ctx, caller, station_id, "installed-certificates", call)
    return s.CommandOut.of(outcome)


@router.post(
    "/stations/{station_id}/certificates/delete",
    response_model=s.CommandOut,
    summary="Delete a certificate from the station (DeleteCertificate)",
    responses=COMMAND_ERRORS,
)
async def delete_certificate(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    body: m.DeleteCertificateIn,
) -> s.CommandOut:
    await ctx.catalog.manageable(caller, station_id)
    if body.hash_data is not None:
        data = body.hash_data
        hash_data = CertificateHashData(
            data.hash_algorithm, data.issuer_name_hash, data.issuer_key_hash, data.serial_number
        )
    elif body.certificate is not None:
        hash_data = ctx.core.security.hash_data(body.certificate, body.issuer_certificate)
    else:
        raise InvalidRequest("give hash_data or the certificate")
    call = ctx.core.security.delete_certificate(station_id, hash_data)
    outcome = await audited(
        request,
        ctx,
        caller,
        station_id,
        "delete-certificate",
        call,
        {"serial_number": hash_data.serial_number},
    )
    return s.CommandOut.of(outcome)


@router.post(
    "/stations/{station_id}/certificates/renew",
    response_model=s.CommandOut,
    summary="Ask the station to renew its certificate now",
    responses=COMMAND_ERRORS,
)
async def renew_certificate(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: m.RenewIn
) -> s.CommandOut:
    """1.6 ExtendedTriggerMessage SignChargePointCertificate; 2.x TriggerMessage
    SignChargingStationCertificate / SignV2GCertificate / SignCombinedCertificate. The station
    then sends SignCertificate and gets the signed certificate with CertificateSigned."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.security.renew_certificate(station_id, body.certificate_type)
    outcome = await audited(request, ctx, caller, station_id, "renew-certificate", call)
    return s.CommandOut.of(outcome)


@router.get(
    "/stations/{station_id}/certificates/issued",
    response_model=list[dict[str, object]],
    summary="Certificates the central system's CA signed for the station, with expiry",
    responses=READ_ERRORS,
)
async def issued_certificates(
    ctx: Ctx, caller: Operator, station_id: StationPath
) -> list[dict[str, object]]:
    await ctx.catalog.manageable(caller, station_id)
    return await ctx.core.security.issued_certificates(station_id)
