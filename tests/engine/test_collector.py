"""The cycle collector during a run: set while any run goes on, as it was once the last one ends."""

from __future__ import annotations

import gc
import weakref

import pytest

from runner.engine._collector import YOUNG_THRESHOLD, collector_set_for_a_run


def test_overlapping_runs_keep_it_set_until_the_last_ends_then_it_is_as_before() -> None:
    before = gc.get_threshold()
    with collector_set_for_a_run():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
        with collector_set_for_a_run():  # a second experiment of a pipeline
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # the first is still running
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_failing_run_gives_the_collector_back_and_cycles_are_collected_after() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), collector_set_for_a_run():
        raise RuntimeError("the run failed")
    assert gc.get_threshold() == before


class Node:
    partner: object = None


def test_garbage_frozen_during_a_run_is_collected_after_it() -> None:
    first, second = Node(), Node()
    first.partner, second.partner = second, first
    alive = weakref.ref(first)
    with collector_set_for_a_run():
        del first, second  # a cycle from before the run, dropped during it
        gc.collect()
        assert alive() is not None  # frozen: no collection walks it during the run
    gc.collect()
    assert alive() is None
