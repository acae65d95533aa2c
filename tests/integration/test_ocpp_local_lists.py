"""Local authorization lists over the REST API with real 1.6 and 2.0.1 stations (the `ocpp`
package's client), on SQLite and PostgreSQL: full and differential SendLocalList with versions,
the station's answers, GetLocalListVersion, and lists that follow the token registry - also to a
station that was offline (TC_042, TC_043, TC_D_01-09, TC_C_40, TC_C_43)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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
from tests.helpers import statements_with

__all__ = ["operator"]  # fixture

ACCEPTED = {"status": "Accepted"}
PAST = (datetime.now(UTC) - timedelta(days=1)).isoformat()


def _sent(client: Any, count: int) -> Any:
    """The station's `count`-th SendLocalList, once it arrived."""
    station = scripted(client)
    return lambda: (
        len(station.of("SendLocalList")) >= count and station.of("SendLocalList")[count - 1]
    )


async def _status_is(operator: Operator, station_id: str, status: str) -> bool:
    state = await operator.running.services.local_lists.state(station_id)
    return state is not None and state.last_status == status


async def _holds(operator: Operator, station_id: str, tokens: set[str]) -> bool:
    state = await operator.running.services.local_lists.state(station_id)
    return state is not None and set(state.entries) == tokens


async def test_TC_043_4_and_TC_043_5_full_then_differential_updates_follow_the_registry(
    operator: Operator,
) -> None:
    await operator.token("CARD-A", local_list=True, group_id="FLEET")
    await operator.token("CARD-B", local_list=True, status="Blocked")
    await operator.token("CARD-C", local_list=True, expires_at=PAST)
    await operator.token("CARD-NOT-IN-LISTS")
    await operator.token("CARD-TOO-LONG-FOR-1-6-X", local_list=True)  # 23 characters
    client = await station16(operator.running, "CP-LL", {"SendLocalList": ACCEPTED})
    station = scripted(client)
    try:
        body = await operator.ok("POST", "/api/v1/stations/CP-LL/local-list", {"update": "full"})
        full = station.last("SendLocalList")
        assert (full["listVersion"], full["updateType"]) == (1, "Full")
        entries = {e["idTag"]: e["idTagInfo"] for e in full["localAuthorizationList"]}
        assert {tag: info["status"] for tag, info in entries.items()} == {
            "CARD-A": "Accepted",
            "CARD-B": "Blocked",
            "CARD-C": "Expired",  # accepted in the registry, but past its expiry date
        }
        assert entries["CARD-A"]["parentIdTag"] == "FLEET" and "expiryDate" in entries["CARD-C"]
        assert (body["version"], body["managed"], body["last_status"]) == (1, True, "Accepted")
        assert [(u["version"], u["update_type"], u["status"]) for u in body["updates"]] == [
            (1, "Full", "Accepted")
        ]
        # TC_043: a repeated full update goes out with the next version and is accepted
        again = await operator.ok("POST", "/api/v1/stations/CP-LL/local-list", {"update": "full"})
        assert again["version"] == 2 and station.last("SendLocalList")["listVersion"] == 2
        # nothing changed: an automatic update sends nothing
        same = await operator.ok("POST", "/api/v1/stations/CP-LL/local-list", {"update": "auto"})
        assert same["updates"] == [] and len(station.of("SendLocalList")) == 2

        # a token blocked in the registry: a differential update with just that token
        await operator.ok(
            "PUT", "/api/v1/tokens/CARD-A", {"status": "Blocked", "group_id": "FLEET"}
        )
        assert await eventually(_sent(client, 3)) == {
            "listVersion": 3,
            "updateType": "Differential",
            "localAuthorizationList": [
                {"idTag": "CARD-A", "idTagInfo": {"status": "Blocked", "parentIdTag": "FLEET"}}
            ],
        }
        # deleted from the registry, or taken out of the lists: removed (no idTagInfo)
        await operator.ok("DELETE", "/api/v1/tokens/CARD-B", status=204)
        removal = await eventually(_sent(client, 4))
        assert (removal["listVersion"], removal["localAuthorizationList"]) == (
            4,
            [{"idTag": "CARD-B"}],
        )
        await operator.ok("PUT", "/api/v1/tokens/CARD-C/local-list", {"in_list": False})
        assert (await eventually(_sent(client, 5)))["localAuthorizationList"] == [
            {"idTag": "CARD-C"}
        ]
        state = await operator.ok("GET", "/api/v1/stations/CP-LL/local-list")
        assert state["version"] == 5
        assert [(e["id_token"], e["status"]) for e in state["entries"]] == [("CARD-A", "Blocked")]
        desired = await operator.ok("GET", "/api/v1/local-list")
        assert [e["id_token"] for e in desired] == ["CARD-A", "CARD-TOO-LONG-FOR-1-6-X"]
    finally:
        await client.close()


