"""Python's cycle collector, set for the length of a run: rare young collections, no walk of the heap.

With a thousand requests in flight for seconds each, nearly every object a request makes (its task,
coroutines, request and reply objects) is still alive when the collector's default threshold (700
allocations) comes round, a few times per request: it is walked young, again as it ages, and again
in each full collection, with the whole heap of imports, config and plan. At 30,000 requests a
minute that was a tenth of the run's CPU (``gc.callbacks``), for cycles that reference counting
frees anyway. During a run the heap made before it is frozen (``gc.freeze``: never walked, never
freed), and a young collection waits for ``YOUNG_THRESHOLD`` allocations (about two seconds of
requests at 30,000 a minute). Both are undone when the last concurrent run ends, so a notebook
calling the Python API gets its collector back as it was.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000

_runs = 0
_saved_thresholds: tuple[int, ...] = ()


@contextmanager
def collector_set_for_a_run() -> Iterator[None]:
    """Freeze the heap and raise the young threshold until every run this one overlaps has ended
    (pipeline mode runs experiments side by side)."""
    global _runs, _saved_thresholds
    if _runs == 0:
        _saved_thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(YOUNG_THRESHOLD, *_saved_thresholds[1:])
    _runs += 1
    try:
        yield
    finally:
        _runs -= 1
        if _runs == 0:
            gc.set_threshold(*_saved_thresholds)
            gc.unfreeze()  # the frozen heap goes back to the oldest generation: collectable again
