"""Payment rules: how much to pre-authorize before a session, and what to capture after it.

The card is pre-authorized for what a long session would cost under the station's tariff
(`PreauthPolicy`), never less than a card-check minimum; at the end the final price is captured,
at most the authorized amount (the rest is recorded as uncollected for the operator), and a
session that costs nothing releases the hold instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_UP, Decimal
from enum import StrEnum

from central_system.domain.tariffs import Tariff, price, quantum


class PaymentEventKind(StrEnum):
    PREAUTHORIZED = "preauthorized"
    DECLINED = "declined"
    CAPTURED = "captured"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class PreauthPolicy:
    """The session the hold is sized for, and the card-check minimum in minor units."""

    energy_wh: int = 80_000
    duration: timedelta = timedelta(hours=3)
    minimum_minor_units: int = 100  # 1.00 EUR, 100 JPY


def preauthorization_amount(tariff: Tariff, policy: PreauthPolicy = PreauthPolicy()) -> Decimal:
    """The amount to hold on the card: the policy session's price, rounded up to the minor
    unit, and at least the card-check minimum."""
    unit = quantum(tariff.currency)
    estimate = price(tariff, energy_wh=policy.energy_wh, duration=policy.duration).total
    minimum = unit * policy.minimum_minor_units
    return max(estimate.quantize(unit, rounding=ROUND_UP), minimum)


@dataclass(frozen=True, slots=True)
class Settlement:
    """What to do with the hold once the final price is known."""

    capture: Decimal
    uncollected: Decimal

    @property
    def release_only(self) -> bool:
        return self.capture == 0


def settle(authorized: Decimal, total: Decimal) -> Settlement:
    """Capture the total up to the authorized amount; the excess is uncollected."""
    total = max(total, Decimal(0))
    capture = min(total, authorized)
    return Settlement(capture=capture, uncollected=total - capture)
