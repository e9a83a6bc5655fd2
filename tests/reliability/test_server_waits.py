"""Every wait a server asks for obeys one policy: nothing non-finite, at most MAX_PAUSE_S, and a wait
past QUOTA_WAIT_S is a recorded failure (or, as a rate-limit reset on a reply, not waited for).

Over real HTTP (the real ``openai`` and ``anthropic`` providers against the fake server) the runs are
in real time: each must end at once, so a run that starts a day-long pause fails its deadline instead
of hanging. In virtual time (a scripted provider) the pauses themselves are measured.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import providers
from providers import (
    Completion,
    EndpointSettings,
    ProviderError,
    RateLimited,
    RateLimitState,
    ServerError,
    Usage,
)
from providers._ratelimit import MAX_PAUSE_S, QUOTA_WAIT_S
from runner import ApiLimit, ExperimentConfig, RateLimits, RunConfig, run_experiment
from runner.config._config import ProgressConfig
from tests.fakes import FakeServer, RecordedRequest, Reply
from tests.fakes.replies import anthropic_error, anthropic_message, openai_chat, openai_error
from tests.reliability.conftest import read_records, write_prompts
from tests.reliability.scripted import ScriptedProvider

KEY = "sk-test-waits-0123456789"
REAL_TIME_LIMIT_S = 30.0
"""A run over HTTP here needs well under a second: past this, it is waiting for what the server asked."""


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


class ByPrompt:
    """A responder for the fake server: the replies scripted for a request's last user turn, then success."""

    def __init__(self, success: Callable[[str], Reply]) -> None:
        self.success = success
        self.scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self.seen: list[str] = []

    def __call__(self, request: RecordedRequest) -> Reply:
        prompt = request.json["messages"][-1]["content"]
        self.seen.append(prompt)
        script = self.scripts[prompt]
        return script.popleft() if script else self.success(prompt)

    def count(self, prompt: str) -> int:
        return self.seen.count(prompt)


def http_config(tmp_path: Path, api: str, url: str, prompts: list[str], **settings: Any) -> RunConfig:
    file = write_prompts(tmp_path / "prompts.jsonl", [{"id": p, "prompt": p} for p in prompts])
    values: dict[str, Any] = {
        "experiment": ExperimentConfig(file=file, api=api, model_name="m"),
        "env_file": None,
        "max_queries": 60_000,
        "max_attempts": 3,
        "endpoints": {api: EndpointSettings(base_url=url, api_key_env="WAITS_KEY")},
        "output_dir": tmp_path / "run",
        **settings,
    }
    return RunConfig(**values)


async def run_over_http(config: RunConfig) -> dict[str, dict[str, Any]]:
    with trio.fail_after(REAL_TIME_LIMIT_S):
        result = await run_experiment(config, {"WAITS_KEY": KEY}, log_to_file=False)
    return read_records(result.run_dir)


async def test_a_day_long_retry_after_on_any_status_is_recorded_at_once(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    server = ByPrompt(lambda prompt: openai_chat(f"ok: {prompt}"))
    fake_server.responder = server
    tomorrow = {"retry-after": "86400"}
    server.scripts["503"].append(
        openai_error(503, "Down for maintenance", type="server_error", headers=tomorrow)
    )
    server.scripts["529"].append(openai_error(529, "Overloaded", type="server_error", headers=tomorrow))
    server.scripts["huge"].append(
        openai_error(503, "Down", type="server_error", headers={"retry-after": "1e300"})
    )
    server.scripts["429"].append(
        openai_error(429, "Rate limit reached", code="rate_limit_exceeded", headers=tomorrow)
    )
    prompts = ["503", "529", "huge", "429", "bystander"]

    records = await run_over_http(http_config(tmp_path, "openai", fake_server.url("/v1"), prompts))

    for prompt in ("503", "529", "huge"):
        error = records[prompt]["error"]
        assert (error["type"], records[prompt]["attempts"]) == ("server_error", 1), prompt
        assert f"past the {QUOTA_WAIT_S:.0f}s a run waits" in error["message"]
    assert "asks to wait 86400s" in records["503"]["error"]["message"]
    assert records["429"]["error"]["type"] == "quota_exhausted"
    assert records["bystander"]["response"] == "ok: bystander"
    assert [server.count(prompt) for prompt in prompts] == [1] * 5


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "inf"},
        {"retry-after": "nan"},
        {"retry-after-ms": "infinity"},
        {"retry-after": "1e999"},
    ],
    ids=lambda headers: "=".join(*headers.items()),
)
async def test_a_non_finite_retry_after_is_ignored(
    tmp_path: Path, fake_server: FakeServer, headers: dict[str, str]
) -> None:
    server = ByPrompt(lambda prompt: openai_chat(f"ok: {prompt}"))
    fake_server.responder = server
    server.scripts["p"].append(openai_error(503, "Overloaded", type="server_error", headers=headers))

    records = await run_over_http(http_config(tmp_path, "openai", fake_server.url("/v1"), ["p"]))

    assert (records["p"]["response"], records["p"]["attempts"]) == ("ok: p", 2)


