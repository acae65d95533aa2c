"""Local authorization lists: which registry tokens go into them, and each station's list (full
or differential pushes, the version it reports, clearing it) with the station's own answers
(TC_042, TC_043, TC_D_01-09)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from central_system.api.control_common import StationPath, audited
from central_system.api.deps import Admin, Ctx, Operator
from central_system.api.problems import error_responses
from central_system.domain.local_lists import LocalListEntry, LocalListState
from central_system.services.local_lists import SyncResult

router = APIRouter(prefix="/api/v1", tags=["local lists"])

TokenPath = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[\x21-\x7e]+$")]
ERRORS = error_responses(401, 403, 404, 409, 422, 502, 504)


class LocalListMarkIn(BaseModel):
    in_list: bool = Field(description="Whether the token goes into the stations' local lists.")


class LocalListMarkOut(LocalListMarkIn):
    value: str


class EntryOut(BaseModel):
    id_token: str
    type: str | None
    status: str
    expires_at: datetime | None
    group_id: str | None


class UpdateOut(BaseModel):
    version: int
    update_type: str
    changes: int = Field(description="Entries added, changed or removed by this message.")
    status: str | None
    response: dict[str, object]


class StationListOut(BaseModel):
    station_id: str
    version: int = Field(description="The version the station acknowledged last.")
    managed: bool = Field(description="Kept in step with the registry by the central system.")
    last_status: str | None
    entries: list[EntryOut]
    updates: list[UpdateOut] = Field(
        default=[], description="The SendLocalList messages this request sent."
    )


class PushIn(BaseModel):
    update: Literal["auto", "full"] = Field(
        default="auto",
        description="auto: differential when the station's list is known, else full.",
    )


class VersionOut(BaseModel):
    station_id: str
    version: int = Field(description="The station's answer (1.6: -1 means no local lists).")


def _entry(entry: LocalListEntry) -> EntryOut:
    return EntryOut(
        id_token=entry.id_token,
        type=entry.token_type,
        status=entry.status.value,
        expires_at=entry.expires_at,
        group_id=entry.group_id,
    )


def _state(state: LocalListState, result: SyncResult | None = None) -> StationListOut:
    return StationListOut(
        station_id=state.station_id,
        version=state.version,
        managed=state.enabled,
        last_status=state.last_status,
        entries=[_entry(state.entries[token]) for token in sorted(state.entries)],
        updates=[
            UpdateOut(
                version=s.update.version,
                update_type=s.update.update_type.value,
                changes=len(s.update.changes),
                status=s.answer.status,
                response=s.answer.payload,
            )
            for s in (result.sent if result else ())
        ],
    )


@router.put(
    "/tokens/{value}/local-list",
    response_model=LocalListMarkOut,
    summary="Put an id token into the local lists (or take it out)",
    responses=error_responses(401, 403, 404, 422),
)
async def mark_token(
    ctx: Ctx, caller: Admin, value: TokenPath, body: LocalListMarkIn
) -> LocalListMarkOut:
    """Every managed station gets the change as a differential update (at once if connected,
    else when it reconnects)."""
    await ctx.core.local_lists.mark_token(value, body.in_list)
    await ctx.audit.record(
        "token.local-list", str(body.in_list).lower(), actor_id=caller.user_id, target=value
    )
    return LocalListMarkOut(value=value, in_list=body.in_list)


@router.get(
    "/local-list",
    response_model=list[EntryOut],
    summary="The local authorization list every managed station should hold",
    responses=error_responses(401, 403),
)
async def desired_list(ctx: Ctx, caller: Admin) -> list[EntryOut]:
    return [_entry(e) for e in await ctx.core.local_lists.desired()]


@router.get(
    "/stations/{station_id}/local-list",
    response_model=StationListOut,
    summary="The list the station acknowledged",
    responses=error_responses(401, 403, 404, 422),
)
async def station_list(ctx: Ctx, caller: Operator, station_id: StationPath) -> StationListOut:
    await ctx.catalog.manageable(caller, station_id)
    state = await ctx.core.local_lists.state(station_id)
    return _state(state or LocalListState(station_id, enabled=False))


@router.post(
    "/stations/{station_id}/local-list",
    response_model=StationListOut,
    summary="Send the station its local list (SendLocalList) and keep it up to date",
    responses=ERRORS,
)
async def push(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: PushIn
) -> StationListOut:
    """TC_043_4 / TC_D_01 (full), TC_043_5 / TC_D_02/03 (differential); the station's answers
    (Accepted, Failed, NotSupported, VersionMismatch: TC_043_1/3) are in `updates`."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.local_lists.push(station_id, full=body.update == "full")
    result = await audited(
        request, ctx, caller, station_id, "local-list", call, {"update": body.update}
    )
    return _state(result.state, result)


@router.delete(
    "/stations/{station_id}/local-list",
    response_model=StationListOut,
    summary="Send the station an empty full list and stop managing its list",
    responses=ERRORS,
)
async def clear(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath
) -> StationListOut:
    """TC_D_04."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.local_lists.clear(station_id)
    result = await audited(request, ctx, caller, station_id, "local-list-clear", call)
    return _state(result.state, result)


@router.get(
    "/stations/{station_id}/local-list/version",
    response_model=VersionOut,
    summary="Ask the station for its list version (GetLocalListVersion)",
    responses=ERRORS,
)
async def version(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath
) -> VersionOut:
    """TC_042_1 (not supported: -1), TC_042_2 / TC_D_09 (no list: 0), TC_D_08."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.local_lists.fetch_version(station_id)
    reported = await audited(
        request, ctx, caller, station_id, "local-list-version", call, outcome=str
    )
    return VersionOut(station_id=station_id, version=reported)
