"""reasoning, response_schema, tools, streaming and provenance on ``gemini`` and ``vertexai``, on the
wire: the exact request bodies Google documents, and replies as the APIs send them (thought parts,
cached tokens, function calls, server-sent events, mid-stream errors)."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import trio

from providers import (
    BadRequest,
    ChatRequest,
    ConnectionFailed,
    MalformedReply,
    MediaPart,
    Message,
    OutputLimit,
    Provider,
    ProviderContext,
    QuotaExhausted,
    SafetyBlocked,
    ServerError,
    TextPart,
    ToolCall,
    Usage,
)
from providers.gemini import GeminiProvider
from providers.vertexai import VertexAIProvider
from runner.run_folder._records import reply_fields
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import gemini_quota_429, google_error
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import IMAGE_URL, SECRET, single

MODEL, MODEL_3 = "gemini-2.5-flash", "gemini-3-pro-preview"
PATH = f"/v1beta/models/{MODEL}:generateContent"
STREAM_PATH = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
HELLO = [{"role": "user", "parts": [{"text": "Hello"}]}]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
THINKING_REPLY = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"text": "**Weighing it up**\nThe user greets me.", "thought": True},
                    {"text": "Hello", "thoughtSignature": "c2lnbmF0dXJl"},
                    {"text": " there."},
                ],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 5000,
        "cachedContentTokenCount": 4096,
        "candidatesTokenCount": 3,
        "thoughtsTokenCount": 120,
        "totalTokenCount": 5123,
    },
    "modelVersion": "gemini-2.5-flash-001",
    "responseId": "resp-abc",
}
TOOL_REPLY = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": "eA==",
                    },
                    {"functionCall": {"id": "call-2", "name": "get_weather", "args": {"city": "Oslo"}}},
                ],
            },
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 20, "totalTokenCount": 60},
    "modelVersion": "gemini-2.5-flash",
}


@pytest.fixture
def provider(make_provider: MakeProvider, fake_server: FakeServer) -> Provider:
    return make_provider(
        "gemini", MODEL, env={"GEMINI_API_KEY": SECRET, "GEMINI_BASE_URL": fake_server.base_url}
    )


def sse(*chunks: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    """A ``:streamGenerateContent?alt=sse`` reply: one ``data:`` event per chunk, no ``[DONE]``."""
    body = "".join(f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in chunks)
    return Reply.text(body, content_type="text/event-stream", headers=headers)


def chunk(
    *parts: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "r9",
    }
    if usage:
        body["usageMetadata"] = usage
    return body


# -- reasoning ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "reasoning", "thinking"),
    [
        (MODEL, {"budget_tokens": 2048}, {"thinkingBudget": 2048, "includeThoughts": True}),
        (MODEL, {"effort": "low"}, {"thinkingBudget": 1024, "includeThoughts": True}),
        (MODEL, {"effort": "high"}, {"thinkingBudget": 24576, "includeThoughts": True}),
        (MODEL, {"budget_tokens": 0}, {"thinkingBudget": 0, "includeThoughts": True}),
        (MODEL_3, {"effort": "low"}, {"thinkingLevel": "LOW", "includeThoughts": True}),
        (MODEL_3, {"effort": "minimal"}, {"thinkingLevel": "MINIMAL", "includeThoughts": True}),
        (MODEL_3, {"budget_tokens": 512}, {"thinkingBudget": 512, "includeThoughts": True}),
    ],
)
async def test_reasoning_is_thinking_config(
    make_provider: MakeProvider,
    fake_server: FakeServer,
    model: str,
    reasoning: dict[str, Any],
    thinking: dict[str, Any],
) -> None:
    provider = make_provider(
        "gemini", model, env={"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": fake_server.base_url}
    )
    fake_server.enqueue(Reply.json(THINKING_REPLY))
    await provider.complete(single(model, reasoning=reasoning, max_output_tokens=4096))
    assert fake_server.last_request.json == {
        "contents": HELLO,
        "generationConfig": {"maxOutputTokens": 4096, "thinkingConfig": thinking},
    }


async def test_thought_parts_are_the_reasoning_never_the_text(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(Reply.json(THINKING_REPLY))
    completion = await provider.complete(single(MODEL, reasoning={"effort": "medium"}))
    assert completion.text == "Hello there."
    assert completion.reasoning == "**Weighing it up**\nThe user greets me."
    assert completion.usage == Usage(5000, 123, cached_input_tokens=4096, reasoning_tokens=120)
    assert completion.model == "gemini-2.5-flash-001"
    assert completion.provenance == {"request_id": "resp-abc"}
    fields = reply_fields(completion, {"reasoning": {"effort": "medium"}})
    assert fields == {"reasoning": "**Weighing it up**\nThe user greets me.", "request_id": "resp-abc"}


async def test_no_thought_parts_is_no_reasoning(provider: Provider, fake_server: FakeServer) -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "STOP"}]}
    fake_server.enqueue(Reply.json(body))
    assert (await provider.complete(single(MODEL))).reasoning is None


def test_reasoning_and_thinking_config_together_are_refused_before_the_run() -> None:
    request = single(
        MODEL, reasoning={"effort": "low"}, generation_config={"thinking_config": {"thinking_budget": 9}}
    )
    assert GeminiProvider.check_request(request) == [
        "reasoning and thinking_config both set the thinking: keep one"
    ]
    assert GeminiProvider.check_request(single(MODEL, reasoning={"effort": "huge"})) == [
        "reasoning.effort must be one of minimal, low, medium, high, not 'huge'"
    ]


async def test_a_refused_parameter_is_a_bad_request_with_the_server_message(
    provider: Provider, fake_server: FakeServer
) -> None:
    message = "Budget 0 is invalid. This model only works in thinking mode."
    fake_server.enqueue(google_error(400, "INVALID_ARGUMENT", message))
    with pytest.raises(BadRequest, match="Budget 0 is invalid"):
        await provider.complete(single(MODEL, reasoning={"budget_tokens": 0}))


async def test_output_limit_after_thoughts_only(provider: Provider, fake_server: FakeServer) -> None:
    """A thinking model that spent maxOutputTokens thinking: MAX_TOKENS, a thought part, no answer."""
    body = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hmm", "thought": True}]},
                "finishReason": "MAX_TOKENS",
            }
        ],
        "usageMetadata": {"promptTokenCount": 9, "thoughtsTokenCount": 256, "totalTokenCount": 265},
    }
    fake_server.enqueue(Reply.json(body))
    with pytest.raises(OutputLimit, match="after 256 reasoning tokens.*raise max_output_tokens"):
        await provider.complete(single(MODEL, max_output_tokens=256))
    assert fake_server.pending == 0


# -- structured output ---------------------------------------------------------------------------


async def test_response_schema_is_response_json_schema(provider: Provider, fake_server: FakeServer) -> None:
    body = {"candidates": [{"content": {"parts": [{"text": '{"answer": "4"}'}]}, "finishReason": "STOP"}]}
    fake_server.enqueue(Reply.json(body))
    completion = await provider.complete(single(MODEL, response_schema=SCHEMA, temperature=0))
    assert fake_server.last_request.json == {
        "contents": HELLO,
        "generationConfig": {
            "temperature": 0,
            "responseMimeType": "application/json",
            "responseJsonSchema": SCHEMA,
        },
    }
    assert reply_fields(completion, {"response_schema": SCHEMA})["parsed"] == {"answer": "4"}


def test_response_schema_with_another_mime_type_is_refused_before_the_run() -> None:
    request = single(MODEL, response_schema=SCHEMA, response_mime_type="text/plain")
    assert GeminiProvider.check_request(request) == [
        "response_schema needs response_mime_type application/json, not 'text/plain'"
    ]


async def test_response_schema_name_is_not_sent(provider: Provider, fake_server: FakeServer) -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "{}"}]}, "finishReason": "STOP"}]}
    fake_server.enqueue(Reply.json(body))
    await provider.complete(single(MODEL, response_schema=SCHEMA, response_schema_name="answer"))
    assert "response_schema_name" not in json.dumps(fake_server.last_request.json)
    assert "responseSchemaName" not in json.dumps(fake_server.last_request.json)


# -- tools ----------------------------------------------------------------------------------------

DECLARATION = {
    "name": "get_weather",
    "description": "The weather in a city",
    "parametersJsonSchema": WEATHER["function"]["parameters"],  # type: ignore[index]
}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (None, None),
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("get_weather", {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
async def test_tools_are_function_declarations(
    provider: Provider, fake_server: FakeServer, choice: str | None, config: dict[str, Any] | None
) -> None:
    fake_server.enqueue(Reply.json(TOOL_REPLY))
    parameters: dict[str, Any] = {"tools": [WEATHER]} | ({"tool_choice": choice} if choice else {})
    await provider.complete(single(MODEL, **parameters))
    expected: dict[str, Any] = {"contents": HELLO, "tools": [{"functionDeclarations": [DECLARATION]}]}
    if config is not None:
        expected["toolConfig"] = {"functionCallingConfig": config}
    assert fake_server.last_request.json == expected


async def test_bare_function_tools_and_googles_own_tools_together(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(Reply.json(TOOL_REPLY))
    bare = {"name": "now", "parameters": {"type": "object", "properties": {}}}
    await provider.complete(single(MODEL, tools=[{"google_search": {}}, bare, {"codeExecution": {}}]))
    assert fake_server.last_request.json["tools"] == [
        {"googleSearch": {}},
        {"codeExecution": {}},
        {
            "functionDeclarations": [
                {"name": "now", "parametersJsonSchema": {"type": "object", "properties": {}}}
            ]
        },
    ]


async def test_a_reply_of_only_function_calls_is_a_completion(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(Reply.json(TOOL_REPLY))
    completion = await provider.complete(single(MODEL, tools=[WEATHER]))
    assert completion.text == ""
    assert completion.tool_calls == (
        ToolCall("get_weather", {"city": "Paris"}),
        ToolCall("get_weather", {"city": "Oslo"}, "call-2"),
    )
    assert reply_fields(completion, {})["tool_calls"] == [
        {"id": None, "name": "get_weather", "arguments": {"city": "Paris"}},
        {"id": "call-2", "name": "get_weather", "arguments": {"city": "Oslo"}},
    ]


async def test_function_call_beside_text(provider: Provider, fake_server: FakeServer) -> None:
    parts = [{"text": "Let me check."}, {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]
    fake_server.enqueue(Reply.json({"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]}))
    completion = await provider.complete(single(MODEL, tools=[WEATHER]))
    assert (completion.text, completion.tool_calls) == (
        "Let me check.",
        (ToolCall("get_weather", {"city": "Rome"}),),
    )


def test_tool_choice_naming_no_tool_is_refused_before_the_run() -> None:
    assert GeminiProvider.check_request(single(MODEL, tools=[WEATHER], tool_choice="get_time")) == [
        "tool_choice 'get_time' names no tool in tools (get_weather)"
    ]
    assert GeminiProvider.check_request(single(MODEL, tools=[{"type": "function"}])) == [
        'each tool needs a name: {"type": "function"}'
    ]


# -- media options: only what Part defines (the spec bug) ----------------------------------------


async def test_openai_detail_is_not_sent_and_is_warned_about_once(
    provider: Provider, fake_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``detail`` (the README's own OpenAI example) is an unknown field of Google's closed ``Part``:
    it was copied into the part, and the API refused the request."""
    part = MediaPart("image", url=IMAGE_URL, options={"detail": "low"})
    request = ChatRequest(MODEL, (Message("user", (TextPart("What is this?"), part)),))
    fake_server.enqueue(Reply.json(THINKING_REPLY), Reply.json(THINKING_REPLY))
    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        await provider.complete(request)
        await provider.complete(request)
    for sent in fake_server.requests:
        assert sent.json["contents"][0]["parts"][1] == {
            "fileData": {"fileUri": IMAGE_URL, "mimeType": "image/jpeg"}
        }
    warnings = [record for record in caplog.records if "'detail'" in record.getMessage()]
    assert len(warnings) == 1
    assert "dropped" in warnings[0].getMessage()


