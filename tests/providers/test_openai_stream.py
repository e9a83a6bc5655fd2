"""``stream: true`` on the Chat Completions wire: server-sent events read into the same record.

The events are shaped as OpenAI sends them (wire-protocols §1.4: ``data: {chunk}`` lines, usage on a
final chunk with ``choices: []``, ``data: [DONE]``), with Azure's first chunk (``choices: []``, empty
``model``), vLLM's ``reasoning_content`` deltas and TGI's error events.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from providers import (
    Completion,
    ConnectionFailed,
    OutputLimit,
    Provider,
    RateLimited,
    ServerError,
    Usage,
)
from providers._features import ToolCall
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import openai_error
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import single

USAGE = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}


def chunk(
    delta: dict[str, Any] | None = None, finish_reason: str | None = None, **fields: Any
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_1", "choices": choices, **fields}  # fmt: skip


def sse(*events: dict[str, Any] | str, headers: dict[str, str] | None = None) -> Reply:
    """``data: ...`` events, each followed by a blank line (a string is sent as it is: ``[DONE]``)."""
    body = "".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events)
    return Reply.text(body, content_type="text/event-stream", headers=headers)


TEXT: list[dict[str, Any] | str] = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "A "}),
    chunk({"content": "cat."}),
    chunk({}, "stop"),
    chunk(None, usage=USAGE),
    "[DONE]",
]


def openai(make_provider: MakeProvider, server: FakeServer, model: str = "gpt-4o") -> Provider:
    return make_provider("openai", model, env={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.url("/v1")})


async def test_a_streamed_reply_is_the_same_record(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse(*TEXT, headers={"x-request-id": "req_9"}))
    completion = await openai(make_provider, fake_server).complete(
        single("gpt-4o", stream=True, max_tokens=9)
    )
    assert fake_server.last_request.json == {
        "max_tokens": 9,
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert completion.time_to_first_token_s is not None
    assert completion.time_to_first_token_s >= 0
    assert completion == Completion(
        text="A cat.",
        finish_reason="stop",
        usage=Usage(9, 2),
        model="gpt-4o-2024-08-06",
        provenance={"system_fingerprint": "fp_1", "request_id": "req_9"},
        time_to_first_token_s=completion.time_to_first_token_s,
    )


async def test_tool_call_pieces_are_joined(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    first = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    second = {
        "index": 1,
        "id": "call_2",
        "type": "function",
        "function": {"name": "get_time", "arguments": "{}"},
    }
    fake_server.enqueue(
        sse(
            chunk({"role": "assistant", "content": None, "tool_calls": [first]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}, second]}),
            chunk({}, "tool_calls"),
            chunk(None, usage=USAGE),
            "[DONE]",
        )
    )
    completion = await openai(make_provider, fake_server).complete(single("gpt-4o", stream=True))
    assert completion.text == ""
    assert completion.tool_calls == (
        ToolCall("get_weather", {"city": "Paris"}, "call_1"),
        ToolCall("get_time", {}, "call_2"),
    )


async def test_compatible_servers_stream_their_thinking_apart(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(
        sse(
            chunk({"role": "assistant", "reasoning_content": "Six "}),
            chunk({"reasoning_content": "sevens."}),
            chunk({"content": "42"}, "stop"),
            "[DONE]",
        )
    )
    provider = make_provider("openai-compatible", "qwen3", base_url=fake_server.url("/v1"))
    completion = await provider.complete(single("qwen3", stream=True))
    assert (completion.text, completion.reasoning) == ("42", "Six sevens.")
    assert completion.usage == Usage()  # the server sent none


async def test_azures_first_chunk_has_no_choices(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    filters = [
        {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}}}
    ]
    first = {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [],
        "prompt_filter_results": filters,
    }
    fake_server.enqueue(sse(first, *TEXT, headers={"apim-request-id": "apim-7"}))
    env = {"AZURE_OPENAI_API_ENDPOINT": fake_server.base_url, "AZURE_OPENAI_API_KEY": "k"}
    completion = await make_provider("azure-openai", "gpt-4o", env=env).complete(
        single("gpt-4o", stream=True)
    )
    assert (completion.text, completion.model) == ("A cat.", "gpt-4o-2024-08-06")
    assert completion.provenance["request_id"] == "apim-7"


async def test_a_stream_filtered_midway_is_safety_blocked(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    from providers import SafetyBlocked

    filtered = {"index": 0, "delta": {}, "finish_reason": "content_filter",
                "content_filter_results": {"violence": {"filtered": True, "severity": "high"}}}  # fmt: skip
    fake_server.enqueue(sse(chunk({"content": "Once"}), {**chunk(), "choices": [filtered]}, "[DONE]"))
    with pytest.raises(SafetyBlocked, match=r"\(violence\)"):
        await openai(make_provider, fake_server).complete(single("gpt-4o", stream=True))


@pytest.mark.parametrize(
    ("api", "event", "error"),
    [
        ("openai", {"error": {"message": "The server had an error", "type": "server_error"}}, ServerError),
        ("openai", {"error": {"message": "Slow down", "type": "rate_limit_exceeded"}}, RateLimited),
        ("huggingface-tgi", {"error": "Overloaded", "error_type": "overloaded"}, RateLimited),  # TGI's shape
    ],
)
async def test_an_error_midway_is_that_error_and_no_partial_text(
    make_provider: MakeProvider,
    fake_server: FakeServer,
    api: str,
    event: dict[str, Any],
    error: type[Exception],
) -> None:
    fake_server.enqueue(sse(chunk({"content": "Half an ans"}), event))
    if api == "openai":
        provider = openai(make_provider, fake_server)
    else:
        provider = make_provider(api, "tgi", env={"HUGGINGFACE_TGI_API_ENDPOINT": fake_server.base_url})
    with pytest.raises(error) as caught:
        await provider.complete(single("gpt-4o", stream=True))
    assert "Half an ans" not in str(caught.value)


async def test_a_cut_stream_is_retried_not_recorded(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse(chunk({"content": "Half an ans"})))
    with pytest.raises(ConnectionFailed, match="partial reply is not kept") as caught:
        await openai(make_provider, fake_server).complete(single("gpt-4o", stream=True))
    assert caught.value.retryable


async def test_an_error_status_is_classified_as_unstreamed(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(openai_error(429, "Rate limit reached", headers={"retry-after": "3"}))
    with pytest.raises(RateLimited) as caught:
        await openai(make_provider, fake_server).complete(single("gpt-4o", stream=True))
    assert caught.value.retry_after == 3.0


async def test_a_stream_at_its_limit_without_text_is_output_limit(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    usage = {**USAGE, "completion_tokens": 64, "completion_tokens_details": {"reasoning_tokens": 64}}
    fake_server.enqueue(
        sse(chunk({"role": "assistant", "content": ""}), chunk({}, "length"), chunk(None, usage=usage))
    )
    with pytest.raises(OutputLimit, match="after 64 reasoning tokens.*raise max_completion_tokens"):
        await openai(make_provider, fake_server, "o4-mini").complete(
            single("o4-mini", stream=True, max_tokens=64)
        )


async def test_the_request_deadline_still_holds(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    """The engine's ``move_on_after`` ends a stream that never answers."""
    fake_server.enqueue(Reply.hang())
    provider = openai(make_provider, fake_server)
    with trio.move_on_after(0.5) as deadline:
        await provider.complete(single("gpt-4o", stream=True))
    assert deadline.cancelled_caught
