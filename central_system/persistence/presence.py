"""The database side of the connection-state writer (`services.presence`): a batch of
connections and disconnections as one bulk UPDATE of the station table, with the outbox rows of
their events, in one unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, Table, bindparam, func, select, update

from central_system.domain.events import DomainEvent, StationConnected, StationDisconnected
from central_system.persistence.models import StationRow
from central_system.persistence.repositories import SqlUnitOfWorkFactory
from central_system.persistence.types import UTCDateTime
from central_system.services.presence import PresenceChange

_STATIONS: Table = StationRow.__table__  # type: ignore[attr-defined]
_IDS_PER_QUERY = 900

# One row per station: a column left None keeps its value.
_UPDATE = (
    update(_STATIONS)
    .where(_STATIONS.c.id == bindparam("station_key", type_=String()))
    .values(
        connected=bindparam("connected", type_=Boolean()),
        ocpp_version=func.coalesce(
            bindparam("ocpp_version", type_=String()), _STATIONS.c.ocpp_version
        ),
        last_connected_at=func.coalesce(
            bindparam("last_connected_at", type_=UTCDateTime()), _STATIONS.c.last_connected_at
        ),
        last_disconnected_at=func.coalesce(
            bindparam("last_disconnected_at", type_=UTCDateTime()),
            _STATIONS.c.last_disconnected_at,
        ),
    )
)
_LAST_CONNECTED = select(_STATIONS.c.id, _STATIONS.c.last_connected_at)


class SqlPresenceStore:
    """Implements the PresenceStore port."""

    def __init__(self, uow: SqlUnitOfWorkFactory) -> None:
        self._uow = uow

    async def write(self, changes: Sequence[PresenceChange]) -> None:
        async with self._uow() as uow:
            session = uow.session
            ending = sorted({change.station_id for change in changes if not change.connected})
            recorded: dict[str, datetime | None] = {}
            for start in range(0, len(ending), _IDS_PER_QUERY):
                chunk = ending[start : start + _IDS_PER_QUERY]
                result = await session.execute(_LAST_CONNECTED.where(_STATIONS.c.id.in_(chunk)))
                recorded.update((station_id, at) for station_id, at in result)
            rows: dict[str, dict[str, Any]] = {}
            events: list[DomainEvent] = []
            for change in changes:
                station_id = change.station_id
                if change.connected:
                    recorded[station_id] = change.at
                    values = {
                        "connected": True,
                        "ocpp_version": change.ocpp_version,
                        "last_connected_at": change.at,
                    }
                    events.append(
                        StationConnected(station_id, change.ocpp_version or "", change.at)
                    )
                else:
                    last = recorded.get(station_id)
                    if last is not None and change.since is not None and last > change.since:
                        continue  # connected again since: this connection's end changes nothing
                    values = {"connected": False, "last_disconnected_at": change.at}
                    events.append(StationDisconnected(station_id, change.at))
                row = rows.setdefault(station_id, _row(station_id))
                row.update(values)
            if rows:
                # In station order: two writers never wait on each other's rows crosswise.
                await session.execute(_UPDATE, [rows[key] for key in sorted(rows)])
            uow.record(*events)
            await uow.commit()


def _row(station_id: str) -> dict[str, Any]:
    return {
        "station_key": station_id,
        "connected": False,
        "ocpp_version": None,
        "last_connected_at": None,
        "last_disconnected_at": None,
    }


__all__ = ["SqlPresenceStore"]
