"""``api: openai-compatible``: configured only by ``EndpointSettings``; the key is optional."""

from __future__ import annotations

from providers import EndpointSettings, ProviderContext, provider_class
from tests.fakes import FakeServer
from tests.fakes.replies import openai_chat
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import single

Compatible = provider_class("openai-compatible")


async def test_without_a_key_no_auth_header_and_extras_pass_through(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(openai_chat())
    provider = make_provider("openai-compatible", "qwen", base_url=fake_server.url("/v1"))
    await provider.complete(single("qwen", top_k=20, min_p=0.05, max_tokens=8))
    sent = fake_server.last_request
    assert "authorization" not in sent.headers
    assert sent.json == {
        "top_k": 20,
        "min_p": 0.05,
        "max_tokens": 8,
        "model": "qwen",
        "messages": [{"role": "user", "content": "Hello"}],
    }
    assert provider.secrets() == []


async def test_named_key_model_specific_form_wins(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(openai_chat())
    env = {"ROUTER_KEY": "generic", "ROUTER_KEY_meta_llama_llama_3_8b": "specific"}
    provider = make_provider(
        "openai-compatible",
        "meta-llama/llama-3-8b",
        env=env,
        base_url=fake_server.url("/api/v1"),
        api_key_env="ROUTER_KEY",
    )
    await provider.complete(single("meta-llama/llama-3-8b"))
    assert fake_server.last_request.path == "/api/v1/chat/completions"
    assert fake_server.last_request.headers["authorization"] == "Bearer specific"


def test_configuration_problems() -> None:
    assert Compatible.check_config(ProviderContext("m")) == [
        "api 'openai-compatible' needs an endpoint: set endpoint.base_url in the model config"
    ]
    assert Compatible.check_config(ProviderContext("m", EndpointSettings(base_url="http://h/v1"))) == []
    named = EndpointSettings(base_url="http://h/v1", api_key_env="VLLM_API_KEY")
    assert Compatible.check_config(ProviderContext("m", named)) == [
        "api 'openai-compatible' needs an API key: set VLLM_API_KEY (or VLLM_API_KEY_m for this model only)"
    ]
