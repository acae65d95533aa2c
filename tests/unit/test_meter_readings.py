"""How stored meter values recognise a replay: a message's samples grouped into readings (one
per timestamp), each with a digest of which values it carries (migration 0005 computed the same
digest for the samples stored before it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from central_system.domain.metering import MeterSample
from central_system.persistence.columns import (
    Reading,
    ShapeCollision,
    check_stored_shapes,
    identity_of,
    reading_identity,
    readings,
    shape_key,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sample(at: datetime, measurand: str, phase: str = "", context: str = "") -> MeterSample:
    return MeterSample(at, measurand, Decimal(1), "Wh", phase=phase, context=context)


def test_samples_are_grouped_by_timestamp_in_order_of_arrival() -> None:
    later = T0 + timedelta(minutes=1)
    energy, power, energy_later = (
        sample(T0, "Energy.Active.Import.Register"),
        sample(T0, "Power.Active.Import"),
        sample(later, "Energy.Active.Import.Register"),
    )
    grouped = readings([energy, energy_later, power])
    assert [(r.timestamp, r.samples) for r in grouped] == [
        (T0, [energy, power]),
        (later, [energy_later]),
    ]
    assert grouped[0].shape.identity == reading_identity([power, energy])


def test_the_identity_ignores_order_and_values_but_not_which_values() -> None:
    one = [sample(T0, "Voltage", "L1-N"), sample(T0, "Voltage", "L2-N")]
    assert reading_identity(one) == reading_identity(list(reversed(one)))
    assert reading_identity(one) != reading_identity(one[:1])
    assert reading_identity(one) != reading_identity(
        [sample(T0, "Voltage", "L1-N", "Transaction.End"), one[1]]
    )
    # the fields cannot run into each other
    assert identity_of([("a", "b", "", "")]) != identity_of([("a", "", "b", "")])


def test_the_identity_is_stable_across_processes_and_releases() -> None:
    """It is stored: a replay after a restart or an upgrade must find the same digest, so it
    may depend neither on the interpreter's string hashing nor change between releases."""
    key = "[('SoC', '', 'EV', '')]"
    program = (
        f"from central_system.persistence.columns import identity_of; print(identity_of({key}))"
    )
    printed = {
        subprocess.run(
            [sys.executable, "-c", program],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert printed == {str(identity_of([("SoC", "", "EV", "")]))}
    assert identity_of([("SoC", "", "EV", "")]) == 3717459676802634181


def unpacked(reading: Reading) -> list[MeterSample]:
    """A stored reading's samples back, as the view meter_sample reads them (numbers exact)."""
    numbers = json.loads(reading.sample_values, parse_float=Decimal, parse_int=Decimal)
    signed = json.loads(reading.signed_data) if reading.signed_data else [None] * len(numbers)
    return [
        MeterSample(
            reading.timestamp,
            names["measurand"],
            number,
            names["unit"],
            names["phase"],
            names["location"],
            names["context"],
            signed_data,
        )
        for names, number, signed_data in zip(
            json.loads(reading.shape.samples), numbers, signed, strict=True
        )
    ]


def test_a_reading_is_its_shape_and_its_numbers() -> None:
    """A reading stores its shape's key and its numbers in the shape's order: together they
    give back every sample exactly (a number as it was sent, signed data, a value without a
    number, quotes and percent signs in the names), from the shape cache as without it."""
    later = T0 + timedelta(seconds=1)
    plain = [
        MeterSample(T0, "Energy.Active.Import.Register", Decimal("1078"), "Wh"),
        MeterSample(T0, "Current.Import", Decimal("15.50"), "A", "L1", "Outlet", "Sample.Clock"),
        MeterSample(T0, 'Odd "100%" %s', Decimal("-0.001"), "%d", '"', "%%", "\\"),
        MeterSample(T0, "SoC", Decimal("1E+2"), "Percent", location="EV"),
    ]
    signed = [
        MeterSample(later, "Energy.Active.Import.Register", Decimal(5), "Wh", signed_data="sig"),
        MeterSample(later, "Power.Active.Import", None, "W", signed_data="blob"),
    ]
    for _ in range(2):  # the second time from the cache
        grouped = readings(plain + signed)
        assert [unpacked(r) for r in grouped] == [plain, signed]
        assert [str(v.value) for v in unpacked(grouped[0])] == ["1078", "15.50", "-0.001", "1E+2"]
        assert grouped[0].signed_data is None
        assert [r.shape.identity for r in grouped] == [
            reading_identity(plain),
            reading_identity(signed),
        ]
    # the same values with other numbers share the shape
    other = [sample._replace(value=Decimal(7)) for sample in plain]
    assert readings(other)[0].shape == readings(plain)[0].shape
    assert readings(other)[0].sample_values == "[7,7,7,7]"
    assert unpacked(readings(other)[0]) == other
    # other units, or another order, are another shape
    assert readings(other[::-1])[0].shape.key != readings(other)[0].shape.key
    assert (
        readings([other[0]._replace(unit="varh")])[0].shape.key != readings(other[:1])[0].shape.key
    )


def test_a_shape_key_is_stable_across_releases() -> None:
    """It is stored, and a writer finds the stored shape by it: never change it."""
    (reading,) = readings([MeterSample(T0, "SoC", Decimal(50), "Percent", location="EV")])
    assert reading.shape.samples == (
        '[{"measurand":"SoC","phase":"","location":"EV","context":"","unit":"Percent"}]'
    )
    assert reading.shape.key == shape_key(reading.shape.samples) == -3585680289806780461


def test_another_shape_under_a_stored_key_is_refused() -> None:
    """A 64-bit key could in principle be two shapes': a writer stores no reading under a key
    whose stored shape is not its own."""
    check_stored_shapes({1: "[a]", 2: "[b]"}, [(1, "[a]")])
    with pytest.raises(ShapeCollision):
        check_stored_shapes({1: "[a]", 2: "[b]"}, [(1, "[a]"), (2, "[c]")])
