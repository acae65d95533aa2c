"""OCPP 1.6 Core transaction cases against the real central system, the station being the
`ocpp` package's client: regular sessions (TC_003, TC_004_1/2, TC_007), EV-side disconnect
(TC_005_1), refused tokens (TC_023_1/2/3), lock failure (TC_024), power loss (TC_032_1), offline
starts and transactions (TC_037_1/3, TC_039), and signed meter values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from ocpp.v16 import call

from central_system.domain.authorization import AuthorizationStatus
from central_system.persistence.models import MeterSampleRow, TransactionRow
from tests.conftest import RunningCentralSystem
from tests.helpers import OcppClient
from tests.maintenance_helpers import booted16, rows, shared_system, ts

pytestmark = pytest.mark.asyncio(loop_scope="module")
system = shared_system()
__all__ = ["system"]


async def station(system: RunningCentralSystem, station_id: str) -> tuple[OcppClient, str]:
    """A booted station and its driver's token (each test has its own)."""
    tag = f"TAG-{station_id}"[:20]
    await system.services.authorization.add_token(tag)
    client = await booted16(system, station_id)
    for connector in (1, 2):
        await notify(client, "Available", connector=connector, at=-1)
    return client, tag


async def notify(
    client: OcppClient,
    state: str,
    *,
    connector: int = 1,
    at: float = 0,
    error: str = "NoError",
) -> None:
    await client.call(
        call.StatusNotification(
            connector_id=connector, error_code=error, status=state, timestamp=ts(at)
        )
    )


def register(wh: int, context: str | None = None, **extra: Any) -> dict[str, Any]:
    sample = {"value": str(wh), "unit": "Wh", "measurand": "Energy.Active.Import.Register"}
    if context:
        sample["context"] = context
    return {**sample, **extra}


async def start(client: OcppClient, tag: str, *, at: float = 10, meter: int = 1_000) -> Any:
    return await client.call(
        call.StartTransaction(connector_id=1, id_tag=tag, meter_start=meter, timestamp=ts(at))
    )


async def stop(
    client: OcppClient,
    transaction_id: int,
    *,
    at: float = 100,
    meter: int = 2_000,
    reason: str | None = None,
    tag: str | None = None,
    data: list[dict[str, Any]] | None = None,
) -> Any:
    return await client.call(
        call.StopTransaction(
            transaction_id=transaction_id,
            meter_stop=meter,
            timestamp=ts(at),
            reason=reason,
            id_tag=tag,
            transaction_data=data,
        )
    )


async def stored(system: RunningCentralSystem, transaction_id: int) -> Any:
    (found,) = await rows(system, TransactionRow, TransactionRow.id == transaction_id)
    return found


async def connector_state(system: RunningCentralSystem, station_id: str, evse: int = 1) -> Any:
    states = {c.key.evse_id: c for c in await system.services.stations.connectors(station_id)}
    return states[evse]


async def test_TC_003_regular_charging_session_plugin_first(system: RunningCentralSystem) -> None:
    client, tag = await station(system, "CP-003")
    try:
        await notify(client, "Preparing", at=1)
        assert (await client.call(call.Authorize(id_tag=tag))).id_tag_info["status"] == "Accepted"
        started = await start(client, tag)
        assert started.id_tag_info["status"] == "Accepted"
        await notify(client, "Charging", at=11)
        await client.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[{"timestamp": ts(50), "sampledValue": [register(1_500)]}],
            )
        )
        stopped = await stop(client, started.transaction_id, tag=tag, reason="Local")
        assert stopped.id_tag_info["status"] == "Accepted"
        await notify(client, "Finishing", at=101)
        await notify(client, "Available", at=102)
    finally:
        await client.close()
    found = await stored(system, started.transaction_id)
    assert (found.meter_start_wh, found.meter_stop_wh, found.stop_reason) == (1_000, 2_000, "Local")
    assert (await connector_state(system, "CP-003")).status.value == "Available"


async def test_TC_004_1_regular_charging_session_identification_first(
    system: RunningCentralSystem,
) -> None:
    client, tag = await station(system, "CP-0041")
    try:
        assert (await client.call(call.Authorize(id_tag=tag))).id_tag_info["status"] == "Accepted"
        await notify(client, "Preparing", at=5)
        started = await start(client, tag)
        await notify(client, "Charging", at=11)
        await stop(client, started.transaction_id, tag=tag)
    finally:
        await client.close()
    found = await stored(system, started.transaction_id)
    assert (found.id_token, found.start_authorization, found.stop_reason) == (
        tag,
        "Accepted",
        "Local",  # an absent reason means Local
    )


