"""``api: anthropic`` on the wire: Messages requests, replies, errors, configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers import (
    AuthError,
    BadRequest,
    ConnectionFailed,
    MalformedReply,
    NotFound,
    Provider,
    ProviderContext,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    SafetyBlocked,
    ServerError,
    Usage,
)
from providers.anthropic import DEFAULT_MAX_TOKENS, AnthropicProvider
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import HTML_502, anthropic_error, anthropic_message
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import IMAGE_URL, SECRET, b64, history, image_url, media_file, single

MODEL = "claude-sonnet-4-5"


@pytest.fixture
def provider(make_provider: MakeProvider, fake_server: FakeServer) -> Provider:
    env = {"ANTHROPIC_API_KEY": SECRET, "ANTHROPIC_BASE_URL": fake_server.base_url}
    return make_provider("anthropic", MODEL, env=env)


async def test_single_prompt_request(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(anthropic_message())
    await provider.complete(single(MODEL, temperature=0.5))
    sent = fake_server.last_request
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == SECRET
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "max_tokens": DEFAULT_MAX_TOKENS,
        "temperature": 0.5,
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hello"}],
    }


async def test_history_puts_system_at_top_level(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(anthropic_message())
    await provider.complete(history(MODEL, max_tokens=100))
    assert fake_server.last_request.json == {
        "max_tokens": 100,
        "model": MODEL,
        "system": "Be terse.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "How are you?"},
        ],
    }


async def test_image_url_is_a_url_source(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(anthropic_message())
    await provider.complete(image_url(MODEL))
    assert fake_server.last_request.json["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "url", "url": IMAGE_URL}},
    ]


async def test_local_files_are_base64_sources(
    provider: Provider, fake_server: FakeServer, media_dir: Path
) -> None:
    (media_dir / "paper.pdf").write_bytes(b"%PDF-1.4 fake")
    fake_server.enqueue(anthropic_message(), anthropic_message())
    await provider.complete(media_file(MODEL, media_dir / "cat.png"))
    await provider.complete(media_file(MODEL, media_dir / "paper.pdf", "document", "application/pdf"))
    image, document = (request.json["messages"][0]["content"][1] for request in fake_server.requests)
    assert image == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": b64(media_dir / "cat.png")},
    }
    assert document == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": b64(media_dir / "paper.pdf")},
    }


def test_video_is_refused_before_the_run(media_dir: Path) -> None:
    request = media_file(MODEL, media_dir / "clip.mp4", "video", "video/mp4")
    assert AnthropicProvider.check_request(request) == [
        "api 'anthropic' does not accept video input (accepts: document, image)"
    ]


async def test_reply_is_parsed_with_rate_limit_state(provider: Provider, fake_server: FakeServer) -> None:
    headers = {
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-tokens-remaining": "78000",
        "anthropic-ratelimit-requests-reset": "2020-01-01T00:00:00Z",  # in the past: resets now
    }
    body = {
        "model": MODEL,
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "A cat"},
            {"type": "text", "text": " on a sofa."},
        ],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 10, "output_tokens": 7, "cache_read_input_tokens": 90},
    }
    fake_server.enqueue(Reply.json(body, headers=headers))
    completion = await provider.complete(single(MODEL))
    assert (completion.text, completion.finish_reason, completion.model) == (
        "A cat on a sofa.",
        "max_tokens",
        MODEL,
    )
    assert completion.usage == Usage(input_tokens=100, output_tokens=7, cached_input_tokens=90)
    assert completion.rate_limit is not None
    assert (completion.rate_limit.remaining_requests, completion.rate_limit.remaining_tokens) == (49, 78000)
    assert completion.rate_limit.reset_requests_s == 0.0


SPEND_CAP = {"error_code": "enforced_spend_limit_reached"}
RATE, INVALID = "rate_limit_error", "invalid_request_error"


def case(name: str, reply: Reply, error: type[ProviderError], retry_after: float | None = None) -> object:
    return pytest.param(reply, error, retry_after, id=name)


ERROR_CASES = [
    case("429 retry-after", anthropic_error(429, RATE, "Slow", headers={"retry-after": "7"}), RateLimited, 7),
    case("429 no retry-after", anthropic_error(429, RATE, "Slow down"), RateLimited),
    case("429 spend cap", anthropic_error(429, RATE, "Spend limit", details=SPEND_CAP), QuotaExhausted),
    case("400 spend cap", anthropic_error(400, INVALID, "Limit", details=SPEND_CAP), QuotaExhausted),
    case("402 billing", anthropic_error(402, "billing_error", "Credit balance too low"), QuotaExhausted),
    case("400", anthropic_error(400, INVALID, "max_tokens: required"), BadRequest),
    case("401", anthropic_error(401, "authentication_error", "invalid x-api-key"), AuthError),
    case("403", anthropic_error(403, "permission_error", "not allowed"), AuthError),
    case("404", anthropic_error(404, "not_found_error", "model: claude-x"), NotFound),
    case("413 from the edge", Reply.text("Request Entity Too Large", status=413), BadRequest),
    case("500", anthropic_error(500, "api_error", "Internal server error"), ServerError),
    case("529 overloaded", anthropic_error(529, "overloaded_error", "Overloaded"), ServerError),
    case("502 html page", Reply.text(HTML_502, status=502), ServerError),
    case("200 refusal", anthropic_message("", stop_reason="refusal"), SafetyBlocked),
    case("200 html", Reply.text("<html>captive portal</html>"), MalformedReply),
    case("200 truncated", Reply.text('{"content": [{"ty', content_type="application/json"), MalformedReply),
    case("200 no content", Reply.json({"type": "message", "stop_reason": "end_turn"}), MalformedReply),
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


async def test_key_echoed_by_the_server_is_scrubbed(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(anthropic_error(401, "authentication_error", f"invalid x-api-key {SECRET}"))
    with pytest.raises(AuthError) as caught:
        await provider.complete(single(MODEL))
    assert SECRET not in str(caught.value)
    assert "invalid x-api-key ***" in str(caught.value)


async def test_model_specific_key_wins(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    env = {
        "ANTHROPIC_BASE_URL": fake_server.base_url,
        "ANTHROPIC_API_KEY": "generic",
        "ANTHROPIC_API_KEY_claude_sonnet_4_5": "specific",
    }
    fake_server.enqueue(anthropic_message())
    await make_provider("anthropic", MODEL, env=env).complete(single(MODEL))
    assert fake_server.last_request.headers["x-api-key"] == "specific"


def test_configuration() -> None:
    assert AnthropicProvider.resolve_endpoint(ProviderContext(MODEL)) == "https://api.anthropic.com"
    assert AnthropicProvider.check_config(ProviderContext(MODEL)) == [
        "api 'anthropic' needs an API key: set ANTHROPIC_API_KEY "
        "(or ANTHROPIC_API_KEY_claude_sonnet_4_5 for this model only)"
    ]


async def test_cache_reads_and_writes_are_parts_of_the_input(
    provider: Provider, fake_server: FakeServer
) -> None:
    usage = {
        "input_tokens": 5,
        "output_tokens": 20,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 3000,
    }
    body = {"model": MODEL, "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}
    fake_server.enqueue(
        Reply.json({**body, "usage": usage}), Reply.json({**body, "usage": {"input_tokens": 5}})
    )
    cached = await provider.complete(single(MODEL))
    assert cached.usage == Usage(4005, 20, cached_input_tokens=3000, cache_write_tokens=1000)
    assert cached.usage.as_record() == {
        "input_tokens": 4005,
        "output_tokens": 20,
        "cached_input_tokens": 3000,
        "cache_write_tokens": 1000,
    }
    plain = await provider.complete(single(MODEL))
    assert plain.usage.as_record() == {"input_tokens": 5, "output_tokens": None}  # today's keys
