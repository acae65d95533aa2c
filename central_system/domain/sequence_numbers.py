"""The 2.0.1 TransactionEvent seqNos a transaction has seen, kept as ranges (E01.FR.xx: a
station numbers a transaction's events 0, 1, 2 ... and replays them after an outage).

A station's events arrive mostly in order, so a transaction's seqNos are one range and the set
costs the same for 5 events as for 5,000; events that arrive out of order (an offline queue
replayed after newer events) open a gap that closes when the missing ones come.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable


class SeenSequenceNumbers:
    """A set of non-negative integers stored as sorted, disjoint, non-adjacent ranges."""

    __slots__ = ("_ranges",)

    def __init__(self, seq_nos: Iterable[int] = ()) -> None:
        self._ranges: list[list[int]] = []  # [first, last] inclusive, sorted by first
        for seq_no in sorted(set(seq_nos)):
            self.add(seq_no)

    def __contains__(self, seq_no: int) -> bool:
        index = bisect_right(self._ranges, seq_no, key=_first) - 1
        return index >= 0 and self._ranges[index][1] >= seq_no

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self._ranges)

    def add(self, seq_no: int) -> None:
        ranges = self._ranges
        last = ranges[-1] if ranges else None
        if last is not None and last[1] + 1 == seq_no:  # the common case: the next one
            last[1] = seq_no
            return
        if seq_no in self:
            return
        index = bisect_right(ranges, seq_no, key=_first)
        joins_before = index > 0 and ranges[index - 1][1] + 1 == seq_no
        joins_after = index < len(ranges) and ranges[index][0] - 1 == seq_no
        if joins_before and joins_after:
            ranges[index - 1][1] = ranges[index][1]
            del ranges[index]
        elif joins_before:
            ranges[index - 1][1] = seq_no
        elif joins_after:
            ranges[index][0] = seq_no
        else:
            ranges.insert(index, [seq_no, seq_no])

    @property
    def ranges(self) -> list[tuple[int, int]]:
        return [(first, last) for first, last in self._ranges]

    def copy(self) -> SeenSequenceNumbers:
        clone = SeenSequenceNumbers()
        clone._ranges = [list(r) for r in self._ranges]
        return clone


def _first(span: list[int]) -> int:
    return span[0]
