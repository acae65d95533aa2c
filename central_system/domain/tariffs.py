"""Tariffs and prices: Decimal money, energy in whole Wh, durations as timedelta.

A tariff has a price per kWh, a price per minute (pro rata to the second) and a fixed session
fee, in one currency. Each part of a price is rounded ROUND_HALF_UP to the currency's minor unit
(cents for EUR, none for JPY) and the total is the sum of the rounded parts, so that a receipt's
lines always add up to its total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol, TypeVar

WH_PER_KWH = Decimal(1000)
SECONDS_PER_MINUTE = Decimal(60)

# ISO 4217 exponents that are not 2; every other currency has two decimal places.
_MINOR_UNIT_EXPONENTS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip

MAX_PRICE = Decimal("1000")  # per kWh, per minute or per session: a sanity limit for input


class InvalidTariff(ValueError):
    """A tariff that cannot be used to price a session."""


def minor_unit_exponent(currency: str) -> int:
    return _MINOR_UNIT_EXPONENTS.get(currency.upper(), 2)


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency: Decimal('0.01') for EUR, Decimal('1') for JPY."""
    return Decimal(1).scaleb(-minor_unit_exponent(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def validate_currency(currency: str) -> str:
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise InvalidTariff(f"currency {currency!r} is not an ISO 4217 code")
    return currency.upper()


@dataclass(frozen=True, slots=True)
class Tariff:
    currency: str
    per_kwh: Decimal = Decimal(0)
    per_minute: Decimal = Decimal(0)
    session_fee: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        validate_currency(self.currency)
        for name in ("per_kwh", "per_minute", "session_fee"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise InvalidTariff(f"{name} must be a finite Decimal")
            if value < 0 or value > MAX_PRICE:
                raise InvalidTariff(f"{name} must be between 0 and {MAX_PRICE}")


@dataclass(frozen=True, slots=True)
class PriceBreakdown:
    """What a session costs: energy, time and fee lines, each rounded, and their sum."""

    currency: str
    energy_wh: int
    duration: timedelta
    energy_cost: Decimal
    time_cost: Decimal
    session_fee: Decimal
    total: Decimal


def price(tariff: Tariff, *, energy_wh: int, duration: timedelta) -> PriceBreakdown:
    """The price of `energy_wh` delivered over `duration` (negative inputs count as zero)."""
    energy = max(energy_wh, 0)
    seconds = max(Decimal(int(duration.total_seconds() * 1_000_000)) / 1_000_000, Decimal(0))
    currency = tariff.currency.upper()
    energy_cost = round_money(Decimal(energy) / WH_PER_KWH * tariff.per_kwh, currency)
    time_cost = round_money(seconds / SECONDS_PER_MINUTE * tariff.per_minute, currency)
    fee = round_money(tariff.session_fee, currency)
    return PriceBreakdown(
        currency=currency,
        energy_wh=energy,
        duration=max(duration, timedelta(0)),
        energy_cost=energy_cost,
        time_cost=time_cost,
        session_fee=fee,
        total=energy_cost + time_cost + fee,
    )


class DatedTariff(Protocol):
    """A station's tariff as stored: valid from a time; a later id was added later."""

    @property
    def id(self) -> int: ...
    @property
    def valid_from(self) -> datetime: ...


D = TypeVar("D", bound=DatedTariff)


def in_force(tariffs: Iterable[D], at: datetime) -> D | None:
    """The tariff of a station in force at `at`: the latest valid from then or before, the
    newest of those added for the same time (None before the first)."""
    return max(
        (t for t in tariffs if t.valid_from <= at),
        key=lambda t: (t.valid_from, t.id),
        default=None,
    )
