"""The seam between the station's hardware and the OCPP client: `ConnectorHardware`.

The OCPP client only ever sees this protocol, so the same client code drives a simulated CCS
connector, a CHAdeMO connector on a real CAN bus, or a fleet of simulated stations. Hardware
reports what happened as events on an async stream (no polling), and measurements on demand via
`reading()` (meter values are sampled by the client at its own interval).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self, TypeVar, runtime_checkable

from charge_point.domain.connector_state import ConnectorEvent
from charge_point.domain.stop_reason import StopReason

log = logging.getLogger(__name__)


class ConnectorStandard(StrEnum):
    CCS = "CCS"
    CHADEMO = "CHAdeMO"


@dataclass(frozen=True, slots=True)
class Reading:
    """One sample of the connector's meter and the EV's state."""

    energy_wh: int
    """Energy register: monotonic per connector over the process lifetime, never reset."""
    power_w: int
    current_a: float
    voltage_v: float
    soc_pct: int | None
    """The EV's state of charge while it reports one (CHAdeMO 0x102, CCS via ISO 15118)."""


class ConnectorUnavailable(RuntimeError):
    """The connector cannot start a session now (faulted or not running)."""


def _now() -> datetime:
    return datetime.now(UTC)


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Event:
    connector_id: int
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True, kw_only=True)
class PluggedIn(_Event):
    """An EV is connected (proximity / PLC link up). Also re-sent after a fault clears."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Unplugged(_Event):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyTransferStarted(_Event):
    """First current of the session: the moment OCPP 1.6 reports Charging."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SuspendedByEv(_Event):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class SuspendedByEvse(_Event):
    """The station offers 0 W (charging profile or power sharing)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Resumed(_Event):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Stopped(_Event):
    """Energy transfer of this session is over; the connector needs a new `enable()`."""

    reason: StopReason
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRaised(_Event):
    """The connector cannot charge. `error_code` uses OCPP 1.6 ChargePointErrorCode words."""

    error_code: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultCleared(_Event):
    pass


HardwareEvent = (
    PluggedIn
    | Unplugged
    | EnergyTransferStarted
    | SuspendedByEv
    | SuspendedByEvse
    | Resumed
    | Stopped
    | FaultRaised
    | FaultCleared
)

_CONNECTOR_EVENTS: dict[type[HardwareEvent], ConnectorEvent] = {
    PluggedIn: ConnectorEvent.PLUG_IN,
    Unplugged: ConnectorEvent.UNPLUGGED,
    EnergyTransferStarted: ConnectorEvent.ENERGY_TRANSFER_STARTED,
    SuspendedByEv: ConnectorEvent.EV_SUSPENDED,
    SuspendedByEvse: ConnectorEvent.EVSE_SUSPENDED,
    Resumed: ConnectorEvent.RESUMED,
    Stopped: ConnectorEvent.STOP_REQUESTED,
    FaultRaised: ConnectorEvent.FAULT,
    FaultCleared: ConnectorEvent.FAULT_CLEARED,
}


def connector_event(event: HardwareEvent) -> ConnectorEvent:
    """The status-table event a hardware event feeds (see domain.connector_state)."""
    return _CONNECTOR_EVENTS[type(event)]


# --- event stream ----------------------------------------------------------------------------


_E = TypeVar("_E", bound=HardwareEvent)


class EventSubscription:
    """One subscriber's queue of hardware events; iterate it or `await get()`.

    Subscribing costs one queue and nothing while idle, which matters for a fleet of hundreds of
    simulated stations in one process. Close it (or use `async with`) to stop receiving.
    """

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[HardwareEvent] = asyncio.Queue()

    def _put(self, event: HardwareEvent) -> None:
        self._queue.put_nowait(event)

    async def get(self) -> HardwareEvent:
        return await self._queue.get()

    def get_nowait(self) -> HardwareEvent | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def wait_for(self, kind: type[_E], timeout: float) -> _E:
        """The next event of `kind`, skipping others; TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self._queue.get()
                if isinstance(event, kind):
                    return event

    def close(self) -> None:
        self._hub._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[HardwareEvent]:
        return self

    async def __anext__(self) -> HardwareEvent:
        return await self._queue.get()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventHub:
    """Fan-out of a connector's events to every current subscriber."""

    def __init__(self) -> None:
        self._subscribers: list[EventSubscription] = []

    def subscribe(self) -> EventSubscription:
        subscription = EventSubscription(self)
        self._subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: EventSubscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def publish(self, event: HardwareEvent) -> None:
        log.debug("connector %s: %s", event.connector_id, type(event).__name__)
        for subscriber in self._subscribers:
            subscriber._put(event)


