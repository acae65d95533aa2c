"""Pure helpers: percentiles, summaries and the lines a script reads.

Latencies travel between processes as integer microseconds. A message that never got its answer
within the run counts as `LOST_US` so that an overloaded server's p99 shows as overload instead
of being computed from the lucky messages only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LOST_US = 10**12  # a latency sentinel: "no answer"


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, nearest-rank method; NaN when empty."""
    if not sorted_values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    lost: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float

    @property
    def overloaded(self) -> bool:
        return self.lost > 0 and math.isinf(self.p99_ms)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "lost": self.lost,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "p99.9_ms": self.p999_ms,
            "max_ms": self.max_ms,
            "mean_ms": self.mean_ms,
        }


def _ms(value_us: float) -> float:
    return math.inf if value_us >= LOST_US else value_us / 1000


def summarise(latencies_us: Iterable[int]) -> LatencySummary:
    """Percentiles of latencies in microseconds (LOST_US entries count as infinitely late)."""
    values = sorted(latencies_us)
    lost = sum(1 for v in values if v >= LOST_US)
    answered = values[: len(values) - lost]
    mean = sum(answered) / len(answered) / 1000 if answered else math.nan
    return LatencySummary(
        count=len(values),
        lost=lost,
        p50_ms=_ms(percentile(values, 50)),
        p99_ms=_ms(percentile(values, 99)),
        p999_ms=_ms(percentile(values, 99.9)),
        max_ms=_ms(values[-1]) if values else math.nan,
        mean_ms=mean,
    )


def format_ms(value: float) -> str:
    """3.1ms, 12ms, 270ms, 1.2s; `inf` for lost messages."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    if value >= 1000:
        return f"{value / 1000:.3g}s"
    if value >= 10:
        return f"{value:.0f}ms"
    return f"{value:.1f}ms" if value >= 1 else f"{value:.2f}ms"


def format_rate(value: float) -> str:
    return f"{value:.0f}"


def ratio(numerator: float, denominator: float) -> float:
    if denominator <= 0 or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator


def format_ratio(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value >= 1:
        return f"{value:.1f}x"
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.3f}x"


def cpu_us_per_message(cpu_seconds: float, messages: int) -> float:
    return cpu_seconds * 1e6 / messages if messages else math.nan


def kib_per_connection(rss_before_kib: int, rss_after_kib: int, connections: int) -> float:
    return (rss_after_kib - rss_before_kib) / connections if connections else math.nan


# --- machine-readable lines -----------------------------------------------------------------


def series_key(server: str, version: str) -> str:
    """`ours_sqlite` for 1.6 MeterValues (the headline), `ours_sqlite.v201` for 2.0.1."""
    return server if version == "1.6" else f"{server}.v{version.replace('.', '')}"


def throughput_line(key: str, rate: float) -> str:
    return f"throughput {key} {format_rate(rate)} msg/s"


def latency_line(key: str, rate: int, summary: LatencySummary) -> str:
    text = (
        f"latency {key}@{rate} p50={format_ms(summary.p50_ms)} "
        f"p99={format_ms(summary.p99_ms)} p99.9={format_ms(summary.p999_ms)}"
    )
    if summary.lost:
        text += f" unanswered={summary.lost}"
    return text


def cpu_line(key: str, us_per_message: float) -> str:
    value = "n/a" if math.isnan(us_per_message) else f"{us_per_message:.0f}"
    return f"cpu {key} {value} us/msg"


def rss_line(key: str, kib: float) -> str:
    value = "n/a" if math.isnan(kib) else f"{kib:.1f}"
    return f"rss {key} {value} KiB/conn"


def ratio_line(name: str, value: float) -> str:
    return f"{name} {format_ratio(value)}"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain text table with left-aligned first column and right-aligned others."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for index, (width, cell) in enumerate(zip(widths, cells, strict=True)):
            out.append(cell.ljust(width) if index == 0 else cell.rjust(width))
        return "  ".join(out).rstrip()

    separator = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), separator, *(line(r) for r in rows)])
