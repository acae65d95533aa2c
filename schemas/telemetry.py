"""MQTT telemetry contract: topics and payloads the bridge publishes (DESIGN.md section 3).

This module is the partner contract. Every message is JSON with a common envelope:

* ``message_id``: a UUID, unique per message. QoS 1 delivers at least once, so a consumer drops a
  message whose ``message_id`` it has already seen.
* ``schema_version``: the major version of these payloads (``1``). New optional fields can appear
  without a version change, so consumers must ignore fields they do not know.
* ``station_id``: the station's OCPP identity, exactly as the station presents it.
* ``event_time``: when it happened at the station, UTC, ISO 8601 (``2025-01-31T12:00:00Z``).
* ``event``: what kind of message it is; it determines the other fields.

Decimal quantities (sampled values, power, state of charge, money) are JSON strings so that they
stay exact; energy is an integer number of Wh.

Topics: ``dt/evcharge/{station}/{kind}`` with ``kind`` one of ``status``, ``meter``, ``session``,
``signal`` (see `telemetry_topic` for how a station id becomes the ``{station}`` level), and the
device-shadow update ``$aws/things/{thing}/shadow/update`` (see `shadow_topic`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION: Literal[1] = 1
TOPIC_PREFIX = "dt/evcharge"


class TopicKind(StrEnum):
    STATUS = "status"
    METER = "meter"
    SESSION = "session"
    SIGNAL = "signal"


# ---------------------------------------------------------------------------------------------
# Station ids in topics
# ---------------------------------------------------------------------------------------------

# AWS IoT Core thing names: [a-zA-Z0-9:_-]+, at most 128 bytes. ':' is the escape character.
_THING_NAME_SAFE = re.compile(r"[A-Za-z0-9_-]")
MAX_THING_NAME_BYTES = 128


def thing_name(station_id: str) -> str:
    """The station id as an AWS IoT thing name (also the shadow topic's ``{thing}`` level).

    Characters outside ``[A-Za-z0-9_-]`` are written as ``:`` and two lowercase hex digits per
    UTF-8 byte, ``:`` included (``CP.01`` -> ``CP:2e01``, ``a:b`` -> ``a:3ab``). The result uses
    only characters AWS allows in thing names and topics, never an MQTT wildcard or ``/``, and
    distinct station ids give distinct names. A name that would be longer than 128 bytes keeps
    its first 95 characters and ends in ``:h`` and 31 hex digits of the id's SHA-256.
    """
    if not station_id:
        raise ValueError("a station id cannot be empty")
    name = "".join(
        char if _THING_NAME_SAFE.fullmatch(char) else "".join(f":{b:02x}" for b in char.encode())
        for char in station_id
    )
    if len(name) > MAX_THING_NAME_BYTES:
        digest = hashlib.sha256(station_id.encode()).hexdigest()
        name = f"{name[:95]}:h{digest[:31]}"
    return name


def station_topic_level(station_id: str) -> str:
    """The ``{station}`` level of the telemetry topics: `thing_name` in lowercase.

    Topics are lowercase (AWS topic design guidance), so ids that differ only in letter case
    (``CP-1`` and ``cp-1``) share a topic; the payload's ``station_id`` is always exact.
    """
    return thing_name(station_id).lower()


def telemetry_topic(station_id: str, kind: TopicKind | str) -> str:
    """``dt/evcharge/{station}/{kind}``: 3 slashes, well inside AWS IoT's limit of 7."""
    return f"{TOPIC_PREFIX}/{station_topic_level(station_id)}/{TopicKind(kind).value}"


def shadow_topic(station_id: str) -> str:
    """The classic device shadow's update topic of the station's thing (AWS IoT Core)."""
    return f"$aws/things/{thing_name(station_id)}/shadow/update"


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A timezone-aware time, converted to UTC; JSON: ISO 8601 with ``Z``."""


class ConnectorStatus(StrEnum):
    """OCPP 1.6 ChargePointStatus and 2.0.1 ConnectorStatusEnumType, merged."""

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


class SignalQuality(StrEnum):
    """Condition bands of a mobile modem's CSQ value."""

    NO_SIGNAL = "no_signal"  # CSQ 0-1
    MARGINAL = "marginal"  # CSQ 2-9
    OK = "ok"  # CSQ 10-14
    GOOD = "good"  # CSQ 15-19
    EXCELLENT = "excellent"  # CSQ 20-31
    UNKNOWN = "unknown"  # CSQ 99


# Published messages always carry every field (null when unknown): the schemas say so.
_MESSAGE_CONFIG = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)