async def test_TC_043_1_and_TC_043_3_failed_version_mismatch_and_not_supported(
    operator: Operator,
) -> None:
    await operator.token("CARD-A", local_list=True)
    client = await station16(operator.running, "CP-NS", {"SendLocalList": {"status": "Failed"}})
    station = scripted(client)
    push = "/api/v1/stations/CP-NS/local-list"
    try:
        # TC_043_3: Failed: nothing acknowledged, the next update is full again
        failed = await operator.ok("POST", push, {})
        assert (failed["updates"][0]["status"], failed["version"]) == ("Failed", 0)
        station.answers["SendLocalList"] = ACCEPTED
        retried = await operator.ok("POST", push, {})
        assert station.last("SendLocalList")["updateType"] == "Full"
        assert retried["version"] == 1

        # VersionMismatch to a differential update: the next one is full
        station.answers["SendLocalList"] = {"status": "VersionMismatch"}
        await operator.token("CARD-B", local_list=True)
        mismatch = await eventually(_sent(client, 3))
        assert (mismatch["updateType"], mismatch["listVersion"]) == ("Differential", 2)
        station.answers["SendLocalList"] = ACCEPTED
        await eventually(lambda: _status_is(operator, "CP-NS", "VersionMismatch"))
        full = await operator.ok("POST", push, {})
        resent = station.last("SendLocalList")
        assert (resent["updateType"], resent["listVersion"]) == ("Full", 2)
        assert [e["idTag"] for e in resent["localAuthorizationList"]] == ["CARD-A", "CARD-B"]
        assert full["version"] == 2

        # TC_043_1: NotSupported: the station is no longer managed, changes are not sent
        station.answers["SendLocalList"] = {"status": "NotSupported"}
        refused = await operator.ok("POST", push, {"update": "full"})
        assert (refused["managed"], refused["last_status"]) == (False, "NotSupported")
        sent = len(station.of("SendLocalList"))
        await operator.token("CARD-C", local_list=True)
        assert await operator.running.services.local_lists.sync("CP-NS") is None
        assert len(station.of("SendLocalList")) == sent
    finally:
        await client.close()


async def test_TC_042_1_and_TC_042_2_get_local_list_version(operator: Operator) -> None:
    await operator.token("CARD-A", local_list=True)
    client = await station16(
        operator.running,
        "CP-V",
        {"GetLocalListVersion": {"listVersion": 0}, "SendLocalList": ACCEPTED},
    )
    station = scripted(client)
    try:
        # TC_042_2: no list yet (0)
        assert (await operator.ok("GET", "/api/v1/stations/CP-V/local-list/version")) == {
            "station_id": "CP-V",
            "version": 0,
        }
        await operator.ok("POST", "/api/v1/stations/CP-V/local-list", {})
        # the station lost its list (it reports 0 again): the next update is full
        await operator.ok("GET", "/api/v1/stations/CP-V/local-list/version")
        state = await operator.ok("GET", "/api/v1/stations/CP-V/local-list")
        assert (state["version"], state["last_status"]) == (0, "VersionMismatch")
        await operator.token("CARD-B", local_list=True)
        resent = await eventually(_sent(client, 2))
        assert (resent["updateType"], resent["listVersion"]) == ("Full", 1)
        # TC_042_1: -1: the station has no local list support; it is no longer managed
        station.answers["GetLocalListVersion"] = {"listVersion": -1}
        version = await operator.ok("GET", "/api/v1/stations/CP-V/local-list/version")
        assert version["version"] == -1
        state = await operator.ok("GET", "/api/v1/stations/CP-V/local-list")
        assert (state["managed"], state["last_status"]) == (False, "NotSupported")
        assert station.of("GetLocalListVersion") == [{}, {}, {}]
    finally:
        await client.close()


