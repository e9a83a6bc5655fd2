"""``api: ollama`` sends a plain-string prompt to ``/api/generate``, as prompto 0.2.1 does (issue 19,
"Same request, same endpoint"); lists of strings and role dicts keep going to ``/api/chat``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers import (
    ChatRequest,
    Completion,
    ConnectionFailed,
    MalformedReply,
    Message,
    OutputLimit,
    Provider,
    ServerError,
    Usage,
)
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import ollama_chat, ollama_generate
from tests.providers.conftest import MakeProvider
from tests.providers.prompto_reference import needs_prompto, run_prompto
from tests.providers.prompts import history, single
from tests.providers.specs_anthropic_ollama import ollama_request_validator, problems
from tests.providers.specs_plain_prompt import generate_validator

MODEL = "llama3.2"
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def generated(text: str = "Hello!", *, done_reason: str = "stop", **fields: Any) -> Reply:
    """A non-streaming ``/api/generate`` reply from the tests' model."""
    return ollama_generate(text, done_reason=done_reason, model=MODEL, **fields)


def ndjson(*lines: dict[str, Any]) -> Reply:
    return Reply.text("".join(json.dumps(line) + "\n" for line in lines), content_type="application/x-ndjson")


@pytest.fixture
def provider(make_provider: MakeProvider, fake_server: FakeServer) -> Provider:
    return make_provider("ollama", MODEL, env={"OLLAMA_API_ENDPOINT": fake_server.base_url})


async def sent(provider: Provider, server: FakeServer, request: ChatRequest, reply: Reply) -> dict[str, Any]:
    server.enqueue(reply)
    await provider.complete(request)
    body: dict[str, Any] = server.last_request.json
    return body


async def test_a_string_prompt_is_generate_with_options(provider: Provider, fake_server: FakeServer) -> None:
    request = single(MODEL, temperature=0.2, num_predict=64, keep_alive="10m", seed=7)
    body = await sent(provider, fake_server, request, generated())
    assert (fake_server.last_request.method, fake_server.last_request.url_path) == ("POST", "/api/generate")
    assert body == {
        "keep_alive": "10m",
        "model": MODEL,
        "prompt": "Hello",
        "stream": False,
        "options": {"temperature": 0.2, "num_predict": 64, "seed": 7},
    }
    assert problems(generate_validator(), body) == []


async def test_generate_fields_are_sent_at_the_top_level(provider: Provider, fake_server: FakeServer) -> None:
    request = single(MODEL, suffix=" end", raw=True, system="Be terse.", think=False, top_k=20)
    body = await sent(provider, fake_server, request, generated())
    assert body == {
        "suffix": " end",
        "raw": True,
        "system": "Be terse.",
        "think": False,
        "model": MODEL,
        "prompt": "Hello",
        "stream": False,
        "options": {"top_k": 20},
    }
    assert problems(generate_validator(), body) == []


async def test_a_system_message_beside_the_string_is_generates_system(
    provider: Provider, fake_server: FakeServer
) -> None:
    request = ChatRequest(MODEL, (Message("system", "Be terse."), Message("user", "Hi")), prompt_text="Hi")
    body = await sent(provider, fake_server, request, generated())
    assert body == {"model": MODEL, "prompt": "Hi", "system": "Be terse.", "stream": False}


async def test_lists_of_strings_and_role_dicts_stay_on_chat(
    provider: Provider, fake_server: FakeServer
) -> None:
    turn = ChatRequest(MODEL, (Message("user", "Hi"),))  # the first turn of a list of strings
    for request in (turn, history(MODEL)):
        body = await sent(provider, fake_server, request, ollama_chat())
        assert fake_server.last_request.url_path == "/api/chat"
        assert "prompt" not in body
        assert body["messages"][-1]["role"] == "user"
        assert problems(ollama_request_validator(), body) == []


