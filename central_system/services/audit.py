"""The audit log: sign-ins (success and failure), token use and operator commands."""

from __future__ import annotations

import logging
from typing import Any

from central_system.domain.accounts import Principal
from central_system.services.errors import Forbidden
from central_system.services.ports import AuditEntry, Clock, Page, UnitOfWorkFactory

log = logging.getLogger(__name__)


class AuditService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def record(
        self,
        action: str,
        outcome: str,
        *,
        actor_id: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        source: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        entry = AuditEntry(
            at=self._clock.now(),
            action=action,
            outcome=outcome,
            actor_id=actor_id,
            actor=actor,
            target=target,
            source=source,
            details=details,
        )
        async with self._uow() as uow:
            await uow.audit.add(entry)
            await uow.commit()
        log.info("audit %s %s actor=%s target=%s", action, outcome, actor_id or actor, target)

    async def list(
        self,
        principal: Principal,
        *,
        action: str | None,
        actor_id: str | None,
        limit: int,
        offset: int,
    ) -> Page[AuditEntry]:
        if not principal.is_admin:
            raise Forbidden("only admins read the audit log")
        async with self._uow() as uow:
            return await uow.audit.list(
                action=action, actor_id=actor_id, limit=limit, offset=offset
            )
