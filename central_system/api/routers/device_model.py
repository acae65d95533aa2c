"""A station's configuration: the stored 2.0.1 device model and 1.6 configuration keys, reports,
reading and setting variables, monitors and network profiles, each answered with the station's
own reply (B05-B09, N02-N07; TC_019, TC_021, TC_040)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from central_system.api.control_common import (
    ComponentIn,
    MonitorIn,
    MonitorOut,
    MonitorResultOut,
    MonitorsAnswerOut,
    ReportOut,
    StationPath,
    VariableIn,
    VariableMonitorsOut,
    VariableOut,
    VariableResultOut,
    VariablesAnswerOut,
    VariableSetIn,
    audited,
    ref_fields,
)
from central_system.api.deps import Ctx, Operator
from central_system.api.problems import error_responses
from central_system.api.schemas import CommandOut
from central_system.domain.device_model import MonitorRequest, VariableRequest, VariableValue
from central_system.services.control_ports import NetworkProfile, VariableAnswer
from central_system.services.errors import InvalidRequest

router = APIRouter(prefix="/api/v1/stations/{station_id}", tags=["device model"])

ERRORS = error_responses(401, 403, 404, 409, 422, 502, 504)
READ_ERRORS = error_responses(401, 403, 404, 422)


def _variable(value: VariableValue) -> VariableOut:
    return VariableOut(
        **ref_fields(value.ref),
        attribute_type=value.attribute_type,
        value=value.value,
        mutability=value.mutability,
        data_type=value.data_type,
        unit=value.unit,
        characteristics=dict(value.characteristics),
        updated_at=value.updated_at,
    )


def _variables_answer(answer: VariableAnswer) -> VariablesAnswerOut:
    return VariablesAnswerOut(
        results=[
            VariableResultOut(
                **ref_fields(r.ref), attribute_type=r.attribute_type, status=r.status, value=r.value
            )
            for r in answer.results
        ],
        response=answer.payload,
    )


@router.get(
    "/device-model",
    response_model=list[VariableOut],
    summary="The stored device model (2.0.1) or configuration keys (1.6, component "
    "OCPP16Configuration)",
    responses=READ_ERRORS,
)
async def device_model(
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    component: Annotated[str | None, Query(max_length=50)] = None,
    variable: Annotated[str | None, Query(max_length=50)] = None,
) -> list[VariableOut]:
    """What the station reported (NotifyReport, GetConfiguration) and the values it took."""
    await ctx.catalog.manageable(caller, station_id)
    values = await ctx.core.device_model.values(station_id, component=component, variable=variable)
    return [_variable(v) for v in values]


class ReportIn(BaseModel):
    base: Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"] | None = Field(
        default=None, description="GetBaseReport; leave out for a custom GetReport."
    )
    criteria: Annotated[
        list[Literal["Active", "Available", "Enabled", "Problem"]], Field(max_length=4)
    ] = []
    components: Annotated[list[ComponentIn], Field(max_length=100)] = []


@router.post("/device-model/reports", response_model=ReportOut, responses=ERRORS)
async def request_report(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: ReportIn
) -> ReportOut:
    """GetBaseReport (TC_B_12-14) or GetReport (TC_B_18); the report arrives as NotifyReport
    messages and is stored (a FullInventory replaces the stored model)."""
    await ctx.catalog.manageable(caller, station_id)
    if body.base is not None and (body.criteria or body.components):
        raise InvalidRequest("a base report has no criteria or components")
    if body.base is None and not (body.criteria or body.components):
        raise InvalidRequest("give a base, or criteria and/or components")
    call = ctx.core.device_model.request_report(
        station_id,
        base=body.base,
        criteria=body.criteria,
        variables=[c.ref() for c in body.components],
    )
    details = {"base": body.base} if body.base else {"criteria": body.criteria}
    result = await audited(request, ctx, caller, station_id, "report", call, details)
    return ReportOut(
        request_id=result.request_id, status=result.outcome.status, response=result.outcome.payload
    )


class VariablesGetIn(BaseModel):
    variables: Annotated[list[VariableIn], Field(min_length=1, max_length=100)]


class VariablesSetIn(BaseModel):
    variables: Annotated[list[VariableSetIn], Field(min_length=1, max_length=100)]


@router.post("/device-model/variables/get", response_model=VariablesAnswerOut, responses=ERRORS)
async def get_variables(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: VariablesGetIn
) -> VariablesAnswerOut:
    """GetVariables (TC_B_06/07), split by the station's ItemsPerMessage (TC_B_08); values read
    are stored."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.device_model.get_variables(
        station_id, [VariableRequest(v.ref(), v.attribute_type) for v in body.variables]
    )
    answer = await audited(request, ctx, caller, station_id, "get-variables", call)
    return _variables_answer(answer)


