"""Composition root of the central system: settings -> engine -> adapters -> services -> servers.

Nothing is built at import time; `CentralSystem(settings)` builds, `run()` serves until stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from central_system.api.metrics import ApiMetrics, GroupCommitCounts
from central_system.api.routers.log_uploads import upload_path
from central_system.api.runtime import ApiRuntime
from central_system.api.security import SystemIds
from central_system.background import supervise
from central_system.domain import signal
from central_system.persistence.batch_store import batch_store_for
from central_system.persistence.database import create_engine, session_factory
from central_system.persistence.group_commit import GroupCommitWriter
from central_system.persistence.migrate import current_revision, head_revision, upgrade
from central_system.persistence.outbox import outbox_rows, outbox_values
from central_system.persistence.passwords import Argon2PasswordHasher
from central_system.persistence.presence import SqlNodeStore, SqlPresenceStore
from central_system.persistence.repositories import SqlUnitOfWorkFactory
from central_system.persistence.station_directory import (
    RegistryCommitWatcher,
    SqlStationDirectoryStore,
)
from central_system.security.ca import CertificateAuthority
from central_system.security.certificate_tools import CertificateTools
from central_system.security.contract_certificates import ContractCertificateVerifier
from central_system.security.secrets import SystemSecrets
from central_system.services.authorization import AuthorizationService
from central_system.services.bundle import Services
from central_system.services.certificates import CertificateService
from central_system.services.costs import CostService
from central_system.services.customer_data import CustomerDataService
from central_system.services.data_transfer import DataTransferService
from central_system.services.device_model import DeviceModelService
from central_system.services.event_bus import EventBus
from central_system.services.firmware import FirmwareService
from central_system.services.load_management import LoadManagementService
from central_system.services.local_lists import LocalListService
from central_system.services.log_uploads import LogUploadService
from central_system.services.presence import NodeLiveness, PresenceWriter
from central_system.services.remote_control import RemoteControlService
from central_system.services.security import SecurityService
from central_system.services.smart_charging import SmartChargingService
from central_system.services.station_directory import StationDirectory
from central_system.services.station_reservations import StationReservationService
from central_system.services.stations import StationService
from central_system.services.transactions import TransactionService
from central_system.settings import Settings
from central_system.transport.commands import StationCommands
from central_system.transport.device_model_commands import DeviceModelCommands
from central_system.transport.gateway import ConnectionRegistry
from central_system.transport.local_list_commands import LocalListCommands
from central_system.transport.maintenance import MaintenanceCommands
from central_system.transport.operations import CountingRouter, StationOperationsAdapter
from central_system.transport.remote_commands import RemoteCommands
from central_system.transport.server import OcppServer
from central_system.transport.smart_charging import SmartChargingCommands

log = logging.getLogger(__name__)


def _port(server: Any) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


def certificate_authority(settings: Settings, now: datetime) -> CertificateAuthority | None:
    """The operator's CA from files; in development a generated one; else none (CSRs are then
    rejected)."""
    if settings.ca_cert is not None and settings.ca_key is not None:
        return CertificateAuthority.from_files(settings.ca_cert, settings.ca_key)
    if settings.is_development:
        log.warning("no EVCHARGE_CA_CERT/_KEY: using a generated CA (development only)")
        return CertificateAuthority.generate(settings.cpo_name or "evcharge", now)
    return None


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class DatabaseOutOfDate(RuntimeError):
    pass


async def prepare_database(url: str) -> None:
    """Create the schema of an empty database; refuse to run on an older schema."""
    current = await current_revision(url)
    head = head_revision(url)
    if current is None:
        log.info("empty database: creating the schema (%s)", head)
        await upgrade(url)
    elif current != head:
        raise DatabaseOutOfDate(
            f"the database schema is at {current}, this version needs {head}: "
            "run `evcharge db upgrade` first"
        )


class CentralSystem:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url, echo=settings.database_echo)
        self.events = EventBus()
        self.uow = SqlUnitOfWorkFactory(
            session_factory(self.engine),
            self.events,
            outbox=outbox_rows if settings.outbox_enabled else None,
            reading_sessions=session_factory(self.engine, read_only=True),
        )
        self.writer = GroupCommitWriter(
            batch_store_for(
                settings.database_url,
                self.engine,
                outbox_values if settings.outbox_enabled else None,
                postgres_connections=settings.group_commit_connections,
            ),
            self.events,
            window=settings.group_commit_ms / 1000,
            max_batch=settings.group_commit_max_messages,
        )
        clock = SystemClock()
        self.directory = StationDirectory(SqlStationDirectoryStore(self.engine))
        self.registry_changes = RegistryCommitWatcher(self.engine, self.directory.forget)
        node_id = str(uuid.uuid4())
        self.presence = PresenceWriter(SqlPresenceStore(self.uow, node_id), clock)
        self.registry = ConnectionRegistry()
        self.nodes = NodeLiveness(
            SqlNodeStore(self.uow),
            clock,
            node_id,
            self.registry.recorded_connections,
            interval=settings.node_heartbeat_interval,
            timeout=settings.node_timeout,
        )
        self.commands = StationCommands(self.registry)
        maintenance = MaintenanceCommands(self.registry, self.commands)
        secrets = SystemSecrets()
        charging_control = SmartChargingCommands(self.registry, self.commands)
        smart_charging = SmartChargingService(
            self.uow,
            clock,
            charging_control,
            default_evse_w=settings.load_management_default_evse_w,
        )
        ids = SystemIds()
        local_lists = LocalListService(
            self.uow,
            clock,
            LocalListCommands(self.registry),
            sync_interval=settings.local_list_sync_interval,
        )
        self.services = Services(
            stations=StationService(
                self.uow,
                clock,
                Argon2PasswordHasher(),
                heartbeat_interval=settings.heartbeat_interval,
                boot_retry_interval=settings.boot_retry_interval,
                auto_register=settings.auto_register,
                writer=self.writer,
                directory=self.directory,
                presence=self.presence,
            ),
            authorization=AuthorizationService(
                self.uow,
                clock,
                ContractCertificateVerifier.from_file(settings.contract_root_certs)
                if settings.contract_root_certs
                else None,
            ),
            transactions=TransactionService(self.uow, clock, self.writer),
            data_transfer=DataTransferService(),
            firmware=FirmwareService(self.uow, clock, maintenance, maintenance, secrets),
            log_uploads=LogUploadService(self.uow, clock, maintenance, secrets, self.upload_url),
            security=SecurityService(
                self.uow,
                clock,
                Argon2PasswordHasher(),
                maintenance,
                secrets,
                CertificateTools(),
                tls_available=settings.ocpp_tls_port is not None,
                client_ca_available=settings.ocpp_tls_client_ca is not None,
                csms_url=self.tls_url,
                renew_before=timedelta(days=settings.certificate_renew_days),
            ),
            certificates=CertificateService(
                self.uow,
                clock,
                certificate_authority(settings, clock.now()),
                cpo_name=settings.cpo_name,
                validity=timedelta(days=settings.certificate_validity_days),
                renew_before=timedelta(days=settings.certificate_renew_days),
            ),
            local_lists=local_lists,
            customer_data=CustomerDataService(StationOperationsAdapter(self.registry), local_lists),
            device_model=DeviceModelService(
                self.uow, clock, DeviceModelCommands(self.registry), ids
            ),
            station_reservations=StationReservationService(
                self.uow, clock, self.commands, max_minutes=settings.reservation_max_minutes
            ),
            remote_control=RemoteControlService(
                self.uow, self.commands, RemoteCommands(self.registry), ids
            ),
            smart_charging=smart_charging,
            load_management=LoadManagementService(
                self.uow,
                clock,
                charging_control,
                smart_charging,
                default_evse_w=settings.load_management_default_evse_w,
                min_session_w=settings.load_management_min_session_w,
                interval_s=settings.load_management_interval,
            ),
            costs=CostService(
                self.uow,
                clock,
                charging_control,
                update_interval_s=settings.cost_update_interval,
            ),
        )
        for subscriber in (
            self.services.transactions.running,
            self.services.stations.connector_states,
            self.services.load_management,
            self.services.local_lists,
        ):
            self.events.subscribe(subscriber.on_events, *subscriber.EVENT_KINDS)
        self.services.data_transfer.register(
            signal.VENDOR_ID, signal.MESSAGE_ID, self.services.stations.signal_report
        )
        self.ocpp = OcppServer(settings, self.services, self.registry)
        self.ocpp_port: int | None = None
        metrics = ApiMetrics()
        metrics.registry.register(
            GroupCommitCounts(lambda: (self.writer.batches, self.writer.messages))
        )
        self.ocpp.wrap_routers(lambda router: CountingRouter(router, metrics.received))
        self.api = ApiRuntime(
            settings,
            self.uow,
            clock,
            self.services,
            self.events,
            StationOperationsAdapter(self.registry, on_send=metrics.sent),
            metrics,
            connected_stations=self.registry.__len__,
            ocpp_ready=lambda: self.ocpp_port is not None,
        )
        self.api_port: int | None = None
        self.ocpp_tls_port: int | None = None

    def _log_listening(self, scheme: str, port: int) -> None:
        log.info(
            "OCPP listening on %s://%s:%s%s/{station_id} (ocpp1.6, ocpp2.0.1, ocpp2.1)",
            scheme,
            self.settings.ocpp_host,
            port,
            self.settings.ocpp_path,
        )

    async def _renew_certificates(self) -> None:
        """Ask connected stations whose certificate expires soon to renew it (A02 started by
        the CSMS: TriggerMessage / ExtendedTriggerMessage for a new SignCertificate)."""
        while True:
            for station_id, certificate_type in await self.services.certificates.due_for_renewal():
                if not self.registry.is_connected(station_id):
                    continue
                try:
                    await self.commands.trigger_certificate_renewal(station_id, certificate_type)
                except Exception as error:  # one station's failure must not stop the others
                    log.warning("%s: certificate renewal not triggered: %s", station_id, error)
            await asyncio.sleep(self.settings.certificate_check_interval)

    def upload_url(self, token: str) -> str:
        """Where a station uploads a requested diagnostics or log file (TC_045, N01)."""
        base = self.settings.public_api_url or (
            f"http://{self.settings.api_host}:{self.api_port or self.settings.api_port}"
        )
        return base.rstrip("/") + upload_path(token)

    def tls_url(self) -> str | None:
        """The wss:// address stations use for security profiles 2 and 3."""
        if self.settings.public_ocpp_tls_url:
            return self.settings.public_ocpp_tls_url
        port = self.ocpp_tls_port or self.settings.ocpp_tls_port
        if not port:
            return None
        return f"wss://{self.settings.ocpp_host}:{port}{self.settings.ocpp_path}"

    async def _firmware_campaigns(self) -> None:
        """Send due firmware jobs to the stations connected here (campaigns and retries)."""
        while True:
            try:
                await self.services.firmware.run_due()
            except Exception:  # logged; the next round tries again
                log.exception("sending firmware jobs failed")
            await asyncio.sleep(self.settings.firmware_check_interval)

    async def run(self, started: asyncio.Event | None = None) -> None:
        """Serve until cancelled; `started` is set once every listener accepts connections."""
        await prepare_database(self.settings.database_url)
        await self.nodes.check()  # alive before the first station connects
        log.info("central-system node %s", self.nodes.node_id)
        self.registry_changes.start()
        try:
            async with contextlib.AsyncExitStack() as stack:
                servers = [await stack.enter_async_context(s) for s in self.ocpp.listeners()]
                self.ocpp_port = _port(servers[0])
                self._log_listening("ws", self.ocpp_port)
                if len(servers) > 1:
                    self.ocpp_tls_port = _port(servers[1])
                    self._log_listening("wss", self.ocpp_tls_port)
                self.api_port = await stack.enter_async_context(self.api.serve())
                if started is not None:
                    started.set()
                loops: dict[str, Callable[[], Awaitable[None]]] = {
                    "group-commit": self.writer.run,
                    "station-directory": self.directory.run,
                    "connection-state": self.presence.run,
                    "node-liveness": self.nodes.run,
                    "certificate-renewal": self._renew_certificates,
                    "local-lists": self.services.local_lists.run,
                    "firmware": self._firmware_campaigns,
                    "load-management": self.services.load_management.run,
                }
                if self.settings.cost_update_interval > 0:
                    loops["cost-updates"] = self.services.costs.run
                if self.ocpp.keepalive is not None:
                    loops["keepalive"] = self.ocpp.keepalive.run
                async with asyncio.TaskGroup() as tasks:
                    for name, loop in loops.items():
                        tasks.create_task(supervise(name, loop), name=name)
                    await asyncio.Future()  # until cancelled
        finally:
            await self.registry.close_all()
            if await self.presence.close():
                await self.nodes.leave()
            else:  # the database is away or locked: the other nodes release ours in time
                log.warning("leaving without recording it: node %s", self.nodes.node_id)
            await self.writer.close()
            self.registry_changes.stop()
            await self.engine.dispose()
