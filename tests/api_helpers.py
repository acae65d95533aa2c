"""Helpers for the REST API tests: a 1.6 station that obeys the API's commands, an SSE reader,
and sign-in shortcuts over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from pydantic import SecretStr

from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import OcppClient, connect

JWT_SECRET = "test-secret-" + "x" * 40


def api_url(running: RunningCentralSystem) -> str:
    return f"http://127.0.0.1:{running.system.api_port}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await client.post(
        "/api/v1/auth/token", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def make_admin(running: RunningCentralSystem, client: httpx.AsyncClient) -> str:
    """The first admin, as `evcharge users add` makes it; returns an access token."""
    await running.system.api.accounts.create(
        "admin@example.com", "admin password 1", _role("admin"), by_operator=True
    )
    return await login(client, "admin@example.com", "admin password 1")


async def make_user(client: httpx.AsyncClient, admin: str, email: str, role: str) -> str:
    response = await client.post(
        "/api/v1/users",
        json={"email": email, "password": f"{role} password 1", "role": role},
        headers=bearer(admin),
    )
    assert response.status_code == 201, response.text
    return await login(client, email, f"{role} password 1")


async def register_driver(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": "driver password 1"}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


async def start_app_session(
    client: httpx.AsyncClient, driver: str, station_id: str, evse_id: int = 1
) -> dict[str, Any]:
    """A driver's app session on a station's EVSE, paid with the test card (201)."""
    response = await client.post(
        "/api/v1/sessions",
        json={"station_id": station_id, "evse_id": evse_id, "payment": {"card_token": "tok_visa"}},
        headers=bearer(driver),
    )
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    return session


def _role(name: str) -> Any:
    from central_system.domain.accounts import Role

    return Role(name)


class ObedientStation16(ChargePoint16):
    """Answers the central system's commands as a real 1.6 station does and remembers them; the
    test then sends StartTransaction / MeterValues / StopTransaction itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.reserve_answer = "Accepted"
        self.silent = False

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> Any:
        self.received.append(
            ("RemoteStartTransaction", {"id_tag": id_tag, "connector_id": connector_id})
        )
        return result16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        self.received.append(("RemoteStopTransaction", {"transaction_id": transaction_id}))
        return result16.RemoteStopTransaction(status="Accepted")

    @on("ReserveNow")
    async def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_: Any
    ) -> Any:
        self.received.append(
            (
                "ReserveNow",
                {"connector_id": connector_id, "id_tag": id_tag, "reservation_id": reservation_id},
            )
        )
        return result16.ReserveNow(status=self.reserve_answer)

    @on("CancelReservation")
    async def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        self.received.append(("CancelReservation", {"reservation_id": reservation_id}))
        return result16.CancelReservation(status="Accepted")

    @on("Reset")
    async def on_reset(self, type: str, **_: Any) -> Any:
        self.received.append(("Reset", {"type": type}))
        if self.silent:
            await asyncio.Event().wait()  # a station that never answers
        return result16.Reset(status="Accepted")

    @on("ClearCache")
    async def on_clear_cache(self, **_: Any) -> Any:
        return result16.ClearCache(status="Accepted")

    def last(self, action: str) -> dict[str, Any] | None:
        found = [payload for name, payload in self.received if name == action]
        return found[-1] if found else None


class SseReader:
    """Reads a text/event-stream response into a list of (event, data) as they arrive."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.comments = 0
        self.content_type: str | None = None

    async def read(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        async with client.stream("GET", url, headers=headers, timeout=None) as response:
            assert response.status_code == 200, await response.aread()
            self.content_type = response.headers.get("content-type")
            event, data = "message", ""
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif line == "" and data:
                    self.events.append((event, json.loads(data)))
                    event, data = "message", ""

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == kind]


@contextlib.asynccontextmanager
async def sse(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> AsyncIterator[SseReader]:
    reader = SseReader()
    task = asyncio.create_task(reader.read(client, url, headers))
    try:
        yield reader
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task


STATION = {
    "id": "CP-API-1",
    "name": "Main Street",
    "location": {"latitude": 52.5200, "longitude": 13.4050},
    "address": "Main Street 1, Berlin",
    "connectors": [
        {"evse_id": 1, "standard": "CCS", "max_power_kw": "150"},
        {"evse_id": 2, "standard": "CHAdeMO", "max_power_kw": "50"},
    ],
    "tariff": {"currency": "EUR", "per_kwh": "0.39", "per_minute": "0.05", "session_fee": "1.00"},
}


@pytest.fixture
async def api_system(database_url: str) -> AsyncIterator[RunningCentralSystem]:
    settings = test_settings(
        database_url, jwt_secret=SecretStr(JWT_SECRET), sse_keepalive=0.5, ocpp_call_timeout=2.0
    )
    async with running_central_system(settings) as running:
        yield running


@pytest.fixture
async def client(api_system: RunningCentralSystem) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url(api_system), timeout=10) as http:
        yield http


async def listed_station(running: RunningCentralSystem, client: httpx.AsyncClient) -> OcppClient:
    """STATION listed through the API by its owner (whom an admin made), then booted."""
    admin = await make_admin(running, client)
    owner = await make_user(client, admin, "owner@example.com", "owner")
    listed = await client.post("/api/v1/stations", json=STATION, headers=bearer(owner))
    assert listed.status_code == 201, listed.text
    return await boot_station(running, str(STATION["id"]))


async def boot_station(running: RunningCentralSystem, station_id: str) -> OcppClient:
    station = await connect(running.ocpp_url, station_id, charge_point_class=ObedientStation16)
    await station.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
    for connector in (1, 2):
        await station.call(
            call16.StatusNotification(
                connector_id=connector, error_code="NoError", status="Available"
            )
        )
    return station
