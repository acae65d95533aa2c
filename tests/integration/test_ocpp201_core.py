"""OCPP 2.0.1 (and 2.1) against the real central system over 127.0.0.1 with the `ocpp`
package's client, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError, SecurityError
from ocpp.v201 import call
from sqlalchemy import select

from central_system.domain.authorization import AuthorizationStatus
from central_system.domain.stations import RegistrationStatus
from central_system.persistence.models import (
    MeterSampleRow,
    StationLogRow,
    TransactionEventRow,
    TransactionRow,
)
from tests.conftest import RunningCentralSystem
from tests.helpers import OcppClient, connect, wait_for

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def ts(offset_s: float = 0) -> str:
    return (NOW + timedelta(seconds=offset_s)).isoformat()


async def rows(running: RunningCentralSystem, model: type, *where: object) -> list[Any]:
    async with running.system.uow() as uow:
        return list((await uow.session.scalars(select(model).where(*where))).all())


def boot() -> call.BootNotification:
    return call.BootNotification(
        charging_station={"model": "DC-2", "vendor_name": "Acme", "serial_number": "SN-9"},
        reason="PowerUp",
    )


async def booted(
    running: RunningCentralSystem, station_id: str = "CS-1", version: str = "2.0.1"
) -> OcppClient:
    await running.services.stations.register(station_id)
    client = await connect(running.ocpp_url, station_id, version=version)
    reply = await client.call(boot())
    assert reply.status == "Accepted"
    return client


def energy(
    value: float, *, unit: str = "Wh", context: str = "Sample.Periodic", multiplier: int = 0
) -> dict[str, Any]:
    return {
        "value": value,
        "context": context,
        "measurand": "Energy.Active.Import.Register",
        "unitOfMeasure": {"unit": unit, "multiplier": multiplier},
    }


def event(
    event_type: str,
    seq_no: int,
    offset_s: float,
    *,
    trigger: str = "MeterValuePeriodic",
    transaction_id: str = "TX-1",
    samples: list[dict[str, Any]] | None = None,
    id_token: str | None = None,
    **extra: Any,
) -> call.TransactionEvent:
    info: dict[str, Any] = {"transactionId": transaction_id}
    info.update(extra.pop("info", {}))
    return call.TransactionEvent(
        event_type=event_type,
        timestamp=ts(offset_s),
        trigger_reason=trigger,
        seq_no=seq_no,
        transaction_info=info,
        evse={"id": 1, "connectorId": 1},
        id_token={"idToken": id_token, "type": "ISO14443"} if id_token else None,
        meter_value=[{"timestamp": ts(offset_s), "sampledValue": samples}] if samples else None,
        **extra,
    )


async def test_cold_boot_accepted(central_system: RunningCentralSystem) -> None:
    """TC_B_01_CSMS."""
    client = await booted(central_system)
    try:
        heartbeat = await client.call(call.Heartbeat())
        assert heartbeat.current_time.endswith("Z")
    finally:
        await client.close()
    station = await central_system.services.stations.get("CS-1")
    assert station.boot_info.serial_number == "SN-9" and station.boot_info.reason == "PowerUp"
    assert station.ocpp_version == "2.0.1"


async def test_messages_before_an_accepted_boot_get_security_error(
    central_system: RunningCentralSystem,
) -> None:
    """TC_B_02 / TC_B_30: Pending boot, then anything but BootNotification is SecurityError."""
    await central_system.services.stations.register(
        "CS-P", registration_status=RegistrationStatus.PENDING
    )
    client = await connect(central_system.ocpp_url, "CS-P", version="2.0.1")
    try:
        with pytest.raises(SecurityError):
            await client.call(call.Heartbeat())
        assert (await client.call(boot())).status == "Pending"
        with pytest.raises(SecurityError):
            await client.call(
                call.StatusNotification(
                    timestamp=ts(), connector_status="Available", evse_id=1, connector_id=1
                )
            )
        # The operator accepts the station; its next boot is accepted and it may talk.
        await central_system.services.stations.register("CS-P")
        assert (await client.call(boot())).status == "Accepted"
        await client.call(call.Heartbeat())
    finally:
        await client.close()


async def test_accepted_boot_survives_a_reconnect(central_system: RunningCentralSystem) -> None:
    """A station does not resend BootNotification on reconnect unless its data changed."""
    client = await booted(central_system)
    await client.close()
    again = await connect(central_system.ocpp_url, "CS-1", version="2.0.1")
    try:
        await again.call(call.Heartbeat())
    finally:
        await again.close()


@pytest.mark.parametrize(
    ("registry_status", "expires_in", "expected"),
    [
        (None, None, "Unknown"),  # TC_C_02
        ("Blocked", None, "Blocked"),  # TC_C_06
        ("Accepted", -60, "Expired"),  # TC_C_07
        ("Accepted", None, "Accepted"),
    ],
)
async def test_authorize(
    central_system: RunningCentralSystem,
    registry_status: str | None,
    expires_in: int | None,
    expected: str,
) -> None:
    if registry_status:
        expires = datetime.now(UTC) + timedelta(seconds=expires_in) if expires_in else None
        await central_system.services.authorization.add_token(
            "RFID-1",
            status=AuthorizationStatus(registry_status),
            expires_at=expires,
            group_id="FLEET",
        )
    client = await booted(central_system)
    try:
        reply = await client.call(
            call.Authorize(id_token={"idToken": "RFID-1", "type": "ISO14443"})
        )
        assert reply.id_token_info["status"] == expected
        if registry_status:
            assert reply.id_token_info["group_id_token"] == {"id_token": "FLEET", "type": "Central"}
    finally:
        await client.close()


async def test_transaction_with_replays(central_system: RunningCentralSystem) -> None:
    """E01-E06, J02 and TC_E_04: energy from Transaction.Begin/End registers, units and
    multipliers normalised; replayed seqNos change nothing and get the first answer."""
    await central_system.services.authorization.add_token("RFID-1")
    client = await booted(central_system)
    started = event(
        "Started",
        0,
        0,
        trigger="Authorized",
        id_token="RFID-1",
        samples=[energy(5_000, context="Transaction.Begin")],
        info={"chargingState": "Charging"},
    )
    updated = event(
        "Updated",
        1,
        60,
        samples=[
            energy(6.25, unit="kWh"),
            {"value": 11, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}},
            {"value": 62, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}},
            {
                "value": 2302,
                "measurand": "Voltage",
                "unitOfMeasure": {"unit": "V", "multiplier": -1},
            },
        ],
    )
    ended = event(
        "Ended",
        2,
        120,
        trigger="StopAuthorized",
        id_token="RFID-1",
        samples=[energy(7.5, unit="kWh", context="Transaction.End")],
        info={"stoppedReason": "Local"},
    )
    try:
        first_start = await client.call(started)
        assert first_start.id_token_info["status"] == "Accepted"
        assert await client.call(updated) is not None
        first_end = await client.call(ended)
        # Replays of every event (after an outage):
        assert (await client.call(started)).id_token_info == first_start.id_token_info
        await client.call(updated)
        assert (await client.call(ended)).id_token_info == first_end.id_token_info
    finally:
        await client.close()
    (tx,) = await rows(central_system, TransactionRow)
    assert (tx.transaction_id, tx.meter_start_wh, tx.meter_stop_wh) == ("TX-1", 5_000, 7_500)
    assert tx.stop_reason == "Local" and tx.stopped_at is not None and tx.last_seq_no == 2
    assert tx.live_soc_percent == Decimal(62) and tx.live_power_w == Decimal(11_000)
    events = await rows(central_system, TransactionEventRow)
    assert sorted(e.seq_no for e in events) == [0, 1, 2]
    samples = await rows(central_system, MeterSampleRow)
    assert len(samples) == 6
    voltage = next(s for s in samples if s.measurand == "Voltage")
    assert voltage.value == Decimal("230.2")


async def test_plug_in_first_then_authorized(central_system: RunningCentralSystem) -> None:
    """TC_E_03: the transaction starts on cable plug-in; the token comes with an Updated event."""
    await central_system.services.authorization.add_token("RFID-1")
    client = await booted(central_system)
    try:
        started = await client.call(event("Started", 0, 0, trigger="CablePluggedIn"))
        assert started.id_token_info is None
        authorized = await client.call(
            event("Updated", 1, 10, trigger="Authorized", id_token="RFID-1")
        )
        assert authorized.id_token_info["status"] == "Accepted"
    finally:
        await client.close()
    (tx,) = await rows(central_system, TransactionRow)
    assert (tx.id_token, tx.start_authorization, tx.stopped_at) == ("RFID-1", "Accepted", None)


async def test_blocked_token_in_transaction_event(central_system: RunningCentralSystem) -> None:
    await central_system.services.authorization.add_token("BAD", status=AuthorizationStatus.BLOCKED)
    client = await booted(central_system)
    try:
        reply = await client.call(event("Started", 0, 0, trigger="Authorized", id_token="BAD"))
        assert reply.id_token_info["status"] == "Blocked"
    finally:
        await client.close()


async def test_offline_transaction_whose_start_was_lost(
    central_system: RunningCentralSystem,
) -> None:
    """Events queued offline (offline=true) arrive; the Started one never does."""
    client = await booted(central_system)
    try:
        await client.call(
            event("Updated", 3, 30, offline=True, samples=[energy(100)], transaction_id="TX-9")
        )
        await client.call(
            event(
                "Ended",
                4,
                90,
                offline=True,
                samples=[energy(900, context="Transaction.End")],
                transaction_id="TX-9",
                info={"stoppedReason": "EVDisconnected"},
            )
        )
    finally:
        await client.close()
    (tx,) = await rows(central_system, TransactionRow)
    assert tx.offline and (tx.meter_start_wh, tx.meter_stop_wh) == (100, 900)
    assert tx.stop_reason == "EVDisconnected"


async def test_notifications_are_answered_and_stored(central_system: RunningCentralSystem) -> None:
    client = await booted(central_system)
    try:
        await client.call(call.SecurityEventNotification(type="FirmwareUpdated", timestamp=ts()))
        await client.call(
            call.NotifyReport(
                request_id=1,
                generated_at=ts(),
                seq_no=0,
                tbc=False,
                report_data=[
                    {
                        "component": {"name": "DataLink"},
                        "variable": {"name": "SignalStrength"},
                        "variableAttribute": [{"type": "Actual", "value": "-71"}],
                    }
                ],
            )
        )
        await client.call(
            call.NotifyEvent(
                generated_at=ts(),
                seq_no=0,
                event_data=[
                    {
                        "eventId": 1,
                        "timestamp": ts(),
                        "trigger": "Delta",
                        "actualValue": "-75",
                        "eventNotificationType": "CustomMonitor",
                        "component": {"name": "DataLink"},
                        "variable": {"name": "SignalStrength"},
                    }
                ],
            )
        )
        await client.call(call.FirmwareStatusNotification(status="Installed", request_id=1))
        await client.call(call.LogStatusNotification(status="Uploaded", request_id=2))
        await client.call(
            call.MeterValues(
                evse_id=0, meter_value=[{"timestamp": ts(), "sampledValue": [energy(42)]}]
            )
        )
        unknown = await client.call(call.DataTransfer(vendor_id="org.unknown", message_id="x"))
        assert unknown.status == "UnknownVendorId"  # TC_P_02
        with pytest.raises(NotSupportedError):
            await client.call(
                call.Get15118EVCertificate(
                    iso15118_schema_version="x", action="Install", exi_request="AA=="
                )
            )
    finally:
        await client.close()
    log = await rows(central_system, StationLogRow)
    kinds = {entry.kind for entry in log}
    signal = [e.data for e in log if e.kind == "SignalStrength"]
    assert signal == [  # from the NotifyReport, then from the NotifyEvent
        {"rssiDbm": -71, "quality": "excellent", "csq": None, "ber": None},
        {"rssiDbm": -75, "quality": "good", "csq": None, "ber": None},
    ]
    assert {
        "SecurityEventNotification",
        "NotifyReport",
        "NotifyEvent",
        "FirmwareStatusNotification",
        "LogStatusNotification",
    } <= kinds
    station = await central_system.services.stations.get("CS-1")
    assert (station.firmware_status, station.diagnostics_status) == ("Installed", "Uploaded")
    (sample,) = await rows(central_system, MeterSampleRow)
    assert (sample.evse_id, sample.value) == (0, Decimal(42))


async def test_ocpp_21_station(central_system: RunningCentralSystem) -> None:
    """OCPP 2.1 on the same port: boot and a transaction with the 2.1 schemas."""
    from ocpp.v21 import ChargePoint as ChargePoint21
    from ocpp.v21 import call as call21

    await central_system.services.stations.register("CS-21")
    client = await connect(
        central_system.ocpp_url, "CS-21", version="2.1", charge_point_class=ChargePoint21
    )
    try:
        reply = await client.call(
            call21.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        assert reply.status == "Accepted"
        await client.call(
            call21.TransactionEvent(
                event_type="Started",
                timestamp=ts(),
                trigger_reason="CablePluggedIn",
                seq_no=0,
                transaction_info={"transactionId": "T21"},
                evse={"id": 1, "connectorId": 1},
            )
        )
    finally:
        await client.close()
    (tx,) = await rows(central_system, TransactionRow)
    assert tx.transaction_id == "T21"


@pytest.mark.parametrize(
    ("username", "password"),
    [("CS-OTHER", "0123456789abcdef0123"), ("CS-A", "not-the-password-0000")],
    ids=["TC_A_02_username_is_not_the_station_id", "TC_A_03_invalid_password"],
)
async def test_TC_A_02_TC_A_03_basic_authentication_refused(
    central_system: RunningCentralSystem, username: str, password: str
) -> None:
    import websockets

    from tests.helpers import basic_auth

    await central_system.services.stations.register("CS-A", password="0123456789abcdef0123")
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            f"{central_system.ocpp_url}/CS-A",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=basic_auth(username, password),
        )
    assert refused.value.response.status_code == 401
    client = await connect(
        central_system.ocpp_url, "CS-A", version="2.0.1", password="0123456789abcdef0123"
    )
    try:
        assert (await client.call(boot())).status == "Accepted"  # TC_A_01
    finally:
        await client.close()


async def test_TC_B_31_pending_station_is_asked_to_boot_again_with_trigger_message(
    central_system: RunningCentralSystem,
) -> None:
    """A Pending station is accepted by the operator; the central system does not wait for the
    boot interval but asks for a BootNotification with TriggerMessage."""
    from ocpp.routing import after, on
    from ocpp.v201 import ChargePoint as ChargePoint201
    from ocpp.v201 import call_result

    boots: list[str] = []

    class Station(ChargePoint201):
        @on("TriggerMessage")
        async def on_trigger(self, requested_message: str, **_: Any) -> Any:
            return call_result.TriggerMessage(status="Accepted")

        @after("TriggerMessage")
        async def boot_again(self, requested_message: str, **_: Any) -> None:
            if requested_message == "BootNotification":
                boots.append((await self.call(boot(), suppress=False)).status)

    await central_system.services.stations.register(
        "CS-B31", registration_status=RegistrationStatus.PENDING
    )
    client = await connect(
        central_system.ocpp_url, "CS-B31", version="2.0.1", charge_point_class=Station
    )
    try:
        assert (await client.call(boot())).status == "Pending"
        await central_system.services.stations.register("CS-B31")  # the operator accepts it
        result = await central_system.system.commands.trigger_message("CS-B31", "BootNotification")
        assert result.accepted
        await wait_for(lambda: boots == ["Accepted"], what="the triggered boot is accepted")
        await client.call(call.Heartbeat())  # no SecurityError any more
    finally:
        await client.close()
