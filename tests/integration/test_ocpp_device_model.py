"""The stations' configuration over the REST API with real 1.6 and 2.0.1 stations (the `ocpp`
package's client), on SQLite and PostgreSQL: 2.0.1 reports stored as the device model, Get- and
SetVariables (split by the station's ItemsPerMessage), network profiles, monitors and their
reports, events; 1.6 GetConfiguration / ChangeConfiguration with a stored copy of the keys
(TC_B_06-18, TC_B_42/44, TC_N_01-24/44/47-50/60, TC_019, TC_021, TC_040)."""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call as call201
from sqlalchemy import select

from central_system.persistence.models import StationLogRow
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


def variable(
    component: str,
    name: str,
    *attributes: dict[str, Any],
    evse: int | None = None,
    data_type: str = "integer",
    instance: str | None = None,
) -> dict[str, Any]:
    """A NotifyReport reportData entry."""
    entry: dict[str, Any] = {
        "component": {"name": component, **({"evse": {"id": evse}} if evse else {})},
        "variable": {"name": name, **({"instance": instance} if instance else {})},
        "variableAttribute": list(attributes),
        "variableCharacteristics": {"dataType": data_type, "supportsMonitoring": True},
    }
    return entry


async def report(client: Any, request_id: int, seq_no: int, tbc: bool, *data: Any) -> None:
    await client.call(
        call201.NotifyReport(
            request_id=request_id,
            generated_at=now_text(),
            seq_no=seq_no,
            tbc=tbc,
            report_data=list(data),
        )
    )


def limits(**per_message: int) -> list[dict[str, Any]]:
    """ItemsPerMessage variables (DeviceDataCtrlr / MonitoringCtrlr) as a station reports them."""
    controller = {
        "GetVariables": "DeviceDataCtrlr",
        "SetVariables": "DeviceDataCtrlr",
        "ClearVariableMonitoring": "MonitoringCtrlr",
        "SetVariableMonitoring": "MonitoringCtrlr",
    }
    return [
        variable(
            controller[message],
            "ItemsPerMessage",
            {"value": str(count), "mutability": "ReadOnly"},
            instance=message,
        )
        for message, count in per_message.items()
    ]


def stored(values: list[dict[str, Any]]) -> dict[tuple[str, str, str], Any]:
    return {(v["component"], v["variable"], v["attribute_type"]): v["value"] for v in values}


async def test_TC_B_12_TC_B_13_TC_B_14_TC_B_18_reports_become_the_stored_device_model(
    operator: Operator,
) -> None:
    client = await station201(
        operator.running, "CS-DM", {"GetBaseReport": ACCEPTED, "GetReport": ACCEPTED}
    )
    station = scripted(client)
    base = "/api/v1/stations/CS-DM/device-model"
    try:
        # TC_B_12: ConfigurationInventory, reported in two parts
        asked = await operator.ok("POST", f"{base}/reports", {"base": "ConfigurationInventory"})
        assert station.last("GetBaseReport") == {
            "requestId": asked["request_id"],
            "reportBase": "ConfigurationInventory",
        }
        assert asked["status"] == "Accepted"
        await report(
            client,
            asked["request_id"],
            0,
            True,
            variable("OCPPCommCtrlr", "HeartbeatInterval", {"value": "300"}),
        )
        await report(
            client,
            asked["request_id"],
            1,
            False,
            variable(
                "EVSE",
                "Power",
                {"value": "0", "mutability": "ReadOnly"},
                {"type": "MaxSet", "value": "22000", "mutability": "ReadOnly"},
                evse=1,
                data_type="decimal",
            ),
        )
        model = await operator.ok("GET", base)
        assert stored(model) == {
            ("EVSE", "Power", "Actual"): "0",
            ("EVSE", "Power", "MaxSet"): "22000",
            ("OCPPCommCtrlr", "HeartbeatInterval", "Actual"): "300",
        }
        power = next(
            v for v in model if v["variable"] == "Power" and v["attribute_type"] == "MaxSet"
        )
        assert (power["evse_id"], power["mutability"], power["data_type"]) == (
            1,
            "ReadOnly",
            "decimal",
        )

        # TC_B_13: a FullInventory replaces what was stored
        full = await operator.ok("POST", f"{base}/reports", {"base": "FullInventory"})
        await report(
            client,
            full["request_id"],
            0,
            False,
            variable("OCPPCommCtrlr", "HeartbeatInterval", {"value": "600"}),
            variable("AuthCtrlr", "Enabled", {"value": "true"}, data_type="boolean"),
        )
        assert stored(await operator.ok("GET", base)) == {
            ("AuthCtrlr", "Enabled", "Actual"): "true",
            ("OCPPCommCtrlr", "HeartbeatInterval", "Actual"): "600",
        }
        only = await operator.get(base, component="AuthCtrlr")
        assert [v["variable"] for v in only.json()] == ["Enabled"]

        # TC_B_14: SummaryInventory, which this station does not support: its answer is passed on
        station.answers["GetBaseReport"] = {"status": "NotSupported"}
        summary = await operator.ok("POST", f"{base}/reports", {"base": "SummaryInventory"})
        assert summary["status"] == "NotSupported"

        # TC_B_18: a custom report by component criteria and component/variable
        station.answers["GetReport"] = {"status": "EmptyResultSet"}
        custom = await operator.ok(
            "POST",
            f"{base}/reports",
            {
                "criteria": ["Problem", "Available"],
                "components": [
                    {"component": "EVSE", "evse_id": 1, "variable": "Power"},
                    {"component": "Connector", "evse_id": 2, "connector_id": 1},
                ],
            },
        )
        assert custom["status"] == "EmptyResultSet"
        assert station.last("GetReport") == {
            "requestId": custom["request_id"],
            "componentCriteria": ["Problem", "Available"],
            "componentVariable": [
                {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}},
                {"component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}}},
            ],
        }
        wrong = await operator.post(
            f"{base}/reports", {"base": "FullInventory", "criteria": ["Problem"]}
        )
        assert wrong.status_code == 422
    finally:
        await client.close()


