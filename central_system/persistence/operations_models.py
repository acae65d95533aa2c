"""Tables of station operations (feature profiles beyond Core): load-management sites, charging
profiles, local authorization lists, the 2.0.1 device model, firmware campaigns and diagnostics
uploads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from central_system.persistence.models import utcnow
from central_system.persistence.types import UTCDateTime


def _utc() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


class SiteRow(SQLModel, table=True):
    """A grid connection shared by several stations: its limit is the load-management budget."""

    __tablename__ = "site"

    id: str = Field(primary_key=True, max_length=48)
    name: str = Field(default="", max_length=100)
    grid_limit_w: int = Field(sa_type=BigInteger)
    policy: str = Field(default="equal", max_length=10)  # equal | priority
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class SiteMemberRow(SQLModel, table=True):
    __tablename__ = "site_member"

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=48)
    site_id: str = Field(foreign_key="site.id", max_length=48, index=True)
    priority: int = 0
    max_power_w: int | None = Field(default=None, sa_type=BigInteger)  # migration 0004


class ChargingProfileRow(SQLModel, table=True):
    """A charging profile sent to a station (by an operator or by load management)."""

    __tablename__ = "charging_profile"
    __table_args__ = (Index("ix_charging_profile_station", "station_id", "status", "evse_id"),)

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(foreign_key="station.id", max_length=48)
    evse_id: int = 0
    profile_id: int  # the OCPP chargingProfileId
    stack_level: int = 0
    purpose: str = Field(max_length=40)
    kind: str = Field(max_length=10)
    transaction_id: str | None = Field(default=None, max_length=36)
    source: str = Field(default="operator", max_length=20)  # operator | load_management
    status: str = Field(default="sent", max_length=12)  # sent | accepted | rejected | cleared
    profile: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # version-neutral
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class LocalListStateRow(SQLModel, table=True):
    """The local authorization list a station holds (TC_042/043, D01-D09)."""

    __tablename__ = "local_list_state"

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=48)
    version: int = 0
    enabled: bool = True
    last_status: str | None = Field(default=None, max_length=20)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class LocalListEntryRow(SQLModel, table=True):
    """An entry of the list the station acknowledged (the base of differential updates)."""

    __tablename__ = "local_list_entry"

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=48)
    id_token: str = Field(primary_key=True, max_length=36)
    token_type: str | None = Field(default=None, max_length=20)
    status: str = Field(max_length=20)
    expires_at: datetime | None = _utc()
    group_id: str | None = Field(default=None, max_length=36)


class DeviceVariableRow(SQLModel, table=True):
    """One attribute of a 2.0.1 component variable as the station reported it (NotifyReport) or
    as it was set (SetVariables). Absent instance/evse/connector are stored as ''/0."""

    __tablename__ = "device_variable"

    station_id: str = Field(primary_key=True, foreign_key="station.id", max_length=48)
    component: str = Field(primary_key=True, max_length=50)
    component_instance: str = Field(primary_key=True, default="", max_length=50)
    evse_id: int = Field(primary_key=True, default=0)
    connector_id: int = Field(primary_key=True, default=0)
    variable: str = Field(primary_key=True, max_length=50)
    variable_instance: str = Field(primary_key=True, default="", max_length=50)
    attribute_type: str = Field(primary_key=True, default="Actual", max_length=10)
    value: str | None = Field(default=None, max_length=2500)
    mutability: str | None = Field(default=None, max_length=10)
    data_type: str | None = Field(default=None, max_length=20)
    unit: str | None = Field(default=None, max_length=16)
    characteristics: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class FirmwareCampaignRow(SQLModel, table=True):
    """A firmware update rolled out to many stations, with retries (L01, TC_044, TC_080)."""

    __tablename__ = "firmware_campaign"

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    location: str = Field(max_length=512)
    retrieve_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    retries: int = 3
    retry_interval_s: int = 300
    signed: bool = False
    signing_certificate: str | None = Field(default=None, max_length=5500)
    signature: str | None = Field(default=None, max_length=800)
    status: str = Field(default="running", max_length=12)  # running | finished | cancelled
    created_by: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class FirmwareJobRow(SQLModel, table=True):
    """One station's part of a campaign; its id is the 2.0.1 requestId."""

    __tablename__ = "firmware_job"
    __table_args__ = (UniqueConstraint("campaign_id", "station_id", name="uq_firmware_job"),)

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    campaign_id: int = Field(foreign_key="firmware_campaign.id")
    station_id: str = Field(foreign_key="station.id", max_length=48, index=True)
    status: str = Field(default="Pending", max_length=40)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=255)
    next_attempt_at: datetime | None = _utc()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class DiagnosticsRequestRow(SQLModel, table=True):
    """A GetDiagnostics / GetLog request and the upload it leads to (TC_045, N01)."""

    __tablename__ = "diagnostics_request"

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    station_id: str = Field(foreign_key="station.id", max_length=48, index=True)
    log_type: str = Field(max_length=20)  # Diagnostics | DiagnosticsLog | SecurityLog
    upload_token: str = Field(max_length=64, unique=True)
    status: str = Field(default="Requested", max_length=30)
    file_name: str | None = Field(default=None, max_length=255)
    stored_path: str | None = Field(default=None, max_length=512)
    size_bytes: int | None = Field(default=None, sa_type=BigInteger)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    uploaded_at: datetime | None = _utc()