async def test_TC_004_2_identification_first_connection_timeout(
    system: RunningCentralSystem,
) -> None:
    """Authorized, but no cable within ConnectionTimeOut: the connector goes back to
    Available and no transaction exists."""
    client, tag = await station(system, "CP-0042")
    try:
        assert (await client.call(call.Authorize(id_tag=tag))).id_tag_info["status"] == "Accepted"
        await notify(client, "Preparing", at=1)
        await notify(client, "Available", at=31)
    finally:
        await client.close()
    assert not await rows(system, TransactionRow, TransactionRow.station_id == "CP-0042")
    assert (await connector_state(system, "CP-0042")).status.value == "Available"


async def test_TC_005_1_ev_side_disconnected(system: RunningCentralSystem) -> None:
    """StopTransactionOnEVSideDisconnect and UnlockConnectorOnEVSideDisconnect: the station
    stops with EVDisconnected and the connector becomes Available."""
    client, tag = await station(system, "CP-0051")
    try:
        started = await start(client, tag)
        await notify(client, "Charging", at=11)
        stopped = await stop(client, started.transaction_id, reason="EVDisconnected")
        assert stopped.id_tag_info is None  # no idTag in the request, none in the answer
        await notify(client, "Available", at=101)
    finally:
        await client.close()
    found = await stored(system, started.transaction_id)
    assert (found.stop_reason, found.stop_id_token) == ("EVDisconnected", None)
    assert (await connector_state(system, "CP-0051")).status.value == "Available"


async def test_TC_007_regular_start_charging_session_cached_id(
    system: RunningCentralSystem,
) -> None:
    """The station authorized the tag from its cache: StartTransaction without Authorize."""
    client, tag = await station(system, "CP-007")
    try:
        await notify(client, "Preparing", at=1)
        started = await start(client, tag)
        assert started.id_tag_info["status"] == "Accepted"
        await stop(client, started.transaction_id, tag=tag)
    finally:
        await client.close()
    assert (await stored(system, started.transaction_id)).start_authorization == "Accepted"


@pytest.mark.parametrize(
    ("case", "registry", "expected"),
    [
        ("0231", None, "Invalid"),
        ("0232", ("Accepted", -3600), "Expired"),
        ("0233", ("Blocked", None), "Blocked"),
    ],
)
async def test_TC_023_start_charging_session_authorize_refused(
    system: RunningCentralSystem,
    case: str,
    registry: tuple[str, int | None] | None,
    expected: str,
) -> None:
    """TC_023_1 invalid (unknown), TC_023_2 expired, TC_023_3 blocked (never Invalid): the
    station gets the real status and starts nothing."""
    tag = f"BAD-{case}"
    if registry is not None:
        status, expires_in = registry
        await system.services.authorization.add_token(
            tag,
            status=AuthorizationStatus(status),
            expires_at=datetime.now(UTC) + timedelta(seconds=expires_in) if expires_in else None,
        )
    client = await booted16(system, f"CP-{case}")
    try:
        await notify(client, "Preparing", at=1)
        reply = await client.call(call.Authorize(id_tag=tag))
        assert reply.id_tag_info["status"] == expected
        await notify(client, "Available", at=2)
    finally:
        await client.close()
    assert not await rows(system, TransactionRow, TransactionRow.station_id == f"CP-{case}")


async def test_TC_024_start_charging_session_lock_failure(system: RunningCentralSystem) -> None:
    client, tag = await station(system, "CP-024")
    try:
        assert (await client.call(call.Authorize(id_tag=tag))).id_tag_info["status"] == "Accepted"
        await notify(client, "Preparing", at=1)
        await notify(client, "Faulted", at=2, error="ConnectorLockFailure")
    finally:
        await client.close()
    state = await connector_state(system, "CP-024")
    assert (state.status.value, state.error_code) == ("Faulted", "ConnectorLockFailure")
    assert not await rows(system, TransactionRow, TransactionRow.station_id == "CP-024")


