"""OCPP 2.0.1 block K (smart charging) against the real central system, with the `ocpp`
package's client as the station, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from ocpp.v201 import call as call201

from central_system.domain.authorization import IdToken
from central_system.domain.smart_charging import (
    ChargingLimitSource,
    ClearCriteria,
    ProfileSource,
    ProfileStatus,
    ReportCriteria,
    first_limit_w,
)
from central_system.services.errors import InvalidRequest
from central_system.services.ports import StationCallError
from schemas.charging_profiles import ProfileKind, ProfilePurpose, RateUnit, Recurrency
from tests.conftest import RunningCentralSystem
from tests.helpers import OcppClient, wait_for
from tests.smart_charging_helpers import boot201, now_iso, profile


async def start_transaction(client: OcppClient, evse_id: int = 1, tx: str = "TX-1") -> None:
    await client.call(
        call201.TransactionEvent(
            event_type="Started",
            timestamp=now_iso(),
            trigger_reason="Authorized",
            seq_no=0,
            transaction_info={"transactionId": tx, "chargingState": "Charging"},
            evse={"id": evse_id, "connectorId": 1},
            id_token={"idToken": "TAG", "type": "ISO14443"},
        )
    )
    client.cp.transactions[evse_id] = tx


def sent_profiles(client: OcppClient) -> list[dict[str, Any]]:
    return client.cp.got("SetChargingProfile")


async def test_TC_K_01_set_tx_default_profile_specific_evse(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_01_CSMS: a TxDefaultProfile on EVSE 1, in 2.0.1 form (evseId beside the profile,
    a list of charging schedules with their own id)."""
    client = await boot201(central_system)
    try:
        result = await central_system.services.smart_charging.set_profile(
            "CS-1", profile(11, ProfilePurpose.TX_DEFAULT, 16, unit=RateUnit.A, evse_id=1)
        )
        assert result.outcome.status == "Accepted"
        assert result.record.status is ProfileStatus.ACCEPTED
        sent = sent_profiles(client)[0]
        assert sent["evse_id"] == 1 and sent["id"] == 11
        assert sent["charging_profile_purpose"] == "TxDefaultProfile"
        schedule = sent["charging_schedule"][0]
        assert schedule["id"] == 11 and schedule["charging_rate_unit"] == "A"
        assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 16}]
    finally:
        await client.close()


