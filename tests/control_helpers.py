"""Helpers for the station configuration and control tests: `ocpp` package stations that answer
the central system's commands from a script and remember what they received, and an operator
signed in to the REST API over real HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, MessageType, unpack, validate_payload
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from pydantic import SecretStr

from central_system.domain.accounts import Account, Role
from tests.api_helpers import JWT_SECRET, api_url, bearer
from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import OcppClient, wait_for

# An answer: a payload, a function of the request's payload, or an OCPP error to answer with.
Answer = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]] | OCPPError


class Scripted:
    """Answers the central system's CALLs from `answers` (by action) and keeps every CALL it
    received in `received`, as sent (camelCase). The requests are validated against the `ocpp`
    package's schemas too. Actions without an answer get the package's NotImplemented /
    NotSupported CALLERROR."""

    _ocpp_version: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers: dict[str, Answer] = {}
        self.received: list[tuple[str, dict[str, Any]]] = []

    async def route_message(self, raw_msg: str) -> None:
        message = unpack(raw_msg)
        if message.message_type_id != MessageType.Call:
            await super().route_message(raw_msg)  # type: ignore[misc]
            return
        assert isinstance(message, Call)
        self.received.append((message.action, message.payload))
        answer = self.answers.get(message.action)
        if answer is None:
            await super().route_message(raw_msg)  # type: ignore[misc]
            return
        await validate_payload(message, self._ocpp_version)
        if isinstance(answer, OCPPError):
            await self._send(message.create_call_error(answer).to_json())  # type: ignore[attr-defined]
            return
        payload = answer(message.payload) if callable(answer) else answer
        await self._send(message.create_call_result(payload).to_json())  # type: ignore[attr-defined]

    def of(self, action: str) -> list[dict[str, Any]]:
        """The payloads of the `action` CALLs received, oldest first."""
        return [payload for name, payload in self.received if name == action]

    def last(self, action: str) -> dict[str, Any]:
        found = self.of(action)
        assert found, f"no {action} received"
        return found[-1]


class ScriptedStation16(Scripted, ChargePoint16):
    pass


class ScriptedStation201(Scripted, ChargePoint201):
    pass


def scripted(client: OcppClient) -> Scripted:
    station = client.cp
    assert isinstance(station, Scripted)
    return station


async def connect_scripted(
    running: RunningCentralSystem,
    station_id: str,
    version: str,
    answers: dict[str, Answer] | None = None,
) -> OcppClient:
    """Connect a scripted station whose answers are in place before it receives anything."""
    websocket = await websockets.connect(
        f"{running.ocpp_url}/{station_id}",
        subprotocols=[f"ocpp{version}"],  # type: ignore[list-item]
    )
    cls = ScriptedStation16 if version == "1.6" else ScriptedStation201
    station = cls(station_id, websocket)
    station.answers.update(answers or {})
    return OcppClient(websocket, station, asyncio.create_task(station.start()))


async def station16(
    running: RunningCentralSystem, station_id: str, answers: dict[str, Answer] | None = None
) -> OcppClient:
    """A registered, booted 1.6 station with two available connectors."""
    await running.services.stations.register(station_id)
    client = await connect_scripted(running, station_id, "1.6", answers)
    boot = await client.call(
        call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
    )
    assert boot.status == "Accepted"
    for connector in (1, 2):
        await client.call(
            call16.StatusNotification(
                connector_id=connector, error_code="NoError", status="Available"
            )
        )
    return client


async def station201(
    running: RunningCentralSystem, station_id: str, answers: dict[str, Answer] | None = None
) -> OcppClient:
    """A registered, booted 2.0.1 station with two available EVSEs."""
    await running.services.stations.register(station_id)
    client = await connect_scripted(running, station_id, "2.0.1", answers)
    boot = await client.call(
        call201.BootNotification(
            charging_station={"model": "DC-2", "vendor_name": "Acme"}, reason="PowerUp"
        )
    )
    assert boot.status == "Accepted"
    for evse in (1, 2):
        await client.call(
            call201.StatusNotification(
                timestamp=now_text(),
                connector_status="Available",
                evse_id=evse,
                connector_id=1,
            )
        )
    return client


def now_text(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


@dataclass
class Operator:
    """An admin signed in to the REST API of a running central system."""

    running: RunningCentralSystem
    http: httpx.AsyncClient
    headers: dict[str, str]

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params or None, headers=self.headers)

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self.headers)

    async def put(self, path: str, body: Any = None) -> httpx.Response:
        return await self.http.put(path, json=body, headers=self.headers)

    async def delete(self, path: str) -> httpx.Response:
        return await self.http.delete(path, headers=self.headers)

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """Call and expect `status`; returns the JSON body."""
        response = await self.http.request(
            method, path, json=body, headers=self.headers, timeout=10
        )
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    async def token(self, value: str, *, local_list: bool = False, **fields: Any) -> None:
        """Add or change a registry token (and put it into the local lists)."""
        await self.ok("PUT", f"/api/v1/tokens/{value}", {"status": "Accepted", **fields})
        if local_list:
            await self.ok("PUT", f"/api/v1/tokens/{value}/local-list", {"in_list": True})


@pytest.fixture
async def operator(database_url: str) -> AsyncIterator[Operator]:
    settings = test_settings(
        database_url,
        jwt_secret=SecretStr(JWT_SECRET),
        ocpp_call_timeout=3.0,
        maintenance_interval=0.1,
    )
    async with (
        running_central_system(settings) as running,
        httpx.AsyncClient(base_url=api_url(running), timeout=10) as http,
    ):
        yield Operator(running, http, bearer(await _admin_token(running)))


async def _admin_token(running: RunningCentralSystem) -> str:
    """An admin account and its access token, made directly (no password hashing: fast)."""
    account = Account(id=str(uuid.uuid4()), email="operator@example.com", role=Role.ADMIN)
    async with running.system.uow() as uow:
        await uow.accounts.add(account)
        await uow.commit()
    context = running.system.api.context
    assert context is not None
    return context.tokens.issue(account).access_token


async def eventually(predicate: Callable[[], Any], what: str = "") -> Any:
    return await wait_for(predicate, timeout=5.0, what=what)


__all__ = [
    "Operator",
    "ScriptedStation16",
    "ScriptedStation201",
    "eventually",
    "now_text",
    "operator",
    "scripted",
    "station16",
    "station201",
]
