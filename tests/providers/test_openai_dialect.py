"""The Chat Completions dialect on the wire, for all four APIs that speak it.

Each test runs against ``openai``, ``azure-openai``, ``huggingface-tgi`` and ``openai-compatible``
configured the way a user configures them, so the shared base is tested through every subclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from providers import (
    AuthError,
    BadRequest,
    Completion,
    ConnectionFailed,
    MalformedReply,
    NotFound,
    Provider,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    RateLimitState,
    SafetyBlocked,
    ServerError,
    Usage,
    provider_class,
)
from runner.engine._retry import Action, decide
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import HTML_502, openai_chat, openai_error
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import IMAGE_URL, SECRET, b64, history, image_url, media_file, single

MODEL = "gpt-4o"


@dataclass(frozen=True)
class Dialect:
    api: str
    path: str
    auth_header: str
    auth_value: str

    def build(self, make_provider: MakeProvider, server: FakeServer) -> Provider:
        if self.api == "openai":
            env = {"OPENAI_BASE_URL": server.url("/v1"), "OPENAI_API_KEY": SECRET}
            return make_provider("openai", MODEL, env=env)
        if self.api == "azure-openai":
            env = {"AZURE_OPENAI_API_ENDPOINT": server.base_url, "AZURE_OPENAI_API_KEY": SECRET}
            return make_provider("azure-openai", MODEL, env=env)
        if self.api == "huggingface-tgi":
            env = {"HUGGINGFACE_TGI_API_ENDPOINT": server.base_url, "HUGGINGFACE_TGI_API_KEY": SECRET}
            return make_provider("huggingface-tgi", MODEL, env=env)
        return make_provider(
            "openai-compatible",
            MODEL,
            env={"MY_KEY": SECRET},
            base_url=server.url("/v1"),
            api_key_env="MY_KEY",
        )


DIALECTS = [
    Dialect("openai", "/v1/chat/completions", "authorization", f"Bearer {SECRET}"),
    Dialect(
        "azure-openai",
        f"/openai/deployments/{MODEL}/chat/completions?api-version=2024-10-21",
        "api-key",
        SECRET,
    ),
    Dialect("huggingface-tgi", "/v1/chat/completions", "authorization", f"Bearer {SECRET}"),
    Dialect("openai-compatible", "/v1/chat/completions", "authorization", f"Bearer {SECRET}"),
]


@pytest.fixture(params=DIALECTS, ids=lambda dialect: dialect.api)
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def provider(dialect: Dialect, make_provider: MakeProvider, fake_server: FakeServer) -> Provider:
    return dialect.build(make_provider, fake_server)


# -- requests ------------------------------------------------------------------------------------


async def test_single_prompt_request(dialect: Dialect, provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(openai_chat())
    await provider.complete(single(MODEL, max_tokens=64, temperature=0.2))
    sent = fake_server.last_request
    assert sent.method == "POST"
    assert sent.headers[dialect.auth_header] == dialect.auth_value
    assert sent.headers["content-type"] == "application/json"
    if dialect.api == "huggingface-tgi":  # a plain string goes to TGI's completions, as prompto sends it
        assert (sent.path, sent.json) == (
            "/v1/completions",
            {"max_tokens": 64, "temperature": 0.2, "model": MODEL, "prompt": "Hello"},
        )
        return
    assert (sent.method, sent.path) == ("POST", dialect.path)
    assert sent.json == {
        "max_tokens": 64,
        "temperature": 0.2,
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hello"}],
    }


async def test_history_keeps_system_as_a_message(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(openai_chat())
    await provider.complete(history(MODEL))
    assert fake_server.last_request.json["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "How are you?"},
    ]


async def test_image_url_is_sent_as_url_with_detail(
    dialect: Dialect, provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(openai_chat())
    await provider.complete(image_url(MODEL, detail="low"))
    detail = {} if dialect.api == "huggingface-tgi" else {"detail": "low"}  # TGI's image_url is {url}
    assert fake_server.last_request.json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": IMAGE_URL, **detail}},
            ],
        }
    ]


async def test_local_image_is_sent_inline(
    provider: Provider, fake_server: FakeServer, media_dir: Path
) -> None:
    fake_server.enqueue(openai_chat())
    await provider.complete(media_file(MODEL, media_dir / "cat.png"))
    parts = fake_server.last_request.json["messages"][0]["content"]
    data_uri = f"data:image/png;base64,{b64(media_dir / 'cat.png')}"
    assert parts[1] == {"type": "image_url", "image_url": {"url": data_uri}}


def test_only_images_are_accepted(dialect: Dialect, media_dir: Path) -> None:
    request = media_file(MODEL, media_dir / "clip.mp4", "video", "video/mp4")
    problems = provider_class(dialect.api).check_request(request)
    assert problems == [f"api '{dialect.api}' does not accept video input (accepts: image)"]


# -- replies -------------------------------------------------------------------------------------


async def test_reply_is_parsed_with_rate_limit_state(provider: Provider, fake_server: FakeServer) -> None:
    headers = {
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-remaining-tokens": "29000",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    fake_server.enqueue(openai_chat("A cat.", finish_reason="length", headers=headers))
    completion = await provider.complete(single(MODEL))
    assert completion == Completion(
        text="A cat.",
        finish_reason="length",
        usage=Usage(input_tokens=9, output_tokens=3),
        model="gpt-4o-mini-2024-07-18",
        rate_limit=RateLimitState(
            remaining_requests=499, remaining_tokens=29000, reset_requests_s=0.12, reset_tokens_s=360.0
        ),
    )


async def test_reply_without_usage_or_headers(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(Reply.json({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}))
    completion = await provider.complete(single(MODEL))
    assert completion == Completion(text="ok", finish_reason="stop", usage=Usage(None, None), rate_limit=None)


async def test_cached_and_reasoning_tokens_are_read_from_the_details(
    provider: Provider, fake_server: FakeServer
) -> None:
    usage = {
        "prompt_tokens": 2000,
        "completion_tokens": 900,
        "prompt_tokens_details": {"cached_tokens": 1536, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 832},
    }
    body = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}], "usage": usage}
    fake_server.enqueue(Reply.json(body))
    completion = await provider.complete(single(MODEL))
    assert completion.usage == Usage(2000, 900, cached_input_tokens=1536, reasoning_tokens=832)
    assert completion.usage.as_record() == {
        "input_tokens": 2000,
        "output_tokens": 900,
        "cached_input_tokens": 1536,
        "reasoning_tokens": 832,
    }


async def test_null_details_keep_the_records_keys(provider: Provider, fake_server: FakeServer) -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 3, "prompt_tokens_details": None}  # vLLM, TGI
    body = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}], "usage": usage}
    fake_server.enqueue(Reply.json(body))
    completion = await provider.complete(single(MODEL))
    assert completion.usage.as_record() == {"input_tokens": 9, "output_tokens": 3}


# -- errors --------------------------------------------------------------------------------------

TOO_LARGE = "Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 50000."
QUOTA = "You exceeded your current quota, please check your plan and billing details."
AZURE_429 = (
    "Requests to the ChatCompletions_Create Operation have exceeded token rate limit. "
    "Please retry after {} seconds."
)
AZURE_FILTERED = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
    }
}
EXHAUSTED_TOKENS = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m30s"}


def case(name: str, reply: Reply, error: type[ProviderError], retry_after: float | None = None) -> object:
    return pytest.param(reply, error, retry_after, id=name)


ERROR_CASES = [
    case("429 retry-after", openai_error(429, "Rate limit", headers={"retry-after": "2"}), RateLimited, 2.0),
    case(
        "429 retry-after-ms", openai_error(429, "Limit", headers={"retry-after-ms": "1500"}), RateLimited, 1.5
    ),
    case("429 try again in", openai_error(429, "Limit reached. Please try again in 1.2s."), RateLimited, 1.2),
    case(
        "429 azure retry after", openai_error(429, AZURE_429.format(6), type=None, code="429"), RateLimited, 6
    ),
    case("429 reset header", openai_error(429, "Rate limit", headers=EXHAUSTED_TOKENS), RateLimited, 90.0),
    case("429 no hint", openai_error(429, "Rate limit reached"), RateLimited),
    case("429 insufficient_quota", openai_error(429, QUOTA, code="insufficient_quota"), QuotaExhausted),
    case("429 azure daily quota", openai_error(429, AZURE_429.format(86400), code="429"), QuotaExhausted),
    case("429 request too large", openai_error(429, TOO_LARGE, code="rate_limit_exceeded"), BadRequest),
    case("401", openai_error(401, "Incorrect API key provided.", code="invalid_api_key"), AuthError),
    case(
        "403",
        openai_error(403, "Country not supported.", code="unsupported_country_region_territory"),
        AuthError,
    ),
    case("404", openai_error(404, "The model does not exist.", code="model_not_found"), NotFound),
    case("400", openai_error(400, "Too long.", code="context_length_exceeded"), BadRequest),
    case("422 vllm int code", Reply.json({"error": {"message": "bad", "code": 422}}, status=422), BadRequest),
    case("408", openai_error(408, "Timeout"), ServerError),
    case("409", openai_error(409, "Conflict"), ServerError),
    case("500", openai_error(500, "The server had an error.", type="server_error"), ServerError),
    case("503 retry-after", openai_error(503, "Overloaded", headers={"retry-after": "3"}), ServerError, 3.0),
    case("502 html page", Reply.text(HTML_502, status=502), ServerError),
    case("504 empty body", Reply.text(b"", status=504), ServerError),
    case(
        "tgi overloaded",
        Reply.json({"error": "Overloaded", "error_type": "overloaded"}, status=429),
        RateLimited,
    ),
    case("200 html", Reply.text("<html>proxy login</html>"), MalformedReply),
    case("200 truncated", Reply.text('{"choices": [{"mess', content_type="application/json"), MalformedReply),
    case("200 not an object", Reply.json([1, 2]), MalformedReply),
    case("200 empty choices", Reply.json({"choices": [], "usage": {}}), MalformedReply),
    case("200 null content", openai_chat(None), MalformedReply),
    case("content filter", openai_chat("", finish_reason="content_filter"), SafetyBlocked),
    case("refusal", openai_chat(None, refusal="I can't help with that."), SafetyBlocked),
    case("azure filtered prompt", Reply.json(AZURE_FILTERED, status=400), SafetyBlocked),
    case("dropped connection", Reply.drop(), ConnectionFailed),
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


@pytest.mark.parametrize(
    ("reply", "error", "retryable"),
    [
        (openai_error(400, "Try again.", headers={"x-should-retry": "true"}), BadRequest, True),
        (openai_error(503, "Overloaded", headers={"x-should-retry": "false"}), ServerError, False),
        (
            openai_error(429, QUOTA, code="insufficient_quota", headers={"x-should-retry": "true"}),
            QuotaExhausted,
            True,
        ),
        (openai_error(401, "Bad key.", headers={"x-should-retry": "true"}), AuthError, False),  # still stops
        (openai_error(503, "Overloaded", headers={"x-should-retry": "maybe"}), ServerError, True),
    ],
    ids=["true on a 400", "false on a 503", "true on a quota", "true on a 401", "garbage"],
)
async def test_the_servers_x_should_retry_overrules_the_status(
    provider: Provider, fake_server: FakeServer, reply: Reply, error: type[ProviderError], retryable: bool
) -> None:
    fake_server.enqueue(reply)
    with pytest.raises(error) as caught:
        await provider.complete(single(MODEL))
    assert caught.value.retryable is retryable
    decision = decide(caught.value, attempt=1, max_attempts=3)
    assert decision.action is (
        Action.STOP_QUEUE if error is AuthError else Action.RETRY if retryable else Action.RECORD
    )


async def test_html_error_page_is_quoted_briefly(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(Reply.text(HTML_502 * 20, status=502))
    with pytest.raises(ServerError) as caught:
        await provider.complete(single(MODEL))
    assert "502 Bad Gateway" in str(caught.value)
    assert len(str(caught.value)) < 300


async def test_content_filter_names_the_categories(provider: Provider, fake_server: FakeServer) -> None:
    choice = {
        "message": {"role": "assistant", "content": ""},
        "finish_reason": "content_filter",
        "content_filter_results": {"hate": {"filtered": False}, "violence": {"filtered": True}},
    }
    fake_server.enqueue(Reply.json({"choices": [choice]}))
    with pytest.raises(SafetyBlocked, match=r"\(violence\)"):
        await provider.complete(single(MODEL))


async def test_key_echoed_by_the_server_is_scrubbed(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(openai_error(401, f"Incorrect API key provided: {SECRET}.", code="invalid_api_key"))
    with pytest.raises(AuthError) as caught:
        await provider.complete(single(MODEL))
    assert SECRET not in str(caught.value)
    assert SECRET not in caught.value.message
    assert "***" in str(caught.value)
    assert provider.secrets() == [SECRET]
