"""In-process fan-out of committed domain events (live API views subscribe here)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from central_system.domain.events import DomainEvent
from central_system.services.ports import EventSubscriber

log = logging.getLogger(__name__)


class EventBus:
    """Subscribers get each committed batch of events, or only the kinds they name: the bus
    sees a few hundred MeterValuesReceived per group commit, which most subscribers ignore."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[EventSubscriber, frozenset[type[DomainEvent]]]] = []

    def subscribe(self, subscriber: EventSubscriber, *kinds: type[DomainEvent]) -> None:
        """Deliver every batch to `subscriber`, or, when `kinds` are given, only the events of
        exactly those classes (and nothing when a batch has none of them)."""
        self._subscribers.append((subscriber, frozenset(kinds)))

    def unsubscribe(self, subscriber: EventSubscriber) -> None:
        for entry in self._subscribers:
            if entry[0] == subscriber:
                self._subscribers.remove(entry)
                return
        raise ValueError(f"{subscriber!r} is not subscribed")

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Deliver to every subscriber; one failing subscriber does not starve the others."""
        if not events:
            return
        present: set[type[DomainEvent]] | None = None
        for subscriber, kinds in list(self._subscribers):
            delivered = events
            if kinds:
                if present is None:
                    present = {type(event) for event in events}
                if kinds.isdisjoint(present):
                    continue
                delivered = [event for event in events if type(event) in kinds]
            try:
                subscriber(delivered)
            except Exception:
                log.exception("event subscriber %r failed", subscriber)
