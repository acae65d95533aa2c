"""Connector status as a pure transition table (OCPP 1.6 ChargePointStatus names).

The table is data, not code, so the OCPP client, the tests and a reviewer read the same thing,
and an event that does not fit the current status comes back as a rejected `Transition` the
caller can log or report instead of silently moving the connector somewhere odd.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class ConnectorStatus(StrEnum):
    """OCPP 1.6 ChargePointStatus for a connector (connector 0 is not modelled here)."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class ConnectorEvent(StrEnum):
    """What can happen to a connector; hardware, driver and central system produce these."""

    PLUG_IN = "plug_in"
    AUTHORIZED = "authorized"
    ENERGY_TRANSFER_STARTED = "energy_transfer_started"
    EV_SUSPENDED = "ev_suspended"
    EVSE_SUSPENDED = "evse_suspended"
    RESUMED = "resumed"
    STOP_REQUESTED = "stop_requested"
    UNPLUGGED = "unplugged"
    AUTHORIZATION_EXPIRED = "authorization_expired"
    FAULT = "fault"
    FAULT_CLEARED = "fault_cleared"
    RESERVED = "reserved"
    RESERVATION_ENDED = "reservation_ended"
    MADE_UNAVAILABLE = "made_unavailable"
    MADE_AVAILABLE = "made_available"


class Ocpp201ConnectorStatus(StrEnum):
    """OCPP 2.0.1 ConnectorStatusEnumType: the session detail lives in TransactionEvent there."""

    AVAILABLE = "Available"
    OCCUPIED = "Occupied"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


S = ConnectorStatus
E = ConnectorEvent

_IN_SESSION = (S.CHARGING, S.SUSPENDED_EV, S.SUSPENDED_EVSE)

_table: dict[tuple[ConnectorStatus, ConnectorEvent], ConnectorStatus] = {
    # Idle connector.
    (S.AVAILABLE, E.PLUG_IN): S.PREPARING,
    (S.AVAILABLE, E.AUTHORIZED): S.PREPARING,  # authorize first, plug in later
    (S.AVAILABLE, E.RESERVED): S.RESERVED,
    (S.AVAILABLE, E.MADE_UNAVAILABLE): S.UNAVAILABLE,
    # Preparing: plugged in or authorized, waiting for the other half or for the EV.
    (S.PREPARING, E.PLUG_IN): S.PREPARING,
    (S.PREPARING, E.AUTHORIZED): S.PREPARING,
    (S.PREPARING, E.ENERGY_TRANSFER_STARTED): S.CHARGING,
    (S.PREPARING, E.EV_SUSPENDED): S.SUSPENDED_EV,
    (S.PREPARING, E.EVSE_SUSPENDED): S.SUSPENDED_EVSE,
    (S.PREPARING, E.STOP_REQUESTED): S.FINISHING,
    (S.PREPARING, E.UNPLUGGED): S.AVAILABLE,
    (S.PREPARING, E.AUTHORIZATION_EXPIRED): S.AVAILABLE,
    # Reserved: only the reserving driver gets past this, which the caller checks.
    (S.RESERVED, E.PLUG_IN): S.PREPARING,
    (S.RESERVED, E.AUTHORIZED): S.PREPARING,
    (S.RESERVED, E.RESERVATION_ENDED): S.AVAILABLE,
    (S.RESERVED, E.MADE_UNAVAILABLE): S.UNAVAILABLE,
    # Energy transfer and its pauses.
    (S.CHARGING, E.EV_SUSPENDED): S.SUSPENDED_EV,
    (S.CHARGING, E.EVSE_SUSPENDED): S.SUSPENDED_EVSE,
    (S.SUSPENDED_EV, E.RESUMED): S.CHARGING,
    (S.SUSPENDED_EV, E.ENERGY_TRANSFER_STARTED): S.CHARGING,
    (S.SUSPENDED_EV, E.EVSE_SUSPENDED): S.SUSPENDED_EVSE,
    (S.SUSPENDED_EVSE, E.RESUMED): S.CHARGING,
    (S.SUSPENDED_EVSE, E.ENERGY_TRANSFER_STARTED): S.CHARGING,
    (S.SUSPENDED_EVSE, E.EV_SUSPENDED): S.SUSPENDED_EV,
    # Finishing: the session is over, the cable may still be in.
    (S.FINISHING, E.UNPLUGGED): S.AVAILABLE,
    (S.FINISHING, E.AUTHORIZED): S.PREPARING,  # 1.6 allows a new session without re-plugging
    (S.FINISHING, E.STOP_REQUESTED): S.FINISHING,
    (S.FINISHING, E.MADE_UNAVAILABLE): S.UNAVAILABLE,
    # Out of service.
    (S.UNAVAILABLE, E.MADE_AVAILABLE): S.AVAILABLE,
    (S.UNAVAILABLE, E.PLUG_IN): S.UNAVAILABLE,
    (S.UNAVAILABLE, E.UNPLUGGED): S.UNAVAILABLE,
    (S.FAULTED, E.FAULT_CLEARED): S.AVAILABLE,
    (S.FAULTED, E.FAULT): S.FAULTED,
    (S.FAULTED, E.PLUG_IN): S.FAULTED,
    (S.FAULTED, E.UNPLUGGED): S.FAULTED,
    (S.FAULTED, E.MADE_UNAVAILABLE): S.UNAVAILABLE,
}
for _status in _IN_SESSION:
    _table[(_status, E.STOP_REQUESTED)] = S.FINISHING
    # Unplugging mid-session ends the session (1.6 StopTransactionOnEVSideDisconnect = true).
    _table[(_status, E.UNPLUGGED)] = S.AVAILABLE
