"""The central system's commands to the station, over 127.0.0.1, OCPP 1.6 and 2.0.1:
configuration and the device model, signal strength, firmware update, reset, charging profiles,
reservations, and charging offline with the local authorization list."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from central_system.domain.authorization import IdToken as CsIdToken
from central_system.persistence.models import StationLogRow, StationRow
from central_system.services.ports import StationCallError
from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import wait_for
from tests.integration.test_station_ocpp import (
    STATION_ID,
    VERSIONS,
    ccs_car,
    ended,
    free_port,
    make_station,
    online,
    prepared,
    rows,
    stored_transactions,
)


def wire_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def log_entries(running: RunningCentralSystem, kind: str) -> list[StationLogRow]:
    return await rows(
        running,
        StationLogRow,
        StationLogRow.station_id == STATION_ID,
        StationLogRow.kind == kind,
        order=StationLogRow.id,
    )


def component(name: str, evse: int | None = None) -> dict[str, Any]:
    return {"name": name, **({"evse": {"id": evse}} if evse is not None else {})}


async def test_1_6_configuration_keys(central_system: RunningCentralSystem, tmp_path: Path):
    """TC_019 / TC_021: read-only keys are Rejected, unknown ones NotSupported, the
    authorization key is never read back."""
    await prepared(central_system)
    commands = central_system.system.commands
    async with online(make_station(central_system.ocpp_url, tmp_path, "1.6")) as station:
        everything = await commands.get_configuration(STATION_ID)
        keys = {k["key"]: k for k in everything["configurationKey"]}
        assert keys["NumberOfConnectors"] == {
            "key": "NumberOfConnectors",
            "readonly": True,
            "value": "2",
        }
        assert keys["MeterValueSampleInterval"]["readonly"] is False
        assert "value" not in keys["AuthorizationKey"]
        some = await commands.get_configuration(STATION_ID, ["HeartbeatInterval", "NoSuchKey"])
        assert [k["key"] for k in some["configurationKey"]] == ["HeartbeatInterval"]
        assert some["unknownKey"] == ["NoSuchKey"]

        changed = await commands.change_configuration(STATION_ID, "MeterValueSampleInterval", "7")
        assert changed.status == "Accepted"
        assert station.settings.integer("MeterValueSampleInterval") == 7
        bad = await commands.change_configuration(STATION_ID, "MeterValueSampleInterval", "-3")
        assert bad.status == "Rejected"
        readonly = await commands.change_configuration(STATION_ID, "NumberOfConnectors", "4")
        assert readonly.status == "Rejected"
        unknown = await commands.change_configuration(STATION_ID, "NoSuchKey", "1")
        assert unknown.status == "NotSupported"
        # The value survives a restart of the station: it is in the station's database.
    async with online(make_station(central_system.ocpp_url, tmp_path, "1.6")) as again:
        assert again.settings.integer("MeterValueSampleInterval") == 1  # the test override wins
        assert again.settings.integer("HeartbeatInterval") == 300


async def test_2_0_1_device_model_variables_and_base_report(
    central_system: RunningCentralSystem, tmp_path: Path
):
    """B05-B08: Get/SetVariables with the spec's statuses, GetBaseReport as NotifyReport."""
    await prepared(central_system)
    commands = central_system.system.commands
    async with online(make_station(central_system.ocpp_url, tmp_path, "2.0.1")) as station:
        result = await commands.get_variables(
            STATION_ID,
            [
                {
                    "component": component("OCPPCommCtrlr"),
                    "variable": {"name": "HeartbeatInterval"},
                },
                {
                    "component": component("SecurityCtrlr"),
                    "variable": {"name": "BasicAuthPassword"},
                },
                {"component": component("NoSuchCtrlr"), "variable": {"name": "X"}},
                {"component": component("OCPPCommCtrlr"), "variable": {"name": "Nope"}},
                {
                    "component": component("Connector", 2) | {"evse": {"id": 2, "connectorId": 1}},
                    "variable": {"name": "ConnectorType"},
                },
            ],
        )
        statuses = [
            (r["attributeStatus"], r.get("attributeValue")) for r in result["getVariableResult"]
        ]
        assert statuses == [
            ("Accepted", "300"),
            ("Rejected", None),
            ("UnknownComponent", None),
            ("UnknownVariable", None),
            ("Accepted", "cG105"),
        ]
        result = await commands.set_variables(
            STATION_ID,
            [
                {
                    "component": component("SampledDataCtrlr"),
                    "variable": {"name": "TxUpdatedInterval"},
                    "attributeValue": "15",
                },
                {
                    "component": component("EVSE", 1),
                    "variable": {"name": "Power"},
                    "attributeValue": "1",
                },
                {
                    "component": component("AuthCtrlr"),
                    "variable": {"name": "LocalPreAuthorize"},
                    "attributeValue": "maybe",
                },
            ],
        )
        assert [r["attributeStatus"] for r in result["setVariableResult"]] == [
            "Accepted",
            "Rejected",
            "Rejected",
        ]
        assert station.settings.integer("MeterValueSampleInterval") == 15

        report = await commands.send(
            STATION_ID, "GetBaseReport", {"requestId": 5, "reportBase": "FullInventory"}
        )
        assert report["status"] == "Accepted"
        parts = await wait_for(
            lambda: _complete_report(central_system), 10, 0.05, "the whole report arrived"
        )
    reported = {
        (d["component"]["name"], d["variable"]["name"])
        for part in parts
        for d in part.data.get("reportData", [])
    }
    assert ("DataLink", "SignalStrength") in reported
    assert ("SampledDataCtrlr", "TxUpdatedInterval") in reported
    assert [p.data["seqNo"] for p in parts] == list(range(len(parts)))


