"""Load management over real websockets: three stations (1.6 and 2.0.1 `ocpp` clients) behind
one site limit get their shares as station maximum profiles whenever sessions start and stop;
at every moment a station accepts a profile, the limits in force add up to no more than the
site's budget (lowerings are accepted before raisings are sent), also when a station is offline
or refuses a lowering; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from central_system.domain.load_management import SharePolicy
from central_system.services.ports import SiteRecord
from tests.conftest import RunningCentralSystem, running_central_system, test_settings
from tests.helpers import OcppClient, wait_for
from tests.smart_charging_helpers import boot16, boot201

STATION_MAX = 22_000.0


@pytest.fixture
async def system(database_url: str) -> AsyncIterator[RunningCentralSystem]:
    settings = test_settings(database_url, load_management_interval=0.5)
    async with running_central_system(settings) as running:
        yield running


class Site:
    """Three stations behind one budget; records the sum of the limits in force each time a
    station accepts a profile."""

    def __init__(self, running: RunningCentralSystem, budget: float) -> None:
        self.running = running
        self.budget = budget
        self.stations: dict[str, OcppClient] = {}
        self.totals: list[float] = []
        self.tx16: dict[tuple[str, int], int] = {}
        self.seq: dict[str, int] = {}

    async def boot(self) -> None:
        self.stations = {
            "CP-A": await boot16(self.running, "CP-A"),
            "CP-B": await boot16(self.running, "CP-B"),
            "CS-C": await boot201(self.running, "CS-C"),
        }

    def limit(self, station_id: str) -> float:
        held = self.stations[station_id].cp.station_limit()
        return STATION_MAX if held is None else min(held, STATION_MAX)

    def limits(self) -> dict[str, float]:
        return {sid: self.limit(sid) for sid in self.stations}

    def check(self) -> None:
        self.totals.append(sum(self.limits().values()))

    def watch(self) -> None:
        for client in self.stations.values():
            client.cp.on_change = self.check

    async def create(self, policy: SharePolicy = SharePolicy.EQUAL, **priorities: int) -> None:
        service = self.running.services.load_management
        await service.create_site(SiteRecord("SITE", int(self.budget), policy, "Depot"))
        for station_id in self.stations:
            await service.set_member(
                "SITE",
                station_id,
                priority=priorities.get(station_id.replace("-", "_"), 0),
                max_power_w=int(STATION_MAX),
            )

    async def settle(self, expected: dict[str, float], what: str) -> None:
        await wait_for(lambda: self.limits() == expected, timeout=10, what=what)

    async def start(self, station_id: str, evse: int) -> None:
        client = self.stations[station_id]
        now = datetime.now(UTC).isoformat()
        if station_id.startswith("CP"):
            reply = await client.call(
                call16.StartTransaction(
                    connector_id=evse, id_tag=f"T{evse}", meter_start=0, timestamp=now
                )
            )
            self.tx16[(station_id, evse)] = reply.transaction_id
            return
        self.seq[station_id] = self.seq.get(station_id, -1) + 1
        await client.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp=now,
                trigger_reason="CablePluggedIn",
                seq_no=self.seq[station_id],
                transaction_info={"transactionId": f"TX-{evse}"},
                evse={"id": evse, "connectorId": 1},
            )
        )
        client.cp.transactions[evse] = f"TX-{evse}"

    async def stop(self, station_id: str, evse: int) -> None:
        client = self.stations[station_id]
        now = datetime.now(UTC).isoformat()
        if station_id.startswith("CP"):
            await client.call(
                call16.StopTransaction(
                    transaction_id=self.tx16.pop((station_id, evse)), meter_stop=10, timestamp=now
                )
            )
            return
        self.seq[station_id] += 1
        await client.call(
            call201.TransactionEvent(
                event_type="Ended",
                timestamp=now,
                trigger_reason="EVCommunicationLost",
                seq_no=self.seq[station_id],
                transaction_info={"transactionId": f"TX-{evse}", "stoppedReason": "EVDisconnected"},
                evse={"id": evse, "connectorId": 1},
            )
        )
        client.cp.transactions.pop(evse, None)

    async def close(self) -> None:
        for client in self.stations.values():
            await client.close()


@pytest.fixture
async def site(system: RunningCentralSystem) -> AsyncIterator[Site]:
    site = Site(system, 60_000.0)
    await site.boot()
    try:
        yield site
    finally:
        await site.close()


def kw(a: float, b: float, c: float) -> dict[str, float]:
    return {"CP-A": a * 1000, "CP-B": b * 1000, "CS-C": c * 1000}


async def test_equal_shares_follow_sessions_and_never_exceed_the_site_limit(site: Site) -> None:
    """Idle stations share the budget as standby; each session start or stop moves the shares
    (a station's two connectors share its limit, at most its 22 kW), and whenever a station
    accepted a new limit the limits in force added up to at most 60 kW."""
    await site.create()
    await site.settle(kw(20, 20, 20), "idle: standby shares")
    site.watch()
    steps: list[tuple[str, str, int, dict[str, float]]] = [
        ("start", "CP-A", 1, kw(22, 19, 19)),
        ("start", "CP-B", 1, kw(22, 22, 16)),
        ("start", "CS-C", 1, kw(20, 20, 20)),
        ("start", "CP-A", 2, kw(22, 19, 19)),
        ("stop", "CP-B", 1, kw(22, 16, 22)),
        ("start", "CS-C", 2, kw(22, 16, 22)),
        ("stop", "CP-A", 1, kw(22, 16, 22)),
        ("stop", "CP-A", 2, kw(19, 19, 22)),
        ("stop", "CS-C", 1, kw(19, 19, 22)),
        ("stop", "CS-C", 2, kw(20, 20, 20)),
    ]
    for action, station_id, evse, expected in steps:
        await getattr(site, action)(station_id, evse)
        await site.settle(expected, f"{action} {station_id}/{evse}")
    assert site.totals, "limits changed"
    assert max(site.totals) <= site.budget
    report = await site.running.services.load_management.rebalance("SITE")
    assert report.changes == []  # nothing left to change
    view = await site.running.services.load_management.view("SITE")
    assert view.in_force_total_w == 60_000


async def test_priority_policy_serves_higher_priorities_first(site: Site) -> None:
    """With the priority policy a 30 kW site gives the first station its maximum, the second
    the rest, and the third nothing while all three charge."""
    site.budget = 30_000.0
    await site.create(SharePolicy.PRIORITY, CP_A=2, CP_B=1, CS_C=0)
    await site.settle(kw(10, 10, 10), "idle")
    site.watch()
    for station_id in ("CS-C", "CP-B", "CP-A"):
        await site.start(station_id, 1)
    await site.settle(kw(22, 8, 0), "all charging")
    await site.stop("CP-A", 1)
    await site.settle(kw(0, 22, 8), "A stopped")  # A idle: no standby left
    assert max(site.totals) <= site.budget


async def test_an_offline_station_keeps_its_limit_and_its_share_stays_reserved(
    site: Site,
) -> None:
    """A station that drops out keeps the limit it accepted and the others are not given that
    power; when it is back and boots, its limit is sent again."""
    await site.create()
    await site.settle(kw(20, 20, 20), "idle")
    await site.start("CP-B", 1)
    await site.settle(kw(19, 22, 19), "B charging")
    b = site.stations["CP-B"]
    held = b.cp.station_limit()
    await b.close()
    load = site.running.services.load_management
    await wait_for(lambda: not site.running.system.registry.is_connected("CP-B"))
    site.stations.pop("CP-B")
    site.watch()
    for station_id, evse in (("CP-A", 1), ("CS-C", 1), ("CS-C", 2)):
        await site.start(station_id, evse)
    # 38 kW for three sessions: 12.67 kW each, C at most 22 kW, A the rest
    await wait_for(
        lambda: (site.limit("CP-A"), site.limit("CS-C")) == (16_000, 22_000),
        what="A and C share what B leaves",
    )
    assert max(site.totals) + held <= site.budget
    view = await load.view("SITE")
    offline = next(m for m in view.members if m.member.station_id == "CP-B")
    assert not offline.online and offline.in_force_w == 22_000 and offline.active_sessions == 1
    back = await boot16(site.running, "CP-B")
    site.stations["CP-B"] = back
    await wait_for(lambda: back.cp.station_limit() is not None, what="limit sent after boot")
    await site.settle(kw(19, 19, 22), "four sessions, B back")


async def test_a_refused_lowering_holds_back_the_raise(site: Site) -> None:
    """When a station refuses to lower its limit, the station that was to get that power is
    raised only as far as the budget allows."""
    await site.create()
    await site.settle(kw(20, 20, 20), "idle")
    site.watch()
    site.stations["CS-C"].cp.set_answer = "Rejected"
    await site.start("CP-A", 1)
    await site.settle(kw(21, 19, 20), "A raised by what B gave up only")
    assert max(site.totals) <= site.budget
    site.stations["CS-C"].cp.set_answer = None
    await site.settle(kw(22, 19, 19), "the periodic run completes the change")
    assert max(site.totals) <= site.budget


async def test_site_members_cannot_get_an_operator_station_maximum(site: Site) -> None:
    """The station maximum of a site member is the site's: an operator's is refused, and so is
    a clear that would remove the site's limit."""
    from central_system.domain.smart_charging import ClearCriteria
    from central_system.services.errors import Conflict
    from schemas.charging_profiles import ProfilePurpose
    from tests.smart_charging_helpers import profile

    await site.create()
    await site.settle(kw(20, 20, 20), "idle")
    service = site.running.services.smart_charging
    with pytest.raises(Conflict):
        await service.set_profile("CP-A", profile(1, ProfilePurpose.STATION_MAX, evse_id=0))
    with pytest.raises(Conflict):
        await service.clear("CP-A", ClearCriteria(purpose=ProfilePurpose.STATION_MAX))
    result = await service.set_profile("CP-A", profile(2, ProfilePurpose.TX_DEFAULT))
    assert result.outcome.status == "Accepted"  # other purposes are the operator's
    await site.running.services.load_management.remove_member("SITE", "CP-A")
    await wait_for(lambda: site.stations["CP-A"].cp.station_limit() is None, what="cleared")
    await site.settle({**kw(0, 22, 22), "CP-A": STATION_MAX}, "two members left")
