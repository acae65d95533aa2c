"""The bridge: publishes the outbox to the MQTT broker, oldest row first, and deletes a row only
after the broker acknowledged it (and the shadow update it caused).

Delivery is at least once: a row acknowledged but not yet deleted when the bridge dies is published
again, with the same ``message_id``. Per station the order is the outbox order: messages go out in
id order on one connection, and after a failure a station's rows are deleted only up to its first
unacknowledged row, so that republishing starts there.

`Bridge.run` serves until cancelled; a composition root runs it in a TaskGroup next to the central
system and subscribes `Bridge.wake` to the event bus, so that committed events go out without
waiting for the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiomqtt
from paho.mqtt.properties import Properties
from sqlalchemy.exc import DBAPIError

from bridge import limits
from bridge.mqtt import (
    AckingClient,
    Backoff,
    PublishRefused,
    RateLimit,
    is_unsupported_protocol,
    json_properties,
    make_client,
    tls_context,
)
from bridge.outbox import Lease, LeaseLost, OutboxStore, PendingMessage, try_lease
from bridge.settings import BridgeSettings, MqttProtocol
from bridge.shadow import ShadowTracker
from central_system.persistence.database import create_engine
from central_system.persistence.migrate import current_revision, head_revision

log = logging.getLogger(__name__)

# A connection that lasted this long resets the reconnect back-off (as the AWS IoT device SDKs).
STABLE_CONNECTION_SECONDS = 30.0
PROGRESS_LOG_SECONDS = 10.0


class BridgeError(RuntimeError):
    """A problem the bridge cannot wait out (configuration, database schema)."""


@dataclass
class BridgeStats:
    published: int = 0  # outbox rows acknowledged and deleted
    shadow_updates: int = 0
    thinned: int = 0
    connections: int = 0
    connect_failures: int = 0
    refused: int = 0  # publishes the broker answered with a failure reason code


class Bridge:
    def __init__(self, settings: BridgeSettings) -> None:
        """Check the configuration and load the TLS credentials (raises ValueError, OSError or
        ssl.SSLError when they are wrong); nothing connects before `run`."""
        self.settings = settings
        self.address = settings.broker
        self._tls = tls_context(settings) if self.address.tls else None
        self._protocol = (
            MqttProtocol.V311 if settings.mqtt_protocol is MqttProtocol.V311 else MqttProtocol.V5
        )
        self._backoff = Backoff(settings.mqtt_reconnect_min, settings.mqtt_reconnect_max)
        self._shadow = ShadowTracker() if settings.mqtt_shadow else None
        self._dirty_shadows: dict[str, str] = {}  # station -> clientToken of its newest change
        self._quarantine: set[int] = set()
        # Stations whose publishes the broker refused: (held until, back-off) per station.
        self._held: dict[str, tuple[float, Backoff]] = {}
        self._wake = asyncio.Event()
        self._next_thin = 0.0
        self._progress = (0.0, 0)  # (loop time, published) at the last progress log
        self.connected = asyncio.Event()
        self.stats = BridgeStats()

    @property
    def protocol(self) -> MqttProtocol:
        """The MQTT version of the current or next connection."""
        return self._protocol

    def wake(self, events: Iterable[object] = ()) -> None:
        """New rows were committed: look at the outbox now (an event-bus subscriber)."""
        self._wake.set()

    async def run(self, started: asyncio.Event | None = None) -> None:
        """Publish until cancelled. `started` is set at once: the bridge then waits for the
        database schema, the outbox lease and the broker without holding anyone up."""
        if started is not None:
            started.set()
        url = self.settings.database_url
        await self._wait_for_schema(url)
        engine = create_engine(url)
        store = OutboxStore(engine)
        standby_logged = False
        try:
            while True:
                try:
                    async with try_lease(engine, url) as lease:
                        if lease is None:
                            if not standby_logged:
                                log.info("another bridge publishes this outbox; standing by")
                                standby_logged = True
                            await asyncio.sleep(self.settings.outbox_thin_interval)
                            continue
                        log.info("publishing the outbox of %s to %s", engine.url, self.address)
                        standby_logged = False
                        await self._publish(store, lease)
                except (DBAPIError, OSError, LeaseLost) as error:
                    delay = self._backoff.next_delay()
                    log.warning("outbox: %s; retrying in %.1f s", error, delay)
                    await asyncio.sleep(delay)
        finally:
            self.connected.clear()
            await engine.dispose()

    async def _wait_for_schema(self, url: str) -> None:
        head = head_revision(url)
        waiting_logged = False
        while (current := await current_revision(url)) != head:
            if current is not None:
                raise BridgeError(
                    f"the database schema is at {current}, this version needs {head}: "
                    "run `evcharge db upgrade` first"
                )
            if not waiting_logged:
                log.info("waiting for the central system to create the database schema")
                waiting_logged = True
            await asyncio.sleep(self.settings.outbox_poll_interval)

    async def _publish(self, store: OutboxStore, lease: Lease) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._maybe_thin(store, lease)
            client = make_client(self.settings, self.address, self._tls, self._protocol)
            connected_at: float | None = None
            try:
                async with client:
                    connected_at = loop.time()
                    self.stats.connections += 1
                    self.connected.set()
                    log.info(
                        "connected to %s as %s (MQTT %s)",
                        self.address,
                        self.settings.mqtt_client_id,
                        self._protocol.value,
                    )
                    await self._drain(
                        client, store, lease, RateLimit(self.settings.mqtt_max_publish_rate)
                    )
            except aiomqtt.MqttError as error:
                self.connected.clear()
                if connected_at is None:
                    self.stats.connect_failures += 1
                if (
                    connected_at is None
                    and self._protocol is MqttProtocol.V5
                    and self.settings.mqtt_protocol is MqttProtocol.AUTO
                    and is_unsupported_protocol(error)
                ):
                    log.warning("%s refuses MQTT 5; falling back to MQTT 3.1.1", self.address)
                    self._protocol = MqttProtocol.V311
                    continue
                if connected_at is not None and (
                    loop.time() - connected_at >= STABLE_CONNECTION_SECONDS
                ):
                    self._backoff.reset()
                delay = self._backoff.next_delay()
                log.warning("broker %s: %s; reconnecting in %.1f s", self.address, error, delay)
                await self._sleep(delay, store, lease)
            finally:
                self.connected.clear()

    async def _sleep(self, delay: float, store: OutboxStore, lease: Lease) -> None:
        """Wait `delay` seconds, keeping the outbox bounded meanwhile (a long outage)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while (remaining := deadline - loop.time()) > 0:
            await asyncio.sleep(min(remaining, max(self._next_thin - loop.time(), 0.0)))
            await self._maybe_thin(store, lease)

    async def _maybe_thin(self, store: OutboxStore, lease: Lease) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_thin:
            return
        self._next_thin = loop.time() + self.settings.outbox_thin_interval
        await lease.check()
        max_age = self.settings.outbox_telemetry_max_age
        result = await store.thin(
            max_telemetry_rows=self.settings.outbox_max_telemetry_rows,
            max_age=timedelta(seconds=max_age) if max_age is not None else None,
            now=datetime.now(UTC),
        )
        if result.deleted:
            self.stats.thinned += result.deleted
            log.warning(
                "outbox over its bounds: dropped %d telemetry rows older than %s s and thinned "
                "%d more (records are kept)",
                result.expired,
                max_age,
                result.thinned,
            )

    async def _drain(
        self, client: AckingClient, store: OutboxStore, lease: Lease, rate: RateLimit
    ) -> None:
        while True:
            await self._maybe_thin(store, lease)
            self._wake.clear()
            rows = await store.fetch(
                self.settings.outbox_batch_size,
                skip=self._quarantine,
                skip_stations=self._held_stations(),
            )
            if rows:
                await self._publish_batch(client, store, rows, rate)
                self._log_progress()
            elif set(self._dirty_shadows) - set(self._held_stations()):
                await self._publish_batch(client, store, [], rate)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), timeout=self.settings.outbox_poll_interval
                    )

    async def _publish_batch(
        self,
        client: AckingClient,
        store: OutboxStore,
        rows: Sequence[PendingMessage],
        rate: RateLimit,
    ) -> None:
        """Publish rows in id order, then the shadow updates they caused; delete what may be
        deleted; raise the first failure.

        A refused publish stops that station's rows for this batch (its order must hold) while
        the other stations' go on; a lost connection stops everything.
        """
        batch = _Batch(
            client,
            rate,
            window=self.settings.inflight,
            timeout=self.settings.mqtt_ack_timeout,
            properties=json_properties() if client.protocol == aiomqtt.ProtocolVersion.V5 else None,
        )
        try:
            for row in rows:
                if row.station_id in batch.refused_stations:
                    continue
                payload = row.payload.encode()
                problem = limits.topic_problem(row.topic) or limits.payload_problem(payload)
                if problem is not None:
                    self._quarantine_row(row, problem)
                elif not await batch.send(row.topic, payload, station=row.station_id, row=row.id):
                    break
            await batch.wait()
            in_order = self._in_order(rows, batch.acked_rows)
            for row in rows:  # the broker takes this station's messages again
                if row.id in batch.acked_rows and row.station_id not in batch.refused_stations:
                    self._held.pop(row.station_id, None)
            if self._shadow is not None:
                for row in rows:
                    if row.id in in_order and (change := self._shadow.apply(row.payload)):
                        self._dirty_shadows[change[0]] = change[1]
                if batch.lost is None:
                    await self._publish_shadows(batch)
                    await batch.wait()
        finally:
            batch.cancel()
        for station in batch.acked_shadows:
            self._dirty_shadows.pop(station, None)
        self.stats.shadow_updates += len(batch.acked_shadows)
        self.stats.refused += len(batch.refused)
        self._hold(batch.refused_stations)
        if batch.acked_rows and batch.failure is None:
            self._backoff.reset()
        deletable = [
            row.id
            for row in rows
            if row.id in in_order and row.station_id not in self._dirty_shadows
        ]
        await store.delete(deletable)
        self.stats.published += len(deletable)
        if batch.failure is not None:
            raise batch.failure

    async def _publish_shadows(self, batch: _Batch) -> None:
        """Publish the shadow documents that changed and are not acknowledged yet."""
        assert self._shadow is not None
        held = set(self._held_stations()) | batch.refused_stations
        for station, token in list(self._dirty_shadows.items()):
            if station in held:
                continue
            topic, payload = self._shadow.update(station, token)
            if len(payload) > limits.MAX_SHADOW_STATE_BYTES:
                log.error("%s: shadow document over 8 KB, not published", station)
                del self._dirty_shadows[station]
            elif not await batch.send(
                topic, payload, station=station, retain=self.settings.mqtt_shadow_retain
            ):
                return

    def _in_order(self, rows: Sequence[PendingMessage], acked: set[int]) -> set[int]:
        """The acknowledged rows that precede every unacknowledged row of their station: what
        may be deleted without republishing out of order later."""
        gaps: set[str] = set()
        in_order = set()
        for row in rows:
            if row.id in self._quarantine or row.station_id in gaps:
                continue
            if row.id in acked:
                in_order.add(row.id)
            else:
                gaps.add(row.station_id)
        return in_order

    def _held_stations(self) -> list[str]:
        now = asyncio.get_running_loop().time()
        return [station for station, (until, _) in self._held.items() if until > now]

    def _hold(self, stations: Iterable[str]) -> None:
        """Hold back the messages of stations whose publishes were refused, with a back-off
        per station: brokers close the connection after a refused publish (Mosquitto, AWS IoT
        Core), and the other stations' messages must go on."""
        now = asyncio.get_running_loop().time()
        for station in stations:
            _, backoff = self._held.get(station) or (
                0.0,
                Backoff(self.settings.mqtt_reconnect_min, self.settings.mqtt_reconnect_max * 10),
            )
            delay = backoff.next_delay()
            self._held[station] = (now + delay, backoff)
            log.warning("%s: its messages are held back for %.1f s", station, delay)

    def _quarantine_row(self, row: PendingMessage, problem: str) -> None:
        self._quarantine.add(row.id)
        log.error(
            "outbox row %d (%s, %s) can never be published: %s; it stays in the outbox",
            row.id,
            row.message_id,
            row.topic,
            problem,
        )

    def _log_progress(self) -> None:
        now = asyncio.get_running_loop().time()
        since, published = self._progress
        if now - since < PROGRESS_LOG_SECONDS:
            return
        if since and self.stats.published > published:
            count = self.stats.published - published
            log.info(
                "published %d messages in %.0f s (%.0f/s)",
                count,
                now - since,
                count / (now - since),
            )
        self._progress = (now, self.stats.published)


