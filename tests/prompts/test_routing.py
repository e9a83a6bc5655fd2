"""Queue keys: which queue a prompt (or a stage's model) waits in, the name it shows everywhere
(``summary.json``, progress, logs, Redis buckets) and the pace it is sent at."""

from __future__ import annotations

from typing import Any

import pytest

from runner.config._config import RunConfig
from runner.config._eval_config import StageModel
from runner.prompts._resolve import resolve_prompt
from runner.prompts._routing import QueueKey, queue_limit, record_queue, stage_queue_key

RATE_LIMITS = {
    "apis": {"openai": {"max_queries": 500, "models": {"gpt-4o": {"max_in_flight": 3}}}, "gemini": 300},
    "groups": {"judges": 30},
}


def _config(**settings: Any) -> RunConfig:
    return RunConfig.model_validate(
        {"experiment": {"file": "p.jsonl"}, "max_queries": 7, "rate_limits": RATE_LIMITS, **settings}
    )


@pytest.mark.parametrize(
    ("prompt", "name", "max_queries", "max_in_flight"),
    [
        ({"api": "openai", "model_name": "gpt-4o"}, "openai/gpt-4o", 500, 3),  # the api's rate, its own cap
        ({"api": "openai", "model_name": "gpt-4o-mini"}, "openai", 500, None),
        ({"api": "gemini", "model_name": "flash"}, "gemini", 300, None),
        ({"api": "ollama", "model_name": "llama3"}, "ollama", 7, None),  # unnamed: max_queries
        ({"api": "openai", "model_name": "gpt-4o", "group": "judges"}, "group:judges", 30, None),
        ({"api": "openai", "model_name": "gpt-4o", "group": 7}, "group:7", 7, None),
    ],
)
def test_in_parallel_mode_a_prompt_waits_in_its_groups_models_or_apis_queue(
    prompt: dict[str, Any], name: str, max_queries: float, max_in_flight: int | None
) -> None:
    config = _config(parallel=True)

    key = resolve_prompt({"id": 1, "prompt": "hi", **prompt}, config).queue

    assert str(key) == name
    limit = queue_limit(config, key)
    assert (limit.max_queries, limit.max_in_flight) == (max_queries, max_in_flight)
    assert record_queue(config, {"id": 1, **prompt, "response": "ok"}) == key


def test_without_parallel_every_prompt_shares_the_default_queue() -> None:
    config = _config()
    keys = {
        resolve_prompt({"id": 1, "prompt": "hi", **target}, config).queue
        for target in (
            {"api": "openai", "model_name": "gpt-4o"},
            {"api": "gemini", "model_name": "flash", "group": "judges"},
        )
    }
    assert keys == {QueueKey()}
    assert str(QueueKey()) == "default"
    assert queue_limit(_config(), QueueKey()).max_queries == 7


def test_a_stages_model_has_its_own_queue_paced_by_its_api() -> None:
    config = _config(parallel=True)

    key = stage_queue_key("judge", "grade", StageModel(api="openai", model_name="gpt-4o"))

    assert str(key) == "judge:grade/gpt-4o"
    assert (
        key
        != resolve_prompt({"id": 1, "prompt": "hi", "api": "openai", "model_name": "gpt-4o"}, config).queue
    )
    limit = queue_limit(config, key)  # the api's limit: the model's own entry is for the experiment's queue
    assert (limit.max_queries, limit.max_in_flight) == (500, None)
    rephrase = stage_queue_key("rephrase", "reword", StageModel(api="ollama", model_name="llama3"))
    assert (str(rephrase), queue_limit(config, rephrase).max_queries) == ("rephrase:reword/llama3", 7)
