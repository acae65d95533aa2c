"""OCPP 2.0.1 blocks E (transactions) and J (meter values) against the real central system, the
station being the `ocpp` package's client: every start and stop option (TC_E_01-TC_E_39),
GetTransactionStatus (TC_E_29-TC_E_34), seqNo reset (TC_E_53), clock-aligned, sampled and
signed meter values (TC_J_01-TC_J_11)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call
from ocpp.v201 import call_result as result

from central_system.domain.authorization import AuthorizationStatus
from central_system.persistence.models import MeterSampleRow, TransactionEventRow, TransactionRow
from tests.conftest import RunningCentralSystem
from tests.helpers import OcppClient
from tests.maintenance_helpers import (
    Recorder,
    admin_fixture,
    api,
    booted201,
    rows,
    shared_system,
    ts,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
system = shared_system()
__all__ = ["admin_fixture", "system"]


class Station(Recorder, ChargePoint201):
    @on("RequestStopTransaction")
    async def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        self.record("RequestStopTransaction", {"transaction_id": transaction_id})
        return result.RequestStopTransaction(status="Accepted")

    @on("GetTransactionStatus")
    async def on_status(self, **payload: Any) -> Any:
        self.record("GetTransactionStatus", payload)
        ongoing, queued = self.answer("GetTransactionStatus", (None, False))
        return result.GetTransactionStatus(messages_in_queue=queued, ongoing_indicator=ongoing)


def energy(wh: float, context: str = "Sample.Periodic", **extra: Any) -> dict[str, Any]:
    return {
        "value": wh,
        "context": context,
        "measurand": "Energy.Active.Import.Register",
        "unitOfMeasure": {"unit": "Wh"},
        **extra,
    }


def signed(data: str) -> dict[str, str]:
    return {
        "signedMeterData": data,
        "signingMethod": "ECDSA-secp256r1-SHA256",
        "encodingMethod": "OCMF",
        "publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
    }


class Tx:
    """One transaction of a station, its seqNo counting up (TC_E_53: from 0 per transaction)."""

    def __init__(self, client: OcppClient, transaction_id: str, evse_id: int | None = 1) -> None:
        self.client = client
        self.token = token_of(client)
        self.id = transaction_id
        self.evse_id = evse_id
        self.seq_no = 0
        self.clock = 0.0

    async def send(
        self,
        event_type: str,
        trigger: str,
        *,
        token: str | None = None,
        samples: list[dict[str, Any]] | None = None,
        evse: bool = True,
        **info: Any,
    ) -> Any:
        self.clock += 10
        extra = {key: info.pop(key) for key in ("offline",) if key in info}
        reply = await self.client.call(
            call.TransactionEvent(
                event_type=event_type,
                timestamp=ts(self.clock),
                trigger_reason=trigger,
                seq_no=self.seq_no,
                transaction_info={"transactionId": self.id, **info},
                evse={"id": self.evse_id, "connectorId": 1} if evse and self.evse_id else None,
                id_token={"idToken": token, "type": "ISO14443"} if token else None,
                meter_value=(
                    [{"timestamp": ts(self.clock), "sampledValue": samples}] if samples else None
                ),
                **extra,
            )
        )
        self.seq_no += 1
        return reply


def token_of(client: OcppClient) -> str:
    """Each station's driver has a token of their own (transactions of other tests may still
    run with theirs)."""
    return f"RFID-{client.cp.id}"


async def station(system: RunningCentralSystem, station_id: str) -> OcppClient:
    await system.services.authorization.add_token(f"RFID-{station_id}")
    return await booted201(system, station_id, Station)


async def transaction(system: RunningCentralSystem, station_id: str) -> Any:
    (found,) = await rows(system, TransactionRow, TransactionRow.station_id == station_id)
    return found


async def samples(system: RunningCentralSystem, station_id: str) -> list[Any]:
    found = await rows(system, MeterSampleRow, MeterSampleRow.station_id == station_id)
    return sorted(found, key=lambda s: (s.timestamp, s.reading_id, s.position))


async def status(client: OcppClient, state: str, evse_id: int = 1) -> None:
    await client.call(
        call.StatusNotification(
            timestamp=ts(), connector_status=state, evse_id=evse_id, connector_id=1
        )
    )


# --- start options -------------------------------------------------------------------------------


async def test_TC_E_01_start_transaction_options_power_path_closed(
    system: RunningCentralSystem,
) -> None:
    """TxStartPoint PowerPathClosed: one Started once authorized and plugged in, charging."""
    client = await station(system, "CS-E01")
    try:
        assert await client.call(
            call.Authorize(id_token={"idToken": token_of(client), "type": "ISO14443"})
        )
        await status(client, "Occupied")
        tx = Tx(client, "E01")
        started = await tx.send(
            "Started",
            "ChargingStateChanged",
            token=tx.token,
            samples=[energy(1_000, "Transaction.Begin")],
            chargingState="Charging",
        )
        assert started.id_token_info["status"] == "Accepted"
    finally:
        await client.close()
    found = await transaction(system, "CS-E01")
    assert (found.id_token, found.start_authorization, found.charging_state) == (
        token_of(client),
        "Accepted",
        "Charging",
    )
    assert found.meter_start_wh == 1_000


async def test_TC_E_02_start_transaction_options_energy_transfer(
    system: RunningCentralSystem,
) -> None:
    client = await station(system, "CS-E02")
    try:
        tx = Tx(client, "E02")
        started = await tx.send(
            "Started", "ChargingStateChanged", token=tx.token, chargingState="Charging"
        )
        assert started.id_token_info["status"] == "Accepted"
        await tx.send("Updated", "MeterValuePeriodic", samples=[energy(1_500)])
    finally:
        await client.close()
    found = await transaction(system, "CS-E02")
    assert (found.charging_state, found.live_energy_register_wh) == ("Charging", 1_500)


async def test_TC_E_03_local_start_cable_plugin_first(system: RunningCentralSystem) -> None:
    client = await station(system, "CS-E03")
    try:
        await status(client, "Occupied")
        tx = Tx(client, "E03")
        started = await tx.send("Started", "CablePluggedIn", chargingState="EVConnected")
        assert started.id_token_info is None
        authorized = await tx.send(
            "Updated", "Authorized", token=tx.token, chargingState="Charging"
        )
        assert authorized.id_token_info["status"] == "Accepted"
    finally:
        await client.close()
    found = await transaction(system, "CS-E03")
    assert (found.id_token, found.start_authorization, found.charging_state) == (
        token_of(client),
        "Accepted",
        "Charging",
    )


async def test_TC_E_04_local_start_authorization_first(system: RunningCentralSystem) -> None:
    client = await station(system, "CS-E04")
    try:
        reply = await client.call(
            call.Authorize(id_token={"idToken": token_of(client), "type": "ISO14443"})
        )
        assert reply.id_token_info["status"] == "Accepted"
        tx = Tx(client, "E04")
        started = await tx.send("Started", "Authorized", token=tx.token)
        assert started.id_token_info["status"] == "Accepted"
        await tx.send("Updated", "CablePluggedIn", chargingState="EVConnected")
        await tx.send("Updated", "ChargingStateChanged", chargingState="Charging")
    finally:
        await client.close()
    assert (await transaction(system, "CS-E04")).charging_state == "Charging"


async def test_TC_E_09_start_transaction_options_ev_connected(
    system: RunningCentralSystem,
) -> None:
    client = await station(system, "CS-E09")
    try:
        tx = Tx(client, "E09")
        await tx.send("Started", "CablePluggedIn", chargingState="EVConnected")
    finally:
        await client.close()
    found = await transaction(system, "CS-E09")
    assert (found.id_token, found.charging_state, found.stopped_at) == (None, "EVConnected", None)


async def test_TC_E_10_start_transaction_options_authorized_local(
    system: RunningCentralSystem,
) -> None:
    client = await station(system, "CS-E10")
    try:
        tx = Tx(client, "E10")
        started = await tx.send("Started", "Authorized", token=tx.token)
        assert started.id_token_info["status"] == "Accepted"
    finally:
        await client.close()
    found = await transaction(system, "CS-E10")
    assert (found.id_token, found.charging_state) == (token_of(client), None)


async def test_TC_E_11_start_transaction_options_data_signed(
    system: RunningCentralSystem,
) -> None:
    """TxStartPoint DataSigned: the Started event carries the signed start reading."""
    client = await station(system, "CS-E11")
    try:
        tx = Tx(client, "E11")
        await tx.send(
            "Started",
            "SignedDataReceived",
            token=tx.token,
            samples=[energy(2_000, "Transaction.Begin", signedMeterValue=signed("OCMF|begin"))],
            chargingState="Charging",
        )
    finally:
        await client.close()
    assert (await transaction(system, "CS-E11")).meter_start_wh == 2_000
    (sample,) = await samples(system, "CS-E11")
    assert json.loads(sample.signed_data) == signed("OCMF|begin")


async def test_TC_E_12_start_transaction_options_parking_bay_occupied(
    system: RunningCentralSystem,
) -> None:
    client = await station(system, "CS-E12")
    try:
        started = await Tx(client, "E12").send("Started", "EVDetected")
        assert started.id_token_info is None
    finally:
        await client.close()
    assert (await transaction(system, "CS-E12")).stopped_at is None


async def test_TC_E_38_local_start_ev_not_ready(system: RunningCentralSystem) -> None:
    """The EV does not take energy yet: SuspendedEV is recorded, then Charging."""
    client = await station(system, "CS-E38")
    try:
        tx = Tx(client, "E38")
        await tx.send("Started", "Authorized", token=tx.token, chargingState="EVConnected")
        await tx.send("Updated", "ChargingStateChanged", chargingState="SuspendedEV")
        assert (await transaction(system, "CS-E38")).charging_state == "SuspendedEV"
        await tx.send("Updated", "ChargingStateChanged", chargingState="Charging")
    finally:
        await client.close()
    assert (await transaction(system, "CS-E38")).charging_state == "Charging"


async def test_TC_E_53_seq_no_restarts_at_zero_for_each_transaction(
    system: RunningCentralSystem,
) -> None:
    """Each transaction's events count from seqNo 0; no event is taken for a replay."""
    client = await station(system, "CS-E53")
    try:
        for transaction_id in ("E53-A", "E53-B"):
            tx = Tx(client, transaction_id)
            await tx.send("Started", "Authorized", token=tx.token)
            await tx.send("Ended", "StopAuthorized", token=tx.token, stoppedReason="Local")
    finally:
        await client.close()
    found = await rows(system, TransactionRow, TransactionRow.station_id == "CS-E53")
    assert sorted((t.transaction_id, t.last_seq_no, t.stopped_at is not None) for t in found) == [
        ("E53-A", 1, True),
        ("E53-B", 1, True),
    ]
    events = await rows(
        system,
        TransactionEventRow,
        TransactionEventRow.transaction_row_id.in_([t.id for t in found]),
    )
    assert sorted(e.seq_no for e in events) == [0, 0, 1, 1]


