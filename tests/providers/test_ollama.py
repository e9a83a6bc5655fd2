"""``api: ollama`` on the wire: ``/api/chat`` with ``stream: false``, ``options``, base64 images (a plain
string goes to ``/api/generate``, as prompto sends it: ``test_ollama_generate.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers import (
    BadRequest,
    Completion,
    ConnectionFailed,
    MalformedReply,
    NotFound,
    Provider,
    ProviderContext,
    ProviderError,
    RateLimited,
    ServerError,
    Usage,
)
from providers.ollama import OllamaProvider
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import HTML_502, ollama_chat
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import IMAGE_URL, b64, history, image_url, media_file, single

MODEL = "llama3.2"


@pytest.fixture
def provider(make_provider: MakeProvider, fake_server: FakeServer) -> Provider:
    return make_provider("ollama", MODEL, env={"OLLAMA_API_ENDPOINT": fake_server.base_url})


async def test_single_prompt_request_with_options(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(ollama_chat())
    await provider.complete(single(MODEL, temperature=0.2, num_predict=64, keep_alive="10m", format="json"))
    sent = fake_server.last_request
    assert (sent.method, sent.path) == ("POST", "/api/generate")  # as prompto sends a string
    assert "authorization" not in sent.headers
    assert sent.json == {
        "keep_alive": "10m",
        "format": "json",
        "model": MODEL,
        "prompt": "Hello",
        "stream": False,
        "options": {"temperature": 0.2, "num_predict": 64},
    }


async def test_history_keeps_system_as_a_message(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(ollama_chat())
    await provider.complete(history(MODEL))
    body = fake_server.last_request.json
    assert body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "How are you?"},
    ]
    assert body["stream"] is False
    assert "options" not in body


async def test_local_image_is_raw_base64(
    provider: Provider, fake_server: FakeServer, media_dir: Path
) -> None:
    fake_server.enqueue(ollama_chat())
    await provider.complete(media_file(MODEL, media_dir / "cat.png"))
    assert fake_server.last_request.json["messages"] == [
        {"role": "user", "content": "What is this?", "images": [b64(media_dir / "cat.png")]}
    ]


def test_image_url_is_refused_before_the_run() -> None:
    assert OllamaProvider.check_request(image_url(MODEL)) == [
        f"api 'ollama' cannot fetch media from a URL ({IMAGE_URL}): save it under media/ and name the file"
    ]


async def test_image_url_sent_anyway_is_a_bad_request(provider: Provider, fake_server: FakeServer) -> None:
    with pytest.raises(BadRequest, match="base64 only"):
        await provider.complete(image_url(MODEL))
    assert fake_server.requests == []


async def test_reply_is_parsed(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(ollama_chat("A pig.", done_reason="length", prompt=11, output=18))
    assert await provider.complete(single(MODEL)) == Completion(
        text="A pig.", finish_reason="length", usage=Usage(11, 18), model=MODEL
    )


def case(name: str, reply: Reply, error: type[ProviderError]) -> object:
    return pytest.param(reply, error, id=name)


ERROR_CASES = [
    case("404 unknown model", Reply.json({"error": "model 'llama9' not found"}, status=404), NotFound),
    case("400", Reply.json({"error": "invalid options"}, status=400), BadRequest),
    case("429 cloud", Reply.json({"error": "too many requests"}, status=429), RateLimited),
    case(
        "500 runner crash",
        Reply.json({"error": "llama runner process has terminated"}, status=500),
        ServerError,
    ),
    case(
        "503 queue full",
        Reply.json(
            {"error": "server busy, please try again.  maximum pending requests exceeded"}, status=503
        ),
        ServerError,
    ),
    case("502 html page", Reply.text(HTML_502, status=502), ServerError),
    case("200 ndjson stream", Reply.text('{"message":{"content":"A"}}\n{"done":true}\n'), MalformedReply),
    case("200 no message", Reply.json({"model": MODEL, "done": True}), MalformedReply),
    case("dropped", Reply.drop(), ConnectionFailed),
]


@pytest.mark.parametrize(("reply", "error"), ERROR_CASES)
async def test_errors_are_classified(
    provider: Provider, fake_server: FakeServer, reply: Reply, error: type[ProviderError]
) -> None:
    fake_server.enqueue(reply)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(single(MODEL))
    assert type(caught.value) is error


async def test_error_message_quotes_ollama(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(Reply.json({"error": "model 'llama9' not found"}, status=404))
    with pytest.raises(NotFound, match="HTTP 404: model 'llama9' not found"):
        await provider.complete(single(MODEL))


async def test_model_specific_endpoint_wins(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    env = {"OLLAMA_API_ENDPOINT": "http://127.0.0.1:9", "OLLAMA_API_ENDPOINT_llama3_2": fake_server.base_url}
    fake_server.enqueue(ollama_chat())
    await make_provider("ollama", MODEL, env=env).complete(single(MODEL))
    assert fake_server.last_request.path == "/api/generate"


def test_missing_endpoint_is_reported() -> None:
    assert OllamaProvider.check_config(ProviderContext(MODEL)) == [
        "api 'ollama' needs an endpoint: set OLLAMA_API_ENDPOINT "
        "(or OLLAMA_API_ENDPOINT_llama3_2 for this model only) or endpoint.base_url in the model config"
    ]


def test_endpoint_without_scheme_is_reported() -> None:
    context = ProviderContext(MODEL, environ={"OLLAMA_API_ENDPOINT": "localhost:11434"})
    assert OllamaProvider.check_config(context) == [
        "api 'ollama' endpoint must start with http:// or https:// (got 'localhost:11434')"
    ]
