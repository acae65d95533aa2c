"""In-process fan-out of committed domain events (live API views subscribe here)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from central_system.domain.events import DomainEvent
from central_system.services.ports import EventSubscriber

log = logging.getLogger(__name__)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[EventSubscriber] = []

    def subscribe(self, subscriber: EventSubscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: EventSubscriber) -> None:
        self._subscribers.remove(subscriber)

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Deliver to every subscriber; one failing subscriber does not starve the others."""
        if not events:
            return
        for subscriber in list(self._subscribers):
            try:
                subscriber(events)
            except Exception:
                log.exception("event subscriber %r failed", subscriber)