async def test_a_day_long_openai_reset_on_a_reply_does_not_stall_the_queue(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    spent = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "24h0m0s"}
    fake_server.responder = ByPrompt(lambda prompt: openai_chat(f"ok: {prompt}", headers=spent))
    limits = RateLimits(apis={"openai": ApiLimit(max_queries=60_000, max_in_flight=1)})  # one after another
    prompts = [f"p{i}" for i in range(4)]
    config = http_config(
        tmp_path, "openai", fake_server.url("/v1"), prompts, parallel=True, rate_limits=limits
    )

    records = await run_over_http(config)

    assert [records[prompt]["response"] for prompt in prompts] == [f"ok: {p}" for p in prompts]


async def test_a_day_long_anthropic_reset_or_retry_after_does_not_stall_the_queue(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    spent = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2099-01-01T00:00:00Z",
    }
    server = ByPrompt(lambda prompt: anthropic_message(f"ok: {prompt}", headers=spent))
    fake_server.responder = server
    server.scripts["529"].append(
        anthropic_error(529, "overloaded_error", "Overloaded", headers={"retry-after": "86400"})
    )
    limits = RateLimits(apis={"anthropic": ApiLimit(max_queries=60_000, max_in_flight=1)})
    prompts = ["p0", "529", "p1", "p2"]
    config = http_config(
        tmp_path, "anthropic", fake_server.base_url, prompts, parallel=True, rate_limits=limits
    )

    records = await run_over_http(config)

    assert [records[prompt]["response"] for prompt in ("p0", "p1", "p2")] == ["ok: p0", "ok: p1", "ok: p2"]
    assert (records["529"]["error"]["type"], records["529"]["attempts"]) == ("server_error", 1)


# -- in virtual time, with a scripted provider: how long the queue actually pauses -------------------


@pytest.fixture
def scripted() -> Iterator[type[ScriptedProvider]]:
    ScriptedProvider.reset()
    providers.register(ScriptedProvider)
    try:
        yield ScriptedProvider
    finally:
        providers.unregister(ScriptedProvider.api)


def scripted_config(tmp_path: Path, prompts: list[str], **settings: Any) -> RunConfig:
    file = write_prompts(tmp_path / "prompts.jsonl", [{"id": p, "prompt": p} for p in prompts])
    values: dict[str, Any] = {
        "experiment": ExperimentConfig(file=file, api="scripted", model_name="m"),
        "env_file": None,
        "max_queries": 60,  # a permit a second
        "output_dir": tmp_path / "run",
        **settings,
    }
    return RunConfig(**values)


async def run_scripted(config: RunConfig) -> dict[str, dict[str, Any]]:
    with trio.fail_after(10 * QUOTA_WAIT_S):  # virtual seconds: a stalled queue fails, it does not hang
        result = await run_experiment(config, log_to_file=False)
    return read_records(result.run_dir)


