"""Pauses, slowdown and recovery, server limits, tokens per minute and hung requests, in virtual time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import providers
from providers import (
    AuthError,
    BadRequest,
    ChatRequest,
    Completion,
    ConnectionFailed,
    MalformedReply,
    Message,
    NotFound,
    QuotaExhausted,
    RateLimited,
    RateLimitState,
    RequestTimeout,
    SafetyBlocked,
    ServerError,
    Usage,
)
from runner import ApiLimit, ExperimentConfig, RateLimits, RunConfig, run_experiment
from runner.engine._limiter import (
    MAX_BACKLOG_CATCH_UP_S,
    MAX_CATCH_UP_S,
    MAX_SLOWDOWN,
    WAKE_EVERY_S,
    RateLimiter,
)
from runner.engine._token_bucket import TokenBucket, estimate_tokens
from tests.reliability.conftest import read_records, write_prompts
from tests.reliability.scripted import OtherScriptedProvider, ScriptedProvider


@pytest.fixture(autouse=True)
def scripted() -> Iterator[type[ScriptedProvider]]:
    ScriptedProvider.reset()
    providers.register(ScriptedProvider)
    providers.register(OtherScriptedProvider)
    try:
        yield ScriptedProvider
    finally:
        providers.unregister(ScriptedProvider.api)
        providers.unregister(OtherScriptedProvider.api)


def config_for(tmp_path: Path, prompts: list[dict[str, Any]], **settings: Any) -> RunConfig:
    file = write_prompts(tmp_path / "prompts.jsonl", prompts)
    values: dict[str, Any] = {
        "experiment": ExperimentConfig(file=file, api="scripted", model_name="m"),
        "env_file": None,
        "max_queries": 60,
        "output_dir": tmp_path / "run",
        **settings,
    }
    return RunConfig(**values)


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in zip(times, times[1:], strict=False)]


async def test_429_pauses_for_retry_after_then_slows_and_recovers(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    ScriptedProvider.script["p0"] = [RateLimited("slow down", status=429, retry_after=30.0)]
    prompts = [{"id": f"p{i}", "prompt": f"p{i}"} for i in range(12)]

    result = await run_experiment(config_for(tmp_path, prompts), log_to_file=False)

    times = ScriptedProvider.times()
    assert times[0] == 0.0
    assert times[1] >= 30.0  # nothing was sent during the pause (p1 held its permit through it)
    spacing = gaps(times[1:])
    assert spacing[0] == pytest.approx(2.0)  # halved rate after the refusal...
    assert all(b <= a for a, b in zip(spacing, spacing[1:], strict=False))  # ...recovering each reply
    assert spacing[-1] < 1.2
    records = read_records(result.run_dir)
    assert records["p0"]["attempts"] == 2
    assert records["p0"]["error"] is None


async def test_pause_in_one_queue_does_not_delay_another(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    ScriptedProvider.script["a0"] = [RateLimited("slow down", status=429, retry_after=120.0)]
    prompts = [{"id": f"a{i}", "api": "scripted", "model_name": "m", "prompt": f"a{i}"} for i in range(3)]
    prompts += [{"id": f"b{i}", "api": "scripted2", "model_name": "m", "prompt": f"b{i}"} for i in range(10)]

    await run_experiment(config_for(tmp_path, prompts, parallel=True), log_to_file=False)

    b_times = [at for at, prompt in ScriptedProvider.sent if prompt.startswith("b")]
    assert b_times == [float(i) for i in range(10)]  # one a second, undisturbed
    a_times = [at for at, prompt in ScriptedProvider.sent if prompt.startswith("a")]
    assert a_times[0] == 0.0
    assert a_times[1] >= 120.0


async def test_hung_request_is_a_failed_attempt(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    ScriptedProvider.script["slow"] = [1e9]  # never answers
    config = config_for(tmp_path, [{"id": 1, "prompt": "slow"}], request_timeout_s=10)

    result = await run_experiment(config, log_to_file=False)

    [record] = read_records(result.run_dir).values()
    assert (record["attempts"], record["error"], record["response"]) == (2, None, "ok: slow")
    assert ScriptedProvider.times() == [0.0, pytest.approx(10.0, abs=1.0)]


async def test_hung_requests_until_attempts_run_out(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    ScriptedProvider.script["slow"] = [1e9] * 3
    config = config_for(tmp_path, [{"id": 1, "prompt": "slow"}], request_timeout_s=5, max_attempts=3)

    result = await run_experiment(config, log_to_file=False)

    [record] = read_records(result.run_dir).values()
    assert record["error"]["type"] == "timeout"
    assert record["attempts"] == 3
    assert "request_timeout_s" in record["error"]["message"]


async def test_auth_failure_in_flight_stops_the_queue(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    ScriptedProvider.latency_s = 5.0  # five requests are out when the first 401 comes back
    ScriptedProvider.script["p0"] = [AuthError("invalid key", status=401)]
    ScriptedProvider.script["p1"] = [ServerError("oops", status=500)]
    prompts = [{"id": f"p{i}", "prompt": f"p{i}"} for i in range(20)]

    result = await run_experiment(config_for(tmp_path, prompts), log_to_file=False)

    records = read_records(result.run_dir)
    assert len(ScriptedProvider.sent) == 5  # p0..p4 were in flight; nothing after the 401
    assert records["p0"]["error"]["type"] == "auth"
    assert records["p1"]["error"]["type"] == "not_sent"
    assert records["p1"]["attempts"] == 1
    assert [records[f"p{i}"]["error"] for i in range(2, 5)] == [None] * 3  # answers in flight are kept
    assert {records[f"p{i}"]["error"]["type"] for i in range(5, 20)} == {"not_sent"}
    assert result.summary["queues"]["default"]["not_sent"] == 16


async def test_burst_of_refusals_slows_once(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(60)
    for _ in range(10):  # ten requests sent at t=0, all refused
        limiter.note_rate_limited(sent_at=0.0)
    assert limiter.interval == pytest.approx(2.0)
    await trio.sleep(1)
    limiter.note_rate_limited(sent_at=0.5)  # sent after the slowdown: the new rate is too fast too
    assert limiter.interval == pytest.approx(4.0)
    for _ in range(100):
        limiter.note_rate_limited()
    assert limiter.interval == pytest.approx(MAX_SLOWDOWN)
    for _ in range(100):  # replies to requests sent before the last slowdown: no recovery yet
        limiter.note_success(sent_at=1.0)
    assert limiter.interval == pytest.approx(MAX_SLOWDOWN)
    await trio.sleep(1)
    for _ in range(100):
        limiter.note_success(sent_at=1.5)
    assert limiter.interval == pytest.approx(1.0)


async def test_a_late_consumer_gets_the_permits_it_owes_but_an_idle_one_does_not(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(30_000)  # a permit every 2 ms
    permits: list[float] = []
    for _ in range(100):  # a busy loop: late by 10 ms every 10th permit
        await limiter.acquire()
        permits.append(trio.current_time())
        if len(permits) % 10 == 0:
            await trio.sleep(0.010)
    # the stalls were made up with permits back to back: 100 permits on the 2 ms schedule
    assert permits[-1] == pytest.approx(99 * 0.002, abs=0.011)
    await trio.sleep(1.0)  # idle for longer than MAX_CATCH_UP_S: no burst of 500 owed permits
    idle_over = trio.current_time()
    for _ in range(10):
        await limiter.acquire()
    # on the 2 ms schedule from now, each permit at most one coalesced wake late
    assert 9 * 0.002 <= trio.current_time() - idle_over <= 9 * 0.002 + WAKE_EVERY_S
    assert MAX_CATCH_UP_S < 1.0


@pytest.mark.parametrize(("backlog", "back_on_schedule"), [(True, True), (False, False)])
async def test_a_queue_with_a_backlog_makes_up_a_stall_an_idle_one_does_not(
    autojump_clock: trio.testing.MockClock, backlog: bool, back_on_schedule: bool
) -> None:
    limiter = RateLimiter(6_000)  # a permit every 10 ms
    await limiter.acquire()
    started = trio.current_time()
    await trio.sleep(0.5)  # the loop stalled (or the queue had nothing to send) for 0.5 s
    for _ in range(100):
        await limiter.acquire(backlog=backlog)
    # with a backlog, the 50 slots the stall covered are made up: 100 slots end 1 s after the first;
    # without, the schedule restarts after the stall and ends 0.5 s later
    elapsed = trio.current_time() - started
    assert elapsed == pytest.approx(1.0 if back_on_schedule else 1.5, abs=WAKE_EVERY_S)
    assert MAX_CATCH_UP_S < 0.5 < MAX_BACKLOG_CATCH_UP_S


async def test_the_schedule_starts_at_the_first_permit_taken(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(30_000)  # a permit every 2 ms
    permits: list[float] = []
    await trio.sleep(0.1)  # the first prompt is ready 100 ms after the ticker started
    for _ in range(5):
        await limiter.acquire()
        permits.append(trio.current_time())
    slots = [0.1, 0.102, 0.104, 0.106, 0.108]  # no burst for the 100 ms before
    assert permits[0] == pytest.approx(0.1)
    # none before its slot; a wake each WAKE_EVERY_S takes the slots due by then
    assert all(slot - 1e-9 <= at <= slot + WAKE_EVERY_S for at, slot in zip(permits, slots, strict=True))
    assert len(set(permits)) < len(permits)


async def test_server_limits_space_permits_until_reset(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(600)  # 0.1 s apart
    permits: list[float] = []
    await limiter.acquire()
    limiter.note_server_limits(RateLimitState(remaining_requests=4, reset_requests_s=20.0))
    for _ in range(6):
        await limiter.acquire()
        permits.append(trio.current_time())
    # 4 left for 20 s: 5 s apart until the window resets, then back to 0.1 s
    assert gaps(permits)[:3] == [pytest.approx(5.0)] * 3
    assert gaps(permits)[-1] == pytest.approx(0.1)


async def test_server_says_nothing_left_pauses_until_reset(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(600)
    await limiter.acquire()
    limiter.note_server_limits(RateLimitState(remaining_requests=3, reset_requests_s=7.0), in_flight=3)
    await limiter.acquire()
    assert trio.current_time() == pytest.approx(7.0)
    limiter.note_server_limits(RateLimitState(remaining_tokens=0, reset_tokens_s=4.0))
    await limiter.acquire()
    assert trio.current_time() == pytest.approx(11.0)


async def test_token_bucket_waits_refunds_and_charges(autojump_clock: trio.testing.MockClock) -> None:
    bucket = TokenBucket(600)  # 10 tokens a second
    await bucket.take(400)
    await bucket.take(200)
    assert trio.current_time() == 0.0
    await bucket.take(100)  # empty: waits 10 s for 100 tokens
    assert trio.current_time() == pytest.approx(10.0)
    bucket.settle(estimated=100, actual=40)  # the reply used less: 60 back
    await bucket.take(60)
    assert trio.current_time() == pytest.approx(10.0)
    bucket.settle(estimated=60, actual=160)  # it used more: 100 of debt, paid over 10 s
    await bucket.take(1)
    assert trio.current_time() == pytest.approx(20.1)
    await bucket.take(10_000)  # over a minute's worth: waits for a full bucket, then goes into debt
    assert bucket.statistics().available < 0


def test_estimate_counts_prompt_and_max_tokens() -> None:
    request = ChatRequest("m", (Message("user", "x" * 400),), {"max_tokens": 50})
    assert estimate_tokens(request) == 150
    nested = ChatRequest("m", (Message("user", "hi"),), {"options": {"num_predict": 7}})
    assert estimate_tokens(nested) == 8


async def test_tokens_per_minute_paces_the_queue(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # each request is estimated at 1000 + 1000 max_tokens; the reply reports 2000 used
    for i in range(4):
        ScriptedProvider.script[f"{i}" + "x" * 3999] = [Completion("ok", usage=Usage(1000, 1000))]
    prompts = [{"id": i, "prompt": f"{i}" + "x" * 3999, "parameters": {"max_tokens": 1000}} for i in range(4)]
    limits = RateLimits(apis={"scripted": ApiLimit(max_queries=6000, max_tokens_per_minute=4000)})

    await run_experiment(config_for(tmp_path, prompts, parallel=True, rate_limits=limits), log_to_file=False)

    # two fit in the first minute's bucket; each next one waits for 2000 tokens (30 s)
    assert ScriptedProvider.times() == pytest.approx([0.0, 0.01, 30.0, 60.0], abs=0.02)


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (RateLimited("slow down", status=429), 3),
        (ServerError("overloaded", status=529), 3),
        (RequestTimeout("timed out"), 3),
        (ConnectionFailed("reset"), 3),
        (QuotaExhausted("insufficient_quota", status=429), 1),
        (SafetyBlocked("blocked by the safety filter"), 1),
        (BadRequest("context too long", status=400), 1),
        (NotFound("no such model", status=404), 1),
        (MalformedReply("not JSON: '<html>'", status=200), 1),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
async def test_what_is_retried(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, error: Exception, attempts: int
) -> None:
    ScriptedProvider.script["p"] = [error] * 3
    config = config_for(tmp_path, [{"id": 1, "prompt": "p"}], max_attempts=3)

    result = await run_experiment(config, log_to_file=False)

    [record] = read_records(result.run_dir).values()
    assert len(ScriptedProvider.sent) == record["attempts"] == attempts
    assert record["error"]["type"] == type(error).error_type  # type: ignore[attr-defined]


async def test_a_retry_goes_to_the_back_of_the_queue(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    ScriptedProvider.script["p0"] = [ServerError("oops", status=500)]
    prompts = [{"id": f"p{i}", "prompt": f"p{i}"} for i in range(4)]

    await run_experiment(config_for(tmp_path, prompts), log_to_file=False)

    assert [prompt for _, prompt in ScriptedProvider.sent] == ["p0", "p1", "p2", "p3", "p0"]


async def test_max_in_flight_caps_requests_awaiting_a_reply(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    ScriptedProvider.latency_s = 5.0
    limits = RateLimits(apis={"scripted": ApiLimit(max_queries=6000, max_in_flight=3)})
    prompts = [{"id": i, "prompt": f"p{i}"} for i in range(9)]

    await run_experiment(config_for(tmp_path, prompts, parallel=True, rate_limits=limits), log_to_file=False)

    starts = [round(at) for at in ScriptedProvider.times()]
    assert starts == [0, 0, 0, 5, 5, 5, 10, 10, 10]
