"""What the 1.6 and 2.0.1 adapters share: the connection, boot, heartbeat and the queue.

One connection at a time, each in its own TaskGroup: the receive loop (the `ocpp` package's
`ChargePoint.start`), the session (boot until Accepted, then status, heartbeats, the queue), and
a sender that delivers notifications in order. When the websocket closes, the receive loop raises
and the TaskGroup cancels the rest; the adapter waits the back-off (RetryBackOff*, with jitter)
and connects again. Whatever was in flight stays in the queue and is sent again.

The queue sender takes the oldest transaction message from the station's SQLite, sends it exactly
as stored, and deletes it only when the central system answered. A CALLERROR or no answer is
retried TransactionMessageAttempts times, waiting attempt# x TransactionMessageRetryInterval
(1.6 4.8.2, 2.0.1 E13/OCPP-J 4.1), then the message is discarded and logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast
from urllib.parse import quote

import websockets
from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    NotSupportedError,
    OccurenceConstraintViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
    ProtocolError,
    UnknownCallErrorCodeError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplementedError,
)
from ocpp.messages import CallError, unpack
from ocpp.routing import on
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from charge_point.domain.backoff import gives_up, message_retry_delay_s, reconnect_delay_s
from charge_point.domain.commands import BootReason, FirmwareStatus, UploadStatus
from charge_point.domain.device_model import MonitorEvent
from charge_point.domain.local_auth import IdToken, IdTokenInfo
from charge_point.domain.metering import Sample
from charge_point.domain.modem import SignalQuality
from charge_point.domain.transaction import ChargingState, StartTrigger, StopCause
from charge_point.model import ConnectorRuntime, Transaction
from charge_point.store import QueuedMessage

if TYPE_CHECKING:
    from charge_point.station import Station

log = logging.getLogger(__name__)


class _WireLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The `ocpp` package logs every frame at INFO; here frames are DEBUG (problems keep
    their level), so a station's INFO log shows what happened, not every message."""

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)


ocpp_log = _WireLog(logging.getLogger("charge_point.ocpp.wire"), {})


def wire_time(moment: datetime) -> str:
    """OCPP dateTime: UTC, millisecond precision, `Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(key: str) -> str:
    return _CAMEL.sub("_", key).lower()


F = TypeVar("F", bound=Callable[..., Any])


def handles(action: str) -> Callable[[F], F]:
    """`ocpp.routing.on`, typed: the handler keeps its signature for the type checker."""
    return cast(Callable[[F], F], on(action))


async def invoke(cp: Any, payload: Any) -> Any:
    """`cp.call(payload, suppress=False)` in a task of its own.

    The `ocpp` package waits for the reply with `asyncio.wait_for`, which on Python 3.11 can
    swallow a cancellation that arrives together with the reply; the caller would then go on
    as if never cancelled, and a connection's TaskGroup would wait for it forever. Awaiting
    the call through `asyncio.wait` keeps the caller's cancellation intact."""
    task = asyncio.ensure_future(cp.call(payload, suppress=False))
    try:
        await asyncio.wait({task})
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise
    return task.result()


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # mark as retrieved: the caller has gone


class Disconnected(Exception):
    """The websocket closed (the normal end of a connection)."""


@dataclass
class Connection:
    cp: Any
    websocket: ClientConnection
    tasks: asyncio.TaskGroup
    ready: bool = False
    """BootNotification accepted on this connection (or before it)."""
    outbox: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)


