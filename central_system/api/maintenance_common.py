"""What the station-maintenance routers share: running a command with its audit entry."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import Request

from central_system.api.deps import Ctx, client_address
from central_system.domain.accounts import Principal
from central_system.services.errors import Conflict
from central_system.services.ports import StationCallError, StationCallTimeout, StationOffline

T = TypeVar("T")


def _outcome(result: Any) -> str:
    if isinstance(result, tuple):
        result = result[-1]
    status = getattr(result, "status", None)
    if isinstance(result, list) and result:  # steps of a multi-step flow: the last answer
        status = getattr(result[-1][1], "status", None)
    return str(status) if status is not None else "answered"


async def audited(
    request: Request,
    ctx: Ctx,
    caller: Principal,
    station_id: str,
    name: str,
    call: Awaitable[T],
    details: dict[str, Any] | None = None,
) -> T:
    """Await a command to a station and write it to the audit log with its outcome. A command
    the station's OCPP version does not have (ValueError) is a 409 `unsupported-by-station`."""
    outcome = "error"
    try:
        result = await call
        outcome = _outcome(result)
        return result
    except StationOffline:
        outcome = "offline"
        raise
    except StationCallTimeout:
        outcome = "timeout"
        raise
    except StationCallError as error:
        outcome = error.code
        raise
    except ValueError as error:
        outcome = "invalid"
        raise Conflict(str(error), problem="unsupported-by-station") from error
    finally:
        await ctx.audit.record(
            f"command.{name}",
            outcome,
            actor_id=caller.user_id,
            target=station_id,
            source=client_address(request),
            details=details,
        )