async def _complete_report(running: RunningCentralSystem) -> list[StationLogRow] | None:
    parts = await log_entries(running, "NotifyReport")
    return parts if parts and not parts[-1].data.get("tbc", False) else None


@pytest.mark.parametrize("version", VERSIONS)
async def test_signal_strength_reaches_the_central_system(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
):
    """1.6 DataTransfer org.evcharge/SignalStrength; 2.0.1 NotifyEvent of a monitor set on
    DataLink.SignalStrength (N04 / N07)."""
    await prepared(central_system)
    station = make_station(
        central_system.ocpp_url,
        tmp_path,
        version,
        settings={"SignalStrengthReportInterval": "1"},
    )
    async with online(station):
        if version == "2.0.1":
            result = await central_system.system.commands.send(
                STATION_ID,
                "SetVariableMonitoring",
                {
                    "setMonitoringData": [
                        {
                            "value": 1,
                            "type": "Periodic",
                            "severity": 5,
                            "component": {"name": "DataLink"},
                            "variable": {"name": "SignalStrength"},
                        },
                        {
                            "value": 1,
                            "type": "Delta",
                            "severity": 5,
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                        },
                    ]
                },
            )
            assert [r["status"] for r in result["setMonitoringResult"]] == [
                "Accepted",
                "UnsupportedMonitorType",
            ]
        readings = await wait_for(
            lambda: _at_least(log_entries(central_system, "SignalStrength"), 2), 10, 0.05
        )
    assert station.signal is not None
    for reading in readings:
        assert -113 <= reading.data["rssiDbm"] <= -51
        assert reading.data["quality"] in ("excellent", "good", "ok", "marginal", "no_signal")


async def _at_least(entries: Any, count: int) -> list[StationLogRow] | None:
    found = await entries
    return found if len(found) >= count else None


@pytest.mark.parametrize("version", VERSIONS)
async def test_firmware_update_reports_every_status_and_boots_with_the_new_version(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
):
    """1.6 TC_044 / 2.0.1 L01."""
    await prepared(central_system)
    station = make_station(central_system.ocpp_url, tmp_path, version, firmware_step_s=0.05)
    location = "https://firmware.example/evcharge-2.3.4.bin"
    now = wire_time(datetime.now(UTC))
    async with online(station):
        if version == "1.6":
            await central_system.system.commands.send(
                STATION_ID, "UpdateFirmware", {"location": location, "retrieveDate": now}
            )
        else:
            result = await central_system.system.commands.send(
                STATION_ID,
                "UpdateFirmware",
                {"requestId": 9, "firmware": {"location": location, "retrieveDateTime": now}},
            )
            assert result["status"] == "Accepted"

        async def rebooted() -> bool:
            [row] = await rows(central_system, StationRow, StationRow.id == STATION_ID)
            return row.firmware_version == "2.3.4"

        await wait_for(rebooted, 10, 0.05, "booted with the new firmware")
        expected = ["Downloading", "Downloaded", "Installing"]
        expected += ["InstallRebooting", "Installed"] if version == "2.0.1" else ["Installed"]
        await wait_for(
            lambda: _at_least(
                log_entries(central_system, "FirmwareStatusNotification"), len(expected)
            ),
            10,
            0.05,
        )
    notifications = await log_entries(central_system, "FirmwareStatusNotification")
    assert [n.data["status"] for n in notifications] == expected
    if version == "2.0.1":
        assert {n.data["requestId"] for n in notifications} == {9}
    assert station.firmware_version == "2.3.4"


