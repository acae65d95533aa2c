"""The bridge against a real Mosquitto with mutual TLS: the central system's events arrive on
their topics with valid payloads, the shadow document follows the station, and a client without
a valid certificate is refused."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import aiomqtt
import jsonschema_rs
import pytest
import trustme

from bridge.mqtt import AckingClient
from bridge.outbox import OutboxStore
from central_system.persistence.database import create_engine
from schemas.generate import JSON_DIR
from schemas.telemetry import ShadowUpdate, telemetry_message
from tests.conftest import running_central_system, test_settings
from tests.helpers import connect, wait_for
from tests.mosquitto import (
    Mosquitto,
    Station16,
    bridge_settings,
    dedupe,
    mosquitto_fixture,  # noqa: F401 (the `mosquitto` fixture)
    running_bridge,
    subscribed,
)

pytestmark = pytest.mark.mosquitto

TOPICS = ["dt/evcharge/#", "$aws/things/+/shadow/update"]


def validator(stem: str) -> jsonschema_rs.Validator:
    schema = json.loads((JSON_DIR / f"{stem}.schema.json").read_text())
    return jsonschema_rs.validator_for(schema)


async def outbox_count(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        return await OutboxStore(engine).count()
    finally:
        await engine.dispose()


async def _outbox_holds(database_url: str, count: int) -> bool:
    return await outbox_count(database_url) == count


async def outbox_is_empty(database_url: str) -> bool:
    return await _outbox_holds(database_url, 0)


async def test_a_charging_session_arrives_on_its_topics(
    database_url: str, mosquitto: Mosquitto
) -> None:
    async with (
        running_central_system(test_settings(database_url, outbox=True)) as running,
        subscribed(mosquitto, TOPICS) as partner,
        running_bridge(bridge_settings(mosquitto, database_url)) as bridge,
    ):
        running.system.events.subscribe(bridge.wake)
        await running.services.stations.register("CP-1")
        await running.services.authorization.add_token("TAG1")
        client = await connect(running.ocpp_url, "CP-1")
        station = Station16(client, "CP-1")
        await station.boot()
        await station.status(1, "Available")
        await station.status(1, "Preparing")
        tx = await station.start(1, "TAG1", 1000)
        await station.status(1, "Charging")
        await station.meter(1, tx, 1500)
        await station.meter(1, tx, 2000)
        await station.stop(tx, 2500)
        await station.status(1, "Finishing")
        await station.status(1, "Available")
        await client.close()

        expected = [
            ("status", "connected"),
            ("status", "status"),
            ("status", "status"),
            ("session", "started"),
            ("status", "status"),
            ("meter", "meter"),
            ("meter", "meter"),
            ("session", "ended"),
            ("status", "status"),
            ("status", "status"),
            ("status", "disconnected"),
        ]
        await wait_for(
            lambda: len(dedupe(partner.on("dt/"))) >= len(expected),
            timeout=15,
            what="the session's messages at the partner",
        )
        last_event = dedupe(partner.on("dt/"))[-1].json()["message_id"]
        await wait_for(
            lambda: any(
                m.json()["clientToken"] == last_event
                for m in partner.on("$aws/things/CP-1/shadow/update")
            ),
            timeout=10,
            what="the shadow update of the last event",
        )
        await wait_for(lambda: outbox_is_empty(database_url), timeout=10)

    events = dedupe(partner.on("dt/"))
    assert [(m.topic.rsplit("/", 1)[1], m.json()["event"]) for m in events] == expected
    assert {m.topic.rsplit("/", 1)[0] for m in events} == {"dt/evcharge/cp-1"}
    validators = {stem: validator(stem) for stem in ("status", "meter", "session", "telemetry")}
    for message in events:
        payload = message.json()
        validators[message.topic.rsplit("/", 1)[1]].validate(payload)
        validators["telemetry"].validate(payload)
        parsed = telemetry_message.validate_json(message.payload)
        assert parsed.station_id == "CP-1"
        assert payload["schema_version"] == 1
        assert str(payload["event_time"]).endswith("Z")
    meters = [m.json() for m in events if m.json()["event"] == "meter"]
    assert [m["energy_register_wh"] for m in meters] == [1500, 2000]
    assert {m["transaction_id"] for m in meters} == {str(tx)}
    assert meters[0]["power_w"] == "7400.0"
    ended = next(m.json() for m in events if m.json()["event"] == "ended")
    assert (ended["meter_start_wh"], ended["meter_stop_wh"]) == (1000, 2500)
    assert ended["energy_wh"] == 1500
    assert ended["id_token"] == {"value": "TAG1", "type": None}

    shadows = partner.on("$aws/things/CP-1/shadow/update")
    assert shadows, "no shadow update"
    validate_shadow = validator("shadow-update")
    for message in shadows:
        validate_shadow.validate(message.json())
        assert not message.retain
    last = ShadowUpdate.model_validate_json(shadows[-1].payload)
    reported = last.state.reported
    assert reported.connected is False
    assert reported.ocpp_version == "1.6"
    assert reported.evses is not None
    evse = reported.evses["1"]
    assert evse.connectors is not None
    assert evse.connectors["1"].status == "Available"
    assert evse.transaction_id is None
    assert evse.energy_register_wh == 2000
    assert last.clientToken == str(events[-1].json()["message_id"])


def _tls_context(broker: Mosquitto, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(broker.ca_path))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


async def _try_connect(broker: Mosquitto, context: ssl.SSLContext) -> None:
    async with AckingClient(
        "127.0.0.1", broker.port, identifier="intruder", tls_context=context, timeout=5
    ) as client:
        await client.publish_acked("dt/evcharge/cp-1/status", b"{}", timeout=5)


async def test_a_client_without_a_valid_certificate_is_refused(mosquitto: Mosquitto) -> None:
    with pytest.raises(aiomqtt.MqttError, match="closed the connection before CONNACK"):
        await _try_connect(mosquitto, _tls_context(mosquitto, None, None))
    await wait_for(lambda: "peer did not return a certificate" in mosquitto.log())

    stranger = mosquitto.client_credentials("evcharge-bridge", ca=trustme.CA())
    with pytest.raises(aiomqtt.MqttError):
        await _try_connect(mosquitto, _tls_context(mosquitto, stranger.cert, stranger.key))
    await wait_for(lambda: "certificate verify failed" in mosquitto.log())

    trusted = mosquitto.client_credentials("evcharge-bridge")
    await _try_connect(mosquitto, _tls_context(mosquitto, trusted.cert, trusted.key))


async def test_a_bridge_with_an_untrusted_certificate_keeps_the_outbox(
    sqlite_url: str, mosquitto: Mosquitto
) -> None:
    stranger = mosquitto.client_credentials("evcharge-bridge", ca=trustme.CA())
    settings = bridge_settings(
        mosquitto, sqlite_url, mqtt_cert=stranger.cert, mqtt_key=stranger.key
    )
    async with (
        running_central_system(test_settings(sqlite_url, outbox=True)) as running,
        running_bridge(settings) as bridge,
    ):
        await running.services.stations.register("CP-1")
        client = await connect(running.ocpp_url, "CP-1")
        await Station16(client, "CP-1").status(1, "Available")
        await client.close()
        # connected, status, disconnected
        await wait_for(lambda: _outbox_holds(sqlite_url, 3), timeout=10)
        await wait_for(lambda: bridge.stats.connect_failures >= 3, timeout=15)
        assert bridge.stats.connections == 0
        assert await outbox_count(sqlite_url) == 3