# --- stop options --------------------------------------------------------------------------------


async def _started(system: RunningCentralSystem, station_id: str) -> tuple[OcppClient, Tx]:
    client = await station(system, station_id)
    tx = Tx(client, station_id.removeprefix("CS-"))
    await tx.send(
        "Started",
        "Authorized",
        token=tx.token,
        samples=[energy(10_000, "Transaction.Begin")],
        chargingState="Charging",
    )
    return client, tx


async def _ended(system: RunningCentralSystem, station_id: str) -> Any:
    found = await transaction(system, station_id)
    assert found.stopped_at is not None
    return found


async def test_TC_E_07_stop_transaction_options_power_path_closed_local_stop(
    system: RunningCentralSystem,
) -> None:
    client, tx = await _started(system, "CS-E07")
    try:
        ended = await tx.send(
            "Ended",
            "StopAuthorized",
            token=tx.token,
            samples=[energy(12_500, "Transaction.End")],
            stoppedReason="Local",
        )
        assert ended.id_token_info["status"] == "Accepted"
    finally:
        await client.close()
    found = await _ended(system, "CS-E07")
    assert (found.stop_reason, found.stop_id_token, found.meter_stop_wh) == (
        "Local",
        token_of(client),
        12_500,
    )


async def test_TC_E_08_stop_transaction_options_energy_transfer_stopped_stop_authorized(
    system: RunningCentralSystem,
) -> None:
    """The driver stops the energy transfer; the transaction ends when the cable is
    unplugged."""
    client, tx = await _started(system, "CS-E08")
    try:
        stop = await tx.send(
            "Updated", "StopAuthorized", token=tx.token, chargingState="EVConnected"
        )
        assert stop.id_token_info["status"] == "Accepted"
        await tx.send(
            "Ended",
            "EVCommunicationLost",
            samples=[energy(11_000, "Transaction.End")],
            stoppedReason="Local",
        )
    finally:
        await client.close()
    found = await _ended(system, "CS-E08")
    assert (found.stop_reason, found.meter_stop_wh) == ("Local", 11_000)


