"""The OCPP websocket server: `ws://HOST:PORT/ocpp/{station_id}` on one port for every version.

Before the upgrade: the station id is read from the path (percent-decoded, <= 48 chars, no ':'),
an unknown station gets 404, a failed Basic-auth check 401 (A00, TC_085, TC_A_01-03). The
subprotocol is the first of the client's list we speak (TC_088, TC_B_58); with none acceptable
the handshake completes without the header and the connection is closed at once.

Reconnect storms: admission reads the station directory (no database round trip for a known
station, see `services.station_directory`); at most `ocpp_max_handshakes` admissions wait for
the database at a time, and beyond that, or when the database cannot answer, a station gets
HTTP 503 with Retry-After (its back-off retries). A connection is recorded in a batch with the
others (`services.presence`) before its first message is handled. What a connection keeps while
idle is small: the handshake's HTTP headers are dropped once it is open, and one task pings
every connection (`keepalive.Keepalive`) instead of a task per connection. The websockets are
`transport.websocket`'s: websockets' Sans-I/O protocol on asyncio, without its asyncio layer.
"""

from __future__ import annotations

import base64
import binascii
import logging
import ssl
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from central_system.domain.stations import Admission, InvalidStationId, validate_station_id
from central_system.services.bundle import Services
from central_system.settings import Settings
from central_system.transport import validation
from central_system.transport.connection import OcppConnection, Router, StationSession
from central_system.transport.gateway import ConnectionRegistry
from central_system.transport.keepalive import Keepalive
from central_system.transport.ocppj import SUBPROTOCOLS, OcppVersion
from central_system.transport.v16 import Ocpp16Handlers
from central_system.transport.v201 import Ocpp201Handlers
from central_system.transport.websocket import StationWebsocket, WebsocketServer

log = logging.getLogger(__name__)

# Our preference does not matter: OCPP-J says the server takes the client's order.
SUPPORTED_SUBPROTOCOLS = [version.subprotocol for version in OcppVersion]
NO_SUBPROTOCOL_CLOSE_CODE = 1002
UNAVAILABLE_CLOSE_CODE = 1013  # "try again later": the connection could not be recorded
# OCPP-J has one outstanding CALL per direction: a handful of frames is all that can queue up.
MAX_QUEUED_FRAMES = 4
WRITE_BUFFER_BYTES = 16 * 1024


class NotAnOcppPath(ValueError):
    """The request is not for `/prefix/{station_id}`."""


def station_id_from_path(path: str, prefix: str) -> str:
    """The percent-decoded station id of `/prefix/{id}`.

    Raises NotAnOcppPath, or InvalidStationId for an id OCPP does not allow.
    """
    route = urlsplit(path).path
    if not route.startswith(prefix + "/"):
        raise NotAnOcppPath(f"the path is not {prefix}/{{station_id}}")
    encoded = route[len(prefix) + 1 :].removesuffix("/")
    if "/" in encoded:
        raise InvalidStationId("the station id contains '/'")
    return validate_station_id(unquote(encoded, errors="strict"))


def basic_credentials(headers: Headers) -> tuple[str | None, str | None]:
    """(username, password) of an `Authorization: Basic` header, (None, None) without one."""
    value = headers.get("Authorization")
    if not value:
        return None, None
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None, None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")
    username, separator, password = text.partition(":")
    if not separator:
        return None, None
    return username, password


