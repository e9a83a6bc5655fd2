"""The README's examples of reasoning, structured output, tools and streaming, rendered by their providers.

Each prompt line of the README's feature block is resolved as a run resolves it, and its provider
builds the request it would send: the neutral setting comes out in the API's own shape.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from providers import EndpointSettings, JsonApiProvider, ProviderContext, provider_class
from runner import RunConfig
from runner.prompts._resolve import resolve_prompt
from tests.conftest import REPO_ROOT

ENVIRON = {
    "OPENAI_API_KEY": "sk-x",
    "ANTHROPIC_API_KEY": "sk-x",
    "GEMINI_API_KEY": "k",
    "OLLAMA_API_ENDPOINT": "http://127.0.0.1:9",
}


def readme_feature_lines() -> list[dict[str, Any]]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("### Reasoning, structured output, tools and streaming", 1)[1]
    block = re.search(r"```jsonl\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return [json.loads(line) for line in block.group(1).splitlines() if line.strip()]


LINES = {line["id"]: line for line in readme_feature_lines()}


async def rendered(line_id: str) -> dict[str, Any]:
    config = RunConfig.model_validate({"experiment": {"file": "x.jsonl"}, "env_file": None})
    prompt = resolve_prompt(LINES[line_id], config)
    provider_type = provider_class(prompt.api)
    request = prompt.conversation.first_request(prompt.model_name, prompt.parameters)
    assert provider_type.check_request(request) == []
    provider = provider_type(ProviderContext(prompt.model_name, EndpointSettings(), ENVIRON))
    assert isinstance(provider, JsonApiProvider)
    try:
        return await provider.request_body(request)
    finally:
        await provider.aclose()


def test_the_readme_shows_each_feature() -> None:
    assert set(LINES) == {"think", "think-claude", "schema", "tool", "stream"}


@pytest.mark.trio
async def test_reasoning_effort_on_openai() -> None:
    body = await rendered("think")
    assert body["reasoning_effort"] == "low"
    assert body["max_completion_tokens"] == 4000
    assert "max_tokens" not in body
    assert "reasoning" not in body


@pytest.mark.trio
async def test_a_thinking_budget_on_anthropic() -> None:
    body = await rendered("think-claude")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["max_tokens"] > 4096


@pytest.mark.trio
async def test_a_response_schema_on_gemini() -> None:
    body = await rendered("schema")
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == ["city"]
    assert "response_schema" not in json.dumps(body)


@pytest.mark.trio
async def test_tools_on_anthropic() -> None:
    body = await rendered("tool")
    assert body["tools"][0]["name"] == "get_weather"
    assert "input_schema" in body["tools"][0]
    assert body["tool_choice"] == {"type": "any"}


@pytest.mark.trio
async def test_streaming_on_ollama_keeps_options_apart() -> None:
    body = await rendered("stream")
    assert body["options"] == {"num_ctx": 8192}
    assert "stream" not in body.get("options", {})
