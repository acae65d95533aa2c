"""Admin: accounts, id tokens (RFID cards) with status, expiry and group, the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from central_system.api import convert
from central_system.api import schemas as s
from central_system.api.deps import Admin, Ctx, Pages
from central_system.api.problems import error_responses
from central_system.domain.authorization import AuthorizationStatus
from central_system.services.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/api/v1", tags=["admin"])

TokenPath = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[\x21-\x7e]+$")]


@router.post(
    "/users",
    response_model=s.AccountOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an account of any role",
    responses=error_responses(401, 403, 409, 422),
)
async def create_user(ctx: Ctx, caller: Admin, body: s.UserCreateIn) -> s.AccountOut:
    account = await ctx.accounts.create(body.email, body.password, body.role, creator=caller)
    return convert.account(account)


@router.get(
    "/users", response_model=s.PageOut[s.AccountOut], responses=error_responses(401, 403, 422)
)
async def list_users(ctx: Ctx, caller: Admin, pages: Pages) -> s.PageOut[s.AccountOut]:
    found = await ctx.accounts.list(caller, limit=pages.limit, offset=pages.offset)
    return convert.page([convert.account(a) for a in found.items], found, pages.limit, pages.offset)


@router.get(
    "/tokens", response_model=s.PageOut[s.IdTokenOut], responses=error_responses(401, 403, 422)
)
async def list_tokens(ctx: Ctx, caller: Admin, pages: Pages) -> s.PageOut[s.IdTokenOut]:
    found = await ctx.tokens_admin.list(limit=pages.limit, offset=pages.offset)
    return convert.page(
        [
            s.IdTokenOut(
                value=t.value,
                status=t.status.value,
                type=t.type,
                expires_at=t.expires_at,
                group_id=t.group_id,
            )
            for t in found.items
        ],
        found,
        pages.limit,
        pages.offset,
    )


@router.put(
    "/tokens/{value}",
    response_model=s.IdTokenOut,
    summary="Add an id token or change its status, expiry or group",
    responses=error_responses(401, 403, 422),
)
async def put_token(ctx: Ctx, caller: Admin, value: TokenPath, body: s.IdTokenIn) -> s.IdTokenOut:
    try:
        record = await ctx.authorization.add_token(
            value,
            status=AuthorizationStatus(body.status),
            token_type=body.type,
            expires_at=body.expires_at,
            group_id=body.group_id,
        )
    except ValueError as error:
        raise InvalidRequest(str(error)) from error
    ctx.core.local_lists.tokens_changed()  # local lists follow the registry (D01-D04)
    await ctx.audit.record("token.put", body.status, actor_id=caller.user_id, target=value)
    return s.IdTokenOut(
        value=record.value,
        status=record.status.value,
        type=record.type,
        expires_at=record.expires_at,
        group_id=record.group_id,
    )


@router.delete(
    "/tokens/{value}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
)
async def delete_token(ctx: Ctx, caller: Admin, value: TokenPath) -> Response:
    if not await ctx.tokens_admin.delete(value):
        raise NotFound(f"no id token {value}")
    ctx.core.local_lists.tokens_changed()
    await ctx.audit.record("token.delete", "success", actor_id=caller.user_id, target=value)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/audit",
    response_model=s.PageOut[s.AuditOut],
    summary="The audit log: sign-ins, token use, operator commands (newest first)",
    responses=error_responses(401, 403, 422),
)
async def audit_log(
    ctx: Ctx,
    caller: Admin,
    pages: Pages,
    action: Annotated[str | None, Query(max_length=40)] = None,
    actor_id: Annotated[str | None, Query(max_length=36)] = None,
) -> s.PageOut[s.AuditOut]:
    found = await ctx.audit.list(
        caller, action=action, actor_id=actor_id, limit=pages.limit, offset=pages.offset
    )
    return convert.page([convert.audit(e) for e in found.items], found, pages.limit, pages.offset)
