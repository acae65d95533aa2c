"""Accounts, roles and the access rules of the REST API, as pure functions.

Roles: a driver sees and stops only their own sessions, reservations and receipts; an owner
manages only the stations they own (and sees the sessions on them); an admin sees everything.
Guests are drivers that gave only an e-mail address for the receipt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
MAX_EMAIL_LENGTH = 254

# Deliberately simple: one @, a dot in the domain, no spaces. Deliverability is the mailer's job.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")


class Role(StrEnum):
    DRIVER = "driver"
    OWNER = "owner"
    ADMIN = "admin"


class InvalidAccount(ValueError):
    """An e-mail address or password that cannot be used for an account."""


def normalise_email(email: str) -> str:
    """Lower-case and strip an address; raise InvalidAccount if it is not one."""
    cleaned = email.strip().lower()
    if len(cleaned) > MAX_EMAIL_LENGTH or not _EMAIL.match(cleaned):
        raise InvalidAccount("not a valid e-mail address")
    return cleaned


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAccount(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidAccount(f"a password has at most {MAX_PASSWORD_LENGTH} characters")


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    email: str
    role: Role
    password_hash: str | None = None  # None: a guest, who cannot log in with a password
    guest: bool = False
    disabled: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the subject of a valid access token."""

    user_id: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def may_manage_stations(principal: Principal) -> bool:
    """Register stations and set their data: owners (their own) and admins."""
    return principal.role in (Role.OWNER, Role.ADMIN)


def may_manage_station(principal: Principal, owner_id: str | None) -> bool:
    """Change, command and inspect one station: its owner or an admin."""
    if principal.is_admin:
        return True
    return principal.role is Role.OWNER and owner_id is not None and owner_id == principal.user_id


def may_view_session(
    principal: Principal, session_user_id: str, station_owner_id: str | None
) -> bool:
    """A session: the driver who started it, the owner of the station, or an admin."""
    if principal.is_admin or principal.user_id == session_user_id:
        return True
    return may_manage_station(principal, station_owner_id)


def may_control_session(principal: Principal, session_user_id: str) -> bool:
    """Stop a session from the app: the driver who started it, or an admin."""
    return principal.is_admin or principal.user_id == session_user_id


def may_charge(principal: Principal) -> bool:
    """Start sessions and make reservations (any role can drive a car)."""
    return principal.role in (Role.DRIVER, Role.OWNER, Role.ADMIN)


def may_create_role(creator: Principal | None, role: Role) -> bool:
    """Self-registration makes drivers; only an admin creates owners and admins."""
    if role is Role.DRIVER:
        return True
    return creator is not None and creator.is_admin


@dataclass(frozen=True, slots=True)
class RateLimit:
    attempts: int
    window: timedelta


def allow_attempt(
    previous: Sequence[datetime], now: datetime, limit: RateLimit
) -> tuple[bool, timedelta]:
    """Whether one more attempt is allowed given the earlier ones (sliding window), and how long
    to wait when it is not."""
    recent = sorted(t for t in previous if now - t < limit.window)
    if len(recent) < limit.attempts:
        return True, timedelta(0)
    oldest = recent[-limit.attempts]
    return False, max(limit.window - (now - oldest), timedelta(seconds=1))