async def test_TC_032_1_power_failure_boot_stops_transactions(
    system: RunningCentralSystem,
) -> None:
    """The station lost power during a transaction: after its BootNotification it sends the
    StopTransaction with reason PowerLoss and the last meter reading it kept."""
    client, tag = await station(system, "CP-0321")
    try:
        started = await start(client, tag)
        await notify(client, "Charging", at=11)
        reboot = await client.call(
            call.BootNotification(charge_point_model="DC-2", charge_point_vendor="Acme")
        )
        assert reboot.status == "Accepted"
        await stop(
            client,
            started.transaction_id,
            at=60,
            meter=1_700,
            reason="PowerLoss",
            data=[{"timestamp": ts(60), "sampledValue": [register(1_700, "Transaction.End")]}],
        )
        await notify(client, "Available", at=200)
    finally:
        await client.close()
    found = await stored(system, started.transaction_id)
    assert (found.stop_reason, found.meter_stop_wh, found.stopped_at) == (
        "PowerLoss",
        1_700,
        datetime.fromisoformat(ts(60)),
    )


async def test_TC_037_1_offline_start_transaction_valid_id_tag(
    system: RunningCentralSystem,
) -> None:
    """A transaction started while the station was offline reaches the central system when it
    is back: accepted, with its original times."""
    client, tag = await station(system, "CP-0371")
    try:
        started = await start(client, tag, at=-600)
        assert started.id_tag_info["status"] == "Accepted"
        await notify(client, "Charging", at=5)
    finally:
        await client.close()
    found = await stored(system, started.transaction_id)
    assert found.started_at == datetime.fromisoformat(ts(-600))
    assert found.stopped_at is None


async def test_TC_037_3_offline_start_invalid_id_tag_stop_on_invalid_id(
    system: RunningCentralSystem,
) -> None:
    """StopTransactionOnInvalidId: the central system answers the queued start Invalid; the
    station stops the transaction DeAuthorized."""
    client = await booted16(system, "CP-0373")
    try:
        started = await start(client, "NOT-KNOWN", at=-300)
        assert started.id_tag_info["status"] == "Invalid"
        await stop(client, started.transaction_id, at=1, meter=1_050, reason="DeAuthorized")
    finally:
        await client.close()
    found = await stored(system, started.transaction_id)
    assert (found.start_authorization, found.stop_reason, found.meter_stop_wh) == (
        "Unknown",  # stored version-neutral; 1.6 answers it Invalid
        "DeAuthorized",
        1_050,
    )


async def test_TC_039_offline_transaction(system: RunningCentralSystem) -> None:
    """A whole transaction happened offline: start, meter values and stop arrive in order on
    reconnect, each answered; sent again (the station was not sure), nothing is doubled."""
    client, tag = await station(system, "CP-039")
    try:
        for _ in range(2):
            started = await start(client, tag, at=-900, meter=5_000)
            await client.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=started.transaction_id,
                    meter_value=[{"timestamp": ts(-600), "sampledValue": [register(5_400)]}],
                )
            )
            stopped = await stop(
                client, started.transaction_id, at=-300, meter=5_900, tag=tag, reason="Local"
            )
            assert stopped.id_tag_info["status"] == "Accepted"
    finally:
        await client.close()
    (found,) = await rows(system, TransactionRow, TransactionRow.station_id == "CP-039")
    assert (found.meter_start_wh, found.meter_stop_wh) == (5_000, 5_900)
    samples = await rows(system, MeterSampleRow, MeterSampleRow.transaction_row_id == found.id)
    assert [s.value for s in samples] == [Decimal(5_400)]


async def test_signed_meter_values_16_are_kept_with_their_reading(
    system: RunningCentralSystem,
) -> None:
    """A 1.6 station sends each register reading plain and as SignedData (same time,
    measurand, context): both are kept, on one sample."""
    client, tag = await station(system, "CP-SIG")
    try:
        started = await start(client, tag)
        await stop(
            client,
            started.transaction_id,
            tag=tag,
            data=[
                {
                    "timestamp": ts(100),
                    "sampledValue": [
                        register(2_000, "Transaction.End"),
                        {
                            "value": "OCMF|{...}|{SD:3045}",
                            "format": "SignedData",
                            "context": "Transaction.End",
                            "measurand": "Energy.Active.Import.Register",
                        },
                    ],
                }
            ],
        )
    finally:
        await client.close()
    (sample,) = await rows(
        system, MeterSampleRow, MeterSampleRow.transaction_row_id == started.transaction_id
    )
    assert (sample.value, sample.signed_data) == (Decimal(2_000), "OCMF|{...}|{SD:3045}")
