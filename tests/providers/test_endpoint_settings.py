"""A model config's ``endpoint``: a base URL with a query keeps it, the request's path going onto the
base's path."""

from __future__ import annotations

from providers import EndpointSettings, ProviderContext, provider_class
from tests.fakes import FakeServer
from tests.fakes.replies import gemini_response, openai_chat
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import single


async def test_a_base_url_query_is_kept_and_the_path_appended_to_the_path(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": fake_server.url("/proxy/v1/?team=a&tag=b")}
    fake_server.enqueue(openai_chat())

    await make_provider("openai", "gpt-4o", env=env).complete(single("gpt-4o"))

    assert fake_server.last_request.path == "/proxy/v1/chat/completions?team=a&tag=b"


async def test_a_base_url_query_and_the_providers_own_query_are_both_sent(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    env = {"AZURE_OPENAI_API_ENDPOINT": fake_server.url("?route=eu"), "AZURE_OPENAI_API_KEY": "k"}
    fake_server.enqueue(openai_chat())

    await make_provider("azure-openai", "dep", env=env).complete(single("dep"))

    sent = fake_server.last_request
    assert sent.url_path == "/openai/deployments/dep/chat/completions"
    assert sent.query == {"route": "eu", "api-version": "2024-10-21"}


async def test_a_base_url_without_a_path_takes_the_request_path(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    env = {"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": fake_server.base_url}
    fake_server.enqueue(gemini_response())

    await make_provider("gemini", "gemini-2.0-flash", env=env).complete(single("gemini-2.0-flash"))

    assert fake_server.last_request.path == "/v1beta/models/gemini-2.0-flash:generateContent"


def test_an_endpoint_with_credentials_is_reported_masked() -> None:
    context = ProviderContext("m", EndpointSettings(base_url="ftp://me:hunter22@host/v1?api-key=k-123456"))
    (problem,) = provider_class("openai-compatible").check_config(context)
    assert problem == (
        "api 'openai-compatible' endpoint must start with http:// or https:// "
        "(got 'ftp://***@host/v1?api-key=***')"
    )
