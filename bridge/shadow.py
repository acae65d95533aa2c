"""Device-shadow updates: each station's last known state as a ``reported`` document.

Each published event contributes a fragment (connector status, session, meter readings, ...).
The bridge merges the fragments of a station into the document it has seen since it started and
publishes the merged document after a batch of that station's events, at most once per batch:
AWS IoT Core allows 20 shadow updates per second per thing. AWS merges every update into the
shadow (a ``null`` clears a field); a broker without a shadow service (Mosquitto) can retain the
last update, which then is the station's state as far as this bridge has seen it.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from schemas.telemetry import (
    SCHEMA_VERSION,
    ConnectorReported,
    ConnectorStatusMessage,
    Envelope,
    EvseReported,
    MeterMessage,
    NetworkReported,
    SessionEndedMessage,
    SessionStartedMessage,
    ShadowReported,
    ShadowState,
    ShadowUpdate,
    SignalMessage,
    StationConnectedMessage,
    StationDisconnectedMessage,
    shadow_topic,
    telemetry_message,
)

log = logging.getLogger(__name__)

Document = dict[str, Any]


def fragment(message: Envelope) -> ShadowReported | None:
    """What an event changes in its station's reported state (None: nothing)."""
    match message:
        case StationConnectedMessage():
            return ShadowReported(
                connected=True,
                ocpp_version=message.ocpp_version,
                connection_time=message.event_time,
            )
        case StationDisconnectedMessage():
            return ShadowReported(connected=False, connection_time=message.event_time)
        case ConnectorStatusMessage():
            connector = ConnectorReported(
                status=message.status,
                error_code=message.error_code,
                status_time=message.event_time,
            )
            evse = EvseReported(connectors={str(message.connector_id): connector})
            return ShadowReported(evses={str(message.evse_id): evse})
        case SessionStartedMessage():
            evse = EvseReported(
                transaction_id=message.transaction_id, session_started_at=message.event_time
            )
            return ShadowReported(evses={str(message.evse_id): evse})
        case SessionEndedMessage():
            evse = EvseReported(transaction_id=None, session_started_at=None)
            return ShadowReported(evses={str(message.evse_id): evse})
        case MeterMessage():
            readings = {
                "energy_register_wh": message.energy_register_wh,
                "power_w": message.power_w,
                "soc_percent": message.soc_percent,
            }
            known = {name: value for name, value in readings.items() if value is not None}
            if not known:
                return None
            evse = EvseReported.model_validate({"meter_time": message.event_time, **known})
            return ShadowReported(evses={str(message.evse_id): evse})
        case SignalMessage():
            network = NetworkReported(
                csq=message.csq,
                rssi_dbm=message.rssi_dbm,
                quality=message.quality,
                signal_time=message.event_time,
            )
            return ShadowReported(network=network)
    return None


def merge(document: Document, update: Document) -> Document:
    """`update` laid over `document`: objects merge key by key, other values replace."""
    merged = dict(document)
    for key, value in update.items():
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = merge(current, value)
        else:
            merged[key] = value
    return merged


class ShadowTracker:
    """The reported documents of the stations whose events this bridge has published."""

    def __init__(self) -> None:
        self._reported: dict[str, Document] = {}

    def apply(self, payload: str) -> tuple[str, str] | None:
        """Fold one published event in; returns (station id, message id) when it changed the
        station's document."""
        try:
            message = telemetry_message.validate_json(payload)
        except ValidationError:
            log.debug("no shadow fragment from a payload that is not a telemetry message")
            return None
        change = fragment(message)
        if change is None:
            return None
        station = message.station_id
        before = self._reported.get(station, {})
        after = merge(before, change.model_dump(mode="json", exclude_unset=True))
        if after == before:
            return None
        self._reported[station] = after
        return station, str(message.message_id)

    def update(self, station_id: str, client_token: str) -> tuple[str, bytes]:
        """The shadow topic and update payload carrying the station's whole known document."""
        reported = ShadowReported.model_validate(
            {**self._reported.get(station_id, {}), "schema_version": SCHEMA_VERSION}
        )
        update = ShadowUpdate(state=ShadowState(reported=reported), clientToken=client_token)
        payload = update.model_dump_json(exclude_unset=True).encode()
        return shadow_topic(station_id), payload