@pytest.mark.parametrize(
    "error",
    [
        ServerError("down", status=503, retry_after=1800.0),
        RateLimited("slow down", status=429, retry_after=1800.0),
    ],
    ids=["503", "429"],
)
async def test_a_wait_asked_for_is_capped(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    scripted: type[ScriptedProvider],
    error: ProviderError,
) -> None:
    scripted.script["p"] = [error]

    records = await run_scripted(scripted_config(tmp_path, ["p"]))

    assert scripted.times("p") == [0.0, pytest.approx(MAX_PAUSE_S)]  # not the 1800 s asked for
    assert records["p"]["error"] is None


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        (ServerError("come back tomorrow", status=503, retry_after=86400.0), "server_error"),
        (ServerError("overloaded", status=529, retry_after=1e300), "server_error"),
        # a provider of the user's own, which did not classify a day-long 429 as a quota itself
        (RateLimited("slow down", status=429, retry_after=86400.0), "quota_exhausted"),
    ],
    ids=["503", "529 huge", "429"],
)
async def test_a_wait_past_the_quota_threshold_from_any_provider_is_recorded(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    scripted: type[ScriptedProvider],
    error: ProviderError,
    error_type: str,
) -> None:
    scripted.script["p"] = [error]

    records = await run_scripted(scripted_config(tmp_path, ["p", "q", "r"]))

    assert (records["p"]["error"]["type"], records["p"]["attempts"]) == (error_type, 1)
    assert "asks to wait" in records["p"]["error"]["message"]
    assert scripted.times() == [0.0, 1.0, 2.0]  # nobody waited


@pytest.mark.parametrize(
    "error",
    [
        ServerError("overloaded", status=503, retry_after=math.inf),
        ServerError("overloaded", status=529, retry_after=math.nan),
        RateLimited("slow down", status=429, retry_after=math.inf),
        ServerError("overloaded", status=503, retry_after=-5.0),
    ],
    ids=["inf", "nan", "429 inf", "negative"],
)
async def test_a_non_finite_wait_neither_hangs_the_queue_nor_crashes_the_progress_display(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    scripted: type[ScriptedProvider],
    error: ProviderError,
) -> None:
    scripted.script["p"] = [error]
    config = scripted_config(tmp_path, ["p"], progress=ProgressConfig(mode="plain", interval_s=1.0))

    records = await run_scripted(config)

    assert (records["p"]["response"], records["p"]["attempts"]) == ("ok: p", 2)
    assert scripted.times("p")[1] <= 1.0  # a rate limit's own backoff, not the server's number


def reply_with(state: RateLimitState) -> Completion:
    return Completion("ok", "stop", Usage(1, 1), rate_limit=state)


@pytest.mark.parametrize(
    ("state", "then_sent_at"),
    [
        (RateLimitState(remaining_requests=0, reset_requests_s=86400.0), [1.0, 2.0]),  # a quota: no wait
        (RateLimitState(remaining_requests=0, reset_requests_s=math.inf), [1.0, 2.0]),
        (RateLimitState(remaining_tokens=0, reset_tokens_s=math.nan), [1.0, 2.0]),
        (RateLimitState(remaining_requests=1, reset_requests_s=86400.0), [1.0, 2.0]),  # nor a day apart
        (RateLimitState(remaining_requests=0, reset_requests_s=1800.0), [MAX_PAUSE_S, MAX_PAUSE_S + 1]),
        (RateLimitState(remaining_tokens=0, reset_tokens_s=30.0), [30.0, 31.0]),  # an ordinary reset
    ],
    ids=["day", "inf", "nan", "spacing", "capped", "ordinary"],
)
async def test_rate_limit_resets_on_a_reply_obey_the_same_policy(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    scripted: type[ScriptedProvider],
    state: RateLimitState,
    then_sent_at: list[float],
) -> None:
    scripted.script["first"] = [reply_with(state)]

    records = await run_scripted(scripted_config(tmp_path, ["first", "second", "third"]))

    assert scripted.times() == [0.0, *map(pytest.approx, then_sent_at)]
    assert all(record["error"] is None for record in records.values())
