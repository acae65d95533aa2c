"""Helpers for the certification-case tests: one central system per test module and database
(SQLite, then PostgreSQL), each test with its own station ids; an admin's API token; stations
booted with the `ocpp` package's client."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import select

from tests.conftest import (
    RunningCentralSystem,
    _emptied_postgres_database,
    _migrated_sqlite_template,
    running_central_system,
    test_settings,
)
from tests.helpers import OcppClient, connect

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def ts(offset_s: float = 0) -> str:
    return (NOW + timedelta(seconds=offset_s)).isoformat()


def shared_system(**overrides: Any) -> Any:
    """A module-scoped fixture `system`: the central system running on a migrated database,
    shared by the module's tests (run them with `pytest.mark.asyncio(loop_scope="module")`).
    `overrides` are settings; a callable value is called with the module's temporary directory."""

    @pytest_asyncio.fixture(scope="module", loop_scope="module", params=DATABASES, name="system")
    async def system(
        request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory,
        _template_directory: Any,
    ) -> AsyncIterator[RunningCentralSystem]:
        directory = tmp_path_factory.mktemp("system")
        if request.param == "sqlite":
            path = directory / "evcharge.db"
            shutil.copyfile(await _migrated_sqlite_template(_template_directory), path)
            url = f"sqlite+aiosqlite:///{path}"
        else:
            url = await _emptied_postgres_database(request.getfixturevalue("postgres_server_url"))
        values = {
            key: value(directory) if callable(value) else value for key, value in overrides.items()
        }
        async with running_central_system(test_settings(url, **values)) as running:
            yield running

    return system


@pytest_asyncio.fixture(scope="module", loop_scope="module", name="admin")
async def admin_fixture(system: RunningCentralSystem) -> str:
    """An admin's access token for the module's central system."""
    from central_system.domain.accounts import Role

    await system.system.api.accounts.create(
        "admin@example.com", "admin password 1", Role.ADMIN, by_operator=True
    )
    async with api(system) as http:
        response = await http.post(
            "/api/v1/auth/token",
            data={"username": "admin@example.com", "password": "admin password 1"},
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
    return token


def api(running: RunningCentralSystem, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{running.system.api_port}", headers=headers, timeout=10
    )


async def rows(running: RunningCentralSystem, model: type, *where: object) -> list[Any]:
    async with running.system.uow() as uow:
        return list((await uow.session.scalars(select(model).where(*where))).all())


async def booted16(
    running: RunningCentralSystem,
    station_id: str,
    charge_point_class: type | None = None,
    **register: Any,
) -> OcppClient:
    await running.services.stations.register(station_id, **register)
    client = await connect(
        running.ocpp_url,
        station_id,
        charge_point_class=charge_point_class,
        password=register.get("password"),
    )
    reply = await client.call(
        call16.BootNotification(charge_point_model="DC-2", charge_point_vendor="Acme")
    )
    assert reply.status == "Accepted"
    return client


async def booted201(
    running: RunningCentralSystem,
    station_id: str,
    charge_point_class: type | None = None,
    **register: Any,
) -> OcppClient:
    await running.services.stations.register(station_id, **register)
    client = await connect(
        running.ocpp_url,
        station_id,
        version="2.0.1",
        charge_point_class=charge_point_class,
        password=register.get("password"),
    )
    reply = await client.call(
        call201.BootNotification(
            charging_station={"model": "DC-2", "vendor_name": "Acme", "serial_number": "SN-1"},
            reason="PowerUp",
        )
    )
    assert reply.status == "Accepted"
    return client


class Recorder:
    """Mix-in for `ocpp` ChargePoints (put it first): remembers what the central system sent,
    and answers with what a test put in `answers` (a value, or a callable giving one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Any] = {}

    def record(self, action: str, payload: dict[str, Any]) -> None:
        self.received.append((action, payload))

    def answer(self, action: str, default: Any) -> Any:
        value = self.answers.get(action, default)
        return value() if callable(value) else value

    def of(self, action: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.received if name == action]


def last(client: OcppClient, action: str) -> Callable[[], dict[str, Any] | None]:
    """A wait_for predicate: the last `action` the station received."""

    def found() -> dict[str, Any] | None:
        items = client.cp.of(action)
        return items[-1] if items else None

    return found
