"""Station registry rules: identities and the answer to a BootNotification (B01-B03, TC_001)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

MAX_STATION_ID_LENGTH = 48


class InvalidStationId(ValueError):
    """The identity cannot be an OCPP charging-station identity."""


def validate_station_id(station_id: str) -> str:
    """Check an identity against OCPP's identifierString rules for the Basic-auth username.

    At most 48 characters and no ':' (it is the username of HTTP Basic auth), printable.
    """
    if not station_id:
        raise InvalidStationId("the station id is empty")
    if len(station_id) > MAX_STATION_ID_LENGTH:
        raise InvalidStationId(f"the station id is longer than {MAX_STATION_ID_LENGTH} characters")
    if ":" in station_id:
        raise InvalidStationId("the station id contains ':'")
    if not station_id.isprintable() or any(ch.isspace() for ch in station_id):
        raise InvalidStationId("the station id contains whitespace or control characters")
    return station_id


class RegistrationStatus(StrEnum):
    """What the operator decided for a station; it is the answer to its BootNotification."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class SecurityProfile(IntEnum):
    """OCPP security profile (A00). 0 is ours: no authentication, for trusted networks only."""

    NONE = 0
    BASIC_AUTH = 1
    TLS_BASIC_AUTH = 2
    TLS_CLIENT_CERTIFICATE = 3

    @property
    def uses_tls(self) -> bool:
        return self >= SecurityProfile.TLS_BASIC_AUTH

    @property
    def uses_password(self) -> bool:
        return self in (SecurityProfile.BASIC_AUTH, SecurityProfile.TLS_BASIC_AUTH)


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What a station tells about itself in BootNotification (version-neutral)."""

    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BootDecision:
    status: RegistrationStatus
    interval_seconds: int


def decide_boot(
    registration: RegistrationStatus, *, heartbeat_interval: int, retry_interval: int
) -> BootDecision:
    """Answer a BootNotification from the operator's registration decision.

    Accepted carries the heartbeat interval; Pending and Rejected carry the minimum wait before the
    station may boot again (OCPP 1.6 section 4.2, 2.0.1 B02/B03).
    """
    if registration is RegistrationStatus.ACCEPTED:
        return BootDecision(registration, heartbeat_interval)
    return BootDecision(registration, retry_interval)


@dataclass(frozen=True, slots=True)
class StationRecord:
    """A station as the registry knows it."""

    id: str
    registration_status: RegistrationStatus = RegistrationStatus.ACCEPTED
    security_profile: SecurityProfile = SecurityProfile.NONE
    password_hash: str | None = None
    boot_status: RegistrationStatus | None = None
    boot_info: BootInfo | None = None
    last_boot_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    ocpp_version: str | None = None
    connected: bool = False
    last_connected_at: datetime | None = None
    last_disconnected_at: datetime | None = None
    firmware_status: str | None = None
    diagnostics_status: str | None = None


class Admission(StrEnum):
    """The answer to a station's websocket upgrade request, before any OCPP message."""

    ACCEPT = "accept"
    REGISTER_AND_ACCEPT = "register-and-accept"
    UNKNOWN_STATION = "unknown-station"  # HTTP 404
    UNAUTHORIZED = "unauthorized"  # HTTP 401


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the upgrade request presented: Basic-auth username (None without the header) and
    whether it came over TLS."""

    username: str | None
    password_ok: bool
    over_tls: bool = False
    client_certificate_ok: bool = False


def certificate_identifies(
    station_id: str,
    *,
    common_name: str | None,
    organization: str | None,
    serial_number: str | None = None,
    cpo_name: str | None = None,
) -> bool:
    """Whether a verified client certificate belongs to this station (A00.FR.404/405).

    CN must be the station's identity (or the serial number it booted with); O must be the
    operator's name where one is configured.
    """
    if common_name is None or common_name not in {station_id, serial_number}:
        return False
    return cpo_name is None or organization == cpo_name


def offers_more_than(profile: SecurityProfile, credentials: Credentials) -> bool:
    """Whether a connection presents more than the station's profile asks for (a password to a
    profile 0 station, TLS to a profile 0/1 station, a client certificate below profile 3): only
    such a connection can complete a pending move to a higher profile (A05, TC_083)."""
    return (
        (credentials.password_ok and profile < SecurityProfile.BASIC_AUTH)
        or (credentials.over_tls and profile < SecurityProfile.TLS_BASIC_AUTH)
        or (credentials.client_certificate_ok and profile < SecurityProfile.TLS_CLIENT_CERTIFICATE)
    )


def admit(
    station_id: str,
    record: StationRecord | None,
    credentials: Credentials,
    *,
    auto_register: bool,
) -> Admission:
    """Decide a connection attempt (A00.FR.002, A00.FR.204: username equals the identity).

    A station gets exactly the security profile it is registered with: a station registered for
    TLS is refused over plain ws, a Basic-auth station without the right password is refused.
    """
    if record is None:
        return Admission.REGISTER_AND_ACCEPT if auto_register else Admission.UNKNOWN_STATION
    profile = record.security_profile
    if profile.uses_tls and not credentials.over_tls:
        return Admission.UNAUTHORIZED
    if profile is SecurityProfile.TLS_CLIENT_CERTIFICATE:
        return Admission.ACCEPT if credentials.client_certificate_ok else Admission.UNAUTHORIZED
    if profile.uses_password:
        if record.password_hash is None or credentials.username != station_id:
            return Admission.UNAUTHORIZED
        return Admission.ACCEPT if credentials.password_ok else Admission.UNAUTHORIZED
    return Admission.ACCEPT
