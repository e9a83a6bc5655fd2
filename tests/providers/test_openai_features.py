"""The neutral features on the Chat Completions wire, and the replies that come back with them.

Requests are checked as the fake server received them, against the bodies OpenAI documents
(wire-protocols §1.2, the API reference); replies are shaped as OpenAI, Azure and vLLM send them.
"""

from __future__ import annotations

from typing import Any

import pytest

from providers import BadRequest, ChatRequest, Message, OutputLimit, Provider, provider_class
from providers._features import ToolCall
from runner.engine._retry import Action, decide
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import openai_chat, openai_error
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import single

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
HELLO = [{"role": "user", "content": "Hello"}]


def openai(make_provider: MakeProvider, server: FakeServer, model: str = "gpt-4o") -> Provider:
    return make_provider("openai", model, env={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.url("/v1")})


def compatible(make_provider: MakeProvider, server: FakeServer, model: str = "qwen3") -> Provider:
    return make_provider("openai-compatible", model, base_url=server.url("/v1"))


def azure(make_provider: MakeProvider, server: FakeServer, model: str = "gpt-4o", **options: Any) -> Provider:
    env = {"AZURE_OPENAI_API_ENDPOINT": server.base_url, "AZURE_OPENAI_API_KEY": "k"}
    return make_provider("azure-openai", model, env=env, options=options)


def chat(message: dict[str, Any], finish_reason: str = "stop", **payload: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}
        ],
        **payload,
    }


# -- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reasoning", "effort"),
    [
        ({"effort": "minimal"}, "minimal"),
        ({"effort": "high"}, "high"),
        ({"budget_tokens": 0}, "minimal"),
        ({"budget_tokens": 1200}, "low"),
        ({"budget_tokens": 6000}, "medium"),
        ({"budget_tokens": 20000}, "high"),
        ({"budget_tokens": 100000}, "high"),
    ],
)
async def test_reasoning_is_reasoning_effort(
    make_provider: MakeProvider, fake_server: FakeServer, reasoning: dict[str, Any], effort: str
) -> None:
    fake_server.enqueue(openai_chat())
    await openai(make_provider, fake_server, "gpt-5").complete(single("gpt-5", reasoning=reasoning))
    assert fake_server.last_request.json == {"reasoning_effort": effort, "model": "gpt-5", "messages": HELLO}


@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5.1", "gpt-5-nano"])
async def test_reasoning_models_get_max_completion_tokens(
    make_provider: MakeProvider, fake_server: FakeServer, model: str
) -> None:
    fake_server.enqueue(openai_chat())
    request = single(model, max_tokens=2048, seed=7, reasoning={"effort": "low"})
    await openai(make_provider, fake_server, model).complete(request)
    assert fake_server.last_request.json == {
        "seed": 7,
        "max_completion_tokens": 2048,
        "reasoning_effort": "low",
        "model": model,
        "messages": HELLO,
    }


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4.1-mini", "gpt-5-chat-latest"])
async def test_other_models_keep_max_tokens(
    make_provider: MakeProvider, fake_server: FakeServer, model: str
) -> None:
    fake_server.enqueue(openai_chat())
    await openai(make_provider, fake_server, model).complete(single(model, max_tokens=64, temperature=0.2))
    assert fake_server.last_request.json == {
        "max_tokens": 64,
        "temperature": 0.2,
        "model": model,
        "messages": HELLO,
    }


async def test_response_schema_is_a_strict_json_schema_format(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(openai_chat('{"answer": "yes"}'))
    request = single("gpt-4o", response_schema=SCHEMA, response_schema_name="verdict", max_tokens=64)
    completion = await openai(make_provider, fake_server).complete(request)
    assert fake_server.last_request.json == {
        "max_tokens": 64,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": True},
        },
        "model": "gpt-4o",
        "messages": HELLO,
    }
    assert completion.text == '{"answer": "yes"}'


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
async def test_tools_and_tool_choice(
    make_provider: MakeProvider, fake_server: FakeServer, choice: str, sent: Any
) -> None:
    fake_server.enqueue(openai_chat())
    bare = {"name": "lookup", "parameters": {"type": "object", "properties": {}}}
    await openai(make_provider, fake_server).complete(
        single("gpt-4o", tools=[WEATHER, bare], tool_choice=choice)
    )
    assert fake_server.last_request.json == {
        "tools": [
            WEATHER,
            {"type": "function", "function": {"name": "lookup", "parameters": bare["parameters"]}},
        ],
        "tool_choice": sent,
        "model": "gpt-4o",
        "messages": HELLO,
    }


