"""How stored meter values recognise a replay: a message's samples grouped into readings (one
per timestamp), each with a digest of which values it carries (migration 0005 computed the same
digest for the samples stored before it)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from central_system.domain.metering import MeterSample
from central_system.persistence.columns import identity_of, reading_identity, readings, samples_json

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
    assert grouped[0].identity == reading_identity([power, energy])


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


def test_a_readings_json_is_the_same_from_the_shape_cache_and_without_it() -> None:
    """The writer fills a station's recurring reading shape with the values; what it stores
    must be samples_json's text exactly (signed data, a value without a number, quotes and
    percent signs in the names included)."""
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
        assert [r.samples_json for r in grouped] == [samples_json(plain), samples_json(signed)]
        assert [r.identity for r in grouped] == [reading_identity(plain), reading_identity(signed)]
    # the same shape with other values is filled in, not taken from the cache
    other = [sample._replace(value=Decimal(7)) for sample in plain]
    assert readings(other)[0].samples_json == samples_json(other)
    assert '"value":7}' in readings(other)[0].samples_json
