"""Tariff and cost shown to the driver at the station (2.0.1 block I: I02 running cost with
CostUpdated, TC_I_01; the final total cost in the TransactionEvent(Ended) answer, TC_I_02).

A transaction is priced with the station's tariff (the REST API's catalogue, Decimal money) in
force when the transaction started: energy so far (or in total), time since the start (or until
the end), and the session fee - the same rule a receipt uses. 1.6 has no cost messages: its
stations are left out of the rounds (`takes_cost_updates`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from decimal import Decimal

from central_system.domain.tariffs import PriceBreakdown, in_force, price
from central_system.domain.transactions import Transaction
from central_system.services.ports import (
    ChargingProfileControl,
    Clock,
    StationCallError,
    StationCallTimeout,
    StationOffline,
    TariffRecord,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)


class CostService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        control: ChargingProfileControl,
        *,
        update_interval_s: float = 60.0,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._control = control
        self._interval_s = update_interval_s
        self._last_sent: dict[tuple[str, str], Decimal] = {}

    async def cost(
        self, transaction: Transaction, at: datetime | None = None
    ) -> PriceBreakdown | None:
        """What the transaction costs so far (or in total once ended); None without a tariff."""
        async with self._uow.reading() as uow:
            tariff = await uow.catalog.current_tariff(
                transaction.station_id, transaction.started_at
            )
        if tariff is None:
            return None
        return _price(tariff, transaction, at or self._clock.now())

    async def final_cost(self, transaction: Transaction) -> PriceBreakdown | None:
        """TC_I_02: the total cost of an ended transaction (None while it runs)."""
        if not transaction.ended:
            return None
        return await self.cost(transaction)

    async def send_updates(self) -> int:
        """One round of CostUpdated (TC_I_01) to every connected 2.x station with a running
        transaction whose cost changed since the last one sent. Returns how many were sent.

        Two queries per round whatever the number of transactions (the running transactions,
        the tariffs of their stations), in a reading unit of work: priced one query each, a
        round over 9,000 sessions took seconds of CPU every minute, and on SQLite a
        write-locking one would hold up the group-commit writer (every station's answer)."""
        now = self._clock.now()
        async with self._uow.reading() as uow:
            running = [
                transaction
                for transaction in await uow.active_transactions.list()
                if self._control.takes_cost_updates(transaction.station_id)
            ]
            tariffs = await uow.catalog.tariffs_of({t.station_id for t in running})
        keys = {(t.station_id, t.transaction_id) for t in running}
        self._last_sent = {k: v for k, v in self._last_sent.items() if k in keys}
        sent = 0
        for transaction in running:
            station_id = transaction.station_id
            tariff = in_force(tariffs.get(station_id, ()), transaction.started_at)
            if tariff is None:
                continue
            cost = _price(tariff, transaction, now)
            key = (station_id, transaction.transaction_id)
            if self._last_sent.get(key) == cost.total:
                continue
            try:
                answer = await self._control.cost_updated(
                    station_id, transaction.transaction_id, cost.total
                )
            except (StationOffline, StationCallTimeout, StationCallError, ValueError) as error:
                log.warning("%s: CostUpdated not delivered: %s", station_id, error)
                continue
            if answer is None:  # this station's OCPP version has no cost message
                continue
            self._last_sent[key] = cost.total
            sent += 1
        return sent

    async def run(self) -> None:
        """Send running costs every `update_interval_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.send_updates()
            except Exception:
                log.exception("running costs not sent")


def _price(tariff: TariffRecord, transaction: Transaction, now: datetime) -> PriceBreakdown:
    """The cost so far (or in total once ended)."""
    end = transaction.stopped_at or now
    return price(
        tariff.tariff,
        energy_wh=transaction.energy_wh or 0,
        duration=end - transaction.started_at,
    )
