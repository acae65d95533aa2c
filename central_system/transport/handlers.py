"""What the per-version handler sets share: registration by action, and wire-format helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from central_system.domain.clock import format_timestamp, parse_timestamp
from central_system.services.bundle import Services
from central_system.transport.connection import Handler
from central_system.transport.ocppj import ErrorKind, RpcError

F = TypeVar("F", bound=Callable[..., Any])


def handles(action: str) -> Callable[[F], F]:
    """Mark a method as the handler of a station-initiated action."""

    def mark(method: F) -> F:
        method.ocpp_action = action  # type: ignore[attr-defined]
        return method

    return mark


class HandlerSet:
    """A version's handlers: every method marked with @handles, looked up by action."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._handlers: dict[str, Handler] = {}
        for name in dir(type(self)):
            action = getattr(getattr(type(self), name), "ocpp_action", None)
            if action is not None:
                self._handlers[action] = getattr(self, name)

    def handler(self, action: str) -> Handler | None:
        return self._handlers.get(action)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(self._handlers)


def timestamp(payload: dict[str, Any], key: str, default: datetime | None = None) -> datetime:
    """Read an OCPP dateTime field; a malformed one is a PropertyConstraintViolation."""
    value = payload.get(key)
    if value is None:
        if default is None:
            raise RpcError(ErrorKind.OCCURRENCE, f"{key} is required")
        return default
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError):
        raise RpcError(
            ErrorKind.PROPERTY, f"{key} is not an RFC 3339 date-time: {value!r}"
        ) from None


def wire_time(moment: datetime) -> str:
    return format_timestamp(moment)


def drop_none(payload: dict[str, Any]) -> dict[str, Any]:
    """OCPP-J: absent optional fields are omitted, never null."""
    return {key: value for key, value in payload.items() if value is not None}
