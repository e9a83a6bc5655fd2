"""Input tokens (tiktoken for OpenAI's models, else an estimate) and the output a request may generate."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
import tiktoken

from providers import ChatRequest, Message
from runner.config._log import LOGGER_NAME
from runner.costs import input_tokens, output_allowance
from runner.costs._tokens import EXPECTED_OUTPUT_TOKENS, tokenizer_notices
from tests.costs.conftest import make_config

REQUEST = ChatRequest(
    "gpt-4o-mini", (Message("system", "You are terse."), Message("user", "What is the capital of France?"))
)
CHARACTERS = len("You are terse.") + len("What is the capital of France?")


def _byte_encoding() -> tiktoken.Encoding:
    """A real tiktoken encoding, made offline: one token per byte."""
    return tiktoken.Encoding(
        name="bytes",
        pat_str=r"[\s\S]",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={},
    )


def test_offline_tiktoken_falls_back_to_an_estimate_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def offline(name: str) -> Any:
        calls.append(name)
        raise ConnectionError("Failed to resolve 'openaipublic.blob.core.windows.net'")

    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        for _ in range(3):
            assert input_tokens("openai", "gpt-4o-mini", REQUEST) == (CHARACTERS // 4 + 2 * 4, False)
            assert input_tokens("azure-openai", "gpt-4o", REQUEST) == (CHARACTERS // 4 + 2 * 4, False)
    assert calls == ["o200k_base"]  # tried once, not per request
    (notice,) = tokenizer_notices()
    assert "OpenAI input tokens are estimated (characters / 4)" in notice
    assert "o200k_base" in notice
    assert [record.getMessage() for record in caplog.records] == [notice]


def test_without_tiktoken_the_notice_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import tiktoken raises ImportError
    assert input_tokens("openai", "gpt-4o-mini", REQUEST) == (CHARACTERS // 4 + 8, False)
    assert tokenizer_notices() == [
        "OpenAI input tokens are estimated (characters / 4): install the tokens extra "
        "(pip install 'prompto-run[tokens]') to count them with tiktoken"
    ]


def test_tiktoken_counts_openai_models_in_the_chat_format(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []

    def get_encoding(name: str) -> tiktoken.Encoding:
        loaded.append(name)
        return _byte_encoding()

    monkeypatch.setattr(tiktoken, "get_encoding", get_encoding)
    # each message's tokens, 3 per message, 3 to prime the reply
    assert input_tokens("openai", "gpt-4o-mini", REQUEST) == (CHARACTERS + 2 * 3 + 3, True)
    assert input_tokens("openai", "gpt-3.5-turbo", REQUEST) == (CHARACTERS + 9, True)
    # a name tiktoken does not know (an Azure deployment) is counted with its newest encoding, as an estimate
    assert input_tokens("azure-openai", "my-deployment", REQUEST) == (CHARACTERS + 9, False)
    assert loaded == ["o200k_base", "cl100k_base"]
    assert tokenizer_notices() == []


def test_other_apis_are_estimated() -> None:
    request = ChatRequest("m", (Message("user", "x" * 401),))
    for api in ("anthropic", "gemini", "ollama", "openai-compatible"):
        assert input_tokens(api, "m", request) == (100 + 4, False)


@pytest.mark.parametrize(
    ("api", "parameters", "allowance"),
    [
        ("openai", {}, (EXPECTED_OUTPUT_TOKENS, 16_384)),
        ("openai", {"max_tokens": 100}, (100, 100)),
        ("openai", {"max_completion_tokens": 5_000}, (EXPECTED_OUTPUT_TOKENS, 5_000)),
        ("azure-openai", {"max_tokens": 700}, (EXPECTED_OUTPUT_TOKENS, 700)),
        ("openai-compatible", {"max_tokens": 40}, (40, 40)),
        ("huggingface-tgi", {"max_new_tokens": 90}, (90, 90)),
        ("anthropic", {}, (EXPECTED_OUTPUT_TOKENS, 4_096)),
        ("anthropic", {"max_tokens": 1_000}, (EXPECTED_OUTPUT_TOKENS, 1_000)),
        # max_tokens counts the thinking: the worst case stays the cap
        (
            "anthropic",
            {"max_tokens": 16_000, "thinking": {"type": "enabled", "budget_tokens": 10_000}},
            (10_256, 16_000),
        ),
        ("gemini", {}, (EXPECTED_OUTPUT_TOKENS, 8_192)),
        ("gemini", {"max_output_tokens": 64}, (64, 64)),
        ("vertexai", {"generation_config": {"maxOutputTokens": 2_000}}, (EXPECTED_OUTPUT_TOKENS, 2_000)),
        ("gemini", {"thinking_config": {"thinking_budget": 1_024}}, (1_280, 8_192 + 1_024)),
        ("openai", {"reasoning": {"budget_tokens": 3_000}}, (3_256, 16_384 + 3_000)),
        ("ollama", {}, (EXPECTED_OUTPUT_TOKENS, 4_096)),
        ("ollama", {"num_predict": 30}, (30, 30)),
        ("ollama", {"options": {"num_predict": 300}}, (EXPECTED_OUTPUT_TOKENS, 300)),
        ("llamacpp", {}, (EXPECTED_OUTPUT_TOKENS, 256)),
        ("simulated", {}, (64, 64)),
        ("my-own-api", {"max_new_tokens": 77}, (77, 77)),
        ("my-own-api", {}, (EXPECTED_OUTPUT_TOKENS, 4_096)),
    ],
)
def test_output_allowance_per_api(api: str, parameters: dict[str, Any], allowance: tuple[int, int]) -> None:
    assert output_allowance(api, "m", parameters, make_config()) == allowance


def test_declared_expected_output_tokens_refine_the_expectation() -> None:
    run = make_config(expected_output_tokens=40)
    assert output_allowance("openai", "gpt-4o", {"max_tokens": 100}, run) == (40, 100)
    assert output_allowance("openai", "gpt-4o", {"max_tokens": 10}, run) == (10, 10)  # never above the cap
    model = make_config(
        expected_output_tokens=40,
        model={"api": "openai", "model_name": "gpt-4o", "expected_output_tokens": 900},
    )
    assert output_allowance("openai", "gpt-4o", {}, model) == (900, 16_384)
    assert output_allowance("openai", "gpt-4o-mini", {}, model) == (40, 16_384)  # another model: the run's
