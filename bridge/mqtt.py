"""The MQTT side: TLS with X.509 client certificates, MQTT 5 with 3.1.1 fallback, QoS 1 publishes
that report the broker's PUBACK, and reconnect back-off with jitter.

aiomqtt 2.x awaits the PUBACK of a QoS 1 publish but ignores its reason code, and only notices a
lost connection at its timeout. `AckingClient.publish_acked` fixes both for the bridge: an MQTT 5
PUBACK with a failure code (e.g. 0x87 not authorized) raises `PublishRefused`, and a publish waiting
for its PUBACK fails as soon as the connection is lost. With MQTT 3.1.1 a broker cannot say no in a
PUBACK (AWS IoT Core closes the connection instead).
"""

from __future__ import annotations

import asyncio
import random
import ssl
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from bridge.settings import BridgeSettings, BrokerAddress, MqttProtocol

# CONNACK codes of a broker that does not speak the requested protocol version: 3.1.1 return code
# 1 ("unacceptable protocol version"; paho reports it as 0x84 on an MQTT 5 connection) and 0x84.
UNSUPPORTED_PROTOCOL_CODES = frozenset({1, 0x84})


class PublishRefused(aiomqtt.MqttError):
    """The broker answered a publish with a failure reason code."""

    def __init__(self, topic: str, reason: ReasonCode) -> None:
        super().__init__(f"the broker refused a publish to {topic}: {reason} ({reason.value:#x})")
        self.topic = topic
        self.reason = reason


def tls_context(settings: BridgeSettings) -> ssl.SSLContext:
    """TLS 1.2 or newer, the broker verified against `mqtt_ca` (else the system's CAs) and its
    host name, and the client certificate presented when configured."""
    for variable, path in (
        ("EVCHARGE_MQTT_CA", settings.mqtt_ca),
        ("EVCHARGE_MQTT_CERT", settings.mqtt_cert),
        ("EVCHARGE_MQTT_KEY", settings.mqtt_key),
    ):
        if path is not None and not path.is_file():
            raise ValueError(f"{variable}: {path} is not a readable file")
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(settings.mqtt_ca) if settings.mqtt_ca else None
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.mqtt_cert is not None:
        context.load_cert_chain(
            str(settings.mqtt_cert), str(settings.mqtt_key) if settings.mqtt_key else None
        )
    elif settings.mqtt_key is not None:
        raise ValueError("EVCHARGE_MQTT_KEY is set but EVCHARGE_MQTT_CERT is not")
    if settings.mqtt_alpn:
        context.set_alpn_protocols([settings.mqtt_alpn])
    return context


def is_unsupported_protocol(error: BaseException) -> bool:
    code = getattr(error, "rc", None)
    return isinstance(error, MqttConnectError) and (
        getattr(code, "value", code) in UNSUPPORTED_PROTOCOL_CODES
    )


class AckingClient(aiomqtt.Client):
    """An aiomqtt client whose `publish_acked` reports refusals and lost connections.

    It builds on aiomqtt 2.x internals (`_client`, `_connected`, `_disconnected`, `_loop` and the
    `_on_publish` / `_on_disconnect` callbacks); the bridge's integration tests exercise each of
    them against a real broker, so an aiomqtt upgrade that changes them fails there.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acks: dict[int, asyncio.Future[ReasonCode]] = {}

    @property
    def protocol(self) -> int:
        return int(self._client.protocol)

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        # aiomqtt ignores a disconnection before the CONNACK and waits for its timeout; with
        # TLS 1.3 that is how a broker refusing the client certificate looks.
        self._loop.call_soon_threadsafe(self._fail_connect, str(reason_code))
        super()._on_disconnect(client, userdata, flags, reason_code, properties)

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            # The bridge learns of a lost connection from its publishes; mark aiomqtt's
            # disconnection error as seen so that asyncio does not report it again.
            if self._disconnected.done() and not self._disconnected.cancelled():
                self._disconnected.exception()

    def _fail_connect(self, reason: str) -> None:
        if not self._connected.done():
            self._connected.set_exception(
                aiomqtt.MqttError(f"the broker closed the connection before CONNACK: {reason}")
            )

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        ack = self._acks.pop(mid, None)
        if ack is not None and not ack.done():
            ack.set_result(reason_code)
        super()._on_publish(client, userdata, mid, reason_code, properties)

    async def publish_acked(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        properties: Properties | None = None,
        timeout: float,
    ) -> None:
        """Publish at QoS 1 and return once the broker acknowledged it.

        Raises PublishRefused (failure reason code), or MqttError when the connection is lost or
        no PUBACK came within `timeout` seconds.
        """
        info = self._client.publish(topic, payload, 1, retain, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, f"could not publish to {topic}")
        if info.is_published():  # acknowledged before we got here: no reason code to look at
            return
        ack: asyncio.Future[ReasonCode] = asyncio.get_running_loop().create_future()
        self._acks[info.mid] = ack
        disconnected = self._disconnected
        try:
            await asyncio.wait(
                (ack, disconnected), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if self._acks.get(info.mid) is ack:
                del self._acks[info.mid]
        if not ack.done():
            ack.cancel()
            if disconnected.done():
                cause = None if disconnected.cancelled() else disconnected.exception()
                raise aiomqtt.MqttError(f"connection lost before the PUBACK of {topic}") from cause
            raise aiomqtt.MqttError(f"no PUBACK for {topic} within {timeout:g} s")
        reason = ack.result()
        if reason.is_failure:
            raise PublishRefused(topic, reason)


def json_properties() -> Properties:
    """MQTT 5 PUBLISH properties: the payload is UTF-8 JSON."""
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.PayloadFormatIndicator = 1
    properties.ContentType = "application/json"
    return properties


def make_client(
    settings: BridgeSettings,
    address: BrokerAddress,
    context: ssl.SSLContext | None,
    protocol: MqttProtocol,
) -> AckingClient:
    """A client for one connection attempt: clean session (the bridge only publishes), client
    id = thing name, paho's in-flight window = the bridge's."""
    version = aiomqtt.ProtocolVersion.V311 if protocol is MqttProtocol.V311 else None
    options: dict[str, Any] = (
        {"protocol": version, "clean_session": True}
        if version is not None
        else {"protocol": aiomqtt.ProtocolVersion.V5, "clean_start": True}
    )
    return AckingClient(
        address.host,
        address.port,
        identifier=settings.mqtt_client_id,
        username=address.username,
        password=address.password,
        keepalive=settings.keepalive,
        timeout=settings.mqtt_connect_timeout,
        max_inflight_messages=settings.inflight,
        tls_context=context if address.tls else None,
        **options,
    )


class Backoff:
    """Exponential back-off with "equal jitter": attempt n waits between half and all of
    min(maximum, minimum * 2**n) seconds, so that many bridges do not reconnect in step."""

    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None) -> None:
        self._minimum = minimum
        self._maximum = max(maximum, minimum)
        self._rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self._maximum, self._minimum * float(2 ** min(self.attempt, 32)))
        self.attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0


class RateLimit:
    """A token bucket: at most `rate` publishes per second on average, in bursts of up to one
    second's worth (AWS IoT Core accepts 100 publishes per second per connection); 0: no limit."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._tokens = rate
        self._updated: float | None = None

    def reserve(self, now: float) -> float:
        """Take a token at time `now` (seconds); returns how long to wait before using it."""
        if self._rate <= 0:
            return 0.0
        if self._updated is not None:
            self._tokens = min(self._rate, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    async def acquire(self) -> None:
        delay = self.reserve(asyncio.get_running_loop().time())
        if delay > 0:
            await asyncio.sleep(delay)