async def test_TC_E_14_stop_transaction_options_ev_disconnected_station_side(
    system: RunningCentralSystem,
) -> None:
    client, tx = await _started(system, "CS-E14")
    try:
        await tx.send("Ended", "EVCommunicationLost", stoppedReason="EVDisconnected")
        await status(client, "Available")
    finally:
        await client.close()
    assert (await _ended(system, "CS-E14")).stop_reason == "EVDisconnected"


async def test_TC_E_15_stop_transaction_options_stop_authorized_local(
    system: RunningCentralSystem,
) -> None:
    client, tx = await _started(system, "CS-E15")
    try:
        ended = await tx.send("Ended", "StopAuthorized", token=tx.token, stoppedReason="Local")
        assert ended.id_token_info["status"] == "Accepted"
    finally:
        await client.close()
    found = await _ended(system, "CS-E15")
    assert (found.stop_reason, found.stop_authorization) == ("Local", "Accepted")


async def test_TC_E_16_stop_transaction_options_deauthorized_invalid_id_token(
    system: RunningCentralSystem,
) -> None:
    """The station started offline-style with an unknown token; the central system answers
    Unknown and the station ends the transaction Deauthorized."""
    client = await station(system, "CS-E16")
    try:
        tx = Tx(client, "E16")
        started = await tx.send("Started", "Authorized", token="UNKNOWN-1")
        assert started.id_token_info["status"] == "Unknown"
        await tx.send("Ended", "Deauthorized", stoppedReason="DeAuthorized")
    finally:
        await client.close()
    found = await _ended(system, "CS-E16")
    assert (found.start_authorization, found.stop_reason) == ("Unknown", "DeAuthorized")


