"""The bridge and a broker that says no: MQTT 5 refused (fallback to 3.1.1), publishes refused
by the broker's policy (kept, and delivered once allowed), a broker that is down for a long time
(telemetry thinned, records kept), and messages AWS IoT Core would refuse (kept, reported)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bridge import limits
from bridge.settings import MqttProtocol
from central_system.domain.connectors import ConnectorStatus
from central_system.domain.events import (
    DomainEvent,
    StationConnected,
)
from central_system.persistence.models import OutboxRow
from tests.helpers import wait_for
from tests.mosquitto import (
    T0,
    Mosquitto,
    bridge_settings,
    dedupe,
    enqueue,
    message_ids,
    meter,
    mosquitto_fixture,  # noqa: F401 (the `mosquitto` fixture)
    outbox,
    outbox_count_is,
    running_bridge,
    running_mosquitto,
    started,
    status,
    subscribed,
)

pytestmark = pytest.mark.mosquitto


class RefuseMqtt5Proxy:
    """A TCP proxy to a broker that answers an MQTT 5 CONNECT like a 3.1.1-only broker does
    (CONNACK return code 1, unacceptable protocol version) and forwards everything else."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.refused = 0
        self.forwarded = 0
        self.server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> RefuseMqtt5Proxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            packet_type = await reader.readexactly(1)
            length_bytes = b""
            length, shift = 0, 0
            while True:
                byte = await reader.readexactly(1)
                length_bytes += byte
                length |= (byte[0] & 0x7F) << shift
                shift += 7
                if not byte[0] & 0x80:
                    break
            body = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            writer.close()
            return
        name_length = int.from_bytes(body[0:2], "big")
        level = body[2 + name_length]
        if packet_type[0] >> 4 == 1 and level == 5:
            self.refused += 1
            writer.write(bytes([0x20, 0x02, 0x00, 0x01]))
            await writer.drain()
            writer.close()
            return
        self.forwarded += 1
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        upstream_writer.write(packet_type + length_bytes + body)
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(_pipe(source, sink))
            self._pipes.add(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def test_a_broker_without_mqtt5_gets_mqtt_311(sqlite_url: str, mosquitto: Mosquitto) -> None:
    async with (
        outbox(sqlite_url) as store,
        RefuseMqtt5Proxy(mosquitto.plain_port) as proxy,
        subscribed(mosquitto, ["dt/evcharge/#"]) as partner,
    ):
        settings = bridge_settings(mosquitto, sqlite_url, mqtt_url=f"mqtt://127.0.0.1:{proxy.port}")
        ids = await enqueue(store, [status("CP-1", 1, ConnectorStatus.AVAILABLE)])
        async with running_bridge(settings) as bridge:
            await wait_for(lambda: message_ids(partner.messages) == ids, timeout=10)
            await wait_for(lambda: outbox_count_is(store, 0), timeout=10)
            assert bridge.protocol is MqttProtocol.V311
            assert bridge.stats.connections == 1
        assert proxy.refused == 1
        assert proxy.forwarded == 1


ACL_ONLY_CP1 = """\
pattern read #
user evcharge-bridge
topic write dt/evcharge/cp-1/#
topic write $aws/things/#
"""


async def test_a_refused_publish_stays_in_the_outbox_until_the_broker_allows_it(
    database_url: str, tmp_path: Path
) -> None:
    events: list[DomainEvent] = []
    for minute in range(3):
        events += [meter("CP-1", minute, 100 * minute), meter("CP-2", minute, 100 * minute)]
    with running_mosquitto(tmp_path / "broker", acl=ACL_ONLY_CP1) as broker:
        async with (
            outbox(database_url) as store,
            subscribed(broker, ["dt/evcharge/#"]) as partner,
        ):
            ids = await enqueue(store, events)
            cp1, cp2 = ids[0::2], ids[1::2]
            async with running_bridge(bridge_settings(broker, database_url)) as bridge:
                await wait_for(lambda: message_ids(dedupe(partner.messages)) == cp1, timeout=10)
                await wait_for(lambda: bridge.stats.refused >= 2, timeout=10)
                await wait_for(lambda: outbox_count_is(store, len(cp2)), timeout=10)
                assert [row.message_id for row in await store.fetch(10)] == cp2

                broker.stop()
                broker.acl = "pattern readwrite #\npattern readwrite $aws/#\n"
                broker.write_config()
                broker.start()
                await wait_for(lambda: message_ids(dedupe(partner.messages)) == cp1 + cp2, 20)
                await wait_for(lambda: outbox_count_is(store, 0), timeout=10)


async def test_a_long_outage_thins_telemetry_and_keeps_records(
    database_url: str, tmp_path: Path
) -> None:
    with running_mosquitto(tmp_path / "broker") as broker:
        async with (
            outbox(database_url) as store,
            subscribed(broker, ["dt/evcharge/#"]) as partner,
        ):
            broker.stop()  # the partner's session stays in the broker's persistence
            records = await enqueue(store, [started(f"CP-{n}", n) for n in range(5)])
            telemetry = await enqueue(
                store,
                [meter(f"CP-{n % 2}", n, n) for n in range(400)]
                + [StationConnected("CP-9", "1.6", T0)],
            )
            settings = bridge_settings(
                broker,
                database_url,
                outbox_max_telemetry_rows=100,
                outbox_thin_interval=0.05,
                mqtt_shadow=False,
            )
            async with running_bridge(settings) as bridge:
                await wait_for(lambda: bridge.stats.connect_failures >= 1, timeout=10)
                await wait_for(lambda: bridge.stats.thinned > 0, timeout=10)
                assert await store.count("telemetry") <= 100
                assert await store.count("record") == len(records)

                broker.start()
                await wait_for(lambda: outbox_count_is(store, 0), timeout=20)
                await wait_for(
                    lambda: set(records) <= set(message_ids(partner.messages)), timeout=10
                )
                # The broker may still be delivering queued telemetry to the partner: wait
                # until every row that was not thinned has arrived.
                await wait_for(
                    lambda: (
                        len(set(telemetry) & set(message_ids(partner.messages)))
                        + bridge.stats.thinned
                        >= len(telemetry)
                    ),
                    timeout=20,
                    what="every row that was not thinned reaches the partner",
                )
            received = message_ids(dedupe(partner.messages))
            diagnosis = f"{partner.connections} partner connections; {broker.log()[-3000:]}"
    kept = [m for m in telemetry if m in received]
    assert len(kept) <= 100
    # Only thinned rows are missing.
    assert len(kept) + bridge.stats.thinned == len(telemetry), diagnosis
    # The newest telemetry of each station and topic survives.
    assert {telemetry[-1], telemetry[-2], telemetry[-3]} <= set(kept)
    # What was kept arrives in order.
    assert [m for m in received if m in set(kept)] == kept


async def test_messages_aws_iot_would_refuse_stay_in_the_outbox(
    sqlite_url: str, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    async with outbox(sqlite_url) as store, subscribed(mosquitto, ["dt/#"]) as partner:
        before = await enqueue(store, [status("CP-1", 1, ConnectorStatus.AVAILABLE)])
        too_big, too_deep = await enqueue(store, [meter("CP-1", 2, 1), meter("CP-1", 3, 2)])
        after = await enqueue(store, [status("CP-1", 4, ConnectorStatus.PREPARING)])
        async with store.engine.begin() as connection:
            table = OutboxRow.__table__  # type: ignore[attr-defined]
            await connection.execute(
                table.update()
                .where(table.c.message_id == too_big)
                .values(payload='{"x": "' + "x" * limits.MAX_PAYLOAD_BYTES + '"}')
            )
            await connection.execute(
                table.update()
                .where(table.c.message_id == too_deep)
                .values(topic="dt/evcharge/cp-1/a/b/c/d/e/meter")
            )
        async with running_bridge(bridge_settings(mosquitto, sqlite_url)) as bridge:
            await wait_for(lambda: message_ids(partner.messages) == before + after, timeout=10)
            await wait_for(lambda: bridge.stats.published == 2, timeout=10)
            assert await store.count() == 2
        assert {row.message_id for row in await store.fetch(10)} == {too_big, too_deep}
        problems = [
            r.getMessage() for r in caplog.records if "can never be published" in r.getMessage()
        ]
        assert any("more than 131072" in p for p in problems)
        assert any("slashes" in p for p in problems)
