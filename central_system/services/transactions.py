"""Transactions and meter values, version-neutral.

1.6 StartTransaction and 2.0.1 TransactionEvent(Started) both become `start`; 1.6 transaction
MeterValues and TransactionEvent(Updated) become `update`; StopTransaction and
TransactionEvent(Ended) become `stop` (E01-E15, J02, TC_003, TC_004, TC_039). Every operation is
idempotent: a message a station replays after an outage changes nothing and gets its first answer.

Meter values and transaction updates are most of what stations send. They take the hot path: the
station's running transaction is kept in memory while the station is connected to this process
(`RunningTransactions`: kept as its start committed it, else loaded from the database at its
first message, and dropped when the station connects or disconnects, so another process's
changes are never overwritten), the
message is folded into it in memory and its rows go to the group-commit writer, which answers
once they are committed. Starting and ending a transaction, an update that authorizes a token,
and a replay take a unit of work of their own, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from central_system.domain import transactions as tx_rules
from central_system.domain.authorization import IdToken, IdTokenInfo
from central_system.domain.connectors import ConnectorKey
from central_system.domain.events import (
    DomainEvent,
    MeterValuesReceived,
    StationConnected,
    StationDisconnected,
    TransactionEnded,
    TransactionStarted,
)
from central_system.domain.metering import MeterSample
from central_system.domain.sequence_numbers import SeenSequenceNumbers
from central_system.domain.transactions import StopDetails, Transaction, TransactionEventType
from central_system.services.authorization import AuthorizationService
from central_system.services.message_writes import MessageWrite, MessageWriter, SampleRows
from central_system.services.ports import (
    Clock,
    TransactionEventRecord,
    UnitOfWork,
    UnitOfWorkFactory,
)
from central_system.services.station_reservations import use_reservation

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EventSequence:
    """2.0.1 TransactionEvent bookkeeping: the seqNo identifies a replay."""

    seq_no: int
    trigger_reason: str | None = None
    offline: bool = False


@dataclass(frozen=True, slots=True)
class TransactionStart:
    key: ConnectorKey
    started_at: datetime
    id_token: IdToken | None
    meter_start_wh: int | None = None
    transaction_id: str | None = None  # None: the central system assigns one (1.6)
    start_key: str | None = None  # 1.6: recognises a replayed StartTransaction
    reservation_id: int | None = None
    remote_start_id: int | None = None
    charging_state: str | None = None
    sequence: EventSequence | None = None
    samples: list[MeterSample] = field(default_factory=list)  # normalised


@dataclass(frozen=True, slots=True)
class TransactionUpdate:
    transaction_id: str
    timestamp: datetime
    key: ConnectorKey | None = None
    id_token: IdToken | None = None
    charging_state: str | None = None
    remote_start_id: int | None = None
    sequence: EventSequence | None = None
    samples: list[MeterSample] = field(default_factory=list)  # normalised


@dataclass(frozen=True, slots=True)
class TransactionStop:
    transaction_id: str
    stopped_at: datetime
    meter_stop_wh: int | None = None
    reason: str | None = None
    id_token: IdToken | None = None
    key: ConnectorKey | None = None
    sequence: EventSequence | None = None
    samples: list[MeterSample] = field(default_factory=list)  # normalised


@dataclass(frozen=True, slots=True)
class TransactionResult:
    """The transaction after the message, and the token answer the message asked for."""

    transaction: Transaction | None
    id_token_info: IdTokenInfo | None = None
    replayed: bool = False


@dataclass(slots=True)
class RunningTransaction:
    """A transaction as this process last committed it, and the seqNos stored for it (loaded
    when a TransactionEvent first needs them)."""

    transaction: Transaction
    seq_nos: SeenSequenceNumbers | None = None


class RunningTransactions:
    """The transactions of the stations connected to this process, by station and transaction
    id. Only the station's own messages change a transaction, and a station talks to one
    process at a time: its entries are dropped whenever it connects or disconnects (another
    process may have served it in between) and whenever a write fails."""

    def __init__(self) -> None:
        self._by_station: dict[str, dict[str, RunningTransaction]] = {}

    def __len__(self) -> int:
        return sum(len(running) for running in self._by_station.values())

    def get(self, station_id: str, transaction_id: str) -> RunningTransaction | None:
        running = self._by_station.get(station_id)
        return running.get(transaction_id) if running is not None else None

    def put(self, station_id: str, running: RunningTransaction) -> None:
        transaction_id = running.transaction.transaction_id
        self._by_station.setdefault(station_id, {})[transaction_id] = running

    def forget(self, station_id: str, transaction_id: str) -> None:
        running = self._by_station.get(station_id)
        if running is not None:
            running.pop(transaction_id, None)
            if not running:
                del self._by_station[station_id]

    def forget_station(self, station_id: str) -> None:
        self._by_station.pop(station_id, None)

    EVENT_KINDS = (StationConnected, StationDisconnected)

    def on_events(self, events: Iterable[DomainEvent]) -> None:
        """Event-bus subscriber (EVENT_KINDS): a station (re)connecting or leaving starts
        afresh."""
        for event in events:
            if isinstance(event, self.EVENT_KINDS):
                self.forget_station(event.station_id)


class TransactionService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, writer: MessageWriter) -> None:
        self._uow = uow
        self._clock = clock
        self._writer = writer
        self.running = RunningTransactions()

    async def start(self, station_id: str, request: TransactionStart) -> TransactionResult:
        """A new transaction is kept in memory as committed, so that its first update reads
        nothing back; any other outcome leaves the next update to read what was committed."""
        try:
            result, created = await self._start(station_id, request)
        except BaseException:
            if request.transaction_id is not None:
                self.running.forget(station_id, request.transaction_id)
            raise
        if created and result.transaction is not None:
            sequence = request.sequence
            seen = SeenSequenceNumbers([sequence.seq_no]) if sequence is not None else None
            self.running.put(station_id, RunningTransaction(result.transaction, seen))
        elif request.transaction_id is not None:
            self.running.forget(station_id, request.transaction_id)
        return result

    async def _start(
        self, station_id: str, request: TransactionStart
    ) -> tuple[TransactionResult, bool]:
        """The result, and whether the transaction was created by this message."""
        samples = request.samples
        now = self._clock.now()
        async with self._uow() as uow:
            existing = await self._find_existing(uow, station_id, request)
            if existing is not None:
                if request.sequence is None:  # 1.6 replay: same id and answer as the first time
                    return TransactionResult(existing, _start_info(existing), replayed=True), False
                # 2.0.1: a Started for a transaction we know (its Updated came first) is an update
                update = TransactionUpdate(
                    transaction_id=existing.transaction_id,
                    timestamp=request.started_at,
                    key=request.key,
                    id_token=request.id_token,
                    charging_state=request.charging_state,
                    remote_start_id=request.remote_start_id,
                    sequence=request.sequence,
                    samples=request.samples,
                )
                return await self._update_in(uow, station_id, existing, update, now), False

            info = None
            if request.id_token is not None:
                info = await AuthorizationService.authorize_in(
                    uow, request.id_token, now, check_concurrent=True
                )
            if request.reservation_id is not None:  # TC_046, TC_053, TC_H_19
                info = await use_reservation(
                    uow, station_id, request.reservation_id, request.id_token, info, now
                )
            transaction = Transaction(
                station_id=station_id,
                transaction_id=request.transaction_id or "",
                key=request.key,
                started_at=request.started_at,
                id_token=request.id_token,
                start_authorization=info.status if info else None,
                group_id=info.group_id if info else None,
                meter_start_wh=request.meter_start_wh,
                reservation_id=request.reservation_id,
                remote_start_id=request.remote_start_id,
                offline=request.sequence.offline if request.sequence else False,
                charging_state=request.charging_state,
                last_seq_no=request.sequence.seq_no if request.sequence else None,
            )
            transaction = tx_rules.apply_samples(transaction, samples)
            transaction = await uow.transactions.add(transaction, request.start_key)
            await self._record_event(
                uow,
                transaction,
                request.sequence,
                TransactionEventType.STARTED,
                request.started_at,
                info,
            )
            await self._store_samples(uow, station_id, request.key, transaction, samples)
            uow.record(TransactionStarted(transaction))
            await uow.commit()
        return TransactionResult(transaction, info), True

    async def update(self, station_id: str, request: TransactionUpdate) -> TransactionResult:
        running = await self._running(station_id, request.transaction_id, request.sequence)
        if running is None:
            return await self._update_unknown(station_id, request)
        sequence = request.sequence
        seen = running.seq_nos
        if sequence is not None and seen is not None and sequence.seq_no in seen:
            return await self._replayed(station_id, running.transaction, request)
        if request.id_token is not None:  # authorizing a token reads the registry
            try:
                return await self._update_with_token(station_id, request)
            finally:
                self.running.forget(station_id, request.transaction_id)
        return await self._write_update(station_id, running, request)

    async def _update_with_token(
        self, station_id: str, request: TransactionUpdate
    ) -> TransactionResult:
        async with self._uow() as uow:
            transaction = await uow.transactions.get(station_id, request.transaction_id)
            if transaction is None:
                raise LookupError(f"transaction {request.transaction_id} is gone")
            return await self._update_in(uow, station_id, transaction, request, self._clock.now())

    async def _write_update(
        self,
        station_id: str,
        running: RunningTransaction,
        request: TransactionUpdate,
    ) -> TransactionResult:
        """The hot path: fold the message into the running transaction, then write its rows in
        the next group commit."""
        transaction = _folded(running.transaction, request)
        sequence = request.sequence
        event = None
        if sequence is not None:
            event = _event_record(sequence, TransactionEventType.UPDATED, request.timestamp, None)
            assert running.seq_nos is not None
            running.seq_nos.add(sequence.seq_no)
        running.transaction = transaction  # the next message builds on this one
        try:
            await self._writer.write(
                MessageWrite(
                    samples=_sample_rows(
                        station_id, request.key or transaction.key, transaction, request.samples
                    ),
                    transaction=transaction,
                    transaction_event=event,
                )
            )
        except BaseException:
            self.running.forget(station_id, transaction.transaction_id)
            raise
        return TransactionResult(transaction)

    async def _running(
        self, station_id: str, transaction_id: str, sequence: EventSequence | None
    ) -> RunningTransaction | None:
        """The running transaction from memory, else from the database."""
        running = self.running.get(station_id, transaction_id)
        if running is not None and (sequence is None or running.seq_nos is not None):
            return running
        async with self._uow.reading() as uow:
            transaction = await uow.transactions.get(station_id, transaction_id)
            if transaction is None:
                return None
            seq_nos = None
            if sequence is not None:
                seq_nos = SeenSequenceNumbers(await uow.transactions.seq_nos(_row_id(transaction)))
        running = RunningTransaction(transaction, seq_nos)
        self.running.put(station_id, running)
        return running

    async def _replayed(
        self, station_id: str, transaction: Transaction, request: TransactionUpdate
    ) -> TransactionResult:
        """A TransactionEvent whose seqNo is stored: changes nothing, gets its first answer."""
        assert request.sequence is not None
        async with self._uow.reading() as uow:
            seen = await uow.transactions.get_event(_row_id(transaction), request.sequence.seq_no)
        if seen is None:  # not stored after all (a failed write): start afresh
            self.running.forget(station_id, request.transaction_id)
            return await self.update(station_id, request)
        return _replay(transaction, seen)

    async def _update_unknown(
        self, station_id: str, request: TransactionUpdate
    ) -> TransactionResult:
        if request.sequence is None:
            # 1.6 MeterValues naming a transaction we do not know: keep the samples.
            log.warning(
                "%s: meter values for unknown transaction %s", station_id, request.transaction_id
            )
            await self._write_samples(
                station_id, request.key or ConnectorKey(0, 0), request.samples
            )
            return TransactionResult(None)
        # 2.0.1: the Started event never reached us; the transaction begins here.
        return await self.start(
            station_id,
            TransactionStart(
                key=request.key or ConnectorKey(0, 0),
                started_at=request.timestamp,
                id_token=request.id_token,
                transaction_id=request.transaction_id,
                remote_start_id=request.remote_start_id,
                charging_state=request.charging_state,
                sequence=request.sequence,
                samples=request.samples,
            ),
        )

    async def stop(self, station_id: str, request: TransactionStop) -> TransactionResult:
        try:
            return await self._stop(station_id, request)
        finally:
            self.running.forget(station_id, request.transaction_id)

    async def _stop(self, station_id: str, request: TransactionStop) -> TransactionResult:
        samples = request.samples
        now = self._clock.now()
        async with self._uow() as uow:
            transaction = await uow.transactions.get(station_id, request.transaction_id)
            if transaction is None and request.sequence is not None:
                # 2.0.1 Ended for a transaction we never saw start: record it whole.
                transaction = await uow.transactions.add(
                    Transaction(
                        station_id=station_id,
                        transaction_id=request.transaction_id,
                        key=request.key or ConnectorKey(0, 0),
                        started_at=min([s.timestamp for s in samples] + [request.stopped_at]),
                        offline=request.sequence.offline,
                    ),
                    None,
                )
                uow.record(TransactionStarted(transaction))
            if transaction is None:
                log.warning(
                    "%s: stop for unknown transaction %s", station_id, request.transaction_id
                )
                info = None
                if request.id_token is not None:
                    info = await AuthorizationService.authorize_in(
                        uow, request.id_token, now, check_concurrent=False
                    )
                return TransactionResult(None, info)

            if request.sequence is not None:
                seen = await uow.transactions.get_event(
                    _row_id(transaction), request.sequence.seq_no
                )
                if seen is not None:
                    return _replay(transaction, seen)
            elif transaction.ended:  # 1.6 StopTransaction replay
                return TransactionResult(transaction, _stop_info(transaction), replayed=True)

            info = None
            if request.id_token is not None:
                info = await AuthorizationService.authorize_in(
                    uow, request.id_token, now, check_concurrent=False
                )
            was_ended = transaction.ended
            transaction = tx_rules.end(
                transaction,
                StopDetails(
                    stopped_at=request.stopped_at,
                    meter_stop_wh=request.meter_stop_wh,
                    reason=request.reason,
                    id_token=request.id_token,
                    authorization=info.status if info else None,
                ),
                samples,
            )
            transaction = tx_rules.at_evse(transaction, request.key)
            if request.sequence is not None:
                transaction = replace(
                    transaction,
                    last_seq_no=request.sequence.seq_no,
                    offline=transaction.offline or request.sequence.offline,  # TC_E_31
                )
            await uow.transactions.save(transaction)
            await self._record_event(
                uow,
                transaction,
                request.sequence,
                TransactionEventType.ENDED,
                request.stopped_at,
                info,
            )
            await self._store_samples(uow, station_id, transaction.key, transaction, samples)
            if not was_ended:
                uow.record(TransactionEnded(transaction))
            await uow.commit()
        return TransactionResult(transaction, info)

    async def meter_values(
        self,
        station_id: str,
        key: ConnectorKey,
        samples: list[MeterSample],
        transaction_id: str | None = None,
    ) -> None:
        """MeterValues outside TransactionEvent: 1.6 (with or without transactionId) and
        2.0.1 MeterValuesRequest (never part of a transaction)."""
        if transaction_id is not None:
            await self.update(
                station_id,
                TransactionUpdate(
                    transaction_id=transaction_id,
                    timestamp=self._clock.now(),
                    key=key,
                    samples=samples,
                ),
            )
            return
        await self._write_samples(station_id, key, samples)

    async def _write_samples(
        self, station_id: str, key: ConnectorKey, samples: list[MeterSample]
    ) -> None:
        """Samples outside a transaction, in the next group commit."""
        rows = _sample_rows(station_id, key, None, samples)
        if rows is not None:
            await self._writer.write(MessageWrite(samples=rows))

    async def get(self, station_id: str, transaction_id: str) -> Transaction | None:
        async with self._uow.reading() as uow:
            return await uow.transactions.get(station_id, transaction_id)

    async def _find_existing(
        self, uow: UnitOfWork, station_id: str, request: TransactionStart
    ) -> Transaction | None:
        if request.transaction_id is not None:
            return await uow.transactions.get(station_id, request.transaction_id)
        if request.start_key is not None:
            return await uow.transactions.get_by_start_key(station_id, request.start_key)
        return None

    async def _update_in(
        self,
        uow: UnitOfWork,
        station_id: str,
        transaction: Transaction,
        request: TransactionUpdate,
        now: datetime,
    ) -> TransactionResult:
        if request.sequence is not None:
            seen = await uow.transactions.get_event(_row_id(transaction), request.sequence.seq_no)
            if seen is not None:
                return _replay(transaction, seen)
        info = None
        if request.id_token is not None:
            info = await AuthorizationService.authorize_in(
                uow,
                request.id_token,
                now,
                check_concurrent=transaction.id_token is None,
                excluding_row_id=transaction.row_id,
            )
            if transaction.id_token is None:  # plug-in first: the driver authorized later
                transaction = replace(
                    transaction,
                    id_token=request.id_token,
                    start_authorization=info.status,
                    group_id=info.group_id,
                )
        transaction = _folded(transaction, request)
        await uow.transactions.save(transaction)
        await self._record_event(
            uow,
            transaction,
            request.sequence,
            TransactionEventType.UPDATED,
            request.timestamp,
            info,
        )
        await self._store_samples(
            uow, station_id, request.key or transaction.key, transaction, request.samples
        )
        await uow.commit()
        return TransactionResult(transaction, info)

    @staticmethod
    async def _record_event(
        uow: UnitOfWork,
        transaction: Transaction,
        sequence: EventSequence | None,
        event_type: TransactionEventType,
        timestamp: datetime,
        info: IdTokenInfo | None,
    ) -> None:
        if sequence is None:
            return
        await uow.transactions.add_event(
            _row_id(transaction), _event_record(sequence, event_type, timestamp, info)
        )

    @staticmethod
    async def _store_samples(
        uow: UnitOfWork,
        station_id: str,
        key: ConnectorKey,
        transaction: Transaction | None,
        samples: list[MeterSample],
    ) -> None:
        if not samples:
            return
        added = await uow.meter_values.add(
            station_id, key, transaction.row_id if transaction else None, samples
        )
        if added:
            uow.record(MeterValuesReceived(station_id, key.evse_id, transaction, tuple(samples)))


def _folded(transaction: Transaction, request: TransactionUpdate) -> Transaction:
    """The transaction after an update's samples, EVSE, charging state and seqNo."""
    transaction = tx_rules.at_evse(
        tx_rules.apply_samples(transaction, request.samples), request.key
    )
    changes: dict[str, Any] = {}
    if (
        request.charging_state is not None
        and not transaction.ended
        and request.charging_state != transaction.charging_state
    ):
        changes["charging_state"] = request.charging_state
    if request.remote_start_id is not None and transaction.remote_start_id is None:
        changes["remote_start_id"] = request.remote_start_id
    sequence = request.sequence
    if sequence is not None:
        last_seq_no = max(transaction.last_seq_no or 0, sequence.seq_no)
        if last_seq_no != transaction.last_seq_no:
            changes["last_seq_no"] = last_seq_no
        if sequence.offline and not transaction.offline:
            changes["offline"] = True
    return tx_rules.replaced(transaction, **changes) if changes else transaction


