"""The driver's flow end to end over real HTTP (uvicorn on 127.0.0.1) and a real OCPP 1.6 station
over websockets, on SQLite and PostgreSQL: register, find, reserve, pay and start, live values over
SSE, stop, receipt with the right kWh and price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from ocpp.v16 import call as call16
from pydantic import SecretStr

from tests.api_helpers import (
    JWT_SECRET,
    STATION,
    api_system,
    api_url,
    bearer,
    boot_station,
    client,
    listed_station,
    make_admin,
    make_user,
    register_driver,
    sse,
    start_app_session,
)
from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import statements_with, wait_for

__all__ = ["api_system", "client"]  # fixtures


async def test_driver_flow_end_to_end(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(api_system, client)
    owner = await make_user(client, admin, "owner@example.com", "owner")
    registered = await client.post("/api/v1/stations", json=STATION, headers=bearer(owner))
    assert registered.status_code == 201, registered.text
    station = await boot_station(api_system, "CP-API-1")
    try:
        driver = await register_driver(client, "driver@example.com")

        # 1. Map view: near the position, online, connector standards, power, status, price.
        found = await client.get(
            "/api/v1/stations",
            params={"lat": 52.51, "lon": 13.40, "radius_km": 5},
            headers=bearer(driver),
        )
        assert found.status_code == 200
        page = found.json()
        assert page["total"] == 1 and page["limit"] == 20
        (cp,) = page["items"]
        assert cp["online"] is True and cp["ocpp_version"] == "1.6"
        assert 0 < cp["distance_km"] < 5
        assert [(c["standard"], c["max_power_kw"], c["status"]) for c in cp["connectors"]] == [
            ("CCS", "150.000", "Available"),
            ("CHAdeMO", "50.000", "Available"),
        ]
        assert cp["tariff"]["per_kwh"] == "0.39" and cp["tariff"]["currency"] == "EUR"
        far = await client.get(
            "/api/v1/stations",
            params={"lat": 48.14, "lon": 11.58, "radius_km": 50},
            headers=bearer(driver),
        )
        assert far.json()["total"] == 0

        # 2. Reserve connector 1 for 15 minutes.
        reserved = await client.post(
            "/api/v1/reservations",
            json={"station_id": "CP-API-1", "evse_id": 1, "minutes": 15},
            headers=bearer(driver),
        )
        assert reserved.status_code == 201, reserved.text
        reservation = reserved.json()
        assert reservation["status"] == "Accepted"
        reserve_now = station.cp.last("ReserveNow")
        assert reserve_now["reservation_id"] == reservation["id"]

        # 4. Pay and start with the reservation.
        started = await client.post(
            "/api/v1/sessions",
            json={
                "station_id": "CP-API-1",
                "evse_id": 1,
                "payment": {"card_token": "tok_visa"},
                "battery_capacity_kwh": "60",
                "reservation_id": reservation["id"],
            },
            headers=bearer(driver),
        )
        assert started.status_code == 201, started.text
        session = started.json()
        assert session["status"] == "Pending"
        assert session["payment"]["preauthorized"] == "41.2000"
        remote = station.cp.last("RemoteStartTransaction")
        assert remote["id_tag"] == session["charging_authorization"]["id_token"]
        assert remote["id_tag"] == reserve_now["id_tag"]  # the reservation's holder

        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        start = await station.call(
            call16.StartTransaction(
                connector_id=1,
                id_tag=remote["id_tag"],
                meter_start=1000,
                timestamp=t0.isoformat(),
                reservation_id=reservation["id"],
            )
        )
        assert start.id_tag_info["status"] == "Accepted"
        sid = session["id"]

        async def status() -> str:
            response = await client.get(f"/api/v1/sessions/{sid}", headers=bearer(driver))
            return str(response.json()["status"])

        await wait_for(lambda: _is(status(), "Charging"), what="session charging")

        # 5. Live values over SSE: each meter value arrives as an event.
        async with sse(client, f"/api/v1/sessions/{sid}/stream", bearer(driver)) as events:
            await wait_for(lambda: events.of("session"), what="first SSE snapshot")
            assert events.content_type and events.content_type.startswith("text/event-stream")
            await station.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=start.transaction_id,
                    meter_value=[
                        {
                            "timestamp": (t0 + timedelta(minutes=10)).isoformat(),
                            "sampledValue": [
                                {
                                    "value": "11.5",
                                    "unit": "kWh",
                                    "measurand": "Energy.Active.Import.Register",
                                },
                                {"value": "48.5", "unit": "kW", "measurand": "Power.Active.Import"},
                                {"value": "40", "measurand": "SoC", "unit": "Percent"},
                            ],
                        }
                    ],
                )
            )
            meter = await wait_for(lambda: events.of("meter"), what="SSE meter event")
            live = meter[0]["live"]
            assert (live["soc_percent"], live["power_kw"], live["energy_kwh"]) == (
                "40",
                "48.500",
                "10.500",
            )
            assert live["cost"]["energy"] == "4.10"  # 10.5 kWh x 0.39 = 4.095 -> 4.10
            assert live["eta_80_s"] == 1781  # (80-40)% of 60 kWh at 48.5 kW
            assert live["elapsed_s"] >= 1800

            # 6. Stop from the app; the station ends the transaction.
            stopped = await client.post(f"/api/v1/sessions/{sid}/stop", headers=bearer(driver))
            assert stopped.status_code == 200, stopped.text
            assert stopped.json()["station_status"] == "Accepted"
            assert station.cp.last("RemoteStopTransaction") == {
                "transaction_id": start.transaction_id
            }
            stop = await station.call(
                call16.StopTransaction(
                    transaction_id=start.transaction_id,
                    meter_stop=31_500,
                    timestamp=(t0 + timedelta(minutes=30)).isoformat(),
                    reason="Remote",
                )
            )
            assert stop is not None
            final = await wait_for(lambda: events.of("receipt"), what="SSE receipt event")
            assert final[0]["status"] == "Completed" and final[0]["receipt_id"]

        # 7. Receipt: 30.5 kWh, 30 minutes; 11.895 -> 11.90 + 1.50 + 1.00 = 14.40 EUR.
        receipt = (
            await client.get(f"/api/v1/sessions/{sid}/receipt", headers=bearer(driver))
        ).json()
        assert receipt["energy_wh"] == 30_500 and receipt["energy_kwh"] == "30.500"
        assert receipt["duration_s"] == 1800
        assert receipt["cost"] == {
            "currency": "EUR",
            "energy": "11.90",
            "time": "1.50",
            "session_fee": "1.00",
            "total": "14.40",
        }
        assert Decimal(receipt["captured"]) == Decimal("14.40")
        assert receipt["station_id"] == "CP-API-1" and receipt["evse_id"] == 1
        assert receipt["started_at"].startswith(t0.strftime("%Y-%m-%dT%H:%M"))
        history = (await client.get("/api/v1/receipts", headers=bearer(driver))).json()
        assert [r["id"] for r in history["items"]] == [receipt["id"]]

        # The charging authorization was deleted with the session's end.
        authorize = await station.call(call16.Authorize(id_tag=remote["id_tag"]))
        assert authorize.id_tag_info["status"] == "Invalid"
        ended = (await client.get(f"/api/v1/sessions/{sid}", headers=bearer(driver))).json()
        assert ended["charging_authorization"]["active"] is False
        assert ended["live"]["power_kw"] == "0.000"
    finally:
        await station.close()


async def _is(value: object, expected: str) -> bool:
    return await value == expected  # type: ignore[misc]


async def test_declined_card_and_rejected_reservation_leave_nothing_behind(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    admin = await make_admin(api_system, client)
    owner = await make_user(client, admin, "owner@example.com", "owner")
    assert (
        await client.post("/api/v1/stations", json=STATION, headers=bearer(owner))
    ).status_code == 201
    station = await boot_station(api_system, "CP-API-1")
    try:
        driver = await register_driver(client, "driver@example.com")
        declined = await client.post(
            "/api/v1/sessions",
            json={
                "station_id": "CP-API-1",
                "evse_id": 1,
                "payment": {"card_token": "tok_declined"},
            },
            headers=bearer(driver),
        )
        assert declined.status_code == 402
        assert declined.headers["content-type"] == "application/problem+json"
        assert declined.json()["type"] == "/problems/payment-declined"
        assert station.cp.last("RemoteStartTransaction") is None  # nothing was sent
        sessions = (await client.get("/api/v1/sessions", headers=bearer(driver))).json()
        assert [s["status"] for s in sessions["items"]] == ["Failed"]

        station.cp.reserve_answer = "Occupied"
        refused = await client.post(
            "/api/v1/reservations",
            json={"station_id": "CP-API-1", "evse_id": 2, "minutes": 10},
            headers=bearer(driver),
        )
        assert refused.status_code == 409
        assert refused.json()["station_status"] == "Occupied"
        station.cp.reserve_answer = "Accepted"
        reserved = await client.post(
            "/api/v1/reservations",
            json={"station_id": "CP-API-1", "evse_id": 2, "minutes": 10},
            headers=bearer(driver),
        )
        rid = reserved.json()["id"]
        cancelled = await client.delete(f"/api/v1/reservations/{rid}", headers=bearer(driver))
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "Cancelled"
        assert station.cp.last("CancelReservation") == {"reservation_id": rid}
    finally:
        await station.close()
    offline = await client.post(
        "/api/v1/reservations",
        json={"station_id": "CP-API-1", "evse_id": 1, "minutes": 10},
        headers=bearer(driver),
    )
    assert offline.status_code == 409 and offline.json()["type"] == "/problems/station-offline"


async def test_a_receipt_missed_by_a_crash_is_written_at_the_next_start(
    database_url: str,
) -> None:
    """The transaction ends while nothing turns it into a receipt (as if the process died right
    after committing the StopTransaction); the next start reconciles and writes it."""
    settings = test_settings(
        database_url, jwt_secret=SecretStr(JWT_SECRET), maintenance_interval=3600
    )
    async with (
        running_central_system(settings) as first,
        httpx.AsyncClient(base_url=api_url(first)) as http,
    ):
        admin = await make_admin(first, http)
        owner = await make_user(http, admin, "owner@example.com", "owner")
        await http.post("/api/v1/stations", json=STATION, headers=bearer(owner))
        station = await boot_station(first, "CP-API-1")
        driver = await register_driver(http, "driver@example.com")
        session = await start_app_session(http, driver, "CP-API-1")
        tag = session["charging_authorization"]["id_token"]
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        start = await station.call(
            call16.StartTransaction(
                connector_id=1, id_tag=tag, meter_start=0, timestamp=t0.isoformat()
            )
        )
        first.system.events.unsubscribe(first.system.api._on_events)  # the "crash"
        await station.call(
            call16.StopTransaction(
                transaction_id=start.transaction_id,
                meter_stop=10_000,
                timestamp=(t0 + timedelta(minutes=10)).isoformat(),
            )
        )
        missing = await http.get(
            f"/api/v1/sessions/{session['id']}/receipt", headers=bearer(driver)
        )
        assert missing.status_code == 404
        await station.close()
    async with (
        running_central_system(settings) as second,
        httpx.AsyncClient(base_url=api_url(second)) as http,
    ):
        token = (
            await http.post(
                "/api/v1/auth/token",
                data={"username": "driver@example.com", "password": "driver password 1"},
            )
        ).json()["access_token"]
        receipt = await http.get(f"/api/v1/sessions/{session['id']}/receipt", headers=bearer(token))
        assert receipt.status_code == 200, receipt.text
        body = receipt.json()
        # 10 kWh x 0.39 + 10 min x 0.05 + 1.00 = 3.90 + 0.50 + 1.00
        assert (body["energy_wh"], body["cost"]["total"]) == (10_000, "5.40")
        status = (
            await http.get(f"/api/v1/sessions/{session['id']}", headers=bearer(token))
        ).json()["status"]
        assert status == "Completed"


async def test_housekeeping_reads_the_transactions_of_running_sessions_in_one_query(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    """The sessions housekeeping round (every EVCHARGE_MAINTENANCE_INTERVAL) reads the
    transactions of the sessions it linked in one query and leaves running ones alone; it
    read each session's transaction on its own, thousands of queries every 15 s."""
    station = await listed_station(api_system, client)
    try:
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        for evse in (1, 2):
            driver = await register_driver(client, f"driver{evse}@example.com")
            session = await start_app_session(client, driver, "CP-API-1", evse)
            tag = session["charging_authorization"]["id_token"]
            await station.call(
                call16.StartTransaction(
                    connector_id=evse, id_tag=tag, meter_start=0, timestamp=t0.isoformat()
                )
            )
            sid = session["id"]

            async def charging(sid: str = sid, token: str = driver) -> bool:
                response = await client.get(f"/api/v1/sessions/{sid}", headers=bearer(token))
                return bool(response.json()["status"] == "Charging")

            await wait_for(charging, what=f"session on EVSE {evse} charging")
        engine = api_system.system.engine
        with statements_with(engine, "FROM charging_transaction") as transaction_reads:
            assert await api_system.system.api.charging.reconcile() == 0
        assert len(transaction_reads) == 1
    finally:
        await station.close()


