"""Local authorization lists: which id tokens a station may accept while it cannot ask the central
system (1.6 Local Auth List Management, 2.0.1 D01-D04, D08/D09; TC_042, TC_043, TC_D_01-09).

The central system keeps, per station, the list the station acknowledged (its version and its
entries). What the list should be is the registry's tokens marked for local lists; an update is the
difference between the two: a differential update while the station's list is known, a full one
when it is not (first list, a VersionMismatch answer, a version the station reports that is not
ours). An update larger than the station takes in one message is split: the first part keeps the
update type, the rest are differential, each with the next version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from central_system.domain.authorization import AuthorizationStatus, IdTokenRecord

# 1.6 GetLocalListVersion answers -1 when the station has no local list support; 0 means "no list".
NOT_SUPPORTED_VERSION = -1
MAX_VERSION = 2**31 - 1


class UpdateType(StrEnum):
    FULL = "Full"
    DIFFERENTIAL = "Differential"


class SendStatus(StrEnum):
    """The station's answer to SendLocalList (1.6 UpdateStatus, 2.0.1 SendLocalListStatus)."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_SUPPORTED = "NotSupported"
    VERSION_MISMATCH = "VersionMismatch"


@dataclass(frozen=True, slots=True)
class LocalListEntry:
    """An id token with the answer the station gives for it offline."""

    id_token: str
    status: AuthorizationStatus
    token_type: str | None = None
    expires_at: datetime | None = None
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class LocalListChange:
    """Add or replace `entry`, or (entry None) remove the token from the list."""

    id_token: str
    token_type: str | None
    entry: LocalListEntry | None

    @property
    def removal(self) -> bool:
        return self.entry is None


@dataclass(frozen=True, slots=True)
class LocalListUpdate:
    """One SendLocalList message."""

    version: int
    update_type: UpdateType
    changes: tuple[LocalListChange, ...] = ()


@dataclass(frozen=True, slots=True)
class LocalListState:
    """What the central system knows of a station's list.

    `enabled`: the central system keeps the list in step with the registry (a station that answered
    NotSupported, or whose list an operator cleared, is left alone). `entries`: what the station
    acknowledged, the base of the next differential update."""

    station_id: str
    version: int = 0
    enabled: bool = True
    last_status: str | None = None
    entries: Mapping[str, LocalListEntry] = field(default_factory=dict)

    @property
    def needs_full_update(self) -> bool:
        return self.last_status == SendStatus.VERSION_MISMATCH.value or (
            self.version == 0 and not self.entries
        )


def desired_entries(
    records: Iterable[IdTokenRecord], now: datetime, *, max_token_length: int | None = None
) -> dict[str, LocalListEntry]:
    """The list a station should hold: the registry's local-list tokens as the central system
    would answer them now (an accepted token past its expiry is Expired; a Blocked one stays in
    the list as Blocked, so the station refuses it offline too: TC_C_43). Tokens longer than
    the station's protocol carries (1.6: 20 characters) are left out."""
    entries = {}
    for record in records:
        if max_token_length is not None and len(record.value) > max_token_length:
            continue
        status = record.status
        if (
            status is AuthorizationStatus.ACCEPTED
            and record.expires_at is not None
            and record.expires_at <= now
        ):
            status = AuthorizationStatus.EXPIRED
        entries[record.value] = LocalListEntry(
            id_token=record.value,
            status=status,
            token_type=record.type,
            expires_at=record.expires_at,
            group_id=record.group_id,
        )
    return entries


def _differences(
    held: Mapping[str, LocalListEntry], desired: Mapping[str, LocalListEntry]
) -> list[LocalListChange]:
    changes = [
        LocalListChange(token, entry.token_type, entry)
        for token, entry in sorted(desired.items())
        if held.get(token) != entry
    ]
    changes += [
        LocalListChange(token, entry.token_type, None)
        for token, entry in sorted(held.items())
        if token not in desired
    ]
    return changes


def _next_version(version: int, step: int) -> int:
    return (max(version, 0) + step - 1) % MAX_VERSION + 1


def plan_updates(
    state: LocalListState,
    desired: Mapping[str, LocalListEntry],
    *,
    full: bool = False,
    max_items: int | None = None,
) -> list[LocalListUpdate]:
    """The SendLocalList messages that bring the station's list to `desired`; none when it is
    already there (a full update is always planned when asked for or needed, even if empty:
    TC_D_04)."""
    if full or state.needs_full_update:
        update_type = UpdateType.FULL
        changes = [
            LocalListChange(token, entry.token_type, entry)
            for token, entry in sorted(desired.items())
        ]
    else:
        update_type = UpdateType.DIFFERENTIAL
        changes = _differences(state.entries, desired)
        if not changes:
            return []
    size = max_items if max_items and max_items > 0 else max(len(changes), 1)
    parts = [changes[start : start + size] for start in range(0, len(changes), size)] or [[]]
    return [
        LocalListUpdate(
            version=_next_version(state.version, number + 1),
            update_type=update_type if number == 0 else UpdateType.DIFFERENTIAL,
            changes=tuple(part),
        )
        for number, part in enumerate(parts)
    ]


def apply_answer(
    state: LocalListState, update: LocalListUpdate, status: str | None
) -> LocalListState:
    """The state after the station answered `update` with `status`."""
    if status == SendStatus.ACCEPTED:
        entries = {} if update.update_type is UpdateType.FULL else dict(state.entries)
        for change in update.changes:
            if change.entry is None:
                entries.pop(change.id_token, None)
            else:
                entries[change.id_token] = change.entry
        return replace(state, version=update.version, last_status=status, entries=entries)
    if status == SendStatus.NOT_SUPPORTED:
        return replace(state, enabled=False, last_status=status)
    # Failed: the station kept its list, the next update is computed against it again.
    # VersionMismatch: the station's list is not what we think; the next update is full.
    return replace(state, last_status=status or SendStatus.FAILED.value)


def observe_version(state: LocalListState, reported: int) -> LocalListState:
    """GetLocalListVersion's answer (TC_042, TC_D_08/09): -1 means the station has no local
    lists (1.6); a version other than ours means its list is not what we think (it lost it, or
    someone else changed it), so the next update is full."""
    if reported == NOT_SUPPORTED_VERSION:
        return replace(state, enabled=False, last_status=SendStatus.NOT_SUPPORTED.value)
    if reported != state.version:
        return replace(state, version=reported, last_status=SendStatus.VERSION_MISMATCH.value)
    return state
