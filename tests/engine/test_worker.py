"""Validation in a worker thread, under the virtual clock: time holds still while the thread works."""

from __future__ import annotations

import threading
import time

import trio
import trio.testing

from runner.engine._worker import in_worker_thread


async def test_virtual_time_does_not_jump_while_a_worker_thread_works(
    autojump_clock: trio.testing.MockClock,
) -> None:
    woke: list[float] = []

    async def far_deadline() -> None:
        await trio.sleep(100)
        woke.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(far_deadline)
        start = trio.current_time()
        where = await in_worker_thread(lambda: (time.sleep(0.2), threading.current_thread().name)[1])
        assert trio.current_time() == start  # the 100 s sleeper did not wake during 0.2 s of real work
        assert where != threading.main_thread().name
        assert not woke
    assert woke == [start + 100]  # afterwards the clock jumps again as before
    assert autojump_clock.autojump_threshold == 0


async def test_the_event_loop_runs_while_the_worker_works() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0.01)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await in_worker_thread(lambda: time.sleep(0.3))
        nursery.cancel_scope.cancel()
    assert ticks >= 10  # the loop was not blocked by the 0.3 s of work