async def test_TC_043_5_a_station_offline_gets_the_changes_when_it_reconnects(
    operator: Operator,
) -> None:
    registry = operator.running.system.registry
    await operator.token("CARD-A", local_list=True)
    client = await station16(operator.running, "CP-RC", {"SendLocalList": ACCEPTED})
    await operator.ok("POST", "/api/v1/stations/CP-RC/local-list", {})
    await client.close()
    await eventually(lambda: not registry.is_connected("CP-RC"), what="disconnected")
    await operator.token("CARD-B", local_list=True)  # while the station is offline
    client = await station16(operator.running, "CP-RC", {"SendLocalList": ACCEPTED})
    try:
        update = await eventually(_sent(client, 1))
        assert update == {
            "listVersion": 2,
            "updateType": "Differential",
            "localAuthorizationList": [{"idTag": "CARD-B", "idTagInfo": {"status": "Accepted"}}],
        }
        await eventually(lambda: _holds(operator, "CP-RC", {"CARD-A", "CARD-B"}))
    finally:
        await client.close()


async def test_TC_D_01_to_TC_D_04_full_update_remove_and_empty_list_TC_C_40_TC_C_43(
    operator: Operator,
) -> None:
    await operator.token("CARD-A", local_list=True, group_id="FLEET", type="ISO14443")
    await operator.token("CARD-B", local_list=True, status="Blocked")  # TC_C_43
    await operator.token("KEY-C", local_list=True, type="KeyCode")
    client = await station201(operator.running, "CS-LL", {"SendLocalList": ACCEPTED})
    station = scripted(client)
    push = "/api/v1/stations/CS-LL/local-list"
    try:
        # TC_D_01 full; TC_C_40: the group travels with the entry
        await operator.ok("POST", push, {"update": "full"})
        assert station.last("SendLocalList") == {
            "versionNumber": 1,
            "updateType": "Full",
            "localAuthorizationList": [
                {
                    "idToken": {"idToken": "CARD-A", "type": "ISO14443"},
                    "idTokenInfo": {
                        "status": "Accepted",
                        "groupIdToken": {"idToken": "FLEET", "type": "Central"},
                    },
                },
                {
                    "idToken": {"idToken": "CARD-B", "type": "ISO14443"},
                    "idTokenInfo": {"status": "Blocked"},
                },
                {
                    "idToken": {"idToken": "KEY-C", "type": "KeyCode"},
                    "idTokenInfo": {"status": "Accepted"},
                },
            ],
        }
        # TC_D_02 differential update
        expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
        await operator.ok(
            "PUT",
            "/api/v1/tokens/CARD-A",
            {
                "status": "Accepted",
                "group_id": "FLEET",
                "type": "ISO14443",
                "expires_at": expires.isoformat(),
            },
        )
        update = await eventually(_sent(client, 2))
        assert (update["versionNumber"], update["updateType"]) == (2, "Differential")
        [entry] = update["localAuthorizationList"]
        assert entry["idToken"] == {"idToken": "CARD-A", "type": "ISO14443"}
        assert entry["idTokenInfo"]["cacheExpiryDateTime"].startswith(
            expires.strftime("%Y-%m-%dT%H:%M:%S")
        )
        # TC_D_03 differential remove
        await operator.ok("PUT", "/api/v1/tokens/KEY-C/local-list", {"in_list": False})
        removal = await eventually(_sent(client, 3))
        assert removal == {
            "versionNumber": 3,
            "updateType": "Differential",
            "localAuthorizationList": [{"idToken": {"idToken": "KEY-C", "type": "KeyCode"}}],
        }
        # TC_D_04 full with an empty list: the station's list is cleared and left alone
        cleared = await operator.ok("DELETE", push)
        assert station.last("SendLocalList") == {"versionNumber": 4, "updateType": "Full"}
        assert (cleared["managed"], cleared["entries"], cleared["version"]) == (False, [], 4)
    finally:
        await client.close()


