"""The connector status table: the OCPP client trusts it to produce only legal status changes."""

import pytest

from charge_point.domain.connector_state import (
    TRANSITIONS,
    ConnectorEvent,
    ConnectorStatus,
    Ocpp201ConnectorStatus,
    allowed_events,
    to_ocpp201,
    transition,
)

S = ConnectorStatus
E = ConnectorEvent


def run(start: ConnectorStatus, *events: ConnectorEvent) -> ConnectorStatus:
    status = start
    for event in events:
        result = transition(status, event)
        assert result.accepted, result.error
        status = result.status
    return status


def test_plug_in_authorize_charge_stop_unplug_is_the_normal_cycle():
    assert (
        run(
            S.AVAILABLE,
            E.PLUG_IN,
            E.AUTHORIZED,
            E.ENERGY_TRANSFER_STARTED,
            E.EV_SUSPENDED,
            E.RESUMED,
            E.EVSE_SUSPENDED,
            E.RESUMED,
            E.STOP_REQUESTED,
        )
        is S.FINISHING
    )
    assert run(S.FINISHING, E.UNPLUGGED) is S.AVAILABLE


def test_authorize_before_plug_in_also_reaches_charging():
    assert run(S.AVAILABLE, E.AUTHORIZED, E.PLUG_IN, E.ENERGY_TRANSFER_STARTED) is S.CHARGING


def test_reservation_blocks_until_used_or_ended():
    assert run(S.AVAILABLE, E.RESERVED) is S.RESERVED
    assert run(S.RESERVED, E.RESERVATION_ENDED) is S.AVAILABLE
    assert run(S.RESERVED, E.PLUG_IN) is S.PREPARING
    assert not transition(S.RESERVED, E.ENERGY_TRANSFER_STARTED).accepted


@pytest.mark.parametrize("status", list(ConnectorStatus))
def test_fault_is_accepted_in_every_status(status):
    assert transition(status, E.FAULT).status is S.FAULTED


def test_fault_cleared_returns_to_available():
    assert run(S.CHARGING, E.FAULT, E.FAULT_CLEARED) is S.AVAILABLE


def test_unavailable_only_from_idle_states():
    assert run(S.AVAILABLE, E.MADE_UNAVAILABLE, E.MADE_AVAILABLE) is S.AVAILABLE
    rejected = transition(S.CHARGING, E.MADE_UNAVAILABLE)
    assert not rejected.accepted
    assert rejected.status is S.CHARGING  # a running session is never cut by availability


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (S.AVAILABLE, E.ENERGY_TRANSFER_STARTED),
        (S.AVAILABLE, E.UNPLUGGED),
        (S.AVAILABLE, E.STOP_REQUESTED),
        (S.FINISHING, E.ENERGY_TRANSFER_STARTED),
        (S.UNAVAILABLE, E.AUTHORIZED),
        (S.FAULTED, E.AUTHORIZED),
    ],
)
def test_invalid_transitions_are_reported_not_applied(status, event):
    result = transition(status, event)
    assert not result.accepted
    assert result.status is status
    assert not result.changed
    assert event.value in (result.error or "")


def test_unplug_during_a_session_ends_it():
    for status in (S.CHARGING, S.SUSPENDED_EV, S.SUSPENDED_EVSE, S.PREPARING):
        assert transition(status, E.UNPLUGGED).status is S.AVAILABLE


def test_table_only_names_known_statuses_and_every_status_has_a_way_out():
    for (status, event), target in TRANSITIONS.items():
        assert isinstance(status, ConnectorStatus)
        assert isinstance(event, ConnectorEvent)
        assert isinstance(target, ConnectorStatus)
    for status in ConnectorStatus:
        exits = {transition(status, e).status for e in allowed_events(status)} - {status}
        assert exits, f"{status} is a dead end"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.AVAILABLE, Ocpp201ConnectorStatus.AVAILABLE),
        (S.PREPARING, Ocpp201ConnectorStatus.OCCUPIED),
        (S.CHARGING, Ocpp201ConnectorStatus.OCCUPIED),
        (S.SUSPENDED_EV, Ocpp201ConnectorStatus.OCCUPIED),
        (S.SUSPENDED_EVSE, Ocpp201ConnectorStatus.OCCUPIED),
        (S.FINISHING, Ocpp201ConnectorStatus.OCCUPIED),
        (S.RESERVED, Ocpp201ConnectorStatus.RESERVED),
        (S.UNAVAILABLE, Ocpp201ConnectorStatus.UNAVAILABLE),
        (S.FAULTED, Ocpp201ConnectorStatus.FAULTED),
    ],
)
def test_ocpp201_mapping(status, expected):
    assert to_ocpp201(status) is expected
