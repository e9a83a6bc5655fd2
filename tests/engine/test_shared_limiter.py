"""The shared limiter: a token bucket in a real Redis keeps several processes under one rate."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import trio

from runner import ConfigError, load_config, run_async
from runner.engine._limiter import RateLimiter
from runner.engine._shared_limiter import SharedLimiterError, SharedLimiterSettings, open_shared_buckets
from tests._dist_support import free_port, prompto_run, redis_url, start_module, write_prompts

__all__ = ["redis_url"]  # the fixture, imported for this module's tests

# Each process paces itself at the full rate, so without the shared bucket the two together would
# send twice as much. Once connected it says "ready" and waits for the common start time (stdin);
# then it takes permits as fast as it is given them and counts those inside the window.
HAMMER = """
import sys, time, trio
from runner.engine._limiter import RateLimiter
from runner.engine._shared_limiter import SharedLimiterSettings, open_shared_buckets

url, per_minute, window = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])

async def main():
    async with open_shared_buckets(SharedLimiterSettings(url=url, key_prefix="test:")) as shared:
        limiter = RateLimiter(per_minute, shared.bucket("openai", per_minute))
        grants = []
        print("ready", flush=True)
        start_at = float(await trio.to_thread.run_sync(sys.stdin.readline))
        await trio.sleep(max(0.0, start_at - time.time()))
        while time.time() < start_at + window:
            await limiter.acquire()
            grants.append(time.time())
    print(sum(start_at <= t < start_at + window for t in grants))

trio.run(main)
"""


@pytest.mark.redis
def test_two_processes_on_one_key_stay_together_under_its_limit(redis_url: str) -> None:
    per_second, window = 30.0, 2.0
    args = [redis_url, str(per_second * 60), str(window)]
    processes = [start_module(HAMMER, args) for _ in range(2)]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
    start_at = time.time() + 0.2
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(f"{start_at}\n")
        process.stdin.flush()
    outputs = [process.communicate(timeout=30) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err for _, err in outputs]
    counts = [int(out) for out, _ in outputs]

    limit = per_second * window + 1  # the refill during the window plus the one token the bucket holds
    assert sum(counts) <= limit, counts
    assert sum(counts) >= 0.85 * per_second * window, counts  # the limit is used, not starved
    assert min(counts) >= 0.3 * sum(counts), counts  # and shared between the two, not taken by one


@pytest.mark.redis
async def test_the_bucket_queues_callers_at_its_rate(redis_url: str) -> None:
    settings = SharedLimiterSettings(url=redis_url, key_prefix="solo:", burst=2)
    async with open_shared_buckets(settings) as shared:
        assert shared is not None
        bucket = shared.bucket("gemini", per_minute=600)  # 10 a second
        started = trio.current_time()
        taken = []
        for _ in range(6):
            await bucket.take()
            taken.append(trio.current_time() - started)
    # Two saved tokens go at once, then one every 0.1 s.
    assert taken[1] < 0.05
    assert 0.35 <= taken[5] < 0.5, taken


async def test_the_local_ticker_waits_for_the_shared_source(autojump_clock: trio.abc.Clock) -> None:
    class EveryTwoSeconds:
        """Another process's share: a token every 2 s, whatever the local rate."""

        def __init__(self) -> None:
            self.next_at = 0.0

        async def take(self) -> None:
            await trio.sleep_until(max(self.next_at, trio.current_time()))
            self.next_at = trio.current_time() + 2.0

    limiter = RateLimiter(60, EveryTwoSeconds())  # locally one a second
    granted = []
    for _ in range(4):
        await limiter.acquire()
        granted.append(trio.current_time())
    assert [round(t - granted[0], 3) for t in granted] == [0.0, 2.0, 4.0, 6.0]


@pytest.mark.redis
async def test_a_run_with_the_shared_limiter_uses_one_bucket_per_queue(
    redis_url: str, tmp_path: Path
) -> None:
    from redis import Redis

    prompts = write_prompts(tmp_path / "prompts.jsonl", 10)
    config = load_config(
        overrides=[
            f"experiment.file={prompts}",
            "model=simulated_fast",
            "parallel=true",
            "max_queries=6000",
            f"rate_limits.shared={{url: '{redis_url}', key_prefix: 'lab:'}}",
        ],
        output_dir=tmp_path / "run",
    )
    result = await run_async(config)
    assert result.summary["ok"] == 10
    keys = sorted(key.decode() for key in Redis.from_url(redis_url).keys("lab:*"))
    assert keys == ["lab:group:g0", "lab:group:g1"]


@pytest.fixture
def redis_client() -> None:
    pytest.importorskip("redis", reason="needs the redis extra")


@pytest.mark.usefixtures("redis_client")
async def test_an_unreachable_redis_stops_the_run_before_anything_is_sent(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    prompts = write_prompts(tmp_path / "prompts.jsonl", 5)
    config = load_config(
        overrides=[
            f"experiment.file={prompts}",
            "model=simulated_fast",
            f"rate_limits.shared={{url: '{url}'}}",
        ],
        output_dir=tmp_path / "run",
    )
    with pytest.raises(SharedLimiterError, match=f"rate_limits.shared: cannot reach Redis at {url}: "):
        await run_async(config)
    assert (tmp_path / "run" / "completed.jsonl").read_text() == ""


@pytest.mark.usefixtures("redis_client")
def test_the_url_password_is_not_shown(tmp_path: Path) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(SharedLimiterError) as caught:
        trio.run(_open, SharedLimiterSettings(url=url))
    assert "hunter2" not in str(caught.value)
    assert "redis://***@127.0.0.1" in str(caught.value)


async def _open(settings: SharedLimiterSettings) -> None:
    async with open_shared_buckets(settings):
        pass


def test_a_typo_in_the_shared_settings_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Unknown key `rate_limits.shared.urll`"):
        load_config(
            overrides=["experiment.file=x.jsonl", "rate_limits.shared={urll: x}"], output_dir="unused"
        )


def test_the_shared_limiter_is_off_by_default() -> None:
    config = load_config(overrides=["experiment.file=x.jsonl"], output_dir="unused")
    assert config.rate_limits.shared is None
    assert json.loads(config.model_dump_json())["rate_limits"]["shared"] is None


@pytest.mark.redis
async def test_redis_going_away_mid_run_is_a_clear_error(redis_url: str) -> None:
    from redis import Redis

    async with open_shared_buckets(SharedLimiterSettings(url=redis_url)) as shared:
        assert shared is not None
        bucket = shared.bucket("openai", per_minute=6000)
        await bucket.take()
        Redis.from_url(redis_url).shutdown(nosave=True)
        with pytest.raises(
            SharedLimiterError, match=f"shared rate limiter: Redis at {redis_url} failed for "
        ):
            await bucket.take()


@pytest.mark.usefixtures("redis_client")
def test_the_cli_exits_2_when_redis_cannot_be_reached(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    prompts = write_prompts(tmp_path / "prompts.jsonl", 5)
    result = prompto_run(
        f"experiment.file={prompts}",
        "model=simulated_fast",
        f"rate_limits.shared={{url: '{url}'}}",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert result.returncode == 2
    assert f"prompto-run: rate_limits.shared: cannot reach Redis at {url}: " in result.stderr
    assert result.stderr.endswith("Nothing was sent.\n")
    assert (tmp_path / "run" / "completed.jsonl").read_text() == ""


def test_without_the_redis_extra_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # what `import redis` sees when it is not installed
    with pytest.raises(
        SharedLimiterError, match=r"needs the redis client: pip install 'prompto-run\[redis\]'"
    ):
        trio.run(_open, SharedLimiterSettings())
