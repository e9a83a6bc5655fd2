"""The response cache serves only what it should: the same endpoint's replies.

* The key holds the endpoint the provider sends to, however it was set (an env var, a per-model env
  var, the config): a run against another server is a miss, and that server gets the requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from providers import EndpointSettings, ProviderContext, provider_class
from runner import CacheConfig, run_experiment
from tests.reliability.conftest import ENVIRON, KEY, make_config, read_records
from tests.reliability.fake_server import FakeChatServer, serving

OPENAI_ENV = {**ENVIRON, "OPENAI_API_KEY": KEY}


def openai_prompts(count: int = 5, **parameters: Any) -> list[dict[str, Any]]:
    """Prompts for the real ``openai`` provider (the fake server speaks its protocol), at temperature 0."""
    return [
        {
            "id": i,
            "prompt": f"q{i}",
            "api": "openai",
            "model_name": "gpt-test",
            "parameters": {"temperature": 0, **parameters},
        }
        for i in range(count)
    ]


def cache_at(tmp_path: Path, **settings: Any) -> CacheConfig:
    return CacheConfig(enabled=True, dir=tmp_path / "cache", **settings)


@pytest.mark.parametrize("variable", ["OPENAI_BASE_URL", "OPENAI_BASE_URL_gpt_test"])
async def test_a_base_url_from_the_environment_keys_the_cache(tmp_path: Path, variable: str) -> None:
    cache = cache_at(tmp_path)
    with serving(FakeChatServer()) as a, serving(FakeChatServer()) as b:

        async def run_against(server: FakeChatServer, name: str) -> dict[str, dict[str, Any]]:
            config = make_config(tmp_path / name, server.url, openai_prompts(), cache=cache)
            result = await run_experiment(config, {**OPENAI_ENV, variable: server.url})
            assert result.summary["ok"] == 5
            return read_records(result.run_dir)

        await run_against(a, "first-a")
        on_b = await run_against(b, "then-b")
        again_on_a = await run_against(a, "a-again")

    assert len(b.requests) == 5  # server B was asked, not answered with A's replies
    assert not any(record.get("cached") for record in on_b.values())
    assert len(a.requests) == 5  # A's own replies are still reused for A
    assert all(record["cached"] is True for record in again_on_a.values())


async def test_a_base_url_in_the_config_keys_the_cache(tmp_path: Path) -> None:
    cache = cache_at(tmp_path)
    with serving(FakeChatServer()) as a, serving(FakeChatServer()) as b:
        for server, name in ((a, "a"), (b, "b")):
            config = make_config(
                tmp_path / name,
                server.url,
                openai_prompts(),
                cache=cache,
                endpoints={"openai": EndpointSettings(base_url=server.url)},
            )
            await run_experiment(config, OPENAI_ENV)

    assert (len(a.requests), len(b.requests)) == (5, 5)


def test_the_endpoint_identity_is_the_resolved_url_without_credentials() -> None:
    openai = provider_class("openai")

    def endpoint_url(environ: dict[str, str], settings: EndpointSettings | None = None) -> str | None:
        context = ProviderContext(
            "gpt-test", settings or EndpointSettings(), {"OPENAI_API_KEY": KEY, **environ}
        )
        return openai(context).endpoint_url

    assert endpoint_url({}) == "https://api.openai.com/v1"  # the API's default
    assert endpoint_url({"OPENAI_BASE_URL": "http://a.example:8000/v1/"}) == "http://a.example:8000/v1"
    assert endpoint_url({"OPENAI_BASE_URL": "https://user:sk-secret@Proxy.example/v1?api-key=sk-x"}) == (
        "https://proxy.example/v1"  # neither user info nor a query (where keys hide) is part of it
    )
    settings = EndpointSettings(base_url="http://config.example/v1")
    assert endpoint_url({"OPENAI_BASE_URL": "http://env.example/v1"}, settings) == "http://config.example/v1"
    simulated = provider_class("simulated")
    assert simulated(ProviderContext("sim")).endpoint_url is None  # nothing sent over a network
