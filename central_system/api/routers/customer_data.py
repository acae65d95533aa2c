"""A customer's data on a station (2.0.1 CustomerInformation): clearing it also takes the
customer's id token out of every local authorization list (TC_N_46)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, model_validator

from central_system.api.control_common import StationPath, audited
from central_system.api.deps import Ctx, Operator
from central_system.api.problems import error_responses
from central_system.api.schemas import CommandOut
from central_system.domain.authorization import IdToken

router = APIRouter(prefix="/api/v1/stations/{station_id}", tags=["customer data"])


class ClearCustomerIn(BaseModel):
    request_id: int = Field(ge=0, description="The CustomerInformation requestId.")
    id_token: str | None = Field(default=None, min_length=1, max_length=36)
    id_token_type: str = Field(default="ISO14443", max_length=20)
    customer_identifier: str | None = Field(default=None, min_length=1, max_length=64)
    report: bool = Field(default=False, description="Also report what was cleared.")

    @model_validator(mode="after")
    def _names_a_customer(self) -> ClearCustomerIn:
        if self.id_token is None and self.customer_identifier is None:
            raise ValueError("give id_token or customer_identifier")
        return self


@router.post(
    "/customer-information/clear",
    response_model=CommandOut,
    summary="Clear what the station holds about a customer (2.0.1)",
    responses=error_responses(401, 403, 404, 409, 422, 502, 504),
)
async def clear_customer_information(
    request: Request, ctx: Ctx, caller: Operator, station_id: StationPath, body: ClearCustomerIn
) -> CommandOut:
    """CustomerInformation with clear=true; once the station accepts, a cleared id token
    leaves the local authorization lists of every station."""
    await ctx.catalog.manageable(caller, station_id)
    token = IdToken(body.id_token, body.id_token_type) if body.id_token else None
    call = ctx.core.customer_data.clear(
        station_id,
        request_id=body.request_id,
        id_token=token,
        customer_identifier=body.customer_identifier,
        report=body.report,
    )
    answer = await audited(
        request,
        ctx,
        caller,
        station_id,
        "customer-information.clear",
        call,
        outcome=lambda a: str(a.get("status", "answered")),
    )
    return CommandOut(status=answer.get("status"), response=answer)
