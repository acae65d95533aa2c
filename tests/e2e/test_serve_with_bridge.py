"""`evcharge serve` runs the bridge in-process when EVCHARGE_MQTT_URL is set (DESIGN.md
section 1: one command runs everything)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocpp.v16 import call

from tests.e2e.cli import cli_env, run, serve
from tests.helpers import connect, wait_for
from tests.mosquitto import (
    Mosquitto,
    mosquitto_fixture,  # noqa: F401 (the `mosquitto` fixture)
    subscribed,
)

pytestmark = pytest.mark.mosquitto


async def test_serve_publishes_through_the_in_process_bridge(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = {k[len("EVCHARGE_") :].lower(): v for k, v in mosquitto.bridge_env().items()}
    env = cli_env(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cs.db'}",
        ocpp_port="0",
        mqtt_max_publish_rate="0",
        **settings,
    )
    assert (await run("stations", "add", "CP-MQ", env=env))[0] == 0
    async with serve(env) as server, subscribed(mosquitto, ["dt/evcharge/#"]) as partner:
        client = await connect(server.ocpp_url, "CP-MQ")
        try:
            await client.call(
                call.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
            await client.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Available")
            )
            messages = await wait_for(lambda: partner.on("dt/evcharge/cp-mq/status"), timeout=15)
        finally:
            await client.close()
    events = {message.json()["event"] for message in messages}
    assert "connector_status" in events or "connected" in events, events


async def test_serve_refuses_an_unreadable_mqtt_certificate(tmp_path: Path) -> None:
    env = cli_env(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cs.db'}",
        ocpp_port="0",
        mqtt_url="mqtts://127.0.0.1:8883",
        mqtt_ca=str(tmp_path / "missing-ca.pem"),
        mqtt_cert=str(tmp_path / "missing.pem"),
        mqtt_key=str(tmp_path / "missing.key"),
    )
    code, output = await run("serve", env=env)
    assert code == 2
    assert "evcharge:" in output and "missing" in output
