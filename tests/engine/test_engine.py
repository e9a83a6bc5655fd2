"""The engine end to end in virtual time: schedule, retries, auth stops, records as they arrive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from providers import AuthError, BadRequest, RateLimited, ServerError
from runner import RunConfig, run_experiment
from tests.conftest import Script, read_jsonl, write_jsonl


def make_config(workspace: Path, rows: list[dict[str, Any]], **settings: Any) -> RunConfig:
    write_jsonl(workspace / "data" / "input" / "exp.jsonl", rows)
    return RunConfig.model_validate(
        {
            "experiment": {"file": "exp.jsonl"},
            "output_dir": str(workspace / "run"),
            "env_file": None,
            **settings,
        }
    )


def prompts(*texts: str, **keys: Any) -> list[dict[str, Any]]:
    return [{"id": text, "prompt": text, "api": "recording", "model_name": "m", **keys} for text in texts]


async def test_record_keeps_every_input_key_and_adds_the_outcome(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    row = {
        "id": 7,
        "prompt": "hi there",
        "api": "recording",
        "model_name": "m",
        "group": "g",
        "topic": {"x": 1},
    }
    config = make_config(workspace, [row])

    result = await run_experiment(config)

    [record] = read_jsonl(result.completed_file)
    assert {k: record[k] for k in row} == row
    assert record["parameters"] == {}
    assert record["response"] == "m says hi there"
    assert record["error"] is None
    assert record["attempts"] == 1
    assert record["usage"] == {"input_tokens": 2, "output_tokens": 4}
    assert record["finish_reason"] == "stop"
    assert record["timestamp_sent"].endswith("+00:00")
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert summary["queues"]["default"]["ok"] == 1


async def test_sends_at_exact_intervals_per_queue_with_slow_replies(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    recording.latency_s = 5.0  # much slower than either interval: requests overlap
    rows = prompts("a1", "a2", "a3", "a4", group="fast") + prompts("b1", "b2", "b3", group="slow")
    config = make_config(
        workspace, rows, parallel=True, rate_limits={"groups": {"fast": 120, "slow": 30}}, max_queries=1
    )
    start = trio.current_time()

    await run_experiment(config)

    times = {sent.prompt: sent.at - start for sent in recording.sent}
    assert [times[p] for p in ("a1", "a2", "a3", "a4")] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert [times[p] for p in ("b1", "b2", "b3")] == pytest.approx([0.0, 2.0, 4.0])


async def test_single_queue_when_not_parallel(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    rows = prompts("a", group="x") + prompts("b", group="y") + prompts("c")
    config = make_config(workspace, rows, max_queries=60)
    start = trio.current_time()

    result = await run_experiment(config)

    assert [round(s.at - start, 6) for s in recording.sent] == [0.0, 1.0, 2.0]
    assert list(result.summary["queues"]) == ["default"]


async def test_failed_attempt_goes_to_the_back_of_its_queue(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    recording.outcomes["a"] = [ServerError("boom", status=500)]
    config = make_config(workspace, prompts("a", "b", "c"), max_queries=60)

    result = await run_experiment(config)

    assert [sent.prompt for sent in recording.sent] == ["a", "b", "c", "a"]
    by_id = {r["id"]: r for r in read_jsonl(result.completed_file)}
    assert by_id["a"]["attempts"] == 2
    assert by_id["a"]["error"] is None
    assert result.summary["queues"]["default"]["retried"] == 1


async def test_error_recorded_after_the_last_attempt(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    recording.outcomes["a"] = [ServerError("down", status=503) for _ in range(5)]
    config = make_config(workspace, prompts("a"), max_attempts=3, max_queries=600)

    result = await run_experiment(config)

    [record] = read_jsonl(result.completed_file)
    assert record["attempts"] == 3
    assert record["response"] is None
    assert record["error"] == {"type": "server_error", "message": "down", "status": 503}
    assert len(recording.sent) == 3


async def test_bad_request_is_not_retried(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    recording.outcomes["a"] = [BadRequest("context too long", status=400)]
    config = make_config(workspace, prompts("a"))

    result = await run_experiment(config)

    [record] = read_jsonl(result.completed_file)
    assert (record["attempts"], record["error"]["type"]) == (1, "bad_request")
    assert len(recording.sent) == 1


async def test_rate_limit_pauses_the_queue_for_retry_after(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    recording.outcomes["a"] = [RateLimited("slow down", status=429, retry_after=20.0)]
    config = make_config(workspace, prompts("a", "b"), max_queries=60)
    start = trio.current_time()

    await run_experiment(config)

    sends = [(s.prompt, round(s.at - start, 3)) for s in recording.sent]
    assert sends[0] == ("a", 0.0)
    assert all(at >= 20.0 for _, at in sends[1:]), sends


async def test_auth_failure_stops_only_its_queue(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    recording.outcomes["k1"] = [AuthError("invalid api key", status=401)]
    rows = prompts("k1", "k2", "k3", group="bad") + prompts("o1", "o2", group="good")
    config = make_config(workspace, rows, parallel=True, max_queries=60)

    result = await run_experiment(config)

    assert sorted(s.prompt for s in recording.sent) == ["k1", "o1", "o2"]
    by_id = {r["id"]: r for r in read_jsonl(result.completed_file)}
    assert by_id["k1"]["error"]["type"] == "auth"
    for prompt_id in ("k2", "k3"):
        assert by_id[prompt_id]["error"]["type"] == "not_sent"
        assert "auth failure" in by_id[prompt_id]["error"]["message"]
        assert by_id[prompt_id]["attempts"] == 0
    assert by_id["o1"]["error"] is None
    assert by_id["o2"]["error"] is None
    assert result.summary["queues"]["group:bad"]["not_sent"] == 2


async def test_records_are_on_disk_as_soon_as_they_finish(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    recording.gates["slow"] = trio.Event()
    config = make_config(workspace, prompts("slow", "fast"), max_queries=600)
    seen_while_slow_pending: list[list[str]] = []

    async def watch() -> None:
        await trio.sleep(30)
        completed = workspace / "run" / "completed.jsonl"
        seen_while_slow_pending.append([r["id"] for r in read_jsonl(completed)])
        recording.gates["slow"].set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        result = await run_experiment(config)

    assert seen_while_slow_pending == [["fast"]]
    assert [r["id"] for r in read_jsonl(result.completed_file)] == ["fast", "slow"]


async def test_multi_turn_prompt_sends_each_turn_with_the_replies_so_far(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    rows = [{"id": "chat", "prompt": ["one", "two"], "api": "recording", "model_name": "m"}]
    config = make_config(workspace, rows, max_queries=60)

    result = await run_experiment(config)

    assert [s.messages for s in recording.sent] == [
        (("user", "one"),),
        (("user", "one"), ("assistant", "m says one"), ("user", "two")),
    ]
    assert recording.sent[1].at - recording.sent[0].at == pytest.approx(1.0)  # one permit per turn
    [record] = read_jsonl(result.completed_file)
    assert record["response"] == ["m says one", "m says two"]


async def test_history_prompt_keeps_system_and_roles(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    history = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
    ]
    config = make_config(workspace, [{"id": 1, "prompt": history, "api": "recording", "model_name": "m"}])

    await run_experiment(config)

    assert recording.sent[0].messages == (
        ("system", "be brief"),
        ("user", "hi"),
        ("assistant", "hello"),
        ("user", "bye"),
    )


async def test_model_config_fills_prompts_that_name_no_model(
    workspace: Path, recording: Script, autojump_clock: trio.testing.MockClock
) -> None:
    rows = [{"id": 1, "prompt": "x"}, {"id": 2, "prompt": "y", "api": "recording", "model_name": "own"}]
    model = {"api": "recording", "model_name": "swept", "parameters": {"temperature": 0}}
    config = make_config(workspace, rows, model=model)

    result = await run_experiment(config)

    by_id = {r["id"]: r for r in read_jsonl(result.completed_file)}
    assert (by_id[1]["model_name"], by_id[1]["parameters"]) == ("swept", {"temperature": 0})
    assert (by_id[2]["model_name"], by_id[2]["parameters"]) == ("own", {})