class StationChargePoint:
    """Mixed in before `ocpp.v16.ChargePoint` / `ocpp.v201.ChargePoint`: routing errors spelled
    as the version wants them, follow-ups sent after the reply, message counters."""

    known_actions: ClassVar[frozenset[str]] = frozenset()
    _ocpp_version: str
    route_map: dict[str, Any]

    def __init__(self, station_id: str, connection: Any, adapter: OcppAdapter, timeout: float):
        super().__init__(station_id, connection, timeout, ocpp_log)  # type: ignore[call-arg]
        self.adapter = adapter
        self.station = adapter.station
        self._follow_ups: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def after_reply(self, follow_up: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `follow_up` once the reply to the CALL being handled has been sent (a
        TriggerMessage's message, a NotifyReport, a reconnect with a new password)."""
        self._follow_ups.append(follow_up)

    async def route_message(self, raw_msg: str) -> None:
        self.adapter.stats.messages_received += 1
        try:
            unpack(raw_msg)
        except OCPPError as error:
            log.warning("%s: unreadable frame answered: %s", self.station.station_id, error)
            spelled = self._spell(error)
            reply = CallError("-1", spelled.code, spelled.description or "", {})
            await self._send(reply.to_json())
            return
        self._follow_ups = []
        await super().route_message(raw_msg)  # type: ignore[misc]
        follow_ups, self._follow_ups = self._follow_ups, []
        for follow_up in follow_ups:
            self.adapter.on_connection(follow_up())

    async def _handle_call(self, msg: Any) -> Any:
        """OCPP-J 4.2.3: an action we do not know is NotImplemented, one we know but do not
        handle is NotSupported (the `ocpp` package has the two the other way round)."""
        if msg.action not in self.route_map:
            if msg.action in self.known_actions:
                raise NotSupportedError(description=f"{msg.action} is not supported")
            raise OcppNotImplementedError(description=f"{msg.action} is not a known action")
        try:
            return await super()._handle_call(msg)  # type: ignore[misc]
        except OCPPError as error:
            raise self._spell(error) from None

    def _spell(self, error: OCPPError) -> OCPPError:
        """1.6 and 2.0.1 spell two error codes differently; a missing required field is an
        occurrence violation, not a ProtocolError."""
        v16 = self._ocpp_version == "1.6"
        description, details = error.description, error.details
        if isinstance(error, FormatViolationError | FormationViolationError):
            cls: type[OCPPError] = FormationViolationError if v16 else FormatViolationError
            return cls(description=description, details=details)
        if isinstance(
            error,
            ProtocolError | OccurenceConstraintViolationError | OccurrenceConstraintViolationError,
        ) and "required" in str(details or description or ""):
            cls = OccurenceConstraintViolationError if v16 else OccurrenceConstraintViolationError
            return cls(description=description, details=details)
        return error

    async def _send(self, message: str) -> None:
        self.adapter.stats.messages_sent += 1
        await super()._send(message)  # type: ignore[misc]


class OcppAdapter:
    """The connection loop and queue; subclasses speak one OCPP version."""

    version: ClassVar[str]
    subprotocol: ClassVar[str]
    call_module: ClassVar[ModuleType]
    charge_point_class: ClassVar[type[Any]]
    transaction_actions: ClassVar[frozenset[str]]

    def __init__(self, station: Station) -> None:
        self.station = station
        self.store = station.store
        self.settings = station.settings
        self.stats = station.stats
        self._connection: Connection | None = None
        self.boot_accepted = False
        self._boot_reason = BootReason.POWER_UP
        self._queue_wakeup = asyncio.Event()
        self._heartbeat_wakeup = asyncio.Event()
        self._skip_backoff = False
        self.settings.on_change("HeartbeatInterval", lambda _v: self._heartbeat_wakeup.set())

    # --- state --------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """Connected and booted: messages can be sent now."""
        return self._connection is not None and self._connection.ready

    @property
    def connected(self) -> bool:
        return self._connection is not None

    @property
    def url(self) -> str:
        base = self.station.config.url.rstrip("/")
        return f"{base}/{quote(self.station.station_id, safe='')}"

    # --- the connection loop --------------------------------------------------------------

    async def run(self) -> None:
        failures = 0
        while True:
            if failures:
                delay = reconnect_delay_s(
                    failures,
                    wait_minimum_s=self.settings.integer("RetryBackOffWaitMinimum"),
                    random_range_s=self.settings.integer("RetryBackOffRandomRange"),
                    repeat_times=self.settings.integer("RetryBackOffRepeatTimes"),
                    random_fraction=self.station.rng.random(),
                )
                await asyncio.sleep(delay)
            try:
                websocket = await self._connect()
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
                failures += 1
                self.stats.connect_failures += 1
                log.log(
                    logging.WARNING if failures <= 3 else logging.DEBUG,
                    "%s: cannot connect to %s (%s attempt%s): %s",
                    self.station.station_id,
                    self.url,
                    failures,
                    "" if failures == 1 else "s",
                    error,
                )
                continue
            self.stats.connections += 1
            try:
                await self._serve(websocket)
            except* (Disconnected, ConnectionClosed):
                pass
            except* Exception as group:
                for failure in group.exceptions:
                    log.error("%s: connection failed", self.station.station_id, exc_info=failure)
                    self.stats.error(f"{type(failure).__name__}: {failure}")
            finally:
                self._connection = None
                with contextlib.suppress(Exception):
                    await websocket.close()
            log.info("%s: disconnected from the central system", self.station.station_id)
            failures = 0 if self._skip_backoff else 1
            self._skip_backoff = False

    async def _connect(self) -> ClientConnection:
        headers = {}
        password = self.station.password
        if password:
            token = f"{self.station.station_id}:{password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        ping = self.settings.integer("WebSocketPingInterval")
        websocket = await websockets.connect(
            self.url,
            subprotocols=[Subprotocol(self.subprotocol)],
            additional_headers=headers,
            open_timeout=self.station.config.connect_timeout_s,
            ping_interval=ping or None,
            ping_timeout=max(ping, 10) if ping else None,
            compression=None,
            max_size=2**20,
        )
        if websocket.subprotocol != self.subprotocol:
            await websocket.close()
            raise InvalidHandshake(
                f"the central system did not accept subprotocol {self.subprotocol}"
            )
        return websocket

    async def _serve(self, websocket: ClientConnection) -> None:
        timeout = float(self.settings.integer("MessageTimeout"))
        cp = self.charge_point_class(self.station.station_id, websocket, self, timeout)
        async with asyncio.TaskGroup() as tasks:
            connection = Connection(cp, websocket, tasks)
            self._connection = connection
            tasks.create_task(self._receive(cp), name=f"{self.station.station_id}-receive")
            tasks.create_task(self._session(connection), name=f"{self.station.station_id}-session")

    async def _receive(self, cp: Any) -> None:
        try:
            await cp.start()
        except ConnectionClosed as closed:
            raise Disconnected(str(closed)) from None

    async def _session(self, connection: Connection) -> None:
        tasks = connection.tasks
        tasks.create_task(self._sender(connection))
        just_booted = not self.boot_accepted
        if just_booted:
            await self._boot(connection)
        connection.ready = True
        log.info(
            "%s: online (OCPP %s, %d queued)",
            self.station.station_id,
            self.version,
            self.store.queue_length(),
        )
        self.send_statuses()
        if just_booted:
            self.station.booted()
        self.went_online()
        tasks.create_task(self._heartbeats(connection))
        tasks.create_task(self._drain(connection))

    async def _boot(self, connection: Connection) -> None:
        """BootNotification until Accepted (B01-B03, TC_001): after Pending or Rejected wait the
        interval the central system gave, or the back-off when it gave none."""
        failures = 0
        while True:
            status: str | None = None
            interval = 0
            try:
                status, interval = await self.send_boot(connection.cp, self._boot_reason)
            except OCPPError as error:
                self.stats.error(f"BootNotification: {error.code}")
            except TimeoutError:
                self.stats.error("BootNotification: no answer")
            if status == "Accepted":
                self.boot_accepted = True
                self._boot_reason = BootReason.POWER_UP
                if interval > 0:
                    self.settings.override("HeartbeatInterval", str(interval))
                return
            failures += 1
            delay = (
                interval
                if interval > 0
                else reconnect_delay_s(
                    failures,
                    wait_minimum_s=self.settings.integer("RetryBackOffWaitMinimum"),
                    random_range_s=self.settings.integer("RetryBackOffRandomRange"),
                    repeat_times=self.settings.integer("RetryBackOffRepeatTimes"),
                    random_fraction=self.station.rng.random(),
                )
            )
            log.info(
                "%s: BootNotification %s; trying again in %.1f s",
                self.station.station_id,
                status or "failed",
                delay,
            )
            await asyncio.sleep(delay)

    async def _heartbeats(self, connection: Connection) -> None:
        while True:
            interval = self.settings.integer("HeartbeatInterval")
            self._heartbeat_wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval if interval > 0 else 86_400):
                    await self._heartbeat_wakeup.wait()
                continue  # the interval changed: start over
            if interval > 0:
                await self._call(connection, self.heartbeat())

    async def _sender(self, connection: Connection) -> None:
        """Notifications (status, signal, firmware ...) one after the other, in order."""
        while True:
            payload = await connection.outbox.get()
            try:
                await self._call(connection, payload)
            finally:
                connection.outbox.task_done()

    async def _drain(self, connection: Connection) -> None:
        """Send the queued transaction messages in order (see the module docstring)."""
        while True:
            message = self.store.queue_head()
            if message is None:
                self._queue_wakeup.clear()
                await self._queue_wakeup.wait()
                continue
            payload = self.prepare_queued(message)
            if payload is None:
                log.error(
                    "%s: discarding queued %s %s: its transaction never started at the "
                    "central system",
                    self.station.station_id,
                    message.action,
                    message.id,
                )
                self.store.remove(message.id)
                self.stats.discarded += 1
                continue
            request = getattr(self.call_module, message.action)(
                **{snake(key): value for key, value in payload.items()}
            )
            try:
                response = await invoke(connection.cp, request)
            except OCPPError as error:
                problem = f"{error.code}: {error.description}"
            except UnknownCallErrorCodeError as error:
                problem = str(error)
            except TimeoutError:
                problem = "no answer"
            else:
                with self.store.transaction():
                    self.store.remove(message.id)
                    self.queued_reply(message, response)
                self.stats.replayed += 1
                continue
            attempts = self.store.record_attempt(message.id)
            self.stats.error(f"{message.action}: {problem}")
            if gives_up(attempts, self.settings.integer("TransactionMessageAttempts")):
                log.error(
                    "%s: discarding %s after %d attempts (%s): %s",
                    self.station.station_id,
                    message.action,
                    attempts,
                    problem,
                    payload,
                )
                self.store.remove(message.id)
                self.stats.discarded += 1
                continue
            delay = message_retry_delay_s(
                attempts, self.settings.integer("TransactionMessageRetryInterval")
            )
            log.warning(
                "%s: %s attempt %d failed (%s); again in %.0f s",
                self.station.station_id,
                message.action,
                attempts,
                problem,
                delay,
            )
            await asyncio.sleep(delay)

    def _enqueue(self, action: str, payload: dict[str, Any], tx_ref: str | None) -> None:
        """Write a transaction message to the queue (inside the caller's database
        transaction) and wake the sender."""
        self.store.enqueue(action, payload, tx_ref, datetime.now(UTC))
        self._queue_wakeup.set()

    # --- calls ---------------------------------------------------------------------------

    async def _call(self, connection: Connection, payload: Any) -> Any | None:
        """One CALL; a CALLERROR or no answer is logged, counted and returns None."""
        action = type(payload).__name__
        try:
            return await invoke(connection.cp, payload)
        except OCPPError as error:
            log.warning(
                "%s: %s answered %s: %s",
                self.station.station_id,
                action,
                error.code,
                error.description,
            )
            self.stats.error(f"{action}: {error.code}")
        except UnknownCallErrorCodeError as error:
            log.warning("%s: %s answered %s", self.station.station_id, action, error)
            self.stats.error(f"{action}: {error}")
        except TimeoutError:
            log.warning("%s: no answer to %s", self.station.station_id, action)
            self.stats.error(f"{action}: no answer")
        return None

    async def request(self, payload: Any) -> Any | None:
        """A CALL whose answer the station waits for (Authorize); None when offline, on a
        CALLERROR, without an answer, or when the connection drops meanwhile."""
        connection = self._connection
        if connection is None or not connection.ready:
            return None

        async def guarded() -> Any | None:
            try:
                return await self._call(connection, payload)
            except ConnectionClosed:
                return None

        try:
            task = connection.tasks.create_task(guarded())
        except RuntimeError:  # the connection is closing
            return None
        await asyncio.wait({task})
        return None if task.cancelled() else task.result()

    def notify(self, payload: Any) -> None:
        """Send a notification when online (in order with the others); dropped offline."""
        connection = self._connection
        if connection is not None and connection.ready:
            connection.outbox.put_nowait(payload)

    def on_connection(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` on the current connection (cancelled if it drops); failures logged."""
        connection = self._connection
        if connection is None:
            work.close()
            return

        async def guarded() -> None:
            try:
                await work
            except (ConnectionClosed, asyncio.CancelledError):
                raise
            except Exception as error:
                log.exception("%s: follow-up failed", self.station.station_id)
                self.stats.error(f"{type(error).__name__}: {error}")

        try:
            connection.tasks.create_task(guarded())
        except RuntimeError:
            work.close()

    def reconnect(self, reason: str) -> None:
        """Close the connection and connect again at once (new password, reset)."""
        connection = self._connection
        if connection is None:
            return
        log.info("%s: reconnecting: %s", self.station.station_id, reason)
        self._skip_backoff = True

        async def close() -> None:
            # Notifications already queued (InstallRebooting, ...) go out first.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.integer("MessageTimeout")):
                    await connection.outbox.join()
            await connection.websocket.close()

        self.on_connection(close())

    def reboot(self, reason: BootReason) -> None:
        """A simulated reboot: a new connection that starts with BootNotification(reason)."""
        self.boot_accepted = False
        self._boot_reason = reason
        if self._connection is None:
            return
        self.reconnect(f"reboot ({reason.value})")

    async def trigger_boot(self) -> None:
        connection = self._connection
        if connection is not None:
            await self.send_boot(connection.cp, BootReason.TRIGGERED)

    # --- what each version provides ------------------------------------------------------

    async def send_boot(self, cp: Any, reason: BootReason) -> tuple[str, int]:
        raise NotImplementedError

    def heartbeat(self) -> Any:
        return self.call_module.Heartbeat()

    def prepare_queued(self, message: QueuedMessage) -> dict[str, Any] | None:
        return message.payload

    def queued_reply(self, message: QueuedMessage, response: Any) -> None:
        pass

    def send_statuses(self) -> None:
        raise NotImplementedError

    def went_online(self) -> None:
        pass

    async def authorize(self, token: IdToken) -> IdTokenInfo | None:
        raise NotImplementedError

    def status_changed(self, conn: ConnectorRuntime) -> None:
        raise NotImplementedError

    def station_status_changed(self) -> None:
        pass

    def transaction_started(
        self,
        tx: Transaction,
        samples: Sequence[Sample],
        trigger: StartTrigger,
        state: ChargingState,
        at: datetime,
    ) -> None:
        raise NotImplementedError

    def transaction_updated(
        self,
        tx: Transaction,
        samples: Sequence[Sample],
        trigger: str,
        state: ChargingState,
        at: datetime,
    ) -> bool:
        """Queue an update; False when this version has nothing to send for it."""
        raise NotImplementedError

    def transaction_ended(
        self,
        tx: Transaction,
        cause: StopCause,
        samples: Sequence[Sample],
        meter_stop_wh: int,
        at: datetime,
        *,
        stop_token: IdToken | None = None,
        offline: bool = False,
    ) -> None:
        raise NotImplementedError

    def signal_read(self, quality: SignalQuality, at: datetime) -> None:
        pass

    def monitor_events(self, events: Sequence[MonitorEvent]) -> None:
        pass

    def firmware_status(self, status: FirmwareStatus, request_id: int | None) -> None:
        raise NotImplementedError

    def upload_status(self, status: UploadStatus, request_id: int | None) -> None:
        raise NotImplementedError

    def reservation_ended(self, reservation_id: int, reason: str) -> None:
        pass

    def free_vend_token(self, id_tag: str) -> IdToken:
        raise NotImplementedError
