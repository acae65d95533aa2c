"""Listing and removing id tokens of the registry (adding and changing them is
AuthorizationService.add_token)."""

from __future__ import annotations

from central_system.domain.authorization import IdTokenRecord
from central_system.services.ports import Page, UnitOfWorkFactory


class TokenAdminService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def list(self, *, limit: int, offset: int) -> Page[IdTokenRecord]:
        async with self._uow() as uow:
            return await uow.token_registry.list(limit=limit, offset=offset)

    async def delete(self, value: str) -> bool:
        async with self._uow() as uow:
            deleted = await uow.token_registry.delete(value)
            await uow.commit()
        return deleted