class _Batch:
    """Messages in flight on one connection: at most `window` awaiting their PUBACK, handed to
    paho in the order `send` is called (tasks start in creation order, and each gives its
    message to paho before its first await)."""

    def __init__(
        self,
        client: AckingClient,
        rate: RateLimit,
        *,
        window: int,
        timeout: float,
        properties: Properties | None,
    ) -> None:
        self._client = client
        self._rate = rate
        self._window = asyncio.Semaphore(window)
        self._timeout = timeout
        self._properties = properties
        self._tasks: list[asyncio.Task[None]] = []
        self.acked_rows: set[int] = set()
        self.acked_shadows: set[str] = set()
        self.refused: list[PublishRefused] = []
        self.refused_stations: set[str] = set()
        self.lost: aiomqtt.MqttError | None = None

    @property
    def failure(self) -> aiomqtt.MqttError | None:
        return self.lost or (self.refused[0] if self.refused else None)

    async def send(
        self,
        topic: str,
        payload: bytes,
        *,
        station: str,
        row: int | None = None,
        retain: bool = False,
    ) -> bool:
        """Start publishing one message (an outbox row, or else a shadow update); False once
        the connection is lost."""
        await self._window.acquire()
        await self._rate.acquire()
        if self.lost is not None:
            self._window.release()
            return False
        self._tasks.append(asyncio.create_task(self._publish(topic, payload, station, row, retain)))
        return True

    async def _publish(
        self, topic: str, payload: bytes, station: str, row: int | None, retain: bool
    ) -> None:
        try:
            await self._client.publish_acked(
                topic, payload, retain=retain, properties=self._properties, timeout=self._timeout
            )
        except PublishRefused as error:
            log.error("%s", error)
            self.refused.append(error)
            self.refused_stations.add(station)
        except aiomqtt.MqttError as error:
            self.lost = self.lost or error
        else:
            if row is not None:
                self.acked_rows.add(row)
            else:
                self.acked_shadows.add(station)
        finally:
            self._window.release()

    async def wait(self) -> None:
        await asyncio.gather(*self._tasks)

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
