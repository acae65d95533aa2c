"""What the station configuration and control routers share: commands with their audit entry, and
request/response bodies for variables, monitors, local lists and reservations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Path, Request
from pydantic import BaseModel, ConfigDict, Field

from central_system.api.deps import Ctx, client_address
from central_system.domain.accounts import Principal
from central_system.domain.device_model import VariableRef
from central_system.services.errors import Conflict, ServiceError
from central_system.services.ports import StationCallError, StationCallTimeout, StationOffline

T = TypeVar("T")

StationPath = Annotated[str, Path(min_length=1, max_length=48, description="Station id")]
Name50 = Annotated[str, Field(min_length=1, max_length=50)]
Instance = Annotated[str | None, Field(min_length=1, max_length=50)]


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


def command_outcome(result: Any) -> str:
    """What the audit log records of a command's result: the station's status where there is
    one (a dict answer, an answer object, a service result wrapping one as `outcome`, the last
    answer of a tuple or of a multi-step flow's (step, answer) list)."""
    if isinstance(result, tuple | list) and result:
        result = result[-1]
        if isinstance(result, tuple) and result:
            result = result[-1]
    if result is None:
        return "no-transaction"
    status = result.get("status") if isinstance(result, dict) else getattr(result, "status", None)
    if status is None:
        status = getattr(getattr(result, "outcome", None), "status", None)
    return str(status)[:20] if status is not None else "answered"


async def audited(
    request: Request,
    ctx: Ctx,
    caller: Principal,
    station_id: str,
    name: str,
    call: Awaitable[T],
    details: dict[str, Any] | None = None,
    outcome: Callable[[T], str] = command_outcome,
) -> T:
    """Await a command to a station and write it to the audit log with its outcome. A command
    the station's OCPP version does not have, or whose payload its schema refuses
    (ValueError), is a 409 `unsupported-by-station`."""
    result_outcome = "error"
    try:
        result = await call
        result_outcome = outcome(result)
        return result
    except StationOffline:
        result_outcome = "offline"
        raise
    except StationCallTimeout:
        result_outcome = "timeout"
        raise
    except StationCallError as error:
        result_outcome = error.code
        raise
    except ServiceError:
        result_outcome = "refused"
        raise
    except ValueError as error:
        result_outcome = "invalid"
        raise Conflict(str(error), problem="unsupported-by-station") from error
    finally:
        await ctx.audit.record(
            f"command.{name}",
            result_outcome,
            actor_id=caller.user_id,
            target=station_id,
            source=client_address(request),
            details=details,
        )


# --- variables -----------------------------------------------------------------------------


class VariableIn(BaseModel):
    """A variable of a component (2.0.1 ComponentType + VariableType)."""

    model_config = _examples({"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"})
    component: Name50
    variable: Name50
    component_instance: Instance = None
    evse_id: Annotated[int | None, Field(ge=1, le=100)] = None
    connector_id: Annotated[int | None, Field(ge=1, le=10)] = None
    variable_instance: Instance = None
    attribute_type: Literal["Actual", "Target", "MinSet", "MaxSet"] = "Actual"

    def ref(self) -> VariableRef:
        return VariableRef(
            component=self.component,
            variable=self.variable,
            component_instance=self.component_instance,
            evse_id=self.evse_id,
            connector_id=self.connector_id if self.evse_id else None,
            variable_instance=self.variable_instance,
        )


class VariableSetIn(VariableIn):
    model_config = _examples(
        {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "300"}
    )
    value: Annotated[str, Field(max_length=2500)]


class ComponentIn(BaseModel):
    """A component, or one variable of it, for custom reports."""

    component: Name50
    variable: Annotated[str | None, Field(min_length=1, max_length=50)] = None
    component_instance: Instance = None
    evse_id: Annotated[int | None, Field(ge=1, le=100)] = None
    connector_id: Annotated[int | None, Field(ge=1, le=10)] = None
    variable_instance: Instance = None

    def ref(self) -> VariableRef:
        return VariableRef(
            component=self.component,
            variable=self.variable or "",
            component_instance=self.component_instance,
            evse_id=self.evse_id,
            connector_id=self.connector_id if self.evse_id else None,
            variable_instance=self.variable_instance if self.variable else None,
        )


class VariableOut(BaseModel):
    component: str
    variable: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable_instance: str | None
    attribute_type: str
    value: str | None
    mutability: str | None
    data_type: str | None
    unit: str | None
    characteristics: dict[str, Any]
    updated_at: datetime | None


class VariableResultOut(BaseModel):
    component: str
    variable: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable_instance: str | None
    attribute_type: str
    status: str
    value: str | None = None


class VariablesAnswerOut(BaseModel):
    results: list[VariableResultOut]
    response: dict[str, Any] = Field(
        description="The station's answer (combined when the request was split)."
    )


def ref_fields(ref: VariableRef) -> dict[str, Any]:
    return {
        "component": ref.component,
        "variable": ref.variable,
        "component_instance": ref.component_instance,
        "evse_id": ref.evse_id,
        "connector_id": ref.connector_id,
        "variable_instance": ref.variable_instance,
    }


# --- monitors ------------------------------------------------------------------------------


class MonitorIn(VariableIn):
    model_config = _examples(
        {
            "component": "EVSE",
            "evse_id": 1,
            "variable": "Power",
            "type": "UpperThreshold",
            "value": "22000",
            "severity": 5,
        }
    )
    type: Literal["UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned"]
    value: Annotated[Decimal, Field(max_digits=18, decimal_places=6)]
    severity: Annotated[int, Field(ge=0, le=9)]
    transaction: bool = False
    id: Annotated[int | None, Field(ge=0, description="Replace the station's monitor")] = None


class MonitorOut(BaseModel):
    id: int
    type: str
    value: Decimal
    severity: int
    transaction: bool


class VariableMonitorsOut(BaseModel):
    component: str
    variable: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable_instance: str | None
    monitors: list[MonitorOut]


class MonitorResultOut(BaseModel):
    component: str
    variable: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable_instance: str | None
    status: str
    type: str
    severity: int
    id: int | None


class MonitorsAnswerOut(BaseModel):
    results: list[MonitorResultOut]
    response: dict[str, Any]


class ReportOut(BaseModel):
    model_config = _examples(
        {"request_id": 81723, "status": "Accepted", "response": {"status": "Accepted"}}
    )
    request_id: int = Field(description="The requestId the report's parts will carry.")
    status: str | None
    response: dict[str, Any]
