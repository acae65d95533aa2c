"""Shared test helpers: waiting on conditions (never fixed sleeps) and OCPP test clients."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import websockets
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v201 import ChargePoint as ChargePoint201
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")


async def wait_for(
    predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02, what: str = ""
) -> Any:
    """Poll `predicate` (sync or async) until it returns a truthy value; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {what or predicate}")
        await asyncio.sleep(interval)


def basic_auth(station_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class OcppClient:
    """An `ocpp` package ChargePoint connected over a real websocket, its receive loop running."""

    def __init__(self, websocket: Any, charge_point: Any, task: asyncio.Task[None]) -> None:
        self.websocket = websocket
        self.cp = charge_point
        self._task = task

    async def call(self, payload: Any) -> Any:
        return await self.cp.call(payload, suppress=False)

    async def close(self) -> None:
        self._task.cancel()
        await self.websocket.close()


async def connect(
    url: str,
    station_id: str,
    *,
    version: str = "1.6",
    password: str | None = None,
    charge_point_class: type | None = None,
) -> OcppClient:
    headers = basic_auth(station_id, password) if password else {}
    websocket = await websockets.connect(
        f"{url}/{station_id}",
        subprotocols=[f"ocpp{version}"],  # type: ignore[list-item]
        additional_headers=headers,
    )
    cls = charge_point_class or (ChargePoint16 if version == "1.6" else ChargePoint201)
    charge_point = cls(station_id, websocket)
    task = asyncio.create_task(charge_point.start())
    return OcppClient(websocket, charge_point, task)


@contextlib.contextmanager
def statements_with(engine: AsyncEngine, *fragments: str) -> Iterator[list[str]]:
    """The SQL statements `engine` runs within the block that contain every one of
    `fragments` (how many queries a round costs, whatever else runs meanwhile)."""
    seen: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if all(fragment in statement for fragment in fragments):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
