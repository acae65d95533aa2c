"""What the freshness scenario needs from the REST API: app sessions on a few stations and their
Server-Sent Events (`GET /api/v1/sessions/{id}/stream`).

An SSE stream belongs to an app session, so for each watched station the bench does what the
app and an operator do: an admin (created with `evcharge users add`) registers the station with
a connector and a tariff, a driver account signs up and starts a session paid with the test
card `tok_visa`; the central system sends RemoteStartTransaction, the bench station accepts and
starts the transaction with the idTag it was given (bench/load.py), and from then on its meter
values are `meter` events on the session's stream, each carrying `live.sampled_at` (the meter
value's own timestamp, which the load generator sets to the moment it sends).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from datetime import datetime
from typing import Any

import httpx

from bench import servers

PASSWORD = "bench-password-0123456789"
ADMIN = "bench-admin@example.com"


class ApiError(RuntimeError):
    pass


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise ApiError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response.json()


async def create_admin(settings: dict[str, str]) -> None:
    """`evcharge users add` with the server's own settings (same database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVCHARGE_")} | settings
    result = await asyncio.to_thread(
        subprocess.run,
        [servers.evcharge_executable(), "users", "add", ADMIN, "--role", "admin"],
        env=env | {"EVCHARGE_USER_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise ApiError(f"evcharge users add failed: {(result.stderr or result.stdout)[-300:]}")


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> str:
    data = {"username": email, "password": password, "grant_type": "password"}
    body = _check(await client.post("/api/v1/auth/token", data=data), "sign-in")
    return str(body["access_token"])


async def register_station(client: httpx.AsyncClient, token: str, station_id: str) -> None:
    body = {
        "id": station_id,
        "name": f"bench {station_id}",
        "location": {"latitude": 52.52, "longitude": 13.405},
        "connectors": [{"evse_id": 1, "standard": "Type2", "max_power_kw": "22"}],
        "tariff": {"currency": "EUR", "per_kwh": "0.39"},
    }
    headers = {"Authorization": f"Bearer {token}"}
    _check(await client.post("/api/v1/stations", json=body, headers=headers), "register station")


async def start_session(client: httpx.AsyncClient, station_id: str, number: int) -> tuple[str, str]:
    """A new driver account starts a session on `station_id`; (session id, driver token)."""
    body = {"email": f"bench-driver-{number}-{os.getpid()}@example.com", "password": PASSWORD}
    token = str(
        _check(await client.post("/api/v1/auth/register", json=body), "sign-up")["access_token"]
    )
    session = {"station_id": station_id, "evse_id": 1, "payment": {"card_token": "tok_visa"}}
    headers = {"Authorization": f"Bearer {token}"}
    answer = _check(
        await client.post("/api/v1/sessions", json=session, headers=headers), "start session"
    )
    return str(answer["id"]), token


async def watch(
    base_url: str, session_id: str, token: str, delays: list[tuple[float, int]]
) -> None:
    """Append (sampled_at epoch, microseconds until the `meter` event arrived) until
    cancelled."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    timeout = httpx.Timeout(10.0, read=None)
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=timeout) as client,
        client.stream("GET", f"/api/v1/sessions/{session_id}/stream", headers=headers) as r,
    ):
        if r.status_code != 200:
            raise ApiError(f"stream: HTTP {r.status_code}")
        event = ""
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "meter":
                arrived = time.time()
                live = json.loads(line[5:]).get("live") or {}
                stamp = live.get("sampled_at")
                if stamp:
                    sampled = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                    delays.append((sampled, int((arrived - sampled) * 1e6)))
