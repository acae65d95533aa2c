"""What the API's routes use: the services, the station commands and the token issuer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from central_system.api.metrics import ApiMetrics
from central_system.api.security import TokenIssuer
from central_system.services.accounts import AccountService
from central_system.services.audit import AuditService
from central_system.services.authorization import AuthorizationService
from central_system.services.bundle import Services
from central_system.services.catalog import CatalogService
from central_system.services.charging import ChargingService
from central_system.services.event_bus import EventBus
from central_system.services.ports import StationOperations
from central_system.services.reservations import ReservationService
from central_system.services.stations import StationService
from central_system.services.tokens import TokenAdminService
from central_system.settings import Settings


@dataclass
class ApiContext:
    settings: Settings
    core: Services
    accounts: AccountService
    audit: AuditService
    catalog: CatalogService
    reservations: ReservationService
    charging: ChargingService
    commands: StationOperations
    events: EventBus
    tokens: TokenIssuer
    metrics: ApiMetrics
    connected_stations: Callable[[], int]
    ready: Callable[[], bool]
    tokens_admin: TokenAdminService
    dev_secret: bool = False
    shutting_down: asyncio.Event = field(default_factory=asyncio.Event)
    streams: set[asyncio.Queue[Any]] = field(default_factory=set)

    def close_streams(self) -> None:
        """Tell every open event stream to end (shutdown)."""
        self.shutting_down.set()
        for queue in list(self.streams):
            queue.put_nowait(None)

    @property
    def stations(self) -> StationService:
        return self.core.stations

    @property
    def authorization(self) -> AuthorizationService:
        return self.core.authorization
