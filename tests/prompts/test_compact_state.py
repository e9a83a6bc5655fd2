"""The per-prompt state that must stay small for a million-line file: ids seen, latencies' quantiles."""

from __future__ import annotations

import random
import statistics
from array import array

import pytest

from runner.config._config import QueueLimit
from runner.prompts._id_set import IdSet
from runner.prompts._plan import QueuePlan
from runner.prompts._routing import QueueKey
from runner.results._quantiles import kth_smallest, median_and_p95


def test_id_set_agrees_with_a_python_set_through_growth() -> None:
    rng = random.Random(7)
    ids: list[object] = [
        rng.choice([f"prompt-{rng.randrange(5000)}", rng.randrange(5000)]) for _ in range(20000)
    ]
    compact, reference = IdSet(), set()
    for prompt_id in ids:
        assert compact.add(prompt_id) == (str(prompt_id) not in reference)
        reference.add(str(prompt_id))
    assert len(compact) == len(reference)
    probes = [*(str(n) for n in range(10_000)), *(f"prompt-{n}" for n in range(10_000)), "never-added"]
    assert [probe in compact for probe in probes] == [probe in reference for probe in probes]


def test_a_table_sized_for_its_ids_holds_them_without_growing() -> None:
    ids = IdSet(expected=3000)
    slots = len(ids._slots)
    assert all(ids.add(f"p{n}") for n in range(3000))
    assert len(ids._slots) == slots
    assert not any(ids.add(f"p{n}") for n in range(3000))


def test_an_integer_id_and_its_string_are_the_same_id() -> None:
    ids = IdSet()
    assert ids.add(7)
    assert not ids.add("7")
    assert "7" in ids


@pytest.mark.parametrize("count", [1, 2, 3, 10, 101, 2000])
def test_median_and_p95_are_exact(count: int) -> None:
    rng = random.Random(count)
    for _ in range(10):
        values = [
            rng.choice([0.5, rng.random(), rng.expovariate(1) * rng.choice([1e-6, 1, 1e6])])
            for _ in range(count)
        ]
        ordered = sorted(values)
        assert median_and_p95(array("d", values)) == (
            statistics.median(ordered),
            ordered[min(count - 1, int(0.95 * count))],
        )


def test_kth_smallest_of_equal_values_and_out_of_range() -> None:
    assert kth_smallest(array("d", [2.0] * 5), [0, 4]) == [2.0, 2.0]
    with pytest.raises(IndexError):
        kth_smallest(array("d", [1.0, 2.0]), [2])


def test_queue_offsets_round_trip_through_gaps_even_past_4_gb() -> None:
    queue = QueuePlan(QueueKey(), QueueLimit(max_queries=10))
    offsets = [0, 120, 4_000, 5 * 2**32, 5 * 2**32 + 77]  # a gap over 4 GB: other queues' prompts
    for offset in offsets:
        queue.add_offset(offset)
    assert list(queue.offsets()) == offsets
    assert queue.count == 5
