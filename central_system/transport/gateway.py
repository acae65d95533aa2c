"""The connected stations of this process, and the gateway that sends them commands."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from central_system.services.ports import StationOffline
from central_system.transport.connection import OcppConnection

log = logging.getLogger(__name__)

REPLACED_CLOSE_CODE = 1000


class ConnectionRegistry:
    """Connected stations by id. Implements the StationGateway port."""

    def __init__(self) -> None:
        self._connections: dict[str, OcppConnection] = {}

    def __len__(self) -> int:
        return len(self._connections)

    def get(self, station_id: str) -> OcppConnection | None:
        return self._connections.get(station_id)

    def station_ids(self) -> list[str]:
        return list(self._connections)

    def replace(self, connection: OcppConnection) -> OcppConnection | None:
        """Make `connection` the station's connection; return the one it replaces."""
        previous = self._connections.get(connection.station_id)
        self._connections[connection.station_id] = connection
        return previous

    def remove(self, connection: OcppConnection) -> bool:
        """Forget `connection` if it is still the station's current one."""
        if self._connections.get(connection.station_id) is connection:
            del self._connections[connection.station_id]
            return True
        return False

    def recorded_connections(self) -> list[tuple[str, datetime]]:
        """(station id, when its connection was recorded) of every connection recorded."""
        return [
            (station_id, connection.session.connected_at)
            for station_id, connection in self._connections.items()
            if connection.session.connected_at is not None
        ]

    def is_connected(self, station_id: str) -> bool:
        return station_id in self._connections

    def ocpp_version(self, station_id: str) -> str | None:
        connection = self._connections.get(station_id)
        return connection.version.value if connection else None

    async def call(
        self,
        station_id: str,
        action: str,
        payload: dict[str, Any],
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        connection = self._connections.get(station_id)
        if connection is None:
            raise StationOffline(f"station {station_id} is not connected")
        return await connection.call(action, payload, timeout=timeout)

    async def close_all(self, reason: str = "central system shutting down") -> None:
        for connection in list(self._connections.values()):
            await connection.close(1001, reason)