class Envelope(BaseModel):
    """Fields every message has."""

    model_config = _MESSAGE_CONFIG

    topic_kind: ClassVar[TopicKind]

    message_id: UUID = Field(description="Unique per message; de-duplicate on it.")
    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, description="Major version.")
    station_id: str = Field(min_length=1, max_length=48, description="OCPP station identity.")
    event_time: UtcTime = Field(description="When it happened at the station (UTC).")


# --- dt/evcharge/{station}/status ----------------------------------------------------------


class ConnectorStatusMessage(Envelope):
    """A connector's status changed (OCPP StatusNotification). EVSE 0 / connector 0 is the
    whole station (1.6 connector 0)."""

    topic_kind: ClassVar[TopicKind] = TopicKind.STATUS
    event: Literal["status"] = "status"
    evse_id: int = Field(ge=0)
    connector_id: int = Field(ge=0)
    status: ConnectorStatus
    error_code: str | None = Field(default=None, description="None when there is no error.")
    info: str | None = None
    vendor_error_code: str | None = None


class StationConnectedMessage(Envelope):
    """The station opened its OCPP connection to the central system."""

    topic_kind: ClassVar[TopicKind] = TopicKind.STATUS
    event: Literal["connected"] = "connected"
    ocpp_version: str = Field(examples=["1.6", "2.0.1", "2.1"])


class StationDisconnectedMessage(Envelope):
    """The station's OCPP connection closed."""

    topic_kind: ClassVar[TopicKind] = TopicKind.STATUS
    event: Literal["disconnected"] = "disconnected"


# --- dt/evcharge/{station}/meter -----------------------------------------------------------


class Sample(BaseModel):
    """One sampled value in its base unit (Wh, W, A, V, Percent, ...)."""

    model_config = _MESSAGE_CONFIG

    timestamp: UtcTime
    measurand: str = Field(examples=["Energy.Active.Import.Register"])
    value: Decimal | None = Field(description="None only for an OCPP 1.6 SignedData sample.")
    unit: str
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    signed_data: str | None = None


class MeterMessage(Envelope):
    """Sampled meter values of one EVSE (OCPP MeterValues, TransactionEvent meterValue).

    ``event_time`` is the newest sample's time. A station message too large for one MQTT message
    is split into ``parts`` messages, published in order. The summary fields hold the newest
    value of the message's own samples.
    """

    topic_kind: ClassVar[TopicKind] = TopicKind.METER
    event: Literal["meter"] = "meter"
    evse_id: int = Field(ge=0)
    connector_id: int | None = Field(default=None, description="Known during a session.")
    transaction_id: str | None = None
    energy_register_wh: int | None = Field(default=None, description="Total import register.")
    power_w: Decimal | None = None
    soc_percent: Decimal | None = None
    part: int = Field(default=1, ge=1)
    parts: int = Field(default=1, ge=1)
    samples: list[Sample]


# --- dt/evcharge/{station}/session ---------------------------------------------------------


class IdTokenPayload(BaseModel):
    model_config = _MESSAGE_CONFIG

    value: str
    type: str | None = Field(default=None, description="2.0.1 IdTokenType, None from 1.6.")


class SessionStartedMessage(Envelope):
    """A charging session (OCPP transaction) started; ``event_time`` is its start time."""

    topic_kind: ClassVar[TopicKind] = TopicKind.SESSION
    event: Literal["started"] = "started"
    transaction_id: str
    evse_id: int = Field(ge=0)
    connector_id: int = Field(ge=0)
    id_token: IdTokenPayload | None = None
    authorization: str | None = Field(default=None, description="The token's status.")
    meter_start_wh: int | None = None
    reservation_id: int | None = None
    remote_start_id: int | None = None
    offline: bool = Field(default=False, description="Started while the station was offline.")


class SessionEndedMessage(Envelope):
    """A charging session ended; ``event_time`` is its stop time."""

    topic_kind: ClassVar[TopicKind] = TopicKind.SESSION
    event: Literal["ended"] = "ended"
    transaction_id: str
    evse_id: int = Field(ge=0)
    connector_id: int = Field(ge=0)
    started_at: UtcTime
    id_token: IdTokenPayload | None = None
    stop_id_token: IdTokenPayload | None = None
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    energy_wh: int | None = Field(default=None, description="Energy delivered in the session.")
    stop_reason: str | None = None