@router.post("/device-model/variables/set", response_model=VariablesAnswerOut, responses=ERRORS)
async def set_variables(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: VariablesSetIn
) -> VariablesAnswerOut:
    """SetVariables (TC_B_09/10); values the station took are stored."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.device_model.set_variables(
        station_id, [VariableRequest(v.ref(), v.attribute_type, v.value) for v in body.variables]
    )
    details = {"variables": [f"{v.component}.{v.variable}" for v in body.variables]}
    answer = await audited(request, ctx, caller, station_id, "set-variables", call, details)
    return _variables_answer(answer)


class ConfigurationKeyOut(BaseModel):
    key: str
    value: str | None
    readonly: bool


@router.get(
    "/configuration/stored",
    response_model=list[ConfigurationKeyOut],
    summary="The 1.6 configuration keys as the station last reported them",
    responses=READ_ERRORS,
)
async def stored_configuration(
    ctx: Ctx, caller: Operator, station_id: StationPath
) -> list[ConfigurationKeyOut]:
    """Kept from GetConfiguration answers (TC_019) and accepted ChangeConfiguration (TC_021);
    write-only keys (AuthorizationKey) without their value."""
    await ctx.catalog.manageable(caller, station_id)
    keys = await ctx.core.device_model.configuration(station_id)
    return [ConfigurationKeyOut(key=k.key, value=k.value, readonly=k.readonly) for k in keys]


# --- monitoring ------------------------------------------------------------------------------


@router.get("/monitors", response_model=list[VariableMonitorsOut], responses=READ_ERRORS)
async def monitors(
    ctx: Ctx, caller: Operator, station_id: StationPath
) -> list[VariableMonitorsOut]:
    """The stored monitors (from monitoring reports and accepted SetVariableMonitoring)."""
    await ctx.catalog.manageable(caller, station_id)
    found = await ctx.core.device_model.monitors(station_id)
    return [
        VariableMonitorsOut(
            **ref_fields(ref),
            monitors=[
                MonitorOut(
                    id=m.id,
                    type=m.type,
                    value=m.value,
                    severity=m.severity,
                    transaction=m.transaction,
                )
                for m in items
            ],
        )
        for ref, items in sorted(found.items())
    ]


class MonitorsIn(BaseModel):
    monitors: Annotated[list[MonitorIn], Field(min_length=1, max_length=100)]


@router.post("/monitors", response_model=MonitorsAnswerOut, responses=ERRORS)
async def set_monitors(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: MonitorsIn
) -> MonitorsAnswerOut:
    """SetVariableMonitoring (TC_N_08/09/24)."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.device_model.set_monitors(
        station_id,
        [
            MonitorRequest(m.ref(), m.type, m.value, m.severity, m.transaction, m.id)
            for m in body.monitors
        ],
    )
    answer = await audited(request, ctx, caller, station_id, "set-monitors", call)
    return MonitorsAnswerOut(
        results=[
            MonitorResultOut(
                **ref_fields(r.ref), status=r.status, type=r.type, severity=r.severity, id=r.id
            )
            for r in answer.results
        ],
        response=answer.payload,
    )


class ClearMonitorsIn(BaseModel):
    ids: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=1000)]


class ClearMonitorsOut(BaseModel):
    cleared: list[int]
    response: dict[str, Any]


