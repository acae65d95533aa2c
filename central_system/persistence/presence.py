"""The database side of the connection-state writer (`services.presence`): a batch of
connections and disconnections as one bulk UPDATE of the station table, with the outbox rows of
their events, in one unit of work; and of the node liveness (which central-system processes
run, and the stations of one that died)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)

from central_system.domain.events import DomainEvent, StationConnected, StationDisconnected
from central_system.persistence.models import NodeRow, StationRow
from central_system.persistence.repositories import SqlUnitOfWork, SqlUnitOfWorkFactory
from central_system.persistence.types import UTCDateTime
from central_system.services.presence import PresenceChange

_STATIONS: Table = StationRow.__table__  # type: ignore[attr-defined]
_NODES: Table = NodeRow.__table__  # type: ignore[attr-defined]
_IDS_PER_QUERY = 900

# One row per station: a column left None keeps its value.
_UPDATE = (
    update(_STATIONS)
    .where(_STATIONS.c.id == bindparam("station_key", type_=String()))
    .values(
        connected=bindparam("connected", type_=Boolean()),
        connected_node=bindparam("connected_node", type_=String()),
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

    def __init__(self, uow: SqlUnitOfWorkFactory, node_id: str | None = None) -> None:
        self._uow = uow
        self._node_id = node_id

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
                        "connected_node": self._node_id,
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


class SqlNodeStore:
    """Implements the NodeStore port."""

    def __init__(self, uow: SqlUnitOfWorkFactory) -> None:
        self._uow = uow

    async def seen(self, node_id: str, started_at: datetime, at: datetime) -> bool:
        async with self._uow() as uow:
            result: Any = await uow.session.execute(
                update(_NODES).where(_NODES.c.id == node_id).values(seen_at=at)
            )
            if result.rowcount:
                await uow.commit()
                return True
            await uow.session.execute(
                _NODES.insert().values(id=node_id, started_at=started_at, seen_at=at)
            )
            await uow.commit()
            return False

    async def release_dead(self, seen_before: datetime, at: datetime) -> list[str]:
        async with self._uow() as uow:
            session = uow.session
            dead = list(
                await session.scalars(select(_NODES.c.id).where(_NODES.c.seen_at < seen_before))
            )
            if not dead:
                return []
            released = await self._disconnect(uow, _STATIONS.c.connected_node.in_(dead), at)
            await session.execute(delete(_NODES).where(_NODES.c.id.in_(dead)))
            await uow.commit()
            return released

    async def leave(self, node_id: str, at: datetime) -> list[str]:
        async with self._uow() as uow:
            released = await self._disconnect(uow, _STATIONS.c.connected_node == node_id, at)
            await uow.session.execute(delete(_NODES).where(_NODES.c.id == node_id))
            await uow.commit()
            return released

    async def reclaim(self, node_id: str, connections: Sequence[tuple[str, datetime]]) -> list[str]:
        async with self._uow() as uow:
            reclaimed: list[str] = []
            for station_id, connected_at in connections:
                result = await uow.session.execute(
                    update(_STATIONS)
                    .where(
                        and_(
                            _STATIONS.c.id == station_id,
                            _STATIONS.c.last_connected_at == connected_at,
                            _STATIONS.c.connected_node.is_(None),
                        )
                    )
                    .values(connected=True, connected_node=node_id)
                    .returning(_STATIONS.c.id, _STATIONS.c.ocpp_version)
                )
                for reclaimed_id, version in result:
                    reclaimed.append(reclaimed_id)
                    uow.record(StationConnected(reclaimed_id, version or "", connected_at))
            await uow.commit()
            return reclaimed

    @staticmethod
    async def _disconnect(
        uow: SqlUnitOfWork, which: ColumnElement[bool], at: datetime
    ) -> list[str]:
        result = await uow.session.execute(
            update(_STATIONS)
            .where(and_(_STATIONS.c.connected, which))
            .values(connected=False, connected_node=None, last_disconnected_at=at)
            .returning(_STATIONS.c.id)
        )
        released = sorted(station_id for (station_id,) in result)
        uow.record(*(StationDisconnected(station_id, at) for station_id in released))
        return released


def _row(station_id: str) -> dict[str, Any]:
    return {
        "station_key": station_id,
        "connected": False,
        "connected_node": None,
        "ocpp_version": None,
        "last_connected_at": None,
        "last_disconnected_at": None,
    }


__all__ = ["SqlNodeStore", "SqlPresenceStore"]
