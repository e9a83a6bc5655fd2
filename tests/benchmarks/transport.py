"""The client layer alone: CPU per request of ``ClientPool.post`` with a thousand requests in flight.

Two configurations against the same fake server (its own process, 1 s replies): the lean transport
(:mod:`providers._h11_transport`, what a run uses) and httpx's default transport spread over 32
clients (what a run uses when a proxy is set). Each sends ``rounds`` waves of ``concurrency``
concurrent requests after one warm-up wave that opens the connections; CPU is this process's.
"""

from __future__ import annotations

import time

import trio

from providers._http import ClientPool
from tests.benchmarks.scenario import ServerProcess

BODY = {"model": "gpt-bench", "messages": [{"role": "user", "content": "What is 2 plus 2? " * 4}]}


def cpu_ms_per_request(*, lean: bool, concurrency: int = 1000, rounds: int = 3) -> float:
    """CPU milliseconds per request through a ClientPool with (or without) the lean transport."""
    server = ServerProcess(1.0, {}, serial=False)
    try:
        return trio.run(_measure, server.url, lean, concurrency, rounds)
    finally:
        server.close()


async def _measure(url: str, lean: bool, concurrency: int, rounds: int) -> float:
    pool = ClientPool(url, expected_concurrency=concurrency, lean=lean)

    async def one() -> None:
        (await pool.post("/v1/chat/completions", json_body=BODY)).json()

    async def wave() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(one)

    await wave()  # opens the connections
    started = time.process_time()
    for _ in range(rounds):
        await wave()
    spent = time.process_time() - started
    await pool.aclose()
    return spent / (rounds * concurrency) * 1000
