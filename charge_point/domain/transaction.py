"""Why a transaction started or ended, version-neutral, and its names on each OCPP version.

The station controller decides *what* happened (the driver stopped, the central system stopped,
the cable was pulled, the station rebooted); the adapters only look the wire words up here, so
1.6 StopTransaction.reason and 2.0.1 stoppedReason / triggerReason never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from charge_point.domain.connector_state import ConnectorStatus
from charge_point.domain.stop_reason import StopReason


class StopCause(StrEnum):
    LOCAL = "local"
    """The driver stopped it at the station (same token, stop button)."""
    REMOTE = "remote"
    EV_DISCONNECTED = "ev_disconnected"
    STOPPED_BY_EV = "stopped_by_ev"
    """The car ended charging (target SoC, stop pressed in the car)."""
    EV_FAULT = "ev_fault"
    EV_COMMUNICATION_LOST = "ev_communication_lost"
    DEAUTHORIZED = "deauthorized"
    """The central system did not accept the token when the transaction started."""
    SOFT_RESET = "soft_reset"
    HARD_RESET = "hard_reset"
    IMMEDIATE_RESET = "immediate_reset"
    UNLOCK_COMMAND = "unlock_command"
    POWER_LOSS = "power_loss"
    """The station process ended during the transaction (found on restart)."""
    EVSE_FAULT = "evse_fault"
    INCOMPATIBLE = "incompatible"
    OTHER = "other"


_OCPP16_REASON: Mapping[StopCause, str] = MappingProxyType(
    {
        StopCause.LOCAL: "Local",
        StopCause.REMOTE: "Remote",
        StopCause.EV_DISCONNECTED: "EVDisconnected",
        StopCause.STOPPED_BY_EV: "Other",
        StopCause.EV_FAULT: "Other",
        StopCause.EV_COMMUNICATION_LOST: "Other",
        StopCause.DEAUTHORIZED: "DeAuthorized",
        StopCause.SOFT_RESET: "SoftReset",
        StopCause.HARD_RESET: "HardReset",
        StopCause.IMMEDIATE_RESET: "HardReset",
        StopCause.UNLOCK_COMMAND: "UnlockCommand",
        StopCause.POWER_LOSS: "PowerLoss",
        StopCause.EVSE_FAULT: "Other",
        StopCause.INCOMPATIBLE: "Other",
        StopCause.OTHER: "Other",
    }
)

_OCPP201_REASON: Mapping[StopCause, str] = MappingProxyType(
    {
        StopCause.LOCAL: "Local",
        StopCause.REMOTE: "Remote",
        StopCause.EV_DISCONNECTED: "EVDisconnected",
        StopCause.STOPPED_BY_EV: "StoppedByEV",
        StopCause.EV_FAULT: "StoppedByEV",
        StopCause.EV_COMMUNICATION_LOST: "EVDisconnected",
        StopCause.DEAUTHORIZED: "DeAuthorized",
        StopCause.SOFT_RESET: "Reboot",
        StopCause.HARD_RESET: "ImmediateReset",
        StopCause.IMMEDIATE_RESET: "ImmediateReset",
        StopCause.UNLOCK_COMMAND: "Other",
        StopCause.POWER_LOSS: "PowerLoss",
        StopCause.EVSE_FAULT: "Other",
        StopCause.INCOMPATIBLE: "Other",
        StopCause.OTHER: "Other",
    }
)

_OCPP201_STOP_TRIGGER: Mapping[StopCause, str] = MappingProxyType(
    {
        StopCause.LOCAL: "StopAuthorized",
        StopCause.REMOTE: "RemoteStop",
        StopCause.EV_DISCONNECTED: "EVCommunicationLost",
        StopCause.STOPPED_BY_EV: "ChargingStateChanged",
        StopCause.EV_FAULT: "AbnormalCondition",
        StopCause.EV_COMMUNICATION_LOST: "EVCommunicationLost",
        StopCause.DEAUTHORIZED: "Deauthorized",
        StopCause.SOFT_RESET: "ResetCommand",
        StopCause.HARD_RESET: "ResetCommand",
        StopCause.IMMEDIATE_RESET: "ResetCommand",
        StopCause.UNLOCK_COMMAND: "UnlockCommand",
        StopCause.POWER_LOSS: "AbnormalCondition",
        StopCause.EVSE_FAULT: "AbnormalCondition",
        StopCause.INCOMPATIBLE: "AbnormalCondition",
        StopCause.OTHER: "AbnormalCondition",
    }
)


def ocpp16_reason(cause: StopCause) -> str:
    """StopTransaction.req reason (1.6 Reason)."""
    return _OCPP16_REASON[cause]


def ocpp201_stopped_reason(cause: StopCause) -> str:
    """TransactionEvent(Ended) transactionInfo.stoppedReason (2.0.1 ReasonEnumType)."""
    return _OCPP201_REASON[cause]


def ocpp201_stop_trigger(cause: StopCause) -> str:
    """TransactionEvent(Ended) triggerReason."""
    return _OCPP201_STOP_TRIGGER[cause]


_FROM_HARDWARE: Mapping[StopReason, StopCause] = MappingProxyType(
    {
        StopReason.EV_REQUEST: StopCause.STOPPED_BY_EV,
        StopReason.EV_FAULT: StopCause.EV_FAULT,
        StopReason.COMMUNICATION_TIMEOUT: StopCause.EV_COMMUNICATION_LOST,
        StopReason.EVSE: StopCause.LOCAL,
        StopReason.EVSE_FAULT: StopCause.EVSE_FAULT,
        StopReason.INCOMPATIBLE: StopCause.INCOMPATIBLE,
        StopReason.UNPLUGGED: StopCause.EV_DISCONNECTED,
    }
)


def cause_of_hardware_stop(reason: StopReason, requested: StopCause | None) -> StopCause:
    """The cause of a hardware `Stopped` event: what the station asked for when it was the
    station that stopped (EVSE), else what the hardware saw."""
    if reason is StopReason.EVSE and requested is not None:
        return requested
    if requested is not None and reason is StopReason.UNPLUGGED:
        return StopCause.EV_DISCONNECTED
    if requested is not None and reason is StopReason.EV_REQUEST:
        return requested  # the stop we asked for crossed the car's own stop
    return _FROM_HARDWARE[reason]


class StartTrigger(StrEnum):
    """What completed the start condition (authorized and plugged in)."""

    AUTHORIZED = "Authorized"
    REMOTE_START = "RemoteStart"
    CABLE_PLUGGED_IN = "CablePluggedIn"


class ChargingState(StrEnum):
    """2.0.1 ChargingStateEnumType."""

    CHARGING = "Charging"
    EV_CONNECTED = "EVConnected"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    IDLE = "Idle"


def charging_state(status: ConnectorStatus, plugged_in: bool) -> ChargingState:
    """The 2.0.1 charging state of a connector in a transaction, from its 1.6 status."""
    if status is ConnectorStatus.CHARGING:
        return ChargingState.CHARGING
    if status is ConnectorStatus.SUSPENDED_EV:
        return ChargingState.SUSPENDED_EV
    if status is ConnectorStatus.SUSPENDED_EVSE:
        return ChargingState.SUSPENDED_EVSE
    return ChargingState.EV_CONNECTED if plugged_in else ChargingState.IDLE
