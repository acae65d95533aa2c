"""OCPP 1.6J Core profile against the real central system over 127.0.0.1, using the `ocpp`
package's client, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
import websockets
from ocpp.v16 import call
from sqlalchemy import select

from central_system.domain.authorization import AuthorizationStatus
from central_system.persistence.models import (
    MeterSampleRow,
    StationLogRow,
    StationRow,
    TransactionRow,
)
from tests.conftest import RunningCentralSystem
from tests.helpers import OcppClient, connect

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def ts(offset_s: float = 0) -> str:
    return (NOW + timedelta(seconds=offset_s)).isoformat()


async def rows(running: RunningCentralSystem, model: type, *where: object) -> list:
    async with running.system.uow() as uow:
        return list((await uow.session.scalars(select(model).where(*where))).all())


async def booted(
    running: RunningCentralSystem, station_id: str = "CP-1", **kw: object
) -> OcppClient:
    await running.services.stations.register(station_id)
    client = await connect(running.ocpp_url, station_id, **kw)  # type: ignore[arg-type]
    await client.call(call.BootNotification(charge_point_model="DC-2", charge_point_vendor="Acme"))
    return client


async def test_cold_boot_is_accepted_and_stored(central_system: RunningCentralSystem) -> None:
    """TC_001_CSMS."""
    await central_system.services.stations.register("CP-1")
    client = await connect(central_system.ocpp_url, "CP-1")
    try:
        reply = await client.call(
            call.BootNotification(
                charge_point_model="DC-2",
                charge_point_vendor="Acme",
                charge_point_serial_number="SN-7",
                firmware_version="1.2.3",
            )
        )
        assert reply.status == "Accepted"
        assert reply.interval == 300
        sent = datetime.fromisoformat(reply.current_time.replace("Z", "+00:00"))
        assert abs(sent - datetime.now(UTC)) < timedelta(seconds=30)
        heartbeat = await client.call(call.Heartbeat())
        assert heartbeat.current_time.endswith("Z")
        (station,) = await rows(central_system, StationRow, StationRow.id == "CP-1")
        assert (station.vendor, station.model, station.serial_number) == ("Acme", "DC-2", "SN-7")
        assert station.boot_status == "Accepted" and station.connected
        assert station.ocpp_version == "1.6"
    finally:
        await client.close()


@pytest.mark.parametrize("status", ["Pending", "Rejected"])
async def test_boot_answers_the_registration_decision(
    central_system: RunningCentralSystem, status: str
) -> None:
    from central_system.domain.stations import RegistrationStatus

    await central_system.services.stations.register(
        "CP-P", registration_status=RegistrationStatus(status)
    )
    client = await connect(central_system.ocpp_url, "CP-P")
    try:
        reply = await client.call(
            call.BootNotification(charge_point_model="M", charge_point_vendor="V")
        )
        assert reply.status == status
        assert reply.interval == central_system.system.settings.boot_retry_interval
    finally:
        await client.close()


async def test_unknown_station_is_refused_with_404(central_system: RunningCentralSystem) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(central_system.ocpp_url, "NOT-REGISTERED")
    assert refused.value.response.status_code == 404


async def test_invalid_station_id_is_refused(central_system: RunningCentralSystem) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(central_system.ocpp_url, "A" * 49)
    assert refused.value.response.status_code == 400
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(central_system.ocpp_url, "CP%3A1")  # "CP:1", ':' is not allowed
    assert refused.value.response.status_code == 400


async def test_percent_encoded_station_id_is_decoded(central_system: RunningCentralSystem) -> None:
    station_id = "CP*1=A|b@c.d+/x"
    await central_system.services.stations.register(station_id)
    client = await connect(central_system.ocpp_url, quote(station_id, safe=""))
    try:
        reply = await client.call(
            call.BootNotification(charge_point_model="M", charge_point_vendor="V")
        )
        assert reply.status == "Accepted"
        assert central_system.system.registry.is_connected(station_id)
    finally:
        await client.close()


async def test_basic_auth_security_profile_1(central_system: RunningCentralSystem) -> None:
    """TC_085_CSMS / TC_A_01-03: right password accepted, wrong password or username refused."""
    await central_system.services.stations.register("CP-S", password="0123456789abcdef0123")
    url = central_system.ocpp_url
    for kwargs in ({}, {"password": "wrong-password-123"}):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect(url, "CP-S", **kwargs)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 401
    # The username must equal the station id of the URL.
    from tests.helpers import basic_auth

    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            f"{url}/CP-S",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=basic_auth("OTHER", "0123456789abcdef0123"),
        )
    assert refused.value.response.status_code == 401
    client = await connect(url, "CP-S", password="0123456789abcdef0123")
    try:
        reply = await client.call(
            call.BootNotification(charge_point_model="M", charge_point_vendor="V")
        )
        assert reply.status == "Accepted"
    finally:
        await client.close()
    (station,) = await rows(central_system, StationRow, StationRow.id == "CP-S")
    assert station.password_hash and "0123456789abcdef0123" not in station.password_hash


@pytest.mark.parametrize(
    ("registry_status", "expires_in", "expected"),
    [
        (None, None, "Invalid"),  # TC_023_1: unknown
        ("Accepted", -60, "Expired"),  # TC_023_2
        ("Blocked", None, "Blocked"),  # TC_023_3: never Invalid
        ("Blocked", -60, "Blocked"),
        ("Accepted", 3600, "Accepted"),
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
            "TAG", status=AuthorizationStatus(registry_status), expires_at=expires, group_id="FLEET"
        )
    client = await booted(central_system)
    try:
        reply = await client.call(call.Authorize(id_tag="TAG"))
        assert reply.id_tag_info["status"] == expected
        if registry_status:
            assert reply.id_tag_info["parent_id_tag"] == "FLEET"
    finally:
        await client.close()


async def _session(client: OcppClient, *, plug_in_first: bool) -> int:
    if plug_in_first:
        await client.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Preparing", timestamp=ts(0)
            )
        )
    auth = await client.call(call.Authorize(id_tag="TAG"))
    assert auth.id_tag_info["status"] == "Accepted"
    if not plug_in_first:
        await client.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Preparing", timestamp=ts(1)
            )
        )
    start = await client.call(
        call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=12_000, timestamp=ts(2))
    )
    assert start.id_tag_info["status"] == "Accepted"
    await client.call(
        call.StatusNotification(
            connector_id=1, error_code="NoError", status="Charging", timestamp=ts(3)
        )
    )
    await client.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=start.transaction_id,
            meter_value=[
                {
                    "timestamp": ts(60),
                    "sampledValue": [
                        {
                            "value": "12.75",
                            "unit": "kWh",
                            "measurand": "Energy.Active.Import.Register",
                        },
                        {"value": "45.5", "unit": "kW", "measurand": "Power.Active.Import"},
                        {"value": "118.2", "unit": "A", "measurand": "Current.Import"},
                        {"value": "385", "unit": "V", "measurand": "Voltage"},
                        {"value": "57", "unit": "Percent", "measurand": "SoC", "location": "EV"},
                        {
                            "value": "39.1",
                            "unit": "A",
                            "measurand": "Current.Import",
                            "phase": "L1",
                        },
                    ],
                }
            ],
        )
    )
    stop = await client.call(
        call.StopTransaction(
            transaction_id=start.transaction_id,
            meter_stop=13_500,
            timestamp=ts(120),
            id_tag="TAG",
            reason="EVDisconnected",
            transaction_data=[
                {
                    "timestamp": ts(120),
                    "sampledValue": [{"value": "13500", "context": "Transaction.End"}],
                }
            ],
        )
    )
    assert stop.id_tag_info["status"] == "Accepted"
    await client.call(
        call.StatusNotification(
            connector_id=1, error_code="NoError", status="Available", timestamp=ts(121)
        )
    )
    return start.transaction_id


@pytest.mark.parametrize(
    "plug_in_first", [False, True], ids=["identification-first", "plug-in-first"]
)
async def test_charging_session(central_system: RunningCentralSystem, plug_in_first: bool) -> None:
    """TC_004_1_CSMS (identification first) and TC_003_CSMS (plug-in first)."""
    await central_system.services.authorization.add_token("TAG")
    client = await booted(central_system)
    try:
        transaction_id = await _session(client, plug_in_first=plug_in_first)
    finally:
        await client.close()
    (tx,) = await rows(central_system, TransactionRow, TransactionRow.id == transaction_id)
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.stop_reason) == (
        12_000,
        13_500,
        "EVDisconnected",
    )
    assert tx.transaction_id == str(transaction_id) and tx.stopped_at is not None
    assert tx.live_soc_percent == Decimal(57) and tx.live_power_w == Decimal(45_500)
    samples = await rows(
        central_system, MeterSampleRow, MeterSampleRow.transaction_row_id == transaction_id
    )
    by_key = {(s.measurand, s.phase, s.context): s for s in samples}
    energy = by_key[("Energy.Active.Import.Register", "", "")]
    assert (energy.value, energy.unit) == (Decimal(12_750), "Wh")  # kWh stored as Wh
    assert (
        by_key[("Power.Active.Import", "", "")].value,
        by_key[("Power.Active.Import", "", "")].unit,
    ) == (Decimal(45_500), "W")
    assert by_key[("Current.Import", "", "")].unit == "A"
    assert by_key[("Current.Import", "L1", "")].value == Decimal("39.1")
    assert by_key[("Voltage", "", "")].unit == "V"
    soc = by_key[("SoC", "", "")]
    assert (soc.value, soc.unit, soc.location) == (Decimal(57), "Percent", "EV")
    assert by_key[("Energy.Active.Import.Register", "", "Transaction.End")].value == Decimal(13_500)
    connectors = await central_system.services.stations.connectors("CP-1")
    assert [(c.key.evse_id, c.status.value) for c in connectors] == [(1, "Available")]


async def test_token_in_a_running_transaction_is_concurrent(
    central_system: RunningCentralSystem,
) -> None:
    await central_system.services.authorization.add_token("TAG")
    client = await booted(central_system)
    try:
        first = await client.call(
            call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0, timestamp=ts(0))
        )
        second = await client.call(
            call.StartTransaction(connector_id=2, id_tag="TAG", meter_start=0, timestamp=ts(1))
        )
        assert first.id_tag_info["status"] == "Accepted"
        assert second.id_tag_info["status"] == "ConcurrentTx"
        assert second.transaction_id != first.transaction_id
    finally:
        await client.close()


async def test_blocked_token_starting_a_transaction_is_answered_blocked(
    central_system: RunningCentralSystem,
) -> None:
    """TC_023_3 at StartTransaction: the transaction gets an id, the answer says Blocked."""
    await central_system.services.authorization.add_token("BAD", status=AuthorizationStatus.BLOCKED)
    client = await booted(central_system)
    try:
        start = await client.call(
            call.StartTransaction(connector_id=1, id_tag="BAD", meter_start=0, timestamp=ts(0))
        )
        assert start.id_tag_info["status"] == "Blocked"
    finally:
        await client.close()


async def test_replayed_offline_messages_are_stored_once(
    central_system: RunningCentralSystem,
) -> None:
    """TC_039_CSMS: a station replays queued messages; nothing is duplicated, totals unchanged,
    and every reply is the first reply again."""
    await central_system.services.authorization.add_token("TAG")
    client = await booted(central_system)
    start_msg = call.StartTransaction(
        connector_id=1, id_tag="TAG", meter_start=1_000, timestamp=ts(0)
    )
    meter_msg = lambda tx: call.MeterValues(  # noqa: E731
        connector_id=1,
        transaction_id=tx,
        meter_value=[{"timestamp": ts(30), "sampledValue": [{"value": "1.4", "unit": "kWh"}]}],
    )
    try:
        first = await client.call(start_msg)
        again = await client.call(start_msg)
        assert (again.transaction_id, again.id_tag_info) == (
            first.transaction_id,
            first.id_tag_info,
        )
        await client.call(meter_msg(first.transaction_id))
        await client.call(meter_msg(first.transaction_id))
        stop_msg = call.StopTransaction(
            transaction_id=first.transaction_id, meter_stop=2_000, timestamp=ts(60), id_tag="TAG"
        )
        stop_first = await client.call(stop_msg)
        # A later (different) stop for the same transaction must not change its totals.
        replay = await client.call(
            call.StopTransaction(
                transaction_id=first.transaction_id,
                meter_stop=9_999,
                timestamp=ts(90),
                id_tag="TAG",
            )
        )
        assert replay.id_tag_info == stop_first.id_tag_info
    finally:
        await client.close()
    transactions = await rows(central_system, TransactionRow)
    assert len(transactions) == 1
    assert (transactions[0].meter_start_wh, transactions[0].meter_stop_wh) == (1_000, 2_000)
    samples = await rows(central_system, MeterSampleRow)
    assert len(samples) == 1


async def test_meter_values_without_transaction_are_kept(
    central_system: RunningCentralSystem,
) -> None:
    client = await booted(central_system)
    try:
        await client.call(
            call.MeterValues(
                connector_id=0,
                meter_value=[
                    {
                        "timestamp": ts(0),
                        "sampledValue": [
                            {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"}
                        ],
                    }
                ],
            )
        )
    finally:
        await client.close()
    (sample,) = await rows(central_system, MeterSampleRow)
    assert (sample.evse_id, sample.transaction_row_id, sample.phase, sample.value) == (
        0,
        None,
        "L1-N",
        Decimal("230.1"),
    )


async def test_data_transfer_routing(central_system: RunningCentralSystem) -> None:
    """TC_064_CSMS: an unknown vendor is answered UnknownVendorId; a known vendor with an
    unknown message id UnknownMessageId."""
    from central_system.domain.data_transfer import DataTransferResult, DataTransferStatus

    async def echo(station_id: str, data: object) -> DataTransferResult:
        return DataTransferResult(DataTransferStatus.ACCEPTED, f"{station_id}:{data}")

    central_system.services.data_transfer.register("com.example", "Echo", echo)
    client = await booted(central_system)
    try:
        unknown = await client.call(
            call.DataTransfer(vendor_id="org.unknown", message_id="X", data="1")
        )
        assert unknown.status == "UnknownVendorId"
        unknown_message = await client.call(
            call.DataTransfer(vendor_id="com.example", message_id="Nope")
        )
        assert unknown_message.status == "UnknownMessageId"
        routed = await client.call(
            call.DataTransfer(vendor_id="com.example", message_id="Echo", data="hi")
        )
        assert (routed.status, routed.data) == ("Accepted", "CP-1:hi")
    finally:
        await client.close()


async def test_firmware_and_diagnostics_notifications_are_answered_and_stored(
    central_system: RunningCentralSystem,
) -> None:
    """TC_044 / TC_045: every notification gets a real answer and is kept."""
    client = await booted(central_system)
    try:
        for status in ("Downloading", "Downloaded", "Installing", "Installed"):
            assert await client.call(call.FirmwareStatusNotification(status=status)) is not None
        await client.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    finally:
        await client.close()
    (station,) = await rows(central_system, StationRow, StationRow.id == "CP-1")
    assert (station.firmware_status, station.diagnostics_status) == ("Installed", "Uploaded")
    log = await rows(central_system, StationLogRow, StationLogRow.station_id == "CP-1")
    assert [
        entry.data["status"] for entry in log if entry.kind == "FirmwareStatusNotification"
    ] == ["Downloading", "Downloaded", "Installing", "Installed"]


async def test_out_of_order_status_does_not_overwrite_newer(
    central_system: RunningCentralSystem,
) -> None:
    client = await booted(central_system)
    try:
        await client.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Charging", timestamp=ts(10)
            )
        )
        await client.call(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status="Preparing", timestamp=ts(5)
            )
        )
        await client.call(
            call.StatusNotification(
                connector_id=2, error_code="GroundFailure", status="Faulted", timestamp=ts(6)
            )
        )
    finally:
        await client.close()
    connectors = {
        c.key.evse_id: c for c in await central_system.services.stations.connectors("CP-1")
    }
    assert connectors[1].status.value == "Charging"
    assert (connectors[2].status.value, connectors[2].error_code) == ("Faulted", "GroundFailure")


async def test_signal_strength_data_transfer(central_system: RunningCentralSystem) -> None:
    """1.6 stations report their modem signal with DataTransfer org.evcharge/SignalStrength."""
    import json

    client = await booted(central_system)
    try:
        ok = await client.call(
            call.DataTransfer(
                vendor_id="org.evcharge",
                message_id="SignalStrength",
                data=json.dumps({"csq": 18, "ber": 99, "timestamp": ts(0)}),
            )
        )
        assert ok.status == "Accepted"
        bad = await client.call(
            call.DataTransfer(vendor_id="org.evcharge", message_id="SignalStrength", data="{")
        )
        assert bad.status == "Rejected"
    finally:
        await client.close()
    (entry,) = await rows(central_system, StationLogRow, StationLogRow.kind == "SignalStrength")
    assert entry.data == {"rssiDbm": -77, "quality": "good", "csq": 18, "ber": None}
