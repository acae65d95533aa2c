"""OCPP 1.6 Smart Charging profile (TC_056, TC_057, TC_059, TC_066, TC_067) against the real
central system, with the `ocpp` package's client as the station, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from ocpp.v16 import call as call16

from central_system.domain.authorization import IdToken
from central_system.domain.smart_charging import (
    ClearCriteria,
    ProfileSource,
    ProfileStatus,
)
from central_system.services.errors import InvalidRequest
from schemas.charging_profiles import ProfileKind, ProfilePurpose, RateUnit
from tests.conftest import RunningCentralSystem
from tests.helpers import wait_for
from tests.smart_charging_helpers import boot16, profile


async def test_TC_056_central_smart_charging_tx_default_profile(
    central_system: RunningCentralSystem,
) -> None:
    """TC_056_CSMS: a TxDefaultProfile for connector 1 is sent in 1.6 form and recorded as the
    station accepted it."""
    client = await boot16(central_system)
    service = central_system.services.smart_charging
    try:
        result = await service.set_profile(
            "CP-1",
            profile(7, ProfilePurpose.TX_DEFAULT, unit=RateUnit.A, periods=[(0, 16), (3600, 8)]),
        )
        assert result.outcome.status == "Accepted"
        assert result.record.status is ProfileStatus.ACCEPTED
        sent = client.cp.got("SetChargingProfile")[0]
        assert sent["connector_id"] == 1
        assert sent["charging_profile_id"] == 7
        assert sent["charging_profile_purpose"] == "TxDefaultProfile"
        assert sent["charging_profile_kind"] == "Absolute"
        schedule = sent["charging_schedule"]
        assert schedule["charging_rate_unit"] == "A"
        assert schedule["start_schedule"] == "2026-01-01T00:00:00.000Z"
        assert [(p["start_period"], p["limit"]) for p in schedule["charging_schedule_period"]] == [
            (0, 16),
            (3600, 8),
        ]
        # a station-wide default (connector 0) is a second profile beside it
        await service.set_profile(
            "CP-1", profile(8, ProfilePurpose.TX_DEFAULT, evse_id=0, stack_level=1)
        )
        assert client.cp.got("SetChargingProfile")[1]["connector_id"] == 0
        held = await service.profiles("CP-1", statuses=[ProfileStatus.ACCEPTED])
        assert sorted(r.profile.id for r in held) == [7, 8]
    finally:
        await client.close()


async def test_TC_057_central_smart_charging_tx_profile(
    central_system: RunningCentralSystem,
) -> None:
    """TC_057_CSMS: during a transaction a TxProfile naming its (integer) transactionId is
    accepted; when the transaction stops the profile is gone with it."""
    client = await boot16(central_system)
    service = central_system.services.smart_charging
    try:
        start = await client.call(
            call16.StartTransaction(
                connector_id=1,
                id_tag="TAG",
                meter_start=0,
                timestamp=datetime.now(UTC).isoformat(),
            )
        )
        tx = str(start.transaction_id)
        result = await service.set_profile(
            "CP-1",
            profile(
                3,
                ProfilePurpose.TX,
                6000,
                kind=ProfileKind.RELATIVE,
                transaction_id=tx,
                stack_level=2,
            ),
        )
        assert result.record.status is ProfileStatus.ACCEPTED
        sent = client.cp.got("SetChargingProfile")[0]
        assert sent["transaction_id"] == start.transaction_id
        assert sent["charging_profile_purpose"] == "TxProfile"
        assert "start_schedule" not in sent["charging_schedule"]  # Relative
        await client.call(
            call16.StopTransaction(
                transaction_id=start.transaction_id,
                meter_stop=1000,
                timestamp=datetime.now(UTC).isoformat(),
            )
        )

        async def forgotten() -> bool:
            records = await service.profiles("CP-1")
            return records[0].status is ProfileStatus.CLEARED

        await wait_for(forgotten, what="the TxProfile cleared with its transaction")
    finally:
        await client.close()


async def test_TC_057_rejected_profile_is_recorded_as_rejected(
    central_system: RunningCentralSystem,
) -> None:
    """TC_057_CSMS (station refuses): the answer is kept, the station's profiles unchanged."""
    client = await boot16(central_system)
    client.cp.set_answer = "Rejected"
    try:
        result = await central_system.services.smart_charging.set_profile(
            "CP-1", profile(4, ProfilePurpose.TX, transaction_id="99", kind=ProfileKind.RELATIVE)
        )
        assert result.outcome.status == "Rejected"
        assert result.record.status is ProfileStatus.REJECTED
    finally:
        await client.close()