async def test_TC_E_17_stop_transaction_options_deauthorized_ev_side_disconnect(
    system: RunningCentralSystem,
) -> None:
    client, tx = await _started(system, "CS-E17")
    try:
        await tx.send("Updated", "EVCommunicationLost", chargingState="Idle")
        await tx.send("Ended", "Deauthorized", stoppedReason="EVDisconnected")
    finally:
        await client.close()
    assert (await _ended(system, "CS-E17")).stop_reason == "EVDisconnected"


async def test_TC_E_19_stop_transaction_options_parking_bay_unoccupied(
    system: RunningCentralSystem,
) -> None:
    client, tx = await _started(system, "CS-E19")
    try:
        await tx.send("Updated", "EVCommunicationLost", chargingState="Idle")
        await tx.send("Ended", "EVDeparted", stoppedReason="EVDisconnected")
    finally:
        await client.close()
    found = await _ended(system, "CS-E19")
    events = await rows(
        system, TransactionEventRow, TransactionEventRow.transaction_row_id == found.id
    )
    assert [e.trigger_reason for e in sorted(events, key=lambda e: e.seq_no)] == [
        "Authorized",
        "EVCommunicationLost",
        "EVDeparted",
    ]


async def test_TC_E_20_stop_transaction_options_ev_disconnected_ev_side(
    system: RunningCentralSystem,
) -> None:
    client, tx = await _started(system, "CS-E20")
    try:
        await tx.send(
            "Ended",
            "EVCommunicationLost",
            samples=[energy(10_750, "Transaction.End")],
            stoppedReason="EVDisconnected",
        )
    finally:
        await client.close()
    found = await _ended(system, "CS-E20")
    assert (found.stop_reason, found.meter_stop_wh) == ("EVDisconnected", 10_750)


async def test_TC_E_21_stop_transaction_options_stop_authorized_remote(
    system: RunningCentralSystem, admin: str
) -> None:
    """The operator stops the transaction through the REST API (RequestStopTransaction); the
    station ends it with triggerReason RemoteStop."""
    client, tx = await _started(system, "CS-E21")
    try:
        async with api(system, admin) as http:
            response = await http.post(
                "/api/v1/stations/CS-E21/ocpp/RequestStopTransaction",
                json={"transactionId": "E21"},
            )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "Accepted"
        assert client.cp.of("RequestStopTransaction") == [{"transaction_id": "E21"}]
        await tx.send("Ended", "RemoteStop", stoppedReason="Remote")
    finally:
        await client.close()
    assert (await _ended(system, "CS-E21")).stop_reason == "Remote"


