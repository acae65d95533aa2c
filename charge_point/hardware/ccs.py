"""A DC connector with an in-process simulated EV (CCS / ISO 15118 over PLC, modelled as calls).

There is no PLC modem to talk to, so the "link" is direct method calls between the connector
and an object implementing `SimulatedEvPort` (see `ev_simulator.CcsEvSimulator`). The fleet
simulator uses this same class for the CHAdeMO position too (`standard=CHADEMO`): the charging
behaviour the OCPP client sees is the same, and it costs no CAN bus and no 100 ms loop. While no
session is running the connector's task sleeps on an event; during a session it wakes once per
`tick_s` (1 s by default) and its meter is also brought up to date on every `reading()`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from charge_point.domain.stop_reason import StopReason
from charge_point.hardware.base import (
    ConnectorBase,
    ConnectorStandard,
    ConnectorUnavailable,
    EnergyTransferStarted,
    FaultCleared,
    FaultRaised,
    PluggedIn,
    Reading,
    Resumed,
    Stopped,
    SuspendedByEv,
    SuspendedByEvse,
    Unplugged,
)

log = logging.getLogger(__name__)


class SimulatedEvPort(Protocol):
    """What the connector learns from (and does to) the car over the simulated link."""

    @property
    def soc_pct(self) -> float: ...

    @property
    def voltage_v(self) -> float: ...

    @property
    def wants_to_charge(self) -> bool:
        """False when the car ends the session (target SoC reached, stop pressed in the car)."""
        ...

    def demand_w(self) -> int:
        """Power the car accepts now; 0 while it pauses."""
        ...

    def take_energy(self, power_w: float, dt_s: float) -> float:
        """Deliver `power_w` for `dt_s` simulated seconds; returns the Wh the pack took."""
        ...


class _Delivery(StrEnum):
    NOT_STARTED = "not_started"
    FLOWING = "flowing"
    SUSPENDED_EV = "suspended_ev"
    SUSPENDED_EVSE = "suspended_evse"


class SimulatedConnector(ConnectorBase):
    """A connector whose EV is simulated in-process. Implements `PowerSharingMember`."""

    def __init__(
        self,
        connector_id: int = 1,
        *,
        standard: ConnectorStandard = ConnectorStandard.CCS,
        max_power_w: int = 22_000,
        tick_s: float = 1.0,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(connector_id, standard, max_power_w)
        if tick_s <= 0 or time_scale <= 0:
            raise ValueError("tick_s and time_scale must be positive")
        self._tick_s = tick_s
        self._time_scale = time_scale
        self._clock = clock
        self._ev: SimulatedEvPort | None = None
        self._authorized = False
        self._session = False
        self._delivery = _Delivery.NOT_STARTED
        self._transfer_started = False
        self._energy_wh = 0.0
        self._power_w = 0.0
        self._last_s: float | None = None
        self._locked = False
        self._fault: str | None = None
        self._active = asyncio.Event()

    # --- ConnectorHardware ---------------------------------------------------------------

    @property
    def plugged_in(self) -> bool:
        return self._ev is not None

    @property
    def energy_transfer_active(self) -> bool:
        return self._session

    @property
    def faulted(self) -> bool:
        return self._fault is not None

    @property
    def locked(self) -> bool:
        return self._locked

    def reading(self) -> Reading:
        self._advance()
        ev = self._ev
        voltage = ev.voltage_v if ev is not None and self._session else 0.0
        current = self._power_w / voltage if voltage else 0.0
        soc = int(ev.soc_pct) if ev is not None else None
        return Reading(int(self._energy_wh), round(self._power_w), current, voltage, soc)

    async def enable(self, power_limit_w: int | None = None) -> None:
        if self._fault is not None:
            raise ConnectorUnavailable(f"connector {self.connector_id} is faulted: {self._fault}")
        self._profile_limit_w = power_limit_w
        self._authorized = True
        self._try_start()

    def set_power_limit(self, watts: int | None) -> None:
        self._advance()
        self._profile_limit_w = watts
        self._notify_power_change()
        self._evaluate()

    async def disable(self, reason: StopReason = StopReason.EVSE) -> None:
        self._authorized = False
        if self._session:
            self._end_session(reason, "stopped by the station")

    async def unlock(self) -> bool:
        if self._session:
            return False
        self._locked = False
        return True

    # --- PowerSharingMember ---------------------------------------------------------------

    @property
    def power_active(self) -> bool:
        return self._session

    def demand_w(self) -> int | None:
        return self._ev.demand_w() if self._ev is not None else 0

    def apply_allocation(self, watts: int) -> None:
        self._advance()
        self._allocation_w = watts
        self._evaluate()

    # --- the simulated link (called by the EV simulator) --------------------------------

    def ev_plugged_in(self, ev: SimulatedEvPort) -> None:
        if self._ev is not None:
            raise RuntimeError(f"connector {self.connector_id} already has an EV plugged in")
        self._ev = ev
        self._publish(PluggedIn(connector_id=self.connector_id))
        self._try_start()

    def ev_unplugged(self) -> None:
        if self._ev is None:
            return
        if self._session:
            self._end_session(StopReason.UNPLUGGED, "cable pulled during the session")
        self._ev = None
        self._authorized = False
        self._locked = False
        self._publish(Unplugged(connector_id=self.connector_id))

    def ev_changed(self) -> None:
        """The car paused, resumed or asked to stop: re-evaluate now, not at the next tick."""
        self._advance()
        self._evaluate()

    def ev_fault(self, detail: str) -> None:
        if self._session:
            self._end_session(StopReason.EV_FAULT, detail)

    # --- station-side faults (for tests and the fleet's failure injection) ---------------

    def raise_fault(self, error_code: str = "OtherError", detail: str = "") -> None:
        if self._session:
            self._end_session(StopReason.EVSE_FAULT, detail or error_code)
        self._fault = error_code
        self._authorized = False
        self._publish(
            FaultRaised(connector_id=self.connector_id, error_code=error_code, detail=detail)
        )

    def clear_fault(self) -> None:
        if self._fault is None:
            return
        self._fault = None
        self._publish(FaultCleared(connector_id=self.connector_id))
        if self._ev is not None:
            self._publish(PluggedIn(connector_id=self.connector_id))

    # --- running ----------------------------------------------------------------------

    async def run(self) -> None:
        """Advance the meter and the car once per tick while a session runs; idle otherwise."""
        while True:
            await self._active.wait()
            self._advance()
            self._evaluate()
            await asyncio.sleep(self._tick_s)

    def _try_start(self) -> None:
        if self._session or not self._authorized or self._ev is None or self._fault is not None:
            return
        self._advance()
        self._session = True
        self._locked = True
        self._transfer_started = False
        self._delivery = _Delivery.NOT_STARTED
        self._active.set()
        self._notify_power_change()  # the station hands out shares before we draw anything
        self._evaluate()

    def _end_session(self, reason: StopReason, detail: str) -> None:
        self._advance()
        self._session = False
        self._authorized = False
        self._power_w = 0.0
        self._locked = False
        self._active.clear()
        log.info("connector %s stopped: %s (%s)", self.connector_id, reason.value, detail)
        self._publish(Stopped(connector_id=self.connector_id, reason=reason, detail=detail))
        self._notify_power_change()

    def _evaluate(self) -> None:
        ev = self._ev
        if not self._session or ev is None:
            return
        if not ev.wants_to_charge:
            self._end_session(StopReason.EV_REQUEST, "the EV ended the session")
            return
        offered = self.offered_power_w()
        demand = ev.demand_w()
        if offered == 0:
            delivery = _Delivery.SUSPENDED_EVSE
        elif demand == 0:
            delivery = _Delivery.SUSPENDED_EV
        else:
            delivery = _Delivery.FLOWING
        self._power_w = float(min(offered, demand)) if delivery is _Delivery.FLOWING else 0.0
        if delivery is self._delivery:
            return
        self._delivery = delivery
        cid = self.connector_id
        if delivery is _Delivery.FLOWING:
            self._publish(
                Resumed(connector_id=cid)
                if self._transfer_started
                else EnergyTransferStarted(connector_id=cid)
            )
            self._transfer_started = True
        elif delivery is _Delivery.SUSPENDED_EV:
            self._publish(SuspendedByEv(connector_id=cid))
        else:
            self._publish(SuspendedByEvse(connector_id=cid))

    def _advance(self) -> None:
        now = self._clock()
        last, self._last_s = self._last_s, now
        if last is None or self._ev is None or not self._session or self._power_w <= 0:
            return
        dt = max(0.0, now - last) * self._time_scale
        self._energy_wh += self._ev.take_energy(self._power_w, dt)
