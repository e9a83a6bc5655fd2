"""``api: huggingface-tgi``: the ``/v1`` root, the optional key, TGI's error shapes, and TGI's own
request shapes where its chat request differs from OpenAI's (``stop``, ``response_format``, tools)."""

from __future__ import annotations

from typing import Any

import pytest

from providers import OutputLimit, Provider, ProviderContext, RateLimited, ServerError, provider_class
from providers._features import ToolCall
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import openai_chat
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import single

TGI = provider_class("huggingface-tgi")


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_endpoint_root_or_v1(make_provider: MakeProvider, fake_server: FakeServer, suffix: str) -> None:
    env = {"HUGGINGFACE_TGI_API_ENDPOINT": fake_server.url(suffix)}
    fake_server.enqueue(openai_chat(finish_reason="stop_sequence"))
    completion = await make_provider("huggingface-tgi", "tgi", env=env).complete(single("tgi"))
    assert fake_server.last_request.path == "/v1/completions"  # a plain string, as prompto sends it
    assert completion.finish_reason == "stop_sequence"  # TGI's own value passes through


async def test_no_key_no_auth_header(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    fake_server.enqueue(openai_chat())
    env = {"HUGGINGFACE_TGI_API_ENDPOINT": fake_server.base_url}
    await make_provider("huggingface-tgi", "tgi", env=env).complete(single("tgi"))
    assert "authorization" not in fake_server.last_request.headers


@pytest.mark.parametrize(
    ("status", "error_type", "error"),
    [
        (429, "overloaded", RateLimited),
        (424, "generation", ServerError),
        (500, "incomplete_generation", ServerError),
    ],
)
async def test_tgi_errors(
    make_provider: MakeProvider, fake_server: FakeServer, status: int, error_type: str, error: type[Exception]
) -> None:
    fake_server.enqueue(Reply.json({"error": "CUDA out of memory", "error_type": error_type}, status=status))
    env = {"HUGGINGFACE_TGI_API_ENDPOINT": fake_server.base_url}
    with pytest.raises(error, match=f"HTTP {status}.*CUDA out of memory"):
        await make_provider("huggingface-tgi", "tgi", env=env).complete(single("tgi"))


def test_only_the_endpoint_is_required() -> None:
    assert TGI.check_config(ProviderContext("tgi")) == [
        "api 'huggingface-tgi' needs an endpoint: set HUGGINGFACE_TGI_API_ENDPOINT "
        "(or HUGGINGFACE_TGI_API_ENDPOINT_tgi for this model only) or endpoint.base_url in the model config"
    ]
    assert (
        TGI.check_config(ProviderContext("tgi", environ={"HUGGINGFACE_TGI_API_ENDPOINT": "http://h"})) == []
    )


# -- TGI's own request shapes (issue 18: its stop is a list only, its response_format a grammar) --------

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def tgi(make_provider: MakeProvider, server: FakeServer) -> Provider:
    return make_provider("huggingface-tgi", "tgi", env={"HUGGINGFACE_TGI_API_ENDPOINT": server.base_url})


async def test_a_stop_string_is_sent_as_a_list(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    """TGI's ``stop`` is ``array of string`` (its ChatRequest); a string is a 422 there."""
    fake_server.enqueue(openai_chat(), openai_chat())
    await tgi(make_provider, fake_server).complete(single("tgi", stop="END", max_tokens=32))
    assert fake_server.last_request.json["stop"] == ["END"]
    await tgi(make_provider, fake_server).complete(single("tgi", stop=["A", "B"]))
    assert fake_server.last_request.json["stop"] == ["A", "B"]


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (
            {"type": "json_schema", "json_schema": {"name": "v", "schema": SCHEMA, "strict": True}},
            {"type": "json", "value": SCHEMA},
        ),
        ({"type": "json_object"}, {"type": "json", "value": {"type": "object"}}),
        ({"type": "json", "value": SCHEMA}, {"type": "json", "value": SCHEMA}),  # TGI's own: as given
        ({"type": "regex", "value": "[0-9]+"}, {"type": "regex", "value": "[0-9]+"}),
    ],
    ids=["OpenAI's json_schema", "json_object", "TGI's json", "TGI's regex"],
)
async def test_an_openai_response_format_is_sent_as_tgis_grammar(
    make_provider: MakeProvider, fake_server: FakeServer, given: dict[str, Any], sent: dict[str, Any]
) -> None:
    fake_server.enqueue(openai_chat('{"answer": "yes"}'))
    await tgi(make_provider, fake_server).complete(single("tgi", response_format=given))
    assert fake_server.last_request.json["response_format"] == sent


async def test_a_text_response_format_is_no_grammar(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(openai_chat())
    await tgi(make_provider, fake_server).complete(single("tgi", response_format={"type": "text"}))
    assert "response_format" not in fake_server.last_request.json


async def test_features_in_tgis_shapes(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    """``response_schema`` as the grammar; tools with TGI's ``arguments``; a named choice ``{function}``."""
    fake_server.enqueue(openai_chat())
    request = single("tgi", response_schema=SCHEMA, tools=[WEATHER], tool_choice="get_weather", max_tokens=64)
    await tgi(make_provider, fake_server).complete(request)
    assert fake_server.last_request.json == {
        "max_tokens": 64,
        "response_format": {"type": "json", "value": SCHEMA},
        "tool_choice": {"function": {"name": "get_weather"}},
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "The weather in a city",
                    "arguments": WEATHER["function"]["parameters"],  # type: ignore[index]
                },
            }
        ],
        "model": "tgi",
        "messages": [{"role": "user", "content": "Hello"}],
    }


async def test_tgis_tool_calls_come_with_object_arguments(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    call = {
        "id": "0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
    }
    fake_server.enqueue(openai_chat(None, finish_reason="tool_calls", tool_calls=[call]))
    completion = await tgi(make_provider, fake_server).complete(single("tgi", tools=[WEATHER]))
    assert completion.text == ""
    assert completion.tool_calls == (ToolCall("get_weather", {"city": "Paris"}, "0"),)


async def test_a_tgi_reply_at_its_limit_without_text_says_max_tokens(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(openai_chat("", finish_reason="length"))
    with pytest.raises(OutputLimit, match="raise max_tokens"):
        await tgi(make_provider, fake_server).complete(single("tgi", max_tokens=4))
