"""``api: huggingface-tgi``: the ``/v1`` root, the optional key, TGI's error shapes."""

from __future__ import annotations

import pytest

from providers import ProviderContext, RateLimited, ServerError, provider_class
from tests.fakes import FakeServer, Reply
from tests.fakes.replies import openai_chat
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import single

TGI = provider_class("huggingface-tgi")


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_endpoint_root_or_v1(make_provider: MakeProvider, fake_server: FakeServer, suffix: str) -> None:
    env = {"HUGGINGFACE_TGI_API_ENDPOINT": fake_server.url(suffix)}
    fake_server.enqueue(openai_chat(finish_reason="stop_sequence"))
    completion = await make_provider("huggingface-tgi", "tgi", env=env).complete(single("tgi"))
    assert fake_server.last_request.path == "/v1/chat/completions"
    assert completion.finish_reason == "stop_sequence"  # TGI's own value passes through


async def test_no_key_no_auth_header(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    fake_server.enqueue(openai_chat())
    env = {"HUGGINGFACE_TGI_API_ENDPOINT": fake_server.base_url}
    await make_provider("huggingface-tgi", "tgi", env=env).complete(single("tgi"))
    assert "authorization" not in fake_server.last_request.headers


@pytest.mark.parametrize(
    ("status", "error_type", "error"),
    [
        (429, "overloaded", RateLimited),
        (424, "generation", ServerError),
        (500, "incomplete_generation", ServerError),
    ],
)
async def test_tgi_errors(
    make_provider: MakeProvider, fake_server: FakeServer, status: int, error_type: str, error: type[Exception]
) -> None:
    fake_server.enqueue(Reply.json({"error": "CUDA out of memory", "error_type": error_type}, status=status))
    env = {"HUGGINGFACE_TGI_API_ENDPOINT": fake_server.base_url}
    with pytest.raises(error, match=f"HTTP {status}.*CUDA out of memory"):
        await make_provider("huggingface-tgi", "tgi", env=env).complete(single("tgi"))


def test_only_the_endpoint_is_required() -> None:
    assert TGI.check_config(ProviderContext("tgi")) == [
        "api 'huggingface-tgi' needs an endpoint: set HUGGINGFACE_TGI_API_ENDPOINT "
        "(or HUGGINGFACE_TGI_API_ENDPOINT_tgi for this model only) or endpoint.base_url in the model config"
    ]
    assert (
        TGI.check_config(ProviderContext("tgi", environ={"HUGGINGFACE_TGI_API_ENDPOINT": "http://h"})) == []
    )
