"""Authorization of id tokens (RFID cards, app tokens, keys): OCPP 1.6 Authorize / 2.0.1 C01.

The decision is pure: the service loads the token record and the transactions it is in, and passes
the current time. TC_023_3 / TC_C_06: a Blocked token is answered Blocked, never Invalid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

MAX_ID_TOKEN_LENGTH = 36  # 2.0.1 IdTokenType.idToken; 1.6 idTag is CiString20


class AuthorizationStatus(StrEnum):
    """Union of the 1.6 and 2.0.1 statuses; transport maps what a version does not have."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"
    UNKNOWN = "Unknown"
    NO_CREDIT = "NoCredit"
    NOT_ALLOWED_TYPE_EVSE = "NotAllowedTypeEVSE"
    NOT_AT_THIS_LOCATION = "NotAtThisLocation"
    NOT_AT_THIS_TIME = "NotAtThisTime"


# The statuses an operator can give a token in the registry.
REGISTRY_STATUSES = (
    AuthorizationStatus.ACCEPTED,
    AuthorizationStatus.BLOCKED,
    AuthorizationStatus.EXPIRED,
    AuthorizationStatus.INVALID,
)

# 2.0.1 token types that carry no identity the central system could check (C01.FR.xx).
TOKEN_TYPES_WITHOUT_IDENTITY = frozenset({"NoAuthorization"})


@dataclass(frozen=True, slots=True)
class IdToken:
    """A presented token: 1.6 idTag (type unknown) or 2.0.1 IdTokenType."""

    value: str
    type: str | None = None


@dataclass(frozen=True, slots=True)
class IdTokenRecord:
    """A token as the registry knows it."""

    value: str
    status: AuthorizationStatus
    type: str | None = None
    expires_at: datetime | None = None
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class IdTokenInfo:
    """The answer about a token (1.6 IdTagInfo, 2.0.1 IdTokenInfoType)."""

    status: AuthorizationStatus
    expires_at: datetime | None = None
    group_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is AuthorizationStatus.ACCEPTED


def authorize(
    presented: IdToken,
    record: IdTokenRecord | None,
    *,
    now: datetime,
    in_other_transaction: bool = False,
) -> IdTokenInfo:
    """Decide about a presented token.

    * unknown token: Unknown (1.6 transport answers Invalid);
    * the registry status wins over everything else (Blocked stays Blocked even when expired);
    * an accepted token past its expiry date is Expired;
    * `in_other_transaction` (only asked at transaction start): ConcurrentTx.
    """
    if presented.type in TOKEN_TYPES_WITHOUT_IDENTITY:
        return IdTokenInfo(AuthorizationStatus.ACCEPTED)
    if record is None:
        return IdTokenInfo(AuthorizationStatus.UNKNOWN)
    if record.status is not AuthorizationStatus.ACCEPTED:
        return IdTokenInfo(record.status, record.expires_at, record.group_id)
    if record.expires_at is not None and record.expires_at <= now:
        return IdTokenInfo(AuthorizationStatus.EXPIRED, record.expires_at, record.group_id)
    if in_other_transaction:
        return IdTokenInfo(AuthorizationStatus.CONCURRENT_TX, record.expires_at, record.group_id)
    return IdTokenInfo(AuthorizationStatus.ACCEPTED, record.expires_at, record.group_id)