for _status in ConnectorStatus:
    if _status is not S.FAULTED:
        _table[(_status, E.FAULT)] = S.FAULTED

TRANSITIONS: Mapping[tuple[ConnectorStatus, ConnectorEvent], ConnectorStatus] = MappingProxyType(
    _table
)
"""(status, event) -> next status. A missing pair is an invalid transition."""


@dataclass(frozen=True, slots=True)
class Transition:
    """Outcome of applying one event; `accepted` False means the status did not change."""

    previous: ConnectorStatus
    event: ConnectorEvent
    status: ConnectorStatus
    accepted: bool
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.accepted and self.status is not self.previous


def transition(status: ConnectorStatus, event: ConnectorEvent) -> Transition:
    """Apply `event`; an event the table does not allow is reported in the result, not raised,
    because hardware can legitimately race with commands (an unplug while a stop is on its way)
    and the caller decides whether that is worth a log line or a fault."""
    target = TRANSITIONS.get((status, event))
    if target is None:
        return Transition(
            status, event, status, False, f"event {event.value!r} is not valid in {status.value}"
        )
    return Transition(status, event, target, True)


def allowed_events(status: ConnectorStatus) -> frozenset[ConnectorEvent]:
    """Events the table accepts in `status` (for diagnostics and tests)."""
    return frozenset(event for (state, event) in TRANSITIONS if state is status)


_TO_201: Mapping[ConnectorStatus, Ocpp201ConnectorStatus] = MappingProxyType(
    {
        S.AVAILABLE: Ocpp201ConnectorStatus.AVAILABLE,
        S.PREPARING: Ocpp201ConnectorStatus.OCCUPIED,
        S.CHARGING: Ocpp201ConnectorStatus.OCCUPIED,
        S.SUSPENDED_EV: Ocpp201ConnectorStatus.OCCUPIED,
        S.SUSPENDED_EVSE: Ocpp201ConnectorStatus.OCCUPIED,
        S.FINISHING: Ocpp201ConnectorStatus.OCCUPIED,
        S.RESERVED: Ocpp201ConnectorStatus.RESERVED,
        S.UNAVAILABLE: Ocpp201ConnectorStatus.UNAVAILABLE,
        S.FAULTED: Ocpp201ConnectorStatus.FAULTED,
    }
)


def to_ocpp201(status: ConnectorStatus) -> Ocpp201ConnectorStatus:
    """2.0.1 StatusNotification value; everything between plug-in and unplug is Occupied."""
    return _TO_201[status]
