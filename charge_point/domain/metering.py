"""Meter samples the station reports, version-neutral.

A sample is taken from the connector's meter and the EV (SoC) and labelled with a reading
context; the adapters turn it into 1.6 SampledValue (text values) or 2.0.1 SampledValueType
(numbers with unitOfMeasure). Energy is always the station's own register in whole Wh, which
never goes backwards, also across restarts of the station process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Measurand(StrEnum):
    ENERGY_IMPORT_REGISTER = "Energy.Active.Import.Register"
    POWER_IMPORT = "Power.Active.Import"
    CURRENT_IMPORT = "Current.Import"
    VOLTAGE = "Voltage"
    SOC = "SoC"
    POWER_OFFERED = "Power.Offered"


SUPPORTED_MEASURANDS: tuple[Measurand, ...] = tuple(Measurand)

DEFAULT_SAMPLED: tuple[Measurand, ...] = (
    Measurand.ENERGY_IMPORT_REGISTER,
    Measurand.POWER_IMPORT,
    Measurand.CURRENT_IMPORT,
    Measurand.VOLTAGE,
    Measurand.SOC,
)
"""MeterValuesSampledData / TxUpdatedMeasurands out of the box."""

DEFAULT_ENDED: tuple[Measurand, ...] = (Measurand.ENERGY_IMPORT_REGISTER, Measurand.SOC)


class ReadingContext(StrEnum):
    TRANSACTION_BEGIN = "Transaction.Begin"
    PERIODIC = "Sample.Periodic"
    TRANSACTION_END = "Transaction.End"
    TRIGGER = "Trigger"


_UNITS = {
    Measurand.ENERGY_IMPORT_REGISTER: "Wh",
    Measurand.POWER_IMPORT: "W",
    Measurand.CURRENT_IMPORT: "A",
    Measurand.VOLTAGE: "V",
    Measurand.SOC: "Percent",
    Measurand.POWER_OFFERED: "W",
}


@dataclass(frozen=True, slots=True)
class MeterSnapshot:
    """What the station knows at one moment about one connector."""

    register_wh: int
    power_w: int
    current_a: float
    voltage_v: float
    soc_pct: int | None
    offered_w: int | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    measurand: Measurand
    value: int | float
    unit: str
    context: ReadingContext
    location: str = "Outlet"


def samples(
    snapshot: MeterSnapshot, measurands: Iterable[Measurand], context: ReadingContext
) -> list[Sample]:
    """One sample per requested measurand the station can measure now (SoC only while the EV
    reports one). The energy register always comes first."""
    wanted = set(measurands)
    result: list[Sample] = []
    for measurand in SUPPORTED_MEASURANDS:
        if measurand not in wanted:
            continue
        value: int | float | None
        location = "Outlet"
        if measurand is Measurand.ENERGY_IMPORT_REGISTER:
            value = snapshot.register_wh
        elif measurand is Measurand.POWER_IMPORT:
            value = snapshot.power_w
        elif measurand is Measurand.CURRENT_IMPORT:
            value = round(snapshot.current_a, 1)
        elif measurand is Measurand.VOLTAGE:
            value = round(snapshot.voltage_v, 1)
        elif measurand is Measurand.SOC:
            value = snapshot.soc_pct
            location = "EV"
        else:
            value = snapshot.offered_w
        if value is None:
            continue
        result.append(Sample(measurand, value, _UNITS[measurand], context, location))
    return result


def parse_measurands(text: str) -> tuple[Measurand, ...]:
    """A comma-separated list (MeterValuesSampledData, TxUpdatedMeasurands); ValueError names
    the first unsupported entry."""
    result: list[Measurand] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        try:
            measurand = Measurand(name)
        except ValueError:
            raise ValueError(f"unsupported measurand {name!r}") from None
        if measurand not in result:
            result.append(measurand)
    return tuple(result)


def format_measurands(measurands: Sequence[Measurand]) -> str:
    return ",".join(m.value for m in measurands)


def continue_register(persisted_wh: int | None, hardware_start_wh: int) -> int:
    """Offset to add to the hardware register so the station's register continues from the
    last value persisted before a restart (a simulated meter starts at 0 again; a real one
    keeps counting, in which case no offset is needed)."""
    if persisted_wh is None:
        return 0
    return max(0, persisted_wh - hardware_start_wh)