@pytest.mark.parametrize("version", VERSIONS)
async def test_reset_stops_the_transaction_and_boots_again(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
):
    """TC_013 / B11-B12: the running transaction ends with the reset's reason."""
    await prepared(central_system, "TAG-1")
    async with online(make_station(central_system.ocpp_url, tmp_path, version)) as station:
        ccs_car(station, 1).plug_in()
        assert await station.present_token(1, "TAG-1")
        await wait_for(lambda: _exists(central_system), 10, 0.05)
        [before] = await rows(central_system, StationRow, StationRow.id == STATION_ID)
        result = await central_system.system.commands.reset(STATION_ID, hard=True)
        assert result.accepted

        async def booted_again() -> bool:
            [row] = await rows(central_system, StationRow, StationRow.id == STATION_ID)
            return row.last_boot_at is not None and row.last_boot_at > before.last_boot_at

        await wait_for(booted_again, 10, 0.05, "a new BootNotification")
        [tx] = await ended(central_system)
        await wait_for(lambda: station.online, 10)
    assert tx.stop_reason == ("HardReset" if version == "1.6" else "ImmediateReset")
    if version == "2.0.1":
        [row] = await rows(central_system, StationRow, StationRow.id == STATION_ID)
        assert row.boot_reason == "RemoteReset"


async def _exists(running: RunningCentralSystem) -> bool:
    return bool(await stored_transactions(running))


