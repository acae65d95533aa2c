"""Configuration of the bridge, read from `EVCHARGE_*` environment variables (docs/bridge.md).

`EVCHARGE_DATABASE_URL` and `EVCHARGE_MQTT_URL` / `_CA` / `_CERT` / `_KEY` are the names the
central system uses too (DESIGN.md section 3). Values outside what AWS IoT Core accepts are
clamped (keep-alive 30..1200 s, at most 100 messages in flight) rather than refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bridge import limits

# The central system's default (central_system.settings.DEFAULT_DATABASE_URL); a test keeps the
# two equal.
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./evcharge.db"
DEFAULT_CLIENT_ID = "evcharge-bridge"


class MqttProtocol(StrEnum):
    AUTO = "auto"  # MQTT 5, falling back to 3.1.1 when the broker refuses 5
    V5 = "5"
    V311 = "3.1.1"


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """``mqtts://host[:8883]`` (TLS) or ``mqtt://host[:1883]`` (plain, local development).
    A user name and password in the URL are sent in CONNECT (not used by AWS IoT Core)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"EVCHARGE_MQTT_URL must start with mqtts:// or mqtt://, not {url!r}")
    if not parts.hostname:
        raise ValueError(f"EVCHARGE_MQTT_URL has no host: {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"EVCHARGE_MQTT_URL takes no path or query: {url!r}")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class BridgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVCHARGE_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL

    mqtt_url: str | None = Field(
        default=None, description="mqtts://host:8883 (TLS) or mqtt://host:1883 (development)."
    )
    mqtt_ca: Path | None = Field(
        default=None, description="CA bundle that signed the broker's certificate (PEM)."
    )
    mqtt_cert: Path | None = Field(default=None, description="Client certificate (PEM).")
    mqtt_key: Path | None = Field(default=None, description="Client certificate's key (PEM).")
    mqtt_client_id: str = Field(
        default=DEFAULT_CLIENT_ID,
        min_length=1,
        description="MQTT client id; on AWS IoT Core the thing name of the bridge's certificate.",
    )
    mqtt_protocol: MqttProtocol = MqttProtocol.AUTO
    mqtt_alpn: str | None = Field(
        default=None,
        description="TLS ALPN protocol, e.g. x-amzn-mqtt-ca for AWS IoT Core on port 443.",
    )
    mqtt_keepalive: int = Field(default=60, description="Seconds, clamped to 30..1200.")
    mqtt_inflight: int = Field(
        default=20, description="QoS 1 messages awaiting PUBACK at once, clamped to 1..100."
    )
    mqtt_max_publish_rate: float = Field(
        default=limits.MAX_PUBLISHES_PER_SECOND,
        ge=0,
        description="Publishes per second per connection (AWS IoT Core: 100); 0: no limit.",
    )
    mqtt_ack_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for a PUBACK before reconnecting."
    )
    mqtt_connect_timeout: float = Field(default=10.0, gt=0)
    mqtt_reconnect_min: float = Field(default=1.0, gt=0, description="First back-off, seconds.")
    mqtt_reconnect_max: float = Field(default=60.0, gt=0, description="Longest back-off.")
    mqtt_shadow: bool = Field(
        default=True, description="Also publish $aws/things/{thing}/shadow/update."
    )
    mqtt_shadow_retain: bool = Field(
        default=False,
        description="Publish shadow updates retained: for brokers without a shadow service "
        "(Mosquitto). AWS IoT Core does not retain on $aws topics; leave it off there.",
    )

    outbox_batch_size: int = Field(default=500, ge=1, le=10_000)
    outbox_poll_interval: float = Field(
        default=0.5, gt=0, description="Seconds between looks at an empty outbox."
    )
    outbox_max_telemetry_rows: int = Field(
        default=200_000,
        ge=100,
        description="Above this many telemetry rows the oldest half is thinned.",
    )
    outbox_telemetry_max_age: float | None = Field(
        default=24 * 3600.0,
        gt=0,
        description="Seconds after which unpublished telemetry is dropped, except the newest row "
        "per station and topic; unset to keep telemetry of any age.",
    )
    outbox_thin_interval: float = Field(
        default=60.0, gt=0, description="Seconds between checks of the outbox bounds."
    )

    @field_validator("mqtt_client_id")
    @classmethod
    def _client_id_fits(cls, value: str) -> str:
        if len(value.encode()) > limits.MAX_CLIENT_ID_BYTES:
            raise ValueError(f"at most {limits.MAX_CLIENT_ID_BYTES} bytes")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _url_parses(cls, value: str | None) -> str | None:
        if value:
            parse_broker_url(value)
        return value or None

    @property
    def broker(self) -> BrokerAddress:
        if not self.mqtt_url:
            raise ValueError("EVCHARGE_MQTT_URL is not set: the bridge needs a broker")
        return parse_broker_url(self.mqtt_url)

    @property
    def keepalive(self) -> int:
        return limits.clamp_keepalive(self.mqtt_keepalive)

    @property
    def inflight(self) -> int:
        return limits.clamp_inflight(self.mqtt_inflight)
