"""A station's device model (2.0.1 component variables, 1.6 configuration keys) and its monitors,
kept in device_variable. Absent instance / EVSE / connector are stored as '' / 0; the monitors of
a variable are one more row of it with the attribute type MONITORS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from central_system.domain.device_model import (
    MONITORS,
    Monitor,
    VariableRef,
    VariableValue,
    monitors_as_characteristics,
    monitors_from_characteristics,
)
from central_system.persistence.models import utcnow
from central_system.persistence.operations_models import DeviceVariableRow

_Key = tuple[str, str, int, int, str, str, str]


def _key(ref: VariableRef, attribute_type: str) -> _Key:
    return (
        ref.component,
        ref.component_instance or "",
        ref.evse_id or 0,
        ref.connector_id or 0,
        ref.variable,
        ref.variable_instance or "",
        attribute_type,
    )


def _row_key(row: DeviceVariableRow) -> _Key:
    return (
        row.component,
        row.component_instance,
        row.evse_id,
        row.connector_id,
        row.variable,
        row.variable_instance,
        row.attribute_type,
    )


def _ref(row: DeviceVariableRow) -> VariableRef:
    return VariableRef(
        component=row.component,
        variable=row.variable,
        component_instance=row.component_instance or None,
        evse_id=row.evse_id or None,
        connector_id=row.connector_id or None,
        variable_instance=row.variable_instance or None,
    )


def _value(row: DeviceVariableRow) -> VariableValue:
    return VariableValue(
        ref=_ref(row),
        attribute_type=row.attribute_type,
        value=row.value,
        mutability=row.mutability,
        data_type=row.data_type,
        unit=row.unit,
        characteristics=dict(row.characteristics or {}),
        updated_at=row.updated_at,
    )


class SqlDeviceModelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _rows(self, station_id: str, *where: Any) -> list[DeviceVariableRow]:
        rows = await self._session.scalars(
            select(DeviceVariableRow)
            .where(col(DeviceVariableRow.station_id) == station_id, *where)
            .order_by(
                col(DeviceVariableRow.component),
                col(DeviceVariableRow.component_instance),
                col(DeviceVariableRow.evse_id),
                col(DeviceVariableRow.connector_id),
                col(DeviceVariableRow.variable),
                col(DeviceVariableRow.variable_instance),
                col(DeviceVariableRow.attribute_type),
            )
        )
        return list(rows)

    async def values(
        self,
        station_id: str,
        *,
        component: str | None = None,
        variable: str | None = None,
        include_monitors: bool = False,
    ) -> list[VariableValue]:
        where = []
        if component is not None:
            where.append(col(DeviceVariableRow.component) == component)
        if variable is not None:
            where.append(col(DeviceVariableRow.variable) == variable)
        if not include_monitors:
            where.append(col(DeviceVariableRow.attribute_type) != MONITORS)
        return [_value(row) for row in await self._rows(station_id, *where)]

    async def get(
        self, station_id: str, ref: VariableRef, attribute_type: str
    ) -> VariableValue | None:
        row = await self._session.get(DeviceVariableRow, (station_id, *_key(ref, attribute_type)))
        return _value(row) if row is not None else None

    async def save(self, station_id: str, values: Sequence[VariableValue]) -> None:
        if not values:
            return
        components = sorted({v.ref.component for v in values})
        stored = {
            _row_key(row): row
            for row in await self._rows(
                station_id, col(DeviceVariableRow.component).in_(components)
            )
        }
        for value in values:
            key = _key(value.ref, value.attribute_type)
            row = stored.get(key)
            if row is None:
                component, c_instance, evse, connector, variable, v_instance, kind = key
                row = DeviceVariableRow(
                    station_id=station_id,
                    component=component,
                    component_instance=c_instance,
                    evse_id=evse,
                    connector_id=connector,
                    variable=variable,
                    variable_instance=v_instance,
                    attribute_type=kind,
                )
                self._session.add(row)
                stored[key] = row
            row.value = value.value
            row.mutability = value.mutability
            row.data_type = value.data_type
            row.unit = value.unit
            row.characteristics = dict(value.characteristics)
            row.updated_at = value.updated_at or utcnow()
        await self._session.flush()

    async def delete(self, station_id: str, *, component: str | None = None) -> None:
        statement = delete(DeviceVariableRow).where(
            col(DeviceVariableRow.station_id) == station_id,
            col(DeviceVariableRow.attribute_type) != MONITORS,
        )
        if component is not None:
            statement = statement.where(col(DeviceVariableRow.component) == component)
        await self._session.execute(statement)

    async def monitors(self, station_id: str) -> dict[VariableRef, tuple[Monitor, ...]]:
        rows = await self._rows(station_id, col(DeviceVariableRow.attribute_type) == MONITORS)
        found = {
            _ref(row): monitors_from_characteristics(row.characteristics or {}) for row in rows
        }
        return {ref: monitors for ref, monitors in found.items() if monitors}

    async def save_monitors(
        self, station_id: str, monitors: Mapping[VariableRef, tuple[Monitor, ...]]
    ) -> None:
        await self._session.execute(
            delete(DeviceVariableRow).where(
                col(DeviceVariableRow.station_id) == station_id,
                col(DeviceVariableRow.attribute_type) == MONITORS,
            )
        )
        now = utcnow()
        for ref, found in monitors.items():
            if not found:
                continue
            component, c_instance, evse, connector, variable, v_instance, kind = _key(ref, MONITORS)
            self._session.add(
                DeviceVariableRow(
                    station_id=station_id,
                    component=component,
                    component_instance=c_instance,
                    evse_id=evse,
                    connector_id=connector,
                    variable=variable,
                    variable_instance=v_instance,
                    attribute_type=kind,
                    characteristics=monitors_as_characteristics(found),
                    updated_at=now,
                )
            )
        await self._session.flush()
