"""Domain events -> outbox rows, written in the unit of work's database transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from central_system.domain.events import DomainEvent
from central_system.persistence.models import OutboxRow

OutboxMapper = Callable[[Sequence[DomainEvent]], Iterable[OutboxRow]]
