"""Route dependencies: the context, the caller (bearer JWT), roles, pagination."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer

from central_system.api.context import ApiContext
from central_system.domain.accounts import Principal, Role
from central_system.services.errors import Forbidden, Unauthenticated

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def principal(
    request: Request, ctx: Ctx, token: Annotated[str | None, Depends(oauth2)]
) -> Principal:
    """The caller of a route that needs sign-in. Mutating calls are written to the audit log
    (token use)."""
    if not token:
        raise Unauthenticated("sign in first: send Authorization: Bearer <access token>")
    caller = ctx.tokens.principal(token)
    account = await ctx.accounts.active(caller.user_id)
    caller = Principal(account.id, account.role)
    if request.method in _MUTATING:
        await ctx.audit.record(
            "token.use",
            "success",
            actor_id=caller.user_id,
            target=f"{request.method} {request.url.path}",
            source=client_address(request),
        )
    return caller


Caller = Annotated[Principal, Depends(principal)]


def roles(*allowed: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(caller: Caller) -> Principal:
        if caller.role not in allowed:
            raise Forbidden(f"this needs the role {' or '.join(r.value for r in allowed)}")
        return caller

    return check


Operator = Annotated[Principal, Depends(roles(Role.OWNER, Role.ADMIN))]
Admin = Annotated[Principal, Depends(roles(Role.ADMIN))]


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int
    offset: int


def paging(
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page.")] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")] = 0,
) -> Paging:
    return Paging(limit, offset)


Pages = Annotated[Paging, Depends(paging)]
