"""Every built-in API is registered, importable and configured by the example model configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from omegaconf import OmegaConf

from providers import EndpointSettings, JsonApiProvider, Provider, ProviderContext, known_apis, provider_class
from runner.config._config import ModelConfig
from tests.fakes import FakeServer, Reply
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import single

ROOT = Path(__file__).parents[2]
HTTP_APIS = [
    "openai",
    "azure-openai",
    "anthropic",
    "gemini",
    "vertexai",
    "ollama",
    "huggingface-tgi",
    "openai-compatible",
]


@pytest.mark.parametrize("api", HTTP_APIS)
def test_builtin_api_is_registered(api: str) -> None:
    assert api in known_apis()
    cls = provider_class(api)
    assert issubclass(cls, JsonApiProvider)
    assert cls.api == api
    problems = cls.check_config(ProviderContext("some-model"))
    assert all(isinstance(problem, str) and api in problem for problem in problems)


@pytest.mark.parametrize(
    "config_path", sorted((ROOT / "conf" / "model").glob("*.yaml")), ids=lambda p: p.stem
)
def test_example_model_configs_are_valid(config_path: Path) -> None:
    config = ModelConfig.model_validate(OmegaConf.to_container(OmegaConf.load(config_path), resolve=True))
    cls = provider_class(config.api)
    assert cls.check_request(single(config.model_name, **config.parameters)) == []


@pytest.mark.parametrize(
    "module", sorted((ROOT / "providers").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT / "providers"))
)
def test_provider_modules_stay_small(module: Path) -> None:
    assert len(module.read_text().splitlines()) < 250, "split the module: one concept per module"


async def test_a_hung_request_is_cancelled_by_the_callers_deadline(
    make_provider: MakeProvider, fake_server: FakeServer
) -> None:
    fake_server.enqueue(Reply.hang())
    provider: Provider = make_provider(
        "openai-compatible", "m", settings=EndpointSettings(base_url=fake_server.url("/v1"))
    )
    with trio.move_on_after(0.3) as scope:
        await provider.complete(single("m"))
    assert scope.cancelled_caught
    assert len(fake_server.requests) == 1
