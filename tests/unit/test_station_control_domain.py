"""Pure rules of local lists, the device model and reservation use: no event loop, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central_system.domain import device_model as dm
from central_system.domain import local_lists as ll
from central_system.domain import reservations as rs
from central_system.domain.authorization import AuthorizationStatus, IdTokenRecord

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ACCEPTED = AuthorizationStatus.ACCEPTED


def entry(token: str, status: AuthorizationStatus = ACCEPTED) -> ll.LocalListEntry:
    return ll.LocalListEntry(token, status)


# --- local lists ----------------------------------------------------------------------------


def test_desired_entries_expire_accepted_tokens_keep_blocked_and_skip_long_ones() -> None:
    records = [
        IdTokenRecord("A", ACCEPTED, expires_at=NOW - timedelta(seconds=1), group_id="G"),
        IdTokenRecord("B", AuthorizationStatus.BLOCKED, expires_at=NOW - timedelta(days=1)),
        IdTokenRecord("C" * 21, ACCEPTED),
    ]
    desired = ll.desired_entries(records, NOW, max_token_length=20)
    assert {t: e.status for t, e in desired.items()} == {
        "A": AuthorizationStatus.EXPIRED,
        "B": AuthorizationStatus.BLOCKED,  # the registry status wins over the expiry
    }
    assert desired["A"].group_id == "G"
    assert set(ll.desired_entries(records, NOW)) == {"A", "B", "C" * 21}


def test_a_first_list_is_full_later_ones_differential_and_nothing_when_unchanged() -> None:
    fresh = ll.LocalListState("CP")
    [first] = ll.plan_updates(fresh, {"A": entry("A")})
    assert (first.update_type, first.version) == (ll.UpdateType.FULL, 1)
    state = ll.apply_answer(fresh, first, "Accepted")
    assert ll.plan_updates(state, {"A": entry("A")}) == []
    [update] = ll.plan_updates(
        state, {"A": entry("A", AuthorizationStatus.BLOCKED), "B": entry("B")}
    )
    assert (update.update_type, update.version) == (ll.UpdateType.DIFFERENTIAL, 2)
    assert [(c.id_token, c.removal) for c in update.changes] == [("A", False), ("B", False)]
    [removal] = ll.plan_updates(state, {})
    assert [(c.id_token, c.removal) for c in removal.changes] == [("A", True)]


def test_an_empty_full_update_is_planned_when_asked_for() -> None:
    state = ll.LocalListState("CP", version=4, entries={"A": entry("A")})
    [update] = ll.plan_updates(state, {}, full=True)
    assert (update.update_type, update.version, update.changes) == (ll.UpdateType.FULL, 5, ())
    cleared = ll.apply_answer(state, update, "Accepted")
    assert (cleared.version, dict(cleared.entries)) == (5, {})


def test_answers_failed_mismatch_and_not_supported() -> None:
    state = ll.LocalListState("CP", version=3, entries={"A": entry("A")})
    [update] = ll.plan_updates(state, {"A": entry("A"), "B": entry("B")})
    failed = ll.apply_answer(state, update, "Failed")
    assert (failed.version, set(failed.entries), failed.last_status) == (3, {"A"}, "Failed")
    assert ll.plan_updates(failed, {"A": entry("A"), "B": entry("B")})[0].update_type is (
        ll.UpdateType.DIFFERENTIAL
    )
    mismatch = ll.apply_answer(state, update, "VersionMismatch")
    assert ll.plan_updates(mismatch, {"A": entry("A")})[0].update_type is ll.UpdateType.FULL
    unsupported = ll.apply_answer(state, update, "NotSupported")
    assert not unsupported.enabled


def test_observed_versions() -> None:
    state = ll.LocalListState("CP", version=3, entries={"A": entry("A")})
    assert ll.observe_version(state, 3) == state
    lost = ll.observe_version(state, 0)
    assert (lost.version, lost.needs_full_update) == (0, True)
    assert not ll.observe_version(state, -1).enabled


@given(
    held=st.dictionaries(st.sampled_from("ABCDEFGH"), st.sampled_from(list(AuthorizationStatus))),
    wanted=st.dictionaries(st.sampled_from("ABCDEFGH"), st.sampled_from(list(AuthorizationStatus))),
    limit=st.one_of(st.none(), st.integers(1, 4)),
    full=st.booleans(),
)
def test_accepted_updates_bring_the_station_to_the_desired_list(
    held: dict[str, AuthorizationStatus],
    wanted: dict[str, AuthorizationStatus],
    limit: int | None,
    full: bool,
) -> None:
    state = ll.LocalListState("CP", version=7, entries={t: entry(t, s) for t, s in held.items()})
    desired = {t: entry(t, s) for t, s in wanted.items()}
    updates = ll.plan_updates(state, desired, full=full, max_items=limit)
    versions = [u.version for u in updates]
    assert versions == list(range(8, 8 + len(updates)))
    assert all(limit is None or len(u.changes) <= limit for u in updates)
    assert all(u.update_type is ll.UpdateType.DIFFERENTIAL for u in updates[1:])
    for update in updates:
        state = ll.apply_answer(state, update, "Accepted")
    assert dict(state.entries) == desired


# --- device model -----------------------------------------------------------------------------

HEARTBEAT = dm.VariableRef("OCPPCommCtrlr", "HeartbeatInterval")


def test_a_report_becomes_one_value_per_attribute_with_its_characteristics() -> None:
    reported = dm.ReportedVariable(
        ref=HEARTBEAT,
        attributes=(
            dm.ReportedAttribute(value="300", persistent=True),
            dm.ReportedAttribute(type="MaxSet", value="3600", mutability="ReadOnly"),
        ),
        characteristics={"dataType": "integer", "unit": "s", "supportsMonitoring": True},
    )
    actual, max_set = dm.values_from_report([reported], NOW)
    assert (actual.attribute_type, actual.value, actual.unit) == ("Actual", "300", "s")
    assert actual.characteristics["persistent"] is True
    assert (max_set.attribute_type, max_set.mutability) == ("MaxSet", "ReadOnly")


def test_values_read_and_set_and_merged() -> None:
    read = dm.values_read(
        [
            dm.VariableResult(HEARTBEAT, "Actual", "Accepted", "300"),
            dm.VariableResult(dm.VariableRef("X", "Y"), "Actual", "UnknownComponent"),
        ],
        NOW,
    )
    assert [(v.ref, v.value) for v in read] == [(HEARTBEAT, "300")]
    requests = [dm.VariableRequest(HEARTBEAT, value="60")]
    [taken] = dm.values_set(
        requests, [dm.VariableResult(HEARTBEAT, "Actual", "RebootRequired")], NOW
    )
    assert (taken.value, dict(taken.characteristics)) == ("60", {"rebootRequired": True})
    assert dm.values_set(requests, [dm.VariableResult(HEARTBEAT, "Actual", "Rejected")], NOW) == []
    reported = dm.VariableValue(HEARTBEAT, mutability="ReadWrite", characteristics={"unit": "s"})
    merged = dm.merge(dm.merge(reported, taken), read[0])
    assert (merged.value, merged.mutability, dict(merged.characteristics)) == (
        "300",
        "ReadWrite",
        {"unit": "s"},
    )


def test_items_per_message_limits_and_chunks() -> None:
    values = [
        dm.VariableValue(
            dm.VariableRef("DeviceDataCtrlr", "ItemsPerMessage", variable_instance="GetVariables"),
            value="2",
        ),
        dm.VariableValue(
            dm.VariableRef(dm.CONFIGURATION_COMPONENT, "GetConfigurationMaxKeys"), value="x"
        ),
    ]
    assert dm.items_per_message(values, "GetVariables") == 2
    assert dm.items_per_message(values, "SetVariables") is None
    assert dm.items_per_message(values, "GetConfiguration") is None  # not a number
    assert dm.chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert dm.chunks([1, 2], None) == [[1, 2]]


def test_monitors_follow_set_clear_and_reports() -> None:
    power = dm.VariableRef("EVSE", "Power", evse_id=1)
    requests = [
        dm.MonitorRequest(power, "UpperThreshold", Decimal(22000), 5),
        dm.MonitorRequest(HEARTBEAT, "Delta", Decimal(1), 8),
    ]
    results = [
        dm.MonitorResult(power, "Accepted", "UpperThreshold", 5, id=10),
        dm.MonitorResult(HEARTBEAT, "Rejected", "Delta", 8),
    ]
    monitors = dm.monitors_after_set({}, requests, results)
    assert monitors == {power: (dm.Monitor(10, "UpperThreshold", Decimal(22000), 5),)}
    assert dm.monitors_after_clear(monitors, [10]) == {}
    reported = {HEARTBEAT: (dm.Monitor(3, "Periodic", Decimal(60), 9),)}
    assert dm.monitors_after_report(monitors, reported, complete=False) == {**monitors, **reported}
    assert dm.monitors_after_report(monitors, reported, complete=True) == reported
    stored = dm.monitors_as_characteristics(monitors[power])
    assert dm.monitors_from_characteristics(stored) == monitors[power]
    with pytest.raises(dm.InvalidMonitor):
        dm.validate_monitor(dm.MonitorRequest(power, "Periodic", Decimal(0), 1))


def test_configuration_changes_are_checked_and_write_only_keys_never_kept() -> None:
    dm.validate_change("HeartbeatInterval", "300")
    dm.validate_change("VendorKey", "anything")
    for key, value in (
        ("NumberOfConnectors", "3"),
        ("HeartbeatInterval", "-1"),
        ("HeartbeatInterval", "soon"),
        ("LocalAuthListEnabled", "yes"),
    ):
        with pytest.raises(dm.InvalidConfigurationValue):
            dm.validate_change(key, value)
    values = dm.configuration_values(
        [
            dm.ConfigurationKey("AuthorizationKey", "secret", False),
            dm.ConfigurationKey("X", "1", True),
        ],
        NOW,
    )
    assert [(v.ref.variable, v.value, v.mutability) for v in values] == [
        ("AuthorizationKey", None, "WriteOnly"),
        ("X", "1", "ReadOnly"),
    ]
    assert dm.changed_value("AuthorizationKey", "new", "Accepted", NOW) is None
    assert dm.changed_value("HeartbeatInterval", "60", "Rejected", NOW) is None
    changed = dm.changed_value("HeartbeatInterval", "60", "Accepted", NOW)
    assert changed is not None and changed.value == "60"


# --- reservations ---------------------------------------------------------------------------


def test_a_reservation_is_used_by_its_token_or_its_group_only() -> None:
    reservation = rs.Reservation(
        id=1,
        station_id="CP",
        evse_id=1,
        user_id="u",
        id_token="T",
        status=rs.ReservationStatus.ACCEPTED,
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=5),
    )

    def use(presented: str | None, group: str | None, **changes: object) -> rs.ReservationUse:
        return rs.use(
            replace(reservation, **changes),  # type: ignore[arg-type]
            station_id="CP",
            presented=presented,
            presented_group=group,
            reserved_group="G",
            now=NOW,
        )

    assert use("T", None) is rs.ReservationUse.USED
    assert use("U", "G") is rs.ReservationUse.USED
    assert use("U", "H") is rs.ReservationUse.WRONG_TOKEN
    assert use("T", None, status=rs.ReservationStatus.USED) is rs.ReservationUse.NOT_ACTIVE
    assert use("T", None, station_id="OTHER") is rs.ReservationUse.NOT_ACTIVE
    assert use("T", None, expires_at=NOW) is rs.ReservationUse.NOT_ACTIVE
    ended = rs.ended_by_station(reservation, "Removed", NOW)
    assert ended is not None and ended.status is rs.ReservationStatus.CANCELLED
    assert rs.ended_by_station(reservation, "Nonsense", NOW) is None
    assert (
        rs.ended_by_station(replace(reservation, status=rs.ReservationStatus.USED), "Expired", NOW)
        is None
    )
