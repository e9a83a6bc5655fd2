"""``api: gemini`` on the wire, and the ``generateContent`` dialect it shares with ``vertexai``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from providers import (
    AuthError,
    BadRequest,
    ConnectionFailed,
    MalformedReply,
    NotFound,
    OutputLimit,
    Provider,
    ProviderContext,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    SafetyBlocked,
    ServerError,
    Usage,
)
from providers._google.base import HARM_CATEGORIES
from providers.gemini import GeminiProvider
from runner import ExperimentConfig, RunConfig
from runner.prompts._resolve import resolve_prompt
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import HTML_502, gemini_quota_429, gemini_response, google_error
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import IMAGE_URL, SECRET, b64, history, image_url, media_file, single

MODEL = "gemini-2.5-flash"
PATH = f"/v1beta/models/{MODEL}:generateContent"


@pytest.fixture
def provider(make_provider: MakeProvider, fake_server: FakeServer) -> Provider:
    return make_provider(
        "gemini", MODEL, env={"GEMINI_API_KEY": SECRET, "GEMINI_BASE_URL": fake_server.base_url}
    )


async def test_single_prompt_request(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(gemini_response())
    await provider.complete(single(MODEL, temperature=0.2, max_output_tokens=64, top_k=40))
    sent = fake_server.last_request
    assert (sent.method, sent.path) == ("POST", PATH)
    assert sent.headers["x-goog-api-key"] == SECRET
    assert "key" not in sent.query
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 64, "topK": 40},
    }


async def test_history_system_instruction_and_model_role(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(gemini_response())
    await provider.complete(history(MODEL))
    assert fake_server.last_request.json == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello."}]},
            {"role": "user", "parts": [{"text": "How are you?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
    }


async def test_request_level_parameters_and_safety_filter(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(gemini_response())
    tools = [{"googleSearch": {}}]
    await provider.complete(
        single(
            MODEL,
            safety_filter="few",
            tools=tools,
            cached_content="cachedContents/abc",
            generation_config={"thinking_config": {"thinking_budget": 0}},
            candidate_count=1,
        )
    )
    assert fake_server.last_request.json == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "safetySettings": [{"category": c, "threshold": "BLOCK_ONLY_HIGH"} for c in HARM_CATEGORIES],
        "tools": tools,
        "cachedContent": "cachedContents/abc",
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}, "candidateCount": 1},
    }


def test_unknown_safety_filter_is_refused_before_the_run() -> None:
    assert GeminiProvider.check_request(single(MODEL, safety_filter="lots")) == [
        "safety_filter 'lots' is not one of none, few, some, default, most"
    ]


async def test_url_media_is_file_data(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(gemini_response())
    await provider.complete(image_url(MODEL))
    assert fake_server.last_request.json["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"fileData": {"fileUri": IMAGE_URL, "mimeType": "image/jpeg"}},
    ]


async def test_local_image_and_video_are_inline(
    provider: Provider, fake_server: FakeServer, media_dir: Path
) -> None:
    fake_server.enqueue(gemini_response(), gemini_response())
    await provider.complete(media_file(MODEL, media_dir / "cat.png"))
    await provider.complete(media_file(MODEL, media_dir / "clip.mp4", "video", "video/mp4"))
    image, video = (request.json["contents"][0]["parts"][1] for request in fake_server.requests)
    assert image == {"inlineData": {"mimeType": "image/png", "data": b64(media_dir / "cat.png")}}
    assert video == {"inlineData": {"mimeType": "video/mp4", "data": b64(media_dir / "clip.mp4")}}


async def test_reply_is_parsed(provider: Provider, fake_server: FakeServer) -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "thinking...", "thought": True}, {"text": "A cat"}, {"text": "."}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 270, "candidatesTokenCount": 7, "thoughtsTokenCount": 41},
        "modelVersion": "gemini-2.5-flash-001",
    }
    fake_server.enqueue(Reply.json(body))
    completion = await provider.complete(single(MODEL))
    assert (completion.text, completion.finish_reason) == ("A cat.", "STOP")
    assert completion.usage == Usage(input_tokens=270, output_tokens=48, reasoning_tokens=41)
    assert (completion.model, completion.rate_limit) == ("gemini-2.5-flash-001", None)


async def test_max_tokens_spent_on_thoughts_is_an_output_limit(
    provider: Provider, fake_server: FakeServer
) -> None:
    """MAX_TOKENS with no parts at all (the budget went on thinking): recorded, never retried, and the
    message names the setting to raise."""
    fake_server.enqueue(
        gemini_response(None, finish_reason="MAX_TOKENS", candidates_tokens=0, thoughts_tokens=64)
    )
    with pytest.raises(OutputLimit) as caught:
        await provider.complete(single(MODEL))
    assert caught.value.error_type == "output_limit"
    assert not caught.value.retryable
    assert "64 reasoning tokens" in str(caught.value)
    assert "max_output_tokens (generationConfig.maxOutputTokens)" in str(caught.value)


async def test_max_tokens_after_some_text_is_a_truncated_success(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(gemini_response("Once upon", finish_reason="MAX_TOKENS", thoughts_tokens=60))
    completion = await provider.complete(single(MODEL))
    assert (completion.text, completion.finish_reason) == ("Once upon", "MAX_TOKENS")


PROMPT_BLOCKED = {
    "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [{"category": "X", "blocked": True}]},
    "usageMetadata": {"promptTokenCount": 9},
}
BAD_KEY_DETAILS = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]


def case(name: str, reply: Reply, error: type[ProviderError], retry_after: float | None = None) -> object:
    return pytest.param(reply, error, retry_after, id=name)


ERROR_CASES = [
    case(
        "429 per minute", gemini_quota_429("GenerateRequestsPerMinutePerProjectPerModel"), RateLimited, 23.0
    ),
    case("429 fractional delay", gemini_quota_429("PerMinute", retry_delay="29.72s"), RateLimited, 29.72),
    case(
        "429 per day", gemini_quota_429("GenerateRequestsPerDayPerProjectPerModel-FreeTier"), QuotaExhausted
    ),
    case(
        "429 bare (vertex style)", google_error(429, "RESOURCE_EXHAUSTED", "Resource exhausted."), RateLimited
    ),
    case(
        "400 bad key",
        google_error(400, "INVALID_ARGUMENT", "API key not valid.", details=BAD_KEY_DETAILS),
        AuthError,
    ),
    case("400", google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload"), BadRequest),
    case("400 precondition", google_error(400, "FAILED_PRECONDITION", "Billing required"), BadRequest),
    case("403", google_error(403, "PERMISSION_DENIED", "API_KEY_SERVICE_BLOCKED"), AuthError),
    case("404", google_error(404, "NOT_FOUND", "models/gemini-9 is not found"), NotFound),
    case("500", google_error(500, "INTERNAL", "Internal error"), ServerError),
    case("503", google_error(503, "UNAVAILABLE", "The model is overloaded."), ServerError),
    case("504", google_error(504, "DEADLINE_EXCEEDED", "Deadline exceeded"), ServerError),
    case("502 html page", Reply.text(HTML_502, status=502), ServerError),
    case(
        "error in a list",
        Reply.json([{"error": {"code": 500, "message": "x", "status": "INTERNAL"}}], status=500),
        ServerError,
    ),
    case("prompt blocked", Reply.json(PROMPT_BLOCKED), SafetyBlocked),
    case("reply blocked SAFETY", gemini_response(None, finish_reason="SAFETY"), SafetyBlocked),
    case("reply blocked RECITATION", gemini_response("partial", finish_reason="RECITATION"), SafetyBlocked),
    case(
        "reply blocked PROHIBITED_CONTENT",
        gemini_response(None, finish_reason="PROHIBITED_CONTENT"),
        SafetyBlocked,
    ),
    case("reply blocked BLOCKLIST", gemini_response(None, finish_reason="BLOCKLIST"), SafetyBlocked),
    case("reply blocked SPII", gemini_response(None, finish_reason="SPII"), SafetyBlocked),
    case("no candidates", Reply.json({"usageMetadata": {"promptTokenCount": 3}}), MalformedReply),
    case("200 html", Reply.text("<html>hi</html>"), MalformedReply),
    case("200 truncated", Reply.text('{"candidates": [', content_type="application/json"), MalformedReply),
    case("dropped", Reply.drop(), ConnectionFailed),
]


@pytest.mark.parametrize(("reply", "error", "retry_after"), ERROR_CASES)
async def test_errors_are_classified(
    provider: Provider,
    fake_server: FakeServer,
    reply: Reply,
    error: type[ProviderError],
    retry_after: float | None,
) -> None:
    fake_server.enqueue(reply)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(single(MODEL))
    assert type(caught.value) is error
    assert caught.value.retry_after == pytest.approx(retry_after)
    assert SECRET not in str(caught.value)


async def test_safety_block_names_the_reason(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(Reply.json(PROMPT_BLOCKED))
    with pytest.raises(SafetyBlocked, match="blockReason SAFETY"):
        await provider.complete(single(MODEL))


async def test_key_echoed_by_the_server_is_scrubbed(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(
        google_error(400, "INVALID_ARGUMENT", f"API key not valid: {SECRET}", details=BAD_KEY_DETAILS)
    )
    with pytest.raises(AuthError) as caught:
        await provider.complete(single(MODEL))
    assert SECRET not in str(caught.value)


async def test_model_specific_key_wins(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    env = {
        "GEMINI_BASE_URL": fake_server.base_url,
        "GEMINI_API_KEY": "g",
        "GEMINI_API_KEY_gemini_2_5_flash": "s",
    }
    fake_server.enqueue(gemini_response())
    await make_provider("gemini", MODEL, env=env).complete(single(MODEL))
    assert fake_server.last_request.headers["x-goog-api-key"] == "s"


def test_configuration() -> None:
    assert (
        GeminiProvider.resolve_endpoint(ProviderContext(MODEL)) == "https://generativelanguage.googleapis.com"
    )
    assert GeminiProvider.check_config(ProviderContext(MODEL)) == [
        "api 'gemini' needs an API key: set GEMINI_API_KEY "
        "(or GEMINI_API_KEY_gemini_2_5_flash for this model only)"
    ]


@pytest.mark.parametrize(
    ("line", "parameters"),
    [
        ({"api": "gemini", "safety_filter": "none"}, {"safety_filter": "none"}),  # prompto's place for it
        ({"api": "vertexai", "safety_filter": "most"}, {"safety_filter": "most"}),
        (
            {"api": "gemini", "safety_filter": "none", "parameters": {"safety_filter": "few"}},
            {"safety_filter": "few"},
        ),
        ({"api": "openai", "safety_filter": "none"}, {}),  # prompto ignores it for other APIs, and so do we
    ],
)
def test_prompto_top_level_safety_filter_reaches_the_request(
    tmp_path: Path, line: dict[str, Any], parameters: dict[str, Any]
) -> None:
    config = RunConfig(experiment=ExperimentConfig(file=tmp_path / "x.jsonl"), data_folder=tmp_path)
    prompt = resolve_prompt({"id": 1, "model_name": MODEL, "prompt": "hi", **line}, config)
    assert prompt.parameters == parameters
    assert prompt.data["safety_filter"] == line["safety_filter"]  # the record keeps the line as it was


async def test_cached_content_is_part_of_the_prompt(provider: Provider, fake_server: FakeServer) -> None:
    usage = {"promptTokenCount": 5000, "cachedContentTokenCount": 4096, "candidatesTokenCount": 12}
    body = {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}
    fake_server.enqueue(Reply.json({**body, "usageMetadata": usage}))
    completion = await provider.complete(single(MODEL))
    assert completion.usage == Usage(5000, 12, cached_input_tokens=4096)
    assert completion.usage.as_record() == {
        "input_tokens": 5000,
        "output_tokens": 12,
        "cached_input_tokens": 4096,
    }
