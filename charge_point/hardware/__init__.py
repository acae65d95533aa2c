"""Station hardware adapters (asyncio): connectors, simulated EVs, the modem, the station.

The OCPP client depends on `ConnectorHardware`, the events and `StationHardware`; everything
else here is wiring for a particular kind of hardware or simulation.
"""

from charge_point.hardware.base import (
    ConnectorHardware,
    ConnectorStandard,
    ConnectorUnavailable,
    EnergyTransferStarted,
    EventSubscription,
    FaultCleared,
    FaultRaised,
    HardwareEvent,
    PluggedIn,
    PowerSharingMember,
    Reading,
    Resumed,
    Stopped,
    SuspendedByEv,
    SuspendedByEvse,
    Unplugged,
    connector_event,
)
from charge_point.hardware.station_hardware import StationHardware

__all__ = [
    "ConnectorHardware",
    "ConnectorStandard",
    "ConnectorUnavailable",
    "EnergyTransferStarted",
    "EventSubscription",
    "FaultCleared",
    "FaultRaised",
    "HardwareEvent",
    "PluggedIn",
    "PowerSharingMember",
    "Reading",
    "Resumed",
    "StationHardware",
    "Stopped",
    "SuspendedByEv",
    "SuspendedByEvse",
    "Unplugged",
    "connector_event",
]
