"""The REST API of smart charging and load management over real HTTP with real stations (`ocpp`
clients): operators set, list and clear profiles and read composite schedules with the
station's own answer; admins manage sites; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from central_system.domain.tariffs import Tariff
from tests.api_helpers import api_system, bearer, client, make_admin, make_user
from tests.conftest import RunningCentralSystem
from tests.helpers import wait_for
from tests.smart_charging_helpers import boot16, boot201

__all__ = ["api_system", "client"]  # fixtures

PROBLEM = "application/problem+json"


async def test_operator_sets_lists_and_clears_charging_profiles(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    """TC_056 / TC_066 / TC_067 through the API: the answers are the station's."""
    admin = await make_admin(api_system, client)
    station = await boot16(api_system, "CP-1")
    station.cp.composite = {
        "charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": 0, "limit": 16}],
    }
    base = "/api/v1/stations/CP-1"
    try:
        created = await client.post(
            f"{base}/charging-profiles",
            json={
                "purpose": "TxDefaultProfile",
                "evse_id": 1,
                "rate_unit": "A",
                "periods": [{"start_s": 0, "limit": "16"}, {"start_s": 3600, "limit": "8"}],
            },
            headers=bearer(admin),
        )
        assert created.status_code == 200, created.text
        body = created.json()
        assert body["status"] == "Accepted" and body["response"] == {"status": "Accepted"}
        assert body["profile"]["id"] == 1 and body["profile"]["status"] == "accepted"
        assert body["profile"]["start_schedule"] is not None  # Absolute: starts now
        sent = station.cp.got("SetChargingProfile")[0]
        assert sent["charging_profile_id"] == 1 and sent["connector_id"] == 1

        station.cp.set_answer = "Rejected"
        refused = await client.post(
            f"{base}/charging-profiles",
            json={
                "purpose": "TxDefaultProfile",
                "evse_id": 2,
                "periods": [{"start_s": 0, "limit": 7000}],
            },
            headers=bearer(admin),
        )
        assert refused.json()["status"] == "Rejected"
        assert refused.json()["profile"]["status"] == "rejected"
        assert refused.json()["profile"]["id"] == 2

        listed = await client.get(
            f"{base}/charging-profiles", params={"status": "accepted"}, headers=bearer(admin)
        )
        assert listed.status_code == 200
        assert [p["id"] for p in listed.json()["items"]] == [1]
        assert listed.json()["total"] == 1

        composite = await client.get(
            f"{base}/composite-schedule",
            params={"evse_id": 1, "duration_s": 600, "rate_unit": "A"},
            headers=bearer(admin),
        )
        assert composite.status_code == 200, composite.text
        assert composite.json()["status"] == "Accepted"
        assert composite.json()["periods"] == [{"start_s": 0, "limit": "16", "number_phases": None}]

        cleared = await client.delete(f"{base}/charging-profiles/1", headers=bearer(admin))
        assert cleared.status_code == 200
        assert cleared.json()["status"] == "Accepted"
        assert [p["status"] for p in cleared.json()["cleared"]] == ["cleared"]
        nothing = await client.post(
            f"{base}/charging-profiles/clear",
            json={"purpose": "TxProfile"},
            headers=bearer(admin),
        )
        assert nothing.json()["status"] == "Unknown"

        # refused before anything is sent: a station maximum belongs to EVSE 0
        invalid = await client.post(
            f"{base}/charging-profiles",
            json={
                "purpose": "ChargingStationMaxProfile",
                "evse_id": 1,
                "periods": [{"start_s": 0, "limit": 1}],
            },
            headers=bearer(admin),
        )
        assert invalid.status_code == 422
        assert invalid.headers["content-type"] == PROBLEM
        assert invalid.json()["type"] == "/problems/invalid-charging-profile"
        # 1.6 has no GetChargingProfiles
        report = await client.post(
            f"{base}/charging-profiles/report", json={}, headers=bearer(admin)
        )
        assert report.status_code == 409
        assert report.json()["type"] == "/problems/unsupported-by-station"
        # an owner who does not manage the station
        owner = await make_user(client, admin, "owner@example.com", "owner")
        foreign = await client.get(f"{base}/charging-profiles", headers=bearer(owner))
        assert foreign.status_code == 404
    finally:
        await station.close()
    offline = await client.post(
        f"{base}/charging-profiles",
        json={"purpose": "TxDefaultProfile", "periods": [{"start_s": 0, "limit": 1000}]},
        headers=bearer(admin),
    )
    assert offline.status_code == 409
    assert offline.json()["type"] == "/problems/station-offline"


