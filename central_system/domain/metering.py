"""Meter values: one normalised form for the 1.6 and 2.0.1 sampled values (J01, J02).

Units are normalised to the base unit (kWh -> Wh, kW -> W, kvarh -> varh, ...), the 2.0.1
multiplier is applied, and absent phase/location/context are stored as "" so that a replayed
reading is recognised as the same one. Energy registers are integers in Wh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from typing import NamedTuple

ENERGY_IMPORT_REGISTER = "Energy.Active.Import.Register"
POWER_IMPORT = "Power.Active.Import"
CURRENT_IMPORT = "Current.Import"
VOLTAGE = "Voltage"
SOC = "SoC"

CONTEXT_TRANSACTION_BEGIN = "Transaction.Begin"
CONTEXT_TRANSACTION_END = "Transaction.End"
CONTEXT_PERIODIC = "Sample.Periodic"
LOCATION_OUTLET = "Outlet"
FORMAT_SIGNED = "SignedData"

# Scaled unit -> (base unit, factor).
_KILO = Decimal(1000)
_SCALED_UNITS: dict[str, tuple[str, Decimal]] = {
    "kWh": ("Wh", _KILO),
    "MWh": ("Wh", _KILO * _KILO),
    "kW": ("W", _KILO),
    "MW": ("W", _KILO * _KILO),
    "kvarh": ("varh", _KILO),
    "kvar": ("var", _KILO),
    "kVAh": ("VAh", _KILO),
    "kVA": ("VA", _KILO),
    "kV": ("V", _KILO),
    "mA": ("A", Decimal("0.001")),
}


_ONE = Decimal(1)
_BY_TIMESTAMP = attrgetter("timestamp")


def _base_unit(unit: str) -> tuple[str, Decimal]:
    return _SCALED_UNITS.get(unit) or (unit, _ONE)


def default_unit(measurand: str) -> str | None:
    """The unit a sample has when the station does not send one."""
    if measurand.startswith("Energy.Reactive"):
        return "varh"
    if measurand.startswith("Energy"):
        return "Wh"
    if measurand.startswith("Power.Reactive"):
        return "var"
    if measurand.startswith(("Power.Offered", "Power.Active")):
        return "W"
    if measurand.startswith("Current"):
        return "A"
    if measurand == VOLTAGE:
        return "V"
    if measurand == SOC:
        return "Percent"
    if measurand == "Temperature":
        return "Celsius"
    return None


class InvalidSample(ValueError):
    """A sampled value that cannot be read as a number."""


class MeterSample(NamedTuple):
    """A normalised sample (`sampled_value`). `value` is None only for 1.6 SignedData samples.

    Sampled values are the most numerous objects of the hot path (nine per MeterValues in the
    bench): a NamedTuple is built in a quarter of a frozen dataclass's time."""

    timestamp: datetime
    measurand: str
    value: Decimal | None
    unit: str
    phase: str = ""
    location: str = ""
    context: str = ""
    signed_data: str | None = None

    @property
    def is_total_energy_register(self) -> bool:
        return (
            self.measurand == ENERGY_IMPORT_REGISTER
            and self.phase == ""
            and self.location in ("", LOCATION_OUTLET)
            and self.value is not None
        )


def _to_decimal(value: str | int | float | Decimal) -> Decimal:
    try:
        # Decimal itself ignores surrounding whitespace; str() first so that a 2.0.1 float
        # is the number its JSON had, not its binary expansion.
        number = Decimal(value if type(value) is str else str(value))
    except InvalidOperation as error:
        raise InvalidSample(f"sampled value {value!r} is not a number") from error
    if not number.is_finite():
        raise InvalidSample(f"sampled value {value!r} is not a finite number")
    return number


def sampled_value(
    timestamp: datetime,
    value: str | int | float | Decimal,
    measurand: str | None = None,
    unit: str | None = None,
    multiplier: int = 0,
    phase: str | None = None,
    location: str | None = None,
    context: str | None = None,
    format: str | None = None,
    signed_data: str | None = None,
) -> MeterSample:
    """Normalise one sampled value as a station sent it (the 1.6 value is text, 2.0.1 a number
    with a multiplier); raises InvalidSample for a value that is not a number. The
    transports call it positionally, straight from the message: nine per MeterValues."""
    measurand = measurand or ENERGY_IMPORT_REGISTER
    base_unit, factor = _base_unit(unit or default_unit(measurand) or "")
    number: Decimal | None
    if format == FORMAT_SIGNED:
        # 1.6: the value itself is the signed meter data blob; there is no number to read.
        number, signed_data = None, str(value)
    else:
        number = _to_decimal(value)
        if multiplier:
            number = number.scaleb(multiplier)
        if factor is not _ONE:
            number *= factor
    # The tuple directly: MeterSample(...) goes through a Python-level __new__ (twice the cost).
    return _new_tuple(
        MeterSample,
        (
            timestamp,
            measurand,
            number,
            base_unit,
            phase or "",
            location or "",
            context or "",
            signed_data,
        ),
    )