async def test_video_metadata_is_kept_on_a_video_only(provider: Provider, fake_server: FakeServer) -> None:
    clip = {"startOffset": "10s", "endOffset": "40s"}
    video = MediaPart("video", url="https://www.youtube.com/watch?v=x", options={"video_metadata": clip})
    image = MediaPart("image", url=IMAGE_URL, options={"videoMetadata": clip})
    fake_server.enqueue(Reply.json(THINKING_REPLY))
    await provider.complete(ChatRequest(MODEL, (Message("user", (video, image)),)))
    assert fake_server.last_request.json["contents"][0]["parts"] == [
        {"fileData": {"fileUri": "https://www.youtube.com/watch?v=x"}, "videoMetadata": clip},
        {"fileData": {"fileUri": IMAGE_URL, "mimeType": "image/jpeg"}},
    ]


ABANDONS_A_STREAM = pytest.mark.filterwarnings(
    "ignore:Async generator .* was garbage collected:ResourceWarning"
)
"""Stopping at an error event leaves httpx's async generators unexhausted: trio closes each and warns
(a ResourceWarning, silent outside tests), as in ``test_reply_limits``. Stopping there is the point."""

# -- streaming ------------------------------------------------------------------------------------

STREAM = (
    chunk({"text": "Thinking about a greeting.", "thought": True}),
    chunk({"text": "Hello"}),
    chunk({"text": " there."}, usage={"promptTokenCount": 5, "candidatesTokenCount": 1}),
    chunk(
        {"text": ""},
        finish="STOP",
        usage={
            "promptTokenCount": 5,
            "candidatesTokenCount": 3,
            "thoughtsTokenCount": 7,
            "totalTokenCount": 15,
        },
    ),
)


