"""Schema-driven fuzzing of the whole OpenAPI description with schemathesis: every operation,
with generated valid and invalid inputs, signed in as an admin, against the real server (uvicorn on
127.0.0.1, SQLite). No response may be a 5xx.

The central system runs in its own thread and event loop (schemathesis calls it synchronously).
A station is registered (offline), so that operations on it get past the 404."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr

from tests.api_helpers import JWT_SECRET, STATION
from tests.conftest import running_central_system, test_settings

MAX_EXAMPLES = int(os.environ.get("EVCHARGE_FUZZ_EXAMPLES", "15"))


class LiveApi:
    def __init__(self, database: Path) -> None:
        self.database = database
        self.url = ""
        self.admin_token = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-api", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # surfaced by start()
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        settings_ = test_settings(
            f"sqlite+aiosqlite:///{self.database}",
            jwt_secret=SecretStr(JWT_SECRET),
            login_rate_limit=1000,
        )
        async with running_central_system(settings_) as running:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await running.system.api.accounts.create(
                "admin@example.com", "admin password 1", _admin(), by_operator=True
            )
            self.url = f"http://127.0.0.1:{running.system.api_port}"
            self._ready.set()
            await self._stop.wait()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(30), "the central system did not start"
        if self._error is not None:
            raise self._error
        with httpx.Client(base_url=self.url) as client:
            token = client.post(
                "/api/v1/auth/token",
                data={"username": "admin@example.com", "password": "admin password 1"},
            )
            self.admin_token = token.json()["access_token"]
            created = client.post(
                "/api/v1/stations",
                json=STATION,
                headers={"Authorization": f"Bearer {self.admin_token}"},
            )
            assert created.status_code == 201, created.text

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


def _admin() -> Any:
    from central_system.domain.accounts import Role

    return Role.ADMIN


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    api = LiveApi(tmp_path_factory.mktemp("fuzz") / "evcharge.db")
    api.start()
    try:
        yield api
    finally:
        api.stop()


def test_no_operation_answers_with_a_server_error(live_api: LiveApi) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api.url}/openapi.json")
    headers = {"Authorization": f"Bearer {live_api.admin_token}"}
    failures: list[str] = []
    operations = 0
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case: Any) -> None:
            if case.path.endswith("/stream"):
                case.path_parameters = {"session_id": "no-such-session"}  # would stream on
            response = case.call(headers=headers, timeout=10)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            where = f"{case.method} {case.formatted_path} -> {response.status_code}"
            if response.status_code >= 500:
                failures.append(f"{where}: {response.text[:300]}")
            elif response.status_code >= 400 and not case.path.startswith("/ready"):
                value = response.headers.get("content-type") or [""]
                content_type = value[0] if isinstance(value, list) else value
                if not content_type.startswith("application/problem+json"):
                    failures.append(f"{where}: not a problem document ({content_type})")

        call()
    assert operations >= 30
    assert sum(statuses.values()) >= operations * 2, statuses
    assert any(200 <= status < 300 for status in statuses), statuses  # not only refusals
    print("status counts:", dict(sorted(statuses.items())))
    assert not failures, "\n".join(failures[:20])
