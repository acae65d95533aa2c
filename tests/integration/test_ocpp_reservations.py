"""Operator reservations over the REST API with real 1.6 and 2.0.1 stations (the `ocpp`
package's client), on SQLite and PostgreSQL: ReserveNow for an EVSE, any EVSE or the whole
station, the station's answers, use by the reserved token or one of its group (others refused),
expiry, cancellation and the 2.0.1 ReservationStatusUpdate (TC_046-TC_053, TC_H_01-22)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.control_helpers import (
    Operator,
    eventually,
    now_text,
    operator,
    scripted,
    station16,
    station201,
)

__all__ = ["operator"]  # fixture

ACCEPTED = {"status": "Accepted"}


async def _status(operator: Operator, station_id: str, reservation_id: int) -> str:
    body = await operator.ok("GET", f"/api/v1/stations/{station_id}/reservations/{reservation_id}")
    status: str = body["status"]
    return status


async def _start16(
    client: Any, connector: int, id_tag: str, reservation_id: int, offset_s: int
) -> tuple[int, str]:
    started = await client.call(
        call16.StartTransaction(
            connector_id=connector,
            id_tag=id_tag,
            meter_start=1000,
            timestamp=now_text(offset_s),
            reservation_id=reservation_id,
        )
    )
    return started.transaction_id, started.id_tag_info["status"]


async def test_TC_046_TC_049_TC_053_a_reservation_is_used_by_its_token_or_group(
    operator: Operator,
) -> None:
    await operator.token("CARD-T", group_id="FLEET")
    await operator.token("CARD-U", group_id="FLEET")
    await operator.token("CARD-V")
    client = await station16(operator.running, "CP-R", {"ReserveNow": ACCEPTED})
    station = scripted(client)
    reserve = "/api/v1/stations/CP-R/reservations"
    try:
        # TC_046: the reserved connector, used by the reserved token
        first = await operator.ok(
            "POST", reserve, {"id_token": "CARD-T", "evse_id": 1, "minutes": 10}, status=201
        )
        sent = station.last("ReserveNow")
        assert (sent["connectorId"], sent["idTag"], sent["parentIdTag"]) == (1, "CARD-T", "FLEET")
        assert sent["reservationId"] == first["id"] and first["status"] == "Accepted"
        taken = await operator.post(reserve, {"id_token": "CARD-V", "evse_id": 1, "minutes": 5})
        assert taken.status_code == 409 and taken.json()["type"] == "/problems/connector-reserved"
        transaction, status = await _start16(client, 1, "CARD-T", first["id"], 0)
        assert status == "Accepted" and await _status(operator, "CP-R", first["id"]) == "Used"
        await client.call(
            call16.StopTransaction(
                meter_stop=2000, timestamp=now_text(60), transaction_id=transaction
            )
        )

        # TC_049: the whole station (connector 0); another token is refused, the holder uses it
        whole = await operator.ok(
            "POST", reserve, {"id_token": "CARD-V", "minutes": 10}, status=201
        )
        assert station.last("ReserveNow")["connectorId"] == 0 and whole["evse_id"] is None
        _, refused = await _start16(client, 2, "CARD-T", whole["id"], 120)
        assert refused == "Invalid" and await _status(operator, "CP-R", whole["id"]) == "Accepted"
        transaction, status = await _start16(client, 2, "CARD-V", whole["id"], 180)
        assert status == "Accepted" and await _status(operator, "CP-R", whole["id"]) == "Used"
        await client.call(
            call16.StopTransaction(
                meter_stop=2000, timestamp=now_text(200), transaction_id=transaction
            )
        )

        # TC_053: a token with the reservation's parentIdTag uses it
        grouped = await operator.ok(
            "POST", reserve, {"id_token": "CARD-T", "evse_id": 1, "minutes": 10}, status=201
        )
        _, status = await _start16(client, 1, "CARD-U", grouped["id"], 240)
        assert status == "Accepted" and await _status(operator, "CP-R", grouped["id"]) == "Used"
    finally:
        await client.close()


async def test_TC_047_and_TC_048_1_to_4_expiry_and_the_stations_refusals(
    operator: Operator,
) -> None:
    client = await station16(operator.running, "CP-X")
    station = scripted(client)
    reserve = "/api/v1/stations/CP-X/reservations"
    try:
        # TC_048_1..4: Faulted, Occupied, Unavailable, Rejected are kept; the EVSE is not held
        for answer in ("Faulted", "Occupied", "Unavailable", "Rejected"):
            station.answers["ReserveNow"] = {"status": answer}
            refused = await operator.ok(
                "POST", reserve, {"id_token": "CARD-1", "evse_id": 1, "minutes": 5}, status=201
            )
            assert (refused["status"], refused["ended_at"] is not None) == (answer, True)
        # TC_047: an accepted reservation ends Expired at its expiry
        station.answers["ReserveNow"] = ACCEPTED
        expires = datetime.now(UTC) + timedelta(seconds=1)
        held = await operator.ok(
            "POST",
            reserve,
            {"id_token": "CARD-1", "evse_id": 1, "expires_at": expires.isoformat()},
            status=201,
        )
        assert held["status"] == "Accepted"
        await eventually(
            lambda: _is(operator, "CP-X", held["id"], "Expired"), what="reservation expired"
        )
        bad = await operator.post(reserve, {"id_token": "CARD-1", "evse_id": 1})
        assert bad.status_code == 422  # neither minutes nor expires_at
    finally:
        await client.close()


async def _is(operator: Operator, station_id: str, reservation_id: int, status: str) -> bool:
    return await _status(operator, station_id, reservation_id) == status


async def test_TC_051_and_TC_052_cancel_a_reservation(operator: Operator) -> None:
    client = await station16(
        operator.running,
        "CP-C",
        {"ReserveNow": ACCEPTED, "CancelReservation": {"status": "Rejected"}},
    )
    station = scripted(client)
    try:
        held = await operator.ok(
            "POST",
            "/api/v1/stations/CP-C/reservations",
            {"id_token": "CARD-1", "evse_id": 2, "minutes": 10},
            status=201,
        )
        path = f"/api/v1/stations/CP-C/reservations/{held['id']}"
        # TC_052: the station refuses: the reservation stays
        refused = await operator.ok("DELETE", path)
        assert (refused["status"], refused["reservation"]["status"]) == ("Rejected", "Accepted")
        # TC_051
        station.answers["CancelReservation"] = ACCEPTED
        cancelled = await operator.ok("DELETE", path)
        assert (cancelled["status"], cancelled["reservation"]["status"]) == (
            "Accepted",
            "Cancelled",
        )
        assert station.of("CancelReservation") == [{"reservationId": held["id"]}] * 2
        again = await operator.delete(path)
        assert again.status_code == 409
        assert again.json()["type"] == "/problems/reservation-not-active"
    finally:
        await client.close()


def _started(reservation_id: int, id_token: str, transaction_id: str) -> call201.TransactionEvent:
    return call201.TransactionEvent(
        event_type="Started",
        timestamp=now_text(),
        trigger_reason="Authorized",
        seq_no=0,
        transaction_info={"transactionId": transaction_id},
        evse={"id": 1, "connectorId": 1},
        id_token={"idToken": id_token, "type": "ISO14443"},
        reservation_id=reservation_id,
    )


async def test_TC_H_01_TC_H_08_TC_H_14_TC_H_15_TC_H_19_reserve_and_use(
    operator: Operator,
) -> None:
    await operator.token("CARD-T", group_id="FLEET", type="ISO14443")
    await operator.token("CARD-U", group_id="FLEET", type="ISO14443")
    client = await station201(operator.running, "CS-R", {"ReserveNow": ACCEPTED})
    station = scripted(client)
    reserve = "/api/v1/stations/CS-R/reservations"
    try:
        # TC_H_01: a specific EVSE for a valid token, with its group
        specific = await operator.ok(
            "POST", reserve, {"id_token": "CARD-T", "evse_id": 1, "minutes": 10}, status=201
        )
        sent = station.last("ReserveNow")
        assert sent["id"] == specific["id"] and sent["evseId"] == 1
        assert sent["idToken"] == {"idToken": "CARD-T", "type": "ISO14443"}
        assert sent["groupIdToken"] == {"idToken": "FLEET", "type": "Central"}
        # TC_H_19: another token of the group uses it
        used = await client.call(_started(specific["id"], "CARD-U", "TX-H19"))
        assert used.id_token_info["status"] == "Accepted"
        assert used.id_token_info["group_id_token"]["id_token"] == "FLEET"
        assert await _status(operator, "CS-R", specific["id"]) == "Used"

        # TC_H_08 / TC_H_14: unspecified EVSEs, as many as the station takes
        for _ in range(2):
            any_evse = await operator.ok(
                "POST", reserve, {"id_token": "CARD-T", "minutes": 10}, status=201
            )
            assert any_evse["status"] == "Accepted" and "evseId" not in station.last("ReserveNow")
        station.answers["ReserveNow"] = {"status": "Occupied"}
        full = await operator.ok("POST", reserve, {"id_token": "CARD-T", "minutes": 10}, status=201)
        assert full["status"] == "Occupied"

        # TC_H_15: a connector type instead of an EVSE
        station.answers["ReserveNow"] = ACCEPTED
        typed = await operator.ok(
            "POST",
            reserve,
            {"id_token": "CARD-T", "connector_type": "cCCS2", "minutes": 10},
            status=201,
        )
        assert typed["status"] == "Accepted"
        assert station.last("ReserveNow")["connectorType"] == "cCCS2"
    finally:
        await client.close()


async def test_TC_H_07_TC_H_17_TC_H_20_TC_H_22_ended_cancelled_and_refused(
    operator: Operator,
) -> None:
    client = await station201(
        operator.running,
        "CS-E",
        {"ReserveNow": {"status": "Rejected"}, "CancelReservation": ACCEPTED},
    )
    station = scripted(client)
    reserve = "/api/v1/stations/CS-E/reservations"
    body = {"id_token": "CARD-1", "evse_id": 1, "minutes": 10}
    try:
        # TC_H_22: the station is configured to reject reservations
        assert (await operator.ok("POST", reserve, body, status=201))["status"] == "Rejected"
        station.answers["ReserveNow"] = ACCEPTED
        # TC_H_07: the reservation ended unused: the station says it expired
        expired = await operator.ok("POST", reserve, body, status=201)
        await client.call(
            call201.ReservationStatusUpdate(
                reservation_id=expired["id"], reservation_update_status="Expired"
            )
        )
        assert await _status(operator, "CS-E", expired["id"]) == "Expired"
        # TC_H_20: the EVSE faulted, the station removed the reservation
        removed = await operator.ok("POST", reserve, body, status=201)
        await client.call(
            call201.ReservationStatusUpdate(
                reservation_id=removed["id"], reservation_update_status="Removed"
            )
        )
        assert await _status(operator, "CS-E", removed["id"]) == "Cancelled"
        # TC_H_17: cancelled by the CSMS
        held = await operator.ok("POST", reserve, body, status=201)
        cancelled = await operator.ok("DELETE", f"{reserve}/{held['id']}")
        assert cancelled["reservation"]["status"] == "Cancelled"
        assert station.last("CancelReservation") == {"reservationId": held["id"]}
        # an update about a reservation the central system does not know is answered, and
        # changes nothing
        await client.call(
            call201.ReservationStatusUpdate(
                reservation_id=held["id"] + 1000, reservation_update_status="Expired"
            )
        )
        assert await _status(operator, "CS-E", held["id"]) == "Cancelled"
    finally:
        await client.close()