async def test_stream_reads_server_sent_events_into_the_same_reply(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse(*STREAM, headers={"x-goog-request-id": "goog-1"}))
    completion = await provider.complete(single(MODEL, stream=True, max_output_tokens=64))
    sent = fake_server.last_request
    assert sent.path == STREAM_PATH
    assert sent.json == {"contents": HELLO, "generationConfig": {"maxOutputTokens": 64}}
    assert (completion.text, completion.reasoning, completion.finish_reason) == (
        "Hello there.",
        "Thinking about a greeting.",
        "STOP",
    )
    assert completion.usage == Usage(5, 10, reasoning_tokens=7)
    assert completion.model == "gemini-2.5-flash-001"
    assert completion.provenance == {"request_id": "goog-1"}
    assert completion.time_to_first_token_s is not None
    assert completion.time_to_first_token_s >= 0


async def test_streamed_function_calls(provider: Provider, fake_server: FakeServer) -> None:
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    fake_server.enqueue(
        sse(chunk(call, finish="STOP", usage={"promptTokenCount": 4, "candidatesTokenCount": 9}))
    )
    completion = await provider.complete(single(MODEL, stream=True, tools=[WEATHER]))
    assert (completion.text, completion.tool_calls) == ("", (ToolCall("get_weather", {"city": "Paris"}),))