async def test_a_battery_capacity_is_estimated_from_the_start_soc_the_transaction_keeps(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    """Without a battery capacity from the driver, the session's live view estimates it from
    the energy delivered for the SoC gained since the start; the start SoC comes with the
    transaction, whose meter values folded it in, and no stored reading is read back for it."""
    station = await listed_station(api_system, client)
    try:
        driver = await register_driver(client, "driver@example.com")
        created = await start_app_session(client, driver, "CP-API-1")
        sid = created["id"]
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
        start = await station.call(
            call16.StartTransaction(
                connector_id=1,
                id_tag=created["charging_authorization"]["id_token"],
                meter_start=0,
                timestamp=t0.isoformat(),
            )
        )
        for minute, register_wh, soc in ((10, 7_000, "50"), (1, 0, "40")):  # the first comes late
            await station.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=start.transaction_id,
                    meter_value=[
                        {
                            "timestamp": (t0 + timedelta(minutes=minute)).isoformat(),
                            "sampledValue": [
                                {"value": str(register_wh), "unit": "Wh"},
                                {"value": "42000", "measurand": "Power.Active.Import"},
                                {"value": soc, "measurand": "SoC", "unit": "Percent"},
                            ],
                        }
                    ],
                )
            )
        with statements_with(api_system.system.engine, "FROM meter_") as reading_reads:
            view = await client.get(f"/api/v1/sessions/{sid}", headers=bearer(driver))
        assert view.status_code == 200, view.text
        live = view.json()["live"]
        # as the station sent it, though read from its NUMERIC(9, 3) column ("50.000")
        assert live["soc_percent"] == "50"
        assert Decimal(live["battery_capacity_kwh"]) == 70  # 7 kWh for 10 %
        assert reading_reads == []
    finally:
        await station.close()


async def test_metrics_count_group_commits_and_the_messages_they_held(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    """An operator sees the group commit's batch size: messages written / batches committed."""

    async def counted() -> dict[str, float]:
        text = (await client.get("/metrics")).text
        return {
            name: float(value)
            for line in text.splitlines()
            if line.startswith("evcharge_group_commit_")
            for name, value in [line.split(" ")]
        }

    station = await listed_station(api_system, client)
    before = await counted()
    try:
        for _ in range(3):
            await station.call(call16.Heartbeat())
    finally:
        await station.close()
    after = await counted()
    written = after["evcharge_group_commit_messages_total"]
    assert written - before["evcharge_group_commit_messages_total"] >= 3
    batches = after["evcharge_group_commit_batches_total"]
    assert 1 <= batches - before["evcharge_group_commit_batches_total"] <= written
