"""Commands that depend on the OCPP version of the station they go to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from central_system.services.ports import StationOffline
from central_system.transport.gateway import ConnectionRegistry
from central_system.transport.ocppj import OcppVersion

Send = Callable[[str, str, dict[str, Any], float | None], Awaitable[dict[str, Any]]]


class VersionedCommands:
    """Commands that need the station's OCPP version; sends through `send` (the counting
    operations adapter) or the registry."""

    def __init__(self, registry: ConnectionRegistry, send: Send | None = None) -> None:
        self._registry = registry
        self._send_with = send

    def is_connected(self, station_id: str) -> bool:
        return self._registry.is_connected(station_id)

    def ocpp_version(self, station_id: str) -> str | None:
        return self._registry.ocpp_version(station_id)

    def _version(self, station_id: str) -> OcppVersion:
        connection = self._registry.get(station_id)
        if connection is None:
            raise StationOffline(f"station {station_id} is not connected")
        return connection.version

    async def _send(self, station_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self._send_with is not None:
            return await self._send_with(station_id, action, payload, None)
        return await self._registry.call(station_id, action, payload)