@ABANDONS_A_STREAM
async def test_an_error_event_mid_stream_is_an_error_not_a_partial_reply(
    provider: Provider, fake_server: FakeServer
) -> None:
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    fake_server.enqueue(sse(chunk({"text": "Hel"}), error))
    with pytest.raises(ServerError, match="overloaded"):
        await provider.complete(single(MODEL, stream=True))


async def test_a_stream_cut_before_its_finish_reason_is_a_connection_failure(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(sse(chunk({"text": "Hello"}), chunk({"text": " the"})))
    with pytest.raises(ConnectionFailed, match="no finishReason"):
        await provider.complete(single(MODEL, stream=True))


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (gemini_quota_429("GenerateRequestsPerDayPerProjectPerModel-FreeTier"), QuotaExhausted),
        (
            sse({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}),
            SafetyBlocked,
        ),
        (sse(chunk({"text": "Step one"}), chunk(finish="SAFETY")), SafetyBlocked),
        (sse(chunk(finish="MAX_TOKENS", usage={"thoughtsTokenCount": 64})), OutputLimit),
        (Reply.text("data: {not json\r\n\r\n", content_type="text/event-stream"), MalformedReply),
    ],
    ids=["429 per day", "prompt blocked", "blocked after partial text", "output limit", "not json"],
)
@ABANDONS_A_STREAM
async def test_stream_failures_are_classified(
    provider: Provider, fake_server: FakeServer, reply: Reply, error: type[Exception]
) -> None:
    fake_server.enqueue(reply)
    with pytest.raises(error):
        await provider.complete(single(MODEL, stream=True))