async def test_reasoning_is_think_and_response_schema_is_format(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    gpt_oss = make_provider("ollama", "gpt-oss:20b", env={"OLLAMA_API_ENDPOINT": fake_server.base_url})
    request = single("gpt-oss:20b", reasoning={"effort": "high"}, response_schema=SCHEMA)
    body = await sent(gpt_oss, fake_server, request, generated('{"answer": "x"}'))
    assert fake_server.last_request.url_path == "/api/generate"
    assert (body["think"], body["format"]) == ("high", SCHEMA)
    assert problems(generate_validator(), body) == []


async def test_tools_send_a_string_to_chat_which_alone_has_them(
    provider: Provider, fake_server: FakeServer
) -> None:
    body = await sent(provider, fake_server, single(MODEL, tools=[WEATHER]), ollama_chat())
    assert fake_server.last_request.url_path == "/api/chat"
    assert body["tools"] == [WEATHER]
    assert body["messages"] == [{"role": "user", "content": "Hello"}]
    body = await sent(provider, fake_server, single(MODEL, tools=[WEATHER], tool_choice="none"), generated())
    assert fake_server.last_request.url_path == "/api/generate"
    assert "tools" not in body


async def test_the_reply_is_parsed(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(generated("Paris.", done_reason="length", thinking="France's capital."))
    assert await provider.complete(single(MODEL)) == Completion(
        text="Paris.",
        finish_reason="length",
        usage=Usage(11, 18),
        model=MODEL,
        reasoning="France's capital.",
    )


async def test_nothing_but_the_limit_is_an_output_limit(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(generated("", done_reason="length", thinking="Hmm"))
    with pytest.raises(OutputLimit, match="raise options.num_predict"):
        await provider.complete(single(MODEL))


async def test_a_reply_without_response_is_malformed(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(Reply.json({"model": MODEL, "response": None, "done": True}))
    with pytest.raises(MalformedReply, match="no response text"):
        await provider.complete(single(MODEL))


STREAM = [
    {"model": MODEL, "created_at": "t", "response": "", "thinking": "Think", "done": False},
    {"model": MODEL, "created_at": "t", "response": "", "thinking": "ing.", "done": False},
    {"model": MODEL, "created_at": "t", "response": "Hel", "done": False},
    {"model": MODEL, "created_at": "t", "response": "lo!", "done": False},
    {
        "model": MODEL,
        "created_at": "t",
        "response": "",
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 11,
        "eval_count": 18,
    },
]


async def test_a_stream_is_generate_lines_merged_into_the_same_reply(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(ndjson(*STREAM))
    completion = await provider.complete(single(MODEL, stream=True, num_ctx=8192))
    sent_body = fake_server.last_request.json
    assert fake_server.last_request.url_path == "/api/generate"
    assert sent_body == {"model": MODEL, "prompt": "Hello", "stream": True, "options": {"num_ctx": 8192}}
    assert problems(generate_validator(), sent_body) == []
    assert completion.time_to_first_token_s is not None
    assert completion == Completion(
        text="Hello!",
        finish_reason="stop",
        usage=Usage(11, 18),
        model=MODEL,
        reasoning="Thinking.",
        time_to_first_token_s=completion.time_to_first_token_s,
    )


async def test_a_cut_or_failed_stream_is_no_reply(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(ndjson(*STREAM[:3]))
    with pytest.raises(ConnectionFailed, match="before its done line"):
        await provider.complete(single(MODEL, stream=True))
    fake_server.enqueue(ndjson(*STREAM[:3], {"error": "an error was encountered while running the model"}))
    with pytest.raises(ServerError, match="after HTTP 200 .*while running the model"):
        await provider.complete(single(MODEL, stream=True))


# prompto's Ollama client sends its defaults too; Ollama reads each of them as unset.
PROMPTO_DEFAULTS = {
    "suffix": "",
    "system": "",
    "template": "",
    "context": [],
    "raw": False,
    "images": [],
    "format": "",
    "keep_alive": None,
}


@needs_prompto
async def test_prompto_sends_a_string_to_the_same_endpoint(
    provider: Provider, fake_server: FakeServer
) -> None:
    parameters = {"temperature": 0.2, "num_predict": 64, "seed": 7}
    env = {"OLLAMA_API_ENDPOINT": fake_server.base_url}
    fake_server.enqueue(generated("Paris."))
    prompto = await run_prompto(
        "ollama",
        {"id": 0, "api": "ollama", "model_name": MODEL, "prompt": "Hello", "parameters": parameters},
        env,
    )
    theirs = fake_server.last_request
    fake_server.enqueue(generated("Paris."))
    ours = await provider.complete(single(MODEL, **parameters))
    assert (theirs.url_path, fake_server.last_request.url_path) == ("/api/generate", "/api/generate")
    assert {key: value for key, value in theirs.json.items() if PROMPTO_DEFAULTS.get(key, ...) != value} == (
        fake_server.last_request.json
    )
    assert prompto["response"] == ours.text == "Paris."


@needs_prompto
async def test_prompto_sends_a_list_of_strings_to_chat(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(ollama_chat("Hi!"))
    prompt = {"id": 1, "api": "ollama", "model_name": MODEL, "prompt": ["Hello"]}
    await run_prompto("ollama", prompt, {"OLLAMA_API_ENDPOINT": fake_server.base_url})
    theirs = fake_server.last_request
    fake_server.enqueue(ollama_chat("Hi!"))
    await provider.complete(ChatRequest(MODEL, (Message("user", "Hello"),)))
    assert theirs.url_path == fake_server.last_request.url_path == "/api/chat"
    assert theirs.json["messages"] == fake_server.last_request.json["messages"]
