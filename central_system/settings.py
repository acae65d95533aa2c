"""Configuration of the central system, read from `EVCHARGE_*` environment variables.

The names are a stable interface (DESIGN.md section 3) and are documented in README.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./evcharge.db"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVCHARGE_", extra="ignore")

    env: Environment = Environment.PRODUCTION
    database_url: str = DEFAULT_DATABASE_URL
    database_echo: bool = False
    group_commit_ms: float = Field(
        default=2.0,
        ge=0,
        description="Meter values, transaction updates, heartbeats and status notifications "
        "of all stations are committed together: a batch collects for up to this long (ms).",
    )
    group_commit_max_messages: int = Field(
        default=500, ge=1, description="Most messages in one group commit."
    )
    group_commit_connections: int = Field(
        default=2,
        ge=1,
        description="PostgreSQL: group commits written at once, each on a connection of its "
        "own (SQLite writes one at a time).",
    )
    uvloop: bool = Field(
        default=True, description="Run on uvloop when it is installed (the `fast` extra)."
    )

    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = 9000
    ocpp_path: str = "/ocpp"
    ocpp_ping_interval: float | None = Field(
        default=60.0, description="Seconds between websocket pings; 0 disables pings."
    )
    ocpp_ping_timeout: float | None = 30.0
    ocpp_max_frame_bytes: int = 1_048_576
    ocpp_max_handshakes: int = Field(
        default=500,
        ge=1,
        description="Connections being admitted at a time (waiting for the database); beyond "
        "this a station gets HTTP 503 with Retry-After.",
    )
    ocpp_retry_after: int = Field(
        default=5, ge=1, description="Retry-After (s) of an HTTP 503 answer to a station."
    )
    ocpp_listen_backlog: int = Field(
        default=4096,
        ge=1,
        description="Connections the kernel queues before they are accepted (capped by "
        "net.core.somaxconn).",
    )
    ocpp_call_timeout: float = Field(
        default=30.0, description="Seconds to wait for a station's answer to a command."
    )
    ocpp_validate_responses: bool = Field(
        default=False,
        description="Also validate the central system's own CALLRESULTs (tests turn this on).",
    )
    ocpp_tls_port: int | None = Field(
        default=None,
        description="Port of the wss:// listener for security profiles 2 and 3 (off if unset).",
    )
    ocpp_tls_cert: Path | None = Field(default=None, description="Server certificate chain, PEM.")
    ocpp_tls_key: Path | None = Field(default=None, description="Server private key, PEM.")
    ocpp_tls_client_ca: Path | None = Field(
        default=None, description="CA bundle that signs station certificates (profile 3)."
    )
    cpo_name: str | None = Field(
        default=None,
        description="Operator name a station certificate's O must carry (A00.FR.404).",
    )
    ca_cert: Path | None = Field(
        default=None, description="CA certificate (PEM) that signs station certificates."
    )
    ca_key: Path | None = Field(default=None, description="That CA's private key (PEM).")
    contract_root_certs: Path | None = Field(
        default=None,
        description="MO / V2G root certificates (PEM bundle) that ISO 15118 contract "
        "certificates must chain to (Plug & Charge, central validation).",
    )
    certificate_validity_days: int = Field(default=365, ge=1)
    certificate_renew_days: int = Field(
        default=30, ge=1, description="Ask a station to renew this many days before expiry."
    )
    certificate_check_interval: float = Field(
        default=3600.0, gt=0, description="Seconds between checks for certificates to renew."
    )
    public_api_url: str | None = Field(
        default=None,
        description="Address stations reach the API at, for upload URLs (e.g. "
        "https://csms.example.com); default http://API_HOST:API_PORT.",
    )
    public_ocpp_tls_url: str | None = Field(
        default=None,
        description="wss:// address for security profiles 2 and 3 given in SetNetworkProfile; "
        "default wss://OCPP_HOST:OCPP_TLS_PORT/OCPP_PATH.",
    )
    upload_dir: Path = Field(
        default=Path("uploads"), description="Where diagnostics and log files stations upload go."
    )
    upload_max_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1, description="Largest file a station may upload."
    )
    firmware_check_interval: float = Field(
        default=30.0, gt=0, description="Seconds between sends of due firmware-campaign jobs."
    )
    heartbeat_interval: int = Field(default=300, ge=1)
    node_heartbeat_interval: float = Field(
        default=15.0,
        gt=0,
        description="Seconds between the records that this central-system process is alive.",
    )
    node_timeout: float = Field(
        default=60.0,
        gt=0,
        description="A central-system process not seen for this long has died: the stations "
        "it had connected are marked disconnected.",
    )
    boot_retry_interval: int = Field(
        default=60, ge=1, description="Interval returned with a Pending or Rejected boot."
    )
    auto_register: bool = Field(
        default=False, description="Accept unknown stations (development only)."
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    jwt_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key of the API's access and refresh tokens (at least 32 characters); "
        "required in production, a random one is made in development.",
    )
    access_token_ttl: int = Field(default=900, ge=1, description="Access token lifetime, s.")
    refresh_token_ttl: int = Field(
        default=14 * 24 * 3600, ge=1, description="Refresh token lifetime, s."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (comma-separated).",
    )
    login_rate_limit: int = Field(
        default=5, ge=1, description="Failed sign-ins per address within the window."
    )
    login_rate_window: int = Field(default=300, ge=1, description="Sign-in window, s.")
    charging_authorization_ttl: int = Field(
        default=12 * 3600, ge=60, description="Lifetime of a session's charging authorization, s."
    )
    session_start_timeout: int = Field(
        default=300, ge=10, description="Seconds for a remotely started transaction to begin."
    )
    reservation_max_minutes: int = Field(default=120, ge=1, le=1440)
    maintenance_interval: float = Field(
        default=15.0, gt=0, description="Seconds between reservation/session housekeeping runs."
    )
    sse_keepalive: float = Field(default=15.0, gt=0, description="SSE keep-alive period, s.")
    payment_provider: str = Field(
        default="test", description="Payment provider; `test` accepts tok_visa-style tokens."
    )

    load_management_interval: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between full load-management recomputations of every site.",
    )
    load_management_default_evse_w: int = Field(
        default=22_000,
        gt=0,
        description="An EVSE's maximum power when the catalogue does not tell, W.",
    )
    load_management_min_session_w: int = Field(
        default=0,
        ge=0,
        description="Below this share a session gets nothing (an EV's minimum charging rate), W.",
    )
    cost_update_interval: float = Field(
        default=60.0,
        ge=0,
        description="Seconds between CostUpdated messages during 2.x transactions; 0: never.",
    )

    local_list_sync_interval: float = Field(
        default=300.0,
        gt=0,
        description="Seconds between checks that managed stations hold the current local "
        "authorization list (token changes made through the API are sent at once).",
    )

    outbox: bool | None = Field(
        default=None,
        description="Write events to the outbox for the bridge (default: on when "
        "EVCHARGE_MQTT_URL is set).",
    )

    mqtt_url: str | None = None
    mqtt_ca: Path | None = None
    mqtt_cert: Path | None = None
    mqtt_key: Path | None = None

    @model_validator(mode="after")
    def _tls_needs_certificate(self) -> Settings:
        if self.ocpp_tls_port is not None and (
            self.ocpp_tls_cert is None or self.ocpp_tls_key is None
        ):
            raise ValueError("EVCHARGE_OCPP_TLS_PORT needs EVCHARGE_OCPP_TLS_CERT and _KEY")
        return self

    @model_validator(mode="after")
    def _node_timeout_outlasts_heartbeats(self) -> Settings:
        if self.node_timeout < 2 * self.node_heartbeat_interval:
            raise ValueError(
                "EVCHARGE_NODE_TIMEOUT must be at least twice EVCHARGE_NODE_HEARTBEAT_INTERVAL "
                "(a live process would be taken for dead)"
            )
        return self

    @field_validator("ocpp_ping_interval", "ocpp_ping_timeout")
    @classmethod
    def _zero_disables(cls, value: float | None) -> float | None:
        return value or None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @field_validator("ocpp_path")
    @classmethod
    def _normalise_path(cls, value: str) -> str:
        return "/" + value.strip("/")

    @property
    def outbox_enabled(self) -> bool:
        return self.outbox if self.outbox is not None else self.mqtt_url is not None

    @property
    def is_development(self) -> bool:
        return self.env is Environment.DEVELOPMENT
