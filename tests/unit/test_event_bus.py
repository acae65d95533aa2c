"""The event bus hands each subscriber the kinds of events it asked for, in order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from central_system.domain.events import (
    DomainEvent,
    MeterValuesReceived,
    StationConnected,
    StationDisconnected,
)
from central_system.services.event_bus import EventBus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_subscribers_get_the_kinds_they_named_and_nothing_without_them() -> None:
    bus = EventBus()
    everything: list[list[DomainEvent]] = []
    presence: list[list[DomainEvent]] = []

    def failing(events: Iterable[DomainEvent]) -> None:
        raise RuntimeError("a broken subscriber")

    bus.subscribe(failing)
    bus.subscribe(lambda events: everything.append(list(events)))
    bus.subscribe(
        lambda events: presence.append(list(events)), StationConnected, StationDisconnected
    )

    meter = [MeterValuesReceived("CS-1", 1, None, ()) for _ in range(3)]
    bus.publish(meter)
    assert presence == []  # not even called with nothing
    assert everything == [meter]

    connected, gone = StationConnected("CS-2", "1.6", T0), StationDisconnected("CS-3", T0)
    bus.publish([meter[0], gone, meter[1], connected])
    assert presence == [[gone, connected]]
    assert everything[-1] == [meter[0], gone, meter[1], connected]


def test_unsubscribing_stops_the_delivery() -> None:
    bus = EventBus()
    got: list[DomainEvent] = []

    def subscriber(events: Iterable[DomainEvent]) -> None:
        got.extend(events)

    bus.subscribe(subscriber, StationConnected)
    bus.unsubscribe(subscriber)
    bus.publish([StationConnected("CS-1", "1.6", T0)])
    assert got == []
    with pytest.raises(ValueError, match="not subscribed"):
        bus.unsubscribe(subscriber)