async def test_the_request_deadline_holds_while_streaming(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(Reply.hang())
    with trio.move_on_after(0.3) as scope:
        await provider.complete(single(MODEL, stream=True))
    assert scope.cancelled_caught


async def test_events_are_read_as_they_arrive(tmp_path: Path) -> None:
    """The first event is in hand before the last is sent (the lean transport would hold both)."""
    first = f"data: {json.dumps(chunk({'text': 'Hi'}))}\r\n\r\n".encode()
    last = f"data: {json.dumps(chunk({'text': '!'}, finish='STOP'))}\r\n\r\n".encode()

    async def serve(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        await stream.send_all(head + b"%x\r\n%s\r\n" % (len(first), first))
        await trio.sleep(0.5)
        await stream.send_all(b"%x\r\n%s\r\n0\r\n\r\n" % (len(last), last))

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        context = ProviderContext(
            MODEL, environ={"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": f"http://127.0.0.1:{port}"}
        )
        provider = GeminiProvider(context)
        started = trio.current_time()
        completion = await provider.complete(single(MODEL, stream=True))
        took = trio.current_time() - started
        await provider.aclose()
        nursery.cancel_scope.cancel()
    assert completion.text == "Hi!"
    assert completion.time_to_first_token_s is not None
    assert completion.time_to_first_token_s < 0.4 <= took


# -- Vertex ---------------------------------------------------------------------------------------


@pytest.fixture
def vertex(make_provider: MakeProvider, fake_server: FakeServer) -> Provider:
    env = {
        "VERTEXAI_ACCESS_TOKEN": "tok",
        "VERTEXAI_PROJECT_ID": "proj",
        "VERTEXAI_BASE_URL": fake_server.base_url,
    }
    return make_provider("vertexai", MODEL, env=env)


async def test_vertex_streams_and_reports_its_traffic_type(vertex: Provider, fake_server: FakeServer) -> None:
    usage = {"promptTokenCount": 5, "candidatesTokenCount": 2, "trafficType": "ON_DEMAND_FLEX"}
    fake_server.enqueue(sse(chunk({"text": "Hi"}), chunk({"text": "!"}, finish="STOP", usage=usage)))
    completion = await vertex.complete(single(MODEL, stream=True, reasoning={"effort": "low"}))
    sent = fake_server.last_request
    assert sent.path == (
        f"/v1/projects/proj/locations/us-central1/publishers/google/models/{MODEL}:streamGenerateContent?alt=sse"
    )
    assert sent.headers["authorization"] == "Bearer tok"
    assert sent.json["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}
    }
    assert completion.text == "Hi!"
    assert completion.provenance == {"request_id": "r9", "service_tier": "ON_DEMAND_FLEX"}


async def test_vertex_keeps_media_resolution(vertex: Provider, fake_server: FakeServer) -> None:
    part = MediaPart(
        "image",
        url="gs://b/cat.png",
        options={"mediaResolution": {"level": "MEDIA_RESOLUTION_LOW"}, "detail": "x"},
    )
    fake_server.enqueue(Reply.json(THINKING_REPLY))
    await vertex.complete(ChatRequest(MODEL, (Message("user", (part,)),)))
    assert fake_server.last_request.json["contents"][0]["parts"] == [
        {
            "fileData": {"fileUri": "gs://b/cat.png", "mimeType": "image/png"},
            "mediaResolution": {"level": "MEDIA_RESOLUTION_LOW"},
        }
    ]
    assert VertexAIProvider.check_request(single(MODEL, tool_choice="auto", tool_config={})) == [
        "tool_choice and tool_config both set toolConfig: keep one"
    ]
