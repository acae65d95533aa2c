"""The port of the group-commit writer: the rows one station message changes.

The high-volume messages (meter values, transaction updates, heartbeats, status notifications)
do not open a database transaction each. A service decides what a message changes, in memory,
and hands a `MessageWrite` to the `MessageWriter`, which writes the changes of every message that
arrived within a few milliseconds in one database transaction with one commit, then publishes
their events, then returns: a message is answered only after its data is committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from central_system.domain.connectors import ConnectorKey, ConnectorState, StatusReport
from central_system.domain.events import DomainEvent, MeterValuesReceived
from central_system.domain.metering import MeterSample
from central_system.domain.transactions import Transaction
from central_system.services.ports import TransactionEventRecord


@dataclass(frozen=True, slots=True)
class SampleRows:
    """A message's meter samples. A sample already stored (a replay) is skipped; `event` is
    recorded only when at least one sample is new."""

    station_id: str
    key: ConnectorKey
    transaction_row_id: int | None
    samples: Sequence[MeterSample]
    event: MeterValuesReceived


@dataclass(frozen=True, slots=True)
class StatusRows:
    """A StatusNotification: the report goes into the history; `state` (None when the report
    is older than what is known) replaces the connector's state."""

    station_id: str
    report: StatusReport
    state: ConnectorState | None


@dataclass(frozen=True, slots=True)
class StationSeen:
    """A Heartbeat: the station's last-seen time."""

    station_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MessageWrite:
    """What one message changes; every part is optional.

    `transaction` is saved by its row id: the columns an update of a running transaction can
    change (its EVSE, charging state, seqNo, start register and live values); `transaction_event`
    is the 2.0.1 TransactionEvent of that transaction, and one whose seqNo is already stored
    fails the write (the database's unique constraint guards against replays the caller did not
    recognise). `events` are recorded after the samples' event, in order.
    """

    samples: SampleRows | None = None
    transaction: Transaction | None = None
    transaction_event: TransactionEventRecord | None = None
    seen: StationSeen | None = None
    status: StatusRows | None = None
    events: tuple[DomainEvent, ...] = ()

    @property
    def station_id(self) -> str | None:
        """The station whose message this is: its writes are committed in the order made."""
        for part in (self.samples, self.transaction, self.status, self.seen):
            if part is not None:
                return part.station_id
        return None


class MessageWriter(Protocol):
    def write(self, message: MessageWrite) -> Awaitable[int]:
        """Write `message` in the next group commit: awaited, it returns once the message is
        committed and its events are published, the number of its samples that were new. It
        raises the database's error when the commit failed; nothing of the message is stored
        then."""
        ...


__all__ = ["MessageWrite", "MessageWriter", "SampleRows", "StationSeen", "StatusRows"]