async def test_TC_E_22_stop_transaction_options_energy_transfer_stopped_suspended_ev(
    system: RunningCentralSystem,
) -> None:
    client, tx = await _started(system, "CS-E22")
    try:
        await tx.send("Updated", "ChargingStateChanged", chargingState="SuspendedEV")
        assert (await transaction(system, "CS-E22")).charging_state == "SuspendedEV"
        await tx.send("Ended", "EVCommunicationLost", stoppedReason="EVDisconnected")
    finally:
        await client.close()
    found = await _ended(system, "CS-E22")
    assert (found.stop_reason, found.charging_state) == ("EVDisconnected", None)


async def test_TC_E_26_disconnect_cable_on_ev_side_suspend_transaction(
    system: RunningCentralSystem,
) -> None:
    """StopTxOnEVSideDisconnect=false: the transaction stays open while the cable is out and
    charges again when it is back."""
    client, tx = await _started(system, "CS-E26")
    try:
        await tx.send("Updated", "EVCommunicationLost", chargingState="Idle")
        await status(client, "Available")
        suspended = await transaction(system, "CS-E26")
        assert (suspended.stopped_at, suspended.charging_state) == (None, "Idle")
        await status(client, "Occupied")
        await tx.send("Updated", "CablePluggedIn", chargingState="Charging")
    finally:
        await client.close()
    resumed = await transaction(system, "CS-E26")
    assert (resumed.stopped_at, resumed.charging_state) == (None, "Charging")


async def test_TC_E_39_stop_transaction_options_deauthorized_timeout(
    system: RunningCentralSystem,
) -> None:
    """Authorized, but no cable within EVConnectionTimeOut: the station ends with Timeout."""
    client = await station(system, "CS-E39")
    try:
        tx = Tx(client, "E39")
        await tx.send("Started", "Authorized", token=tx.token)
        await tx.send("Ended", "EVConnectTimeout", stoppedReason="Timeout")
    finally:
        await client.close()
    found = await _ended(system, "CS-E39")
    assert (found.stop_reason, found.meter_start_wh, found.meter_stop_wh) == ("Timeout", None, None)


# --- GetTransactionStatus (E14) ------------------------------------------------------------------


