"""Sign-in (OAuth2 password flow), refresh, guest sign-in, self-registration, who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from central_system.api import convert
from central_system.api import schemas as s
from central_system.api.context import ApiContext
from central_system.api.deps import Caller, Ctx, client_address
from central_system.api.problems import error_responses
from central_system.domain.accounts import Account, Role
from central_system.services.errors import InvalidRequest

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


async def _tokens(ctx: ApiContext, account: Account) -> s.TokenOut:
    issued = ctx.tokens.issue(account)
    await ctx.accounts.remember_refresh_token(
        issued.refresh_jti, account.id, ctx.tokens.refresh_ttl
    )
    return s.TokenOut(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        refresh_expires_in=issued.refresh_expires_in,
    )


@router.post(
    "/token",
    response_model=s.TokenOut,
    summary="Sign in (OAuth2 password flow) or refresh",
    responses=error_responses(401, 422, 429),
)
async def token(
    request: Request,
    ctx: Ctx,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> s.TokenOut:
    """Form fields `username` (the e-mail address) and `password`, `grant_type=password`.
    Failed sign-ins are rate-limited per address and per client (429 with Retry-After)."""
    if form.grant_type not in (None, "password"):
        raise InvalidRequest("grant_type is password (use /auth/refresh to refresh)")
    account = await ctx.accounts.authenticate(
        form.username, form.password, source=client_address(request)
    )
    return await _tokens(ctx, account)


@router.post(
    "/refresh",
    response_model=s.TokenOut,
    summary="A new token pair for a refresh token (each works once)",
    responses=error_responses(401, 422),
)
async def refresh(request: Request, ctx: Ctx, body: s.RefreshIn) -> s.TokenOut:
    claims = ctx.tokens.decode(body.refresh_token, "refresh")
    account = await ctx.accounts.use_refresh_token(
        str(claims["jti"]), source=client_address(request)
    )
    return await _tokens(ctx, account)


@router.post(
    "/register",
    response_model=s.TokenOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a driver account and sign in",
    responses=error_responses(409, 422),
)
async def register(ctx: Ctx, body: s.RegisterIn) -> s.TokenOut:
    account = await ctx.accounts.create(body.email, body.password, Role.DRIVER)
    return await _tokens(ctx, account)


@router.post(
    "/guest",
    response_model=s.TokenOut,
    summary="Sign in as a guest with only an e-mail address for the receipt",
    responses=error_responses(409, 422),
)
async def guest(request: Request, ctx: Ctx, body: s.GuestIn) -> s.TokenOut:
    account = await ctx.accounts.guest(body.email, source=client_address(request))
    return await _tokens(ctx, account)


@router.get("/me", response_model=s.AccountOut, responses=error_responses(401))
async def me(ctx: Ctx, caller: Caller) -> s.AccountOut:
    return convert.account(await ctx.accounts.active(caller.user_id))