@pytest.mark.parametrize("version", VERSIONS)
async def test_charging_profiles_limit_the_hardware(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
):
    """SetChargingProfile / GetCompositeSchedule / ClearChargingProfile (1.6 3.13, K01/K08/K10)."""
    await prepared(central_system, "TAG-1")
    commands = central_system.system.commands
    start = wire_time(datetime.now(UTC) - timedelta(minutes=1))
    schedule = {
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000}],
    }
    if version == "1.6":
        set_profile = {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 11,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {**schedule, "startSchedule": start},
            },
        }
        composite = {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"}
        clear = {"id": 11}
    else:
        set_profile = {
            "evseId": 1,
            "chargingProfile": {
                "id": 11,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [{"id": 1, "startSchedule": start, **schedule}],
            },
        }
        composite = {"evseId": 1, "duration": 600, "chargingRateUnit": "W"}
        clear = {"chargingProfileId": 11}
    async with online(make_station(central_system.ocpp_url, tmp_path, version)) as station:
        ccs_car(station, 1).plug_in()
        assert await station.present_token(1, "TAG-1")
        hw = station.hardware.connector(1)
        await wait_for(lambda: hw.reading().power_w > 20_000, 5)
        assert (await commands.send(STATION_ID, "SetChargingProfile", set_profile))["status"] == (
            "Accepted"
        )
        await wait_for(lambda: 0 < hw.reading().power_w <= 7_000, 5, what="limited to 7 kW")
        result = await commands.send(STATION_ID, "GetCompositeSchedule", composite)
        periods = (
            result["chargingSchedule"]["chargingSchedulePeriod"]
            if version == "1.6"
            else result["schedule"]["chargingSchedulePeriod"]
        )
        assert result["status"] == "Accepted"
        assert periods[0]["limit"] == 7000
        # A station maximum profile may not be set on a connector.
        if version == "1.6":
            wrong = {
                **set_profile,
                "csChargingProfiles": {
                    **set_profile["csChargingProfiles"],
                    "chargingProfileId": 12,
                    "chargingProfilePurpose": "ChargePointMaxProfile",
                },
            }
        else:
            wrong = {
                **set_profile,
                "chargingProfile": {
                    **set_profile["chargingProfile"],
                    "id": 12,
                    "chargingProfilePurpose": "ChargingStationMaxProfile",
                },
            }
        assert (await commands.send(STATION_ID, "SetChargingProfile", wrong))["status"] == (
            "Rejected"
        )
        assert (await commands.send(STATION_ID, "ClearChargingProfile", clear))["status"] == (
            "Accepted"
        )
        await wait_for(lambda: hw.reading().power_w > 20_000, 5, what="the limit is gone")
        again = await commands.send(STATION_ID, "ClearChargingProfile", clear)
        assert again["status"] == "Unknown"


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_reservation_keeps_the_connector_for_its_driver(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
):
    """1.6 TC_026-TC_028 / 2.0.1 H01: reserved for TAG-R; TAG-X is refused; TAG-R charges and
    the transaction names the reservation."""
    await prepared(central_system, "TAG-R", "TAG-X")
    expires = datetime.now(UTC) + timedelta(minutes=10)
    async with online(make_station(central_system.ocpp_url, tmp_path, version)) as station:
        result = await central_system.system.commands.reserve_now(
            STATION_ID,
            reservation_id=77,
            expires_at=expires,
            id_token=CsIdToken("TAG-R"),
            evse_id=1,
        )
        assert result.accepted
        assert station.connectors[1].status == "Reserved"
        again = await central_system.system.commands.reserve_now(
            STATION_ID,
            reservation_id=78,
            expires_at=expires,
            id_token=CsIdToken("TAG-X"),
            evse_id=1,
        )
        assert again.status == "Occupied"
        ccs_car(station, 1).plug_in()
        assert not await station.present_token(1, "TAG-X")
        assert await station.present_token(1, "TAG-R")
        [tx] = await wait_for(lambda: stored_transactions(central_system), 10, 0.05)
        cancel = await central_system.system.commands.cancel_reservation(STATION_ID, 77)
        assert cancel.status == "Rejected"  # it was used
    assert tx.reservation_id == 77


@pytest.mark.parametrize("version", VERSIONS)
async def test_offline_only_tokens_of_the_local_list_may_charge(
    database_url: str, tmp_path: Path, version: str
):
    """1.6 TC_042 / TC_036, 2.0.1 D01 / C12-C13: the list sent online decides offline."""
    port = free_port()
    settings = test_settings(database_url, ocpp_port=port)
    station = make_station(f"ws://127.0.0.1:{port}/ocpp", tmp_path, version)
    if version == "1.6":
        local_list = {
            "listVersion": 3,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idTag": "LIST-OK", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "LIST-BLOCKED", "idTagInfo": {"status": "Blocked"}},
            ],
        }
    else:
        local_list = {
            "versionNumber": 3,
            "updateType": "Full",
            "localAuthorizationList": [
                {
                    "idToken": {"idToken": "LIST-OK", "type": "ISO14443"},
                    "idTokenInfo": {"status": "Accepted"},
                },
                {
                    "idToken": {"idToken": "LIST-BLOCKED", "type": "ISO14443"},
                    "idTokenInfo": {"status": "Blocked"},
                },
            ],
        }
    async with station:
        async with running_central_system(settings) as first:
            await prepared(first, "LIST-OK")
            await wait_for(lambda: station.online, 10)
            result = await first.system.commands.send(STATION_ID, "SendLocalList", local_list)
            assert result["status"] == "Accepted"
            version_reply = await first.system.commands.send(STATION_ID, "GetLocalListVersion", {})
            assert version_reply.get("listVersion", version_reply.get("versionNumber")) == 3
        await wait_for(lambda: not station.online, 10)
        ccs_car(station, 1).plug_in()
        ccs_car(station, 2).plug_in()
        assert not await station.present_token(2, "LIST-BLOCKED")
        assert not await station.present_token(2, "NOT-LISTED")
        assert await station.present_token(1, "LIST-OK")
        await wait_for(lambda: station.store.queue_length() >= 2, 10)
        assert await station.present_token(1, "LIST-OK")
        async with running_central_system(settings) as second:
            await wait_for(lambda: station.store.queue_length() == 0, 15, 0.05)
            [tx] = await ended(second)
    assert tx.id_token == "LIST-OK"
    assert tx.offline or version == "1.6"


async def test_unsupported_commands_get_not_supported(
    central_system: RunningCentralSystem, tmp_path: Path
):
    """OCPP-J 4.2.3: a known action the station does not handle is NotSupported."""
    await prepared(central_system)
    async with online(make_station(central_system.ocpp_url, tmp_path, "1.6")):
        with pytest.raises(StationCallError) as raised:
            await central_system.system.commands.send(
                STATION_ID,
                "GetInstalledCertificateIds",
                {"certificateType": "CentralSystemRootCertificate"},
            )
    assert raised.value.code == "NotSupported"


