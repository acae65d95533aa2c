"""The seqNos a 2.0.1 transaction has seen, as ranges (replays are recognised exactly)."""

from __future__ import annotations

import random

from central_system.domain.sequence_numbers import SeenSequenceNumbers


def test_events_in_order_are_one_range() -> None:
    seen = SeenSequenceNumbers()
    for seq_no in range(1000):
        assert seq_no not in seen
        seen.add(seq_no)
        assert seq_no in seen
    assert seen.ranges == [(0, 999)]
    assert len(seen) == 1000 and 1000 not in seen and -1 not in seen


def test_a_gap_is_remembered_until_it_closes() -> None:
    seen = SeenSequenceNumbers([0, 1, 2, 5, 6, 9])
    assert seen.ranges == [(0, 2), (5, 6), (9, 9)]
    assert [n for n in range(11) if n in seen] == [0, 1, 2, 5, 6, 9]
    seen.add(4)
    seen.add(3)
    assert seen.ranges == [(0, 6), (9, 9)]
    seen.add(8)
    seen.add(7)
    assert seen.ranges == [(0, 9)]


def test_a_station_that_starts_elsewhere_than_zero() -> None:
    seen = SeenSequenceNumbers([7])
    seen.add(8)
    seen.add(8)  # a replay changes nothing
    assert seen.ranges == [(7, 8)] and 0 not in seen


def test_same_answers_as_a_set() -> None:
    rng = random.Random(5)
    for _ in range(200):
        numbers = [rng.randrange(60) for _ in range(rng.randrange(40))]
        seen = SeenSequenceNumbers(numbers[:10])
        for n in numbers[10:]:
            seen.add(n)
        expected = set(numbers)
        assert {n for n in range(-2, 64) if n in seen} == expected
        assert len(seen) == len(expected)
        copy = seen.copy()
        copy.add(100)
        assert 100 not in seen