class ReceiptMessage(Envelope):
    """The priced receipt of an ended session, or a correction of one (a new receipt with the
    next ``sequence`` that names the receipt it ``corrects``; the highest sequence counts).
    ``event_time`` is when it was issued. Amounts are exact decimals in ``currency`` (ISO 4217).
    """

    topic_kind: ClassVar[TopicKind] = TopicKind.SESSION
    event: Literal["receipt"] = "receipt"
    receipt_id: str
    sequence: int = Field(default=0, ge=0, description="0: the receipt; 1, 2, ...: corrections.")
    corrects: str | None = Field(default=None, description="receipt_id this one corrects.")
    note: str | None = Field(default=None, description="Why a correction was made.")
    transaction_id: str
    evse_id: int = Field(ge=0)
    started_at: UtcTime
    stopped_at: UtcTime
    energy_wh: int = Field(ge=0)
    duration_seconds: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    energy_cost: Decimal
    time_cost: Decimal
    session_fee: Decimal
    total: Decimal


# --- dt/evcharge/{station}/signal ----------------------------------------------------------


class SignalMessage(Envelope):
    """Mobile network signal of the station's modem (AT+CSQ): dBm = -113 + 2 * csq."""

    topic_kind: ClassVar[TopicKind] = TopicKind.SIGNAL
    event: Literal["signal"] = "signal"
    csq: int | None = Field(default=None, ge=0, le=31, description="None when unknown (99).")
    rssi_dbm: int | None = Field(default=None, le=0)
    ber: int | None = Field(default=None, ge=0, le=7)
    quality: SignalQuality


StatusTopicMessage = Annotated[
    ConnectorStatusMessage | StationConnectedMessage | StationDisconnectedMessage,
    Field(discriminator="event"),
]
SessionTopicMessage = Annotated[
    SessionStartedMessage | SessionEndedMessage | ReceiptMessage,
    Field(discriminator="event"),
]
TelemetryMessage = Annotated[
    ConnectorStatusMessage
    | StationConnectedMessage
    | StationDisconnectedMessage
    | MeterMessage
    | SessionStartedMessage
    | SessionEndedMessage
    | ReceiptMessage
    | SignalMessage,
    Field(discriminator="event"),
]
"""Any message on a ``dt/evcharge/...`` topic."""

telemetry_message: TypeAdapter[TelemetryMessage] = TypeAdapter(TelemetryMessage)


def topic_of(message: Envelope) -> str:
    return telemetry_topic(message.station_id, message.topic_kind)


# ---------------------------------------------------------------------------------------------
# Device shadow: $aws/things/{thing}/shadow/update
# ---------------------------------------------------------------------------------------------


class ConnectorReported(BaseModel):
    status: ConnectorStatus | None = None
    error_code: str | None = None
    status_time: UtcTime | None = None


class EvseReported(BaseModel):
    """One EVSE. A ``null`` value clears a field (``transaction_id`` after a session)."""

    connectors: dict[str, ConnectorReported] | None = Field(
        default=None, description="By connector id."
    )
    transaction_id: str | None = None
    session_started_at: UtcTime | None = None
    energy_register_wh: int | None = None
    power_w: Decimal | None = None
    soc_percent: Decimal | None = None
    meter_time: UtcTime | None = None


class NetworkReported(BaseModel):
    csq: int | None = None
    rssi_dbm: int | None = None
    quality: SignalQuality | None = None
    signal_time: UtcTime | None = None


class ShadowReported(BaseModel):
    """The station's last known state. Updates are partial: a field that is absent keeps its
    value, a field that is ``null`` is cleared (AWS IoT Device Shadow semantics)."""

    schema_version: Literal[1] | None = SCHEMA_VERSION
    connected: bool | None = None
    ocpp_version: str | None = None
    connection_time: UtcTime | None = Field(
        default=None, description="When the station last connected or disconnected."
    )
    evses: dict[str, EvseReported] | None = Field(default=None, description="By EVSE id.")
    network: NetworkReported | None = None


class ShadowState(BaseModel):
    reported: ShadowReported


class ShadowUpdate(BaseModel):
    """Payload of ``$aws/things/{thing}/shadow/update``."""

    state: ShadowState
    clientToken: str = Field(  # noqa: N815 (the AWS field name)
        max_length=64, description="message_id of the newest event in this update."
    )


__all__ = [
    "SCHEMA_VERSION",
    "ConnectorReported",
    "ConnectorStatus",
    "ConnectorStatusMessage",
    "Envelope",
    "EvseReported",
    "IdTokenPayload",
    "MeterMessage",
    "NetworkReported",
    "ReceiptMessage",
    "Sample",
    "SessionEndedMessage",
    "SessionStartedMessage",
    "SessionTopicMessage",
    "ShadowReported",
    "ShadowState",
    "ShadowUpdate",
    "SignalMessage",
    "SignalQuality",
    "StationConnectedMessage",
    "StationDisconnectedMessage",
    "StatusTopicMessage",
    "TelemetryMessage",
    "TopicKind",
    "UtcTime",
    "shadow_topic",
    "station_topic_level",
    "telemetry_message",
    "telemetry_topic",
    "thing_name",
    "topic_of",
]
