"""Work that would block the event loop (validating a million-line file), done in a worker thread.

Under trio's virtual clock (``MockClock`` with ``autojump_threshold``, as the tests use it) a task
waiting for a thread counts as blocked, so the clock would jump to the next deadline while the thread
works: another queue's request would "time out" in virtual time during a few real milliseconds of
validation. :func:`in_worker_thread` holds the clock still while its thread runs (and only then), so
virtual-time tests keep meaning what they say; a real clock is left alone.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import TypeVar

import trio

_T = TypeVar("_T")
_held: dict[int, tuple[int, float]] = {}
"""Per virtual clock: how many workers hold it, and its threshold before the first."""


async def in_worker_thread(work: Callable[[], _T]) -> _T:
    """``work()`` in a worker thread, the event loop free meanwhile."""
    clock = trio.lowlevel.current_clock()
    # Without trio.testing imported no clock is a MockClock: a run does not pay its import (60 ms).
    testing = sys.modules.get("trio.testing")
    if testing is None or not isinstance(clock, testing.MockClock):
        return await trio.to_thread.run_sync(work)
    key = id(clock)
    holders, threshold = _held.get(key, (0, clock.autojump_threshold))
    _held[key] = (holders + 1, threshold)
    clock.autojump_threshold = math.inf
    try:
        return await trio.to_thread.run_sync(work)
    finally:
        holders, threshold = _held.pop(key)
        if holders > 1:
            _held[key] = (holders - 1, threshold)
        else:
            clock.autojump_threshold = threshold