@pytest.mark.parametrize("version", VERSIONS)
async def test_diagnostics_are_uploaded_with_every_status(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
):
    """1.6 GetDiagnostics (TC_045) / 2.0.1 GetLog (N01) to a file:// location."""
    await prepared(central_system)
    target = tmp_path / "uploads"
    location = target.as_uri()
    station = make_station(central_system.ocpp_url, tmp_path, version, upload_step_s=0.05)
    async with online(station):
        if version == "1.6":
            reply = await central_system.system.commands.send(
                STATION_ID, "GetDiagnostics", {"location": location}
            )
            name, kind = reply["fileName"], "DiagnosticsStatusNotification"
        else:
            reply = await central_system.system.commands.send(
                STATION_ID,
                "GetLog",
                {"logType": "DiagnosticsLog", "requestId": 4, "log": {"remoteLocation": location}},
            )
            assert reply["status"] == "Accepted"
            name, kind = reply["filename"], "LogStatusNotification"
        statuses = await wait_for(lambda: _at_least(log_entries(central_system, kind), 2), 10, 0.05)
    assert [s.data["status"] for s in statuses] == ["Uploading", "Uploaded"]
    uploaded = json.loads((target / name).read_text())
    assert uploaded["stationId"] == STATION_ID
    assert "AuthorizationKey" not in uploaded["settings"]  # write-only stays secret


@pytest.mark.parametrize("version", VERSIONS)
async def test_trigger_message_sends_what_was_asked_for(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
):
    """1.6 TC_054 / 2.0.1 F06."""
    await prepared(central_system)
    commands = central_system.system.commands
    async with online(make_station(central_system.ocpp_url, tmp_path, version)) as station:
        before = station.stats.messages_sent
        assert (await commands.trigger_message(STATION_ID, "Heartbeat")).accepted
        assert (
            await commands.trigger_message(STATION_ID, "StatusNotification", evse_id=2)
        ).accepted
        await wait_for(lambda: station.stats.messages_sent >= before + 4, 5)
        assert (await commands.trigger_message(STATION_ID, "FirmwareStatusNotification")).accepted
        await wait_for(
            lambda: _at_least(log_entries(central_system, "FirmwareStatusNotification"), 1), 5
        )
        boot = await commands.trigger_message(STATION_ID, "BootNotification")
        assert boot.status == ("Accepted" if version == "1.6" else "Rejected")  # F06.FR.17
        unknown = await commands.trigger_message(STATION_ID, "StatusNotification", evse_id=9)
        assert unknown.status == "Rejected"
    [firmware] = await log_entries(central_system, "FirmwareStatusNotification")
    assert firmware.data["status"] == "Idle"


@pytest.mark.parametrize("version", VERSIONS)
async def test_availability_change_waits_for_the_running_session(
    central_system: RunningCentralSystem, tmp_path: Path, version: str
):
    """TC_015-TC_016 / G03-G04: Scheduled while charging, Unavailable once it ended, and no
    new session while inoperative."""
    await prepared(central_system, "TAG-1")
    commands = central_system.system.commands
    async with online(make_station(central_system.ocpp_url, tmp_path, version)) as station:
        ccs_car(station, 1).plug_in()
        assert await station.present_token(1, "TAG-1")
        busy = await commands.change_availability(STATION_ID, operative=False, evse_id=1)
        assert busy.status == "Scheduled"
        idle = await commands.change_availability(STATION_ID, operative=False, evse_id=2)
        assert idle.status == "Accepted"
        assert station.connectors[2].status == "Unavailable"
        assert await station.present_token(1, "TAG-1")  # the driver stops
        await wait_for(lambda: station.connectors[1].status == "Unavailable", 5)
        assert not await station.present_token(1, "TAG-1")
        restored = await commands.change_availability(STATION_ID, operative=True)
        assert restored.status == "Accepted"
        await wait_for(lambda: station.connectors[1].status == "Preparing", 5)  # car still in
        assert station.connectors[2].status == "Available"


@pytest.mark.parametrize("version", VERSIONS)
async def test_unlock_connector(central_system: RunningCentralSystem, tmp_path: Path, version: str):
    """1.6 TC_017: a transaction is stopped first; 2.0.1 F05: never under a transaction."""
    await prepared(central_system, "TAG-1")
    commands = central_system.system.commands
    async with online(make_station(central_system.ocpp_url, tmp_path, version)) as station:
        ccs_car(station, 1).plug_in()
        assert await station.present_token(1, "TAG-1")
        result = await commands.unlock(STATION_ID, 1)
        if version == "1.6":
            assert result.status == "Unlocked"
            [tx] = await ended(central_system)
            assert tx.stop_reason == "UnlockCommand"
        else:
            assert result.status == "OngoingAuthorizedTransaction"
            assert station.connectors[1].transaction is not None
        assert (await commands.unlock(STATION_ID, 2)).status == "Unlocked"
        missing = await commands.unlock(STATION_ID, 7)
        assert missing.status == ("NotSupported" if version == "1.6" else "UnknownConnector")
