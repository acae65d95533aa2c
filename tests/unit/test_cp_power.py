"""Power sharing: the station must never exceed its maximum, and no watt may go unused while
another connector could take it."""

from hypothesis import given
from hypothesis import strategies as st

from charge_point.domain.power import DEFAULT_STATION_MAX_W, PowerRequest, share_power


def test_one_connector_gets_everything_up_to_its_rating():
    assert share_power([PowerRequest(1, max_power_w=50_000)]) == {1: DEFAULT_STATION_MAX_W}
    assert share_power([PowerRequest(1, max_power_w=7_400)]) == {1: 7_400}


def test_two_connectors_split_the_station_maximum_equally():
    allowed = share_power([PowerRequest(1, 22_000), PowerRequest(2, 22_000)])
    assert allowed == {1: 11_000, 2: 11_000}


def test_what_one_connector_cannot_use_goes_to_the_other():
    # The CHAdeMO car tapers at 4 kW, so CCS gets the remaining 18 kW.
    allowed = share_power([PowerRequest(1, 22_000), PowerRequest(2, 22_000, demand_w=4_000)])
    assert allowed == {1: 18_000, 2: 4_000}
    # A connector's own profile limit works the same way.
    allowed = share_power([PowerRequest(1, 22_000, limit_w=6_000), PowerRequest(2, 22_000)])
    assert allowed == {1: 6_000, 2: 16_000}


def test_station_profile_limit_lowers_the_budget_but_never_raises_it():
    requests = [PowerRequest(1, 22_000), PowerRequest(2, 22_000)]
    assert share_power(requests, profile_limit_w=10_000) == {1: 5_000, 2: 5_000}
    assert share_power(requests, profile_limit_w=100_000) == {1: 11_000, 2: 11_000}
    assert share_power(requests, profile_limit_w=0) == {1: 0, 2: 0}


def test_odd_budget_is_split_deterministically():
    allowed = share_power([PowerRequest(2, 9_000), PowerRequest(1, 9_000)], station_max_w=10_001)
    assert allowed == {2: 5_000, 1: 5_001}


requests_strategy = st.lists(
    st.builds(
        PowerRequest,
        connector_id=st.integers(1, 8),
        max_power_w=st.integers(0, 150_000),
        limit_w=st.none() | st.integers(0, 150_000),
        demand_w=st.none() | st.integers(0, 150_000),
    ),
    max_size=6,
    unique_by=lambda r: r.connector_id,
)


@given(
    requests_strategy,
    st.integers(0, 200_000),
    st.none() | st.integers(0, 200_000),
)
def test_sharing_invariants(requests, station_max_w, profile_limit_w):
    allowed = share_power(requests, station_max_w, profile_limit_w)
    budget = station_max_w if profile_limit_w is None else min(station_max_w, profile_limit_w)
    assert set(allowed) == {r.connector_id for r in requests}
    assert sum(allowed.values()) <= budget
    for request in requests:
        assert 0 <= allowed[request.connector_id] <= request.cap_w
    # Work-conserving: either the budget is used up or every connector got all it can use.
    if sum(allowed.values()) < budget:
        assert all(allowed[r.connector_id] == r.cap_w for r in requests)
