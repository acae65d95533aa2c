"""Bridge settings: broker URLs, AWS IoT Core limits, back-off."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from bridge.mqtt import Backoff, RateLimit
from bridge.settings import (
    DEFAULT_DATABASE_URL,
    BridgeSettings,
    BrokerAddress,
    MqttProtocol,
    parse_broker_url,
)
from central_system import settings as central_settings


@pytest.mark.parametrize(
    ("url", "address"),
    [
        (
            "mqtts://abc-ats.iot.eu-west-1.amazonaws.com",
            BrokerAddress("abc-ats.iot.eu-west-1.amazonaws.com", 8883, True),
        ),
        ("mqtts://broker:443", BrokerAddress("broker", 443, True)),
        ("mqtt://127.0.0.1", BrokerAddress("127.0.0.1", 1883, False)),
        (
            "mqtt://u%40x:p%2Fw@localhost:1884/",
            BrokerAddress("localhost", 1884, False, "u@x", "p/w"),
        ),
    ],
)
def test_broker_urls(url: str, address: BrokerAddress) -> None:
    assert parse_broker_url(url) == address


@pytest.mark.parametrize(
    "url", ["http://broker", "mqtts://", "mqtts://broker/topic", "broker:8883"]
)
def test_bad_broker_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="EVCHARGE_MQTT_URL"):
        parse_broker_url(url)
    with pytest.raises(ValidationError):
        BridgeSettings(mqtt_url=url)


def test_settings_come_from_evcharge_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVCHARGE_MQTT_URL", "mqtts://broker")
    monkeypatch.setenv("EVCHARGE_MQTT_CLIENT_ID", "bridge-eu-1")
    monkeypatch.setenv("EVCHARGE_MQTT_PROTOCOL", "3.1.1")
    monkeypatch.setenv("EVCHARGE_MQTT_SHADOW", "false")
    settings = BridgeSettings()
    assert settings.broker == BrokerAddress("broker", 8883, True)
    assert settings.mqtt_client_id == "bridge-eu-1"
    assert settings.mqtt_protocol is MqttProtocol.V311
    assert settings.mqtt_shadow is False


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EVCHARGE_DATABASE_URL", "EVCHARGE_MQTT_CLIENT_ID", "EVCHARGE_MQTT_SHADOW"):
        monkeypatch.delenv(name, raising=False)
    settings = BridgeSettings()
    assert settings.database_url == DEFAULT_DATABASE_URL == central_settings.DEFAULT_DATABASE_URL
    assert settings.mqtt_client_id == "evcharge-bridge"
    assert settings.mqtt_protocol is MqttProtocol.AUTO
    assert settings.mqtt_shadow is True
    assert settings.mqtt_shadow_retain is False


def test_keepalive_and_inflight_are_clamped_to_aws_iot_limits() -> None:
    assert BridgeSettings(mqtt_keepalive=5).keepalive == 30
    assert BridgeSettings(mqtt_keepalive=600).keepalive == 600
    assert BridgeSettings(mqtt_keepalive=7200).keepalive == 1200
    assert BridgeSettings(mqtt_inflight=500).inflight == 100
    assert BridgeSettings(mqtt_inflight=0).inflight == 1


def test_a_client_id_over_128_bytes_is_refused() -> None:
    BridgeSettings(mqtt_client_id="b" * 128)
    with pytest.raises(ValidationError, match="128 bytes"):
        BridgeSettings(mqtt_client_id="ü" * 65)


def test_no_broker_url_no_bridge() -> None:
    with pytest.raises(ValueError, match="EVCHARGE_MQTT_URL is not set"):
        _ = BridgeSettings(mqtt_url=None).broker


def test_backoff_grows_exponentially_with_jitter_up_to_the_maximum() -> None:
    backoff = Backoff(1.0, 30.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    for attempt, delay in enumerate(delays):
        ceiling = min(30.0, 2.0**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered, not in step
    backoff.reset()
    assert 0.5 <= backoff.next_delay() <= 1.0


def test_the_publish_rate_allows_a_second_of_burst_then_spaces_publishes() -> None:
    limit = RateLimit(100)
    assert [limit.reserve(0.0) for _ in range(100)] == [0.0] * 100
    assert limit.reserve(0.0) == pytest.approx(0.01)
    assert limit.reserve(0.0) == pytest.approx(0.02)
    assert limit.reserve(1.0) == 0.0  # a second later the bucket has refilled
    assert BridgeSettings().mqtt_max_publish_rate == 100


def test_a_zero_publish_rate_is_unlimited() -> None:
    limit = RateLimit(0)
    assert {limit.reserve(0.0) for _ in range(1000)} == {0.0}