async def _status_request(
    system: RunningCentralSystem, admin: str, station_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with api(system, admin) as http:
        response = await http.post(
            f"/api/v1/stations/{station_id}/ocpp/GetTransactionStatus", json=body
        )
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()["response"]
    return reply


async def test_TC_E_29_check_transaction_status_ongoing_with_messages_in_queue(
    system: RunningCentralSystem, admin: str
) -> None:
    """The station reports queued messages; it then delivers them (offline=true) and the
    central system takes them in order."""
    client, tx = await _started(system, "CS-E29")
    client.cp.answers["GetTransactionStatus"] = (True, True)
    try:
        reply = await _status_request(system, admin, "CS-E29", {"transactionId": "E29"})
        assert reply == {"messagesInQueue": True, "ongoingIndicator": True}
        assert client.cp.of("GetTransactionStatus") == [{"transaction_id": "E29"}]
        await tx.send("Updated", "MeterValuePeriodic", samples=[energy(10_400)], offline=True)
        await tx.send("Updated", "MeterValuePeriodic", samples=[energy(10_800)], offline=True)
    finally:
        await client.close()
    found = await transaction(system, "CS-E29")
    assert (found.offline, found.live_energy_register_wh, found.last_seq_no) == (True, 10_800, 2)


async def test_TC_E_30_check_transaction_status_ongoing_without_messages_in_queue(
    system: RunningCentralSystem, admin: str
) -> None:
    client, _ = await _started(system, "CS-E30")
    client.cp.answers["GetTransactionStatus"] = (True, False)
    try:
        reply = await _status_request(system, admin, "CS-E30", {"transactionId": "E30"})
        assert reply == {"messagesInQueue": False, "ongoingIndicator": True}
    finally:
        await client.close()


async def test_TC_E_31_check_transaction_status_ended_with_messages_in_queue(
    system: RunningCentralSystem, admin: str
) -> None:
    """The transaction ended while offline: the station says it is not ongoing and has queued
    messages; its queued Ended event then closes the transaction."""
    client, tx = await _started(system, "CS-E31")
    client.cp.answers["GetTransactionStatus"] = (False, True)
    try:
        reply = await _status_request(system, admin, "CS-E31", {"transactionId": "E31"})
        assert reply == {"messagesInQueue": True, "ongoingIndicator": False}
        await tx.send(
            "Ended", "StopAuthorized", token=tx.token, stoppedReason="Local", offline=True
        )
    finally:
        await client.close()
    assert (await _ended(system, "CS-E31")).offline


@pytest.mark.parametrize(("case", "queued"), [("E33", True), ("E34", False)])
async def test_TC_E_33_TC_E_34_check_transaction_status_without_transaction_id(
    system: RunningCentralSystem, admin: str, case: str, queued: bool
) -> None:
    """Without transactionId the station tells only whether it has queued messages:
    TC_E_33 with, TC_E_34 without."""
    client = await station(system, f"CS-{case}")
    client.cp.answers["GetTransactionStatus"] = (None, queued)
    try:
        reply = await _status_request(system, admin, f"CS-{case}", {})
        assert reply == {"messagesInQueue": queued}
        assert client.cp.of("GetTransactionStatus") == [{}]
    finally:
        await client.close()


# --- meter values (block J) ----------------------------------------------------------------------


async def test_TC_J_01_clock_aligned_meter_values_no_transaction(
    system: RunningCentralSystem,
) -> None:
    client = await station(system, "CS-J01")
    try:
        for evse_id, wh in ((0, 250_000), (1, 1_000)):
            await client.call(
                call.MeterValues(
                    evse_id=evse_id,
                    meter_value=[
                        {"timestamp": ts(900), "sampledValue": [energy(wh, "Sample.Clock")]}
                    ],
                )
            )
    finally:
        await client.close()
    found = await samples(system, "CS-J01")
    assert [(s.evse_id, s.context, s.value, s.transaction_row_id) for s in found] == [
        (0, "Sample.Clock", Decimal(250_000), None),
        (1, "Sample.Clock", Decimal(1_000), None),
    ]


async def test_TC_J_02_clock_aligned_meter_values_transaction_ongoing(
    system: RunningCentralSystem,
) -> None:
    client, tx = await _started(system, "CS-J02")
    try:
        await tx.send("Updated", "MeterValueClock", samples=[energy(10_300, "Sample.Clock")])
    finally:
        await client.close()
    found = await transaction(system, "CS-J02")
    clock = [s for s in await samples(system, "CS-J02") if s.context == "Sample.Clock"]
    assert [(s.value, s.transaction_row_id) for s in clock] == [(Decimal(10_300), found.id)]
    assert found.live_energy_register_wh == 10_300


async def test_TC_J_03_clock_aligned_meter_values_event_type_ended(
    system: RunningCentralSystem,
) -> None:
    """The Ended event carries the clock-aligned values and the Transaction.End reading."""
    client, tx = await _started(system, "CS-J03")
    try:
        await tx.send(
            "Ended",
            "StopAuthorized",
            token=tx.token,
            samples=[energy(10_900, "Sample.Clock"), energy(11_000, "Transaction.End")],
            stoppedReason="Local",
        )
    finally:
        await client.close()
    found = await _ended(system, "CS-J03")
    assert (found.meter_start_wh, found.meter_stop_wh) == (10_000, 11_000)
    contexts = [s.context for s in await samples(system, "CS-J03")]
    assert contexts == ["Transaction.Begin", "Sample.Clock", "Transaction.End"]


async def test_TC_J_04_clock_aligned_meter_values_signed(system: RunningCentralSystem) -> None:
    client, tx = await _started(system, "CS-J04")
    try:
        await tx.send(
            "Updated",
            "MeterValueClock",
            samples=[energy(10_200, "Sample.Clock", signedMeterValue=signed("OCMF|clock"))],
        )
    finally:
        await client.close()
    (clock,) = [s for s in await samples(system, "CS-J04") if s.context == "Sample.Clock"]
    assert clock.value == Decimal(10_200)
    assert json.loads(clock.signed_data) == signed("OCMF|clock")


async def test_TC_J_07_sampled_meter_values_event_type_started_evse_known(
    system: RunningCentralSystem,
) -> None:
    client, _ = await _started(system, "CS-J07")
    await client.close()
    found = await transaction(system, "CS-J07")
    (begin,) = await samples(system, "CS-J07")
    assert (found.evse_id, found.meter_start_wh) == (1, 10_000)
    assert (begin.context, begin.evse_id, begin.transaction_row_id) == (
        "Transaction.Begin",
        1,
        found.id,
    )


async def test_TC_J_08_sampled_meter_values_transaction_begin_evse_not_known(
    system: RunningCentralSystem,
) -> None:
    """The Started event has no EVSE yet (authorized before the cable); the EVSE comes with a
    later event and the transaction takes it."""
    client = await station(system, "CS-J08")
    try:
        tx = Tx(client, "J08", evse_id=2)
        await tx.send(
            "Started",
            "Authorized",
            token=tx.token,
            samples=[energy(3_000, "Transaction.Begin")],
            evse=False,
        )
        await tx.send("Updated", "CablePluggedIn", chargingState="Charging")
        await tx.send(
            "Ended",
            "StopAuthorized",
            token=tx.token,
            samples=[energy(3_600, "Transaction.End")],
            stoppedReason="Local",
        )
    finally:
        await client.close()
    found = await _ended(system, "CS-J08")
    assert (found.evse_id, found.connector_id) == (2, 1)
    assert (found.meter_start_wh, found.meter_stop_wh) == (3_000, 3_600)


async def test_TC_J_09_sampled_meter_values_event_type_updated(
    system: RunningCentralSystem,
) -> None:
    client, tx = await _started(system, "CS-J09")
    try:
        await tx.send(
            "Updated",
            "MeterValuePeriodic",
            samples=[
                energy(10_500),
                {"value": 7.4, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}},
                {"value": 48, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}},
            ],
        )
    finally:
        await client.close()
    found = await transaction(system, "CS-J09")
    assert (found.live_energy_register_wh, found.live_power_w, found.live_soc_percent) == (
        10_500,
        Decimal(7_400),
        Decimal(48),
    )


