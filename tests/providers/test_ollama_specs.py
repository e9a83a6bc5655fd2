"""Every request body ``ollama`` builds, for each prompt form and parameter the README documents and each
neutral feature, conforms to ``/api/chat``'s request (Ollama's OpenAPI document, closed with the Go types
the server decodes: :mod:`tests.providers.specs_anthropic_ollama`). Also: the request-level-field bug of
issue 18 (``logprobs``, ``top_logprobs``, ``truncate``, ``shift`` sent under ``options``, where Ollama
drops them), one test per field of Ollama's ``ChatRequest``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from providers import ChatRequest, Message
from providers._ollama.options import REQUEST_LEVEL
from providers.ollama import OllamaProvider
from runner.prompts._conversation import parse_prompt
from tests.providers.conftest import MakeProvider
from tests.providers.specs_anthropic_ollama import go_json_fields, ollama_request_validator, problems
from tests.providers.specs_plain_prompt import generate_validator

LLAMA, GPT_OSS, QWEN = "llama3.2", "gpt-oss:20b", "qwen3:8b"
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
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
    "local image": [{"role": "user", "content": [{"type": "image", "media": "cat.png"}, "What is this?"]}],
    "prompto's parts with OpenAI's detail": [
        {"role": "user", "parts": ["What?", {"type": "image", "media": "cat.png", "detail": "low"}]}
    ],
    "prompto's image_url": [
        {"role": "user", "content": [{"type": "image_url", "image_url": "cat.png"}, "What?"]}
    ],
    "prompto's images list": [{"role": "user", "content": "What is this?", "images": ["cat.png"]}],
}
TYPICAL = {
    "temperature": 0.2,
    "top_p": 0.9,
    "top_k": 40,
    "min_p": 0.05,
    "seed": 7,
    "stop": ["\n\n"],
    "num_predict": 256,
    "num_ctx": 8192,
    "repeat_penalty": 1.1,
    "keep_alive": "5m",
}
PARAMETERS: dict[str, dict[str, Any]] = {
    "none": {},
    "typical": TYPICAL,
    "format json": {"format": "json", **TYPICAL},
    "think as given": {"think": "high"},
    "request-level fields": {"logprobs": True, "top_logprobs": 5, "truncate": True, "shift": False},
    "reasoning effort": {"reasoning": {"effort": "low"}},
    "reasoning budget": {"reasoning": {"budget_tokens": 1024}},
    "reasoning off": {"reasoning": {"budget_tokens": 0}},
    "response_schema": {"response_schema": SCHEMA, "temperature": 0},
    "tools": {"tools": [WEATHER], "tool_choice": "auto"},
    "tools, none": {"tools": [WEATHER], "tool_choice": "none"},
    "stream": {"stream": True, **TYPICAL},
    "everything": {
        **TYPICAL,
        "reasoning": {"effort": "high"},
        "response_schema": SCHEMA,
        "tools": [WEATHER],
        "stream": True,
        "logprobs": True,
    },
}
OPTION_VALUES = {"stop": ["END"], "use_mmap": True, "main_gpu": 0, "top_p": 0.9, "temperature": 0.2}
FIELD_VALUES = {
    "format": "json",
    "keep_alive": "5m",
    "think": True,
    "_debug_render_only": True,
    "top_logprobs": 3,
}


def build(make_provider: MakeProvider, model: str) -> OllamaProvider:
    provider = make_provider("ollama", model, env={"OLLAMA_API_ENDPOINT": "http://localhost:11434"})
    assert isinstance(provider, OllamaProvider)
    return provider


async def body_of(provider: OllamaProvider, request: ChatRequest) -> dict[str, Any]:
    assert provider.check_request(request) == []
    return await provider.request_body(request)


@pytest.mark.parametrize("model", [LLAMA, GPT_OSS])
@pytest.mark.parametrize("parameters", PARAMETERS.values(), ids=PARAMETERS.keys())
@pytest.mark.parametrize("prompt", PROMPTS.values(), ids=PROMPTS.keys())
async def test_every_prompt_form_and_parameter_conforms(
    make_provider: MakeProvider, media_dir: Path, prompt: Any, parameters: dict[str, Any], model: str
) -> None:
    request = parse_prompt(prompt, media_dir).first_request(model, parameters)
    provider = build(make_provider, model)
    body = await body_of(provider, request)
    generate = provider.request_path(request) == "api/generate"  # a plain string, as prompto sends it
    assert problems(generate_validator() if generate else ollama_request_validator(), body) == []


async def test_later_turns_of_a_list_of_strings_conform(make_provider: MakeProvider) -> None:
    history = (Message("user", "Hi"), Message("assistant", "Hello."), Message("user", "How are you?"))
    body = await body_of(build(make_provider, LLAMA), ChatRequest(LLAMA, history, TYPICAL))
    assert problems(ollama_request_validator(), body) == []


def test_the_request_level_list_is_ollamas_chat_request() -> None:
    """Every field of ``ChatRequest`` in ``api/types.go``, except the three the provider builds itself."""
    assert set(go_json_fields("ChatRequest")) - {"model", "messages", "options"} == REQUEST_LEVEL


# Each request-level field of Ollama's ChatRequest (tools and stream are neutral features: tested apart).
@pytest.mark.parametrize("name", sorted(REQUEST_LEVEL - {"tools", "stream"}))
async def test_each_request_level_field_is_sent_at_the_top_level(
    make_provider: MakeProvider, name: str
) -> None:
    """Issue 18: ``logprobs``, ``top_logprobs``, ``truncate``, ``shift`` went under ``options``."""
    value = FIELD_VALUES.get(name, True)
    body = await body_of(
        build(make_provider, LLAMA), ChatRequest(LLAMA, (Message("user", "Hi"),), {name: value})
    )
    assert body[name] == value
    assert "options" not in body
    assert problems(ollama_request_validator(), body) == []


@pytest.mark.parametrize("name", go_json_fields("Options"))
async def test_each_model_option_is_sent_under_options(make_provider: MakeProvider, name: str) -> None:
    value = OPTION_VALUES.get(name, 1)
    body = await body_of(
        build(make_provider, LLAMA), ChatRequest(LLAMA, (Message("user", "Hi"),), {name: value})
    )
    assert body["options"] == {name: value}
    assert problems(ollama_request_validator(), body) == []


def test_the_validator_refuses_what_ollama_drops() -> None:
    body = {
        "model": LLAMA,
        "messages": [{"role": "user", "content": "Hi", "detail": "low"}],
        "options": {"logprobs": True, "truncate": True},
        "think": "extreme",
        "reasoning": {"effort": "low"},
    }
    found = "\n".join(problems(ollama_request_validator(), body))
    for where in ("(body): Additional properties", "messages/0", "options", "think"):
        assert where in found


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"tools": [WEATHER], "tool_choice": "required"}, "api 'ollama' has no tool_choice"),
        ({"tools": [WEATHER], "tool_choice": "get_weather"}, "api 'ollama' has no tool_choice"),
        ({"reasoning": {"effort": "low"}, "think": True}, "give reasoning or think, not both"),
        ({"response_schema": SCHEMA, "format": "json"}, "give response_schema or format, not both"),
    ],
)
def test_what_ollama_cannot_do_is_said_before_the_run(parameters: dict[str, Any], expected: str) -> None:
    request = ChatRequest(QWEN, (Message("user", "Hi"),), parameters)
    found = OllamaProvider.check_request(request)
    assert len(found) == 1
    assert expected in found[0]
