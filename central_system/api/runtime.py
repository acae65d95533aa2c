"""The REST API as one part of the central-system process: its services, the background work that
turns transaction ends into receipts, and uvicorn serving in the same event loop.

Wired by the composition root (central_system.app) with the unit of work, the clock, the core
services, the event bus and the station operations adapter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import timedelta

import uvicorn

from central_system.api.app import create_app
from central_system.api.context import ApiContext
from central_system.api.metrics import ApiMetrics
from central_system.api.payments import TestPaymentProvider
from central_system.api.security import (
    MIN_SECRET_LENGTH,
    SystemIds,
    TokenIssuer,
    UserPasswordHasher,
    development_secret,
)
from central_system.background import supervise
from central_system.domain.accounts import RateLimit
from central_system.domain.events import DomainEvent, TransactionEnded, TransactionStarted
from central_system.services.accounts import AccountService
from central_system.services.audit import AuditService
from central_system.services.bundle import Services
from central_system.services.catalog import CatalogService
from central_system.services.charging import ChargingService
from central_system.services.event_bus import EventBus
from central_system.services.ports import Clock, StationOperations, UnitOfWorkFactory
from central_system.services.reservations import ReservationService
from central_system.services.tokens import TokenAdminService
from central_system.settings import Settings

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 3


class ApiConfigurationError(RuntimeError):
    """The API cannot start with these settings (e.g. no JWT secret in production)."""


def jwt_secret(settings: Settings) -> tuple[str, bool]:
    """The configured secret, or a random one in development (second value True)."""
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
        if len(secret) < MIN_SECRET_LENGTH:
            raise ApiConfigurationError(
                f"EVCHARGE_JWT_SECRET must have at least {MIN_SECRET_LENGTH} characters"
            )
        return secret, False
    if settings.is_development:
        return development_secret(), True
    raise ApiConfigurationError(
        "EVCHARGE_JWT_SECRET is required in production (at least "
        f"{MIN_SECRET_LENGTH} random characters); EVCHARGE_ENV=development makes a random one"
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers (the process's owner handles SIGTERM/SIGINT),
    telling when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


class ApiRuntime:
    def __init__(
        self,
        settings: Settings,
        uow: UnitOfWorkFactory,
        clock: Clock,
        core: Services,
        events: EventBus,
        operations: StationOperations,
        metrics: ApiMetrics,
        *,
        connected_stations: Callable[[], int],
        ocpp_ready: Callable[[], bool],
    ) -> None:
        self.settings = settings
        self.core = core
        self.events = events
        self.operations = operations
        self.metrics = metrics
        self._connected_stations = connected_stations
        self._ocpp_ready = ocpp_ready
        ids = SystemIds()
        self.audit = AuditService(uow, clock)
        self.accounts = AccountService(
            uow,
            clock,
            UserPasswordHasher(),
            ids,
            self.audit,
            login_limit=RateLimit(
                settings.login_rate_limit, timedelta(seconds=settings.login_rate_window)
            ),
        )
        self.catalog = CatalogService(uow, clock, core.stations)
        self.payments = TestPaymentProvider()
        self.reservations = ReservationService(
            uow, clock, operations, ids, max_minutes=settings.reservation_max_minutes
        )
        self.charging = ChargingService(
            uow,
            clock,
            operations,
            self.payments,
            ids,
            authorization_lifetime=timedelta(seconds=settings.charging_authorization_ttl),
            start_timeout=timedelta(seconds=settings.session_start_timeout),
        )
        self.tokens_admin = TokenAdminService(uow)
        self.context: ApiContext | None = None
        self.port: int | None = None
        self._queue: asyncio.Queue[DomainEvent] = asyncio.Queue()

    _EVENT_KINDS = (TransactionStarted, TransactionEnded)

    def _on_events(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, self._EVENT_KINDS):
                self._queue.put_nowait(event)

    async def _consume(self) -> None:
        """Transaction starts link sessions; ends write receipts (a failure is logged, and the
        next reconcile run retries it)."""
        while True:
            event = await self._queue.get()
            try:
                if isinstance(event, TransactionStarted):
                    await self.charging.transaction_started(event.transaction)
                elif isinstance(event, TransactionEnded):
                    await self.charging.transaction_ended(event.transaction)
            except Exception:
                log.exception("could not process %s", type(event).__name__)

    async def _maintain(self) -> None:
        """Expire reservations, abandon sessions that never started, finish missed ends."""
        while True:
            await asyncio.sleep(self.settings.maintenance_interval)
            try:
                await self.reservations.expire_due()
                await self.charging.reconcile()
            except Exception:
                log.exception("API housekeeping failed")

    def _bind(self) -> socket.socket:
        sock = socket.socket(
            socket.AF_INET6 if ":" in self.settings.api_host else socket.AF_INET,
            socket.SOCK_STREAM,
        )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.api_host, self.settings.api_port))
        sock.listen(128)
        sock.setblocking(False)
        return sock

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[int]:
        """Serve the API until the block ends; yields the bound port. Receipts missed while the
        process was down are written first (reconcile)."""
        if self.settings.payment_provider != "test":
            raise ApiConfigurationError(
                f"unknown payment provider {self.settings.payment_provider!r} (built in: test)"
            )
        secret, generated = jwt_secret(self.settings)
        if generated:
            log.warning("EVCHARGE_JWT_SECRET not set: using a random one (development mode)")
        if not self.settings.is_development:
            log.warning("the built-in test payment provider accepts test cards only")
        ctx = ApiContext(
            settings=self.settings,
            core=self.core,
            accounts=self.accounts,
            audit=self.audit,
            catalog=self.catalog,
            reservations=self.reservations,
            charging=self.charging,
            commands=self.operations,
            events=self.events,
            tokens=TokenIssuer(
                secret,
                timedelta(seconds=self.settings.access_token_ttl),
                timedelta(seconds=self.settings.refresh_token_ttl),
            ),
            metrics=self.metrics,
            connected_stations=self._connected_stations,
            ready=self._ocpp_ready,
            tokens_admin=self.tokens_admin,
            dev_secret=generated,
        )
        self.context = ctx
        config = uvicorn.Config(
            create_app(ctx),
            host=self.settings.api_host,
            port=self.settings.api_port,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
        server = _Server(config)
        sock = self._bind()
        self.port = sock.getsockname()[1]
        self.events.subscribe(self._on_events, *self._EVENT_KINDS)
        try:
            await self.charging.reconcile()
            async with asyncio.TaskGroup() as tasks:
                workers = [
                    tasks.create_task(supervise("api-events", self._consume), name="api-events"),
                    tasks.create_task(
                        supervise("api-housekeeping", self._maintain), name="api-housekeeping"
                    ),
                ]
                serving = tasks.create_task(server.serve(sockets=[sock]), name="api-server")
                listening = asyncio.ensure_future(server.listening.wait())
                await asyncio.wait({listening, serving}, return_when=asyncio.FIRST_COMPLETED)
                listening.cancel()
                if serving.done():
                    serving.result()  # raises what stopped it
                    raise ApiConfigurationError("the API server stopped during start-up")
                log.info("API listening on http://%s:%s", self.settings.api_host, self.port)
                try:
                    yield self.port
                finally:
                    ctx.close_streams()
                    server.should_exit = True
                    with contextlib.suppress(asyncio.CancelledError):
                        await serving
                    for worker in workers:
                        worker.cancel()
        finally:
            with contextlib.suppress(ValueError):  # already gone
                self.events.unsubscribe(self._on_events)
            sock.close()
