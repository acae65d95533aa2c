"""Operator remote control with the station's own answer: remote start / stop (TC_010-012,
TC_026, TC_028, TC_F_01-04), transaction status (TC_E_29-34) and DataTransfer to the station."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from central_system.api.control_common import StationPath, audited
from central_system.api.deps import Ctx, Operator
from central_system.api.problems import error_responses
from central_system.api.schemas import CommandOut

router = APIRouter(prefix="/api/v1/stations/{station_id}/commands", tags=["operations"])

ERRORS = error_responses(401, 403, 404, 409, 422, 502, 504)


class RemoteStartIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"id_token": "RFID-0042", "evse_id": 1}]}}
    id_token: Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[\x21-\x7e]+$")]
    evse_id: Annotated[int | None, Field(ge=1, le=100)] = None
    charging_profile: dict[str, Any] | None = Field(
        default=None,
        description="A charging profile as the station's OCPP version spells it (TxProfile).",
    )


class RemoteStartOut(CommandOut):
    remote_start_id: int = Field(description="2.x remoteStartId the transaction will carry.")


class RemoteStopIn(BaseModel):
    transaction_id: Annotated[str, Field(min_length=1, max_length=36)]


class TransactionStatusIn(BaseModel):
    transaction_id: Annotated[str | None, Field(min_length=1, max_length=36)] = None


class TransactionStatusOut(BaseModel):
    ongoing: bool | None = Field(description="Whether the transaction is still going on.")
    messages_in_queue: bool
    response: dict[str, Any]


class DataTransferIn(BaseModel):
    vendor_id: Annotated[str, Field(min_length=1, max_length=255)]
    message_id: Annotated[str | None, Field(min_length=1, max_length=50)] = None
    data: Any = Field(default=None, description="1.6: sent as text (JSON for anything else).")


@router.post("/remote-start", response_model=RemoteStartOut, responses=ERRORS)
async def remote_start(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: RemoteStartIn
) -> RemoteStartOut:
    """RemoteStartTransaction / RequestStartTransaction (TC_010, TC_011, TC_026, TC_F_01-04)."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.remote_control.start(
        station_id,
        body.id_token,
        evse_id=body.evse_id,
        charging_profile=body.charging_profile,
    )
    details = {"id_token": body.id_token, "evse_id": body.evse_id}
    remote_start_id, outcome = await audited(
        request, ctx, caller, station_id, "remote-start", call, details
    )
    return RemoteStartOut(
        status=outcome.status, response=outcome.payload, remote_start_id=remote_start_id
    )


@router.post("/remote-stop", response_model=CommandOut, responses=ERRORS)
async def remote_stop(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: RemoteStopIn
) -> CommandOut:
    """RemoteStopTransaction / RequestStopTransaction (TC_012, TC_028)."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.remote_control.stop(station_id, body.transaction_id)
    outcome = await audited(
        request, ctx, caller, station_id, "remote-stop", call, body.model_dump()
    )
    return CommandOut.of(outcome)


@router.post("/transaction-status", response_model=TransactionStatusOut, responses=ERRORS)
async def transaction_status(
    request: Request,
    ctx: Ctx,
    caller: Operator,
    station_id: StationPath,
    body: TransactionStatusIn,
) -> TransactionStatusOut:
    """GetTransactionStatus (2.x, TC_E_29-34)."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.remote_control.transaction_status(station_id, body.transaction_id)
    answer = await audited(
        request,
        ctx,
        caller,
        station_id,
        "transaction-status",
        call,
        body.model_dump(),
        outcome=lambda a: "answered",
    )
    return TransactionStatusOut(
        ongoing=answer.ongoing, messages_in_queue=answer.messages_in_queue, response=answer.payload
    )


@router.post("/data-transfer", response_model=CommandOut, responses=ERRORS)
async def data_transfer(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: DataTransferIn
) -> CommandOut:
    """DataTransfer to the station: Accepted, Rejected, UnknownVendorId, UnknownMessageId."""
    await ctx.catalog.manageable(caller, station_id)
    call = ctx.core.remote_control.data_transfer(
        station_id, body.vendor_id, body.message_id, body.data
    )
    details = {"vendor_id": body.vendor_id, "message_id": body.message_id}
    outcome = await audited(request, ctx, caller, station_id, "data-transfer", call, details)
    return CommandOut.of(outcome)