_new_tuple = tuple.__new__


def merge_signed(samples: list[MeterSample]) -> list[MeterSample]:
    """The sampled values of one message, a 1.6 SignedData sample that repeats a plain sample
    of the same reading (time, measurand, phase, location, context) kept on that sample as its
    signed data: stored apart, the reading would carry the same value twice, once without its
    number."""
    if all(sample.value is not None for sample in samples):
        return samples  # no signed data to merge (every message but a few 1.6 ones)
    plain = {_identity(s): i for i, s in enumerate(samples) if s.value is not None}
    merged: list[MeterSample | None] = list(samples)
    for index, sample in enumerate(samples):
        target = plain.get(_identity(sample))
        if sample.value is None and target is not None:
            merged[target] = samples[target]._replace(signed_data=sample.signed_data)
            merged[index] = None
    return [sample for sample in merged if sample is not None]


def _identity(sample: MeterSample) -> tuple[object, ...]:
    return (sample.timestamp, sample.measurand, sample.phase, sample.location, sample.context)


def wh(value: Decimal) -> int:
    """An energy quantity in whole Wh (half-even rounding, as meters round)."""
    return int(value.quantize(Decimal(1)))


@dataclass(frozen=True, slots=True)
class EnergyReadings:
    """The total import register readings of a message: first/last, and the transaction
    begin/end readings where the station labelled them."""

    first_wh: int | None = None
    last_wh: int | None = None
    begin_wh: int | None = None
    end_wh: int | None = None


def energy_readings(samples: Iterable[MeterSample]) -> EnergyReadings:
    registers = sorted(
        (
            s
            for s in samples
            if s.measurand == ENERGY_IMPORT_REGISTER and s.is_total_energy_register
        ),
        key=_BY_TIMESTAMP,
    )
    if not registers:
        return EnergyReadings()
    readings = [(s.context, wh(s.value)) for s in registers if s.value is not None]
    begin = [value for context, value in readings if context == CONTEXT_TRANSACTION_BEGIN]
    end = [value for context, value in readings if context == CONTEXT_TRANSACTION_END]
    return EnergyReadings(
        first_wh=readings[0][1],
        last_wh=readings[-1][1],
        begin_wh=begin[0] if begin else None,
        end_wh=end[-1] if end else None,
    )


@dataclass(frozen=True, slots=True)
class LiveValues:
    """The latest values of a session the app shows (SoC, power, energy register), and the SoC
    it started at: the earliest SoC sample of the transaction, which a receipt and the battery
    capacity estimate need (kept here so that nothing reads the readings back for it)."""

    soc_percent: Decimal | None = None
    power_w: Decimal | None = None
    energy_register_wh: int | None = None
    sampled_at: datetime | None = None
    start_soc_percent: Decimal | None = None
    start_soc_at: datetime | None = None


def latest_live_values(previous: LiveValues, samples: Iterable[MeterSample]) -> LiveValues:
    """Fold new samples into the live values; older samples never overwrite newer ones, and
    an SoC older than the start SoC becomes the start SoC (a station's offline queue may
    arrive late)."""
    soc, power, energy, at = (
        previous.soc_percent,
        previous.power_w,
        previous.energy_register_wh,
        previous.sampled_at,
    )
    start_soc, start_at = previous.start_soc_percent, previous.start_soc_at
    for sample in sorted(samples, key=_BY_TIMESTAMP):
        measurand = sample.measurand
        if measurand not in _LIVE_MEASURANDS or sample.value is None:
            continue
        if (
            measurand == SOC
            and sample.phase == ""
            and (start_at is None or sample.timestamp < start_at)
        ):
            start_soc, start_at = sample.value, sample.timestamp
        if at is not None and sample.timestamp < at:
            continue
        if measurand == SOC:
            if sample.phase != "":
                continue
            soc = sample.value
        elif measurand == POWER_IMPORT:
            if sample.phase != "":
                continue
            power = sample.value
        elif sample.is_total_energy_register:
            energy = wh(sample.value)
        else:
            continue
        at = sample.timestamp
    return LiveValues(soc, power, energy, at, start_soc, start_at)


_LIVE_MEASURANDS = frozenset({SOC, POWER_IMPORT, ENERGY_IMPORT_REGISTER})
