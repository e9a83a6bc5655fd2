"""``api: openai``: configuration (the wire format is covered in ``test_openai_dialect.py``)."""

from __future__ import annotations

import pytest

from providers import AuthError, EndpointSettings, ProviderContext
from providers.openai import OpenAIProvider as OpenAI
from tests.fakes import FakeServer
from tests.fakes.replies import openai_chat
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import single


async def test_model_specific_key_wins(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    env = {
        "OPENAI_BASE_URL": fake_server.url("/v1"),
        "OPENAI_API_KEY": "generic-key",
        "OPENAI_API_KEY_gpt_4o": "model-key",
    }
    fake_server.enqueue(openai_chat(), openai_chat())
    await make_provider("openai", "gpt-4o", env=env).complete(single("gpt-4o"))
    await make_provider("openai", "gpt-4o-mini", env=env).complete(single("gpt-4o-mini"))
    assert [r.headers["authorization"] for r in fake_server.requests] == [
        "Bearer model-key",
        "Bearer generic-key",
    ]


async def test_model_specific_base_url_wins(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_BASE_URL_gpt_4o": fake_server.url("/v1")}
    fake_server.enqueue(openai_chat())
    await make_provider("openai", "gpt-4o", env=env | {"OPENAI_API_KEY": "k"}).complete(single("gpt-4o"))
    assert fake_server.last_request.path == "/v1/chat/completions"


async def test_settings_name_the_key_variable(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    env = {"OPENAI_API_KEY": "default-key", "TEAM_OPENAI_KEY": "team-key"}
    provider = make_provider(
        "openai", "gpt-4o", env=env, base_url=fake_server.url("/v1"), api_key_env="TEAM_OPENAI_KEY"
    )
    fake_server.enqueue(openai_chat())
    await provider.complete(single("gpt-4o"))
    assert fake_server.last_request.headers["authorization"] == "Bearer team-key"


def test_default_endpoint() -> None:
    assert OpenAI.resolve_endpoint(ProviderContext("gpt-4o")) == "https://api.openai.com/v1"


def test_missing_key_is_reported_before_the_run() -> None:
    assert OpenAI.check_config(ProviderContext("gpt-4o")) == [
        "api 'openai' needs an API key: set OPENAI_API_KEY (or OPENAI_API_KEY_gpt_4o for this model only)"
    ]
    assert OpenAI.check_config(ProviderContext("gpt-4o", environ={"OPENAI_API_KEY_gpt_4o": "k"})) == []


def test_missing_named_key_is_reported() -> None:
    context = ProviderContext("gpt-4o", EndpointSettings(api_key_env="TEAM_KEY"), {"OPENAI_API_KEY": "k"})
    assert OpenAI.check_config(context) == [
        "api 'openai' needs an API key: set TEAM_KEY (or TEAM_KEY_gpt_4o for this model only)"
    ]


async def test_unconfigured_provider_fails_as_auth_error_without_sending(make_provider: MakeProvider) -> None:
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        await make_provider("openai", "gpt-4o").complete(single("gpt-4o"))