def _event_record(
    sequence: EventSequence,
    event_type: TransactionEventType,
    timestamp: datetime,
    info: IdTokenInfo | None,
) -> TransactionEventRecord:
    return TransactionEventRecord(
        seq_no=sequence.seq_no,
        event_type=event_type.value,
        trigger_reason=sequence.trigger_reason,
        timestamp=timestamp,
        offline=sequence.offline,
        id_token_status=info.status if info else None,
    )


def _sample_rows(
    station_id: str,
    key: ConnectorKey,
    transaction: Transaction | None,
    samples: list[MeterSample],
) -> SampleRows | None:
    if not samples:
        return None
    return SampleRows(
        station_id=station_id,
        key=key,
        transaction_row_id=transaction.row_id if transaction else None,
        samples=samples,
        event=MeterValuesReceived(station_id, key.evse_id, transaction, tuple(samples)),
    )


def _row_id(transaction: Transaction) -> int:
    if transaction.row_id is None:
        raise ValueError("the transaction is not stored")
    return transaction.row_id


def _start_info(transaction: Transaction) -> IdTokenInfo | None:
    if transaction.start_authorization is None:
        return None
    return IdTokenInfo(transaction.start_authorization, group_id=transaction.group_id)


def _stop_info(transaction: Transaction) -> IdTokenInfo | None:
    if transaction.stop_authorization is None:
        return None
    return IdTokenInfo(transaction.stop_authorization)


def _replay(transaction: Transaction, seen: TransactionEventRecord) -> TransactionResult:
    info = IdTokenInfo(seen.id_token_status) if seen.id_token_status else None
    return TransactionResult(transaction, info, replayed=True)
