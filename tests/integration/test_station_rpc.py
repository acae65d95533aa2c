"""The station's OCPP-J behaviour towards a central system that sends raw frames: the right
CALLERROR for unknown, unsupported and malformed calls (spelled per version), a boot that is
Pending first, and transaction messages the central system fails to process (retried per
TransactionMessageAttempts / TransactionMessageRetryInterval, then discarded).

The central system here is a minimal websocket server on 127.0.0.1 written for the test: it
answers every station CALL with a valid payload, records what arrived and lets the test send
any frame, valid or not."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.server import ServerConnection

from charge_point.station import Station
from tests.helpers import wait_for
from tests.integration.test_station_ocpp import VERSIONS, ccs_car, make_station

NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def answer(version: str, action: str) -> dict[str, Any]:
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": NOW, "interval": 300}
    if action == "Heartbeat":
        return {"currentTime": NOW}
    if action == "Authorize":
        key = "idTagInfo" if version == "1.6" else "idTokenInfo"
        return {key: {"status": "Accepted"}}
    if action == "StartTransaction":
        return {"transactionId": 17, "idTagInfo": {"status": "Accepted"}}
    if action == "DataTransfer":
        return {"status": "Accepted"}
    return {}


class RawCentralSystem:
    """Records every station CALL; `reply` may override the answer (a CALLERROR, Pending)."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.websocket: ServerConnection | None = None
        self.reply: Callable[[str, dict[str, Any]], list[Any] | None] = lambda a, p: None
        self._replies: dict[str, asyncio.Future[list[Any]]] = {}
        self._ids = itertools.count(1)

    async def handler(self, websocket: ServerConnection) -> None:
        self.websocket = websocket
        async for raw in websocket:
            frame = json.loads(raw)
            if frame[0] == 2:
                _, unique_id, action, payload = frame
                self.calls.append((action, payload))
                custom = self.reply(action, payload)
                await websocket.send(
                    json.dumps(custom or [3, unique_id, answer(self.version, action)]).replace(
                        '"$ID"', json.dumps(unique_id)
                    )
                )
            elif frame[1] in self._replies:
                self._replies.pop(frame[1]).set_result(frame)

    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]

    async def send_raw(self, text: str, expect_id: str) -> list[Any]:
        """Send any text; wait for the station's reply to message id `expect_id`."""
        assert self.websocket is not None
        reply: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._replies[expect_id] = reply
        await self.websocket.send(text)
        return await asyncio.wait_for(reply, 5)

    async def call(self, action: str, payload: Any) -> list[Any]:
        unique_id = f"test-{next(self._ids)}"
        return await self.send_raw(json.dumps([2, unique_id, action, payload]), unique_id)


@contextlib.asynccontextmanager
async def raw_central_system(version: str) -> AsyncIterator[tuple[RawCentralSystem, str]]:
    csms = RawCentralSystem(version)

    async def handler(websocket: ServerConnection) -> None:
        await csms.handler(websocket)

    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield csms, f"ws://127.0.0.1:{port}/ocpp"


async def running(station: Station, csms: RawCentralSystem) -> None:
    await wait_for(lambda: station.online and csms.websocket is not None, 10)


CASES = {
    # name: (1.6 frame payload, 2.0.1 frame payload, expected 1.6 code, expected 2.0.1 code)
    "unknown action": (("Frobnicate", {}), ("Frobnicate", {}), "NotImplemented", "NotImplemented"),
    "known, not supported": (
        (
            "InstallCertificate",
            {"certificateType": "ManufacturerRootCertificate", "certificate": "x"},
        ),
        ("CostUpdated", {"totalCost": 1.5, "transactionId": "t"}),
        "NotSupported",
        "NotSupported",
    ),
    "required field missing": (
        ("RemoteStopTransaction", {}),
        ("RequestStopTransaction", {}),
        "OccurenceConstraintViolation",
        "OccurrenceConstraintViolation",
    ),
    "field of the wrong type": (
        ("RemoteStopTransaction", {"transactionId": "seventeen"}),
        ("RequestStopTransaction", {"transactionId": 17}),
        "TypeConstraintViolation",
        "TypeConstraintViolation",
    ),
    "field that does not exist": (
        ("ClearCache", {"everything": True}),
        ("ClearCache", {"everything": True}),
        "FormationViolation",
        "FormatViolation",
    ),
}


