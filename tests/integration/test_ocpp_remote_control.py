"""Remote control over the REST API with real 1.6 and 2.0.1 stations (the `ocpp` package's
client), on SQLite and PostgreSQL; each command answered with the station's own reply, and what
the station does next recorded: remote start / stop, reset, unlock, availability, trigger, clear
cache, transaction status, data transfer, authorization by group and cache, master pass
(TC_010-TC_031, TC_054/055, TC_061, TC_B_20-27, TC_C_08-49, TC_E_29-34, TC_F_01-27, TC_G_03-20,
TC_P_02/03)."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import select

from central_system.domain.connectors import ConnectorKey, ConnectorStatus
from central_system.persistence.models import StationLogRow, TransactionRow
from tests.control_helpers import (
    Operator,
    now_text,
    operator,
    scripted,
    station16,
    station201,
)

__all__ = ["operator"]  # fixture

ACCEPTED = {"status": "Accepted"}


async def _stop_reason(operator: Operator, station_id: str, transaction_id: str) -> str | None:
    transaction = await operator.running.services.transactions.get(station_id, transaction_id)
    assert transaction is not None
    return transaction.stop_reason


async def _transactions(operator: Operator, station_id: str) -> list[TransactionRow]:
    async with operator.running.system.uow() as uow:
        rows = await uow.session.scalars(
            select(TransactionRow).where(TransactionRow.station_id == station_id)
        )
        return list(rows.all())


async def _start16(client: Any, connector: int, id_tag: str, offset_s: int) -> int:
    started = await client.call(
        call16.StartTransaction(
            connector_id=connector, id_tag=id_tag, meter_start=0, timestamp=now_text(offset_s)
        )
    )
    assert started.id_tag_info["status"] == "Accepted"
    transaction_id: int = started.transaction_id
    return transaction_id


async def _stop16(client: Any, transaction_id: int, reason: str, offset_s: int) -> None:
    await client.call(
        call16.StopTransaction(
            meter_stop=500,
            timestamp=now_text(offset_s),
            transaction_id=transaction_id,
            reason=reason,
        )
    )


async def test_TC_010_TC_011_1_TC_011_2_TC_012_TC_026_TC_028_remote_start_and_stop(
    operator: Operator,
) -> None:
    await operator.token("CARD-1")
    client = await station16(
        operator.running,
        "CP-RS",
        {"RemoteStartTransaction": ACCEPTED, "RemoteStopTransaction": ACCEPTED},
    )
    station = scripted(client)
    commands = "/api/v1/stations/CP-RS/commands"
    try:
        # TC_010: the cable is plugged in first
        await client.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
        )
        started = await operator.ok(
            "POST", f"{commands}/remote-start", {"id_token": "CARD-1", "evse_id": 1}
        )
        assert started["status"] == "Accepted"
        assert station.last("RemoteStartTransaction") == {"idTag": "CARD-1", "connectorId": 1}
        transaction = await _start16(client, 1, "CARD-1", 0)
        # TC_012: remote stop; the station stops with reason Remote
        stopped = await operator.ok(
            "POST", f"{commands}/remote-stop", {"transaction_id": str(transaction)}
        )
        assert stopped["status"] == "Accepted"
        assert station.last("RemoteStopTransaction") == {"transactionId": transaction}
        await _stop16(client, transaction, "Remote", 60)
        assert await _stop_reason(operator, "CP-RS", str(transaction)) == "Remote"

        # TC_011_1: remote start first, then the cable
        await operator.ok("POST", f"{commands}/remote-start", {"id_token": "CARD-1"})
        assert station.last("RemoteStartTransaction") == {"idTag": "CARD-1"}
        transaction = await _start16(client, 2, "CARD-1", 120)
        await _stop16(client, transaction, "Local", 180)
        # TC_011_2: accepted, but nobody plugs in: the station times out, no transaction
        before = len(await _transactions(operator, "CP-RS"))
        timed_out = await operator.ok(
            "POST", f"{commands}/remote-start", {"id_token": "CARD-1", "evse_id": 1}
        )
        assert timed_out["status"] == "Accepted"
        await client.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
        assert len(await _transactions(operator, "CP-RS")) == before

        # TC_026 / TC_028: refused
        station.answers["RemoteStartTransaction"] = {"status": "Rejected"}
        station.answers["RemoteStopTransaction"] = {"status": "Rejected"}
        refused = await operator.ok(
            "POST", f"{commands}/remote-start", {"id_token": "CARD-1", "evse_id": 1}
        )
        assert refused == {
            "status": "Rejected",
            "response": {"status": "Rejected"},
            "remote_start_id": refused["remote_start_id"],
        }
        not_stopped = await operator.ok(
            "POST", f"{commands}/remote-stop", {"transaction_id": str(transaction)}
        )
        assert not_stopped["status"] == "Rejected"
        not_a_number = await operator.post(f"{commands}/remote-stop", {"transaction_id": "TX-A"})
        assert not_a_number.status_code == 409  # a 1.6 transaction id is a number
    finally:
        await client.close()


async def test_TC_013_and_TC_014_resets_end_the_transaction_and_reboot(
    operator: Operator,
) -> None:
    await operator.token("CARD-1")
    client = await station16(operator.running, "CP-RST", {"Reset": ACCEPTED})
    station = scripted(client)
    try:
        for hard, reason, offset in ((True, "HardReset", 0), (False, "SoftReset", 600)):
            transaction = await _start16(client, 1, "CARD-1", offset)
            answer = await operator.ok(
                "POST",
                "/api/v1/stations/CP-RST/commands/reset",
                {"type": "hard" if hard else "soft"},
            )
            assert answer["status"] == "Accepted"
            assert station.last("Reset") == {"type": "Hard" if hard else "Soft"}
            await _stop16(client, transaction, reason, offset + 60)
            boot = await client.call(
                call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
            assert boot.status == "Accepted"
            assert await _stop_reason(operator, "CP-RST", str(transaction)) == reason
        evse_reset = await operator.post(
            "/api/v1/stations/CP-RST/commands/reset", {"type": "soft", "evse_id": 1}
        )
        assert evse_reset.status_code == 409  # 1.6 resets the whole station only
    finally:
        await client.close()


async def test_TC_017_1_TC_017_2_TC_018_1_TC_030_TC_031_unlock_connector(
    operator: Operator,
) -> None:
    await operator.token("CARD-1")
    client = await station16(operator.running, "CP-UL")
    station = scripted(client)
    unlock = "/api/v1/stations/CP-UL/commands/unlock"
    try:
        # TC_017_1 unlocked; TC_017_2 a fixed cable: NotSupported; TC_030 UnlockFailed
        for answer in ("Unlocked", "NotSupported", "UnlockFailed"):
            station.answers["UnlockConnector"] = {"status": answer}
            assert (await operator.ok("POST", unlock, {"evse_id": 1}))["status"] == answer
        # TC_031: an unknown connector
        station.answers["UnlockConnector"] = {"status": "NotSupported"}
        unknown = await operator.ok("POST", unlock, {"evse_id": 9})
        assert unknown["status"] == "NotSupported"
        assert station.last("UnlockConnector") == {"connectorId": 9}
        # TC_018_1: with a session: the station ends it, then unlocks
        transaction = await _start16(client, 2, "CARD-1", 0)
        station.answers["UnlockConnector"] = {"status": "Unlocked"}
        assert (await operator.ok("POST", unlock, {"evse_id": 2}))["status"] == "Unlocked"
        await _stop16(client, transaction, "UnlockCommand", 30)
        assert await _stop_reason(operator, "CP-UL", str(transaction)) == "UnlockCommand"
    finally:
        await client.close()


async def test_TC_054_TC_055_TC_061_trigger_clear_cache_and_availability_16(
    operator: Operator,
) -> None:
    client = await station16(
        operator.running,
        "CP-TR",
        {"TriggerMessage": ACCEPTED, "ClearCache": ACCEPTED, "ChangeAvailability": ACCEPTED},
    )
    station = scripted(client)
    commands = "/api/v1/stations/CP-TR/commands"
    try:
        # TC_054: each message the station can be asked for; it then sends it
        for message in (
            "StatusNotification",
            "MeterValues",
            "Heartbeat",
            "BootNotification",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
        ):
            answer = await operator.ok(
                "POST", f"{commands}/trigger", {"message": message, "evse_id": 1}
            )
            assert answer["status"] == "Accepted"
            assert station.last("TriggerMessage") == {"requestedMessage": message, "connectorId": 1}
        await client.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Unavailable")
        )
        connectors = await operator.running.services.stations.connectors("CP-TR")
        assert {c.key: c.status for c in connectors}[
            ConnectorKey(1, 1)
        ] is ConnectorStatus.UNAVAILABLE
        # TC_055: rejected
        station.answers["TriggerMessage"] = {"status": "Rejected"}
        rejected = await operator.ok("POST", f"{commands}/trigger", {"message": "MeterValues"})
        assert rejected["status"] == "Rejected"
        # TC_061: clear the authorization cache (and a station that refuses)
        assert (await operator.ok("POST", f"{commands}/clear-cache"))["status"] == "Accepted"
        station.answers["ClearCache"] = {"status": "Rejected"}
        assert (await operator.ok("POST", f"{commands}/clear-cache"))["status"] == "Rejected"
        # availability of a connector and of the whole station (Scheduled: during a session)
        down = await operator.ok(
            "POST", f"{commands}/availability", {"operative": False, "evse_id": 1}
        )
        assert down["status"] == "Accepted"
        assert station.last("ChangeAvailability") == {"connectorId": 1, "type": "Inoperative"}
        station.answers["ChangeAvailability"] = {"status": "Scheduled"}
        up = await operator.ok("POST", f"{commands}/availability", {"operative": True})
        assert up["status"] == "Scheduled"
        assert station.last("ChangeAvailability") == {"connectorId": 0, "type": "Operative"}
    finally:
        await client.close()


def _event(
    event_type: str,
    transaction_id: str,
    seq_no: int,
    *,
    trigger: str,
    evse: int = 1,
    id_token: str | None = None,
    **info: Any,
) -> call201.TransactionEvent:
    stopped = info.pop("stopped_reason", None)
    remote_start_id = info.pop("remote_start_id", None)
    transaction_info: dict[str, Any] = {"transactionId": transaction_id}
    if stopped:
        transaction_info["stoppedReason"] = stopped
    if remote_start_id is not None:
        transaction_info["remoteStartId"] = remote_start_id
    transaction_info.update(info)
    return call201.TransactionEvent(
        event_type=event_type,
        timestamp=now_text(seq_no),
        trigger_reason=trigger,
        seq_no=seq_no,
        transaction_info=transaction_info,
        evse={"id": evse, "connectorId": 1},
        id_token={"idToken": id_token, "type": "ISO14443"} if id_token else None,
    )


async def test_TC_B_20_to_TC_B_27_resets_of_station_and_evse(operator: Operator) -> None:
    await operator.token("CARD-1")
    client = await station201(operator.running, "CS-RST", {"Reset": ACCEPTED})
    station = scripted(client)
    reset = "/api/v1/stations/CS-RST/commands/reset"
    try:
        # TC_B_20: no transaction, OnIdle
        assert (await operator.ok("POST", reset, {"type": "soft"}))["status"] == "Accepted"
        assert station.last("Reset") == {"type": "OnIdle"}
        # TC_B_25: an EVSE without a transaction
        assert (await operator.ok("POST", reset, {"type": "soft", "evse_id": 2}))[
            "status"
        ] == "Accepted"
        assert station.last("Reset") == {"type": "OnIdle", "evseId": 2}
        await client.call(_event("Started", "TX-1", 0, trigger="Authorized", id_token="CARD-1"))
        # TC_B_21 / TC_B_26: with a transaction, OnIdle: the station schedules the reset
        station.answers["Reset"] = {"status": "Scheduled"}
        assert (await operator.ok("POST", reset, {"type": "soft"}))["status"] == "Scheduled"
        assert (await operator.ok("POST", reset, {"type": "soft", "evse_id": 1}))[
            "status"
        ] == "Scheduled"
        # TC_B_27: the EVSE at once: the transaction ends with ImmediateReset
        station.answers["Reset"] = ACCEPTED
        assert (await operator.ok("POST", reset, {"type": "hard", "evse_id": 1}))[
            "status"
        ] == "Accepted"
        assert station.last("Reset") == {"type": "Immediate", "evseId": 1}
        await client.call(
            _event("Ended", "TX-1", 1, trigger="ResetCommand", stopped_reason="ImmediateReset")
        )
        assert await _stop_reason(operator, "CS-RST", "TX-1") == "ImmediateReset"
        # TC_B_22: the station at once, during a transaction; then it boots again
        await client.call(_event("Started", "TX-2", 0, trigger="Authorized", id_token="CARD-1"))
        assert (await operator.ok("POST", reset, {"type": "hard"}))["status"] == "Accepted"
        assert station.last("Reset") == {"type": "Immediate"}
        await client.call(
            _event("Ended", "TX-2", 1, trigger="ResetCommand", stopped_reason="ImmediateReset")
        )
        boot = await client.call(
            call201.BootNotification(
                charging_station={"model": "DC-2", "vendor_name": "Acme"}, reason="RemoteReset"
            )
        )
        assert boot.status == "Accepted"
        assert await _stop_reason(operator, "CS-RST", "TX-2") == "ImmediateReset"
        record = await operator.running.services.stations.get("CS-RST")
        assert record is not None and record.boot_info is not None
        assert record.boot_info.reason == "RemoteReset"
    finally:
        await client.close()


async def test_TC_F_01_to_TC_F_04_and_TC_F_06_remote_start_stop_and_unlock(
    operator: Operator,
) -> None:
    await operator.token("CARD-1", type="ISO14443")
    client = await station201(
        operator.running,
        "CS-RS",
        {
            "RequestStartTransaction": ACCEPTED,
            "RequestStopTransaction": ACCEPTED,
            "UnlockConnector": {"status": "Unlocked"},
        },
    )
    station = scripted(client)
    commands = "/api/v1/stations/CS-RS/commands"
    try:
        # TC_F_01: the cable first
        await client.call(
            call201.StatusNotification(
                timestamp=now_text(), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        started = await operator.ok(
            "POST", f"{commands}/remote-start", {"id_token": "CARD-1", "evse_id": 1}
        )
        assert station.last("RequestStartTransaction") == {
            "idToken": {"idToken": "CARD-1", "type": "ISO14443"},
            "remoteStartId": started["remote_start_id"],
            "evseId": 1,
        }
        await client.call(
            _event(
                "Started",
                "TX-F1",
                0,
                trigger="RemoteStart",
                id_token="CARD-1",
                remote_start_id=started["remote_start_id"],
            )
        )
        transaction = await operator.running.services.transactions.get("CS-RS", "TX-F1")
        assert transaction is not None
        assert transaction.remote_start_id == started["remote_start_id"]
        stopped = await operator.ok("POST", f"{commands}/remote-stop", {"transaction_id": "TX-F1"})
        assert stopped["status"] == "Accepted"
        assert station.last("RequestStopTransaction") == {"transactionId": "TX-F1"}
        await client.call(
            _event("Ended", "TX-F1", 1, trigger="RemoteStop", stopped_reason="Remote")
        )
        # TC_F_02: remote start first, AuthorizeRemoteStart true: the station asks first
        second = await operator.ok("POST", f"{commands}/remote-start", {"id_token": "CARD-1"})
        authorized = await client.call(
            call201.Authorize(id_token={"idToken": "CARD-1", "type": "ISO14443"})
        )
        assert authorized.id_token_info["status"] == "Accepted"
        await client.call(
            _event(
                "Started",
                "TX-F2",
                0,
                trigger="RemoteStart",
                evse=2,
                id_token="CARD-1",
                remote_start_id=second["remote_start_id"],
            )
        )
        # TC_F_03: AuthorizeRemoteStart false: started without Authorize (concurrent token)
        third = await operator.ok("POST", f"{commands}/remote-start", {"id_token": "CARD-1"})
        answer = await client.call(
            _event(
                "Started",
                "TX-F3",
                0,
                trigger="RemoteStart",
                id_token="CARD-1",
                remote_start_id=third["remote_start_id"],
            )
        )
        assert answer.id_token_info["status"] == "ConcurrentTx"  # CARD-1 charges on EVSE 2
        await client.call(
            _event("Ended", "TX-F3", 1, trigger="Deauthorized", stopped_reason="DeAuthorized")
        )
        # TC_F_04: nobody plugs in: the station ends the transaction with Timeout
        fourth = await operator.ok(
            "POST", f"{commands}/remote-start", {"id_token": "CARD-1", "evse_id": 1}
        )
        await client.call(
            _event(
                "Started",
                "TX-F4",
                0,
                trigger="RemoteStart",
                remote_start_id=fourth["remote_start_id"],
                chargingState="Idle",
            )
        )
        await client.call(
            _event("Ended", "TX-F4", 1, trigger="EVConnectTimeout", stopped_reason="Timeout")
        )
        assert await _stop_reason(operator, "CS-RS", "TX-F4") == "Timeout"
        # TC_F_06: unlock without a transaction
        unlocked = await operator.ok(
            "POST", f"{commands}/unlock", {"evse_id": 1, "connector_id": 1}
        )
        assert unlocked["status"] == "Unlocked"
        assert station.last("UnlockConnector") == {"evseId": 1, "connectorId": 1}
    finally:
        await client.close()


async def test_TC_F_11_to_TC_F_27_trigger_messages(operator: Operator) -> None:
    client = await station201(operator.running, "CS-TR", {"TriggerMessage": ACCEPTED})
    station = scripted(client)
    trigger = "/api/v1/stations/CS-TR/commands/trigger"
    try:
        cases = [
            ({"message": "MeterValues", "evse_id": 1}, {"id": 1}),  # TC_F_11
            ({"message": "MeterValues"}, None),  # TC_F_12
            ({"message": "TransactionEvent", "evse_id": 2}, {"id": 2}),  # TC_F_13
            ({"message": "TransactionEvent"}, None),  # TC_F_14
            ({"message": "LogStatusNotification"}, None),  # TC_F_15
            ({"message": "DiagnosticsStatusNotification"}, None),  # the 1.6 name works too
            ({"message": "FirmwareStatusNotification"}, None),  # TC_F_18
            ({"message": "Heartbeat"}, None),  # TC_F_20
            (
                {"message": "StatusNotification", "evse_id": 1, "connector_id": 1},
                {"id": 1, "connectorId": 1},
            ),  # TC_F_23 / TC_F_24
        ]
        for body, evse in cases:
            answer = await operator.ok("POST", trigger, body)
            assert answer["status"] == "Accepted"
            expected = {
                "requestedMessage": "LogStatusNotification"
                if body["message"] == "DiagnosticsStatusNotification"
                else body["message"]
            }
            if evse:
                expected["evse"] = evse
            assert station.last("TriggerMessage") == expected
        # TC_F_23 / TC_F_24: the triggered status is recorded
        for status in ("Available", "Occupied"):
            await client.call(
                call201.StatusNotification(
                    timestamp=now_text(), connector_status=status, evse_id=1, connector_id=1
                )
            )
            connectors = await operator.running.services.stations.connectors("CS-TR")
            assert {c.key: c.status.value for c in connectors}[ConnectorKey(1, 1)] == status
        # TC_F_27: a message the station does not implement
        station.answers["TriggerMessage"] = {"status": "NotImplemented"}
        answer = await operator.ok("POST", trigger, {"message": "SignV2GCertificate"})
        assert answer == {"status": "NotImplemented", "response": {"status": "NotImplemented"}}
    finally:
        await client.close()


async def test_TC_G_03_to_TC_G_17_change_availability_and_TC_G_20_lock_failure(
    operator: Operator,
) -> None:
    client = await station201(operator.running, "CS-AV", {"ChangeAvailability": ACCEPTED})
    station = scripted(client)
    path = "/api/v1/stations/CS-AV/commands/availability"
    try:
        cases = [
            ({"operative": False, "evse_id": 1}, {"id": 1}),  # TC_G_03
            ({"operative": True, "evse_id": 1}, {"id": 1}),  # TC_G_04
            ({"operative": False}, None),  # TC_G_05
            ({"operative": True}, None),  # TC_G_06
            ({"operative": False, "evse_id": 1, "connector_id": 1}, {"id": 1, "connectorId": 1}),
            ({"operative": True, "evse_id": 1, "connector_id": 1}, {"id": 1, "connectorId": 1}),
        ]  # TC_G_07 / TC_G_08: a connector
        for body, evse in cases:
            assert (await operator.ok("POST", path, body))["status"] == "Accepted"
            expected: dict[str, Any] = {
                "operationalStatus": "Operative" if body["operative"] else "Inoperative"
            }
            if evse:
                expected["evse"] = evse
            assert station.last("ChangeAvailability") == expected
        # TC_G_11 / TC_G_14 / TC_G_17: during a transaction the change is scheduled
        station.answers["ChangeAvailability"] = {"status": "Scheduled"}
        for body in (
            {"operative": False, "evse_id": 1},
            {"operative": False},
            {"operative": False, "evse_id": 1, "connector_id": 1},
        ):
            assert (await operator.ok("POST", path, body))["status"] == "Scheduled"
        # TC_G_20: a connector lock failure is reported as an event: answered and kept
        await client.call(
            call201.NotifyEvent(
                generated_at=now_text(),
                seq_no=0,
                event_data=[
                    {
                        "eventId": 1,
                        "timestamp": now_text(),
                        "trigger": "Delta",
                        "actualValue": "true",
                        "eventNotificationType": "HardWiredNotification",
                        "component": {
                            "name": "ConnectorPlugRetentionLock",
                            "evse": {"id": 1, "connectorId": 1},
                        },
                        "variable": {"name": "Problem"},
                    }
                ],
            )
        )
        logged = await _log(operator, "CS-AV", "NotifyEvent")
        assert logged[0]["eventData"][0]["component"]["name"] == "ConnectorPlugRetentionLock"
    finally:
        await client.close()


async def _log(operator: Operator, station_id: str, kind: str) -> list[dict[str, Any]]:
    async with operator.running.system.uow() as uow:
        rows = await uow.session.scalars(
            select(StationLogRow)
            .where(StationLogRow.station_id == station_id, StationLogRow.kind == kind)
            .order_by(StationLogRow.id)
        )
        return [row.data for row in rows.all()]


async def test_TC_C_08_TC_C_20_TC_C_37_TC_C_38_TC_C_39_authorization_cache_and_group(
    operator: Operator,
) -> None:
    await operator.token("CARD-G", group_id="FLEET", type="ISO14443")
    await operator.token("CARD-X", status="Blocked", type="ISO14443")
    client = await station201(operator.running, "CS-AU", {"ClearCache": ACCEPTED})
    station = scripted(client)
    try:
        # TC_C_37 / TC_C_38: clear the cache; a station that refuses
        path = "/api/v1/stations/CS-AU/commands/clear-cache"
        assert (await operator.ok("POST", path))["status"] == "Accepted"
        station.answers["ClearCache"] = {"status": "Rejected"}
        assert (await operator.ok("POST", path))["status"] == "Rejected"
        assert station.of("ClearCache") == [{}, {}]
        # TC_C_39: authorized by the group
        authorized = await client.call(
            call201.Authorize(id_token={"idToken": "CARD-G", "type": "ISO14443"})
        )
        assert authorized.id_token_info == {
            "status": "Accepted",
            "group_id_token": {"id_token": "FLEET", "type": "Central"},
        }
        # TC_C_08: the station started from its cache: the central system confirms
        confirmed = await client.call(
            _event("Started", "TX-C8", 0, trigger="Authorized", id_token="CARD-G")
        )
        assert confirmed.id_token_info["status"] == "Accepted"
        # TC_C_20: the cache said Accepted, the central system says otherwise: the station stops
        refused = await client.call(
            _event("Started", "TX-C20", 0, trigger="Authorized", evse=2, id_token="CARD-X")
        )
        assert refused.id_token_info["status"] == "Blocked"
        await client.call(
            _event(
                "Ended",
                "TX-C20",
                1,
                trigger="Deauthorized",
                evse=2,
                stopped_reason="DeAuthorized",
            )
        )
        assert await _stop_reason(operator, "CS-AU", "TX-C20") == "DeAuthorized"
    finally:
        await client.close()


async def test_TC_C_47_TC_C_48_TC_C_49_stop_transactions_with_a_master_pass(
    operator: Operator,
) -> None:
    await operator.token("CARD-1", type="ISO14443")
    await operator.token("CARD-2", type="ISO14443")
    await operator.token("MASTER", group_id="MASTERPASS", type="ISO14443")
    client = await station201(operator.running, "CS-MP")
    try:
        for transaction, evse, card in (("TX-1", 1, "CARD-1"), ("TX-2", 2, "CARD-2")):
            await client.call(
                _event("Started", transaction, 0, trigger="Authorized", evse=evse, id_token=card)
            )
        # the master pass is answered with its group (the station's MasterPassGroupId)
        master = await client.call(
            call201.Authorize(id_token={"idToken": "MASTER", "type": "ISO14443"})
        )
        assert master.id_token_info["group_id_token"]["id_token"] == "MASTERPASS"
        # TC_C_48: one chosen transaction; TC_C_47 / TC_C_49: all of them
        for transaction, evse in (("TX-1", 1), ("TX-2", 2)):
            ended = await client.call(
                _event(
                    "Ended",
                    transaction,
                    1,
                    trigger="StopAuthorized",
                    evse=evse,
                    id_token="MASTER",
                    stopped_reason="MasterPass",
                )
            )
            assert ended.id_token_info["status"] == "Accepted"
            assert await _stop_reason(operator, "CS-MP", transaction) == "MasterPass"
    finally:
        await client.close()


async def test_TC_E_29_to_TC_E_34_get_transaction_status(operator: Operator) -> None:
    client = await station201(operator.running, "CS-TS")
    station = scripted(client)
    path = "/api/v1/stations/CS-TS/commands/transaction-status"
    cases = [
        ({"transaction_id": "TX-1"}, {"ongoingIndicator": True, "messagesInQueue": True}),  # E_29
        ({"transaction_id": "TX-1"}, {"ongoingIndicator": True, "messagesInQueue": False}),  # E_30
        ({"transaction_id": "TX-0"}, {"ongoingIndicator": False, "messagesInQueue": True}),  # E_31
        ({}, {"messagesInQueue": True}),  # TC_E_33
        ({}, {"messagesInQueue": False}),  # TC_E_34
    ]
    try:
        for body, answer in cases:
            station.answers["GetTransactionStatus"] = answer
            status = await operator.ok("POST", path, body)
            assert (status["ongoing"], status["messages_in_queue"]) == (
                answer.get("ongoingIndicator"),
                answer["messagesInQueue"],
            )
            expected = {"transactionId": body["transaction_id"]} if body else {}
            assert station.last("GetTransactionStatus") == expected
    finally:
        await client.close()
    old = await station16(operator.running, "CP-TS")
    try:
        refused = await operator.post("/api/v1/stations/CP-TS/commands/transaction-status", {})
        assert refused.status_code == 409  # OCPP 2.x only
    finally:
        await old.close()


async def test_TC_P_02_TC_P_03_data_transfer_both_ways_and_custom_data(
    operator: Operator,
) -> None:
    client = await station201(
        operator.running, "CS-DT", {"DataTransfer": {"status": "Accepted", "data": {"x": 1}}}
    )
    station = scripted(client)
    try:
        # TC_P_02: an unknown vendor, an unknown message of a known vendor
        unknown_vendor = await client.call(call201.DataTransfer(vendor_id="com.unknown"))
        assert unknown_vendor.status == "UnknownVendorId"
        unknown_message = await client.call(
            call201.DataTransfer(vendor_id="org.evcharge", message_id="NoSuchMessage")
        )
        assert unknown_message.status == "UnknownMessageId"
        # TC_P_03: custom data in a message is accepted
        heartbeat = await client.call(
            call201.Heartbeat(custom_data={"vendorId": "com.example", "firmwareBuild": 7})
        )
        assert heartbeat.current_time
        # to the station
        sent = await operator.ok(
            "POST",
            "/api/v1/stations/CS-DT/commands/data-transfer",
            {"vendor_id": "com.example", "message_id": "Ping", "data": {"n": 1}},
        )
        assert sent == {"status": "Accepted", "response": {"status": "Accepted", "data": {"x": 1}}}
        assert station.last("DataTransfer") == {
            "vendorId": "com.example",
            "messageId": "Ping",
            "data": {"n": 1},
        }
    finally:
        await client.close()
    old = await station16(
        operator.running, "CP-DT", {"DataTransfer": {"status": "UnknownVendorId"}}
    )
    try:
        answer = await operator.ok(
            "POST",
            "/api/v1/stations/CP-DT/commands/data-transfer",
            {"vendor_id": "com.example", "data": {"n": 1}},
        )
        assert answer["status"] == "UnknownVendorId"
        assert scripted(old).last("DataTransfer") == {"vendorId": "com.example", "data": '{"n":1}'}
    finally:
        await old.close()
