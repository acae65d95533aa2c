"""The station controller's records: configuration, counters, and per-connector state.

Plain mutable dataclasses owned by one `Station` (one event loop, no locks); the transaction
record has a JSON form because a transaction in progress is kept in the station's database, so
a restarted process can end it properly (reason PowerLoss) with the right sequence numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from charge_point.domain.connector_state import ConnectorStatus
from charge_point.domain.local_auth import IdToken, IdTokenInfo
from charge_point.domain.transaction import StartTrigger, StopCause
from charge_point.hardware.base import ConnectorHardware, EventSubscription
from schemas.charging_profiles import ChargingProfile

OCPP_VERSIONS = ("1.6", "2.0.1")


@dataclass(frozen=True)
class StationConfig:
    """What the station maker configures (the `evcharge station` options)."""

    station_id: str
    url: str
    """Central system endpoint without the station id, e.g. ws://127.0.0.1:9000/ocpp."""
    version: str = "1.6"
    password: str | None = None
    """HTTP Basic password (security profile 1); a password the central system sets later
    (AuthorizationKey / BasicAuthPassword) replaces it and is kept in the database."""
    data_dir: Path = Path(".evcharge/stations")
    database: Path | None = None
    """The station's SQLite file; default `<data_dir>/<station_id>.db`."""
    vendor: str = "evcharge"
    model: str = "DC-2 CCS+CHAdeMO"
    serial_number: str | None = None
    firmware_version: str = "1.0.0"
    settings: Mapping[str, str] = field(default_factory=dict)
    """Initial values by 1.6 key or 2.0.1 `Component.Variable` (applied at every start)."""
    durable: bool = True
    """Sync every database commit to disk (a real station); the fleet turns this off."""
    firmware_step_s: float = 2.0
    """Duration of each simulated firmware download / install step."""
    upload_step_s: float = 1.0
    """Duration of the simulated diagnostics / log upload."""
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.version not in OCPP_VERSIONS:
            raise ValueError(f"OCPP version must be one of {', '.join(OCPP_VERSIONS)}")
        if not self.station_id or len(self.station_id) > 48 or ":" in self.station_id:
            raise ValueError("a station id has 1 to 48 characters and no ':'")

    @property
    def database_path(self) -> Path:
        return self.database or self.data_dir / f"{self.station_id}.db"


@dataclass
class StationStats:
    """Counters the fleet view and the summary read (cheap to keep, never reset)."""

    messages_sent: int = 0
    messages_received: int = 0
    errors: int = 0
    connections: int = 0
    connect_failures: int = 0
    sessions_started: int = 0
    sessions_completed: int = 0
    energy_wh: int = 0
    queued: int = 0
    replayed: int = 0
    discarded: int = 0
    last_error: str | None = None

    @property
    def reconnects(self) -> int:
        return max(0, self.connections - 1)

    def error(self, text: str) -> None:
        self.errors += 1
        self.last_error = text


@dataclass
class Authorization:
    """A driver (or the central system) authorized a session that has not started yet."""

    token: IdToken
    info: IdTokenInfo | None
    trigger: StartTrigger
    remote_start_id: int | None = None
    reservation_id: int | None = None
    free_vend: bool = False


@dataclass
class Transaction:
    ref: str
    """The station's id: the 2.0.1 transactionId; in 1.6 the key to the assigned id."""
    connector_id: int
    token: IdToken
    group_id: str | None
    started_at: datetime
    meter_start_wh: int
    remote_start_id: int | None = None
    reservation_id: int | None = None
    transaction_id: str | None = None
    """1.6: the id the central system assigned (None until StartTransaction is answered)."""
    seq_no: int = 0
    """2.0.1: the seqNo of the next TransactionEvent."""
    free_vend: bool = False
    last_register_wh: int | None = None
    last_sample_at: datetime | None = None
    stop_cause: StopCause | None = None
    stop_token: IdToken | None = None

    def next_seq_no(self) -> int:
        seq = self.seq_no
        self.seq_no += 1
        return seq

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "connectorId": self.connector_id,
            "token": self.token.value,
            "tokenType": self.token.type,
            "groupId": self.group_id,
            "startedAt": self.started_at.isoformat(),
            "meterStart": self.meter_start_wh,
            "remoteStartId": self.remote_start_id,
            "reservationId": self.reservation_id,
            "transactionId": self.transaction_id,
            "seqNo": self.seq_no,
            "freeVend": self.free_vend,
            "lastRegister": self.last_register_wh,
            "lastSampleAt": self.last_sample_at.isoformat() if self.last_sample_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transaction:
        return cls(
            ref=data["ref"],
            connector_id=int(data["connectorId"]),
            token=IdToken(data["token"], data.get("tokenType") or "ISO14443"),
            group_id=data.get("groupId"),
            started_at=datetime.fromisoformat(data["startedAt"]),
            meter_start_wh=int(data["meterStart"]),
            remote_start_id=data.get("remoteStartId"),
            reservation_id=data.get("reservationId"),
            transaction_id=data.get("transactionId"),
            seq_no=int(data.get("seqNo", 0)),
            free_vend=bool(data.get("freeVend", False)),
            last_register_wh=data.get("lastRegister"),
            last_sample_at=(
                datetime.fromisoformat(data["lastSampleAt"]) if data.get("lastSampleAt") else None
            ),
        )


@dataclass(frozen=True)
class CompletedTransaction:
    """What the station reported about a finished transaction (for tests, views, summary)."""

    ref: str
    connector_id: int
    transaction_id: str | None
    meter_start_wh: int
    meter_stop_wh: int
    started_at: datetime
    stopped_at: datetime
    cause: StopCause

    @property
    def energy_wh(self) -> int:
        return self.meter_stop_wh - self.meter_start_wh


@dataclass
class Reservation:
    id: int
    connector_id: int
    token: IdToken
    group_id: str | None
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connectorId": self.connector_id,
            "token": self.token.value,
            "tokenType": self.token.type,
            "groupId": self.group_id,
            "expiresAt": self.expires_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reservation:
        return cls(
            int(data["id"]),
            int(data["connectorId"]),
            IdToken(data["token"], data.get("tokenType") or "ISO14443"),
            data.get("groupId"),
            datetime.fromisoformat(data["expiresAt"]),
        )


@dataclass
class ConnectorRuntime:
    """One connector (1.6 connector N = 2.0.1 EVSE N, connector 1) as the controller sees it."""

    id: int
    hw: ConnectorHardware
    events: EventSubscription
    status: ConnectorStatus = ConnectorStatus.AVAILABLE
    error_code: str = "NoError"
    info: str | None = None
    plugged: bool = False
    operative: bool = True
    pending_operative: bool | None = None
    authorization: Authorization | None = None
    authorizing: bool = False
    transaction: Transaction | None = None
    reservation: Reservation | None = None
    register_offset_wh: int = 0
    limit_w: int | None = None
    tx_profile: ChargingProfile | None = None
    """The profile of a RemoteStart, installed when its transaction starts."""

    @property
    def in_session(self) -> bool:
        return self.transaction is not None
