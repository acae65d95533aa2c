"""The station: connector 1 (CCS) + connector 2 (CHAdeMO) sharing one power budget.

Shares are recomputed whenever a connector starts or stops a session, a charging-profile limit
changes, and - while two connectors are active - once per `rebalance_interval_s`, because the
EVs' demand changes as they fill up. Lowered shares are applied before raised ones, and every
connector applies a lower share synchronously, so the station never exceeds its budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Protocol, Self

from charge_point.domain.chademo import ChargerConfig
from charge_point.domain.power import (
    DEFAULT_STATION_MAX_W,
    PowerRequest,
    share_power,
    station_budget_w,
)
from charge_point.hardware.base import ConnectorHardware, ConnectorStandard, PowerSharingMember
from charge_point.hardware.ccs import SimulatedConnector
from charge_point.hardware.chademo_can import ChademoCanConnector, ChademoLines

log = logging.getLogger(__name__)


class RunnableConnector(PowerSharingMember, Protocol):
    async def run(self) -> None:
        """Run the connector's I/O until cancelled."""
        ...


class StationHardware:
    """All connectors of one station and their power sharing; run it with `run()` or
    `async with`."""

    def __init__(
        self,
        connectors: Sequence[RunnableConnector],
        *,
        station_max_w: int = DEFAULT_STATION_MAX_W,
        rebalance_interval_s: float = 1.0,
    ) -> None:
        ids = [c.connector_id for c in connectors]
        if len(set(ids)) != len(ids) or any(i <= 0 for i in ids):
            raise ValueError(f"connector ids must be unique and positive: {ids}")
        self._connectors: dict[int, RunnableConnector] = {c.connector_id: c for c in connectors}
        self.station_max_w = station_max_w
        self._station_limit_w: int | None = None
        self._rebalance_interval_s = rebalance_interval_s
        self._allocations: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None
        for connector in connectors:
            connector.set_power_listener(self.rebalance)
            connector.apply_allocation(0)  # nothing until a session starts

    @classmethod
    def simulated(
        cls,
        *,
        station_max_w: int = DEFAULT_STATION_MAX_W,
        connector_max_w: int = 22_000,
        tick_s: float = 1.0,
        time_scale: float = 1.0,
    ) -> StationHardware:
        """Both connectors in-process (the fleet simulator's station: no CAN, no 100 ms loop)."""
        return cls(
            [
                SimulatedConnector(
                    1,
                    standard=ConnectorStandard.CCS,
                    max_power_w=connector_max_w,
                    tick_s=tick_s,
                    time_scale=time_scale,
                ),
                SimulatedConnector(
                    2,
                    standard=ConnectorStandard.CHADEMO,
                    max_power_w=connector_max_w,
                    tick_s=tick_s,
                    time_scale=time_scale,
                ),
            ],
            station_max_w=station_max_w,
        )

    @classmethod
    def with_chademo_can(
        cls,
        *,
        channel: str,
        interface: str = "virtual",
        lines: ChademoLines | None = None,
        station_max_w: int = DEFAULT_STATION_MAX_W,
        connector_max_w: int = 22_000,
        chademo_config: ChargerConfig | None = None,
        tick_s: float = 1.0,
        time_scale: float = 1.0,
    ) -> StationHardware:
        """The `evcharge station` layout: simulated CCS on 1, CHAdeMO over CAN on 2."""
        return cls(
            [
                SimulatedConnector(
                    1, max_power_w=connector_max_w, tick_s=tick_s, time_scale=time_scale
                ),
                ChademoCanConnector(
                    2,
                    channel=channel,
                    interface=interface,
                    lines=lines,
                    max_power_w=connector_max_w,
                    config=chademo_config,
                    time_scale=time_scale,
                ),
            ],
            station_max_w=station_max_w,
        )

    # --- what the OCPP client uses -----------------------------------------------------

    @property
    def connectors(self) -> Mapping[int, ConnectorHardware]:
        return dict(self._connectors)

    def connector(self, connector_id: int) -> ConnectorHardware:
        return self._connectors[connector_id]

    def member(self, connector_id: int) -> RunnableConnector:
        """The concrete connector (to attach a simulated EV, read CAN counters, ...)."""
        return self._connectors[connector_id]

    @property
    def station_limit_w(self) -> int | None:
        return self._station_limit_w

    def set_station_limit(self, watts: int | None) -> None:
        """The whole-station limit from a charging profile (1.6 ChargePointMaxProfile, 2.0.1
        ChargingStationMaxProfile); None removes it. It can only lower `station_max_w`."""
        self._station_limit_w = watts
        self.rebalance()

    @property
    def budget_w(self) -> int:
        return station_budget_w(self.station_max_w, self._station_limit_w)

    @property
    def allocations(self) -> Mapping[int, int]:
        return dict(self._allocations)

    def total_power_w(self) -> int:
        return sum(c.reading().power_w for c in self._connectors.values())

    def rebalance(self) -> None:
        """Recompute every share and apply decreases before increases."""
        active = [c for c in self._connectors.values() if c.power_active]
        requests = [
            PowerRequest(c.connector_id, c.max_power_w, c.power_limit_w, c.demand_w())
            for c in active
        ]
        shares = dict(share_power(requests, self.station_max_w, self._station_limit_w))
        new = {cid: shares.get(cid, 0) for cid in self._connectors}
        old = self._allocations
        order = sorted(new, key=lambda cid: new[cid] - old.get(cid, 0))
        self._allocations = new
        for cid in order:
            if new[cid] != old.get(cid):
                self._connectors[cid].apply_allocation(new[cid])
        if new != old:
            log.debug("power shares %s (budget %d W)", new, self.budget_w)

    # --- running -----------------------------------------------------------------------

    async def run(self) -> None:
        """Run every connector and the periodic rebalance until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            for connector in self._connectors.values():
                tasks.create_task(connector.run(), name=f"connector-{connector.connector_id}")
            tasks.create_task(self._rebalance_loop(), name="power-sharing")

    async def _rebalance_loop(self) -> None:
        while True:
            await asyncio.sleep(self._rebalance_interval_s)
            if sum(c.power_active for c in self._connectors.values()) > 1:
                self.rebalance()

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self.run(), name="station-hardware")
        await asyncio.sleep(0)  # let the connectors open their buses
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if task.done():
            task.result()  # a connector failed: surface it
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
