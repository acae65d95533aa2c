"""The station controller: drives the hardware and talks to the central system through a
per-version OCPP adapter (`charge_point.ocpp`), knowing nothing about OCPP wire formats.

It turns hardware events into connector statuses (the pure table in domain.connector_state),
authorizes drivers (domain.local_auth: central system, local list, cache, offline rules), runs
transactions (start when a driver is authorized and a car is plugged in, end when energy
transfer stops), samples the meter, applies charging profiles to the hardware's power limits,
keeps the energy register monotonic across restarts, reports the modem's signal, and answers the
central system's commands with version-neutral results.

Every transaction message goes through the adapter's queue in the station's SQLite file, written
in the same database transaction as the session record, so charging goes on while the central
system is unreachable and nothing is lost or sent twice with different content.

Everything here runs in one event loop; background work is started in the station's TaskGroup
and wrapped so a failure is logged and counted (`StationStats.errors`) without stopping the
station.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

from charge_point.domain.commands import (
    BootReason,
    CommandStatus,
    FirmwareStatus,
    ResetKind,
    UploadStatus,
)
from charge_point.domain.connector_state import (
    ConnectorEvent,
    ConnectorStatus,
    to_ocpp201,
    transition,
)
from charge_point.domain.device_model import (
    LOCAL_LIST_MAX_LENGTH,
    MAX_PERIODS,
    MAX_STACK_LEVEL,
    EvseInfo,
    Monitor,
    MonitorEvent,
    MonitorKind,
    MonitorType,
    check_monitor,
    evaluate_monitor,
    station_catalog,
)
from charge_point.domain.local_auth import (
    AuthorizationPolicy,
    DecisionSource,
    IdToken,
    IdTokenInfo,
    LocalDecision,
    LocalListEntry,
    LocalListStatus,
    UpdateType,
    apply_local_list,
    decide_offline,
    pre_authorize,
    same_driver,
    should_cache,
)
from charge_point.domain.metering import (
    Measurand,
    MeterSnapshot,
    ReadingContext,
    Sample,
    continue_register,
    samples,
)
from charge_point.domain.modem import SignalQuality
from charge_point.domain.smart_charging import (
    ActiveTransaction,
    ProfileRejected,
    check_install,
    clear,
    connector_limit_w,
    end_of_transaction,
    from_json,
    install,
    schedule,
    station_limit_w,
    to_json,
)
from charge_point.domain.stop_reason import StopReason
from charge_point.domain.transaction import (
    ChargingState,
    StartTrigger,
    StopCause,
    cause_of_hardware_stop,
    charging_state,
)
from charge_point.hardware.base import (
    ConnectorStandard,
    ConnectorUnavailable,
    EnergyTransferStarted,
    FaultCleared,
    FaultRaised,
    HardwareEvent,
    PluggedIn,
    Resumed,
    Stopped,
    SuspendedByEv,
    SuspendedByEvse,
    Unplugged,
)
from charge_point.hardware.modem import SignalSource, SimulatedModem
from charge_point.hardware.station_hardware import StationHardware
from charge_point.model import (
    Authorization,
    CompletedTransaction,
    ConnectorRuntime,
    Reservation,
    StationConfig,
    StationStats,
    Transaction,
)
from charge_point.ocpp import adapter_for
from charge_point.settings import Settings
from charge_point.store import StationStore
from charge_point.uploads import upload
from schemas.charging_profiles import (
    ChargingProfile,
    CompositeSchedule,
    ProfilePurpose,
    RateUnit,
)

log = logging.getLogger(__name__)

CONNECTOR_TYPES = {ConnectorStandard.CCS: "cCCS2", ConnectorStandard.CHADEMO: "cG105"}
"""2.0.1 ConnectorEnumType of each standard (CHAdeMO is JEVS G105)."""

_BUSY = (
    ConnectorStatus.PREPARING,
    ConnectorStatus.CHARGING,
    ConnectorStatus.SUSPENDED_EV,
    ConnectorStatus.SUSPENDED_EVSE,
)
_ALWAYS_AT_END = (Measurand.ENERGY_IMPORT_REGISTER,)
_SIGNAL_MONITOR_ID = 1
_FIRMWARE_VERSION = re.compile(r"\d+(?:\.\d+)+")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Station:
    """One charging station: `async with Station(config, hardware):` or `await run()`."""

    def __init__(
        self,
        config: StationConfig,
        hardware: StationHardware,
        *,
        modem: SignalSource | None = None,
        rng: random.Random | None = None,
        store: StationStore | None = None,
    ) -> None:
        self.config = config
        self.hardware = hardware
        self.rng = rng or random.Random()
        self.modem: SignalSource = modem or SimulatedModem(seed=self.rng.randrange(2**31))
        self.store = store or StationStore(config.database_path, durable=config.durable)
        evses = [
            EvseInfo(c.connector_id, CONNECTOR_TYPES[c.standard], c.max_power_w)
            for c in hardware.connectors.values()
        ]
        self.catalog = station_catalog(evses)
        self.settings = Settings(
            self.catalog, self.store, overrides=config.settings, live=self._live_value
        )
        self.stats = StationStats()
        self.connectors: dict[int, ConnectorRuntime] = {
            cid: ConnectorRuntime(cid, hw, hw.events())
            for cid, hw in sorted(hardware.connectors.items())
        }
        self.profiles: tuple[ChargingProfile, ...] = tuple(
            from_json(p) for p in self.store.get("profiles", [])
        )
        self.monitors: dict[int, Monitor] = self._load_monitors()
        self.signal: SignalQuality | None = None
        self.signal_at: datetime | None = None
        self.firmware_version: str = self.store.get("firmware_version", config.firmware_version)
        self.firmware_status = FirmwareStatus.IDLE
        self.firmware_request_id: int | None = None
        self.upload_status = UploadStatus.IDLE
        self.upload_request_id: int | None = None
        self.completed: deque[CompletedTransaction] = deque(maxlen=100)
        self._tasks: asyncio.TaskGroup | None = None
        self._limits_changed = asyncio.Event()
        self._meter_wakeup = asyncio.Event()
        self._signal_wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._reset_when_idle: ResetKind | None = None
        self._firmware_task: asyncio.Task[None] | None = None
        self._monitor_ids = itertools.count(max(self.monitors, default=_SIGNAL_MONITOR_ID) + 1)
        self._run_task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self.settings.on_change("MeterValueSampleInterval", lambda _v: self._meter_wakeup.set())
        self.settings.on_change(
            "SignalStrengthReportInterval", lambda _v: self._signal_wakeup.set()
        )
        self.link = adapter_for(config.version)(self)

    # --- identity and credentials ---------------------------------------------------------

    @property
    def station_id(self) -> str:
        return self.config.station_id

    @property
    def version(self) -> str:
        return self.config.version

    @property
    def password(self) -> str | None:
        """The Basic-auth password: the one the central system set, else the configured one."""
        if self.store.get("password_from_csms", False):
            return self.settings.get("AuthorizationKey") or self.config.password
        return self.config.password

    def password_changed(self) -> None:
        """The central system set a new password: use it from the next connection on."""
        self.store.put("password_from_csms", True)
        self.link.reconnect("the password changed")

    @property
    def online(self) -> bool:
        return self.link.online

    # --- running ----------------------------------------------------------------------------

    async def run(self, started: asyncio.Event | None = None) -> None:
        """Run the hardware, the OCPP connection and the station's loops until cancelled."""
        self._restore()
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                tasks.create_task(self.hardware.run(), name=f"{self.station_id}-hardware")
                for conn in self.connectors.values():
                    tasks.create_task(self._watch(conn), name=f"{self.station_id}-c{conn.id}")
                tasks.create_task(self.link.run(), name=f"{self.station_id}-ocpp")
                tasks.create_task(self._meter_loop(), name=f"{self.station_id}-meter")
                tasks.create_task(self._signal_loop(), name=f"{self.station_id}-signal")
                tasks.create_task(self._limits_loop(), name=f"{self.station_id}-limits")
                for conn in self.connectors.values():
                    if conn.reservation is not None:
                        self.spawn(self._expire_reservation(conn, conn.reservation))
                self._started.set()
                if started is not None:
                    started.set()
        finally:
            self._tasks = None
            self._persist_registers()

    async def __aenter__(self) -> Self:
        self._run_task = asyncio.create_task(self.run(), name=f"station-{self.station_id}")
        waiter = asyncio.create_task(self._started.wait())
        await asyncio.wait({self._run_task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if self._run_task.done():
            waiter.cancel()
            self._run_task.result()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        task, self._run_task = self._run_task, None
        if task is not None:
            if task.done():
                if not task.cancelled():
                    task.result()
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.store.close()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str | None = None) -> None:
        """Run `work` in the station's TaskGroup; a failure is logged and counted."""
        if self._tasks is None:
            work.close()
            raise RuntimeError("the station is not running")
        self._tasks.create_task(self._guard(work), name=name)

    async def _guard(self, work: Awaitable[Any]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("%s: background work failed", self.station_id)
            self.stats.error(f"{type(error).__name__}: {error}")

    def _restore(self) -> None:
        """Continue where the last process stopped: registers, availability, reservations;
        transactions it left running are ended with reason PowerLoss."""
        registers = self.store.registers()
        availability = self.store.get("availability", {})
        reservations = {
            r.connector_id: r
            for r in (Reservation.from_json(x) for x in self.store.get("reservations", []))
        }
        now = utcnow()
        for conn in self.connectors.values():
            conn.register_offset_wh = continue_register(
                registers.get(conn.id), conn.hw.reading().energy_wh
            )
            conn.operative = bool(availability.get(str(conn.id), True))
            conn.plugged = conn.hw.plugged_in
            reservation = reservations.get(conn.id)
            if reservation is not None and reservation.expires_at > now:
                conn.reservation = reservation
            conn.status = self._initial_status(conn)
        self._save_reservations()
        for cid, data in sorted(self.store.sessions().items()):
            self._end_interrupted(Transaction.from_json(data), registers.get(cid))

    def _initial_status(self, conn: ConnectorRuntime) -> ConnectorStatus:
        if not conn.operative:
            return ConnectorStatus.UNAVAILABLE
        if conn.hw.faulted:
            return ConnectorStatus.FAULTED
        if conn.plugged:
            return ConnectorStatus.PREPARING
        if conn.reservation is not None:
            return ConnectorStatus.RESERVED
        return ConnectorStatus.AVAILABLE

    def _end_interrupted(self, tx: Transaction, register_wh: int | None) -> None:
        meter_stop = max(tx.meter_start_wh, register_wh or tx.last_register_wh or 0)
        at = tx.last_sample_at or tx.started_at
        sample = Sample(
            Measurand.ENERGY_IMPORT_REGISTER,
            meter_stop,
            "Wh",
            ReadingContext.TRANSACTION_END,
        )
        log.warning(
            "%s: transaction %s on connector %s was interrupted; ending it (PowerLoss)",
            self.station_id,
            tx.ref,
            tx.connector_id,
        )
        with self.store.transaction():
            self.link.transaction_ended(
                tx, StopCause.POWER_LOSS, [sample], meter_stop, at, offline=True
            )
            self.store.delete_session(tx.connector_id)
        self.stats.queued += 1
        self._record_completed(tx, meter_stop, at, StopCause.POWER_LOSS)

    def _persist_registers(self) -> None:
        try:
            with self.store.transaction():
                for conn in self.connectors.values():
                    self.store.save_register(conn.id, self.register_wh(conn))
        except Exception:  # closing down: the last sample's value stays
            log.exception("%s: could not persist the registers", self.station_id)

    # --- hardware events --------------------------------------------------------------------

    async def _watch(self, conn: ConnectorRuntime) -> None:
        async for event in conn.events:
            try:
                self._on_event(conn, event)
            except Exception as error:
                log.exception("%s: connector %s event %s failed", self.station_id, conn.id, event)
                self.stats.error(f"{type(error).__name__}: {error}")

    def _on_event(self, conn: ConnectorRuntime, event: HardwareEvent) -> None:
        if isinstance(event, PluggedIn):
            conn.plugged = True
            self._transition(conn, ConnectorEvent.PLUG_IN)
            if conn.authorization is not None and conn.transaction is None:
                self._start_transaction(conn, StartTrigger.CABLE_PLUGGED_IN)
            elif self._free_vend and conn.transaction is None and self._startable(conn):
                self.spawn(self._free_vend_start(conn))
        elif isinstance(event, Unplugged):
            conn.plugged = False
            if conn.transaction is not None:
                self._end_transaction(conn, StopCause.EV_DISCONNECTED)
            conn.authorization = None
            self._transition(conn, ConnectorEvent.UNPLUGGED)
            if self.settings.flag("UnlockConnectorOnEVSideDisconnect"):
                self.spawn(conn.hw.unlock())
        elif isinstance(event, EnergyTransferStarted | SuspendedByEv | SuspendedByEvse | Resumed):
            kind = {
                EnergyTransferStarted: ConnectorEvent.ENERGY_TRANSFER_STARTED,
                SuspendedByEv: ConnectorEvent.EV_SUSPENDED,
                SuspendedByEvse: ConnectorEvent.EVSE_SUSPENDED,
                Resumed: ConnectorEvent.RESUMED,
            }[type(event)]
            if self._transition(conn, kind) and conn.transaction is not None:
                self._queue_update(conn, [], "ChargingStateChanged")
        elif isinstance(event, Stopped):
            tx = conn.transaction
            if tx is not None:
                self._end_transaction(conn, cause_of_hardware_stop(event.reason, tx.stop_cause))
            conn.authorization = None
            self._transition(conn, ConnectorEvent.STOP_REQUESTED)
        elif isinstance(event, FaultRaised):
            conn.error_code = event.error_code
            conn.info = event.detail[:50] or None
            if conn.transaction is not None:
                self._end_transaction(conn, StopCause.EVSE_FAULT)
            conn.authorization = None
            self._transition(conn, ConnectorEvent.FAULT, force_report=True)
        elif isinstance(event, FaultCleared):
            conn.error_code = "NoError"
            conn.info = None
            self._transition(conn, ConnectorEvent.FAULT_CLEARED)
            if not conn.operative:
                self._transition(conn, ConnectorEvent.MADE_UNAVAILABLE)
            elif conn.reservation is not None:
                self._transition(conn, ConnectorEvent.RESERVED)

    def _transition(
        self, conn: ConnectorRuntime, event: ConnectorEvent, *, force_report: bool = False
    ) -> bool:
        result = transition(conn.status, event)
        if not result.accepted:
            log.debug("%s: connector %s: %s", self.station_id, conn.id, result.error)
            return False
        if result.changed or force_report:
            conn.status = result.status
            self.link.status_changed(conn)
            if conn.status not in _BUSY:
                self._apply_pending_availability(conn)
        return result.changed

    # --- authorization ----------------------------------------------------------------------

    @property
    def _free_vend(self) -> bool:
        return not self.settings.flag("AuthorizationEnabled")

    def _policy(self) -> AuthorizationPolicy:
        s = self.settings
        return AuthorizationPolicy(
            local_list_enabled=s.flag("LocalAuthListEnabled"),
            cache_enabled=s.flag("AuthorizationCacheEnabled"),
            local_authorize_offline=s.flag("LocalAuthorizeOffline"),
            local_pre_authorize=s.flag("LocalPreAuthorize"),
            allow_offline_tx_for_unknown_id=s.flag("AllowOfflineTxForUnknownId"),
        )

    def _cached(self, token: str, now: datetime) -> IdTokenInfo | None:
        found = self.store.cached(token)
        if found is None:
            return None
        info, stored_at = found
        if stored_at + timedelta(seconds=self.settings.integer("AuthCacheLifeTime")) <= now:
            return None
        return info

    def remember(self, token: IdToken, info: IdTokenInfo) -> None:
        """An answer of the central system about a token goes into the cache (C10)."""
        if should_cache(info, self.settings.flag("AuthorizationCacheEnabled")):
            self.store.cache(token.value, info, utcnow())

    async def authorize(self, token: IdToken) -> LocalDecision:
        """Central system when online (unless the local list / cache pre-authorize), else the
        offline rules."""
        policy = self._policy()
        now = utcnow()
        entry = self.store.local_entry(token.value) if policy.local_list_enabled else None
        cached = self._cached(token.value, now) if policy.cache_enabled else None
        early = pre_authorize(policy, entry, cached, now)
        if early is not None:
            return early
        if self.link.online:
            info = await self.link.authorize(token)
            if info is not None:
                self.remember(token, info)
                return LocalDecision(info.accepted, info, DecisionSource.CENTRAL_SYSTEM)
        return decide_offline(policy, entry, cached, now)

    def _startable(self, conn: ConnectorRuntime, token: IdToken | None = None) -> bool:
        if not conn.operative or conn.hw.faulted or conn.transaction is not None:
            return False
        if conn.authorization is not None or conn.authorizing:
            return False
        if conn.pending_operative is False:
            return False
        reservation = conn.reservation
        return reservation is None or (
            token is not None and same_driver(token, None, reservation.token, reservation.group_id)
        )

    async def present_token(self, connector_id: int, token: IdToken | str) -> bool:
        """A driver presents a token at the station (card reader, app, the demo): stop their
        transaction if one runs on the connector, else authorize and start a session that
        begins when the car is (or is already) plugged in. True: accepted."""
        conn = self.connectors[connector_id]
        if isinstance(token, str):
            token = IdToken(token)
        tx = conn.transaction
        if tx is not None:
            group = None
            if not same_driver(token, None, tx.token, tx.group_id):
                decision = await self.authorize(token)
                group = decision.info.group_id if decision.info else None
                if not same_driver(token, group, tx.token, tx.group_id):
                    return False
            await self._stop(conn, StopCause.LOCAL, token)
            return True
        if not self._startable(conn, token):
            return False
        conn.authorizing = True
        try:
            decision = await self.authorize(token)
        finally:
            conn.authorizing = False
        if not decision.accepted:
            log.info(
                "%s: token %s not accepted (%s)",
                self.station_id,
                token.value,
                decision.info.status if decision.info else decision.source,
            )
            return False
        if not self._startable(conn, token):
            return False
        return await self._grant(conn, Authorization(token, decision.info, StartTrigger.AUTHORIZED))

    async def _free_vend_start(self, conn: ConnectorRuntime) -> None:
        token = self.link.free_vend_token(self.settings.get("FreeVendIdTag"))
        await self._grant(
            conn, Authorization(token, None, StartTrigger.CABLE_PLUGGED_IN, free_vend=True)
        )

    async def _grant(self, conn: ConnectorRuntime, authorization: Authorization) -> bool:
        reservation = conn.reservation
        if reservation is not None:
            authorization.reservation_id = reservation.id
        conn.authorization = authorization
        self._transition(conn, ConnectorEvent.AUTHORIZED)
        try:
            await conn.hw.enable(conn.limit_w)
        except ConnectorUnavailable as error:
            log.warning("%s: connector %s cannot start: %s", self.station_id, conn.id, error)
            conn.authorization = None
            self._transition(conn, ConnectorEvent.AUTHORIZATION_EXPIRED)
            return False
        if conn.authorization is not authorization:
            return False  # withdrawn while the hardware was being enabled
        if conn.transaction is None:
            if conn.plugged:
                self._start_transaction(conn, authorization.trigger)
            else:
                self.spawn(self._expire_authorization(conn, authorization))
        return True

    async def _expire_authorization(
        self, conn: ConnectorRuntime, authorization: Authorization
    ) -> None:
        """No car within ConnectionTimeOut / EVConnectionTimeOut: withdraw the authorization."""
        await asyncio.sleep(self.settings.integer("ConnectionTimeOut"))
        if conn.authorization is authorization and conn.transaction is None:
            log.info(
                "%s: connector %s: no car plugged in, authorization expired",
                self.station_id,
                conn.id,
            )
            conn.authorization = None
            conn.tx_profile = None
            await conn.hw.disable(StopReason.EVSE)
            self._transition(conn, ConnectorEvent.AUTHORIZATION_EXPIRED)

    def transaction_answered(self, tx_ref: str, info: IdTokenInfo) -> None:
        """The central system's view of the token that started a transaction (1.6
        StartTransaction.conf idTagInfo, 2.0.1 TransactionEvent idTokenInfo)."""
        conn = self._connector_of(tx_ref)
        tx = conn.transaction if conn is not None else None
        if tx is None or conn is None or tx.free_vend:
            return
        self.remember(tx.token, info)
        if not info.accepted and self.settings.flag("StopTransactionOnInvalidId"):
            log.warning(
                "%s: central system answered %s for the token of transaction %s: stopping",
                self.station_id,
                info.status,
                tx.ref,
            )
            self.spawn(self._stop(conn, StopCause.DEAUTHORIZED))

    def transaction_id_assigned(self, tx_ref: str, transaction_id: str) -> None:
        """1.6: the central system's id for a transaction (queued messages use it too)."""
        conn = self._connector_of(tx_ref)
        if conn is not None and conn.transaction is not None:
            conn.transaction.transaction_id = transaction_id
            self.store.save_session(conn.id, conn.transaction.to_json())

    def _connector_of(self, tx_ref: str) -> ConnectorRuntime | None:
        for conn in self.connectors.values():
            if conn.transaction is not None and conn.transaction.ref == tx_ref:
                return conn
        return None

    # --- transactions -------------------------------------------------------------------

    def register_wh(self, conn: ConnectorRuntime) -> int:
        return conn.register_offset_wh + conn.hw.reading().energy_wh

    def snapshot(self, conn: ConnectorRuntime) -> MeterSnapshot:
        reading = conn.hw.reading()
        return MeterSnapshot(
            register_wh=conn.register_offset_wh + reading.energy_wh,
            power_w=reading.power_w,
            current_a=reading.current_a,
            voltage_v=reading.voltage_v,
            soc_pct=reading.soc_pct,
            offered_w=conn.limit_w,
        )

    def charging_state(self, conn: ConnectorRuntime) -> ChargingState:
        return charging_state(conn.status, conn.plugged)

    def _queue_update(self, conn: ConnectorRuntime, values: Sequence[Sample], trigger: str) -> None:
        tx = conn.transaction
        if tx is None:
            return
        with self.store.transaction():
            queued = self.link.transaction_updated(
                tx, values, trigger, self.charging_state(conn), utcnow()
            )
            if queued:
                self.store.save_session(conn.id, tx.to_json())
        if queued:
            self.stats.queued += 1

    def _start_transaction(self, conn: ConnectorRuntime, trigger: StartTrigger) -> None:
        authorization = conn.authorization
        assert authorization is not None
        now = utcnow()
        snapshot = self.snapshot(conn)
        ref = str(uuid.uuid4())
        tx = Transaction(
            ref=ref,
            connector_id=conn.id,
            token=authorization.token,
            group_id=authorization.info.group_id if authorization.info else None,
            started_at=now,
            meter_start_wh=snapshot.register_wh,
            remote_start_id=authorization.remote_start_id,
            reservation_id=authorization.reservation_id,
            transaction_id=ref if self.version != "1.6" else None,
            free_vend=authorization.free_vend,
            last_register_wh=snapshot.register_wh,
            last_sample_at=now,
        )
        conn.transaction = tx
        self._idle.clear()
        if conn.reservation is not None and conn.reservation.id == authorization.reservation_id:
            conn.reservation = None
            self._save_reservations()
        measurands = (*_ALWAYS_AT_END, *self.settings.measurands("TxStartedMeasurands"))
        begin = samples(snapshot, measurands, ReadingContext.TRANSACTION_BEGIN)
        with self.store.transaction():
            self.link.transaction_started(tx, begin, trigger, self.charging_state(conn), now)
            self.store.save_session(conn.id, tx.to_json())
            self.store.save_register(conn.id, snapshot.register_wh)
        self.stats.queued += 1
        self.stats.sessions_started += 1
        if conn.tx_profile is not None:
            self.profiles = install(self.profiles, conn.tx_profile)
            conn.tx_profile = None
            self._save_profiles()
        self._limits_changed.set()
        log.info(
            "%s: transaction %s started on connector %s (token %s, register %d Wh)",
            self.station_id,
            ref,
            conn.id,
            tx.token.value,
            tx.meter_start_wh,
        )

    def _end_transaction(
        self,
        conn: ConnectorRuntime,
        cause: StopCause,
        stop_token: IdToken | None = None,
    ) -> None:
        tx = conn.transaction
        if tx is None:
            return
        conn.transaction = None
        conn.authorization = None
        now = utcnow()
        snapshot = self.snapshot(conn)
        measurands = (*_ALWAYS_AT_END, *self.settings.measurands("StopTxnSampledData"))
        end = samples(snapshot, measurands, ReadingContext.TRANSACTION_END)
        meter_stop = max(snapshot.register_wh, tx.meter_start_wh)
        with self.store.transaction():
            self.link.transaction_ended(
                tx, cause, end, meter_stop, now, stop_token=stop_token or tx.stop_token
            )
            self.store.delete_session(conn.id)
            self.store.save_register(conn.id, meter_stop)
        self.stats.queued += 1
        self._record_completed(tx, meter_stop, now, cause)
        self.profiles = end_of_transaction(self.profiles, conn.id, tx.transaction_id or tx.ref)
        self._save_profiles()
        self._limits_changed.set()
        log.info(
            "%s: transaction %s ended on connector %s (%s, %d Wh)",
            self.station_id,
            tx.ref,
            conn.id,
            cause.value,
            meter_stop - tx.meter_start_wh,
        )
        self._after_transaction()

    def _record_completed(
        self, tx: Transaction, meter_stop: int, at: datetime, cause: StopCause
    ) -> None:
        self.stats.sessions_completed += 1
        self.stats.energy_wh += meter_stop - tx.meter_start_wh
        self.completed.append(
            CompletedTransaction(
                tx.ref,
                tx.connector_id,
                tx.transaction_id,
                tx.meter_start_wh,
                meter_stop,
                tx.started_at,
                at,
                cause,
            )
        )

    def _after_transaction(self) -> None:
        if any(c.transaction is not None for c in self.connectors.values()):
            return
        self._idle.set()
        kind, self._reset_when_idle = self._reset_when_idle, None
        if kind is not None:
            self.spawn(self._reset(kind))

    async def _stop(
        self, conn: ConnectorRuntime, cause: StopCause, token: IdToken | None = None
    ) -> None:
        tx = conn.transaction
        if tx is None:
            if conn.authorization is not None:
                conn.authorization = None
                conn.tx_profile = None
                await conn.hw.disable(StopReason.EVSE)
                self._transition(conn, ConnectorEvent.AUTHORIZATION_EXPIRED)
            return
        tx.stop_cause = cause
        tx.stop_token = token
        await conn.hw.disable(StopReason.EVSE)
        if conn.transaction is tx:  # the hardware's Stopped event has not been handled yet
            self._end_transaction(conn, cause, token)

    async def end_session(self, connector_id: int, cause: StopCause = StopCause.LOCAL) -> None:
        """End the transaction (or withdraw the authorization) on a connector, as the stop
        button of the station does."""
        await self._stop(self.connectors[connector_id], cause)

    def transactions(self) -> list[Transaction]:
        return [c.transaction for c in self.connectors.values() if c.transaction is not None]

    def transaction(self, transaction_id: str) -> Transaction | None:
        for tx in self.transactions():
            if transaction_id in (tx.transaction_id, tx.ref):
                return tx
        return None

    # --- periodic work ------------------------------------------------------------------

    async def _sleep(self, seconds: float, wakeup: asyncio.Event) -> None:
        wakeup.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await wakeup.wait()

    async def _meter_loop(self) -> None:
        interval = self.settings.integer("MeterValueSampleInterval")
        await self._sleep(self.rng.random() * min(max(interval, 1), 10), self._meter_wakeup)
        while True:
            interval = self.settings.integer("MeterValueSampleInterval")
            await self._sleep(interval if interval > 0 else 3600, self._meter_wakeup)
            if self.settings.integer("MeterValueSampleInterval") > 0:
                self.sample(ReadingContext.PERIODIC)

    def sample(self, context: ReadingContext = ReadingContext.PERIODIC) -> None:
        """Queue a meter sample of every transaction (Sample.Periodic, or Trigger)."""
        now = utcnow()
        measurands = self.settings.measurands("MeterValuesSampledData")
        trigger = "MeterValuePeriodic" if context is ReadingContext.PERIODIC else "Trigger"
        for conn in self.connectors.values():
            tx = conn.transaction
            snapshot = self.snapshot(conn)
            self._feed_monitors(f"EVSE.{conn.id}.Power", Decimal(snapshot.power_w))
            if tx is None:
                continue
            tx.last_register_wh = snapshot.register_wh
            tx.last_sample_at = now
            with self.store.transaction():
                self.link.transaction_updated(
                    tx,
                    samples(snapshot, measurands, context),
                    trigger,
                    self.charging_state(conn),
                    now,
                )
                self.store.save_session(conn.id, tx.to_json())
                self.store.save_register(conn.id, snapshot.register_wh)
            self.stats.queued += 1

    async def _signal_loop(self) -> None:
        await asyncio.sleep(self.rng.random() * 2)
        while True:
            try:
                quality = await self.modem.read()
            except Exception as error:
                log.warning("%s: modem read failed: %s", self.station_id, error)
            else:
                self.signal = quality
                self.signal_at = utcnow()
                self.link.signal_read(quality, self.signal_at)
                dbm = quality.rssi_dbm
                self._feed_monitors("SignalStrength", None if dbm is None else Decimal(dbm))
            await self._sleep(
                self.settings.integer("SignalStrengthReportInterval"), self._signal_wakeup
            )

    async def _limits_loop(self) -> None:
        while True:
            self.apply_limits()
            timeout = 1.0 if self.profiles else 3600.0
            await self._sleep(timeout, self._limits_changed)

    def apply_limits(self) -> None:
        """Give the hardware the power limits the charging profiles allow now."""
        now = utcnow()
        station = station_limit_w(self.profiles, now)
        if station != self.hardware.station_limit_w:
            self.hardware.set_station_limit(station)
        for conn in self.connectors.values():
            limit = connector_limit_w(self.profiles, conn.id, now, self._active(conn))
            if limit != conn.limit_w:
                conn.limit_w = limit
                conn.hw.set_power_limit(limit)

    def _active(self, conn: ConnectorRuntime) -> ActiveTransaction | None:
        tx = conn.transaction
        if tx is None:
            return None
        return ActiveTransaction(conn.id, tx.transaction_id or tx.ref, tx.started_at)

    # --- device model ---------------------------------------------------------------------

    def _live_value(self, name: str) -> str | None:
        if name == "SignalStrength":
            dbm = self.signal.rssi_dbm if self.signal else None
            return None if dbm is None else str(dbm)
        if name == "DataLinkActive":
            return "true" if self.link.online else "false"
        if name == "SecurityProfile":
            return "1" if self.password else "0"
        if name == "Identity":
            return self.station_id
        if name == "DateTime":
            return utcnow().isoformat()
        if name == "LocalAuthListEntries":
            return str(self.store.local_list_size())
        if name == "SmartChargingEntries":
            return str(len(self.profiles))
        if name == "AvailabilityState":
            operative = any(c.operative for c in self.connectors.values())
            return "Available" if operative else "Unavailable"
        _, _, rest = name.partition(".")
        number, _, variable = rest.partition(".")
        if number.isdigit() and int(number) in self.connectors:
            conn = self.connectors[int(number)]
            if variable == "AvailabilityState":
                return to_ocpp201(conn.status).value
            if variable == "Power":
                return str(conn.hw.reading().power_w)
        return None

    def _load_monitors(self) -> dict[int, Monitor]:
        stored = self.store.get("monitors")
        if stored is None:
            preconfigured = Monitor(
                _SIGNAL_MONITOR_ID,
                "SignalStrength",
                MonitorType.DELTA,
                Decimal(6),
                severity=8,
                kind=MonitorKind.PRECONFIGURED,
            )
            self.store.put("monitors", [_monitor_json(preconfigured)])
            return {preconfigured.id: preconfigured}
        return {m["id"]: _monitor_from_json(m) for m in stored}

    def _save_monitors(self) -> None:
        self.store.put("monitors", [_monitor_json(m) for m in self.monitors.values()])

    def set_monitor(
        self,
        variable_name: str,
        kind: MonitorType,
        value: Decimal,
        severity: int,
        monitor_id: int | None = None,
    ) -> tuple[str, int | None]:
        """SetVariableMonitoring for one variable: (status, monitor id)."""
        variable = self.catalog[variable_name]
        problem = check_monitor(variable, kind, value)
        if problem is not None:
            return problem, None
        if monitor_id is not None and monitor_id not in self.monitors:
            return "Rejected", None
        for existing in self.monitors.values():
            if (existing.variable, existing.type, existing.value) == (
                variable_name,
                kind,
                value,
            ) and (existing.id != monitor_id):
                return "Duplicate", existing.id
        new_id = monitor_id if monitor_id is not None else next(self._monitor_ids)
        self.monitors[new_id] = Monitor(new_id, variable_name, kind, value, severity)
        self._save_monitors()
        return "Accepted", new_id

    def clear_monitor(self, monitor_id: int) -> str:
        if monitor_id not in self.monitors:
            return "NotFound"
        del self.monitors[monitor_id]
        self._save_monitors()
        return "Accepted"

    def _feed_monitors(self, variable: str, value: Decimal | None) -> None:
        if not self.monitors:
            return
        now_s = time.monotonic()
        events: list[MonitorEvent] = []
        for monitor_id, monitor in list(self.monitors.items()):
            if monitor.variable != variable:
                continue
            updated, event = evaluate_monitor(monitor, value, now_s)
            self.monitors[monitor_id] = updated
            if event is not None:
                events.append(event)
        if events:
            self.link.monitor_events(events)

    # --- commands from the central system ----------------------------------------------

    def remote_start(
        self,
        token: IdToken,
        connector_id: int | None,
        *,
        remote_start_id: int | None = None,
        profile: ChargingProfile | None = None,
    ) -> CommandStatus:
        """RemoteStartTransaction (1.6, TC_010/011) / RequestStartTransaction (2.0.1 F01/F02)."""
        if profile is not None and profile.purpose is not ProfilePurpose.TX:
            return CommandStatus.REJECTED
        if connector_id is not None and connector_id != 0:
            conn = self.connectors.get(connector_id)
            if conn is None or not self._startable(conn, token):
                return CommandStatus.REJECTED
        else:
            candidates = [c for c in self.connectors.values() if self._startable(c, token)]
            if not candidates:
                return CommandStatus.REJECTED
            conn = next((c for c in candidates if c.plugged), candidates[0])
        if profile is not None and (
            profile.stack_level > MAX_STACK_LEVEL or len(profile.periods) > MAX_PERIODS
        ):
            return CommandStatus.REJECTED
        conn.authorizing = True
        conn.tx_profile = profile
        self.spawn(self._remote_start(conn, token, remote_start_id))
        return CommandStatus.ACCEPTED

    async def _remote_start(
        self, conn: ConnectorRuntime, token: IdToken, remote_start_id: int | None
    ) -> None:
        try:
            info = None
            if self.settings.flag("AuthorizeRemoteTxRequests"):
                decision = await self.authorize(token)
                if not decision.accepted:
                    log.info("%s: remote start for %s not authorized", self.station_id, token.value)
                    conn.tx_profile = None
                    return
                info = decision.info
        finally:
            conn.authorizing = False
        if not self._startable(conn, token):
            conn.tx_profile = None
            return
        await self._grant(
            conn, Authorization(token, info, StartTrigger.REMOTE_START, remote_start_id)
        )

    def remote_stop(self, transaction_id: str) -> CommandStatus:
        """RemoteStopTransaction (TC_012) / RequestStopTransaction (F03)."""
        for conn in self.connectors.values():
            tx = conn.transaction
            if tx is not None and transaction_id in (tx.transaction_id, tx.ref):
                self.spawn(self._stop(conn, StopCause.REMOTE))
                return CommandStatus.ACCEPTED
        return CommandStatus.REJECTED

    async def unlock(self, connector_id: int, *, stop_transaction: bool) -> CommandStatus:
        """UnlockConnector. 1.6 stops a transaction first (UnlockCommand); 2.0.1 answers
        OngoingAuthorizedTransaction instead (F05.FR.02)."""
        conn = self.connectors.get(connector_id)
        if conn is None:
            return CommandStatus.UNKNOWN_CONNECTOR
        if conn.transaction is not None:
            if not stop_transaction:
                return CommandStatus.ONGOING_TRANSACTION
            await self._stop(conn, StopCause.UNLOCK_COMMAND)
        unlocked = await conn.hw.unlock()
        return CommandStatus.UNLOCKED if unlocked else CommandStatus.UNLOCK_FAILED

    def change_availability(self, connector_id: int, operative: bool) -> CommandStatus:
        """ChangeAvailability (TC_015/016, G03/G04): 0 = the whole station; a connector in a
        session changes when the session is over (Scheduled)."""
        if connector_id == 0:
            targets = list(self.connectors.values())
        elif connector_id in self.connectors:
            targets = [self.connectors[connector_id]]
        else:
            return CommandStatus.REJECTED
        scheduled = False
        for conn in targets:
            if not operative and (conn.transaction is not None or conn.status in _BUSY):
                conn.pending_operative = False
                scheduled = True
                continue
            self._set_operative(conn, operative)
        self._save_availability()
        self.link.station_status_changed()
        return CommandStatus.SCHEDULED if scheduled else CommandStatus.ACCEPTED

    def _set_operative(self, conn: ConnectorRuntime, operative: bool) -> None:
        conn.pending_operative = None
        if conn.operative == operative:
            return
        conn.operative = operative
        if not operative:
            if conn.reservation is not None:
                self._end_reservation(conn, "Removed")
            conn.authorization = None
            self._transition(conn, ConnectorEvent.MADE_UNAVAILABLE)
            return
        self._transition(conn, ConnectorEvent.MADE_AVAILABLE)
        if conn.hw.faulted:
            self._transition(conn, ConnectorEvent.FAULT)
        elif conn.plugged:
            self._transition(conn, ConnectorEvent.PLUG_IN)

    def _apply_pending_availability(self, conn: ConnectorRuntime) -> None:
        if conn.pending_operative is None or conn.transaction is not None:
            return
        self._set_operative(conn, conn.pending_operative)
        self._save_availability()
        self.link.station_status_changed()

    def _save_availability(self) -> None:
        self.store.put(
            "availability",
            {
                str(c.id): c.operative if c.pending_operative is None else c.pending_operative
                for c in self.connectors.values()
            },
        )

    def reset(self, kind: ResetKind, evse_id: int | None = None) -> CommandStatus:
        """Reset (1.6 Soft/Hard, 2.0.1 OnIdle/Immediate, B11/B12): stop the transactions,
        then restart the OCPP session with a new BootNotification."""
        if evse_id is not None:
            conn = self.connectors.get(evse_id)
            if conn is None:
                return CommandStatus.REJECTED
            if conn.transaction is not None:
                if kind is ResetKind.ON_IDLE:
                    return CommandStatus.SCHEDULED
                self.spawn(self._stop(conn, StopCause.IMMEDIATE_RESET))
            return CommandStatus.ACCEPTED
        if kind is ResetKind.ON_IDLE and self.transactions():
            self._reset_when_idle = kind
            return CommandStatus.SCHEDULED
        self.spawn(self._reset(kind))
        return CommandStatus.ACCEPTED

    async def _reset(self, kind: ResetKind) -> None:
        cause = {
            ResetKind.SOFT: StopCause.SOFT_RESET,
            ResetKind.HARD: StopCause.HARD_RESET,
        }.get(kind, StopCause.IMMEDIATE_RESET)
        stops = [self._stop(c, cause) for c in self.connectors.values() if c.in_session]
        await asyncio.gather(*stops)
        log.info("%s: %s reset", self.station_id, kind.value)
        self.link.reboot(BootReason.REMOTE_RESET)

    def reserve(
        self,
        reservation_id: int,
        connector_id: int | None,
        token: IdToken,
        group_id: str | None,
        expires_at: datetime,
    ) -> CommandStatus:
        """ReserveNow (1.6 TC_026-030, 2.0.1 H01): None = any EVSE (2.0.1), which reserves
        the first free one; 1.6 connector 0 is not supported."""
        for conn in self.connectors.values():
            if conn.reservation is not None and conn.reservation.id == reservation_id:
                self._end_reservation(conn, None)
        if connector_id == 0:
            return CommandStatus.REJECTED
        if connector_id is None:
            free = [c for c in self.connectors.values() if self._reservable(c) is None]
            if not free:
                statuses = {self._reservable(c) for c in self.connectors.values()}
                for status in (CommandStatus.OCCUPIED, CommandStatus.FAULTED):
                    if status in statuses:
                        return status
                return CommandStatus.UNAVAILABLE
            conn = free[0]
        else:
            found = self.connectors.get(connector_id)
            if found is None:
                return CommandStatus.REJECTED
            conn = found
            problem = self._reservable(conn)
            if problem is not None:
                return problem
        reservation = Reservation(reservation_id, conn.id, token, group_id, expires_at)
        conn.reservation = reservation
        self._transition(conn, ConnectorEvent.RESERVED)
        self._save_reservations()
        self.spawn(self._expire_reservation(conn, reservation))
        return CommandStatus.ACCEPTED

    def _reservable(self, conn: ConnectorRuntime) -> CommandStatus | None:
        if conn.hw.faulted or conn.status is ConnectorStatus.FAULTED:
            return CommandStatus.FAULTED
        if not conn.operative:
            return CommandStatus.UNAVAILABLE
        if (
            conn.transaction is not None
            or conn.authorization is not None
            or conn.reservation is not None
            or conn.status is not ConnectorStatus.AVAILABLE
        ):
            return CommandStatus.OCCUPIED
        return None

    def cancel_reservation(self, reservation_id: int) -> CommandStatus:
        for conn in self.connectors.values():
            if conn.reservation is not None and conn.reservation.id == reservation_id:
                self._end_reservation(conn, None)
                return CommandStatus.ACCEPTED
        return CommandStatus.REJECTED

    async def _expire_reservation(self, conn: ConnectorRuntime, reservation: Reservation) -> None:
        delay = (reservation.expires_at - utcnow()).total_seconds()
        await asyncio.sleep(max(0.0, delay))
        if conn.reservation is reservation:
            log.info("%s: reservation %s expired", self.station_id, reservation.id)
            self._end_reservation(conn, "Expired")

    def _end_reservation(self, conn: ConnectorRuntime, reason: str | None) -> None:
        reservation, conn.reservation = conn.reservation, None
        if reservation is None:
            return
        self._transition(conn, ConnectorEvent.RESERVATION_ENDED)
        self._save_reservations()
        if reason is not None:
            self.link.reservation_ended(reservation.id, reason)

    def _save_reservations(self) -> None:
        self.store.put(
            "reservations",
            [c.reservation.to_json() for c in self.connectors.values() if c.reservation],
        )

    # smart charging

    def set_charging_profile(self, evse_id: int, profile: ChargingProfile) -> CommandStatus:
        """SetChargingProfile (1.6 3.13, 2.0.1 K01)."""
        if evse_id != 0 and evse_id not in self.connectors:
            return CommandStatus.REJECTED
        active = [a for c in self.connectors.values() if (a := self._active(c)) is not None]
        try:
            check_install(
                profile, evse_id, active, max_stack_level=MAX_STACK_LEVEL, max_periods=MAX_PERIODS
            )
        except ProfileRejected as error:
            log.info("%s: charging profile %s rejected: %s", self.station_id, profile.id, error)
            return CommandStatus.REJECTED
        if len(self.profiles) >= 20 and all(p.id != profile.id for p in self.profiles):
            return CommandStatus.REJECTED
        self.profiles = install(self.profiles, profile)
        self._save_profiles()
        self.apply_limits()
        self._limits_changed.set()
        return CommandStatus.ACCEPTED

    def clear_charging_profile(
        self,
        *,
        profile_id: int | None = None,
        evse_id: int | None = None,
        purpose: ProfilePurpose | None = None,
        stack_level: int | None = None,
    ) -> CommandStatus:
        remaining, removed = clear(
            self.profiles,
            profile_id=profile_id,
            evse_id=evse_id,
            purpose=purpose,
            stack_level=stack_level,
        )
        if not removed:
            return CommandStatus.UNKNOWN
        self.profiles = remaining
        self._save_profiles()
        self.apply_limits()
        return CommandStatus.ACCEPTED

    def composite_schedule(
        self, evse_id: int, duration_s: int, rate_unit: RateUnit | None
    ) -> CompositeSchedule | None:
        if evse_id == 0:
            hardware_max = self.hardware.station_max_w
            active = None
        elif evse_id in self.connectors:
            conn = self.connectors[evse_id]
            hardware_max = conn.hw.max_power_w
            active = self._active(conn)
        else:
            return None
        return schedule(
            self.profiles,
            evse_id,
            utcnow(),
            duration_s,
            rate_unit or RateUnit.W,
            hardware_max,
            active,
        )

    def _save_profiles(self) -> None:
        self.store.put("profiles", [to_json(p) for p in self.profiles])

    # authorization data

    def clear_cache(self) -> CommandStatus:
        self.store.clear_cache()
        return CommandStatus.ACCEPTED

    @property
    def local_list_version(self) -> int:
        return int(self.store.get("local_list_version", 0))

    def send_local_list(
        self, update_type: UpdateType, version: int, entries: list[LocalListEntry]
    ) -> LocalListStatus:
        """SendLocalList (1.6 TC_042/043, 2.0.1 D01)."""
        result = apply_local_list(
            self.local_list_version,
            self.store.local_list(),
            update_type,
            version,
            entries,
            LOCAL_LIST_MAX_LENGTH,
        )
        if result.status is LocalListStatus.ACCEPTED:
            self.store.replace_local_list(result.version, dict(result.entries))
        return result.status

    # firmware and diagnostics (simulated transfers)

    def update_firmware(
        self,
        location: str,
        retrieve_at: datetime | None,
        request_id: int | None = None,
        *,
        signed: bool = False,
    ) -> CommandStatus:
        """UpdateFirmware (1.6 TC_044, 2.0.1 L01): a simulated download and install with every
        status notification, then a reboot with the new version in BootNotification."""
        if self._firmware_task is not None and not self._firmware_task.done():
            return CommandStatus.REJECTED
        if self._tasks is None:
            return CommandStatus.REJECTED
        self._firmware_task = self._tasks.create_task(
            self._guard(self._update_firmware(location, retrieve_at, request_id, signed)),
            name=f"{self.station_id}-firmware",
        )
        return CommandStatus.ACCEPTED

    def _firmware(self, status: FirmwareStatus) -> None:
        self.firmware_status = status
        self.link.firmware_status(status, self.firmware_request_id)

    async def _update_firmware(
        self, location: str, retrieve_at: datetime | None, request_id: int | None, signed: bool
    ) -> None:
        self.firmware_request_id = request_id
        step = self.config.firmware_step_s
        if retrieve_at is not None and retrieve_at > utcnow():
            self._firmware(FirmwareStatus.DOWNLOAD_SCHEDULED)
            await asyncio.sleep((retrieve_at - utcnow()).total_seconds())
        self._firmware(FirmwareStatus.DOWNLOADING)
        await asyncio.sleep(step)
        if "://" not in location:
            self._firmware(FirmwareStatus.DOWNLOAD_FAILED)
            self.firmware_status = FirmwareStatus.IDLE
            return
        self._firmware(FirmwareStatus.DOWNLOADED)
        if signed:
            self._firmware(FirmwareStatus.SIGNATURE_VERIFIED)
        if not self._idle.is_set():
            self._firmware(FirmwareStatus.INSTALL_SCHEDULED)
            await self._idle.wait()
        self._firmware(FirmwareStatus.INSTALLING)
        await asyncio.sleep(step)
        match = _FIRMWARE_VERSION.search(location.rsplit("/", 1)[-1])
        new_version = match.group(0) if match else _bump(self.firmware_version)
        self.firmware_version = new_version[:50]
        self.store.put("firmware_version", self.firmware_version)
        self.store.put("firmware_installed", request_id if request_id is not None else -1)
        self._firmware(FirmwareStatus.INSTALL_REBOOTING)
        self.link.reboot(BootReason.FIRMWARE_UPDATE)

    def booted(self) -> None:
        """The adapter's BootNotification was accepted (also after a reset or an update)."""
        installed = self.store.get("firmware_installed")
        if installed is not None:
            self.store.put("firmware_installed", None)
            self.firmware_request_id = None if installed == -1 else int(installed)
            self._firmware(FirmwareStatus.INSTALLED)
            self.firmware_status = FirmwareStatus.IDLE

    def upload_diagnostics(
        self,
        location: str,
        request_id: int | None = None,
        *,
        kind: str = "diagnostics",
    ) -> str | None:
        """GetDiagnostics (1.6) / GetLog (2.0.1): the file name, or None when nothing can be
        uploaded. file:// locations are written for real; other schemes are simulated."""
        if self._tasks is None:
            return None
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        name = f"{kind}-{self.station_id}-{stamp}.json"
        self.spawn(self._upload(location, name, request_id))
        return name

    def _upload_state(self, status: UploadStatus) -> None:
        self.upload_status = status
        self.link.upload_status(status, self.upload_request_id)

    async def _upload(self, location: str, name: str, request_id: int | None) -> None:
        self.upload_request_id = request_id
        self._upload_state(UploadStatus.UPLOADING)
        await asyncio.sleep(self.config.upload_step_s)
        try:
            content = json.dumps(self.diagnostics(), indent=2, default=str).encode()
            await asyncio.to_thread(upload, location, name, content)
        except OSError as error:
            log.warning("%s: upload to %s failed: %s", self.station_id, location, error)
            self._upload_state(UploadStatus.UPLOAD_FAILED)
        else:
            self._upload_state(UploadStatus.UPLOADED)
        self.upload_status = UploadStatus.IDLE

    def diagnostics(self) -> dict[str, Any]:
        return {
            "stationId": self.station_id,
            "ocppVersion": self.version,
            "firmwareVersion": self.firmware_version,
            "online": self.online,
            "queueLength": self.store.queue_length(),
            "connectors": {
                c.id: {
                    "status": c.status.value,
                    "errorCode": c.error_code,
                    "register": self.register_wh(c),
                    "transaction": c.transaction.ref if c.transaction else None,
                }
                for c in self.connectors.values()
            },
            "signal": dataclasses.asdict(self.signal) if self.signal else None,
            "stats": dataclasses.asdict(self.stats),
            "settings": {
                v.name: self.settings.value(v) for v in self.catalog.variables if v.readable
            },
        }

    def trigger_transaction_event(self, connector_id: int | None) -> CommandStatus:
        """2.0.1 TriggerMessage(TransactionEvent): an Updated event of the transaction(s)."""
        conns = [
            c
            for c in self.connectors.values()
            if c.transaction is not None and connector_id in (None, c.id)
        ]
        if not conns:
            return CommandStatus.REJECTED
        for conn in conns:
            measurands = self.settings.measurands("MeterValuesSampledData")
            self._queue_update(
                conn, samples(self.snapshot(conn), measurands, ReadingContext.TRIGGER), "Trigger"
            )
        return CommandStatus.ACCEPTED


def _bump(version: str) -> str:
    parts = version.split(".")
    if parts and parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
        return ".".join(parts)
    return version + ".1"


def _monitor_json(monitor: Monitor) -> dict[str, Any]:
    return {
        "id": monitor.id,
        "variable": monitor.variable,
        "type": monitor.type.value,
        "value": str(monitor.value),
        "severity": monitor.severity,
        "kind": monitor.kind.value,
    }


def _monitor_from_json(data: dict[str, Any]) -> Monitor:
    return Monitor(
        int(data["id"]),
        data["variable"],
        MonitorType(data["type"]),
        Decimal(data["value"]),
        int(data.get("severity", 8)),
        MonitorKind(data.get("kind", MonitorKind.CUSTOM.value)),
    )
