"""Authorization at the station: id tokens, the authorization cache and the local list.

Version-neutral (1.6 idTag / IdTagInfo, 2.0.1 IdToken / IdTokenInfo) and pure: the station
passes the time and what it has stored, and gets a decision back.

Rules (1.6 sections 3.5 / 5.15, 2.0.1 C10-C14, D01-D04):
* Online, a token is checked with the central system, unless `LocalPreAuthorize` is on and the
  local list or the cache already say Accepted (then charging starts at once).
* Offline, with `LocalAuthorizeOffline` on, the local list (when enabled) and then the cache
  decide; a token in neither may still charge when `AllowOfflineTxForUnknownId` is on. A token
  the local list or cache know as not Accepted never charges offline.
* A cached Accepted entry past its expiry date counts as Expired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AuthorizationStatus(StrEnum):
    """Union of the 1.6 and 2.0.1 statuses; adapters map what a version lacks."""

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


STATUSES_16 = frozenset(
    {
        AuthorizationStatus.ACCEPTED,
        AuthorizationStatus.BLOCKED,
        AuthorizationStatus.EXPIRED,
        AuthorizationStatus.INVALID,
        AuthorizationStatus.CONCURRENT_TX,
    }
)

NO_AUTHORIZATION = "NoAuthorization"
"""2.0.1 token type of a session nobody had to authorize (AuthCtrlr.Enabled = false)."""


@dataclass(frozen=True, slots=True)
class IdToken:
    """A presented token (RFID card, key, app token). 1.6 only uses `value` (max 20 chars)."""

    value: str
    type: str = "ISO14443"


@dataclass(frozen=True, slots=True)
class IdTokenInfo:
    """What is known about a token: 1.6 IdTagInfo, 2.0.1 IdTokenInfo."""

    status: AuthorizationStatus
    expires_at: datetime | None = None
    group_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is AuthorizationStatus.ACCEPTED

    def at(self, now: datetime) -> IdTokenInfo:
        """This info as it stands at `now`: an Accepted entry past its expiry is Expired."""
        if self.accepted and self.expires_at is not None and self.expires_at <= now:
            return IdTokenInfo(AuthorizationStatus.EXPIRED, self.expires_at, self.group_id)
        return self


class DecisionSource(StrEnum):
    CENTRAL_SYSTEM = "central_system"
    LOCAL_LIST = "local_list"
    CACHE = "cache"
    OFFLINE_UNKNOWN = "offline_unknown"
    """AllowOfflineTxForUnknownId let an unknown token charge."""
    NONE = "none"


@dataclass(frozen=True, slots=True)
class AuthorizationPolicy:
    """The configuration keys that steer local decisions."""

    local_list_enabled: bool = True
    cache_enabled: bool = True
    local_authorize_offline: bool = True
    local_pre_authorize: bool = False
    allow_offline_tx_for_unknown_id: bool = False


@dataclass(frozen=True, slots=True)
class LocalDecision:
    accepted: bool
    info: IdTokenInfo | None
    source: DecisionSource


def _known_locally(
    policy: AuthorizationPolicy,
    list_entry: IdTokenInfo | None,
    cached: IdTokenInfo | None,
    now: datetime,
) -> tuple[IdTokenInfo, DecisionSource] | None:
    if policy.local_list_enabled and list_entry is not None:
        return list_entry.at(now), DecisionSource.LOCAL_LIST
    if policy.cache_enabled and cached is not None:
        return cached.at(now), DecisionSource.CACHE
    return None


def pre_authorize(
    policy: AuthorizationPolicy,
    list_entry: IdTokenInfo | None,
    cached: IdTokenInfo | None,
    now: datetime,
) -> LocalDecision | None:
    """Online: a decision without asking the central system, or None to ask it.

    Only an Accepted local answer is used (LocalPreAuthorize); anything else is asked online,
    because the central system may know better (a card unblocked since)."""
    if not policy.local_pre_authorize:
        return None
    known = _known_locally(policy, list_entry, cached, now)
    if known is None or not known[0].accepted:
        return None
    return LocalDecision(True, known[0], known[1])


def decide_offline(
    policy: AuthorizationPolicy,
    list_entry: IdTokenInfo | None,
    cached: IdTokenInfo | None,
    now: datetime,
) -> LocalDecision:
    """Offline (or the central system did not answer): may this token charge?"""
    if not policy.local_authorize_offline:
        return LocalDecision(False, None, DecisionSource.NONE)
    known = _known_locally(policy, list_entry, cached, now)
    if known is not None:
        info, source = known
        return LocalDecision(info.accepted, info, source)
    if policy.allow_offline_tx_for_unknown_id:
        return LocalDecision(True, None, DecisionSource.OFFLINE_UNKNOWN)
    return LocalDecision(False, None, DecisionSource.NONE)


def should_cache(info: IdTokenInfo, cache_enabled: bool) -> bool:
    """Every answer from the central system is cached (1.6 3.5.2, C10), not only Accepted."""
    return cache_enabled and info.status is not AuthorizationStatus.UNKNOWN


def same_driver(
    presented: IdToken,
    presented_group: str | None,
    owner: IdToken,
    owner_group: str | None,
) -> bool:
    """May `presented` stop (or use the reservation of) `owner`: the same token, or a token of
    the same group (1.6 parentIdTag, 2.0.1 groupIdToken)."""
    if presented.value == owner.value:
        return True
    return presented_group is not None and presented_group == owner_group


class UpdateType(StrEnum):
    FULL = "Full"
    DIFFERENTIAL = "Differential"


class LocalListStatus(StrEnum):
    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_SUPPORTED = "NotSupported"
    VERSION_MISMATCH = "VersionMismatch"


@dataclass(frozen=True, slots=True)
class LocalListEntry:
    """One entry of SendLocalList; `info` None removes the token (differential update)."""

    token: str
    info: IdTokenInfo | None


@dataclass(frozen=True, slots=True)
class LocalListUpdate:
    status: LocalListStatus
    version: int
    entries: Mapping[str, IdTokenInfo]


def apply_local_list(
    current_version: int,
    current: Mapping[str, IdTokenInfo],
    update_type: UpdateType,
    version: int,
    entries: Sequence[LocalListEntry],
    max_length: int,
) -> LocalListUpdate:
    """SendLocalList (1.6 5.15, 2.0.1 D01): a full list replaces everything; a differential
    update needs a higher version than the current one. A full update without entries empties
    the list. The result is Failed (nothing changes) when the list would grow too long or a
    full update tries to remove tokens."""
    unchanged = LocalListUpdate(LocalListStatus.FAILED, current_version, current)
    if update_type is UpdateType.DIFFERENTIAL and version <= current_version:
        return LocalListUpdate(LocalListStatus.VERSION_MISMATCH, current_version, current)
    if update_type is UpdateType.FULL:
        if any(entry.info is None for entry in entries):
            return unchanged
        result = {entry.token: entry.info for entry in entries if entry.info is not None}
    else:
        result = dict(current)
        for entry in entries:
            if entry.info is None:
                result.pop(entry.token, None)
            else:
                result[entry.token] = entry.info
    if len(result) > max_length:
        return unchanged
    return LocalListUpdate(LocalListStatus.ACCEPTED, version, result)
