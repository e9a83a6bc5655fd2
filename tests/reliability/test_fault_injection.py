"""Thousands of prompts, 15% of requests failing: every prompt answered, each exactly once."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio
import trio.testing

from providers import EndpointSettings
from runner import ExperimentConfig, RunConfig, run_experiment
from tests.reliability.conftest import ENVIRON, make_config, read_records, write_prompts
from tests.reliability.fake_server import serving_in_subprocess


def assert_all_answered_once(run_dir: Path, count: int, response: str) -> int:
    """Checks the records; returns the requests they account for."""
    records = read_records(run_dir)  # fails on a duplicate
    assert set(records) == set(range(count))
    assert all(r["error"] is None and r["response"] == response.format(i=i) for i, r in records.items())
    return sum(r["attempts"] for r in records.values())


async def test_over_http_against_a_flaky_server(tmp_path: Path) -> None:
    count = 600
    with serving_in_subprocess(failure_rate=0.15, seed=7) as url:
        prompts = [{"id": i, "prompt": f"question {i}"} for i in range(count)]
        config = make_config(tmp_path, url, prompts, max_queries=30_000, max_attempts=10)

        result = await run_experiment(config, ENVIRON)

        stats = await trio.to_thread.run_sync(httpx.get, f"{url}/stats")
    attempts = assert_all_answered_once(result.run_dir, count, "echo: question {i}")
    assert attempts == stats.json()["requests"]  # every request the server saw is accounted for
    assert 0.10 * count < attempts - count < 0.25 * count  # 15% failed, each retried
    assert result.summary["queues"]["default"]["retried"] > 0.1 * count


async def test_three_thousand_prompts_in_virtual_time(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    count = 3000
    file = write_prompts(tmp_path / "prompts.jsonl", [{"id": i, "prompt": f"q{i}"} for i in range(count)])
    config = RunConfig(
        experiment=ExperimentConfig(file=file, api="simulated", model_name="sim"),
        endpoints={
            "simulated": EndpointSettings(options={"failure_rate": 0.15, "latency_s": 2.0, "seed": 3})
        },
        max_queries=6000,
        max_attempts=12,
        env_file=None,
        output_dir=tmp_path / "run",
    )

    result = await run_experiment(config, log_to_file=False)

    attempts = assert_all_answered_once(result.run_dir, count, "sim: q{i}")
    assert 0.12 * count < attempts - count < 0.22 * count
    assert result.summary["ok"] == count