@pytest.mark.parametrize("version", VERSIONS)
async def test_calls_the_station_cannot_process_get_the_callerror_the_spec_names(
    tmp_path: Path, version: str
):
    async with (
        raw_central_system(version) as (csms, url),
        make_station(url, tmp_path, version) as station,
    ):
        await running(station, csms)
        for name, (v16, v201, code16, code201) in CASES.items():
            action, payload = v16 if version == "1.6" else v201
            reply = await csms.call(action, payload)
            assert reply[0] == 4, name
            assert reply[2] == (code16 if version == "1.6" else code201), name
        unreadable = await csms.send_raw("this is not json", "-1")
        assert unreadable[:2] == [4, "-1"]
        # The connection stays open and answers proper calls.
        assert (await csms.call("ClearCache", {}))[2] == {"status": "Accepted"}
        assert station.online


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_pending_boot_is_repeated_after_the_interval_and_nothing_else_is_sent(
    tmp_path: Path, version: str
):
    """B02 / 1.6 4.2: until Accepted the station sends BootNotification only."""
    async with raw_central_system(version) as (csms, url):
        pending = {"count": 0}

        def reply(action: str, payload: dict[str, Any]) -> list[Any] | None:
            if action == "BootNotification" and pending["count"] < 2:
                pending["count"] += 1
                return [3, "$ID", {"status": "Pending", "currentTime": NOW, "interval": 1}]
            return None

        csms.reply = reply
        async with make_station(url, tmp_path, version) as station:
            await wait_for(lambda: station.online, 10)
            await wait_for(lambda: "StatusNotification" in csms.actions(), 5)
    actions = csms.actions()
    assert actions[:3] == ["BootNotification"] * 3
    assert "BootNotification" not in actions[3:]


@pytest.mark.parametrize("version", VERSIONS)
async def test_transaction_messages_the_central_system_fails_are_retried_then_discarded(
    tmp_path: Path, version: str
):
    """1.6 4.8 / 2.0.1 E13: a CALLERROR is retried TransactionMessageAttempts times with the
    same payload; the next message waits its turn; a message that keeps failing is dropped."""
    transaction_action = "StartTransaction" if version == "1.6" else "TransactionEvent"
    async with raw_central_system(version) as (csms, url):
        failures = {"first": 0}

        def reply(action: str, payload: dict[str, Any]) -> list[Any] | None:
            if action != transaction_action:
                return None
            if payload.get("eventType", "Started") == "Started" and failures["first"] < 1:
                failures["first"] += 1  # the first message fails once, then goes through
                return [4, "$ID", "InternalError", "try again", {}]
            if payload.get("eventType") == "Updated" or action == "MeterValues":
                return [4, "$ID", "InternalError", "never", {}]
            return None

        csms.reply = reply
        station = make_station(
            url,
            tmp_path,
            version,
            settings={"TransactionMessageAttempts": "2", "MeterValueSampleInterval": "0"},
        )
        async with station:
            await running(station, csms)
            ccs_car(station, 1).plug_in()
            assert await station.present_token(1, "TAG-1")
            await wait_for(lambda: station.store.queue_length() == 0, 15, 0.05, "queue drained")
    starts = [
        p
        for a, p in csms.calls
        if a == transaction_action and p.get("eventType", "Started") == "Started"
    ]
    assert len(starts) == 2
    assert all(p == starts[0] for p in starts), "every attempt sends the same message"
    assert station.stats.replayed >= 1
    if version == "2.0.1":
        # The charging-state update (Updated) kept failing and was discarded after 2 attempts.
        updates = [
            p for a, p in csms.calls if a == transaction_action and p["eventType"] == "Updated"
        ]
        assert len(updates) == 2 and station.stats.discarded == 1
    else:
        assert station.stats.discarded == 0
