"""Passwords (argon2id) and tokens (JWT, HS256): short-lived access tokens and refresh tokens
that work once (each use issues a new pair)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from central_system.domain.accounts import Account, Principal, Role
from central_system.services.errors import Unauthenticated

ISSUER = "evcharge"
AUDIENCE = "evcharge-api"
ALGORITHM = "HS256"
MIN_SECRET_LENGTH = 32

# User passwords: the argon2-cffi defaults (RFC 9106 low-memory profile).
_HASHER = PasswordHasher()


class UserPasswordHasher:
    """The PasswordHasher port for people's passwords; verification runs in a thread."""

    def hash(self, password: str) -> str:
        return _HASHER.hash(password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    @staticmethod
    def _verify(password_hash: str, password: str) -> bool:
        try:
            return _HASHER.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


class SystemIds:
    """The IdGenerator port: UUIDs, charging-authorization values, OCPP integer ids."""

    def uuid(self) -> str:
        return str(uuid.uuid4())

    def token(self) -> str:
        return "EVA" + secrets.token_hex(8).upper()  # 19 characters (1.6 idTag: at most 20)

    def integer(self) -> int:
        return secrets.randbelow(2**31 - 2) + 1


def development_secret() -> str:
    return secrets.token_urlsafe(48)


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_jti: str
    refresh_expires_in: int


class TokenIssuer:
    def __init__(self, secret: str, access_ttl: timedelta, refresh_ttl: timedelta) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the JWT secret has at least {MIN_SECRET_LENGTH} characters")
        self._secret = secret
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    def _encode(self, account: Account, kind: str, ttl: timedelta, jti: str) -> str:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": account.id,
            "role": account.role.value,
            "typ": kind,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": jti,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def issue(self, account: Account) -> IssuedTokens:
        refresh_jti = str(uuid.uuid4())
        return IssuedTokens(
            access_token=self._encode(account, "access", self.access_ttl, str(uuid.uuid4())),
            expires_in=int(self.access_ttl.total_seconds()),
            refresh_token=self._encode(account, "refresh", self.refresh_ttl, refresh_jti),
            refresh_jti=refresh_jti,
            refresh_expires_in=int(self.refresh_ttl.total_seconds()),
        )

    def decode(self, token: str, kind: str) -> dict[str, Any]:
        """The claims of a valid token of `kind`; raises Unauthenticated."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "typ", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", problem="token-expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token is not valid", problem="invalid-token") from None
        if claims.get("typ") != kind:
            raise Unauthenticated(f"not an {kind} token", problem="invalid-token")
        return claims

    def principal(self, token: str) -> Principal:
        claims = self.decode(token, "access")
        try:
            return Principal(str(claims["sub"]), Role(str(claims.get("role"))))
        except ValueError:
            raise Unauthenticated("the token is not valid", problem="invalid-token") from None
