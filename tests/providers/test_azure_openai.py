"""``api: azure-openai``: deployment URL, ``api-key`` header, API version, configuration."""

from __future__ import annotations

from providers import ProviderContext, provider_class
from tests.fakes import FakeServer
from tests.fakes.replies import openai_chat
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import single

AzureOpenAI = provider_class("azure-openai")


async def test_api_version_from_env_and_deployment_in_path(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    env = {
        "AZURE_OPENAI_API_ENDPOINT": fake_server.base_url,
        "AZURE_OPENAI_API_KEY": "azure-key",
        "AZURE_OPENAI_API_VERSION": "2025-01-01-preview",
    }
    fake_server.enqueue(openai_chat())
    await make_provider("azure-openai", "my deployment", env=env).complete(single("my deployment"))
    sent = fake_server.last_request
    assert sent.url_path == "/openai/deployments/my%20deployment/chat/completions"
    assert sent.query == {"api-version": "2025-01-01-preview"}
    assert sent.headers["api-key"] == "azure-key"
    assert "authorization" not in sent.headers


async def test_settings_override_the_environment(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    env = {"AZURE_OPENAI_API_ENDPOINT": "http://127.0.0.1:9", "AZURE_OPENAI_API_KEY": "k"}
    provider = make_provider(
        "azure-openai",
        "gpt-4o",
        env=env,
        base_url=fake_server.base_url,
        options={"api_version": "2024-06-01"},
    )
    fake_server.enqueue(openai_chat())
    await provider.complete(single("gpt-4o"))
    assert fake_server.last_request.query == {"api-version": "2024-06-01"}


async def test_model_specific_variables_win(make_provider: MakeProvider, fake_server: FakeServer) -> None:
    env = {
        "AZURE_OPENAI_API_ENDPOINT": "http://127.0.0.1:9",
        "AZURE_OPENAI_API_ENDPOINT_gpt_4o": fake_server.base_url,
        "AZURE_OPENAI_API_KEY": "generic",
        "AZURE_OPENAI_API_KEY_gpt_4o": "specific",
    }
    fake_server.enqueue(openai_chat())
    await make_provider("azure-openai", "gpt-4o", env=env).complete(single("gpt-4o"))
    assert fake_server.last_request.headers["api-key"] == "specific"


def test_missing_endpoint_and_key_are_reported() -> None:
    assert AzureOpenAI.check_config(ProviderContext("gpt-4o")) == [
        "api 'azure-openai' needs an endpoint: set AZURE_OPENAI_API_ENDPOINT "
        "(or AZURE_OPENAI_API_ENDPOINT_gpt_4o for this model only) or endpoint.base_url in the model config",
        "api 'azure-openai' needs an API key: set AZURE_OPENAI_API_KEY "
        "(or AZURE_OPENAI_API_KEY_gpt_4o for this model only)",
    ]
