"""Who may do what through the REST API, over real HTTP and a real station: a driver cannot see
another driver's session, an owner cannot command another owner's station, expired or forged
tokens are refused, sign-ins are rate-limited and audited; operator commands return the
station's real answer, or a clear offline / timeout / error problem."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import httpx
import jwt
from ocpp.v16 import call as call16

from tests.api_helpers import (
    JWT_SECRET,
    STATION,
    api_system,
    bearer,
    boot_station,
    client,
    listed_station,
    make_admin,
    make_user,
    register_driver,
    start_app_session,
)
from tests.conftest import RunningCentralSystem
from tests.helpers import wait_for

__all__ = ["api_system", "client"]  # fixtures

PROBLEM = "application/problem+json"


def station_of(owner_suffix: str) -> dict[str, object]:
    body = copy.deepcopy(STATION)
    body["id"] = f"CP-{owner_suffix}"
    return body


async def test_drivers_see_only_their_sessions_and_owners_only_their_stations(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(api_system, client)
    owner_a = await make_user(client, admin, "a@example.com", "owner")
    owner_b = await make_user(client, admin, "b@example.com", "owner")
    created = await client.post("/api/v1/stations", json=station_of("A"), headers=bearer(owner_a))
    assert created.status_code == 201
    # owner B cannot take over owner A's station id
    taken = await client.post("/api/v1/stations", json=station_of("A"), headers=bearer(owner_b))
    assert taken.status_code == 409
    station = await boot_station(api_system, "CP-A")
    try:
        alice = await register_driver(client, "alice@example.com")
        bob = await register_driver(client, "bob@example.com")
        sid = (await start_app_session(client, alice, "CP-A"))["id"]

        for method, path in [
            ("GET", f"/api/v1/sessions/{sid}"),
            ("GET", f"/api/v1/sessions/{sid}/stream"),
            ("GET", f"/api/v1/sessions/{sid}/receipt"),
            ("POST", f"/api/v1/sessions/{sid}/stop"),
        ]:
            response = await client.request(method, path, headers=bearer(bob))
            assert response.status_code == 404, (method, path, response.text)
            assert response.headers["content-type"] == PROBLEM
        assert (await client.get("/api/v1/sessions", headers=bearer(bob))).json()["total"] == 0
        # the station's owner and the admin see it; the other owner does not
        assert (
            await client.get(f"/api/v1/sessions/{sid}", headers=bearer(owner_a))
        ).status_code == 200
        assert (
            await client.get(f"/api/v1/sessions/{sid}", headers=bearer(admin))
        ).status_code == 200
        assert (
            await client.get(f"/api/v1/sessions/{sid}", headers=bearer(owner_b))
        ).status_code == 404

        # owner B cannot command, change or inspect owner A's station; owner A can
        for method, path, body in [
            ("POST", "/api/v1/stations/CP-A/commands/reset", {"type": "soft"}),
            ("POST", "/api/v1/stations/CP-A/ocpp/ClearCache", {}),
            ("PATCH", "/api/v1/stations/CP-A", {"name": "mine now"}),
            ("PUT", "/api/v1/stations/CP-A/tariff", {"currency": "EUR", "per_kwh": "0"}),
            ("GET", "/api/v1/stations/CP-A/status", None),
        ]:
            response = await client.request(method, path, json=body, headers=bearer(owner_b))
            assert response.status_code == 403, (method, path, response.text)
        assert station.cp.last("Reset") is None
        # drivers are not operators at all
        driver_reset = await client.post(
            "/api/v1/stations/CP-A/commands/reset", json={"type": "soft"}, headers=bearer(alice)
        )
        assert driver_reset.status_code == 403

        reset = await client.post(
            "/api/v1/stations/CP-A/commands/reset", json={"type": "hard"}, headers=bearer(owner_a)
        )
        assert reset.status_code == 200, reset.text
        assert reset.json() == {"status": "Accepted", "response": {"status": "Accepted"}}
        assert station.cp.last("Reset") == {"type": "Hard"}
        audit = await client.get(
            "/api/v1/audit", params={"action": "command.reset"}, headers=bearer(admin)
        )
        entries = audit.json()["items"]
        assert [(e["target"], e["outcome"]) for e in entries] == [("CP-A", "Accepted")]
        assert (await client.get("/api/v1/audit", headers=bearer(owner_a))).status_code == 403
        signal = await station.call(
            call16.DataTransfer(
                vendor_id="org.evcharge", message_id="SignalStrength", data='{"csq": 18}'
            )
        )
        assert signal.status == "Accepted"
        await station.call(
            call16.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted")
        )
        status = (await client.get("/api/v1/stations/CP-A/status", headers=bearer(owner_a))).json()
        assert status["vendor"] == "V" and status["online"] is True
        assert (status["signal"]["rssiDbm"], status["signal"]["quality"]) == (-77, "good")
        assert [(f["evse_id"], f["status"], f["error_code"]) for f in status["faults"]] == [
            (2, "Faulted", "GroundFailure")
        ]
    finally:
        await station.close()


async def test_expired_forged_and_misused_tokens_are_refused(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    driver = await register_driver(client, "driver@example.com")
    me = await client.get("/api/v1/auth/me", headers=bearer(driver))
    assert me.status_code == 200
    claims = jwt.decode(driver, JWT_SECRET, algorithms=["HS256"], audience="evcharge-api")
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = jwt.encode(
        {
            **claims,
            "iat": int((past - timedelta(minutes=15)).timestamp()),
            "exp": int(past.timestamp()),
        },
        JWT_SECRET,
        algorithm="HS256",
    )
    refused = await client.get("/api/v1/auth/me", headers=bearer(expired))
    assert refused.status_code == 401
    assert refused.json()["type"] == "/problems/token-expired"
    assert refused.headers["www-authenticate"] == "Bearer"
    forged = jwt.encode(
        {**claims, "role": "admin"}, "another-secret-" + "y" * 40, algorithm="HS256"
    )
    assert (await client.get("/api/v1/users", headers=bearer(forged))).status_code == 401
    # a driver's own token with a changed role claim is still only a driver
    assert (await client.get("/api/v1/users", headers=bearer(driver))).status_code == 403
    assert (await client.get("/api/v1/auth/me")).status_code == 401

    pair = await client.post(
        "/api/v1/auth/token",
        data={"username": "driver@example.com", "password": "driver password 1"},
    )
    refresh = pair.json()["refresh_token"]
    assert (await client.get("/api/v1/auth/me", headers=bearer(refresh))).status_code == 401
    renewed = await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert renewed.status_code == 200
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert again.status_code == 401  # a refresh token works once


async def test_sign_in_is_rate_limited_and_audited(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(api_system, client)
    await register_driver(client, "driver@example.com")
    codes = []
    for _ in range(6):
        response = await client.post(
            "/api/v1/auth/token", data={"username": "driver@example.com", "password": "wrong!"}
        )
        codes.append(response.status_code)
    assert codes == [401] * 5 + [429]
    assert int(response.headers["retry-after"]) > 0
    # even the right password waits until the window has passed
    right = await client.post(
        "/api/v1/auth/token",
        data={"username": "driver@example.com", "password": "driver password 1"},
    )
    assert right.status_code == 429
    failures = await client.get(
        "/api/v1/audit", params={"action": "auth.login_failed"}, headers=bearer(admin)
    )
    assert failures.json()["total"] == 5
    assert {e["actor"] for e in failures.json()["items"]} == {"driver@example.com"}
    successes = await client.get(
        "/api/v1/audit", params={"action": "auth.login"}, headers=bearer(admin)
    )
    assert [e["actor"] for e in successes.json()["items"]] == ["admin@example.com"]


async def test_guest_gets_a_session_and_its_receipt_goes_to_the_email(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    guest = await client.post("/api/v1/auth/guest", json={"email": "Guest@Example.com"})
    assert guest.status_code == 200
    me = await client.get("/api/v1/auth/me", headers=bearer(guest.json()["access_token"]))
    assert me.json()["email"] == "guest@example.com" and me.json()["guest"] is True
    bad = await client.post("/api/v1/auth/guest", json={"email": "not an address"})
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM


async def test_operator_commands_return_the_station_answer_or_a_clear_problem(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(api_system, client)
    owner = await make_user(client, admin, "owner@example.com", "owner")
    assert (
        await client.post("/api/v1/stations", json=STATION, headers=bearer(owner))
    ).status_code == 201
    offline = await client.post(
        "/api/v1/stations/CP-API-1/commands/clear-cache", headers=bearer(owner)
    )
    assert offline.status_code == 409 and offline.json()["type"] == "/problems/station-offline"
    station = await boot_station(api_system, "CP-API-1")
    try:
        cleared = await client.post(
            "/api/v1/stations/CP-API-1/commands/clear-cache", headers=bearer(owner)
        )
        assert cleared.json()["status"] == "Accepted"
        generic = await client.post(
            "/api/v1/stations/CP-API-1/ocpp/ReserveNow",
            json={
                "connectorId": 2,
                "expiryDate": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
                "idTag": "CARD-1",
                "reservationId": 99,
            },
            headers=bearer(owner),
        )
        assert generic.status_code == 200, generic.text
        assert generic.json()["response"] == {"status": "Accepted"}
        assert station.cp.last("ReserveNow") == {
            "connector_id": 2,
            "id_tag": "CARD-1",
            "reservation_id": 99,
        }
        invalid = await client.post(
            "/api/v1/stations/CP-API-1/ocpp/ReserveNow",
            json={"connectorId": "x"},
            headers=bearer(owner),
        )
        assert invalid.status_code == 422
        assert invalid.json()["type"] == "/problems/invalid-ocpp-payload"
        for action in ("Heartbeat", "NoSuchAction", "SetVariables"):  # station's, unknown, 2.0.1
            response = await client.post(
                f"/api/v1/stations/CP-API-1/ocpp/{action}", json={}, headers=bearer(owner)
            )
            assert response.status_code == 404, action
            assert response.json()["type"] == "/problems/unknown-action"
        not_16 = await client.post(
            "/api/v1/stations/CP-API-1/variables/get",
            json={"variables": [{"component": {"name": "C"}, "variable": {"name": "V"}}]},
            headers=bearer(owner),
        )
        assert (
            not_16.status_code == 409
            and not_16.json()["type"] == "/problems/unsupported-by-station"
        )
        not_implemented = await client.post(
            "/api/v1/stations/CP-API-1/commands/unlock", json={"evse_id": 1}, headers=bearer(owner)
        )
        assert not_implemented.status_code == 502
        assert not_implemented.json()["ocpp_error_code"] == "NotImplemented"
        station.cp.silent = True
        timeout = await client.post(
            "/api/v1/stations/CP-API-1/commands/reset", json={"type": "soft"}, headers=bearer(owner)
        )
        assert timeout.status_code == 504 and timeout.json()["type"] == "/problems/station-timeout"
        metrics = (await client.get("/metrics")).text
        assert "evcharge_connected_stations 1.0" in metrics
        assert (
            'evcharge_ocpp_messages_total{action="BootNotification",direction="received"} 1.0'
            in metrics
        )
        assert 'evcharge_ocpp_messages_total{action="ClearCache",direction="sent"} 1.0' in metrics
        assert "evcharge_api_request_duration_seconds_count" in metrics
    finally:
        await station.close()
    await wait_for(lambda: not api_system.system.registry.is_connected("CP-API-1"))
    assert "evcharge_connected_stations 0.0" in (await client.get("/metrics")).text


async def test_id_tokens_are_managed_with_status_expiry_and_group(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(api_system, client)
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    put = await client.put(
        "/api/v1/tokens/CARD-7",
        json={"status": "Blocked", "expires_at": expires.isoformat(), "group_id": "FLEET"},
        headers=bearer(admin),
    )
    assert put.status_code == 200 and put.json()["status"] == "Blocked"
    listed = (await client.get("/api/v1/tokens", headers=bearer(admin))).json()
    assert [(t["value"], t["status"], t["group_id"]) for t in listed["items"]] == [
        ("CARD-7", "Blocked", "FLEET")
    ]
    info = await api_system.services.authorization.authorize(
        __import__("central_system.domain.authorization", fromlist=["IdToken"]).IdToken("CARD-7")
    )
    assert info.status.value == "Blocked"
    assert (await client.delete("/api/v1/tokens/CARD-7", headers=bearer(admin))).status_code == 204
    assert (await client.delete("/api/v1/tokens/CARD-7", headers=bearer(admin))).status_code == 404
    driver = await register_driver(client, "d@example.com")
    assert (await client.get("/api/v1/tokens", headers=bearer(driver))).status_code == 403


async def test_a_session_that_never_starts_releases_its_hold(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    """Stopping before the car charged cancels: the hold is released, the token deleted."""
    station = await listed_station(api_system, client)
    try:
        driver = await register_driver(client, "driver@example.com")
        session = await start_app_session(client, driver, "CP-API-1")
        cancelled = await client.post(
            f"/api/v1/sessions/{session['id']}/stop", headers=bearer(driver)
        )
        assert cancelled.status_code == 200
        assert cancelled.json()["session"]["status"] == "Failed"
        assert cancelled.json()["station_status"] is None
        hold = api_system.system.api.payments.holds[session["payment"]["reference"]]
        assert hold.released and hold.captured is None
        token = session["charging_authorization"]["id_token"]
        authorize = await station.call(call16.Authorize(id_tag=token))
        assert authorize.id_tag_info["status"] == "Invalid"
    finally:
        await station.close()