def _certificate_subject(certificate: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(CN, O) of a verified peer certificate (`ssl.SSLSocket.getpeercert()` form)."""
    if not certificate:
        return None, None
    fields = {key: value for rdn in certificate.get("subject", ()) for key, value in rdn}
    return fields.get("commonName"), fields.get("organizationName")


def _response(
    connection: StationWebsocket, status: HTTPStatus, text: str, retry_after: int | None = None
) -> Response:
    response = connection.protocol.reject(status, text + "\n")
    if status is HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


class OcppServer:
    def __init__(
        self, settings: Settings, services: Services, registry: ConnectionRegistry
    ) -> None:
        self._settings = settings
        self._services = services
        self.registry = registry
        self._routers: dict[OcppVersion, Router] = {
            OcppVersion.V16: Ocpp16Handlers(services),
            OcppVersion.V201: Ocpp201Handlers(services),
            OcppVersion.V21: Ocpp201Handlers(services),
        }
        for version in OcppVersion:
            validation.preload(version)
        self.keepalive = (
            Keepalive(settings.ocpp_ping_interval, settings.ocpp_ping_timeout)
            if settings.ocpp_ping_interval
            else None
        )
        self.admitting = 0  # admissions in progress
        self.refused_busy = 0  # handshakes answered 503 (for tests and metrics)

    def listeners(self) -> list[WebsocketServer]:
        """The listening sockets (async context managers): ws:// always, wss:// when TLS is
        configured (A00.FR.006 allows a port per profile)."""
        settings = self._settings
        servers = [self._serve(settings.ocpp_port)]
        if settings.ocpp_tls_port is not None:
            servers.append(self._serve(settings.ocpp_tls_port, ssl=self._tls_context()))
        return servers

    def _tls_context(self) -> ssl.SSLContext:
        """TLS 1.2+ (A00.FR.3xx); station certificates are asked for, verified against the
        configured CA, and required per station by its security profile."""
        settings = self._settings
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.options |= ssl.OP_NO_COMPRESSION
        assert settings.ocpp_tls_cert is not None and settings.ocpp_tls_key is not None
        context.load_cert_chain(settings.ocpp_tls_cert, settings.ocpp_tls_key)
        if settings.ocpp_tls_client_ca is not None:
            context.load_verify_locations(settings.ocpp_tls_client_ca)
            context.verify_mode = ssl.CERT_OPTIONAL
        return context

    def _serve(self, port: int, ssl: ssl.SSLContext | None = None) -> WebsocketServer:
        """No permessage-deflate (not offered in the handshake: 61 KiB per connection), and
        self.keepalive pings every connection."""
        settings = self._settings
        return WebsocketServer(
            self._handle,
            settings.ocpp_host,
            port,
            process_request=self._process_request,
            subprotocols=SUPPORTED_SUBPROTOCOLS,  # type: ignore[arg-type]
            select_subprotocol=self._select_subprotocol,
            max_size=settings.ocpp_max_frame_bytes,
            max_queue=MAX_QUEUED_FRAMES,
            write_limit=WRITE_BUFFER_BYTES,
            server_header="evcharge",
            backlog=settings.ocpp_listen_backlog,
            ssl=ssl,
        )

    def wrap_routers(self, wrap: Callable[[Router], Router]) -> None:
        """Wrap every version's router (e.g. to count the actions stations call)."""
        self._routers = {version: wrap(router) for version, router in self._routers.items()}

    @staticmethod
    def _select_subprotocol(connection: Any, offered: Any) -> Any:
        """The first subprotocol in the client's preference order that we speak, else none."""
        for subprotocol in offered:
            if subprotocol in SUBPROTOCOLS:
                return subprotocol
        return None

    async def _process_request(
        self, connection: StationWebsocket, request: Request
    ) -> Response | None:
        try:
            station_id = station_id_from_path(request.path, self._settings.ocpp_path)
        except NotAnOcppPath as error:
            return _response(connection, HTTPStatus.NOT_FOUND, f"Not an OCPP endpoint: {error}")
        except (InvalidStationId, UnicodeDecodeError) as error:
            return _response(connection, HTTPStatus.BAD_REQUEST, f"Invalid station id: {error}")
        settings = self._settings
        if self.admitting >= settings.ocpp_max_handshakes:
            self.refused_busy += 1
            return self._busy(connection, "too many connections being opened")
        username, password = basic_credentials(request.headers)
        tls = connection.transport.get_extra_info("ssl_object")
        common_name, organization = _certificate_subject(tls.getpeercert() if tls else None)
        self.admitting += 1
        try:
            decision = await self._services.stations.admit(
                station_id,
                username=username,
                password=password,
                over_tls=tls is not None,
                certificate_subject=(common_name, organization) if common_name else None,
                cpo_name=settings.cpo_name,
            )
        except Exception as error:  # the database is away or overloaded: come back later
            log.warning("%s: admission failed: %s", station_id, error)
            return self._busy(connection, "the central system cannot decide now")
        finally:
            self.admitting -= 1
        if decision is Admission.UNKNOWN_STATION:
            log.warning("refused unknown station %s", station_id)
            return _response(connection, HTTPStatus.NOT_FOUND, f"Unknown station {station_id}")
        if decision is Admission.UNAUTHORIZED:
            log.warning("refused station %s: authentication failed", station_id)
            return _response(connection, HTTPStatus.UNAUTHORIZED, "Authentication failed")
        return None

    def _busy(self, connection: StationWebsocket, text: str) -> Response:
        return _response(
            connection,
            HTTPStatus.SERVICE_UNAVAILABLE,
            f"Try again later: {text}",
            retry_after=self._settings.ocpp_retry_after,
        )

    async def _handle(self, websocket: StationWebsocket) -> None:
        request = websocket.request
        assert request is not None
        station_id = station_id_from_path(request.path, self._settings.ocpp_path)
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        # The handshake's headers are not needed any more: a few KiB per idle connection (the
        # request object itself stays: the protocol's parser holds it).
        request.headers.clear()
        websocket.request = None
        if websocket.subprotocol is None:
            log.warning("%s: no supported OCPP subprotocol in %r; closing", station_id, offered)
            await websocket.close(NO_SUBPROTOCOL_CLOSE_CODE, "no supported OCPP subprotocol")
            return
        version = OcppVersion.from_subprotocol(websocket.subprotocol)
        stations = self._services.stations
        try:
            boot_accepted = await stations.boot_accepted(station_id)
        except Exception as error:
            log.warning("%s: closing, the registry cannot be read: %s", station_id, error)
            await websocket.close(UNAVAILABLE_CLOSE_CODE, "try again later")
            return
        connection = OcppConnection(
            websocket,
            StationSession(station_id, version, boot_accepted),
            self._routers[version],
            call_timeout=self._settings.ocpp_call_timeout,
            validate_responses=self._settings.ocpp_validate_responses,
        )
        previous = self.registry.replace(connection)
        if previous is not None:
            log.info("%s: a new connection replaces the previous one", station_id)
            await previous.close(1000, "replaced by a new connection")
        try:
            connected_at = await stations.connected(station_id, version.value)
        except Exception as error:
            log.warning("%s: closing, the connection could not be recorded: %s", station_id, error)
            self.registry.remove(connection)
            await websocket.close(UNAVAILABLE_CLOSE_CODE, "try again later")
            return
        connection.session.connected_at = connected_at
        log.info("%s: connected with OCPP %s", station_id, version)
        if self.keepalive is not None:
            self.keepalive.add(websocket)
        try:
            await connection.serve()
        finally:
            if self.registry.remove(connection):
                log.info("%s: disconnected", station_id)
                stations.disconnected(station_id, connected_at)


__all__ = ["OcppServer"]
