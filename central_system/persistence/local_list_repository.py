"""The local authorization lists stations hold (local_list_state, local_list_entry) and the
registry tokens marked for them (id_token.local_list)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from central_system.domain.authorization import AuthorizationStatus, IdTokenRecord
from central_system.domain.local_lists import LocalListEntry, LocalListState
from central_system.persistence.models import IdTokenRow, utcnow
from central_system.persistence.operations_models import LocalListEntryRow, LocalListStateRow


def _entry(row: LocalListEntryRow) -> LocalListEntry:
    return LocalListEntry(
        id_token=row.id_token,
        status=AuthorizationStatus(row.status),
        token_type=row.token_type,
        expires_at=row.expires_at,
        group_id=row.group_id,
    )


class SqlLocalListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, station_id: str) -> LocalListState | None:
        row = await self._session.get(LocalListStateRow, station_id)
        if row is None:
            return None
        entries = await self._session.scalars(
            select(LocalListEntryRow).where(col(LocalListEntryRow.station_id) == station_id)
        )
        return LocalListState(
            station_id=station_id,
            version=row.version,
            enabled=row.enabled,
            last_status=row.last_status,
            entries={e.id_token: _entry(e) for e in entries},
        )

    async def save(self, state: LocalListState) -> None:
        row = await self._session.get(LocalListStateRow, state.station_id)
        if row is None:
            row = LocalListStateRow(station_id=state.station_id)
            self._session.add(row)
        row.version = state.version
        row.enabled = state.enabled
        row.last_status = state.last_status
        row.updated_at = utcnow()
        stored = {
            e.id_token: e
            for e in await self._session.scalars(
                select(LocalListEntryRow).where(
                    col(LocalListEntryRow.station_id) == state.station_id
                )
            )
        }
        gone = [token for token in stored if token not in state.entries]
        if gone:
            await self._session.execute(
                delete(LocalListEntryRow).where(
                    col(LocalListEntryRow.station_id) == state.station_id,
                    col(LocalListEntryRow.id_token).in_(gone),
                )
            )
        for token, entry in state.entries.items():
            entry_row = stored.get(token)
            if entry_row is None:
                entry_row = LocalListEntryRow(
                    station_id=state.station_id, id_token=token, status=entry.status.value
                )
                self._session.add(entry_row)
            entry_row.token_type = entry.token_type
            entry_row.status = entry.status.value
            entry_row.expires_at = entry.expires_at
            entry_row.group_id = entry.group_id
        await self._session.flush()

    async def synced_stations(self) -> list[str]:
        rows = await self._session.scalars(
            select(col(LocalListStateRow.station_id))
            .where(col(LocalListStateRow.enabled).is_(True))
            .order_by(col(LocalListStateRow.station_id))
        )
        return list(rows)

    async def tokens(self) -> list[IdTokenRecord]:
        rows = await self._session.scalars(
            select(IdTokenRow)
            .where(col(IdTokenRow.local_list).is_(True))
            .order_by(col(IdTokenRow.value))
        )
        return [
            IdTokenRecord(
                value=row.value,
                status=AuthorizationStatus(row.status),
                type=row.type,
                expires_at=row.expires_at,
                group_id=row.group_id,
            )
            for row in rows
        ]

    async def mark(self, value: str, in_list: bool) -> bool:
        row = await self._session.get(IdTokenRow, value)
        if row is None:
            return False
        row.local_list = in_list
        row.updated_at = utcnow()
        await self._session.flush()
        return True
