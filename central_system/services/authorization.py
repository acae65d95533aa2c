"""Token registry and authorization (1.6 Authorize, 2.0.1 C01; TC_023, TC_C_02/06/07)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from central_system.domain.authorization import (
    MAX_ID_TOKEN_LENGTH,
    REGISTRY_STATUSES,
    AuthorizationStatus,
    IdToken,
    IdTokenInfo,
    IdTokenRecord,
    authorize,
)
from central_system.domain.certificates import ContractCertificateStatus
from central_system.services.ports import Clock, UnitOfWork, UnitOfWorkFactory


class ContractCertificateVerifier(Protocol):
    def verify(self, chain_pem: str, now: datetime) -> ContractCertificateStatus: ...


class AuthorizationService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        contract_verifier: ContractCertificateVerifier | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._contract_verifier = contract_verifier

    async def add_token(
        self,
        value: str,
        *,
        status: AuthorizationStatus = AuthorizationStatus.ACCEPTED,
        token_type: str | None = None,
        expires_at: datetime | None = None,
        group_id: str | None = None,
    ) -> IdTokenRecord:
        """Add or update a token in the registry (evcharge tokens add)."""
        if not value or len(value) > MAX_ID_TOKEN_LENGTH:
            raise ValueError(f"an id token has 1 to {MAX_ID_TOKEN_LENGTH} characters")
        if status not in REGISTRY_STATUSES:
            raise ValueError(f"a registry status is one of {', '.join(REGISTRY_STATUSES)}")
        record = IdTokenRecord(value, status, token_type, expires_at, group_id)
        async with self._uow() as uow:
            await uow.tokens.save(record)
            await uow.commit()
        return record

    async def authorize(self, token: IdToken) -> IdTokenInfo:
        """Authorize: the token's status now. Being in a transaction is not checked here; that
        is only a reason to refuse a second transaction (ConcurrentTx at start)."""
        async with self._uow() as uow:
            record = await uow.tokens.get(token.value)
        return authorize(token, record, now=self._clock.now())

    async def authorize_contract(
        self, token: IdToken, certificate_pem: str
    ) -> tuple[IdTokenInfo, ContractCertificateStatus]:
        """Plug & Charge with central validation (C07, TC_C_52): the EV's contract certificate
        chain is checked against the configured roots; only a valid contract is authorized by
        its eMAID in the registry. Without configured roots no chain can be trusted."""
        if self._contract_verifier is None:
            status = ContractCertificateStatus.CERT_CHAIN_ERROR
        else:
            status = self._contract_verifier.verify(certificate_pem, self._clock.now())
        if status is not ContractCertificateStatus.ACCEPTED:
            return IdTokenInfo(AuthorizationStatus.INVALID), status
        return await self.authorize(token), status

    @staticmethod
    async def authorize_in(
        uow: UnitOfWork,
        token: IdToken,
        now: datetime,
        *,
        check_concurrent: bool,
        excluding_row_id: int | None = None,
    ) -> IdTokenInfo:
        """Authorize inside a running unit of work (transaction start and stop)."""
        record = await uow.tokens.get(token.value)
        in_other = False
        if check_concurrent and record is not None:
            in_other = await uow.transactions.has_active_for_token(
                token.value, excluding_row_id=excluding_row_id
            )
        return authorize(token, record, now=now, in_other_transaction=in_other)
