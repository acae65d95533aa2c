"""Connector status as the stations report it (1.6 StatusNotification, 2.0.1 G01)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ConnectorStatus(StrEnum):
    """Union of 1.6 ChargePointStatus and 2.0.1 ConnectorStatusEnumType."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EVSE = "SuspendedEVSE"
    SUSPENDED_EV = "SuspendedEV"
    FINISHING = "Finishing"
    OCCUPIED = "Occupied"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"

    @property
    def is_free(self) -> bool:
        """Whether a new EV can plug in and charge here now."""
        return self is ConnectorStatus.AVAILABLE


@dataclass(frozen=True, slots=True)
class ConnectorKey:
    """Where on a station: 2.0.1 (evse, connector). A 1.6 connector N is EVSE N, connector 1;
    1.6 connector 0 (the whole station) is (0, 0)."""

    evse_id: int
    connector_id: int

    @classmethod
    def from_ocpp16(cls, connector_id: int) -> ConnectorKey:
        return cls(connector_id, 0 if connector_id == 0 else 1)


@dataclass(frozen=True, slots=True)
class ConnectorState:
    key: ConnectorKey
    status: ConnectorStatus
    error_code: str | None
    info: str | None
    vendor_error_code: str | None
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One StatusNotification, version-neutral."""

    key: ConnectorKey
    status: ConnectorStatus
    reported_at: datetime
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None


def apply_status(current: ConnectorState | None, report: StatusReport) -> ConnectorState | None:
    """The connector's new state, or None when the report is older than what we know.

    Stations replay queued notifications after an outage; an old one must not overwrite a newer
    status (the report is still kept in the status history).
    """
    if current is not None and report.reported_at < current.reported_at:
        return None
    error = None if report.error_code in (None, "NoError") else report.error_code
    return ConnectorState(
        report.key, report.status, error, report.info, report.vendor_error_code, report.reported_at
    )
