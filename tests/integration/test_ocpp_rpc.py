"""OCPP-J RPC behaviour over real websockets: malformed frames get the CALLERROR the spec names
and change nothing, subprotocol negotiation (TC_088, TC_B_58), connection replacement, and the
station gateway (remote start/stop TC_010-TC_012, offline, timeout, one outstanding call)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from sqlalchemy import func, select

from central_system.domain.authorization import IdToken
from central_system.persistence.models import MeterSampleRow, TransactionRow
from central_system.services.ports import StationCallError, StationCallTimeout, StationOffline
from central_system.transport.commands import StationCommands
from tests.conftest import RunningCentralSystem
from tests.helpers import connect, wait_for


async def raw_station(running: RunningCentralSystem, station_id: str, subprotocol: str) -> Any:
    await running.services.stations.register(station_id)
    return await websockets.connect(
        f"{running.ocpp_url}/{station_id}",
        subprotocols=[subprotocol],  # type: ignore[list-item]
    )


async def exchange(ws: Any, frame: str) -> list[Any]:
    await ws.send(frame)
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def count(running: RunningCentralSystem, model: type) -> int:
    async with running.system.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


START_16 = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}

# (frame, expected 1.6 code, expected 2.0.1 code, expected message id)
BAD_FRAMES = [
    ("this is not json", "FormationViolation", "RpcFrameworkError", "-1"),
    ('{"a": 1}', "FormationViolation", "RpcFrameworkError", "-1"),
    ("[2]", "FormationViolation", "RpcFrameworkError", "-1"),
    ('[2, 17, "Heartbeat", {}]', "FormationViolation", "RpcFrameworkError", "-1"),
    ('[2, "m1", "Heartbeat"]', "FormationViolation", "RpcFrameworkError", "m1"),
    ('[2, "m2", "Heartbeat", []]', "FormationViolation", "FormatViolation", "m2"),
    ('[9, "m3", "Heartbeat", {}]', "FormationViolation", "MessageTypeNotSupported", "m3"),
    ('[2, "m4", "NoSuchAction", {}]', "NotImplemented", "NotImplemented", "m4"),
]


@pytest.mark.parametrize(("frame", "code16", "code201", "message_id"), BAD_FRAMES)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_malformed_frames(
    central_system: RunningCentralSystem,
    version: str,
    frame: str,
    code16: str,
    code201: str,
    message_id: str,
) -> None:
    ws = await raw_station(central_system, "CP-RAW", f"ocpp{version}")
    try:
        reply = await exchange(ws, frame)
        assert reply[:3] == [4, message_id, code16 if version == "1.6" else code201]
        assert isinstance(reply[3], str) and len(reply[3]) <= 255 and isinstance(reply[4], dict)
        # The connection stays open and keeps serving.
        boot = (
            '{"chargePointVendor": "V", "chargePointModel": "M"}'
            if version == "1.6"
            else ('{"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}')
        )
        ok = await exchange(ws, f'[2, "b1", "BootNotification", {boot}]')
        assert ok[0:2] == [3, "b1"] and ok[2]["status"] == "Accepted"
    finally:
        await ws.close()


SCHEMA_VIOLATIONS_16 = [
    ({**START_16, "connectorId": "one"}, "TypeConstraintViolation"),
    ({k: v for k, v in START_16.items() if k != "idTag"}, "OccurenceConstraintViolation"),
    ({**START_16, "idTag": "X" * 21}, "TypeConstraintViolation"),
    ({**START_16, "surprise": 1}, "FormationViolation"),
    ({**START_16, "timestamp": "yesterday"}, "PropertyConstraintViolation"),
]


@pytest.mark.parametrize(("payload", "code"), SCHEMA_VIOLATIONS_16)
async def test_schema_violations_16_store_nothing(
    central_system: RunningCentralSystem, payload: dict[str, Any], code: str
) -> None:
    ws = await raw_station(central_system, "CP-RAW", "ocpp1.6")
    try:
        reply = await exchange(ws, json.dumps([2, "s1", "StartTransaction", payload]))
        assert reply[:3] == [4, "s1", code]
        bad_meter = {
            "connectorId": 1,
            "meterValue": [
                {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "abc"}]}
            ],
        }
        reply = await exchange(ws, json.dumps([2, "s2", "MeterValues", bad_meter]))
        assert reply[:3] == [4, "s2", "PropertyConstraintViolation"]
    finally:
        await ws.close()
    assert await count(central_system, TransactionRow) == 0
    assert await count(central_system, MeterSampleRow) == 0


async def test_schema_violations_201(central_system: RunningCentralSystem) -> None:
    ws = await raw_station(central_system, "CS-RAW", "ocpp2.0.1")
    try:
        boot = {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}
        await exchange(ws, json.dumps([2, "b", "BootNotification", boot]))
        cases = [
            ({"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
            ({**boot, "reason": "Because"}, "PropertyConstraintViolation"),
            (
                {**boot, "chargingStation": {"vendorName": 5, "model": "M"}},
                "TypeConstraintViolation",
            ),
            ({**boot, "extra": True}, "FormatViolation"),
        ]
        for index, (payload, code) in enumerate(cases):
            reply = await exchange(ws, json.dumps([2, f"v{index}", "BootNotification", payload]))
            assert reply[:3] == [4, f"v{index}", code]
        # A known action this central system does not support is NotSupported, not silence.
        reply = await exchange(ws, json.dumps([2, "n", "RequestStartTransaction", {}]))
        assert reply[:3] == [4, "n", "NotSupported"]
    finally:
        await ws.close()


async def test_a_bad_station_does_not_disturb_others(central_system: RunningCentralSystem) -> None:
    good = await raw_station(central_system, "CP-GOOD", "ocpp1.6")
    bad = await raw_station(central_system, "CP-BAD", "ocpp1.6")
    try:
        for _ in range(20):
            await bad.send("\x00\xff garbage")
        replies = [json.loads(await asyncio.wait_for(bad.recv(), 5)) for _ in range(20)]
        assert all(r[:3] == [4, "-1", "FormationViolation"] for r in replies)
        ok = await exchange(good, '[2, "h", "Heartbeat", {}]')
        assert ok[:2] == [3, "h"]
    finally:
        await good.close()
        await bad.close()


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (["ocpp2.0.1", "ocpp1.6"], "ocpp2.0.1"),
        (["ocpp1.6", "ocpp2.0.1"], "ocpp1.6"),
        (["ocpp2.1", "ocpp2.0.1", "ocpp1.6"], "ocpp2.1"),
        (["ocpp1.5", "ocpp1.6"], "ocpp1.6"),
    ],
)
async def test_subprotocol_follows_the_clients_preference(
    central_system: RunningCentralSystem, offered: list[str], expected: str
) -> None:
    """TC_088_CSMS / TC_B_58_CSMS."""
    await central_system.services.stations.register("CP-N")
    async with websockets.connect(f"{central_system.ocpp_url}/CP-N", subprotocols=offered) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == expected


async def test_no_acceptable_subprotocol_completes_handshake_then_closes(
    central_system: RunningCentralSystem,
) -> None:
    await central_system.services.stations.register("CP-N")
    async with websockets.connect(
        f"{central_system.ocpp_url}/CP-N", subprotocols=["ocpp1.2"]
    ) as ws:  # type: ignore[list-item]
        assert ws.subprotocol is None
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002


async def test_second_connection_replaces_the_first(central_system: RunningCentralSystem) -> None:
    await central_system.services.stations.register("CP-1")
    first = await connect(central_system.ocpp_url, "CP-1")
    second = await connect(central_system.ocpp_url, "CP-1")
    try:
        await wait_for(lambda: first.websocket.state.name == "CLOSED", what="old connection closed")
        reply = await second.call(call16.Heartbeat())
        assert reply.current_time
        assert central_system.system.registry.get("CP-1").websocket is not None
        await wait_for(lambda: len(central_system.system.registry) == 1)
        station = await central_system.services.stations.get("CP-1")
        assert station.connected  # the old connection's end did not mark the station offline
    finally:
        await second.close()
        await first.close()


class Station16(ChargePoint16):
    """A 1.6 station that obeys remote start/stop and can be told to stay silent."""

    silent = False
    started: asyncio.Event

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> Any:
        self.remote_id_tag = id_tag
        return result16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        return result16.RemoteStopTransaction(
            status="Accepted" if transaction_id == 7 else "Rejected"
        )

    @on("Reset")
    async def on_reset(self, type: str, **_: Any) -> Any:
        if self.silent:
            await asyncio.sleep(3600)
        return result16.Reset(status="Accepted")


class Station201(ChargePoint201):
    @on("RequestStartTransaction")
    async def on_request_start(
        self, id_token: dict[str, Any], remote_start_id: int, **_: Any
    ) -> Any:
        self.remote = (id_token, remote_start_id)
        return result201.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    async def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        return result201.RequestStopTransaction(status="Accepted")


async def test_remote_start_and_stop_16(central_system: RunningCentralSystem) -> None:
    """TC_010/TC_011_1 remote start, TC_012 remote stop, TC_028 rejected stop."""
    await central_system.services.stations.register("CP-R")
    client = await connect(central_system.ocpp_url, "CP-R", charge_point_class=Station16)
    commands = StationCommands(central_system.system.registry)
    try:
        await client.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        started = await commands.remote_start(
            "CP-R", IdToken("APP-1"), evse_id=1, remote_start_id=1
        )
        assert started.accepted and client.cp.remote_id_tag == "APP-1"
        assert (await commands.remote_stop("CP-R", "7")).accepted
        rejected = await commands.remote_stop("CP-R", "8")
        assert (rejected.accepted, rejected.status) == (False, "Rejected")
        with pytest.raises(ValueError, match="RemoteStartTransaction"):
            await commands.send("CP-R", "RemoteStartTransaction", {"connectorId": "x"})
    finally:
        await client.close()


async def test_remote_start_and_stop_201(central_system: RunningCentralSystem) -> None:
    """F01/F03 with a 2.0.1 station."""
    await central_system.services.stations.register("CS-R")
    client = await connect(
        central_system.ocpp_url, "CS-R", version="2.0.1", charge_point_class=Station201
    )
    commands = StationCommands(central_system.system.registry)
    try:
        await client.call(
            call201.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        started = await commands.remote_start(
            "CS-R", IdToken("APP-1"), evse_id=1, remote_start_id=42
        )
        assert started.accepted
        assert client.cp.remote == ({"id_token": "APP-1", "type": "Central"}, 42)
        assert (await commands.remote_stop("CS-R", "TX-1")).accepted
    finally:
        await client.close()


async def test_gateway_offline_timeout_and_errors(central_system: RunningCentralSystem) -> None:
    registry = central_system.system.registry
    with pytest.raises(StationOffline):
        await registry.call("NOBODY", "Reset", {"type": "Soft"})
    await central_system.services.stations.register("CP-T")
    client = await connect(central_system.ocpp_url, "CP-T", charge_point_class=Station16)
    await wait_for(lambda: registry.is_connected("CP-T"))
    try:
        # A station without a handler answers NotImplemented / NotSupported: a CALLERROR.
        with pytest.raises(StationCallError) as error:
            await registry.call("CP-T", "ClearCache", {})
        assert error.value.code in ("NotImplemented", "NotSupported")
        client.cp.silent = True
        with pytest.raises(StationCallTimeout):
            await registry.call("CP-T", "Reset", {"type": "Soft"}, timeout=0.3)
    finally:
        await client.close()


async def test_one_outstanding_call_per_connection(central_system: RunningCentralSystem) -> None:
    """OCPP-J 4.1.1: the central system waits for the answer before its next CALL."""
    await central_system.services.stations.register("CP-O")
    ws = await websockets.connect(f"{central_system.ocpp_url}/CP-O", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
    registry = central_system.system.registry
    try:
        await wait_for(lambda: registry.is_connected("CP-O"))
        calls = [asyncio.create_task(registry.call("CP-O", "ClearCache", {})) for _ in range(3)]
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)  # nothing else until the first is answered
        await ws.send(json.dumps([3, first[1], {"status": "Accepted"}]))
        for _ in range(2):
            nxt = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send(json.dumps([3, nxt[1], {"status": "Rejected"}]))
        results = [r["status"] for r in await asyncio.gather(*calls)]
        assert sorted(results) == ["Accepted", "Rejected", "Rejected"]
    finally:
        await ws.close()


async def test_station_disconnect_fails_a_pending_call_fast(
    central_system: RunningCentralSystem,
) -> None:
    await central_system.services.stations.register("CP-D")
    ws = await websockets.connect(f"{central_system.ocpp_url}/CP-D", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
    registry = central_system.system.registry
    await wait_for(lambda: registry.is_connected("CP-D"))
    pending = asyncio.create_task(registry.call("CP-D", "ClearCache", {}, timeout=30))
    await asyncio.wait_for(ws.recv(), 5)
    await ws.close()
    with pytest.raises(StationOffline):
        await asyncio.wait_for(pending, 5)  # long before the call's own 30 s timeout


async def test_oversized_frame_closes_only_that_connection(database_url: str) -> None:
    """EVCHARGE_OCPP_MAX_FRAME_BYTES bounds memory per station: a larger frame closes that
    connection with 1009 (message too big); other stations keep being served."""
    from tests.conftest import running_central_system, test_settings

    async with running_central_system(
        test_settings(database_url, ocpp_max_frame_bytes=4096)
    ) as running:
        big = await raw_station(running, "CP-BIG", "ocpp1.6")
        small = await raw_station(running, "CP-SMALL", "ocpp1.6")
        try:
            await big.send(
                json.dumps([2, "x", "DataTransfer", {"vendorId": "v", "data": "x" * 10_000}])
            )
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(big.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            ok = await exchange(small, '[2, "h", "Heartbeat", {}]')
            assert ok[:2] == [3, "h"]
        finally:
            await big.close()
            await small.close()


async def test_gateway_refuses_an_action_the_version_does_not_define(
    central_system: RunningCentralSystem,
) -> None:
    """Nothing is sent for an unknown action; the caller gets a ValueError, not a crash."""
    ws = await raw_station(central_system, "CP-U", "ocpp1.6")
    registry = central_system.system.registry
    try:
        await wait_for(lambda: registry.is_connected("CP-U"))
        with pytest.raises(ValueError, match=r"Frobnicate is not an OCPP 1\.6 action"):
            await registry.call("CP-U", "Frobnicate", {})
        with pytest.raises(ValueError, match=r"RequestStartTransaction is not an OCPP 1\.6"):
            await registry.call("CP-U", "RequestStartTransaction", {})
    finally:
        await ws.close()
