"""Every request body the Chat Completions dialect builds (``openai``, ``azure-openai``,
``huggingface-tgi``, ``openai-compatible``), for each prompt form and parameter the README documents and
each neutral feature, conforms to the vendor's own request schema, objects closed (a field the API does
not define fails here, not in a user's run). The schemas: :mod:`tests.providers.specs_openai`.
``openai-compatible`` is checked against OpenAI's schema with OpenAI's parameters (a server's own
extras are its own)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from providers import ChatRequest, Message, Provider
from providers._openai import features as openai_features
from providers._openai.dialect import OpenAIDialectProvider
from providers._openai.features import streamed
from providers._tgi_completions import COMPLETION_FIELDS
from runner.prompts._conversation import parse_prompt
from tests.fakes import FakeServer
from tests.fakes.replies import openai_chat
from tests.providers.conftest import MakeProvider
from tests.providers.specs_openai import (
    azure_request_validator,
    openai_request_validator,
    problems,
    tgi_request_validator,
)
from tests.providers.specs_plain_prompt import completion_validator

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
BARE_TOOL = {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}

PROMPTS: dict[str, Any] = {
    "string": "Hello",
    "list of strings (first turn)": ["Hi", "How are you?"],
    "chat with system": [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "How are you?"},
    ],
    "image url with detail": [
        {
            "role": "user",
            "content": [
                "What is this?",
                {"type": "image", "url": "https://example.com/cat.jpg", "detail": "low"},
            ],
        }
    ],
    "local image with detail and a foreign option": [
        {
            "role": "user",
            "content": [
                {"type": "image", "media": "cat.png", "detail": "high", "mediaResolution": "x"},
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
    "prompto's images list": [{"role": "user", "content": "Compare them.", "images": ["cat.png", "cat.png"]}],
    "anthropic's source": [
        {"role": "user", "content": [{"type": "image", "source": {"media": "cat.png"}}, "What is this?"]}
    ],
}
SAMPLING = {"temperature": 0.2, "top_p": 0.9, "presence_penalty": 0.1, "frequency_penalty": 0.1}
TYPICAL = {
    "max_tokens": 256,
    **SAMPLING,
    "stop": ["\n\n"],
    "seed": 7,
    "n": 1,
    "logprobs": True,
    "top_logprobs": 2,
}
OPENAI_ONLY = {"max_completion_tokens": 512, "user": "study-1", "service_tier": "default", "store": False}
FEATURES: dict[str, dict[str, Any]] = {
    "response_schema": {"response_schema": SCHEMA, "response_schema_name": "verdict"},
    "tools, auto": {"tools": [WEATHER, BARE_TOOL], "tool_choice": "auto"},
    "tools, required": {"tools": [WEATHER], "tool_choice": "required"},
    "tools, none": {"tools": [WEATHER], "tool_choice": "none"},
    "tools, named": {"tools": [WEATHER, BARE_TOOL], "tool_choice": "get_weather"},
    "stream": {"stream": True},
    "everything": {"response_schema": SCHEMA, "tools": [WEATHER], "tool_choice": "auto", "stream": True},
}
REASONING = {
    "effort": {"reasoning": {"effort": "high"}, "max_tokens": 4096},
    "budget": {"reasoning": {"budget_tokens": 2000}, "max_completion_tokens": 4096},
    "minimal, with schema and tools": {
        "reasoning": {"effort": "minimal"},
        "response_schema": SCHEMA,
        "tools": [WEATHER],
        "stream": True,
    },
}


def cases(*sets: dict[str, dict[str, Any]]) -> list[Any]:
    return [pytest.param(value, id=name) for group in sets for name, value in group.items()]


PARAMETERS = {
    "openai": cases({"none": {}, "typical": TYPICAL, "OpenAI's own": {**TYPICAL, **OPENAI_ONLY}}, FEATURES),
    "azure-openai": cases(
        {"none": {}, "typical": TYPICAL, "max_completion_tokens": {"max_completion_tokens": 64}}, FEATURES
    ),
    "huggingface-tgi": cases(
        {
            "none": {},
            "typical": TYPICAL,
            "stop as a string": {**TYPICAL, "stop": "END"},
            "OpenAI's response_format": {
                "response_format": {"type": "json_schema", "json_schema": {"name": "v", "schema": SCHEMA}}
            },
            "json_object": {"response_format": {"type": "json_object"}},
        },
        FEATURES,
    ),
    "openai-compatible": cases({"none": {}, "typical": TYPICAL}, FEATURES, REASONING),
}
FOREIGN_OPTION = "local image with detail and a foreign option"
"""Sent as given to ``openai-compatible`` (a server's own extras): not checked against OpenAI's schema."""


def validator(api: str) -> Draft202012Validator:
    if api == "azure-openai":
        return azure_request_validator()
    return tgi_request_validator() if api == "huggingface-tgi" else openai_request_validator()


def build(make_provider: MakeProvider, api: str, model: str, **settings: Any) -> OpenAIDialectProvider:
    env = {
        "OPENAI_API_KEY": "k",
        "AZURE_OPENAI_API_ENDPOINT": "https://r.openai.azure.com",
        "AZURE_OPENAI_API_KEY": "k",
        "HUGGINGFACE_TGI_API_ENDPOINT": "http://tgi:8080",
    }
    if api == "openai-compatible":
        settings.setdefault("base_url", "http://vllm:8000/v1")
    provider = make_provider(api, model, env=env, **settings)
    assert isinstance(provider, OpenAIDialectProvider)
    return provider


async def wire_body(provider: Provider, request: ChatRequest) -> dict[str, Any]:
    """The body as sent: checked before the run, then built (streamed when the request says so)."""
    assert isinstance(provider, OpenAIDialectProvider)
    assert provider.check_request(request) == []
    body = await provider.request_body(request)
    if provider.request_path(request) == "completions":  # TGI's, for a plain string: no stream_options
        return {**body, "stream": True} if request.features.stream else body
    return streamed(body) if request.features.stream else body


@pytest.mark.parametrize(
    ("api", "parameters"),
    [
        pytest.param(api, *case.values, id=f"{api}-{case.id}")
        for api, group in PARAMETERS.items()
        for case in group
    ],
)
@pytest.mark.parametrize("prompt", PROMPTS.values(), ids=PROMPTS.keys())
async def test_every_prompt_form_and_parameter_conforms(
    make_provider: MakeProvider, media_dir: Path, api: str, prompt: Any, parameters: dict[str, Any]
) -> None:
    if api == "openai-compatible" and prompt is PROMPTS[FOREIGN_OPTION]:
        pytest.skip("a compatible server's own media options are sent as given")
    request = parse_prompt(prompt, media_dir).first_request("gpt-4o", parameters)
    provider = build(make_provider, api, "gpt-4o")
    if provider.request_path(request) == "completions" and (
        lacking := sorted(set(request.vendor_parameters) - COMPLETION_FIELDS)
    ):  # TGI's completions, for a plain string, lack them: refused before the run, never dropped
        assert any(", ".join(lacking) in problem for problem in provider.check_request(request))
        return
    body = await wire_body(provider, request)
    completions = provider.request_path(request) == "completions"  # TGI's, for a plain string
    assert problems(completion_validator() if completions else validator(api), body) == []


@pytest.mark.parametrize("model", ["o3", "o4-mini", "gpt-5", "gpt-5.1"])
@pytest.mark.parametrize("parameters", cases(REASONING, {"seed and stop": {"seed": 7, "max_tokens": 64}}))
@pytest.mark.parametrize("prompt", [PROMPTS["chat with system"], PROMPTS["image url with detail"]])
async def test_reasoning_model_bodies_conform(
    make_provider: MakeProvider, media_dir: Path, model: str, parameters: dict[str, Any], prompt: Any
) -> None:
    request = parse_prompt(prompt, media_dir).first_request(model, parameters)
    body = await wire_body(build(make_provider, "openai", model), request)
    assert "max_tokens" not in body
    assert problems(openai_request_validator(), body) == []


async def test_later_turns_of_a_list_of_strings_conform(make_provider: MakeProvider) -> None:
    """The engine sends turn n with the replies so far, as user/assistant turns."""
    history = (Message("user", "Hi"), Message("assistant", "Hello."), Message("user", "How are you?"))
    for api in PARAMETERS:
        body = await wire_body(build(make_provider, api, "gpt-4o"), ChatRequest("gpt-4o", history, TYPICAL))
        assert problems(validator(api), body) == []


async def test_the_streamed_request_on_the_wire_conforms(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    """Not only :func:`streamed`'s output: the body the fake server received."""
    provider = make_provider("openai", "gpt-4o", env={"OPENAI_API_KEY": "k"}, base_url=fake_server.url("/v1"))
    fake_server.enqueue(openai_chat())  # a server that answers a streamed request with one JSON body
    await provider.complete(ChatRequest("gpt-4o", (Message("user", "Hi"),), {"stream": True, **TYPICAL}))
    sent = fake_server.last_request.json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert problems(openai_request_validator(), sent) == []


async def test_options_an_api_does_not_define_are_dropped_with_a_notice(
    make_provider: MakeProvider,
    media_dir: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(openai_features, "_dropped", set())  # the notice is said once per run
    request = parse_prompt(PROMPTS[FOREIGN_OPTION], media_dir).first_request("gpt-4o", {})
    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        openai = await wire_body(build(make_provider, "openai", "gpt-4o"), request)
        tgi = await wire_body(build(make_provider, "huggingface-tgi", "tgi"), request)
        compatible = await wire_body(build(make_provider, "openai-compatible", "m"), request)
    assert set(openai["messages"][0]["content"][0]["image_url"]) == {"url", "detail"}
    assert set(tgi["messages"][0]["content"][0]["image_url"]) == {"url"}  # TGI's Url is {url} alone
    assert set(compatible["messages"][0]["content"][0]["image_url"]) == {"url", "detail", "mediaResolution"}
    assert "'mediaResolution'" in caplog.text


VALID = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "size": 1}}
MISTAKES = {
    "an unknown field": ({**VALID, "reasoning": {"effort": "low"}}, "'reasoning'"),
    "an unknown image option": (
        {**VALID, "messages": [{"role": "user", "content": [IMAGE]}]},
        "messages/0",
    ),
    "an unknown message field": (
        {**VALID, "messages": [{"role": "user", "content": "Hi", "x": 1}]},
        "messages/0",
    ),
    "an unknown tool field": (
        {**VALID, "tools": [{"type": "function", "function": {"name": "f", "parameters": {}, "params": {}}}]},
        "tools/0",
    ),
}


