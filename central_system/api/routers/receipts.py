"""Receipts and the driver's charging history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from central_system.api import convert
from central_system.api import schemas as s
from central_system.api.deps import Caller, Ctx, Pages
from central_system.api.problems import error_responses

router = APIRouter(prefix="/api/v1/receipts", tags=["receipts"])


@router.get(
    "",
    response_model=s.PageOut[s.ReceiptOut],
    summary="Your receipts, newest first (owners: also their stations'; admins: all)",
    responses=error_responses(401, 422),
)
async def history(ctx: Ctx, caller: Caller, pages: Pages) -> s.PageOut[s.ReceiptOut]:
    found = await ctx.charging.receipts(caller, limit=pages.limit, offset=pages.offset)
    return convert.page([convert.receipt(r) for r in found.items], found, pages.limit, pages.offset)


@router.get("/{receipt_id}", response_model=s.ReceiptOut, responses=error_responses(401, 404, 422))
async def get_receipt(
    ctx: Ctx, caller: Caller, receipt_id: Annotated[str, Path(min_length=1, max_length=36)]
) -> s.ReceiptOut:
    return convert.receipt(await ctx.charging.receipt(caller, receipt_id))