@router.post("/monitors/clear", response_model=ClearMonitorsOut, responses=ERRORS)
async def clear_monitors(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: ClearMonitorsIn
) -> ClearMonitorsOut:
    """ClearVariableMonitoring, split by the station's ItemsPerMessage (TC_N_18, TC_N_44)."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.device_model.clear_monitors(station_id, body.ids)
    answer = await audited(
        request, ctx, caller, station_id, "clear-monitors", call, outcome=lambda a: "answered"
    )
    return ClearMonitorsOut(cleared=list(answer.cleared), response=answer.payload)


class MonitoringReportIn(BaseModel):
    criteria: Annotated[
        list[Literal["ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring"]],
        Field(max_length=3),
    ] = []
    components: Annotated[list[ComponentIn], Field(max_length=100)] = []


@router.post("/monitors/reports", response_model=ReportOut, responses=ERRORS)
async def request_monitoring_report(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    body: MonitoringReportIn,
) -> ReportOut:
    """GetMonitoringReport (TC_N_01-03, TC_N_47 all, TC_N_60); the report arrives as
    NotifyMonitoringReport messages and is stored."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.device_model.request_monitoring_report(
        station_id, criteria=body.criteria, variables=[c.ref() for c in body.components]
    )
    result = await audited(request, ctx, caller, station_id, "monitoring-report", call)
    return ReportOut(
        request_id=result.request_id, status=result.outcome.status, response=result.outcome.payload
    )


class MonitoringBaseIn(BaseModel):
    base: Literal["All", "FactoryDefault", "HardWiredOnly"]


@router.put("/monitoring/base", response_model=CommandOut, responses=ERRORS)
async def set_monitoring_base(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: MonitoringBaseIn
) -> CommandOut:
    """SetMonitoringBase (TC_N_05); the stored monitors are forgotten until the next report."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.device_model.set_monitoring_base(station_id, body.base)
    outcome = await audited(request, ctx, caller, station_id, "monitoring-base", call)
    return CommandOut.of(outcome)


class MonitoringLevelIn(BaseModel):
    severity: Annotated[int, Field(ge=0, le=9, description="Report events of 0..severity")]


@router.put("/monitoring/level", response_model=CommandOut, responses=ERRORS)
async def set_monitoring_level(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: MonitoringLevelIn
) -> CommandOut:
    """SetMonitoringLevel (TC_N_16/17)."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.device_model.set_monitoring_level(station_id, body.severity)
    outcome = await audited(request, ctx, caller, station_id, "monitoring-level", call)
    return CommandOut.of(outcome)


# --- network profiles ------------------------------------------------------------------------


class NetworkProfileIn(BaseModel):
    csms_url: Annotated[str, Field(min_length=1, max_length=512)]
    security_profile: Annotated[int, Field(ge=0, le=3)]
    interface: Literal[
        "Wired0", "Wired1", "Wired2", "Wired3", "Wireless0", "Wireless1", "Wireless2", "Wireless3"
    ] = "Wired0"
    message_timeout: Annotated[int, Field(ge=1, le=3600)] = 30
    transport: Literal["JSON", "SOAP"] = "JSON"
    ocpp_version: Literal["OCPP12", "OCPP15", "OCPP16", "OCPP20"] = "OCPP20"
    vpn: dict[str, Any] | None = Field(default=None, description="VPNType as OCPP spells it")
    apn: dict[str, Any] | None = Field(default=None, description="APNType as OCPP spells it")


@router.put(
    "/network-profiles/{slot}",
    response_model=CommandOut,
    summary="SetNetworkProfile into a configuration slot (2.0.1)",
    responses=ERRORS,
)
async def set_network_profile(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    slot: Annotated[int, Path(ge=0, le=10, description="configurationSlot")],
    body: NetworkProfileIn,
) -> CommandOut:
    """TC_B_42 (Accepted), TC_B_44 (Failed / Rejected): the station's answer as it is."""
    await ctx.catalog.manageable(caller, station_id)
    profile = NetworkProfile(
        ocpp_version=body.ocpp_version,
        transport=body.transport,
        csms_url=body.csms_url,
        message_timeout=body.message_timeout,
        security_profile=body.security_profile,
        interface=body.interface,
        vpn=body.vpn,
        apn=body.apn,
    )
    call = ctx.core.device_model.set_network_profile(station_id, slot, profile)
    outcome = await audited(
        request, ctx, caller, station_id, "network-profile", call, {"slot": slot}
    )
    return CommandOut.of(outcome)
