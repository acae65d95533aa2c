"""Real parts for the bridge tests.

* `Mosquitto` / the `mosquitto` fixture: a real broker with mutual TLS like AWS IoT Core
  (`require_certificate true`, `use_identity_as_username true`), certificates minted at test
  time with trustme, on free ports of 127.0.0.1 (TLS, and plain for the protocol proxy test),
  restartable (its persistence keeps subscribers' sessions across a restart). Skipped with a
  reason when the binary is missing; in CI (CI=true) that is a failure.
* `subscribed`: a partner's persistent QoS 1 subscriber that reconnects across broker restarts.
* `running_bridge` / `bridge_settings`: a `Bridge` in the test's event loop.
* `Station16`: an OCPP 1.6 station driven step by step; `outbox` / `enqueue`: outbox rows written
  as the central system writes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import aiomqtt
import orjson
import pytest
import trustme
from ocpp.v16 import call as call16
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import insert

from bridge.app import Bridge
from bridge.demo import find_mosquitto
from bridge.outbox import OutboxStore
from bridge.settings import BridgeSettings
from central_system.domain.connectors import ConnectorKey, ConnectorState, ConnectorStatus
from central_system.domain.events import (
    ConnectorStatusChanged,
    DomainEvent,
    MeterValuesReceived,
    TransactionStarted,
)
from central_system.domain.metering import MeterSample
from central_system.domain.transactions import Transaction
from central_system.persistence.database import create_engine
from central_system.persistence.migrate import upgrade
from central_system.persistence.models import OutboxRow
from central_system.persistence.outbox import outbox_rows
from tests.conftest import missing
from tests.helpers import OcppClient

BRIDGE_CLIENT_ID = "evcharge-bridge"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ClientCredentials:
    cert: Path
    key: Path


@dataclass
class Mosquitto:
    """One broker: a TLS listener requiring client certificates and, optionally, a plain one."""

    binary: str
    directory: Path
    ca: trustme.CA
    port: int = field(default_factory=free_port)
    plain_port: int = field(default_factory=free_port)
    acl: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    @property
    def plain_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.plain_port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "mosquitto.log"

    def client_credentials(self, name: str, ca: trustme.CA | None = None) -> ClientCredentials:
        """A client certificate with common name `name` (the user name the broker sees)."""
        issued = (ca or self.ca).issue_cert(name, common_name=name)
        cert = self.directory / f"client-{name}-{uuid.uuid4().hex[:6]}.pem"
        key = cert.with_suffix(".key")
        issued.cert_chain_pems[0].write_to_path(str(cert))
        issued.private_key_pem.write_to_path(str(key))
        return ClientCredentials(cert, key)

    def bridge_env(self, credentials: ClientCredentials | None = None) -> dict[str, str]:
        """The bridge's environment variables for this broker (TLS, client certificate)."""
        credentials = credentials or self.client_credentials(BRIDGE_CLIENT_ID)
        return {
            "EVCHARGE_MQTT_URL": self.url,
            "EVCHARGE_MQTT_CA": str(self.ca_path),
            "EVCHARGE_MQTT_CERT": str(credentials.cert),
            "EVCHARGE_MQTT_KEY": str(credentials.key),
            "EVCHARGE_MQTT_CLIENT_ID": BRIDGE_CLIENT_ID,
        }

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.write_config()

    def write_config(self) -> None:
        """Certificates and mosquitto.conf (again after changing `acl`; restart to apply)."""
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        server.cert_chain_pems[0].write_to_path(str(self.directory / "server.pem"))
        server.private_key_pem.write_to_path(str(self.directory / "server.key"))
        persistence = self.directory / "data"
        persistence.mkdir(exist_ok=True)
        lines = [
            f"user {getpass.getuser()}",  # as root, mosquitto would switch to user mosquitto
            "per_listener_settings false",
            "allow_anonymous true",  # only the plain listener: the TLS one requires a certificate
            "persistence true",
            f"persistence_location {persistence}/",
            "max_queued_messages 0",  # a subscriber's session keeps everything while it is away
            "max_inflight_messages 100",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if self.acl is not None:
            acl_path = self.directory / "acl"
            acl_path.write_text(self.acl)
            lines.append(f"acl_file {acl_path}")
        lines += [
            f"listener {self.port} 127.0.0.1",
            f"cafile {self.ca_path}",
            f"certfile {self.directory / 'server.pem'}",
            f"keyfile {self.directory / 'server.key'}",
            "tls_version tlsv1.2",
            "require_certificate true",
            "use_identity_as_username true",
            f"listener {self.plain_port} 127.0.0.1",
        ]
        (self.directory / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        """Start (or restart) on the same ports; return once both listeners accept."""
        assert self.process is None, "already running"
        config = self.directory / "mosquitto.conf"
        self.process = subprocess.Popen(
            [self.binary, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while not all(_accepts(port) for port in (self.port, self.plain_port)):
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                self.process = None
                raise RuntimeError(f"mosquitto exited at start: {error}{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"mosquitto did not listen within {timeout} s: {self.log()}")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM: the broker saves its persistence file)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def new_mosquitto(directory: Path, acl: str | None = None) -> Mosquitto:
    """A broker configured in `directory`, not started."""
    binary = find_mosquitto()
    if binary is None:
        missing("mosquitto is not installed (apt-get install mosquitto; .ci/run does)")
    assert binary is not None
    return Mosquitto(binary=binary, directory=directory, ca=trustme.CA(), acl=acl)


@contextlib.contextmanager
def running_mosquitto(
    directory: Path, acl: str | None = None, *, start: bool = True
) -> Iterator[Mosquitto]:
    """A broker, started unless `start` is false, stopped at the end."""
    broker = new_mosquitto(directory, acl)
    if start:
        broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(name="mosquitto")
def mosquitto_fixture(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running broker; a test module gets it with
    ``from tests.mosquitto import mosquitto_fixture  # noqa: F401``."""
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        yield broker


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.monotonic() when it arrived

    def json(self) -> dict[str, object]:
        value = orjson.loads(self.payload)
        assert isinstance(value, dict)
        return value


class Subscriber:
    """A partner's client: persistent session, QoS 1, reconnects across broker restarts, and
    collects every message it receives."""

    def __init__(self, broker: Mosquitto, topics: list[str], name: str) -> None:
        self.broker = broker
        self.topics = topics
        self.name = name
        self.credentials = broker.client_credentials(name)
        self.messages: list[Received] = []
        self.connected = asyncio.Event()
        self.connections = 0

    def on(self, topic_prefix: str) -> list[Received]:
        return [m for m in self.messages if m.topic.startswith(topic_prefix)]

    def _client(self) -> aiomqtt.Client:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        return aiomqtt.Client(
            "127.0.0.1",
            self.broker.port,
            identifier=self.name,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            tls_params=aiomqtt.TLSParameters(
                ca_certs=str(self.broker.ca_path),
                certfile=str(self.credentials.cert),
                keyfile=str(self.credentials.key),
            ),
            keepalive=30,
        )

    def _keep(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        assert isinstance(payload, bytes | bytearray)
        self.messages.append(
            Received(str(message.topic), bytes(payload), message.retain, time.monotonic())
        )

    async def run(self) -> None:
        while True:
            client = self._client()
            try:
                async with client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.connections += 1
                    self.connected.set()
                    async for message in client.messages:
                        self._keep(message)
            except aiomqtt.MqttError:
                self.connected.clear()
                # paho acknowledged what still waits in the client's queue: keep it too.
                while not client._queue.empty():
                    self._keep(client._queue.get_nowait())
                await asyncio.sleep(0.05)  # reconnect attempt pace while the broker is down


@contextlib.asynccontextmanager
async def subscribed(
    broker: Mosquitto, topics: list[str], name: str | None = None
) -> AsyncIterator[Subscriber]:
    """A running `Subscriber`, connected and subscribed when this yields."""
    subscriber = Subscriber(broker, topics, name or f"partner-{uuid.uuid4().hex[:8]}")
    task = asyncio.create_task(subscriber.run())
    try:
        await asyncio.wait_for(subscriber.connected.wait(), 10)
        yield subscriber
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def dedupe(messages: list[Received]) -> list[Received]:
    """First arrival of each message_id, in arrival order (what a consumer does with QoS 1)."""
    seen: set[object] = set()
    unique = []
    for message in messages:
        key = message.json().get("message_id") or (message.topic, message.payload)
        if key not in seen:
            seen.add(key)
            unique.append(message)
    return unique


def bridge_settings(broker: Mosquitto, database_url: str, **overrides: object) -> BridgeSettings:
    """Settings of a bridge publishing `database_url`'s outbox to `broker` over mutual TLS, with
    short back-off and polling so that tests do not wait long."""
    credentials = broker.client_credentials(BRIDGE_CLIENT_ID)
    values: dict[str, object] = {
        "database_url": database_url,
        "mqtt_url": broker.url,
        "mqtt_ca": broker.ca_path,
        "mqtt_cert": credentials.cert,
        "mqtt_key": credentials.key,
        "mqtt_client_id": BRIDGE_CLIENT_ID,
        "mqtt_reconnect_min": 0.05,
        "mqtt_reconnect_max": 0.5,
        "mqtt_ack_timeout": 5.0,
        "outbox_poll_interval": 0.05,
    }
    values.update(overrides)
    return BridgeSettings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_bridge(settings: BridgeSettings) -> AsyncIterator[Bridge]:
    """A `Bridge` running in this event loop; a crash surfaces when the block ends."""
    bridge = Bridge(settings)
    task = asyncio.create_task(bridge.run())
    try:
        yield bridge
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Station16:
    """An OCPP 1.6 station driven step by step over a real websocket; each message carries a
    later timestamp than the one before."""

    def __init__(self, client: OcppClient, station_id: str) -> None:
        self.client = client
        self.station_id = station_id
        self._clock = datetime.now(UTC).replace(microsecond=0)

    def _tick(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.isoformat()

    async def boot(self) -> None:
        response = await self.client.call(
            call16.BootNotification(charge_point_model="Bridge", charge_point_vendor="Tests")
        )
        assert response.status == "Accepted"

    async def status(self, connector_id: int, status: str) -> None:
        await self.client.call(
            call16.StatusNotification(
                connector_id=connector_id,
                error_code="NoError",
                status=status,
                timestamp=self._tick(),
            )
        )

    async def start(self, connector_id: int, id_tag: str, meter_start_wh: int) -> int:
        response = await self.client.call(
            call16.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start_wh,
                timestamp=self._tick(),
            )
        )
        assert response.id_tag_info["status"] == "Accepted"
        return int(response.transaction_id)

    async def meter(self, connector_id: int, transaction_id: int, register_wh: int) -> None:
        await self.client.call(
            call16.MeterValues(
                connector_id=connector_id,
                transaction_id=transaction_id,
                meter_value=[
                    {
                        "timestamp": self._tick(),
                        "sampledValue": [
                            {
                                "value": str(register_wh),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            },
                            {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
                        ],
                    }
                ],
            )
        )

    async def stop(self, transaction_id: int, meter_stop_wh: int) -> None:
        await self.client.call(
            call16.StopTransaction(
                meter_stop=meter_stop_wh, timestamp=self._tick(), transaction_id=transaction_id
            )
        )


# ---------------------------------------------------------------------------------------------
# Outbox contents for bridge tests: events written as the central system writes them
# ---------------------------------------------------------------------------------------------

T0 = datetime.now(UTC).replace(microsecond=0)


def status(station: str, minute: int, value: ConnectorStatus) -> ConnectorStatusChanged:
    at = T0 + timedelta(minutes=minute)
    return ConnectorStatusChanged(
        station, ConnectorState(ConnectorKey(1, 1), value, None, None, None, at)
    )


def meter(station: str, minute: int, wh: int) -> MeterValuesReceived:
    at = T0 + timedelta(minutes=minute)
    sample = MeterSample(at, "Energy.Active.Import.Register", Decimal(wh), "Wh")
    return MeterValuesReceived(station, 1, None, (sample,))


def started(station: str, minute: int) -> TransactionStarted:
    at = T0 + timedelta(minutes=minute)
    return TransactionStarted(Transaction(station, f"{station}-{minute}", ConnectorKey(1, 1), at))


@contextlib.asynccontextmanager
async def outbox(database_url: str) -> AsyncIterator[OutboxStore]:
    """The database with its schema, and its outbox (filled as the central system does)."""
    await upgrade(database_url)
    engine = create_engine(database_url)
    try:
        yield OutboxStore(engine)
    finally:
        await engine.dispose()


async def enqueue(store: OutboxStore, events: Sequence[DomainEvent]) -> list[str]:
    """Write the events' outbox rows; returns their message ids in order."""
    rows = list(outbox_rows(events))
    async with store.engine.begin() as connection:
        await connection.execute(
            insert(OutboxRow.__table__),  # type: ignore[attr-defined]
            [row.model_dump(exclude={"id"}) for row in rows],
        )
    return [row.message_id for row in rows]


def message_ids(messages: Sequence[Received]) -> list[str]:
    return [str(m.json()["message_id"]) for m in messages]


async def outbox_count_is(store: OutboxStore, count: int) -> bool:
    return await store.count() == count
