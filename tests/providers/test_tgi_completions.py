"""``api: huggingface-tgi`` sends a plain-string prompt to ``/v1/completions``, as prompto 0.2.1 does
(issue 19, "Same request, same endpoint"); lists of strings and role dicts keep going to chat, and so
does a string asking for what only chat has (a schema, tools)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers import (
    ChatRequest,
    Completion,
    ConnectionFailed,
    Message,
    OutputLimit,
    Provider,
    ServerError,
    Usage,
    provider_class,
)
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import openai_chat
from tests.providers.conftest import MakeProvider
from tests.providers.prompto_reference import needs_prompto, run_prompto
from tests.providers.prompts import history, single
from tests.providers.specs_anthropic_ollama import problems
from tests.providers.specs_plain_prompt import completion_validator

TGI = provider_class("huggingface-tgi")
MODEL = "tgi"
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def completed(text: str = "Hello!", *, finish_reason: str = "eos_token") -> Reply:
    """A ``CompletionFinal`` reply."""
    return Reply.json(
        {
            "id": "",
            "object": "text_completion",
            "created": 1735000000,
            "model": "mistralai/Mistral-7B-Instruct-v0.2",
            "system_fingerprint": "3.0.1-native",
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
    )


def events(*chunks: dict[str, Any] | str) -> Reply:
    text = "".join(f"data: {chunk if isinstance(chunk, str) else json.dumps(chunk)}\n\n" for chunk in chunks)
    return Reply.text(text, content_type="text/event-stream")


def chunk(text: str, finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "",
        "created": 1735000000,
        "model": "mistralai/Mistral-7B-Instruct-v0.2",
        "system_fingerprint": "3.0.1-native",
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
    }


@pytest.fixture
def provider(make_provider: MakeProvider, fake_server: FakeServer) -> Provider:
    return make_provider("huggingface-tgi", MODEL, env={"HUGGINGFACE_TGI_API_ENDPOINT": fake_server.base_url})


async def sent(provider: Provider, server: FakeServer, request: ChatRequest, reply: Reply) -> dict[str, Any]:
    server.enqueue(reply)
    await provider.complete(request)
    body: dict[str, Any] = server.last_request.json
    return body


async def test_a_string_prompt_is_a_completion_request(provider: Provider, fake_server: FakeServer) -> None:
    request = single(
        MODEL, max_tokens=32, temperature=0.5, top_p=0.9, seed=1, stop="\n", repetition_penalty=1.1
    )
    body = await sent(provider, fake_server, request, completed())
    assert (fake_server.last_request.method, fake_server.last_request.url_path) == ("POST", "/v1/completions")
    assert body == {
        "max_tokens": 32,
        "temperature": 0.5,
        "top_p": 0.9,
        "seed": 1,
        "stop": ["\n"],  # CompletionRequest's stop is a list, as chat's
        "repetition_penalty": 1.1,
        "model": MODEL,
        "prompt": "Hello",
    }
    assert problems(completion_validator(), body) == []


async def test_the_reply_is_choices_text(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(completed("A pig.", finish_reason="length"))
    assert await provider.complete(single(MODEL)) == Completion(
        text="A pig.",
        finish_reason="length",
        usage=Usage(5, 3),
        model="mistralai/Mistral-7B-Instruct-v0.2",
        provenance={"system_fingerprint": "3.0.1-native"},
    )


async def test_nothing_but_the_limit_is_an_output_limit(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(completed("", finish_reason="length"))
    with pytest.raises(OutputLimit, match="raise max_tokens"):
        await provider.complete(single(MODEL, max_tokens=1))


async def test_lists_of_strings_and_role_dicts_stay_on_chat(
    provider: Provider, fake_server: FakeServer
) -> None:
    for request in (ChatRequest(MODEL, (Message("user", "Hi"),)), history(MODEL)):
        body = await sent(provider, fake_server, request, openai_chat())
        assert fake_server.last_request.url_path == "/v1/chat/completions"
        assert "prompt" not in body
        assert body["messages"][-1]["role"] == "user"


@pytest.mark.parametrize(
    "parameters",
    [
        pytest.param({"response_schema": SCHEMA}, id="response_schema"),
        pytest.param({"response_format": {"type": "json", "value": SCHEMA}}, id="response_format"),
        pytest.param({"tools": [WEATHER]}, id="tools"),
    ],
)
async def test_what_only_chat_has_sends_a_string_to_chat(
    provider: Provider, fake_server: FakeServer, parameters: dict[str, Any]
) -> None:
    request = single(MODEL, **parameters)
    assert TGI.check_request(request) == []
    body = await sent(provider, fake_server, request, openai_chat())
    assert fake_server.last_request.url_path == "/v1/chat/completions"
    assert body["messages"] == [{"role": "user", "content": "Hello"}]


def test_a_parameter_completions_lack_is_refused_before_the_run() -> None:
    assert TGI.check_request(single(MODEL, presence_penalty=0.5, n=2)) == [
        "api 'huggingface-tgi' sends a plain-string prompt to /v1/completions (as prompto does), whose "
        "request has no n, presence_penalty (TGI would drop it unapplied): remove it, or write the prompt as "
        '[{"role": "user", "content": "..."}] to send it to /v1/chat/completions'
    ]
    assert TGI.check_request(history(MODEL, presence_penalty=0.5)) == []


async def test_a_stream_is_chunks_merged_into_the_same_reply(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(events(chunk("Hel"), chunk("lo"), chunk("!", "eos_token"), "[DONE]"))
    completion = await provider.complete(single(MODEL, stream=True, max_tokens=8))
    body = fake_server.last_request.json
    assert fake_server.last_request.url_path == "/v1/completions"
    assert body == {"max_tokens": 8, "model": MODEL, "prompt": "Hello", "stream": True}
    assert problems(completion_validator(), body) == []
    assert completion.time_to_first_token_s is not None
    assert completion == Completion(
        text="Hello!",
        finish_reason="eos_token",
        usage=Usage(None, None),
        model="mistralai/Mistral-7B-Instruct-v0.2",
        provenance={"system_fingerprint": "3.0.1-native"},
        time_to_first_token_s=completion.time_to_first_token_s,
    )


async def test_a_cut_or_failed_stream_is_no_reply(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(events(chunk("Hel")))
    with pytest.raises(ConnectionFailed, match="before its last chunk"):
        await provider.complete(single(MODEL, stream=True))
    fake_server.enqueue(events(chunk("Hel"), {"error": "CUDA out of memory", "error_type": "generation"}))
    with pytest.raises(ServerError, match="after HTTP 200.*CUDA out of memory"):
        await provider.complete(single(MODEL, stream=True))


async def test_a_stream_answered_with_one_body_is_that_body(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(completed("Whole."))
    assert (await provider.complete(single(MODEL, stream=True))).text == "Whole."


@needs_prompto
async def test_prompto_sends_a_string_to_the_same_endpoint(
    provider: Provider, fake_server: FakeServer
) -> None:
    parameters = {"max_tokens": 32, "temperature": 0.5, "seed": 1}
    env = {"HUGGINGFACE_TGI_API_ENDPOINT": fake_server.base_url, "HUGGINGFACE_TGI_API_KEY": "none"}
    prompt = {
        "id": 0,
        "api": "huggingface-tgi",
        "model_name": MODEL,
        "prompt": "Hello",
        "parameters": parameters,
    }
    fake_server.enqueue(completed("Paris."))
    prompto = await run_prompto("huggingface-tgi", prompt, env)
    theirs = fake_server.last_request
    fake_server.enqueue(completed("Paris."))
    ours = await provider.complete(single(MODEL, **parameters))
    assert theirs.url_path == fake_server.last_request.url_path == "/v1/completions"
    assert theirs.json == fake_server.last_request.json  # prompto's model is "tgi": TGI's model is unused
    assert prompto["response"] == ours.text == "Paris."


@needs_prompto
async def test_prompto_sends_a_list_of_strings_to_chat(provider: Provider, fake_server: FakeServer) -> None:
    env = {"HUGGINGFACE_TGI_API_ENDPOINT": fake_server.base_url, "HUGGINGFACE_TGI_API_KEY": "none"}
    fake_server.enqueue(openai_chat("Hi!"))
    await run_prompto(
        "huggingface-tgi", {"id": 1, "api": "huggingface-tgi", "model_name": MODEL, "prompt": ["Hello"]}, env
    )
    theirs = fake_server.last_request
    fake_server.enqueue(openai_chat("Hi!"))
    await provider.complete(ChatRequest(MODEL, (Message("user", "Hello"),)))
    assert theirs.url_path == fake_server.last_request.url_path == "/v1/chat/completions"
    assert theirs.json["messages"] == fake_server.last_request.json["messages"]