def _get_answer(values: dict[str, str]) -> Any:
    """A station's GetVariables: the values it has, UnknownComponent for the rest."""

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        results = []
        for data in request["getVariableData"]:
            value = values.get(f"{data['component']['name']}.{data['variable']['name']}")
            result = {
                "attributeStatus": "Accepted" if value is not None else "UnknownComponent",
                "attributeType": data.get("attributeType", "Actual"),
                "component": data["component"],
                "variable": data["variable"],
            }
            if value is not None:
                result["attributeValue"] = value
            results.append(result)
        return {"getVariableResult": results}

    return answer


def _set_answer(statuses: dict[str, str]) -> Any:
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        return {
            "setVariableResult": [
                {
                    "attributeStatus": statuses[
                        f"{data['component']['name']}.{data['variable']['name']}"
                    ],
                    "attributeType": data.get("attributeType", "Actual"),
                    "component": data["component"],
                    "variable": data["variable"],
                }
                for data in request["setVariableData"]
            ]
        }

    return answer


async def test_TC_B_06_to_TC_B_10_get_and_set_variables(operator: Operator) -> None:
    client = await station201(
        operator.running,
        "CS-V",
        {
            "GetVariables": _get_answer(
                {"OCPPCommCtrlr.HeartbeatInterval": "300", "AuthCtrlr.Enabled": "true"}
            ),
            "SetVariables": _set_answer(
                {
                    "OCPPCommCtrlr.HeartbeatInterval": "Accepted",
                    "AuthCtrlr.Enabled": "Accepted",
                    "OCPPCommCtrlr.NetworkProfileConnectionAttempts": "RebootRequired",
                    "EVSE.Power": "Rejected",
                }
            ),
        },
    )
    station = scripted(client)
    path = "/api/v1/stations/CS-V/device-model"
    heartbeat = {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}
    try:
        # the station takes 2 variables per GetVariables (TC_B_08)
        await report(client, 1, 0, False, *limits(GetVariables=2))
        # TC_B_06: one value; it is stored
        single = await operator.ok("POST", f"{path}/variables/get", {"variables": [heartbeat]})
        assert [(r["status"], r["value"]) for r in single["results"]] == [("Accepted", "300")]
        assert station.last("GetVariables") == {
            "getVariableData": [
                {
                    "attributeType": "Actual",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        }
        # TC_B_07 / TC_B_08: three values in two messages, one answer
        sent_before = len(station.of("GetVariables"))
        several = await operator.ok(
            "POST",
            f"{path}/variables/get",
            {
                "variables": [
                    heartbeat,
                    {"component": "AuthCtrlr", "variable": "Enabled"},
                    {"component": "NoSuchCtrlr", "variable": "X"},
                ]
            },
        )
        assert [len(p["getVariableData"]) for p in station.of("GetVariables")[sent_before:]] == [
            2,
            1,
        ]
        assert [r["status"] for r in several["results"]] == [
            "Accepted",
            "Accepted",
            "UnknownComponent",
        ]
        assert len(several["response"]["getVariableResult"]) == 3
        values = stored(await operator.ok("GET", path))
        assert values[("AuthCtrlr", "Enabled", "Actual")] == "true"
        assert ("NoSuchCtrlr", "X", "Actual") not in values

        # TC_B_09: one value set; it is stored
        one = await operator.ok(
            "POST", f"{path}/variables/set", {"variables": [{**heartbeat, "value": "120"}]}
        )
        assert one["results"][0]["status"] == "Accepted"
        assert station.last("SetVariables")["setVariableData"][0]["attributeValue"] == "120"
        # TC_B_10: several: taken, taken after a reboot, refused
        several_set = await operator.ok(
            "POST",
            f"{path}/variables/set",
            {
                "variables": [
                    {"component": "AuthCtrlr", "variable": "Enabled", "value": "false"},
                    {
                        "component": "OCPPCommCtrlr",
                        "variable": "NetworkProfileConnectionAttempts",
                        "value": "5",
                    },
                    {"component": "EVSE", "evse_id": 1, "variable": "Power", "value": "1"},
                ]
            },
        )
        assert [r["status"] for r in several_set["results"]] == [
            "Accepted",
            "RebootRequired",
            "Rejected",
        ]
        model = await operator.ok("GET", path)
        values = stored(model)
        assert values[("OCPPCommCtrlr", "HeartbeatInterval", "Actual")] == "120"
        assert values[("AuthCtrlr", "Enabled", "Actual")] == "false"
        assert ("EVSE", "Power", "Actual") not in values
        attempts = next(v for v in model if v["variable"] == "NetworkProfileConnectionAttempts")
        assert (attempts["value"], attempts["characteristics"]) == ("5", {"rebootRequired": True})
    finally:
        await client.close()
    # a 1.6 station has configuration keys, not variables
    old = await station16(operator.running, "CP-16")
    try:
        refused = await operator.post(
            "/api/v1/stations/CP-16/device-model/variables/get", {"variables": [heartbeat]}
        )
        assert refused.status_code == 409
        assert refused.json()["type"] == "/problems/unsupported-by-station"
    finally:
        await old.close()


async def test_TC_B_42_and_TC_B_44_set_network_profile(operator: Operator) -> None:
    client = await station201(operator.running, "CS-NP", {"SetNetworkProfile": ACCEPTED})
    station = scripted(client)
    profile = {"csms_url": "wss://csms.example.com/ocpp", "security_profile": 2}
    try:
        accepted = await operator.ok("PUT", "/api/v1/stations/CS-NP/network-profiles/1", profile)
        assert accepted["status"] == "Accepted"
        assert station.last("SetNetworkProfile") == {
            "configurationSlot": 1,
            "connectionData": {
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": "wss://csms.example.com/ocpp",
                "messageTimeout": 30,
                "securityProfile": 2,
                "ocppInterface": "Wired0",
            },
        }
        for answer in ("Failed", "Rejected"):
            station.answers["SetNetworkProfile"] = {"status": answer}
            refused = await operator.ok("PUT", "/api/v1/stations/CS-NP/network-profiles/2", profile)
            assert refused == {"status": answer, "response": {"status": answer}}
    finally:
        await client.close()


def _configuration_answer(keys: dict[str, tuple[str | None, bool]]) -> Any:
    """A 1.6 station's GetConfiguration over `keys` (value, readonly)."""

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        asked = request.get("key") or list(keys)
        found = [
            {"key": k, "readonly": keys[k][1], **({"value": keys[k][0]} if keys[k][0] else {})}
            for k in asked
            if k in keys
        ]
        unknown = [k for k in asked if k not in keys]
        return {"configurationKey": found, **({"unknownKey": unknown} if unknown else {})}

    return answer


async def test_TC_019_1_TC_019_2_TC_021_TC_040_1_TC_040_2_configuration_keys(
    operator: Operator,
) -> None:
    keys = {
        "HeartbeatInterval": ("300", False),
        "ConnectionTimeOut": ("60", False),
        "NumberOfConnectors": ("2", True),
        "GetConfigurationMaxKeys": ("2", True),
        "AuthorizationKey": ("secret-never-stored", False),
    }
    client = await station16(
        operator.running,
        "CP-CFG",
        {
            "GetConfiguration": _configuration_answer(keys),
            "ChangeConfiguration": ACCEPTED,
        },
    )
    station = scripted(client)
    path = "/api/v1/stations/CP-CFG/configuration"
    try:
        # TC_019_1: all keys; the stored copy is what the station reported
        everything = await operator.ok("GET", path)
        assert len(everything["response"]["configurationKey"]) == 5
        copy = await operator.ok("GET", f"{path}/stored")
        assert {k["key"]: (k["value"], k["readonly"]) for k in copy} == {
            "AuthorizationKey": (None, False),  # write-only: never kept
            "ConnectionTimeOut": ("60", False),
            "GetConfigurationMaxKeys": ("2", True),
            "HeartbeatInterval": ("300", False),
            "NumberOfConnectors": ("2", True),
        }
        # TC_019_2: specific keys, at most GetConfigurationMaxKeys per message
        some = await operator.get(path, key=["HeartbeatInterval", "ConnectionTimeOut", "Bogus"])
        assert some.status_code == 200
        assert station.of("GetConfiguration")[1:] == [
            {"key": ["HeartbeatInterval", "ConnectionTimeOut"]},
            {"key": ["Bogus"]},
        ]
        assert some.json()["response"]["unknownKey"] == ["Bogus"]

        # TC_021: changed; the stored copy follows (RebootRequired: marked)
        changed = await operator.ok("PUT", path, {"key": "HeartbeatInterval", "value": "120"})
        assert changed["status"] == "Accepted"
        assert station.last("ChangeConfiguration") == {"key": "HeartbeatInterval", "value": "120"}
        station.answers["ChangeConfiguration"] = {"status": "RebootRequired"}
        await operator.ok("PUT", path, {"key": "ConnectionTimeOut", "value": "90"})
        # TC_040_1: a key the station does not know; TC_040_2: a value it refuses
        station.answers["ChangeConfiguration"] = {"status": "NotSupported"}
        unknown = await operator.ok("PUT", path, {"key": "VendorSpecificKey", "value": "1"})
        assert unknown["status"] == "NotSupported"
        station.answers["ChangeConfiguration"] = {"status": "Rejected"}
        rejected = await operator.ok("PUT", path, {"key": "HeartbeatInterval", "value": "1"})
        assert rejected["status"] == "Rejected"
        model = await operator.ok(
            "GET", "/api/v1/stations/CP-CFG/device-model?component=OCPP16Configuration"
        )
        by_key = {v["variable"]: v for v in model}
        assert by_key["HeartbeatInterval"]["value"] == "120"
        assert (
            by_key["ConnectionTimeOut"]["value"],
            by_key["ConnectionTimeOut"]["characteristics"],
        ) == (
            "90",
            {"rebootRequired": True},
        )
        assert "VendorSpecificKey" not in by_key
        # refused before anything is sent: a read-only standard key, a value of the wrong type
        sent = len(station.of("ChangeConfiguration"))
        for key, value in (("NumberOfConnectors", "3"), ("HeartbeatInterval", "often")):
            bad = await operator.put(path, {"key": key, "value": value})
            assert bad.status_code == 422, (key, bad.text)
            assert bad.json()["type"] == "/problems/invalid-configuration-value"
        assert len(station.of("ChangeConfiguration")) == sent
    finally:
        await client.close()


def _monitor_answer(statuses: list[str], first_id: int) -> Any:
    """A station's SetVariableMonitoring: the given statuses in order, ids from first_id."""
    ids = iter(range(first_id, first_id + 100))
    outcomes = iter(statuses)

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        results = []
        for data in request["setMonitoringData"]:
            status = next(outcomes)
            result = {
                "status": status,
                "type": data["type"],
                "severity": data["severity"],
                "component": data["component"],
                "variable": data["variable"],
            }
            if status == "Accepted":
                result["id"] = next(ids)
            results.append(result)
        return {"setMonitoringResult": results}

    return answer


def _clear_answer(statuses: dict[int, str]) -> Any:
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        return {"clearMonitoringResult": [{"id": i, "status": statuses[i]} for i in request["id"]]}

    return answer


async def test_TC_N_08_TC_N_09_TC_N_24_TC_N_18_TC_N_44_monitors_set_and_cleared(
    operator: Operator,
) -> None:
    client = await station201(
        operator.running,
        "CS-MON",
        {
            "SetVariableMonitoring": _monitor_answer(
                ["Accepted", "Accepted", "UnsupportedMonitorType", "Accepted"], 10
            ),
            "ClearVariableMonitoring": _clear_answer(
                {10: "Accepted", 11: "NotFound", 12: "Rejected"}
            ),
        },
    )
    station = scripted(client)
    path = "/api/v1/stations/CS-MON/monitors"
    power = {"component": "EVSE", "evse_id": 1, "variable": "Power"}
    try:
        await report(client, 1, 0, False, *limits(ClearVariableMonitoring=2))
        # TC_N_08: one monitor
        one = await operator.ok(
            "POST",
            path,
            {"monitors": [{**power, "type": "UpperThreshold", "value": "22000", "severity": 5}]},
        )
        assert [(r["status"], r["id"]) for r in one["results"]] == [("Accepted", 10)]
        assert station.last("SetVariableMonitoring") == {
            "setMonitoringData": [
                {
                    "value": 22000,
                    "type": "UpperThreshold",
                    "severity": 5,
                    "component": {"name": "EVSE", "evse": {"id": 1}},
                    "variable": {"name": "Power"},
                }
            ]
        }
        # TC_N_09: several, on different components and variables; TC_N_24: a periodic one
        several = await operator.ok(
            "POST",
            path,
            {
                "monitors": [
                    {
                        "component": "ChargingStation",
                        "variable": "AvailabilityState",
                        "type": "Delta",
                        "value": "1",
                        "severity": 8,
                    },
                    {
                        **power,
                        "evse_id": 2,
                        "type": "LowerThreshold",
                        "value": "100",
                        "severity": 4,
                    },
                    {
                        "component": "ChargingStation",
                        "variable": "Power",
                        "type": "Periodic",
                        "value": "60",
                        "severity": 9,
                    },
                ]
            },
        )
        assert [r["status"] for r in several["results"]] == [
            "Accepted",
            "UnsupportedMonitorType",
            "Accepted",
        ]
        monitors = await operator.ok("GET", path)
        found = {
            (m["component"], m["variable"]): [x["id"] for x in m["monitors"]] for m in monitors
        }
        assert found == {
            ("ChargingStation", "AvailabilityState"): [11],
            ("ChargingStation", "Power"): [12],
            ("EVSE", "Power"): [10],
        }
        # TC_N_18: more ids than the station takes per message; TC_N_44: one it refuses to clear
        cleared = await operator.ok("POST", f"{path}/clear", {"ids": [10, 11, 12]})
        assert station.of("ClearVariableMonitoring") == [{"id": [10, 11]}, {"id": [12]}]
        assert cleared["cleared"] == [10, 11]
        left = await operator.ok("GET", path)
        assert [(m["variable"], [x["id"] for x in m["monitors"]]) for m in left] == [
            ("Power", [12])
        ]
        bad = await operator.post(
            path, {"monitors": [{**power, "type": "Delta", "value": "1", "severity": 10}]}
        )
        assert bad.status_code == 422
    finally:
        await client.close()


def _monitoring(component: str, variable: str, *monitors: tuple[int, str, int]) -> Any:
    return {
        "component": {"name": component},
        "variable": {"name": variable},
        "variableMonitoring": [
            {"id": i, "transaction": False, "value": 1, "type": kind, "severity": severity}
            for i, kind, severity in monitors
        ],
    }


async def test_TC_N_01_TC_N_02_TC_N_03_TC_N_47_TC_N_60_monitoring_reports(
    operator: Operator,
) -> None:
    client = await station201(operator.running, "CS-MR", {"GetMonitoringReport": ACCEPTED})
    station = scripted(client)
    path = "/api/v1/stations/CS-MR/monitors"
    try:
        # TC_N_47: all monitors, in two parts; stored as reported
        everything = await operator.ok("POST", f"{path}/reports", {})
        assert station.last("GetMonitoringReport") == {"requestId": everything["request_id"]}
        for seq_no, monitor in enumerate(
            (
                _monitoring("ChargingStation", "Power", (1, "UpperThreshold", 4)),
                _monitoring("EVSE", "AvailabilityState", (2, "Delta", 8), (3, "Periodic", 9)),
            )
        ):
            await client.call(
                call201.NotifyMonitoringReport(
                    request_id=everything["request_id"],
                    seq_no=seq_no,
                    generated_at=now_text(),
                    tbc=seq_no == 0,
                    monitor=[monitor],
                )
            )
        monitors = await operator.ok("GET", path)
        assert [[x["id"] for x in m["monitors"]] for m in monitors] == [[1], [2, 3]]

        # TC_N_01 criteria; TC_N_02 component/variable; TC_N_03 / TC_N_60 both, several
        criteria = await operator.ok(
            "POST", f"{path}/reports", {"criteria": ["ThresholdMonitoring"]}
        )
        assert station.last("GetMonitoringReport") == {
            "requestId": criteria["request_id"],
            "monitoringCriteria": ["ThresholdMonitoring"],
        }
        await operator.ok(
            "POST", f"{path}/reports", {"components": [{"component": "EVSE", "variable": "Power"}]}
        )
        assert station.last("GetMonitoringReport")["componentVariable"] == [
            {"component": {"name": "EVSE"}, "variable": {"name": "Power"}}
        ]
        station.answers["GetMonitoringReport"] = {"status": "EmptyResultSet"}
        empty = await operator.ok(
            "POST",
            f"{path}/reports",
            {
                "criteria": ["DeltaMonitoring", "PeriodicMonitoring"],
                "components": [{"component": "EVSE"}, {"component": "ChargingStation"}],
            },
        )
        assert empty["status"] == "EmptyResultSet"
        assert station.last("GetMonitoringReport")["componentVariable"] == [
            {"component": {"name": "EVSE"}},
            {"component": {"name": "ChargingStation"}},
        ]
        # a partial report changes only the variables it names
        await client.call(
            call201.NotifyMonitoringReport(
                request_id=criteria["request_id"],
                seq_no=0,
                generated_at=now_text(),
                monitor=[_monitoring("ChargingStation", "Power", (7, "LowerThreshold", 2))],
            )
        )
        monitors = await operator.ok("GET", path)
        assert [[x["id"] for x in m["monitors"]] for m in monitors] == [[7], [2, 3]]
    finally:
        await client.close()


async def test_TC_N_05_TC_N_16_TC_N_17_monitoring_base_and_level(operator: Operator) -> None:
    client = await station201(
        operator.running,
        "CS-ML",
        {
            "SetMonitoringBase": ACCEPTED,
            "SetMonitoringLevel": ACCEPTED,
            "SetVariableMonitoring": _monitor_answer(["Accepted"], 40),
        },
    )
    station = scripted(client)
    base = "/api/v1/stations/CS-ML"
    try:
        await operator.ok(
            "POST",
            f"{base}/monitors",
            {
                "monitors": [
                    {
                        "component": "EVSE",
                        "evse_id": 1,
                        "variable": "Power",
                        "type": "Delta",
                        "value": "1000",
                        "severity": 6,
                    }
                ]
            },
        )
        # TC_N_05: the base changes the station's monitors: the stored ones are forgotten
        done = await operator.ok("PUT", f"{base}/monitoring/base", {"base": "HardWiredOnly"})
        assert done["status"] == "Accepted"
        assert station.last("SetMonitoringBase") == {"monitoringBase": "HardWiredOnly"}
        assert await operator.ok("GET", f"{base}/monitors") == []
        # TC_N_16: a level; TC_N_17: one the station refuses, and one out of range (not sent)
        level = await operator.ok("PUT", f"{base}/monitoring/level", {"severity": 4})
        assert level["status"] == "Accepted"
        assert station.last("SetMonitoringLevel") == {"severity": 4}
        station.answers["SetMonitoringLevel"] = {"status": "Rejected"}
        refused = await operator.ok("PUT", f"{base}/monitoring/level", {"severity": 9})
        assert refused["status"] == "Rejected"
        out_of_range = await operator.put(f"{base}/monitoring/level", {"severity": 10})
        assert out_of_range.status_code == 422
        assert len(station.of("SetMonitoringLevel")) == 2
    finally:
        await client.close()


async def test_TC_N_21_TC_N_48_TC_N_49_TC_N_50_monitor_events_are_answered_and_kept(
    operator: Operator,
) -> None:
    client = await station201(operator.running, "CS-EV")

    def event(event_id: int, trigger: str, value: str, kind: str, **extra: Any) -> dict[str, Any]:
        return {
            "eventId": event_id,
            "timestamp": now_text(),
            "trigger": trigger,
            "actualValue": value,
            "eventNotificationType": kind,
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "Power"},
            **extra,
        }

    try:
        events = [
            event(1, "Alerting", "23000", "HardWiredMonitor", techCode="OverPower"),  # TC_N_21
            event(2, "Alerting", "", "CustomMonitor", variableMonitoringId=10),  # TC_N_48
            event(3, "Alerting", "0", "CustomMonitor", cleared=True, variableMonitoringId=11),
            event(4, "Periodic", "7400", "CustomMonitor", variableMonitoringId=12),  # TC_N_50
        ]
        for seq_no, data in enumerate(events):
            answer = await client.call(
                call201.NotifyEvent(
                    generated_at=now_text(), seq_no=seq_no, event_data=[data], tbc=seq_no < 3
                )
            )
            assert answer is not None
        # TC_N_49: after a reboot the station reports cleared thresholds; still answered
        await client.call(
            call201.BootNotification(
                charging_station={"model": "DC-2", "vendor_name": "Acme"}, reason="PowerUp"
            )
        )
        await client.call(
            call201.NotifyEvent(
                generated_at=now_text(),
                seq_no=0,
                event_data=[event(5, "Delta", "0", "CustomMonitor", cleared=True)],
            )
        )
        async with operator.running.system.uow() as uow:
            logged = (
                await uow.session.scalars(
                    select(StationLogRow).where(
                        StationLogRow.station_id == "CS-EV", StationLogRow.kind == "NotifyEvent"
                    )
                )
            ).all()
        ids = [e["eventId"] for row in logged for e in row.data["eventData"]]
        assert ids == [1, 2, 3, 4, 5]
    finally:
        await client.close()


async def test_TC_N_27_to_TC_N_32_TC_N_62_TC_N_63_customer_information(
    operator: Operator,
) -> None:
    """Through the generic OCPP endpoint: CustomerInformation with the station's answer; its
    NotifyCustomerInformation parts are answered and kept."""
    client = await station201(operator.running, "CS-CI", {"CustomerInformation": ACCEPTED})
    station = scripted(client)
    path = "/api/v1/stations/CS-CI/ocpp/CustomerInformation"
    try:
        cases = [
            (
                {
                    "requestId": 1,
                    "report": True,
                    "clear": False,
                    "idToken": {"idToken": "CARD-1", "type": "ISO14443"},
                },
                "Accepted",
            ),  # N_27 / N_28
            (
                {"requestId": 2, "report": True, "clear": False, "customerIdentifier": "nobody"},
                "Rejected",
            ),  # TC_N_29
            (
                {"requestId": 3, "report": True, "clear": True, "customerIdentifier": "customer-7"},
                "Accepted",
            ),  # N_30 / N_31 / N_62
            (
                {
                    "requestId": 4,
                    "report": False,
                    "clear": True,
                    "idToken": {"idToken": "CARD-1", "type": "ISO14443"},
                },
                "Accepted",
            ),  # TC_N_32
            (
                {
                    "requestId": 5,
                    "report": True,
                    "clear": True,
                    "customerCertificate": {
                        "hashAlgorithm": "SHA256",
                        "issuerNameHash": "a" * 64,
                        "issuerKeyHash": "b" * 64,
                        "serialNumber": "01",
                    },
                },
                "Invalid",
            ),  # TC_N_63
        ]
        for request, answer in cases:
            station.answers["CustomerInformation"] = {"status": answer}
            reply = await operator.ok("POST", path, request)
            assert reply["status"] == answer and station.last("CustomerInformation") == request
        for seq_no, (data, tbc) in enumerate((("name: A. Driver", True), ("card: CARD-1", False))):
            await client.call(
                call201.NotifyCustomerInformation(
                    data=data, seq_no=seq_no, generated_at=now_text(), request_id=1, tbc=tbc
                )
            )
        async with operator.running.system.uow() as uow:
            kept = await uow.station_log.by_kind("NotifyCustomerInformation")
        assert [(station_id, entry["data"]) for station_id, _, entry in kept] == [
            ("CS-CI", "name: A. Driver"),
            ("CS-CI", "card: CARD-1"),
        ]
    finally:
        await client.close()