async def test_operator_asks_a_201_station_for_its_profiles(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    """K09 through the API: the station's answer and its reports for this request."""
    admin = await make_admin(api_system, client)
    station = await boot201(api_system, "CS-1")
    try:
        for evse, limit in ((1, 11000), (2, 7000)):
            answer = await client.post(
                "/api/v1/stations/CS-1/charging-profiles",
                json={
                    "purpose": "TxDefaultProfile",
                    "evse_id": evse,
                    "periods": [{"start_s": 0, "limit": limit}],
                },
                headers=bearer(admin),
            )
            assert answer.json()["status"] == "Accepted"
        report = await client.post(
            "/api/v1/stations/CS-1/charging-profiles/report",
            json={"purpose": "TxDefaultProfile", "wait_s": 5},
            headers=bearer(admin),
        )
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["status"] == "Accepted" and body["complete"] is True
        assert sorted((p["evse_id"], p["periods"][0]["limit"]) for p in body["profiles"]) == [
            (1, "11000"),
            (2, "7000"),
        ]
        assert {p["source"] for p in body["profiles"]} == {"report"}
        assert {p["limit_source"] for p in body["profiles"]} == {"CSO"}

        # TC_K_58: a new limit for the transaction on EVSE 1 (none on EVSE 2)
        await station.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp=datetime.now(UTC).isoformat(),
                trigger_reason="CablePluggedIn",
                seq_no=0,
                transaction_info={"transactionId": "TX-9"},
                evse={"id": 1, "connectorId": 1},
            )
        )
        station.cp.transactions[1] = "TX-9"
        offer = await client.post(
            "/api/v1/stations/CS-1/evses/1/charging-schedule",
            json={"limit_w": "7000"},
            headers=bearer(admin),
        )
        assert offer.status_code == 200, offer.text
        assert offer.json()["status"] == "Accepted"
        assert offer.json()["profile"]["transaction_id"] == "TX-9"
        assert offer.json()["profile"]["source"] == "iso15118"
        idle = await client.post(
            "/api/v1/stations/CS-1/evses/2/charging-schedule", json={}, headers=bearer(admin)
        )
        assert idle.status_code == 409 and idle.json()["type"] == "/problems/no-transaction"
    finally:
        await station.close()


async def test_admin_manages_a_site_and_its_members(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    """Create a 30 kW site, add two stations, lower the limit: the stations' limits follow
    and the site shows what is in force; owners may not manage sites."""
    admin = await make_admin(api_system, client)
    a = await boot16(api_system, "CP-A")
    b = await boot16(api_system, "CP-B")
    try:
        created = await client.post(
            "/api/v1/sites",
            json={"id": "DEPOT", "name": "Depot", "grid_limit_kw": "30", "policy": "equal"},
            headers=bearer(admin),
        )
        assert created.status_code == 201, created.text
        again = await client.post(
            "/api/v1/sites", json={"id": "DEPOT", "grid_limit_kw": "1"}, headers=bearer(admin)
        )
        assert again.status_code == 409
        for sid in ("CP-A", "CP-B"):
            member = await client.put(
                f"/api/v1/sites/DEPOT/members/{sid}",
                json={"priority": 0, "max_power_kw": "22"},
                headers=bearer(admin),
            )
            assert member.status_code == 200, member.text
        await wait_for(lambda: (a.cp.station_limit(), b.cp.station_limit()) == (15000, 15000))
        site = (await client.get("/api/v1/sites/DEPOT", headers=bearer(admin))).json()
        assert site["grid_limit_kw"] == "30.000" and site["in_force_total_kw"] == "30.000"
        assert [(m["station_id"], m["in_force_kw"], m["online"]) for m in site["members"]] == [
            ("CP-A", "15.000", True),
            ("CP-B", "15.000", True),
        ]
        lowered = await client.patch(
            "/api/v1/sites/DEPOT", json={"grid_limit_kw": "20"}, headers=bearer(admin)
        )
        assert lowered.status_code == 200
        assert (a.cp.station_limit(), b.cp.station_limit()) == (10000, 10000)
        rebalanced = await client.post("/api/v1/sites/DEPOT/rebalance", headers=bearer(admin))
        assert rebalanced.json()["changes"] == []
        assert rebalanced.json()["targets_kw"] == {"CP-A": "10.000", "CP-B": "10.000"}
        unknown = await client.put(
            "/api/v1/sites/DEPOT/members/NOPE", json={}, headers=bearer(admin)
        )
        assert unknown.status_code == 404
        owner = await make_user(client, admin, "owner@example.com", "owner")
        assert (await client.get("/api/v1/sites", headers=bearer(owner))).status_code == 403
        removed = await client.delete("/api/v1/sites/DEPOT/members/CP-B", headers=bearer(admin))
        assert removed.status_code == 204
        await wait_for(lambda: b.cp.station_limit() is None, what="B's site limit cleared")
        await wait_for(lambda: a.cp.station_limit() == 20000, what="A alone: the whole site")
        assert (
            await client.delete("/api/v1/sites/DEPOT", headers=bearer(admin))
        ).status_code == 204
        await wait_for(lambda: a.cp.station_limit() is None, what="A's site limit cleared")
        assert (await client.get("/api/v1/sites", headers=bearer(admin))).json() == []
    finally:
        await a.close()
        await b.close()


async def test_transaction_cost_so_far(
    api_system: RunningCentralSystem, client: httpx.AsyncClient
) -> None:
    """I02 for operators: what a running transaction costs with the station's tariff."""
    admin = await make_admin(api_system, client)
    station = await boot16(api_system, "CP-1")
    started = datetime.now(UTC) - timedelta(minutes=10)
    async with api_system.system.uow() as uow:
        await uow.catalog.add_tariff(
            "CP-1", Tariff("EUR", per_kwh=Decimal("0.50")), started - timedelta(days=1)
        )
        await uow.commit()
    try:
        tx = await station.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=1000, timestamp=started.isoformat()
            )
        )
        await station.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=tx.transaction_id,
                meter_value=[
                    {
                        "timestamp": datetime.now(UTC).isoformat(),
                        "sampled_value": [
                            {"value": "5000", "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            )
        )
        cost = await client.get(
            f"/api/v1/stations/CP-1/transactions/{tx.transaction_id}/cost",
            headers=bearer(admin),
        )
        assert cost.status_code == 200, cost.text
        assert cost.json()["energy_kwh"] == "4" and cost.json()["total"] == "2.00"
        assert cost.json()["ended"] is False
        missing = await client.get(
            "/api/v1/stations/CP-1/transactions/999/cost", headers=bearer(admin)
        )
        assert missing.status_code == 404
    finally:
        await station.close()