# --- the protocols ---------------------------------------------------------------------------


@runtime_checkable
class ConnectorHardware(Protocol):
    """What the OCPP client uses to run sessions on one connector."""

    @property
    def connector_id(self) -> int: ...

    @property
    def standard(self) -> ConnectorStandard: ...

    @property
    def max_power_w(self) -> int: ...

    @property
    def plugged_in(self) -> bool:
        """For the boot StatusNotification; later changes arrive as events."""
        ...

    @property
    def energy_transfer_active(self) -> bool:
        """A session is between `enable()` and its `Stopped` event."""
        ...

    @property
    def faulted(self) -> bool: ...

    def reading(self) -> Reading: ...

    async def enable(self, power_limit_w: int | None = None) -> None:
        """The driver is authorized: start energy transfer as soon as an EV is plugged in and
        ready (now, or when it arrives). Returns at once; progress arrives as events."""
        ...

    def set_power_limit(self, watts: int | None) -> None:
        """This connector's limit from a charging profile (None = no limit)."""
        ...

    async def disable(self, reason: StopReason = StopReason.EVSE) -> None:
        """Stop energy transfer and run the stop sequence; returns when it has finished. Also
        withdraws an authorization that has not started a session yet."""
        ...

    async def unlock(self) -> bool:
        """OCPP UnlockConnector. False while energy transfer is active (never unlock under
        load; stop the transaction first) or when the lock does not open."""
        ...

    def events(self) -> EventSubscription:
        """A new subscription; events before this call are not replayed."""
        ...


PowerListener = Callable[[], None]


class PowerSharingMember(ConnectorHardware, Protocol):
    """What the station's power sharing needs from a connector, beyond the OCPP interface."""

    @property
    def power_active(self) -> bool:
        """The connector holds (or is about to draw) a share of the station's power."""
        ...

    @property
    def power_limit_w(self) -> int | None:
        """The connector's own charging-profile limit."""
        ...

    def demand_w(self) -> int | None:
        """What the EV would take now, or None when unknown (assume the connector maximum)."""
        ...

    def apply_allocation(self, watts: int) -> None:
        """The station's share for this connector; a lower value takes effect immediately."""
        ...

    def set_power_listener(self, listener: PowerListener | None) -> None:
        """Called synchronously when `power_active` or the profile limit changes, before the
        connector draws any power, so the station can hand out shares first."""
        ...


class ConnectorBase:
    """Shared plumbing: identity, event hub, profile limit, station allocation."""

    def __init__(self, connector_id: int, standard: ConnectorStandard, max_power_w: int) -> None:
        if max_power_w <= 0:
            raise ValueError("max_power_w must be positive")
        self._connector_id = connector_id
        self._standard = standard
        self._max_power_w = max_power_w
        self._hub = EventHub()
        self._profile_limit_w: int | None = None
        self._allocation_w: int | None = None  # None until a station manages this connector
        self._power_listener: PowerListener | None = None

    @property
    def connector_id(self) -> int:
        return self._connector_id

    @property
    def standard(self) -> ConnectorStandard:
        return self._standard

    @property
    def max_power_w(self) -> int:
        return self._max_power_w

    @property
    def power_limit_w(self) -> int | None:
        return self._profile_limit_w

    @property
    def allocation_w(self) -> int | None:
        return self._allocation_w

    def events(self) -> EventSubscription:
        return self._hub.subscribe()

    def set_power_listener(self, listener: PowerListener | None) -> None:
        self._power_listener = listener

    def offered_power_w(self) -> int:
        """The most this connector may deliver now: rating, profile and station share."""
        offered = self._max_power_w
        if self._profile_limit_w is not None:
            offered = min(offered, self._profile_limit_w)
        if self._allocation_w is not None:
            offered = min(offered, self._allocation_w)
        return max(0, offered)

    def _notify_power_change(self) -> None:
        if self._power_listener is not None:
            self._power_listener()

    def _publish(self, event: HardwareEvent) -> None:
        self._hub.publish(event)