async def test_TC_K_02_tx_profile_without_ongoing_transaction(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_02_CSMS: a TxProfile on an EVSE without a transaction is rejected by the station;
    the record says so, with the station's reason."""
    client = await boot201(central_system)
    try:
        result = await central_system.services.smart_charging.set_profile(
            "CS-1", profile(12, ProfilePurpose.TX, kind=ProfileKind.RELATIVE, transaction_id="X")
        )
        assert result.outcome.status == "Rejected"
        assert result.record.status is ProfileStatus.REJECTED
        assert result.record.status_info == "TxNotFound"
        assert sent_profiles(client)[0]["transaction_id"] == "X"
        assert client.cp.installed == {}
    finally:
        await client.close()


async def test_TC_K_03_charging_station_max_profile(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_03_CSMS: a ChargingStationMaxProfile on EVSE 0; on another EVSE it is refused
    before anything is sent."""
    client = await boot201(central_system)
    service = central_system.services.smart_charging
    try:
        with pytest.raises(InvalidRequest):
            await service.set_profile("CS-1", profile(13, ProfilePurpose.STATION_MAX, evse_id=1))
        result = await service.set_profile(
            "CS-1", profile(13, ProfilePurpose.STATION_MAX, 40000, evse_id=0)
        )
        assert result.record.status is ProfileStatus.ACCEPTED
        sent = sent_profiles(client)
        assert len(sent) == 1
        assert sent[0]["evse_id"] == 0
        assert sent[0]["charging_profile_purpose"] == "ChargingStationMaxProfile"
    finally:
        await client.close()


async def test_TC_K_04_replace_charging_profile_with_same_id(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_04_CSMS: a profile with an id the station holds replaces it; the older record is
    marked replaced."""
    client = await boot201(central_system)
    service = central_system.services.smart_charging
    try:
        first = await service.set_profile("CS-1", profile(14, ProfilePurpose.TX_DEFAULT, 11000))
        second = await service.set_profile(
            "CS-1", profile(14, ProfilePurpose.TX_DEFAULT, 7000, stack_level=1)
        )
        assert second.record.status is ProfileStatus.ACCEPTED
        records = {r.row_id: r for r in await service.profiles("CS-1")}
        assert records[first.record.row_id].status is ProfileStatus.REPLACED
        assert records[second.record.row_id].profile.periods[0].limit == 7000
        assert client.cp.installed[14]["charging_schedule"][0]["charging_schedule_period"] == [
            {"start_period": 0, "limit": 7000}
        ]
    finally:
        await client.close()


async def test_TC_K_05_clear_charging_profile_with_id(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_05_CSMS: ClearChargingProfile with chargingProfileId."""
    client = await boot201(central_system)
    service = central_system.services.smart_charging
    try:
        await service.set_profile("CS-1", profile(15, ProfilePurpose.TX_DEFAULT))
        cleared = await service.clear("CS-1", ClearCriteria(profile_id=15))
        assert cleared.outcome.status == "Accepted"
        assert client.cp.got("ClearChargingProfile") == [{"charging_profile_id": 15}]
        assert [r.status for r in cleared.cleared] == [ProfileStatus.CLEARED]
        assert client.cp.installed == {}
    finally:
        await client.close()


async def test_TC_K_06_clear_charging_profile_with_stack_level_and_purpose(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_06_CSMS: ClearChargingProfile with chargingProfileCriteria (purpose + stack
    level) removes that one profile and leaves the other."""
    client = await boot201(central_system)
    service = central_system.services.smart_charging
    try:
        await service.set_profile("CS-1", profile(16, ProfilePurpose.TX_DEFAULT, stack_level=0))
        await service.set_profile("CS-1", profile(17, ProfilePurpose.TX_DEFAULT, stack_level=1))
        cleared = await service.clear(
            "CS-1", ClearCriteria(purpose=ProfilePurpose.TX_DEFAULT, stack_level=1)
        )
        assert client.cp.got("ClearChargingProfile") == [
            {
                "charging_profile_id": None,
                "charging_profile_purpose": "TxDefaultProfile",
                "stack_level": 1,
            }
        ]
        assert [r.profile.id for r in cleared.cleared] == [17]
        assert sorted(client.cp.installed) == [16]
    finally:
        await client.close()


async def test_TC_K_08_clear_charging_profile_without_previous_profile(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_08_CSMS: the station has nothing to clear and answers Unknown."""
    client = await boot201(central_system)
    try:
        cleared = await central_system.services.smart_charging.clear(
            "CS-1", ClearCriteria(profile_id=99)
        )
        assert cleared.outcome.status == "Unknown"
        assert cleared.cleared == []
    finally:
        await client.close()


async def test_TC_K_10_set_tx_default_profile_all_evse(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_10_CSMS: a TxDefaultProfile for every EVSE is sent on EVSE 0."""
    client = await boot201(central_system)
    try:
        result = await central_system.services.smart_charging.set_profile(
            "CS-1", profile(18, ProfilePurpose.TX_DEFAULT, 22000, evse_id=0)
        )
        assert result.record.status is ProfileStatus.ACCEPTED
        assert sent_profiles(client)[0]["evse_id"] == 0
    finally:
        await client.close()


async def test_TC_K_15_set_charging_profile_not_supported(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_15_CSMS: a station without smart charging answers NotSupported; the caller gets
    the error and the record says it failed."""
    client = await boot201(central_system)
    client.cp.not_supported = True
    service = central_system.services.smart_charging
    try:
        with pytest.raises(StationCallError) as error:
            await service.set_profile("CS-1", profile(19, ProfilePurpose.TX_DEFAULT))
        assert error.value.code == "NotSupported"
        [record] = await service.profiles("CS-1")
        assert record.status is ProfileStatus.FAILED
        assert record.status_info is not None and "NotSupported" in record.status_info
    finally:
        await client.close()


async def test_TC_K_19_set_charging_profile_recurring(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_19_CSMS: a Recurring (Daily) profile carries its recurrencyKind and start."""
    client = await boot201(central_system)
    service = central_system.services.smart_charging
    try:
        with pytest.raises(InvalidRequest):  # a recurring profile without a recurrency
            await service.set_profile(
                "CS-1",
                profile(20, kind=ProfileKind.RECURRING, recurrency=None),
            )
        result = await service.set_profile(
            "CS-1",
            profile(
                20,
                ProfilePurpose.TX_DEFAULT,
                kind=ProfileKind.RECURRING,
                recurrency=Recurrency.DAILY,
                periods=[(0, 11000), (28800, 6000)],
                duration_s=86400,
            ),
        )
        assert result.record.status is ProfileStatus.ACCEPTED
        sent = sent_profiles(client)[-1]
        assert sent["charging_profile_kind"] == "Recurring"
        assert sent["recurrency_kind"] == "Daily"
        assert sent["charging_schedule"][0]["start_schedule"].startswith("2026-01-01T00:00:00")
        assert sent["charging_schedule"][0]["duration"] == 86400
    finally:
        await client.close()


# --- GetChargingProfiles / ReportChargingProfiles (K09) ---------------------------------------


async def held_profiles(running: RunningCentralSystem, client: OcppClient) -> None:
    """The station holds a station maximum (EVSE 0), and TxDefault profiles on EVSE 1 (stack 0
    and 1) and EVSE 2."""
    service = running.services.smart_charging
    await service.set_profile("CS-1", profile(30, ProfilePurpose.STATION_MAX, 50000, evse_id=0))
    await service.set_profile("CS-1", profile(31, ProfilePurpose.TX_DEFAULT, 11000, evse_id=1))
    await service.set_profile(
        "CS-1", profile(32, ProfilePurpose.TX_DEFAULT, 7000, evse_id=1, stack_level=1)
    )
    await service.set_profile("CS-1", profile(33, ProfilePurpose.TX_DEFAULT, 9000, evse_id=2))


async def report(running: RunningCentralSystem, criteria: ReportCriteria) -> tuple[OcppClient, Any]:
    client = await boot201(running)
    await held_profiles(running, client)
    result = await running.services.smart_charging.request_report("CS-1", criteria, wait_s=5)
    return client, result


def ids(result: Any) -> list[tuple[int, int]]:
    return sorted((r.profile.evse_id, r.profile.id) for r in result.profiles)


async def test_TC_K_29_get_charging_profiles_evse_0(central_system: RunningCentralSystem) -> None:
    """TC_K_29_CSMS: GetChargingProfiles for EVSE 0 reports the station-wide profile, which is
    stored as reported."""
    client, result = await report(central_system, ReportCriteria(evse_id=0))
    try:
        request = client.cp.got("GetChargingProfiles")[0]
        assert request["evse_id"] == 0 and request["request_id"] == result.request_id
        assert result.outcome.status == "Accepted" and result.complete
        assert ids(result) == [(0, 30)]
        [record] = result.profiles
        assert record.source is ProfileSource.REPORT and record.status is ProfileStatus.REPORTED
        assert record.limit_source is ChargingLimitSource.CSO
        assert record.profile.purpose is ProfilePurpose.STATION_MAX
        assert record.profile.periods[0].limit == Decimal(50000)
    finally:
        await client.close()


async def test_TC_K_30_get_charging_profiles_evse_above_0(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_30_CSMS: for EVSE 1 the station reports both of its profiles there."""
    client, result = await report(central_system, ReportCriteria(evse_id=1))
    try:
        assert result.complete and ids(result) == [(1, 31), (1, 32)]
    finally:
        await client.close()


async def test_TC_K_31_get_charging_profiles_no_evse(central_system: RunningCentralSystem) -> None:
    """TC_K_31_CSMS: without evseId every EVSE reports, in several messages (tbc) that all
    belong to the one request."""
    client, result = await report(central_system, ReportCriteria())
    try:
        assert "evse_id" not in client.cp.got("GetChargingProfiles")[0] or (
            client.cp.got("GetChargingProfiles")[0]["evse_id"] is None
        )
        assert result.complete
        assert ids(result) == [(0, 30), (1, 31), (1, 32), (2, 33)]
    finally:
        await client.close()


async def test_TC_K_32_get_charging_profiles_by_id(central_system: RunningCentralSystem) -> None:
    """TC_K_32_CSMS: chargingProfileId in the criterion."""
    client, result = await report(central_system, ReportCriteria(profile_ids=(33,)))
    try:
        assert client.cp.got("GetChargingProfiles")[0]["charging_profile_id"] == [33]
        assert ids(result) == [(2, 33)]
    finally:
        await client.close()


async def test_TC_K_33_get_charging_profiles_evse_and_stack_level(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_33_CSMS: EVSE 1 and stack level 1."""
    client, result = await report(central_system, ReportCriteria(evse_id=1, stack_level=1))
    try:
        assert client.cp.got("GetChargingProfiles")[0]["stack_level"] == 1
        assert ids(result) == [(1, 32)]
    finally:
        await client.close()


async def test_TC_K_34_get_charging_profiles_evse_and_limit_source(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_34_CSMS: EVSE 1 and chargingLimitSource CSO (what the CSMS set)."""
    client, result = await report(
        central_system,
        ReportCriteria(evse_id=1, limit_sources=(ChargingLimitSource.CSO,)),
    )
    try:
        assert client.cp.got("GetChargingProfiles")[0]["charging_limit_source"] == ["CSO"]
        assert ids(result) == [(1, 31), (1, 32)]
        assert {r.limit_source for r in result.profiles} == {ChargingLimitSource.CSO}
    finally:
        await client.close()


async def test_TC_K_35_get_charging_profiles_evse_and_purpose(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_35_CSMS: EVSE 2 and purpose TxDefaultProfile."""
    client, result = await report(
        central_system, ReportCriteria(evse_id=2, purpose=ProfilePurpose.TX_DEFAULT)
    )
    try:
        request = client.cp.got("GetChargingProfiles")[0]
        assert request["charging_profile_purpose"] == "TxDefaultProfile"
        assert ids(result) == [(2, 33)]
    finally:
        await client.close()


async def test_TC_K_36_get_charging_profiles_evse_purpose_and_stack_level(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_36_CSMS: EVSE 1, purpose TxDefaultProfile, stack level 0; a criterion nothing
    matches is answered NoProfiles and the request is complete at once."""
    client, result = await report(
        central_system,
        ReportCriteria(evse_id=1, purpose=ProfilePurpose.TX_DEFAULT, stack_level=0),
    )
    try:
        assert ids(result) == [(1, 31)]
        none = await central_system.services.smart_charging.request_report(
            "CS-1", ReportCriteria(evse_id=1, purpose=ProfilePurpose.TX, stack_level=0)
        )
        assert none.outcome.status == "NoProfiles" and none.complete and none.profiles == []
    finally:
        await client.close()


# --- remote start with a profile, composite schedules -----------------------------------------


async def test_TC_K_37_remote_start_with_charging_profile(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_37_CSMS: RequestStartTransaction carries a TxProfile for the EVSE."""
    client = await boot201(central_system)
    try:
        started = await central_system.services.smart_charging.remote_start(
            "CS-1",
            IdToken("TAG", "ISO14443"),
            evse_id=1,
            profile=profile(37, ProfilePurpose.TX, 11000, kind=ProfileKind.RELATIVE),
        )
        assert started.outcome.status == "Accepted"
        [request] = client.cp.got("RequestStartTransaction")
        assert request["evse_id"] == 1
        assert request["remote_start_id"] == started.remote_start_id
        assert request["id_token"] == {"id_token": "TAG", "type": "ISO14443"}
        carried = request["charging_profile"]
        assert carried["id"] == 37 and carried["charging_profile_purpose"] == "TxProfile"
        assert "transaction_id" not in carried
        assert started.record is not None and started.record.profile.evse_id == 1
    finally:
        await client.close()


async def test_TC_K_43_get_composite_schedule_specific_evse(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_43_CSMS: GetCompositeSchedule for EVSE 1 in A."""
    client = await boot201(central_system)
    client.cp.composite = [{"start_period": 0, "limit": 16}, {"start_period": 600, "limit": 10}]
    try:
        reply = await central_system.services.smart_charging.composite_schedule(
            "CS-1", 1, 1200, RateUnit.A
        )
        assert client.cp.got("GetCompositeSchedule") == [
            {"evse_id": 1, "duration": 1200, "charging_rate_unit": "A"}
        ]
        assert reply.accepted and reply.evse_id == 1
        assert reply.schedule is not None and reply.schedule.rate_unit is RateUnit.A
        assert reply.schedule.duration_s == 1200
        assert [(p.start_s, p.limit) for p in reply.schedule.periods] == [
            (0, Decimal(16)),
            (600, Decimal(10)),
        ]
    finally:
        await client.close()


async def test_TC_K_44_get_composite_schedule_charging_station(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_44_CSMS: GetCompositeSchedule for EVSE 0 (the whole station)."""
    client = await boot201(central_system)
    client.cp.composite = [{"start_period": 0, "limit": 50000}]
    try:
        reply = await central_system.services.smart_charging.composite_schedule("CS-1", 0, 300)
        assert client.cp.got("GetCompositeSchedule") == [{"evse_id": 0, "duration": 300}]
        assert reply.evse_id == 0 and reply.schedule is not None
        assert reply.schedule.periods[0].limit == Decimal(50000)
    finally:
        await client.close()


# --- external limits (K12, K13) ----------------------------------------------------------------


def external_schedule(schedule_id: int = 1, limit: int = 20000) -> dict[str, Any]:
    return {
        "id": schedule_id,
        "charging_rate_unit": "W",
        "charging_schedule_period": [{"start_period": 0, "limit": limit}],
    }


async def external_records(running: RunningCentralSystem) -> list[Any]:
    return await running.services.smart_charging.profiles("CS-1", source=ProfileSource.EXTERNAL)


async def test_TC_K_48_set_external_charging_limit_without_transaction(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_48_CSMS: NotifyChargingLimit from the station is answered and its schedule kept as
    an external-constraints profile; an update replaces it."""
    client = await boot201(central_system)
    try:
        await client.call(
            call201.NotifyChargingLimit(
                charging_limit={"charging_limit_source": "EMS", "is_grid_critical": True},
                evse_id=0,
                charging_schedule=[external_schedule(1, 20000)],
            )
        )
        [record] = await external_records(central_system)
        assert record.status is ProfileStatus.REPORTED
        assert record.limit_source is ChargingLimitSource.EMS
        assert record.profile.purpose is ProfilePurpose.EXTERNAL
        assert record.profile.periods[0].limit == Decimal(20000)
        assert record.status_info == "grid critical"
        await client.call(
            call201.NotifyChargingLimit(
                charging_limit={"charging_limit_source": "EMS"},
                evse_id=0,
                charging_schedule=[external_schedule(1, 15000)],
            )
        )
        records = await external_records(central_system)
        assert [(r.status, r.profile.periods[0].limit) for r in records] == [
            (ProfileStatus.REPLACED, Decimal(20000)),
            (ProfileStatus.REPORTED, Decimal(15000)),
        ]
    finally:
        await client.close()


async def test_TC_K_50_release_external_limit_without_transaction(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_50_CSMS: ClearedChargingLimit is answered and the external limit is cleared."""
    client = await boot201(central_system)
    try:
        await client.call(
            call201.NotifyChargingLimit(
                charging_limit={"charging_limit_source": "SO"},
                evse_id=1,
                charging_schedule=[external_schedule()],
            )
        )
        await client.call(call201.ClearedChargingLimit(charging_limit_source="SO", evse_id=1))
        [record] = await external_records(central_system)
        assert record.status is ProfileStatus.CLEARED
    finally:
        await client.close()


async def test_TC_K_51_release_external_limit_with_ongoing_transaction(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_51_CSMS: during a transaction the station reports the release and the changed
    charging rate (TransactionEvent Updated, ChargingRateChanged); both are answered."""
    client = await boot201(central_system)
    try:
        await start_transaction(client)
        await client.call(
            call201.NotifyChargingLimit(
                charging_limit={"charging_limit_source": "EMS"},
                evse_id=1,
                charging_schedule=[external_schedule()],
            )
        )
        await client.call(call201.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))
        reply = await client.call(
            call201.TransactionEvent(
                event_type="Updated",
                timestamp=now_iso(),
                trigger_reason="ChargingRateChanged",
                seq_no=1,
                transaction_info={"transactionId": "TX-1", "chargingState": "Charging"},
                evse={"id": 1, "connectorId": 1},
            )
        )
        assert reply.id_token_info is None
        [record] = await external_records(central_system)
        assert record.status is ProfileStatus.CLEARED
        transaction = await central_system.services.transactions.get("CS-1", "TX-1")
        assert transaction is not None and transaction.last_seq_no == 1
    finally:
        await client.close()


async def test_TC_K_52_external_constraints_in_report(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_52_CSMS: GetChargingProfiles with chargingLimitSource EMS: the station reports its
    ChargingStationExternalConstraints profile, kept with its source."""
    client = await boot201(central_system)
    client.cp.external[77] = {
        "evse_id": 0,
        "id": 77,
        "stack_level": 0,
        "charging_profile_purpose": "ChargingStationExternalConstraints",
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {
                "id": 1,
                "start_schedule": "2026-01-01T00:00:00Z",
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 30000}],
            }
        ],
    }
    try:
        result = await central_system.services.smart_charging.request_report(
            "CS-1", ReportCriteria(limit_sources=(ChargingLimitSource.EMS,))
        )
        assert result.complete
        [record] = result.profiles
        assert record.limit_source is ChargingLimitSource.EMS
        assert record.profile.purpose is ProfilePurpose.EXTERNAL
        assert record.profile.start_schedule == datetime(2026, 1, 1, tzinfo=UTC)
        assert record.profile.periods[0].limit == Decimal(30000)
    finally:
        await client.close()


# --- TxProfiles during transactions, several profiles ---------------------------------------


async def test_TC_K_60_set_tx_profile_with_ongoing_transaction(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_60_CSMS: a TxProfile for the transaction on EVSE 1 names it; it is forgotten when
    the transaction ends."""
    client = await boot201(central_system)
    service = central_system.services.smart_charging
    try:
        await start_transaction(client)
        result = await service.set_profile(
            "CS-1",
            profile(60, ProfilePurpose.TX, 8000, kind=ProfileKind.RELATIVE, transaction_id="TX-1"),
        )
        assert result.record.status is ProfileStatus.ACCEPTED
        sent = sent_profiles(client)[0]
        assert sent["transaction_id"] == "TX-1" and sent["evse_id"] == 1
        await client.call(
            call201.TransactionEvent(
                event_type="Ended",
                timestamp=now_iso(),
                trigger_reason="StopAuthorized",
                seq_no=1,
                transaction_info={"transactionId": "TX-1", "stoppedReason": "Local"},
                evse={"id": 1, "connectorId": 1},
            )
        )

        async def cleared() -> bool:
            [record] = await service.profiles("CS-1")
            return record.status is ProfileStatus.CLEARED

        await wait_for(cleared, what="TxProfile forgotten with its transaction")
    finally:
        await client.close()


async def test_TC_K_70_set_multiple_profiles(central_system: RunningCentralSystem) -> None:
    """TC_K_70_CSMS: several profiles of different purposes and stack levels side by side."""
    client = await boot201(central_system)
    service = central_system.services.smart_charging
    try:
        await start_transaction(client)
        for p in (
            profile(71, ProfilePurpose.STATION_MAX, 50000, evse_id=0),
            profile(72, ProfilePurpose.TX_DEFAULT, 22000, evse_id=0),
            profile(73, ProfilePurpose.TX_DEFAULT, 11000, evse_id=1, stack_level=1),
            profile(74, ProfilePurpose.TX, 7000, kind=ProfileKind.RELATIVE, transaction_id="TX-1"),
        ):
            result = await service.set_profile("CS-1", p)
            assert result.outcome.status == "Accepted", p
        held = await service.profiles("CS-1", statuses=[ProfileStatus.ACCEPTED])
        assert [r.profile.id for r in held] == [71, 72, 73, 74]
        assert sorted(client.cp.installed) == [71, 72, 73, 74]
        assert await service.new_profile_id("CS-1") == 75
    finally:
        await client.close()


# --- ISO 15118 charging needs and schedules (K15-K17) -------------------------------------------


def needs(evse_id: int = 1, max_power_w: int = 50_000) -> call201.NotifyEVChargingNeeds:
    return call201.NotifyEVChargingNeeds(
        evse_id=evse_id,
        charging_needs={
            "requested_energy_transfer": "DC",
            "dc_charging_parameters": {
                "ev_max_current": 125,
                "ev_max_voltage": 400,
                "ev_max_power": max_power_w,
                "energy_amount": 40_000,
            },
        },
    )


def ev_schedule(limit: int, evse_id: int = 1) -> call201.NotifyEVChargingSchedule:
    return call201.NotifyEVChargingSchedule(
        time_base=now_iso(),
        evse_id=evse_id,
        charging_schedule={
            "id": 1,
            "charging_rate_unit": "W",
            "charging_schedule_period": [
                {"start_period": 0, "limit": limit},
                {"start_period": 1800, "limit": limit // 2},
            ],
        },
    )


async def offered(
    client: OcppClient, count: int, running: RunningCentralSystem | None = None
) -> dict[str, Any]:
    """The `count`th SetChargingProfile the station got, once it arrived (and, with
    `running`, once the central system read the station's answer)."""
    await wait_for(lambda: len(sent_profiles(client)) >= count, what=f"profile #{count}")
    if running is not None:

        async def answered() -> bool:
            records = await running.services.smart_charging.profiles("CS-1")
            return bool(records) and ProfileStatus.SENT not in {r.status for r in records}

        await wait_for(answered, what="the station's answer read")
    return sent_profiles(client)[count - 1]


def limit_of(sent: dict[str, Any]) -> float:
    return float(sent["charging_schedule"][0]["charging_schedule_period"][0]["limit"])


async def test_TC_K_53_load_leveling_with_high_level_communication(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_53_CSMS: the EV's needs are accepted, the CSMS offers a TxProfile for the
    transaction (the EV's 50 kW within the EVSE's 22 kW), and the EV's schedule within it is
    accepted. Needs on an EVSE without a transaction are rejected."""
    client = await boot201(central_system)
    try:
        assert (await client.call(needs(evse_id=2))).status == "Rejected"
        await start_transaction(client)
        assert (await client.call(needs())).status == "Accepted"
        sent = await offered(client, 1, central_system)
        assert sent["charging_profile_purpose"] == "TxProfile"
        assert sent["transaction_id"] == "TX-1" and sent["evse_id"] == 1
        assert limit_of(sent) == 22_000
        assert (await client.call(ev_schedule(20_000))).status == "Accepted"
        [record] = await central_system.services.smart_charging.profiles("CS-1")
        assert record.source is ProfileSource.EV_NEGOTIATION
        assert record.status is ProfileStatus.ACCEPTED
    finally:
        await client.close()


async def test_TC_K_55_ev_charging_profile_exceeds_limits(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_55_CSMS: an EV schedule above the offered limit is rejected and the offer is sent
    again for the EV to renegotiate."""
    client = await boot201(central_system)
    try:
        await start_transaction(client)
        await client.call(needs())
        await offered(client, 1)
        assert (await client.call(ev_schedule(30_000))).status == "Rejected"
        again = await offered(client, 2)
        assert limit_of(again) == 22_000 and again["id"] == sent_profiles(client)[0]["id"]
    finally:
        await client.close()


async def test_TC_K_57_renegotiation_initiated_by_ev(central_system: RunningCentralSystem) -> None:
    """TC_K_57_CSMS: new needs from the EV during the transaction (now 11 kW) get a new
    offer that replaces the first."""
    client = await boot201(central_system)
    try:
        await start_transaction(client)
        await client.call(needs())
        await offered(client, 1)
        assert (await client.call(needs(max_power_w=11_000))).status == "Accepted"
        assert limit_of(await offered(client, 2, central_system)) == 11_000
        records = await central_system.services.smart_charging.profiles("CS-1")
        assert [r.status for r in records] == [ProfileStatus.REPLACED, ProfileStatus.ACCEPTED]
    finally:
        await client.close()


async def test_TC_K_58_renegotiation_initiated_by_csms(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_58_CSMS: the CSMS sends the transaction a new limit; the EV's new schedule within
    it is accepted, one above it rejected."""
    client = await boot201(central_system)
    service = central_system.services.smart_charging
    try:
        await start_transaction(client)
        await client.call(needs())
        await offered(client, 1)
        result = await service.offer_schedule("CS-1", 1, limit_w=Decimal(7000))
        assert result is not None and result.outcome.status == "Accepted"
        assert limit_of(await offered(client, 2)) == 7000
        assert (await client.call(ev_schedule(7000))).status == "Accepted"
        assert (await client.call(ev_schedule(9000))).status == "Rejected"
        assert await service.offer_schedule("CS-1", 2) is None  # no transaction there
    finally:
        await client.close()


async def test_TC_K_59_renegotiation_by_csms_then_ev_sends_needs(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_59_CSMS: after the CSMS's new limit the station reports the EV's needs again;
    they are accepted and answered with an offer within both (the CSMS's limit holds for the
    rest of the transaction)."""
    client = await boot201(central_system)
    service = central_system.services.smart_charging
    try:
        await start_transaction(client)
        await service.offer_schedule("CS-1", 1, limit_w=Decimal(15_000))
        assert limit_of(await offered(client, 1)) == 15_000
        assert (await client.call(needs(max_power_w=50_000))).status == "Accepted"
        assert limit_of(await offered(client, 2)) == 15_000
        assert (await client.call(needs(max_power_w=12_000))).status == "Accepted"
        assert limit_of(await offered(client, 3)) == 12_000
    finally:
        await client.close()


async def test_TC_K_58_a_late_answer_to_the_first_offer_does_not_undo_the_new_limit(
    central_system: RunningCentralSystem,
) -> None:
    """TC_K_58_CSMS under load: the station accepted the first offer, then the CSMS's new
    limit (the same TxProfile id), but the first answer is recorded last (the tasks that record
    them race for the database). The new limit stays in force: the first offer is replaced, an
    EV schedule above the new limit is rejected."""
    client = await boot201(central_system)
    service = central_system.services.smart_charging
    try:
        await start_transaction(client)
        await client.call(needs())
        await offered(client, 1)
        await wait_for(lambda: _first_recorded(service), what="the first offer recorded")
        first = (await service.profiles("CS-1"))[0]
        assert await service.offer_schedule("CS-1", 1, limit_w=Decimal(7000)) is not None
        await service._accepted(replace(first, status=ProfileStatus.SENT))  # the late answer
        records = await service.profiles("CS-1")
        assert [(r.status, first_limit_w(r.profile)) for r in records] == [
            (ProfileStatus.REPLACED, 22_000),
            (ProfileStatus.ACCEPTED, 7_000),
        ]
        assert (await client.call(ev_schedule(9000))).status == "Rejected"
        assert (await client.call(ev_schedule(7000))).status == "Accepted"
    finally:
        await client.close()


async def _first_recorded(service: Any) -> bool:
    records = await service.profiles("CS-1")
    return bool(records) and records[0].status is ProfileStatus.ACCEPTED
