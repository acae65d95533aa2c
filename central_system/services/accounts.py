"""Accounts and sign-in: drivers register themselves, guests give an e-mail, admins create owners
and admins (also `evcharge users add`). Failed sign-ins are rate-limited per address and per
client; every sign-in, success or failure, goes to the audit log."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from central_system.domain.accounts import (
    Account,
    InvalidAccount,
    Principal,
    RateLimit,
    Role,
    allow_attempt,
    check_password_policy,
    may_create_role,
    normalise_email,
)
from central_system.services.audit import AuditService
from central_system.services.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from central_system.services.ports import (
    AuditEntry,
    Clock,
    IdGenerator,
    Page,
    PasswordHasher,
    UnitOfWorkFactory,
)

LOGIN = "auth.login"
LOGIN_FAILED = "auth.login_failed"
LOGIN_REFUSED = "auth.login_rate_limited"

# Verified when the address is unknown, so that the answer takes as long as for a known one.
_DUMMY_PASSWORD = "not-the-password-of-anyone"


class AccountService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        ids: IdGenerator,
        audit: AuditService,
        *,
        login_limit: RateLimit,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._ids = ids
        self._audit = audit
        self._login_limit = login_limit
        self._dummy_hash: str | None = None

    async def create(
        self,
        email: str,
        password: str,
        role: Role = Role.DRIVER,
        *,
        creator: Principal | None = None,
        by_operator: bool = False,
    ) -> Account:
        """A new account. Drivers register themselves; owners and admins are made by an admin
        (or by an operator on the command line: `by_operator`)."""
        if not by_operator and not may_create_role(creator, role):
            raise Forbidden(f"only an admin creates {role.value} accounts")
        try:
            address = normalise_email(email)
            check_password_policy(password)
        except InvalidAccount as error:
            raise InvalidRequest(str(error)) from error
        password_hash = self._hasher.hash(password)
        async with self._uow() as uow:
            existing = await uow.accounts.get_by_email(address)
            if existing is not None and not existing.guest:
                raise Conflict("an account with this e-mail address exists", problem="email-taken")
            if existing is not None:  # a guest signs up: the account keeps its history
                account = replace(existing, role=role, password_hash=password_hash, guest=False)
                await uow.accounts.save(account)
            else:
                account = Account(
                    id=self._ids.uuid(),
                    email=address,
                    role=role,
                    password_hash=password_hash,
                    created_at=self._clock.now(),
                )
                await uow.accounts.add(account)
            await uow.commit()
        await self._audit.record(
            "account.create",
            "success",
            actor_id=creator.user_id if creator else None,
            target=account.id,
            details={"role": role.value, "email": address},
        )
        return account

    async def set_password(self, email: str, password: str, role: Role | None = None) -> Account:
        """Operator command: set a password (and role) of an existing account."""
        try:
            address = normalise_email(email)
            check_password_policy(password)
        except InvalidAccount as error:
            raise InvalidRequest(str(error)) from error
        async with self._uow() as uow:
            account = await uow.accounts.get_by_email(address)
            if account is None:
                raise NotFound(f"no account {address}")
            account = replace(
                account,
                password_hash=self._hasher.hash(password),
                role=role or account.role,
                guest=False,
            )
            await uow.accounts.save(account)
            await uow.commit()
        return account

    async def set_or_create(self, email: str, password: str, role: Role) -> Account:
        """Operator command (`evcharge users add`, the demo): create the account, or set the
        password and role of the existing one."""
        try:
            return await self.create(email, password, role, by_operator=True)
        except Conflict:
            return await self.set_password(email, password, role)

    async def guest(self, email: str, *, source: str | None = None) -> Account:
        """A guest driver known only by the e-mail address for the receipt."""
        try:
            address = normalise_email(email)
        except InvalidAccount as error:
            raise InvalidRequest(str(error)) from error
        async with self._uow() as uow:
            account = await uow.accounts.get_by_email(address)
            if account is not None and not account.guest:
                raise Conflict(
                    "this e-mail address has an account: sign in with its password",
                    problem="email-taken",
                )
            if account is None:
                account = Account(
                    id=self._ids.uuid(),
                    email=address,
                    role=Role.DRIVER,
                    guest=True,
                    created_at=self._clock.now(),
                )
                await uow.accounts.add(account)
                await uow.commit()
        await self._audit.record(
            "auth.guest", "success", actor_id=account.id, actor=address, source=source
        )
        return account

    async def authenticate(self, email: str, password: str, *, source: str | None) -> Account:
        """Check a password sign-in; raises RateLimited or Unauthenticated."""
        actor = email.strip().lower()[:254]
        now = self._clock.now()
        since = now - self._login_limit.window
        async with self._uow() as uow:
            by_actor = await uow.audit.recent_attempts(LOGIN_FAILED, since, actor=actor)
            by_source = (
                await uow.audit.recent_attempts(LOGIN_FAILED, since, source=source)
                if source
                else []
            )
            account = await uow.accounts.get_by_email(actor)
        source_limit = RateLimit(self._login_limit.attempts * 5, self._login_limit.window)
        allowed, wait = allow_attempt(by_actor, now, self._login_limit)
        allowed_source, wait_source = allow_attempt(by_source, now, source_limit)
        if not (allowed and allowed_source):
            await self._audit.record(LOGIN_REFUSED, "refused", actor=actor, source=source)
            raise RateLimited("too many failed sign-ins; try again later", max(wait, wait_source))
        ok = False
        if account is not None and account.password_hash and not account.disabled:
            ok = await self._hasher.verify(account.password_hash, password)
        else:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(_DUMMY_PASSWORD)
            await self._hasher.verify(self._dummy_hash, password)
        if not ok or account is None:
            await self._audit.record(LOGIN_FAILED, "failure", actor=actor, source=source)
            raise Unauthenticated("wrong e-mail address or password", problem="invalid-credentials")
        await self._audit.record(LOGIN, "success", actor_id=account.id, actor=actor, source=source)
        return account

    async def get(self, user_id: str) -> Account | None:
        async with self._uow() as uow:
            return await uow.accounts.get(user_id)

    async def active(self, user_id: str) -> Account:
        """The account of a token's subject; Unauthenticated if it is gone or disabled."""
        account = await self.get(user_id)
        if account is None or account.disabled:
            raise Unauthenticated("the account no longer exists or is disabled")
        return account

    async def list(self, principal: Principal, *, limit: int, offset: int) -> Page[Account]:
        if not principal.is_admin:
            raise Forbidden("only admins list accounts")
        async with self._uow() as uow:
            return await uow.accounts.list(limit=limit, offset=offset)

    async def remember_refresh_token(self, jti: str, user_id: str, lifetime: timedelta) -> None:
        async with self._uow() as uow:
            await uow.accounts.add_refresh_token(jti, user_id, self._clock.now() + lifetime)
            await uow.commit()

    async def use_refresh_token(self, jti: str, *, source: str | None) -> Account:
        """Rotate a refresh token: it works once. Raises Unauthenticated."""
        async with self._uow() as uow:
            user_id = await uow.accounts.use_refresh_token(jti, self._clock.now())
            account = await uow.accounts.get(user_id) if user_id else None
            await uow.commit()
        if account is None or account.disabled:
            await self._audit.record("auth.refresh", "failure", source=source)
            raise Unauthenticated("the refresh token is invalid, used or expired")
        await self._audit.record(
            "auth.refresh", "success", actor_id=account.id, actor=account.email, source=source
        )
        return account


__all__ = ["LOGIN", "LOGIN_FAILED", "AccountService", "AuditEntry"]
