"""Station ids in MQTT topics: AWS IoT Core thing names and lowercase telemetry topics."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge import limits
from schemas.telemetry import (
    TopicKind,
    shadow_topic,
    station_topic_level,
    telemetry_topic,
    thing_name,
)

THING_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
# OCPP 2.0.1 identity characters (identifierString) and a few more a URL path could carry.
station_ids = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=48
)


@pytest.mark.parametrize(
    ("station_id", "thing", "level"),
    [
        ("CP-1", "CP-1", "cp-1"),
        ("cp_001", "cp_001", "cp_001"),
        ("CP.01", "CP:2e01", "cp:2e01"),
        ("00:1A:2B", "00:3a1A:3a2B", "00:3a1a:3a2b"),
        ("a+b#c/d", "a:2bb:23c:2fd", "a:2bb:23c:2fd"),
        ("$SYS", ":24SYS", ":24sys"),
        ("Zähler", "Z:c3:a4hler", "z:c3:a4hler"),
    ],
)
def test_station_ids_are_escaped_for_thing_names_and_topics(
    station_id: str, thing: str, level: str
) -> None:
    assert thing_name(station_id) == thing
    assert station_topic_level(station_id) == level
    assert telemetry_topic(station_id, "meter") == f"dt/evcharge/{level}/meter"
    assert shadow_topic(station_id) == f"$aws/things/{thing}/shadow/update"


def test_an_empty_station_id_has_no_topic() -> None:
    with pytest.raises(ValueError, match="empty"):
        thing_name("")


@given(station_ids)
def test_every_station_id_gives_a_valid_thing_name_and_topics(station_id: str) -> None:
    assert THING_NAME.fullmatch(thing_name(station_id))
    for kind in TopicKind:
        topic = telemetry_topic(station_id, kind)
        assert limits.topic_problem(topic) is None
        assert topic == topic.lower()
        assert topic.count("/") == 3
    assert limits.topic_problem(shadow_topic(station_id)) is None


@given(station_ids, station_ids)
def test_distinct_station_ids_get_distinct_thing_names(first: str, second: str) -> None:
    if first != second:
        assert thing_name(first) != thing_name(second)


def test_a_long_escaped_id_is_shortened_with_a_digest() -> None:
    dotted = "." * 48
    other = "." * 47 + ","
    assert len(thing_name(dotted)) == 128
    assert thing_name(dotted).startswith(":2e:2e")
    assert thing_name(dotted) != thing_name(other)


@pytest.mark.parametrize(
    ("topic", "problem"),
    [
        ("dt/evcharge/cp-1/status", None),
        ("a/b/c/d/e/f/g/h", None),
        ("a/b/c/d/e/f/g/h/i", "slashes"),
        ("/dt/evcharge", "starts with '/'"),
        ("dt/evcharge/+/status", "wildcard"),
        ("dt/" + "x" * 254, "bytes"),
        ("", "empty"),
    ],
)
def test_topics_are_checked_against_aws_iot_limits(topic: str, problem: str | None) -> None:
    found = limits.topic_problem(topic)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_payloads_over_128_kib_are_refused() -> None:
    assert limits.payload_problem(b"x" * limits.MAX_PAYLOAD_BYTES) is None
    assert limits.payload_problem(b"x" * (limits.MAX_PAYLOAD_BYTES + 1)) is not None
