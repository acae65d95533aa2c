"""Reading and writing 2.0.1 device-model structures (ComponentType, VariableType, NotifyReport
reportData, NotifyMonitoringReport monitors); shared by the handlers and the commands."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from central_system.domain.device_model import (
    ACTUAL,
    Monitor,
    ReportedAttribute,
    ReportedVariable,
    VariableRef,
)
from central_system.transport.handlers import drop_none


def component_variable(ref: VariableRef) -> dict[str, Any]:
    """ComponentType and VariableType of a variable."""
    evse = drop_none({"id": ref.evse_id, "connectorId": ref.connector_id}) if ref.evse_id else None
    return {
        "component": drop_none(
            {"name": ref.component, "instance": ref.component_instance, "evse": evse}
        ),
        "variable": drop_none({"name": ref.variable, "instance": ref.variable_instance}),
    }


def variable_ref(entry: dict[str, Any]) -> VariableRef:
    """The variable of a wire entry with `component` and `variable`."""
    component = entry["component"]
    variable = entry.get("variable") or {}
    evse = component.get("evse") or {}
    return VariableRef(
        component=component["name"],
        variable=variable.get("name", ""),
        component_instance=component.get("instance"),
        evse_id=evse.get("id"),
        connector_id=evse.get("connectorId"),
        variable_instance=variable.get("instance"),
    )


def reported_variables(report_data: list[dict[str, Any]]) -> list[ReportedVariable]:
    """NotifyReport reportData (B07/B08)."""
    return [
        ReportedVariable(
            ref=variable_ref(data),
            attributes=tuple(
                ReportedAttribute(
                    type=attribute.get("type", ACTUAL),
                    value=attribute.get("value"),
                    mutability=attribute.get("mutability", "ReadWrite"),
                    persistent=attribute.get("persistent"),
                    constant=attribute.get("constant"),
                )
                for attribute in data.get("variableAttribute", [])
            ),
            characteristics=data.get("variableCharacteristics"),
        )
        for data in report_data
    ]


def reported_monitors(monitor_data: list[dict[str, Any]]) -> dict[VariableRef, tuple[Monitor, ...]]:
    """NotifyMonitoringReport monitor entries (N02/N03)."""
    reported: dict[VariableRef, tuple[Monitor, ...]] = {}
    for data in monitor_data:
        ref = variable_ref(data)
        reported[ref] = reported.get(ref, ()) + tuple(
            Monitor(
                id=m["id"],
                type=m["type"],
                value=Decimal(str(m["value"])),
                severity=m["severity"],
                transaction=m.get("transaction", False),
            )
            for m in data.get("variableMonitoring", [])
        )
    return reported


def component_variable_criteria(ref: VariableRef) -> dict[str, Any]:
    """A ComponentVariableType: the variable may be left out (the whole component)."""
    entry = component_variable(ref)
    if not ref.variable:
        del entry["variable"]
    return entry
