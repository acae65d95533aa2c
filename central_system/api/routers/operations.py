"""Remote operations on a station you manage, answered with the station's real reply; and the
generic endpoint that sends any CSMS-initiated action of the station's OCPP version."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request

from central_system.api import schemas as s
from central_system.api.control_common import audited
from central_system.api.deps import Ctx, Operator
from central_system.api.problems import error_responses
from central_system.services.errors import Conflict, InvalidRequest, NotFound
from central_system.services.ports import (
    CommandOutcome,
    StationOffline,
)

router = APIRouter(prefix="/api/v1/stations/{station_id}", tags=["operations"])

StationPath = Annotated[str, Path(min_length=1, max_length=48, description="Station id")]
ERRORS = error_responses(401, 403, 404, 409, 422, 502, 504)
_ACTION = re.compile(r"^[A-Z][A-Za-z0-9]{1,60}$")


def _answer(result: CommandOutcome) -> s.CommandOut:
    return s.CommandOut(status=result.status, response=result.payload)


def _payload(result: dict[str, Any]) -> s.CommandOut:
    status = result.get("status")
    return s.CommandOut(status=status if isinstance(status, str) else None, response=result)


@router.post("/commands/reset", response_model=s.CommandOut, responses=ERRORS)
async def reset(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: s.ResetIn
) -> s.CommandOut:
    """Soft (1.6 Soft / 2.x OnIdle) or hard (1.6 Hard / 2.x Immediate) reset."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.commands.reset(station_id, hard=body.type == "hard", evse_id=body.evse_id)
    return _answer(
        await audited(request, ctx, caller, station_id, "reset", call, body.model_dump())
    )


@router.post("/commands/unlock", response_model=s.CommandOut, responses=ERRORS)
async def unlock(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: s.UnlockIn
) -> s.CommandOut:
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.commands.unlock(station_id, body.evse_id, body.connector_id)
    return _answer(
        await audited(request, ctx, caller, station_id, "unlock", call, body.model_dump())
    )


@router.post("/commands/availability", response_model=s.CommandOut, responses=ERRORS)
async def availability(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: s.AvailabilityIn
) -> s.CommandOut:
    """Operative / Inoperative, for the station (no evse_id) or one EVSE."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.commands.change_availability(
        station_id,
        operative=body.operative,
        evse_id=body.evse_id,
        connector_id=body.connector_id,
    )
    result = await audited(
        request, ctx, caller, station_id, "availability", call, body.model_dump()
    )
    return _answer(result)


@router.post("/commands/trigger", response_model=s.CommandOut, responses=ERRORS)
async def trigger(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: s.TriggerIn
) -> s.CommandOut:
    """TriggerMessage, e.g. StatusNotification, MeterValues, Heartbeat, BootNotification."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.commands.trigger_message(
        station_id, body.message, evse_id=body.evse_id, connector_id=body.connector_id
    )
    result = await audited(request, ctx, caller, station_id, "trigger", call, body.model_dump())
    return _answer(result)


@router.post("/commands/clear-cache", response_model=s.CommandOut, responses=ERRORS)
async def clear_cache(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath
) -> s.CommandOut:
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.commands.clear_cache(station_id)
    return _answer(await audited(request, ctx, caller, station_id, "clear-cache", call))


@router.get("/configuration", response_model=s.CommandOut, responses=ERRORS)
async def get_configuration(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    key: Annotated[list[str] | None, Query(max_length=50)] = None,
) -> s.CommandOut:
    """OCPP 1.6 GetConfiguration (all keys, or the `key` parameters); the keys are stored
    (GET /configuration/stored)."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.device_model.get_configuration(station_id, key or None)  # stores the keys
    result = await audited(request, ctx, caller, station_id, "get-configuration", call)
    return _payload(result.payload)


@router.put("/configuration", response_model=s.CommandOut, responses=ERRORS)
async def change_configuration(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    body: s.ConfigurationChangeIn,
) -> s.CommandOut:
    """OCPP 1.6 ChangeConfiguration; a read-only standard key or a value of the wrong type
    is refused (422), a value the station took is stored."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.device_model.change_configuration(station_id, body.key, body.value)
    result = await audited(
        request, ctx, caller, station_id, "change-configuration", call, {"key": body.key}
    )
    return _answer(result)


@router.post("/variables/get", response_model=s.CommandOut, responses=ERRORS)
async def get_variables(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: s.VariablesIn
) -> s.CommandOut:
    """OCPP 2.0.1 GetVariables with getVariableData entries."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.commands.get_variables(station_id, body.variables)
    return _payload(await audited(request, ctx, caller, station_id, "get-variables", call))


@router.post("/variables/set", response_model=s.CommandOut, responses=ERRORS)
async def set_variables(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: s.VariablesIn
) -> s.CommandOut:
    """OCPP 2.0.1 SetVariables with setVariableData entries."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.commands.set_variables(station_id, body.variables)
    return _payload(await audited(request, ctx, caller, station_id, "set-variables", call))


@router.post(
    "/ocpp/{action}",
    response_model=s.CommandOut,
    summary="Send any CSMS-initiated OCPP action of the station's version",
    responses=ERRORS,
)
async def send_action(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    action: Annotated[
        str, Path(min_length=2, max_length=61, description="e.g. GetLocalListVersion")
    ],
    payload: Annotated[
        dict[str, Any],
        Body(
            openapi_examples={
                "GetLocalListVersion": {"value": {}},
                "Reset": {"value": {"type": "Soft"}},
            }
        ),
    ],
) -> s.CommandOut:
    """The body is the OCPP payload as the station's version defines it; it is validated against
    that version's JSON schema before it is sent (422 otherwise). The answer is the station's."""
    await ctx.catalog.manageable(caller, station_id)
    if ctx.commands.ocpp_version(station_id) is None:
        raise StationOffline(f"station {station_id} is not connected")
    if not _ACTION.match(action) or not ctx.commands.defines(station_id, action):
        version = ctx.commands.ocpp_version(station_id)
        raise NotFound(
            f"{action} is not a central-system action of OCPP {version}",
            problem="unknown-action",
        )
    try:
        validated = ctx.commands.send(station_id, action, payload)
        result = await audited(request, ctx, caller, station_id, f"ocpp.{action}", validated)
    except Conflict as error:
        raise InvalidRequest(error.detail, problem="invalid-ocpp-payload") from error
    return _payload(result)
