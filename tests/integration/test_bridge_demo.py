"""The demo's local broker: started when mosquitto is installed, watched with mosquitto_sub; with
retained shadow updates a late consumer gets each station's last known state at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import orjson
import pytest

from bridge.demo import find_mosquitto, local_broker
from bridge.settings import BridgeSettings
from central_system.domain.connectors import ConnectorStatus
from tests.conftest import missing
from tests.mosquitto import enqueue, outbox, running_bridge, status


async def test_without_mosquitto_there_is_no_local_broker(tmp_path: Path) -> None:
    async with local_broker(tmp_path, None) as broker:
        assert broker is None


async def first_messages(client: aiomqtt.Client, count: int) -> list[aiomqtt.Message]:
    received: list[aiomqtt.Message] = []
    async with asyncio.timeout(10):
        async for message in client.messages:
            received.append(message)
            if len(received) == count:
                return received
    raise AssertionError("disconnected")


@pytest.mark.mosquitto
async def test_the_demo_bridge_publishes_to_a_local_mosquitto(
    sqlite_url: str, tmp_path: Path
) -> None:
    binary = find_mosquitto()
    if binary is None:
        missing("mosquitto is not installed")
    async with local_broker(tmp_path / "broker", binary) as broker, outbox(sqlite_url) as store:
        assert broker is not None
        assert broker.watch_command == (
            f"mosquitto_sub -h 127.0.0.1 -p {broker.port} -q 1 -v "
            "-t 'dt/evcharge/#' -t '$aws/things/+/shadow/update'"
        )
        settings = BridgeSettings(
            database_url=sqlite_url,
            mqtt_url=broker.url,
            mqtt_shadow_retain=True,
            outbox_poll_interval=0.05,
        )
        async with aiomqtt.Client("127.0.0.1", broker.port) as watcher:
            await watcher.subscribe("dt/evcharge/#", qos=1)
            await watcher.subscribe("$aws/things/+/shadow/update", qos=1)
            (message_id,) = await enqueue(store, [status("CP-1", 1, ConnectorStatus.AVAILABLE)])
            async with running_bridge(settings):
                received = await first_messages(watcher, 2)
        by_topic = {str(m.topic): m for m in received}
        assert set(by_topic) == {"dt/evcharge/cp-1/status", "$aws/things/CP-1/shadow/update"}
        event = orjson.loads(by_topic["dt/evcharge/cp-1/status"].payload)  # type: ignore[arg-type]
        assert event["message_id"] == message_id

        async with aiomqtt.Client("127.0.0.1", broker.port) as late:
            await late.subscribe("$aws/things/+/shadow/update", qos=1)
            (retained,) = await first_messages(late, 1)
        assert retained.retain
        reported = orjson.loads(retained.payload)["state"]["reported"]  # type: ignore[arg-type]
        assert reported["evses"]["1"]["connectors"]["1"]["status"] == "Available"