async def test_compatible_servers_get_reasoning_effort_and_their_own_names(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    """No reasoning model is known by name on a compatible server: ``max_tokens`` stays as given."""
    fake_server.enqueue(openai_chat())
    request = single("o3", reasoning={"budget_tokens": 8000}, max_tokens=99, temperature=0.6, top_k=20)
    await compatible(make_provider, fake_server, "o3").complete(request)
    assert fake_server.last_request.json == {
        "max_tokens": 99,
        "temperature": 0.6,
        "top_k": 20,
        "reasoning_effort": "medium",
        "model": "o3",
        "messages": HELLO,
    }


def request_with(model: str, **parameters: Any) -> ChatRequest:
    return ChatRequest(model, (Message("user", "Hi"),), parameters)


@pytest.mark.parametrize(
    ("api", "request_", "problems"),
    [
        (
            "openai",
            request_with("o3", temperature=0.2, top_p=0.9, max_tokens=9),
            [
                "api 'openai': model 'o3' is a reasoning model, which refuses temperature, top_p: "
                "remove them from its parameters (or set them per model)"
            ],
        ),
        (
            "azure-openai",
            request_with("o4-mini", logprobs=True),
            [
                "api 'azure-openai': model 'o4-mini' is a reasoning model, which refuses logprobs: "
                "remove them from its parameters (or set them per model)"
            ],
        ),
        ("openai", request_with("gpt-5.1", reasoning_effort="none", temperature=0.2), []),
        ("openai", request_with("gpt-4o", temperature=0.2, logprobs=True), []),
        ("openai-compatible", request_with("o3", temperature=0.2), []),
        (
            "openai",
            request_with("gpt-5", max_tokens=1, max_completion_tokens=2),
            ["api 'openai': model 'gpt-5' takes max_completion_tokens only: give it, not max_tokens too"],
        ),
        (
            "openai",
            request_with("gpt-4o", tools=[WEATHER], tool_choice="get_wether"),
            ["api 'openai': tool_choice 'get_wether' names no tool in tools (get_weather)"],
        ),
        (
            "openai",
            request_with("gpt-5", reasoning={"effort": "low"}, reasoning_effort="high"),
            ["api 'openai': give reasoning or reasoning_effort, not both"],
        ),
        (
            "openai-compatible",
            request_with("m", reasoning={"effort": "extreme"}),
            [
                "api 'openai-compatible': reasoning.effort must be one of minimal, low, medium, high, "
                "not 'extreme'"
            ],
        ),
        (
            "huggingface-tgi",
            request_with("tgi", reasoning={"effort": "low"}),
            [
                "api 'huggingface-tgi' has no reasoning setting (its chat request has no reasoning_effort): "
                "remove reasoning for this model"
            ],
        ),
    ],
)
def test_what_the_api_would_refuse_is_said_before_the_run(
    api: str, request_: ChatRequest, problems: list[str]
) -> None:
    assert provider_class(api).check_request(request_) == problems


async def test_a_refused_parameter_the_check_cannot_know_is_a_bad_request_naming_it(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    """A deployment named otherwise, a new model: the server's 400 names the parameter."""
    message = "Unsupported parameter: 'temperature' is not supported with this model."
    fake_server.enqueue(openai_error(400, message, code="unsupported_parameter"))
    with pytest.raises(BadRequest, match="'temperature' is not supported with this model"):
        await azure(make_provider, fake_server, "prod-reasoner").complete(
            single("prod-reasoner", temperature=0)
        )


async def test_azure_refuses_reasoning_on_an_api_version_without_it(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    """2024-10-21 (the default) has no ``reasoning_effort``: refused, nothing sent."""
    with pytest.raises(BadRequest, match=r"2024-12-01-preview or later\), not 2024-10-21"):
        await azure(make_provider, fake_server, "o3-mini").complete(
            single("o3-mini", reasoning={"effort": "low"})
        )
    assert fake_server.requests == []
    fake_server.enqueue(openai_chat())
    provider = azure(make_provider, fake_server, "o3-mini", api_version="2025-04-01-preview")
    await provider.complete(single("o3-mini", reasoning={"effort": "low"}, max_tokens=500))
    assert fake_server.last_request.json == {
        "max_completion_tokens": 500,
        "reasoning_effort": "low",
        "model": "o3-mini",
        "messages": HELLO,
    }


# -- replies -------------------------------------------------------------------------------------

CALL = {
    "id": "call_abc",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


async def test_a_reply_of_only_tool_calls_is_a_completion(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    second = {**CALL, "id": "call_def", "function": {"name": "get_weather", "arguments": "not json"}}
    fake_server.enqueue(Reply.json(chat({"content": None, "tool_calls": [CALL, second]}, "tool_calls")))
    completion = await openai(make_provider, fake_server).complete(single("gpt-4o", tools=[WEATHER]))
    assert completion.text == ""
    assert completion.finish_reason == "tool_calls"
    assert completion.tool_calls == (
        ToolCall("get_weather", {"city": "Paris"}, "call_abc"),
        ToolCall("get_weather", "not json", "call_def"),
    )


async def test_text_and_tool_calls_together(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    fake_server.enqueue(Reply.json(chat({"content": "Let me check.", "tool_calls": [CALL]}, "tool_calls")))
    completion = await openai(make_provider, fake_server).complete(single("gpt-4o", tools=[WEATHER]))
    assert completion.text == "Let me check."
    assert [call.as_record() for call in completion.tool_calls] == [
        {"id": "call_abc", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_thinking_text_of_compatible_servers_is_kept_apart(
    make_provider: MakeProvider, fake_server: FakeServer, field: str
) -> None:
    """vLLM, llama.cpp, DeepSeek: ``reasoning_content``; OpenRouter, recent vLLM: ``reasoning``."""
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 300,
        "completion_tokens_details": {"reasoning_tokens": 280},
    }
    fake_server.enqueue(Reply.json(chat({"content": "42", field: "Six times seven..."}, usage=usage)))
    completion = await compatible(make_provider, fake_server).complete(single("qwen3"))
    assert completion.text == "42"
    assert completion.reasoning == "Six times seven..."
    assert completion.usage.reasoning_tokens == 280


async def test_provenance_is_what_the_reply_says(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    body = chat({"content": "ok"}, system_fingerprint="fp_50cad350e4", service_tier="default")
    fake_server.enqueue(Reply.json(body, headers={"x-request-id": "req_123"}))
    completion = await openai(make_provider, fake_server).complete(single("gpt-4o"))
    assert completion.provenance == {
        "system_fingerprint": "fp_50cad350e4",
        "service_tier": "default",
        "request_id": "req_123",
    }


async def test_azure_request_id_headers(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    fake_server.enqueue(
        Reply.json(chat({"content": "ok"}), headers={"apim-request-id": "apim-1", "x-ms-region": "East US"}),
        Reply.json(chat({"content": "ok"}), headers={"x-ms-request-id": "ms-1"}),
    )
    provider = azure(make_provider, fake_server)
    assert (await provider.complete(single("gpt-4o"))).provenance == {"request_id": "apim-1"}
    assert (await provider.complete(single("gpt-4o"))).provenance == {"request_id": "ms-1"}


@pytest.mark.parametrize(
    ("model", "setting"),
    [("o3", "max_completion_tokens"), ("gpt-5-mini", "max_completion_tokens"), ("gpt-4o", "max_tokens")],
)
async def test_a_reply_that_spent_its_budget_thinking_is_output_limit(
    make_provider: MakeProvider, fake_server: FakeServer, model: str, setting: str
) -> None:
    usage = {
        "prompt_tokens": 20,
        "completion_tokens": 500,
        "completion_tokens_details": {"reasoning_tokens": 500},
    }
    fake_server.enqueue(
        Reply.json({**chat({"content": ""}, "length", usage=usage), "model": f"{model}-2025"})
    )
    with pytest.raises(OutputLimit) as caught:
        await openai(make_provider, fake_server, model).complete(single(model, max_tokens=500))
    assert str(caught.value) == (
        "the reply reached its output limit after 500 reasoning tokens before any answer "
        f"(finish_reason 'length'): raise {setting}, or lower reasoning.effort / reasoning.budget_tokens"
    )
    assert caught.value.error_type == "output_limit"
    assert decide(caught.value, attempt=1, max_attempts=3).action is Action.RECORD


async def test_a_null_content_at_the_limit_is_output_limit_too(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(Reply.json(chat({"content": None}, "length")))
    with pytest.raises(OutputLimit, match="raise max_tokens"):
        await compatible(make_provider, fake_server).complete(single("qwen3"))
