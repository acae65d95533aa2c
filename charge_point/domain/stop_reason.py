"""Why energy transfer stopped; shared by both connector standards so the OCPP client maps one
set of reasons to StopTransaction.reason (1.6) or TransactionEvent stoppedReason (2.0.1)."""

from __future__ import annotations

from enum import StrEnum


class StopReason(StrEnum):
    EV_REQUEST = "ev_request"
    """The EV ended the session (battery at target, driver stopped it from the car)."""
    EV_FAULT = "ev_fault"
    """The EV reported a fault or broke the charging protocol."""
    COMMUNICATION_TIMEOUT = "communication_timeout"
    """The EV stopped talking (CHAdeMO: no frame for more than a second)."""
    EVSE = "evse"
    """The station ended it: driver, central system, or a local stop."""
    EVSE_FAULT = "evse_fault"
    """The station detected a fault on its side (output out of range, hardware error)."""
    INCOMPATIBLE = "incompatible"
    """The EV's limits do not fit the charger (parameter exchange failed)."""
    UNPLUGGED = "unplugged"
    """The cable was pulled before the session could be stopped in order."""
