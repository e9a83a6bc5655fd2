"""Exact order statistics of a large ``array`` (any sequence) of numbers without sorting a copy of it.

``sorted()`` of a million latencies builds a list of a million number objects (~32 MB) at the end of
a run. Instead, one pass counts the values into equal-width bins between the minimum and maximum,
and a second pass sorts only the values of the bin that holds the wanted rank.
"""

from __future__ import annotations

from collections.abc import Sequence

_BINS = 4096


def kth_smallest(values: Sequence[float], ranks: Sequence[int]) -> list[float]:
    """The ``k``-th smallest value (0-based) for each ``k`` in ``ranks``; ``values`` is left as it is."""
    if not values:
        raise ValueError("no values")
    low, high = min(values), max(values)
    if low == high:
        return [low for _ in ranks]
    scale = (_BINS - 1) / (high - low)

    def bin_of(value: float) -> int:
        return int((value - low) * scale)

    counts = [0] * _BINS
    for value in values:
        counts[bin_of(value)] += 1
    starts, total = [], 0
    for count in counts:
        starts.append(total)
        total += count
    results = []
    for rank in ranks:
        if not 0 <= rank < len(values):
            raise IndexError(f"rank {rank} out of range for {len(values)} values")
        wanted = _bin_of_rank(starts, rank)
        in_bin = sorted(value for value in values if bin_of(value) == wanted)
        results.append(in_bin[rank - starts[wanted]])
    return results


def median_and_p95(values: Sequence[float]) -> tuple[float, float]:
    """The median (mean of the middle two for an even count) and the value at rank ⌊0.95·n⌋."""
    n = len(values)
    lower, upper, p95 = kth_smallest(values, [(n - 1) // 2, n // 2, min(n - 1, int(0.95 * n))])
    return (lower + upper) / 2, p95


def _bin_of_rank(starts: list[int], rank: int) -> int:
    low, high = 0, len(starts) - 1
    while low < high:  # the last bin whose start is <= rank
        middle = (low + high + 1) // 2
        if starts[middle] <= rank:
            low = middle
        else:
            high = middle - 1
    return low
