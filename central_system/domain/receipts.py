"""Receipts: written once when a session ends, never edited, kept at least ten years.

A correction is a new receipt for the same session with the next sequence number that names the
receipt it corrects; the latest sequence is the one that counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from central_system.domain.payments import Settlement
from central_system.domain.sessions import ChargingSession
from central_system.domain.tariffs import PriceBreakdown, Tariff, price
from central_system.domain.transactions import Transaction

RETENTION = timedelta(days=3653)  # ten years including leap days


class ReceiptError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Receipt:
    id: str
    session_id: str
    sequence: int  # 0: the receipt; 1, 2, ...: corrections
    user_id: str
    station_id: str
    evse_id: int
    transaction_id: str
    started_at: datetime
    stopped_at: datetime
    tariff: Tariff
    price: PriceBreakdown
    captured: Decimal
    uncollected: Decimal
    payment_reference: str | None
    issued_at: datetime
    corrects: str | None = None
    note: str | None = None

    @property
    def duration(self) -> timedelta:
        return self.stopped_at - self.started_at

    @property
    def keep_until(self) -> datetime:
        return self.issued_at + RETENTION


def issue(
    receipt_id: str,
    session: ChargingSession,
    transaction: Transaction,
    settlement: Settlement,
    now: datetime,
) -> Receipt:
    """The receipt of an ended transaction, priced with the session's tariff."""
    if transaction.stopped_at is None:
        raise ReceiptError("the transaction has not ended")
    breakdown = price(
        session.tariff,
        energy_wh=transaction.energy_wh or 0,
        duration=transaction.stopped_at - transaction.started_at,
    )
    return Receipt(
        id=receipt_id,
        session_id=session.id,
        sequence=0,
        user_id=session.user_id,
        station_id=session.station_id,
        evse_id=transaction.key.evse_id,
        transaction_id=transaction.transaction_id,
        started_at=transaction.started_at,
        stopped_at=transaction.stopped_at,
        tariff=session.tariff,
        price=breakdown,
        captured=settlement.capture,
        uncollected=settlement.uncollected,
        payment_reference=session.payment_reference,
        issued_at=now,
    )


def correct(
    receipt_id: str, latest: Receipt, *, energy_wh: int, note: str, now: datetime
) -> Receipt:
    """A correction of `latest` with another energy figure; the money already captured stays as
    it was and the difference is what is still owed (positive) or to refund (negative)."""
    if not note.strip():
        raise ReceiptError("a correction says why")
    breakdown = price(latest.tariff, energy_wh=energy_wh, duration=latest.duration)
    return Receipt(
        id=receipt_id,
        session_id=latest.session_id,
        sequence=latest.sequence + 1,
        user_id=latest.user_id,
        station_id=latest.station_id,
        evse_id=latest.evse_id,
        transaction_id=latest.transaction_id,
        started_at=latest.started_at,
        stopped_at=latest.stopped_at,
        tariff=latest.tariff,
        price=breakdown,
        captured=latest.captured,
        uncollected=breakdown.total - latest.captured,
        payment_reference=latest.payment_reference,
        issued_at=now,
        corrects=latest.id,
        note=note.strip(),
    )
