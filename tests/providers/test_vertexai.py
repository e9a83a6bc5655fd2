"""``api: vertexai`` on the wire: project/location path, Bearer token (env or gcloud), configuration.

Rendering and reply parsing are shared with ``gemini`` and tested there in depth; here the shared
code is checked through Vertex's URL and auth, plus what only Vertex does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio.testing

from providers import (
    AuthError,
    ChatRequest,
    EndpointSettings,
    MediaPart,
    Message,
    Provider,
    ProviderContext,
    ProviderError,
    RateLimited,
    SafetyBlocked,
    ServerError,
    TextPart,
)
from providers.vertexai import TOKEN_REFRESH_S, VertexAIProvider
from tests.fakes import FakeServer
from tests.fakes.replies import gemini_response, google_error
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import b64, history, media_file, single

MODEL = "gemini-2.5-flash"
TOKEN = "ya29.SECRET-access-token-0123"
PATH = f"/v1/projects/my-proj/locations/europe-west4/publishers/google/models/{MODEL}:generateContent"


def env_for(server: FakeServer, **extra: str) -> dict[str, str]:
    return {
        "VERTEXAI_PROJECT_ID": "my-proj",
        "VERTEXAI_LOCATION": "europe-west4",
        "VERTEXAI_BASE_URL": server.base_url,
        **extra,
    }


@pytest.fixture
def provider(make_provider: MakeProvider, fake_server: FakeServer) -> Provider:
    return make_provider("vertexai", MODEL, env=env_for(fake_server, VERTEXAI_ACCESS_TOKEN=TOKEN))


async def test_single_prompt_request(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(gemini_response())
    await provider.complete(single(MODEL, max_output_tokens=32))
    sent = fake_server.last_request
    assert (sent.method, sent.path) == ("POST", PATH)
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "generationConfig": {"maxOutputTokens": 32},
    }


async def test_history_always_sends_roles(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(gemini_response())
    await provider.complete(history(MODEL))
    body = fake_server.last_request.json
    assert [content["role"] for content in body["contents"]] == ["user", "model", "user"]
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}


async def test_gcs_video_and_local_image(
    provider: Provider, fake_server: FakeServer, media_dir: Path
) -> None:
    clip = MediaPart("video", url="gs://bucket/clip.mp4", options={"videoMetadata": {"fps": 1}})
    fake_server.enqueue(gemini_response(), gemini_response())
    await provider.complete(ChatRequest(MODEL, (Message("user", (TextPart("Describe."), clip)),)))
    await provider.complete(media_file(MODEL, media_dir / "cat.png"))
    video, image = (request.json["contents"][0]["parts"][1] for request in fake_server.requests)
    assert video == {
        "fileData": {"fileUri": "gs://bucket/clip.mp4", "mimeType": "video/mp4"},
        "videoMetadata": {"fps": 1},
    }
    assert image == {"inlineData": {"mimeType": "image/png", "data": b64(media_dir / "cat.png")}}


async def test_reply_and_safety(provider: Provider, fake_server: FakeServer) -> None:
    fake_server.enqueue(
        gemini_response("Hi.", model_version="gemini-2.5-flash-002"),
        gemini_response(None, finish_reason="SAFETY"),
    )
    completion = await provider.complete(single(MODEL))
    assert (completion.text, completion.model) == ("Hi.", "gemini-2.5-flash-002")
    with pytest.raises(SafetyBlocked, match="SAFETY"):
        await provider.complete(single(MODEL))


@pytest.mark.parametrize(
    ("status", "rpc", "error"),
    [
        (429, "RESOURCE_EXHAUSTED", RateLimited),
        (401, "UNAUTHENTICATED", AuthError),
        (503, "UNAVAILABLE", ServerError),
    ],
)
async def test_errors_never_show_the_token(
    provider: Provider, fake_server: FakeServer, status: int, rpc: str, error: type[ProviderError]
) -> None:
    fake_server.enqueue(google_error(status, rpc, f"Request had invalid credentials {TOKEN}"))
    with pytest.raises(error) as caught:
        await provider.complete(single(MODEL))
    assert TOKEN not in str(caught.value)
    assert caught.value.retry_after is None  # Vertex 429s carry no RetryInfo: the engine backs off


def token_script(tmp_path: Path, *, token: str = "gcloud-token", exit_code: int = 0) -> list[str]:
    """A stand-in for ``gcloud auth print-access-token`` that counts its runs in ``runs.txt``."""
    script = tmp_path / "fake_gcloud.py"
    script.write_text(
        "import pathlib, sys\n"
        f"runs = pathlib.Path({str(tmp_path / 'runs.txt')!r})\n"
        "runs.write_text(runs.read_text() + 'x' if runs.exists() else 'x')\n"
        f"print({token!r})\n"
        "print('ERROR: (gcloud.auth) You do not currently have an active account.', file=sys.stderr)\n"
        f"sys.exit({exit_code})\n"
    )
    return [sys.executable, str(script)]


async def test_gcloud_token_is_fetched_once_for_concurrent_requests(
    make_provider: MakeProvider, fake_server: FakeServer, tmp_path: Path
) -> None:
    command = token_script(tmp_path)
    provider = make_provider("vertexai", MODEL, env=env_for(fake_server), options={"token_command": command})
    fake_server.enqueue(*(gemini_response() for _ in range(3)))
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(provider.complete, single(MODEL))
    assert (tmp_path / "runs.txt").read_text() == "x"
    assert {r.headers["authorization"] for r in fake_server.requests} == {"Bearer gcloud-token"}
    assert provider.secrets() == ["gcloud-token"]


async def test_gcloud_token_is_refreshed_after_its_lifetime(
    make_provider: MakeProvider, fake_server: FakeServer, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    provider = make_provider(
        "vertexai", MODEL, env=env_for(fake_server), options={"token_command": token_script(tmp_path)}
    )
    fake_server.enqueue(gemini_response(), gemini_response(), gemini_response())
    await provider.complete(single(MODEL))
    mock_clock.jump(TOKEN_REFRESH_S - 1)
    await provider.complete(single(MODEL))
    assert (tmp_path / "runs.txt").read_text() == "x"
    mock_clock.jump(2)
    await provider.complete(single(MODEL))
    assert (tmp_path / "runs.txt").read_text() == "xx"


UNAUTHENTICATED = google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")


async def test_a_401_fetches_a_fresh_token_and_sends_once_more(
    make_provider: MakeProvider, fake_server: FakeServer, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    script = tmp_path / "numbered_gcloud.py"  # prints token-1, token-2... one more each run
    runs = tmp_path / "runs.txt"
    script.write_text(
        f"import pathlib\nruns = pathlib.Path({str(runs)!r})\n"
        "n = len(runs.read_text()) + 1 if runs.exists() else 1\n"
        "runs.write_text('x' * n)\nprint(f'token-{n}')\n"
    )
    command = [sys.executable, str(script)]
    provider = make_provider("vertexai", MODEL, env=env_for(fake_server), options={"token_command": command})
    fake_server.enqueue(gemini_response(), UNAUTHENTICATED, gemini_response(), UNAUTHENTICATED)

    await provider.complete(single(MODEL))
    mock_clock.jump(60)  # the token is revoked, well before its hour is up
    await provider.complete(single(MODEL))  # 401, then a fresh token and the same request again
    with pytest.raises(AuthError):  # a token refused as soon as it was fetched: no further attempt
        await provider.complete(single(MODEL))

    sent = [request.headers["authorization"] for request in fake_server.requests]
    assert sent == ["Bearer token-1", "Bearer token-1", "Bearer token-2", "Bearer token-2"]
    assert runs.read_text() == "xx"
    assert provider.secrets() == ["token-1", "token-2"]


async def test_a_401_on_a_token_from_the_environment_is_not_retried(
    provider: Provider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(UNAUTHENTICATED)
    with pytest.raises(AuthError):
        await provider.complete(single(MODEL))
    assert len(fake_server.requests) == 1


async def test_failing_token_command_is_an_auth_error(
    make_provider: MakeProvider, fake_server: FakeServer, tmp_path: Path
) -> None:
    command = token_script(tmp_path, token="", exit_code=1)
    provider = make_provider("vertexai", MODEL, env=env_for(fake_server), options={"token_command": command})
    with pytest.raises(
        AuthError, match=r"exited 1: ERROR: \(gcloud.auth\) You do not currently have an active"
    ):
        await provider.complete(single(MODEL))
    assert fake_server.requests == []


async def test_missing_token_command_is_an_auth_error(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    command = ["/nonexistent/gcloud", "auth", "print-access-token"]
    provider = make_provider("vertexai", MODEL, env=env_for(fake_server), options={"token_command": command})
    with pytest.raises(AuthError, match="VERTEXAI_ACCESS_TOKEN"):
        await provider.complete(single(MODEL))


async def test_settings_and_model_specific_variables(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    env = {
        "VERTEXAI_PROJECT_ID": "generic-proj",
        "VERTEXAI_PROJECT_ID_gemini_2_5_flash": "model-proj",
        "VERTEXAI_LOCATION_ID": "asia-east1",  # prompto's name for the location
        "VERTEXAI_ACCESS_TOKEN": TOKEN,
    }
    fake_server.enqueue(gemini_response(), gemini_response())
    await make_provider("vertexai", MODEL, env=env, base_url=fake_server.base_url).complete(single(MODEL))
    settings = EndpointSettings(
        base_url=fake_server.base_url, options={"project": "p2", "location": "global"}
    )
    await make_provider("vertexai", MODEL, env=env, settings=settings).complete(single(MODEL))
    assert [r.url_path.split("/publishers")[0] for r in fake_server.requests] == [
        "/v1/projects/model-proj/locations/asia-east1",
        "/v1/projects/p2/locations/global",
    ]


def test_default_hosts_follow_the_location() -> None:
    assert (
        VertexAIProvider.resolve_endpoint(ProviderContext(MODEL))
        == "https://us-central1-aiplatform.googleapis.com"
    )
    global_context = ProviderContext(MODEL, EndpointSettings(options={"location": "global"}))
    assert VertexAIProvider.resolve_endpoint(global_context) == "https://aiplatform.googleapis.com"


def test_missing_project_and_token_are_reported() -> None:
    context = ProviderContext(MODEL, EndpointSettings(options={"token_command": ["no-such-gcloud-binary"]}))
    assert VertexAIProvider.check_config(context) == [
        "api 'vertexai' needs a project: set VERTEXAI_PROJECT_ID "
        "(or VERTEXAI_PROJECT_ID_gemini_2_5_flash for this model only) "
        "or endpoint.options.project in the model config",
        "api 'vertexai' needs an access token: set VERTEXAI_ACCESS_TOKEN, or install the gcloud CLI "
        "and run `gcloud auth login`",
    ]
    ready = {"VERTEXAI_PROJECT_ID": "p", "VERTEXAI_ACCESS_TOKEN": "t"}
    assert VertexAIProvider.check_config(ProviderContext(MODEL, environ=ready)) == []