async def test_TC_J_10_sampled_meter_values_event_type_ended(system: RunningCentralSystem) -> None:
    client, tx = await _started(system, "CS-J10")
    try:
        await tx.send("Updated", "MeterValuePeriodic", samples=[energy(10_500)])
        await tx.send(
            "Ended",
            "StopAuthorized",
            token=tx.token,
            samples=[energy(10_600), energy(10_700, "Transaction.End")],
            stoppedReason="Local",
        )
    finally:
        await client.close()
    found = await _ended(system, "CS-J10")
    assert found.meter_stop_wh == 10_700
    assert (found.meter_stop_wh - found.meter_start_wh) == 700


async def test_TC_J_11_sampled_meter_values_signed(system: RunningCentralSystem) -> None:
    client = await station(system, "CS-J11")
    try:
        tx = Tx(client, "J11")
        await tx.send(
            "Started",
            "Authorized",
            token=tx.token,
            samples=[energy(500, "Transaction.Begin", signedMeterValue=signed("OCMF|b"))],
        )
        await tx.send(
            "Ended",
            "StopAuthorized",
            token=tx.token,
            samples=[energy(900, "Transaction.End", signedMeterValue=signed("OCMF|e"))],
            stoppedReason="Local",
        )
    finally:
        await client.close()
    found = await _ended(system, "CS-J11")
    assert (found.meter_start_wh, found.meter_stop_wh) == (500, 900)
    stored = await samples(system, "CS-J11")
    assert [json.loads(s.signed_data)["signedMeterData"] for s in stored] == ["OCMF|b", "OCMF|e"]


async def test_blocked_token_in_a_started_event_is_answered_blocked(
    system: RunningCentralSystem,
) -> None:
    """TC_C_06 at TransactionEvent: Blocked, never Invalid."""
    await system.services.authorization.add_token("BLOCKED-E", status=AuthorizationStatus.BLOCKED)
    client = await station(system, "CS-EBL")
    try:
        started = await Tx(client, "EBL").send("Started", "Authorized", token="BLOCKED-E")
        assert started.id_token_info["status"] == "Blocked"
    finally:
        await client.close()
