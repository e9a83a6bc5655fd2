"""Every request body ``anthropic`` builds, for each prompt form and parameter the README documents and
each neutral feature, conforms to the Messages API's request schema (closed objects, written from the
SDK's request types: :mod:`tests.providers.specs_anthropic_ollama`). Also: the media-option bug of issue 18
(OpenAI's ``detail`` copied into Anthropic's closed image block) and what is refused before the run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from providers import ChatRequest, Message, Provider
from providers._anthropic.features import SAMPLING, thinking_mode
from providers.anthropic import AnthropicProvider
from runner.prompts._conversation import parse_prompt
from tests.providers.conftest import MakeProvider
from tests.providers.specs_anthropic_ollama import anthropic_request_validator, problems

SONNET_45, SONNET_46, OPUS_47 = "claude-sonnet-4-5", "claude-sonnet-4-6", "claude-opus-4-7"
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["answer", "confidence"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
PROMPTS: dict[str, Any] = {
    "string": "Hello",
    "list of strings (first turn)": ["Hi", "How are you?"],
    "chat with system": [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "How are you?"},
    ],
    "image url with OpenAI's detail": [
        {
            "role": "user",
            "content": [
                "What is this?",
                {"type": "image", "url": "https://example.com/cat.jpg", "detail": "low"},
            ],
        }
    ],
    "image with cache_control": [
        {
            "role": "user",
            "content": [
                {"type": "image", "media": "cat.png", "cache_control": {"type": "ephemeral"}},
                "What?",
            ],
        }
    ],
    "prompto's parts": [
        {
            "role": "user",
            "parts": ["What is this?", {"type": "image", "media": "cat.png", "mime_type": "image/png"}],
        }
    ],
    "prompto's image_url": [
        {"role": "user", "content": [{"type": "image_url", "image_url": "cat.png"}, "What?"]}
    ],
    "anthropic's source": [
        {"role": "user", "content": [{"type": "image", "source": {"media": "cat.png"}}, "What is this?"]}
    ],
    "prompto's images list": [{"role": "user", "content": "What is this?", "images": ["cat.png"]}],
    "pdf document with title, citations and Gemini's videoMetadata": [
        {
            "role": "user",
            "content": [
                {
                    "type": "document",
                    "media": "paper.pdf",
                    "mime_type": "application/pdf",
                    "title": "The paper",
                    "citations": {"enabled": True},
                    "videoMetadata": {"fps": 1},
                },
                "Summarise it.",
            ],
        }
    ],
    "pdf by URL": [
        {"role": "user", "content": [{"type": "document", "url": "https://example.com/a.pdf"}, "Summarise."]}
    ],
}
TYPICAL = {
    "max_tokens": 512,
    "temperature": 0.2,
    "top_p": 0.9,
    "top_k": 40,
    "stop_sequences": ["END"],
    "metadata": {"user_id": "study-1"},
}
PARAMETERS: dict[str, dict[str, Any]] = {
    "none": {},
    "typical": TYPICAL,
    "reasoning budget below max_tokens": {"reasoning": {"budget_tokens": 2048}, "max_tokens": 8192},
    "reasoning budget above max_tokens": {"reasoning": {"budget_tokens": 4096}, "max_tokens": 1024},
    "reasoning effort": {"reasoning": {"effort": "low"}},
    "reasoning effort minimal, top_p 0.95": {"reasoning": {"effort": "minimal"}, "top_p": 0.95},
    "response_schema": {"response_schema": SCHEMA, "temperature": 0},
    "response_schema with effort": {"response_schema": SCHEMA, "reasoning": {"effort": "high"}},
    "tools, auto": {"tools": [WEATHER], "tool_choice": "auto"},
    "tools, required": {"tools": [WEATHER], "tool_choice": "required"},
    "tools, none": {"tools": [WEATHER], "tool_choice": "none"},
    "tools, named": {"tools": [WEATHER], "tool_choice": "get_weather"},
    "bare tool without parameters": {"tools": [{"name": "now", "description": "The time"}]},
    "stream": {"stream": True, **TYPICAL},
    "everything": {
        "max_tokens": 2048,
        "stop_sequences": ["END"],
        "reasoning": {"effort": "high"},
        "response_schema": SCHEMA,
        "tools": [WEATHER],
        "tool_choice": "auto",
        "stream": True,
    },
}


@pytest.fixture
def data_media(media_dir: Path) -> Path:
    (media_dir / "paper.pdf").write_bytes(b"%PDF-1.4 fake")
    return media_dir


def build(make_provider: MakeProvider, model: str) -> AnthropicProvider:
    provider = make_provider("anthropic", model, env={"ANTHROPIC_API_KEY": "k"})
    assert isinstance(provider, AnthropicProvider)
    return provider


def applicable(parameters: dict[str, Any], model: str) -> dict[str, Any]:
    """``parameters`` as a study would set them for ``model``: no sampling on Claude 4.7+, no budget there."""
    if thinking_mode(model) != "adaptive":
        return parameters
    kept = {name: value for name, value in parameters.items() if name not in SAMPLING}
    if "budget_tokens" in kept.get("reasoning", {}):
        kept["reasoning"] = {"effort": "medium"}
    return kept


async def body_of(provider: Provider, request: ChatRequest) -> dict[str, Any]:
    assert isinstance(provider, AnthropicProvider)
    assert provider.check_request(request) == []
    return await provider.request_body(request)


@pytest.mark.parametrize("model", [SONNET_45, SONNET_46, OPUS_47])
@pytest.mark.parametrize("parameters", PARAMETERS.values(), ids=PARAMETERS.keys())
@pytest.mark.parametrize("prompt", PROMPTS.values(), ids=PROMPTS.keys())
async def test_every_prompt_form_and_parameter_conforms(
    make_provider: MakeProvider, data_media: Path, prompt: Any, parameters: dict[str, Any], model: str
) -> None:
    request = parse_prompt(prompt, data_media).first_request(model, applicable(parameters, model))
    body = await body_of(build(make_provider, model), request)
    assert problems(anthropic_request_validator(), body) == []


async def test_later_turns_of_a_list_of_strings_conform(make_provider: MakeProvider) -> None:
    history = (Message("user", "Hi"), Message("assistant", "Hello."), Message("user", "How are you?"))
    body = await body_of(build(make_provider, SONNET_45), ChatRequest(SONNET_45, history, TYPICAL))
    assert problems(anthropic_request_validator(), body) == []


async def test_openai_detail_is_dropped_with_one_warning(
    make_provider: MakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18: ``detail`` was copied into the image block, which Anthropic's schema closes (422)."""
    prompt = PROMPTS["image url with OpenAI's detail"]
    request = parse_prompt(prompt, Path("/nonexistent")).first_request(SONNET_45, {})
    provider = build(make_provider, SONNET_45)
    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        first = await body_of(provider, request)
        await body_of(provider, request)
    assert first["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
    }
    assert problems(anthropic_request_validator(), first) == []
    warnings = [record for record in caplog.records if "'detail'" in record.getMessage()]
    assert len(warnings) == 1