async def test_TC_D_08_and_TC_D_09_version_and_a_list_split_by_items_per_message(
    operator: Operator,
) -> None:
    for token in ("CARD-1", "CARD-2", "CARD-3"):
        await operator.token(token, local_list=True)
    client = await station201(
        operator.running,
        "CS-V",
        {"GetLocalListVersion": {"versionNumber": 0}, "SendLocalList": ACCEPTED},
    )
    station = scripted(client)
    try:
        # TC_D_09: no list available
        version = await operator.ok("GET", "/api/v1/stations/CS-V/local-list/version")
        assert version["version"] == 0
        # the station takes 2 entries per message (LocalAuthListCtrlr.ItemsPerMessage)
        await client.call(
            call201.NotifyReport(
                request_id=1,
                generated_at=now_text(),
                seq_no=0,
                report_data=[
                    {
                        "component": {"name": "LocalAuthListCtrlr"},
                        "variable": {"name": "ItemsPerMessage"},
                        "variableAttribute": [{"value": "2", "mutability": "ReadOnly"}],
                        "variableCharacteristics": {
                            "dataType": "integer",
                            "supportsMonitoring": False,
                        },
                    }
                ],
            )
        )
        pushed = await operator.ok("POST", "/api/v1/stations/CS-V/local-list", {})
        first, second = station.of("SendLocalList")
        assert (first["versionNumber"], first["updateType"]) == (1, "Full")
        assert [e["idToken"]["idToken"] for e in first["localAuthorizationList"]] == [
            "CARD-1",
            "CARD-2",
        ]
        assert (second["versionNumber"], second["updateType"]) == (2, "Differential")
        assert [e["idToken"]["idToken"] for e in second["localAuthorizationList"]] == ["CARD-3"]
        assert (pushed["version"], len(pushed["entries"])) == (2, 3)
        # TC_D_08: the station reports the version it holds
        station.answers["GetLocalListVersion"] = {"versionNumber": 2}
        version = await operator.ok("GET", "/api/v1/stations/CS-V/local-list/version")
        assert version["version"] == 2
        state = await operator.ok("GET", "/api/v1/stations/CS-V/local-list")
        assert (state["version"], state["last_status"]) == (2, "Accepted")
    finally:
        await client.close()


async def test_TC_N_46_clearing_a_customer_takes_their_token_out_of_local_lists(
    operator: Operator,
) -> None:
    """CustomerInformation(clear) for a token; once the station accepts, the token leaves the
    local lists: a differential SendLocalList removes it."""
    await operator.token("CARD-A", local_list=True, type="ISO14443")
    await operator.token("CARD-B", local_list=True, type="ISO14443")
    client = await station201(
        operator.running,
        "CS-N46",
        {"SendLocalList": ACCEPTED, "CustomerInformation": ACCEPTED},
    )
    station = scripted(client)
    try:
        await operator.ok("POST", "/api/v1/stations/CS-N46/local-list", {"update": "full"})
        answer = await operator.ok(
            "POST",
            "/api/v1/stations/CS-N46/customer-information/clear",
            {"request_id": 46, "id_token": "CARD-A"},
        )
        assert answer["status"] == "Accepted"
        assert station.last("CustomerInformation") == {
            "requestId": 46,
            "report": False,
            "clear": True,
            "idToken": {"idToken": "CARD-A", "type": "ISO14443"},
        }
        removal = await eventually(_sent(client, 2))
        assert removal["updateType"] == "Differential"
        assert removal["localAuthorizationList"] == [
            {"idToken": {"idToken": "CARD-A", "type": "ISO14443"}}
        ]
        assert await eventually(lambda: _holds(operator, "CS-N46", {"CARD-B"}))
    finally:
        await client.close()


async def test_a_round_over_managed_stations_reads_the_registry_once(operator: Operator) -> None:
    """TC_043_5 at scale: a token change reaches every managed station in a round that reads
    the registry's local-list tokens once, not once per station (with thousands of stations
    and tokens, a round every few minutes read them thousands of times)."""
    await operator.token("CARD-A", local_list=True)
    await operator.token("CARD-B")
    stations = [f"CP-LL-{n}" for n in range(5)]
    clients = [await station16(operator.running, s, {"SendLocalList": ACCEPTED}) for s in stations]
    try:
        for station_id in stations:
            await operator.ok(
                "POST", f"/api/v1/stations/{station_id}/local-list", {"update": "full"}
            )
        engine = operator.running.system.engine
        with statements_with(engine, "FROM id_token", "id_token.local_list IS") as token_reads:
            await operator.ok("PUT", "/api/v1/tokens/CARD-B/local-list", {"in_list": True})
            for client in clients:
                update = await eventually(_sent(client, 2))
                assert update["localAuthorizationList"] == [
                    {"idTag": "CARD-B", "idTagInfo": {"status": "Accepted"}}
                ]
        # one read per round (a round reading per station would read at least 5 times)
        assert 1 <= len(token_reads) < len(stations)
    finally:
        for client in clients:
            await client.close()
