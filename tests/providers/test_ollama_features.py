"""``api: ollama`` on the wire for issue 18's features: think, format, tools, streaming; replies with
thinking, tool calls and NDJSON lines as ``/api/chat`` sends them."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from providers import (
    ChatRequest,
    Completion,
    ConnectionFailed,
    MalformedReply,
    Message,
    NotFound,
    OutputLimit,
    Provider,
    ServerError,
    ToolCall,
    Usage,
)
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import ollama_chat
from tests.providers.conftest import MakeProvider
from tests.providers.specs_anthropic_ollama import ollama_request_validator, problems


def single(model: str, **parameters: Any) -> ChatRequest:
    """``Hello`` as one role dict, so on ``/api/chat`` (a plain string goes to ``/api/generate``, as prompto
    sends it: ``test_ollama_generate.py``)."""
    return ChatRequest(model, (Message("user", "Hello"),), parameters)


LLAMA, GPT_OSS, QWEN = "llama3.2", "gpt-oss:20b", "qwen3:8b"
HELLO = [{"role": "user", "content": "Hello"}]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def make(make_provider: MakeProvider, fake_server: FakeServer) -> Any:
    def build(model: str = LLAMA) -> Provider:
        return make_provider("ollama", model, env={"OLLAMA_API_ENDPOINT": fake_server.base_url})

    return build


def chat(message: dict[str, Any], done_reason: str = "stop", model: str = QWEN) -> Reply:
    return Reply.json(
        {
            "model": model,
            "created_at": "2026-11-17T23:14:07.414671Z",
            "message": {"role": "assistant", **message},
            "done": True,
            "done_reason": done_reason,
            "total_duration": 174560334,
            "prompt_eval_count": 11,
            "eval_count": 18,
        }
    )


def ndjson(*lines: dict[str, Any]) -> Reply:
    text = "".join(json.dumps(line) + "\n" for line in lines)
    return Reply.text(text, content_type="application/x-ndjson")


async def sent(provider: Provider, fake_server: FakeServer, **parameters: Any) -> dict[str, Any]:
    fake_server.enqueue(ollama_chat())
    await provider.complete(single(provider.context.model_name, **parameters))
    body: dict[str, Any] = fake_server.last_request.json
    assert problems(ollama_request_validator(), body) == []
    return body


async def test_an_effort_is_a_think_level_for_gpt_oss(make: Any, fake_server: FakeServer) -> None:
    body = await sent(make(GPT_OSS), fake_server, reasoning={"effort": "minimal"}, num_predict=512)
    assert body == {
        "model": GPT_OSS,
        "messages": HELLO,
        "stream": False,
        "think": "low",
        "options": {"num_predict": 512},
    }


async def test_an_effort_is_think_true_for_other_models(make: Any, fake_server: FakeServer) -> None:
    assert (await sent(make(QWEN), fake_server, reasoning={"effort": "high"}))["think"] is True


async def test_a_budget_is_think_with_a_warning(
    make: Any, fake_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    provider = make(QWEN)
    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        assert (await sent(provider, fake_server, reasoning={"budget_tokens": 2048}))["think"] is True
        assert (await sent(provider, fake_server, reasoning={"budget_tokens": 4096}))["think"] is True
        assert (await sent(provider, fake_server, reasoning={"budget_tokens": 0}))["think"] is False
    assert len([record for record in caplog.records if "no token budget" in record.getMessage()]) == 1


async def test_response_schema_is_format(make: Any, fake_server: FakeServer) -> None:
    body = await sent(make(), fake_server, response_schema=SCHEMA, temperature=0)
    assert body == {
        "model": LLAMA,
        "messages": HELLO,
        "stream": False,
        "format": SCHEMA,
        "options": {"temperature": 0},
    }


async def test_tools_in_openais_shape_and_none_sends_none(make: Any, fake_server: FakeServer) -> None:
    assert (await sent(make(), fake_server, tools=[WEATHER], tool_choice="auto"))["tools"] == [WEATHER]
    assert "tools" not in await sent(make(), fake_server, tools=[WEATHER], tool_choice="none")
    assert "tool_choice" not in await sent(make(), fake_server, tools=[WEATHER])


async def test_a_reply_with_only_tool_calls_is_a_completion(make: Any, fake_server: FakeServer) -> None:
    call = {"id": "call_1", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}}
    fake_server.enqueue(chat({"content": "", "tool_calls": [call]}))
    completion = await make(QWEN).complete(single(QWEN, tools=[WEATHER]))
    assert completion.text == ""
    assert completion.tool_calls == (ToolCall("get_weather", {"city": "Paris"}, "call_1"),)


async def test_thinking_is_the_reasoning_never_the_text(make: Any, fake_server: FakeServer) -> None:
    fake_server.enqueue(chat({"content": "Paris.", "thinking": "The capital of France is Paris."}))
    completion = await make(QWEN).complete(single(QWEN, reasoning={"effort": "low"}))
    assert (completion.text, completion.reasoning) == ("Paris.", "The capital of France is Paris.")
    assert completion.usage == Usage(11, 18)


async def test_a_reply_that_spent_num_predict_thinking_is_an_output_limit(
    make: Any, fake_server: FakeServer
) -> None:
    fake_server.enqueue(chat({"content": "", "thinking": "Hmm, let me"}, done_reason="length"))
    with pytest.raises(OutputLimit, match="raise options.num_predict"):
        await make(QWEN).complete(single(QWEN, reasoning={"effort": "low"}, num_predict=64))


STREAM = [
    {
        "model": QWEN,
        "created_at": "t",
        "message": {"role": "assistant", "content": "", "thinking": "Think"},
        "done": False,
    },
    {
        "model": QWEN,
        "created_at": "t",
        "message": {"role": "assistant", "content": "", "thinking": "ing."},
        "done": False,
    },
    {"model": QWEN, "created_at": "t", "message": {"role": "assistant", "content": "Hel"}, "done": False},
    {"model": QWEN, "created_at": "t", "message": {"role": "assistant", "content": "lo!"}, "done": False},
    {
        "model": QWEN,
        "created_at": "t",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 1000,
        "prompt_eval_count": 11,
        "eval_count": 18,
    },
]


async def test_a_stream_is_json_lines_merged_into_the_same_reply(make: Any, fake_server: FakeServer) -> None:
    fake_server.enqueue(ndjson(*STREAM))
    completion = await make(QWEN).complete(single(QWEN, stream=True, reasoning={"effort": "low"}))
    body = fake_server.last_request.json
    assert body["stream"] is True
    assert problems(ollama_request_validator(), body) == []
    assert completion.time_to_first_token_s is not None
    assert completion == Completion(
        text="Hello!",
        finish_reason="stop",
        usage=Usage(11, 18),
        model=QWEN,
        reasoning="Thinking.",
        time_to_first_token_s=completion.time_to_first_token_s,
    )


async def test_streamed_tool_calls_are_kept(make: Any, fake_server: FakeServer) -> None:
    call = {"function": {"index": 0, "name": "get_weather", "arguments": {"city": "Rome"}}}
    lines = [
        {"model": QWEN, "message": {"role": "assistant", "content": "", "tool_calls": [call]}, "done": False},
        STREAM[-1],
    ]
    fake_server.enqueue(ndjson(*lines))
    completion = await make(QWEN).complete(single(QWEN, stream=True, tools=[WEATHER]))
    assert completion.tool_calls == (ToolCall("get_weather", {"city": "Rome"}),)


async def test_an_error_line_mid_stream_is_an_error_not_a_reply(make: Any, fake_server: FakeServer) -> None:
    fake_server.enqueue(ndjson(*STREAM[:3], {"error": "an error was encountered while running the model"}))
    with pytest.raises(ServerError, match="the stream failed after HTTP 200 .*while running the model"):
        await make(QWEN).complete(single(QWEN, stream=True))


async def test_a_stream_cut_before_its_done_line_is_a_connection_failure(
    make: Any, fake_server: FakeServer
) -> None:
    fake_server.enqueue(ndjson(*STREAM[:3]))
    with pytest.raises(ConnectionFailed, match="before its done line"):
        await make(QWEN).complete(single(QWEN, stream=True))


async def test_a_merged_stream_its_parser_cannot_read_is_a_malformed_reply_showing_it(
    make: Any, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = make(QWEN)

    def unreadable(payload: Any, response: Any) -> Completion:
        raise KeyError("message")

    monkeypatch.setattr(provider, "parse_reply", unreadable)
    fake_server.enqueue(ndjson(*STREAM))
    with pytest.raises(MalformedReply, match=r"stream could not be parsed \(KeyError: 'message'\): .*Hello!"):
        await provider.complete(single(QWEN, stream=True))


async def test_a_streamed_request_for_a_missing_model_is_not_found(
    make: Any, fake_server: FakeServer
) -> None:
    fake_server.enqueue(Reply.json({"error": "model 'nope' not found"}, status=404))
    with pytest.raises(NotFound, match="model 'nope' not found"):
        await make("nope").complete(single("nope", stream=True))
