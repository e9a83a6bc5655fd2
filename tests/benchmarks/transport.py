"""The client layer alone: CPU per request of ``ClientPool.post`` with a thousand requests in flight.

Two configurations against the same fake server (its own process, 1 s replies): the lean transport
(:mod:`providers.http._lean_transport`, what a run uses) and httpx's default transport spread over 32
clients (what a run uses when a proxy is set). Each sends ``rounds`` waves of ``concurrency``
concurrent requests after one warm-up wave that opens the connections; CPU is this process's.

Run as its own process (``python -m tests.benchmarks.transport lean|httpx [CONCURRENCY]`` prints the
figure): on Linux a child's peak RSS (``wait4``) includes its parent's peak at the time of spawning,
so the benchmark's parent must not grow by holding a thousand connections itself.
"""

from __future__ import annotations

import subprocess
import sys
import time

import trio

from providers.http._pool import ClientPool
from tests.benchmarks.scenario import ROOT, ServerProcess

BODY = {"model": "gpt-bench", "messages": [{"role": "user", "content": "What is 2 plus 2? " * 4}]}


def measure_in_child(*, lean: bool, concurrency: int) -> float:
    """:func:`cpu_ms_per_request` in a child process."""
    which = "lean" if lean else "httpx"
    command = [sys.executable, "-m", "tests.benchmarks.transport", which, str(concurrency)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


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


if __name__ == "__main__":
    print(cpu_ms_per_request(lean=sys.argv[1] == "lean", concurrency=int(sys.argv[2])))
