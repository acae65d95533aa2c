"""Load management: share a site's power budget (a grid connection limit) between the charging
sessions behind it, with equal-share or priority policies (issue: smart charging, K01 from the
CSMS side).

The allocation is recomputed whenever a session starts or ends; the caller sends each station
the new limits, lowering limits before raising any, so that the sum stays within the budget
while profiles are being replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum


class SharePolicy(StrEnum):
    EQUAL = "equal"
    PRIORITY = "priority"


@dataclass(frozen=True, slots=True)
class Demand:
    """A session (or a connector that may start one) behind the site limit."""

    key: str  # e.g. "CP-1/1"
    max_w: Decimal  # what the connector (and the EV, if known) can take
    priority: int = 0  # higher first under the PRIORITY policy
    min_w: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Allocation:
    limits: dict[str, Decimal]

    @property
    def total_w(self) -> Decimal:
        return sum(self.limits.values(), Decimal(0))


_WATT = Decimal(1)


def _equal_share(budget: Decimal, demands: Sequence[Demand]) -> dict[str, Decimal]:
    """Water-filling: everyone gets an equal share; what a session cannot use goes to others."""
    limits = {d.key: Decimal(0) for d in demands}
    open_demands = list(demands)
    remaining = budget
    while open_demands and remaining > 0:
        share = (remaining / len(open_demands)).quantize(_WATT, rounding=ROUND_DOWN)
        if share <= 0:
            break
        satisfied = [d for d in open_demands if d.max_w - limits[d.key] <= share]
        if not satisfied:
            for d in open_demands:
                limits[d.key] += share
            remaining -= share * len(open_demands)
            break
        for d in satisfied:
            remaining -= d.max_w - limits[d.key]
            limits[d.key] = d.max_w
        open_demands = [d for d in open_demands if d not in satisfied]
    return limits


def allocate(
    budget_w: Decimal, demands: Sequence[Demand], policy: SharePolicy = SharePolicy.EQUAL
) -> Allocation:
    """Limits per session whose sum never exceeds `budget_w`.

    A session below its minimum cannot charge at all (an EV's minimum charging rate), so
    minimums are granted first, in priority order, to the sessions whose minimum still fits;
    the others get 0 and no share. The rest is shared by the policy: EQUAL water-fills, PRIORITY
    serves higher priorities fully before lower ones (equal share among equal priorities).
    """
    if budget_w < 0:
        raise ValueError("a budget cannot be negative")
    limits = {d.key: Decimal(0) for d in demands}
    admitted: list[Demand] = []
    remaining = budget_w
    for d in sorted(demands, key=lambda d: -d.priority):
        floor = min(d.min_w, d.max_w)
        if floor <= remaining:
            limits[d.key] = floor
            remaining -= floor
            admitted.append(d)
    rest = [
        Demand(d.key, d.max_w - limits[d.key], d.priority)
        for d in admitted
        if d.max_w > limits[d.key]
    ]
    if policy is SharePolicy.EQUAL:
        extra = _equal_share(remaining, rest)
    else:
        extra = {}
        for level in sorted({d.priority for d in rest}, reverse=True):
            group = [d for d in rest if d.priority == level]
            shares = _equal_share(remaining, group)
            extra.update(shares)
            remaining -= sum(shares.values(), Decimal(0))
    for key, value in extra.items():
        limits[key] += value
    return Allocation(limits)


def rollout_order(
    current: dict[str, Decimal], target: dict[str, Decimal]
) -> list[tuple[str, Decimal]]:
    """The changes to send, decreases first, so that at no moment the sum of the limits in
    force exceeds max(sum(current), sum(target))."""
    changes = [(key, value) for key, value in target.items() if current.get(key) != value]
    return sorted(changes, key=lambda change: change[1] - current.get(change[0], Decimal(0)))