@pytest.mark.parametrize(("body", "named"), MISTAKES.values(), ids=MISTAKES.keys())
@pytest.mark.parametrize("api", ["openai", "azure-openai", "huggingface-tgi"])
def test_the_validators_refuse_what_the_apis_refuse(api: str, body: dict[str, Any], named: str) -> None:
    """A green run means something: an unknown field anywhere fails validation."""
    assert problems(validator(api), VALID) == []
    found = problems(validator(api), body)
    assert found
    assert any(named in line for line in found), found


def test_the_spec_bugs_fixed_here_are_refused_by_the_specs() -> None:
    """What today's code sent fails the vendors' schemas: TGI's ``stop`` string and OpenAI-style
    ``response_format``, ``reasoning_effort`` on Azure's default API version."""
    tgi = problems(tgi_request_validator(), {**VALID, "stop": "END"})
    assert tgi == ["stop: 'END' is not of type 'array', 'null'"]
    openai_format = {"type": "json_schema", "json_schema": {"name": "v", "schema": SCHEMA}}
    assert problems(tgi_request_validator(), {**VALID, "response_format": openai_format})
    assert problems(azure_request_validator(), {**VALID, "reasoning_effort": "low"}) == [
        "(body): Unevaluated properties are not allowed ('reasoning_effort' was unexpected)"
    ]
