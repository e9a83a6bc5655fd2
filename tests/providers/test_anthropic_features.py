"""``api: anthropic`` on the wire for issue 18's features: thinking, structured output, tools, streaming;
replies with thinking blocks, tool calls, cached tokens and server-sent events as the Messages API
sends them."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import trio

from providers import (
    BadRequest,
    Completion,
    ConnectionFailed,
    OutputLimit,
    Provider,
    RateLimited,
    SafetyBlocked,
    ServerError,
    ToolCall,
    Usage,
)
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import anthropic_error, anthropic_message
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import SECRET, single
from tests.providers.specs_anthropic_ollama import anthropic_request_validator, problems

SONNET_45, OPUS_47 = "claude-sonnet-4-5", "claude-opus-4-7"
HELLO = [{"role": "user", "content": "Hello"}]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def make(make_provider: MakeProvider, fake_server: FakeServer) -> Any:
    def build(model: str = SONNET_45) -> Provider:
        env = {"ANTHROPIC_API_KEY": SECRET, "ANTHROPIC_BASE_URL": fake_server.base_url}
        return make_provider("anthropic", model, env=env)

    return build


def message(content: list[dict[str, Any]], stop_reason: str = "end_turn", **usage: Any) -> Reply:
    return Reply.json(
        {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": SONNET_45,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 50, **usage},
        },
        headers={"request-id": "req_011CabcXYZ"},
    )


def sse(*events: dict[str, Any], end: bool = True) -> Reply:
    """The events as Anthropic sends them: ``event: <type>`` and ``data: <JSON>``, a blank line after each."""
    text = "".join(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events)
    return Reply.text(text, content_type="text/event-stream", headers={"request-id": "req_stream"})


async def sent(
    provider: Provider, fake_server: FakeServer, reply: Reply, **parameters: Any
) -> dict[str, Any]:
    fake_server.enqueue(reply)
    await provider.complete(single(provider.context.model_name, **parameters))
    body: dict[str, Any] = fake_server.last_request.json
    assert problems(anthropic_request_validator(), body) == []
    return body


async def test_a_budget_is_manual_thinking_with_max_tokens_raised(
    make: Any, fake_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    provider = make()
    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        body = await sent(
            provider, fake_server, anthropic_message(), reasoning={"budget_tokens": 4096}, max_tokens=1000
        )
        await sent(
            provider, fake_server, anthropic_message(), reasoning={"budget_tokens": 4096}, max_tokens=1000
        )
    assert body == {
        "max_tokens": 5096,
        "model": SONNET_45,
        "messages": HELLO,
        "thinking": {"type": "enabled", "budget_tokens": 4096},
    }
    assert [record.getMessage() for record in caplog.records if "max_tokens" in record.getMessage()] == [
        "api 'anthropic': max_tokens 1000 is not above the thinking budget: sent as 5096 (budget + 1000), "
        "as Anthropic requires max_tokens above budget_tokens (this warning shows once per run)"
    ]


async def test_an_effort_is_a_documented_budget_on_older_models(make: Any, fake_server: FakeServer) -> None:
    body = await sent(
        make(), fake_server, anthropic_message(), reasoning={"effort": "medium"}, max_tokens=16000
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert body["max_tokens"] == 16000  # already above the budget: untouched


async def test_an_effort_is_adaptive_thinking_on_claude_4_7(make: Any, fake_server: FakeServer) -> None:
    body = await sent(make(OPUS_47), fake_server, anthropic_message(), reasoning={"effort": "minimal"})
    assert body == {
        "max_tokens": 4096,
        "model": OPUS_47,
        "messages": HELLO,
        "thinking": {"type": "adaptive", "display": "summarized"},
        "output_config": {"effort": "low"},
    }


async def test_response_schema_is_output_config_format(make: Any, fake_server: FakeServer) -> None:
    reply = message([{"type": "text", "text": '{"answer": "Paris"}'}])
    body = await sent(make(OPUS_47), fake_server, reply, response_schema=SCHEMA, reasoning={"effort": "high"})
    assert body["output_config"] == {"effort": "high", "format": {"type": "json_schema", "schema": SCHEMA}}
    assert "anthropic-beta" not in fake_server.last_request.headers  # generally available: no beta header


async def test_tools_and_tool_choice_in_anthropics_shape(make: Any, fake_server: FakeServer) -> None:
    body = await sent(make(), fake_server, anthropic_message(), tools=[WEATHER], tool_choice="get_weather")
    assert body["tools"] == [
        {"name": "get_weather", "description": "The weather in a city", "input_schema": WEATHER["parameters"]}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    for choice, expected in (("auto", "auto"), ("required", "any"), ("none", "none")):
        body = await sent(make(), fake_server, anthropic_message(), tools=[WEATHER], tool_choice=choice)
        assert body["tool_choice"] == {"type": expected}


async def test_a_reply_with_only_tool_calls_is_a_completion(make: Any, fake_server: FakeServer) -> None:
    reply = message(
        [
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Rome"}},
        ],
        stop_reason="tool_use",
    )
    fake_server.enqueue(reply)
    completion = await make().complete(single(SONNET_45, tools=[WEATHER]))
    assert completion.text == ""
    assert completion.tool_calls == (
        ToolCall("get_weather", {"city": "Paris"}, "toolu_01"),
        ToolCall("get_weather", {"city": "Rome"}, "toolu_02"),
    )


async def test_thinking_blocks_are_the_reasoning_never_the_text(make: Any, fake_server: FakeServer) -> None:
    reply = message(
        [
            {"type": "thinking", "thinking": "The user greets me.", "signature": "EqQBCgIYAhIM"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
            {"type": "text", "text": "Hi!"},
        ],
        cache_read_input_tokens=3000,
        cache_creation_input_tokens=200,
        output_tokens_details={"thinking_tokens": 40},
        service_tier="standard",
    )
    fake_server.enqueue(reply)
    completion = await make().complete(single(SONNET_45, reasoning={"budget_tokens": 2048}, max_tokens=4096))
    assert completion.text == "Hi!"
    assert completion.reasoning == (
        "The user greets me.\n\n[1 redacted_thinking block(s): encrypted, not readable]"
    )
    assert completion.usage == Usage(
        3210, 50, cached_input_tokens=3000, cache_write_tokens=200, reasoning_tokens=40
    )
    assert completion.provenance == {"request_id": "req_011CabcXYZ", "service_tier": "standard"}


async def test_a_reply_that_spent_max_tokens_thinking_is_an_output_limit(
    make: Any, fake_server: FakeServer
) -> None:
    reply = message(
        [{"type": "thinking", "thinking": "Let me think", "signature": "s"}], stop_reason="max_tokens"
    )
    fake_server.enqueue(reply)
    with pytest.raises(OutputLimit, match="raise max_tokens"):
        await make().complete(single(SONNET_45, reasoning={"budget_tokens": 2048}, max_tokens=4096))
    assert fake_server.pending == 0  # recorded once, not retried here (the engine does not retry it either)


async def test_a_400_naming_a_parameter_is_a_bad_request_with_its_message(
    make: Any, fake_server: FakeServer
) -> None:
    fake_server.enqueue(
        anthropic_error(400, "invalid_request_error", "`temperature` is deprecated for this model.")
    )
    with pytest.raises(BadRequest, match="`temperature` is deprecated for this model"):
        await make("claude-future-1").complete(single("claude-future-1", temperature=0.5))


START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": SONNET_45,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 100},
    },
}
THINKING_EVENTS: list[dict[str, Any]] = [
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Paris is "}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "sunny?"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}},
    {"type": "content_block_stop", "index": 0},
]
TEXT_EVENTS: list[dict[str, Any]] = [
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Let me "}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "check."}},
    {"type": "content_block_stop", "index": 1},
]
TOOL_EVENTS: list[dict[str, Any]] = [
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
    },
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
    },
    {"type": "content_block_stop", "index": 2},
]
END: list[dict[str, Any]] = [
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 89, "output_tokens_details": {"thinking_tokens": 30}},
    },
    {"type": "message_stop"},
]


async def test_a_stream_is_merged_into_the_same_reply(make: Any, fake_server: FakeServer) -> None:
    fake_server.enqueue(sse(START, *THINKING_EVENTS, *TEXT_EVENTS, *TOOL_EVENTS, *END))
    parameters = {
        "stream": True,
        "tools": [WEATHER],
        "reasoning": {"budget_tokens": 2048},
        "max_tokens": 4096,
    }
    completion = await make().complete(single(SONNET_45, **parameters))
    assert fake_server.last_request.json["stream"] is True
    assert problems(anthropic_request_validator(), fake_server.last_request.json) == []
    assert completion.time_to_first_token_s is not None
    assert completion.time_to_first_token_s >= 0
    expected = Completion(
        text="Let me check.",
        finish_reason="tool_use",
        usage=Usage(125, 89, cached_input_tokens=100, reasoning_tokens=30),
        model=SONNET_45,
        rate_limit=completion.rate_limit,
        reasoning="Paris is sunny?",
        tool_calls=(ToolCall("get_weather", {"city": "Paris"}, "toolu_01"),),
        provenance={"request_id": "req_stream", "service_tier": None},
        time_to_first_token_s=completion.time_to_first_token_s,
    )
    assert completion == expected


async def test_an_error_event_mid_stream_is_an_error_not_a_reply(make: Any, fake_server: FakeServer) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake_server.enqueue(sse(START, *TEXT_EVENTS, overloaded))
    with pytest.raises(ServerError, match="the stream failed after HTTP 200 .*Overloaded"):
        await make().complete(single(SONNET_45, stream=True))


async def test_a_stream_cut_before_message_stop_is_a_connection_failure(
    make: Any, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse(START, *TEXT_EVENTS))
    with pytest.raises(ConnectionFailed, match="before message_stop"):
        await make().complete(single(SONNET_45, stream=True))


async def test_a_streamed_request_refused_up_front_is_classified(make: Any, fake_server: FakeServer) -> None:
    fake_server.enqueue(anthropic_error(429, "rate_limit_error", "Slow down", headers={"retry-after": "3"}))
    with pytest.raises(RateLimited) as caught:
        await make().complete(single(SONNET_45, stream=True))
    assert caught.value.retry_after == 3


async def test_a_streamed_refusal_is_a_safety_block(make: Any, fake_server: FakeServer) -> None:
    refusal = {"type": "message_delta", "delta": {"stop_reason": "refusal"}, "usage": {"output_tokens": 3}}
    fake_server.enqueue(sse(START, *TEXT_EVENTS, refusal, {"type": "message_stop"}))
    with pytest.raises(SafetyBlocked):
        await make().complete(single(SONNET_45, stream=True))


async def test_the_request_deadline_holds_for_a_stream(make: Any, fake_server: FakeServer) -> None:
    fake_server.enqueue(Reply.hang())
    with trio.move_on_after(0.3) as deadline:
        await make().complete(single(SONNET_45, stream=True))
    assert deadline.cancelled_caught