async def test_block_fields_anthropic_defines_are_kept(make_provider: MakeProvider, data_media: Path) -> None:
    prompt = PROMPTS["pdf document with title, citations and Gemini's videoMetadata"]
    request = parse_prompt(prompt, data_media).first_request(SONNET_45, {})
    block = (await body_of(build(make_provider, SONNET_45), request))["messages"][0]["content"][0]
    assert set(block) == {"type", "source", "title", "citations"}


def test_the_validator_refuses_what_the_api_refuses() -> None:
    """A green run means something: an unknown field anywhere fails validation."""
    body = {
        "model": SONNET_45,
        "max_tokens": 10,
        "reasoning": {"effort": "low"},
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image", "source": {"type": "url", "url": "u"}, "detail": "x"}],
            }
        ],
        "thinking": {"type": "enabled", "budget_tokens": 512},
        "output_config": {"format": {"type": "json_object"}},
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }
    found = "\n".join(problems(anthropic_request_validator(), body))
    for where in (
        "(body): Additional properties",
        "messages/0/content",
        "thinking",
        "output_config",
        "tools/0",
    ):
        assert where in found
    assert problems(anthropic_request_validator(), {"model": SONNET_45, "messages": []})


@pytest.mark.parametrize(
    ("model", "parameters", "expected"),
    [
        (OPUS_47, {"temperature": 0.2}, "temperature is not accepted by claude-opus-4-7"),
        (OPUS_47, {"top_p": 0.9}, "top_p is not accepted by claude-opus-4-7"),
        (OPUS_47, {"reasoning": {"budget_tokens": 2048}}, "takes no thinking budget"),
        ("claude-mythos-preview", {"reasoning": {"budget_tokens": 2048}}, "takes no thinking budget"),
        (SONNET_45, {"reasoning": {"budget_tokens": 512}}, "at least 1024"),
        (SONNET_45, {"reasoning": {"effort": "low"}, "temperature": 0.2}, "temperature cannot be set"),
        (SONNET_46, {"reasoning": {"effort": "low"}, "top_k": 5}, "top_k cannot be set"),
        (SONNET_45, {"reasoning": {"effort": "low"}, "top_p": 0.5}, "top_p must be between 0.95 and 1"),
        (
            SONNET_45,
            {"reasoning": {"effort": "low"}, "tools": [WEATHER], "tool_choice": "required"},
            "forces a tool",
        ),
        (SONNET_45, {"tools": [WEATHER], "tool_choice": "get_time"}, "names no tool of the request"),
        (SONNET_45, {"reasoning": {"effort": "extreme"}}, "reasoning.effort must be one of"),
    ],
)
def test_what_anthropic_refuses_is_said_before_the_run(
    model: str, parameters: dict[str, Any], expected: str
) -> None:
    request = ChatRequest(model, (Message("user", "Hi"),), parameters)
    found = AnthropicProvider.check_request(request)
    assert len(found) == 1
    assert expected in found[0]


def test_sampling_without_thinking_is_fine_before_claude_4_7() -> None:
    for model in (SONNET_45, SONNET_46, "claude-3-7-sonnet-20250219", "claude-sonnet-4-20250514"):
        request = ChatRequest(model, (Message("user", "Hi"),), {"temperature": 0.2, "top_k": 5})
        assert AnthropicProvider.check_request(request) == []


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ("claude-3-7-sonnet-20250219", "manual"),
        ("claude-sonnet-4-20250514", "manual"),
        ("claude-opus-4-1-20250805", "manual"),
        ("claude-haiku-4-5", "manual"),
        ("claude-sonnet-4-6", "both"),
        ("anthropic.claude-opus-4-6-v1", "both"),
        ("claude-opus-4-7", "adaptive"),
        ("claude-sonnet-5", "adaptive"),
        ("claude-opus-5-1", "adaptive"),
        ("claude-mythos-preview", "adaptive"),
        ("my-finetune", "manual"),
    ],
)
def test_thinking_mode_by_model_name(model: str, mode: str) -> None:
    assert thinking_mode(model) == mode


async def test_a_batched_stream_request_is_sent_unstreamed(make_provider: MakeProvider) -> None:
    """``stream`` is a transport detail the streaming path adds: a batch's params never carry it."""
    request = ChatRequest(SONNET_45, (Message("user", "Hi"),), {"stream": True})
    assert "stream" not in await body_of(build(make_provider, SONNET_45), request)