async def test_TC_059_remote_start_transaction_with_charging_profile(
    central_system: RunningCentralSystem,
) -> None:
    """TC_059_CSMS: RemoteStartTransaction carries a TxProfile (no transactionId); a profile
    of another purpose is refused before anything is sent."""
    client = await boot16(central_system)
    service = central_system.services.smart_charging
    try:
        with pytest.raises(InvalidRequest):
            await service.remote_start(
                "CP-1", IdToken("TAG"), evse_id=1, profile=profile(5, ProfilePurpose.TX_DEFAULT)
            )
        started = await service.remote_start(
            "CP-1",
            IdToken("TAG"),
            evse_id=1,
            profile=profile(5, ProfilePurpose.TX, 7400, kind=ProfileKind.RELATIVE),
        )
        assert started.outcome.status == "Accepted"
        sent = client.cp.got("RemoteStartTransaction")
        assert len(sent) == 1
        assert sent[0]["id_tag"] == "TAG" and sent[0]["connector_id"] == 1
        carried = sent[0]["charging_profile"]
        assert carried["charging_profile_purpose"] == "TxProfile"
        assert carried["charging_profile_id"] == 5
        assert "transaction_id" not in carried
        assert carried["charging_schedule"]["charging_schedule_period"][0]["limit"] == 7400
        assert started.record is not None and started.record.status is ProfileStatus.ACCEPTED
    finally:
        await client.close()


async def test_TC_066_get_composite_schedule(central_system: RunningCentralSystem) -> None:
    """TC_066_CSMS: GetCompositeSchedule for a connector; the station's schedule comes back
    version-neutral."""
    client = await boot16(central_system)
    client.cp.composite = {
        "duration": 3600,
        "charging_rate_unit": "W",
        "charging_schedule_period": [
            {"start_period": 0, "limit": 11000},
            {"start_period": 1800, "limit": 7360.5},
        ],
    }
    try:
        reply = await central_system.services.smart_charging.composite_schedule(
            "CP-1", 1, 3600, RateUnit.W
        )
        assert client.cp.got("GetCompositeSchedule") == [
            {"connector_id": 1, "duration": 3600, "charging_rate_unit": "W"}
        ]
        assert reply.accepted and reply.evse_id == 1
        assert reply.schedule is not None
        assert reply.schedule.start == datetime(2026, 1, 1, tzinfo=UTC)
        assert [(p.start_s, p.limit) for p in reply.schedule.periods] == [
            (0, Decimal(11000)),
            (1800, Decimal("7360.5")),
        ]
        client.cp.composite = None
        refused = await central_system.services.smart_charging.composite_schedule("CP-1", 2, 60)
        assert refused.status == "Rejected" and refused.schedule is None
    finally:
        await client.close()


async def test_TC_067_clear_charging_profile(central_system: RunningCentralSystem) -> None:
    """TC_067_CSMS: ClearChargingProfile by id, then by purpose and stack level; the records
    follow; clearing what the station does not have is answered Unknown and changes nothing."""
    client = await boot16(central_system)
    service = central_system.services.smart_charging
    try:
        await service.set_profile("CP-1", profile(1, ProfilePurpose.TX_DEFAULT, stack_level=0))
        await service.set_profile("CP-1", profile(2, ProfilePurpose.TX_DEFAULT, stack_level=1))
        await service.set_profile(
            "CP-1", profile(3, ProfilePurpose.STATION_MAX, evse_id=0, stack_level=0)
        )
        by_id = await service.clear("CP-1", ClearCriteria(profile_id=1))
        assert by_id.outcome.status == "Accepted"
        assert [r.profile.id for r in by_id.cleared] == [1]
        assert client.cp.got("ClearChargingProfile")[0] == {"id": 1}
        by_purpose = await service.clear(
            "CP-1", ClearCriteria(purpose=ProfilePurpose.STATION_MAX, stack_level=0)
        )
        assert [r.profile.id for r in by_purpose.cleared] == [3]
        assert client.cp.got("ClearChargingProfile")[1] == {
            "charging_profile_purpose": "ChargePointMaxProfile",
            "stack_level": 0,
        }
        unknown = await service.clear("CP-1", ClearCriteria(profile_id=42))
        assert unknown.outcome.status == "Unknown" and unknown.cleared == []
        left = await service.profiles("CP-1", statuses=[ProfileStatus.ACCEPTED])
        assert [r.profile.id for r in left] == [2]
        assert all(r.source is ProfileSource.OPERATOR for r in left)
        assert sorted(client.cp.installed) == [2]
    finally:
        await client.close()
