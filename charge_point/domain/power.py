"""Sharing the station's power between the connectors that are charging.

Equal shares with water-filling: a connector that cannot use its share (its own rating, its
charging-profile limit or the EV's demand is lower) keeps only what it can use, and the rest is
split again among the others. Integer watts throughout so the sum never exceeds the budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_STATION_MAX_W = 22_000
"""The reference station's total output."""


@dataclass(frozen=True, slots=True)
class PowerRequest:
    """One active connector's constraints.

    `demand_w` is what the EV would take now, or None when it is not known (or the EV may want
    more than it is currently offered: a CHAdeMO car never asks above the offer), in which case
    the connector is assumed to use everything up to `max_power_w`.
    """

    connector_id: int
    max_power_w: int
    limit_w: int | None = None
    demand_w: int | None = None

    @property
    def cap_w(self) -> int:
        cap = self.max_power_w
        if self.limit_w is not None:
            cap = min(cap, self.limit_w)
        if self.demand_w is not None:
            cap = min(cap, self.demand_w)
        return max(0, cap)


def station_budget_w(station_max_w: int, profile_limit_w: int | None = None) -> int:
    """What the whole station may draw: a charging profile can only lower the hardware maximum."""
    budget = station_max_w if profile_limit_w is None else min(station_max_w, profile_limit_w)
    return max(0, budget)


def share_power(
    requests: Sequence[PowerRequest],
    station_max_w: int = DEFAULT_STATION_MAX_W,
    profile_limit_w: int | None = None,
) -> Mapping[int, int]:
    """Allowed watts per active connector; sum <= the station budget, each <= its cap.

    Idle connectors are simply not passed in. Leftover watts from integer division go to the
    lowest connector ids first so the result is deterministic.
    """
    ids = [r.connector_id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate connector ids in {ids}")
    budget = station_budget_w(station_max_w, profile_limit_w)
    allowed: dict[int, int] = {}
    remaining = sorted(requests, key=lambda r: r.connector_id)
    while remaining:
        share = budget // len(remaining)
        satisfied = [r for r in remaining if r.cap_w <= share]
        if not satisfied:
            extra = budget - share * len(remaining)
            for index, request in enumerate(remaining):
                bonus = 1 if index < extra else 0
                allowed[request.connector_id] = min(request.cap_w, share + bonus)
            break
        for request in satisfied:
            allowed[request.connector_id] = request.cap_w
            budget -= request.cap_w
        remaining = [r for r in remaining if r.cap_w > share]
    return {r.connector_id: allowed[r.connector_id] for r in requests}
