"""One station's websocket: receives CALLs in order and answers each, and sends the central
system's own CALLs, one outstanding at a time (OCPP-J section 4.1.1).

A central system holds tens of thousands of idle connections: what a connection keeps while
idle is kept small (`__slots__`; the lock, the pending call and the follow-up tasks exist only
while in use).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed

from central_system.domain.metering import InvalidSample
from central_system.services.ports import StationCallError, StationCallTimeout, StationOffline
from central_system.transport import validation
from central_system.transport.ocppj import (
    Call,
    CallError,
    CallResult,
    ErrorKind,
    OcppVersion,
    RpcError,
    dump_call,
    dump_error,
    dump_result,
    parse_frame,
)

log = logging.getLogger(__name__)

BOOT_ACTION = "BootNotification"


class Websocket(Protocol):
    async def recv(self) -> str | bytes: ...
    async def send(self, message: bytes, *, text: bool) -> None: ...
    async def close(self, code: int = 1000, reason: str = "") -> None: ...


FollowUp = Callable[["OcppConnection"], Coroutine[Any, Any, None]]


@dataclass(slots=True)
class StationSession:
    """What a handler knows about the station it is answering."""

    station_id: str
    version: OcppVersion
    boot_accepted: bool
    follow_ups: list[FollowUp] | None = None  # of the CALL being answered
    connected_at: datetime | None = None  # when the connection was recorded

    def after_reply(self, follow_up: FollowUp) -> None:
        """Run `follow_up` once the answer to the current CALL is sent (e.g. send
        CertificateSigned after answering SignCertificate). A handler must never wait for the
        station itself: the station is waiting for our answer."""
        if self.follow_ups is None:
            self.follow_ups = []
        self.follow_ups.append(follow_up)


Handler = Callable[[StationSession, dict[str, Any]], Awaitable[dict[str, Any]]]


class Router(Protocol):
    def handler(self, action: str) -> Handler | None: ...


class OcppConnection:
    __slots__ = (
        "_call_lock",
        "_call_timeout",
        "_closed",
        "_follow_ups",
        "_pending",
        "_router",
        "_validate_responses",
        "session",
        "websocket",
    )

    def __init__(
        self,
        websocket: Websocket,
        session: StationSession,
        router: Router,
        *,
        call_timeout: float,
        validate_responses: bool = False,
    ) -> None:
        self.websocket = websocket
        self.session = session
        self._router = router
        self._call_timeout = call_timeout
        self._validate_responses = validate_responses
        self._call_lock: asyncio.Lock | None = None  # made by the first call()
        self._pending: tuple[str, asyncio.Future[CallResult | CallError]] | None = None
        self._closed = False
        self._follow_ups: set[asyncio.Task[None]] | None = None

    @property
    def station_id(self) -> str:
        return self.session.station_id

    @property
    def version(self) -> OcppVersion:
        return self.session.version

    async def serve(self) -> None:
        """Receive until the websocket closes. Station CALLs are handled one after the other, in
        the order they arrived (transaction messages must be processed in order)."""
        receive = self.websocket.recv
        try:
            while True:
                await self._on_frame(await receive())
        except ConnectionClosed:
            pass
        finally:
            self._closed = True
            if self._pending is not None and not self._pending[1].done():
                self._pending[1].set_exception(StationOffline(self.station_id))
            if self._follow_ups:
                running = list(self._follow_ups)
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._closed = True
        await self.websocket.close(code, reason)

    async def _on_frame(self, raw: str | bytes) -> None:
        try:
            frame = parse_frame(raw, self.version)
        except RpcError as error:
            log.warning("%s: bad frame answered %s: %s", self.station_id, error.kind.name, error)
            await self._send(dump_error(error, self.version))
            return
        if frame is None:
            log.warning("%s: ignored a CALLRESULTERROR: %.200r", self.station_id, raw)
        elif isinstance(frame, Call):
            await self._on_call(frame)
        else:
            self._on_reply(frame)

    async def _on_call(self, call: Call) -> None:
        try:
            response = await self._dispatch(call)
        except RpcError as error:
            self.session.follow_ups = None
            error.unique_id = call.unique_id
            log.warning(
                "%s: %s answered %s: %s", self.station_id, call.action, error.kind.name, error
            )
            if not call.unconfirmed:
                await self._send(dump_error(error, self.version))
            return
        if not call.unconfirmed:
            await self._send(dump_result(call.unique_id, response))
        self._start_follow_ups()

    def _start_follow_ups(self) -> None:
        follow_ups, self.session.follow_ups = self.session.follow_ups, None
        if not follow_ups:
            return
        if self._follow_ups is None:
            self._follow_ups = set()
        for follow_up in follow_ups:
            task = asyncio.create_task(follow_up(self))
            self._follow_ups.add(task)
            task.add_done_callback(self._follow_up_done)

    def _follow_up_done(self, task: asyncio.Task[None]) -> None:
        if self._follow_ups is not None:
            self._follow_ups.discard(task)
            if not self._follow_ups:
                self._follow_ups = None
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: follow-up failed", self.station_id, exc_info=task.exception())

    async def _dispatch(self, call: Call) -> dict[str, Any]:
        handler = self._router.handler(call.action)
        if handler is None:
            if validation.has_schema(self.version, call.action):
                raise RpcError(
                    ErrorKind.NOT_SUPPORTED,
                    f"{call.action} is recognised but not supported by this central system",
                )
            raise RpcError(
                ErrorKind.NOT_IMPLEMENTED, f"{call.action} is not an OCPP {self.version} action"
            )
        validation.validate(self.version, call.action, call.payload)
        if (
            self.version is not OcppVersion.V16
            and call.action != BOOT_ACTION
            and not self.session.boot_accepted
        ):
            raise RpcError(
                ErrorKind.SECURITY,
                f"{call.action} before an accepted BootNotification",
            )
        try:
            response = await handler(self.session, call.payload)
        except RpcError:
            raise
        except InvalidSample as error:
            raise RpcError(ErrorKind.PROPERTY, f"{call.action}: {error}") from error
        except Exception as error:
            log.exception("%s: %s failed", self.station_id, call.action)
            raise RpcError(
                ErrorKind.INTERNAL, f"{call.action} could not be processed; retry later"
            ) from error
        if self._validate_responses:
            validation.validate(self.version, call.action, response, response=True)
        return response

    def _on_reply(self, reply: CallResult | CallError) -> None:
        pending = self._pending
        if pending is None or pending[0] != reply.unique_id or pending[1].done():
            log.warning(
                "%s: reply to an unknown or expired call %s", self.station_id, reply.unique_id
            )
            return
        pending[1].set_result(reply)

    async def call(
        self, action: str, payload: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send a CSMS-initiated CALL and return the CALLRESULT payload.

        The action and payload are validated first (ValueError, nothing sent). Raises
        StationOffline, StationCallTimeout or StationCallError.
        """
        if not validation.has_schema(self.version, action):
            raise ValueError(f"{action} is not an OCPP {self.version} action")
        try:
            validation.validate(self.version, action, payload)
        except RpcError as error:
            raise ValueError(error.description) from None
        if self._call_lock is None:
            self._call_lock = asyncio.Lock()
        async with self._call_lock:
            if self._closed:
                raise StationOffline(self.station_id)
            unique_id = str(uuid.uuid4())
            future: asyncio.Future[CallResult | CallError] = (
                asyncio.get_running_loop().create_future()
            )
            self._pending = (unique_id, future)
            try:
                await self._send(dump_call(unique_id, action, payload))
                reply = await asyncio.wait_for(future, timeout or self._call_timeout)
            except TimeoutError:
                raise StationCallTimeout(
                    f"{self.station_id} did not answer {action} within "
                    f"{timeout or self._call_timeout:g} s"
                ) from None
            except ConnectionClosed:
                raise StationOffline(self.station_id) from None
            finally:
                self._pending = None
        if isinstance(reply, CallError):
            raise StationCallError(reply.code, reply.description, reply.details)
        try:
            validation.validate(self.version, action, reply.payload, response=True)
        except RpcError as error:
            raise StationCallError(error.kind.code(self.version), error.description) from None
        return reply.payload

    async def _send(self, message: bytes) -> None:
        try:
            await self.websocket.send(message, text=True)
        except ConnectionClosed:
            log.info("%s: connection closed before a message could be sent", self.station_id)
