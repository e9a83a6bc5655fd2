"""A model config's ``endpoint``: unknown ``options`` are refused before the run, and a base URL with a
query keeps it, the request's path going onto the base's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers import EndpointSettings, ProviderContext, known_apis, provider_class
from runner import ValidationFailed, run_async
from runner.config._config import ExperimentConfig, ModelConfig, RunConfig
from tests.fakes import FakeServer
from tests.fakes.replies import gemini_response, openai_chat
from tests.providers.conftest import MakeProvider
from tests.providers.prompts import single

VALID_OPTIONS: dict[str, dict[str, object]] = {
    "azure-openai": {"api_version": "2024-06-01"},
    "openai": {"wire": "responses"},
    "vertexai": {
        "project": "p",
        "location": "global",
        "token_command": ["gcloud", "auth", "print-access-token"],
    },
    "simulated": {
        "latency_s": 1,
        "jitter_s": 0,
        "failure_rate": 0,
        "response_template": "{prompt}",
        "seed": 1,
    },
    "llamacpp": {
        "mode": "chat",
        "n_ctx": 512,
        "n_threads": 1,
        "n_batch": 8,
        "n_gpu_layers": 0,
        "seed": 1,
        "chat_format": "chatml",
    },
}
"""The options the README documents for each API; every other API has none."""


def config_problems(api: str, options: dict[str, object]) -> list[str]:
    return provider_class(api).check_config(ProviderContext("some-model", EndpointSettings(options=options)))


def option_problems(api: str, options: dict[str, object]) -> list[str]:
    return [problem for problem in config_problems(api, options) if "has no endpoint option" in problem]


@pytest.mark.parametrize("api", known_apis())
def test_an_unknown_option_is_refused_naming_it_and_the_valid_ones(api: str) -> None:
    valid = ", ".join(sorted(VALID_OPTIONS.get(api, {}))) or "none"

    problems = option_problems(api, {"latencyy_s": 1, "api_key": "sk-pasted-here"})

    assert problems == [
        f"api '{api}' has no endpoint option 'api_key' (valid options: {valid})",
        f"api '{api}' has no endpoint option 'latencyy_s' (valid options: {valid})",
    ]


@pytest.mark.parametrize("api", sorted(VALID_OPTIONS))
def test_every_documented_option_is_accepted(api: str) -> None:
    assert option_problems(api, VALID_OPTIONS[api]) == []


def test_llamacpp_still_checks_option_values() -> None:
    problems = config_problems("llamacpp", {"mode": "fast", "n_ctxx": 4096})
    assert any("no endpoint option 'n_ctxx'" in problem for problem in problems)
    assert any("mode" in problem and "fast" in problem for problem in problems)


async def test_a_run_with_an_unknown_option_exits_before_sending(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"id": "1", "prompt": "hi"}\n')
    config = RunConfig(
        experiment=ExperimentConfig(file=prompts),
        model=ModelConfig(
            api="simulated",
            model_name="sim",
            endpoint=EndpointSettings(options={"latency_s": 0.01, "latencyy_s": 5}),
        ),
        output_dir=tmp_path / "run",
        env_file=None,
    )

    with pytest.raises(ValidationFailed, match="api 'simulated' has no endpoint option 'latencyy_s'"):
        await run_async(config, environ={})

    assert not (tmp_path / "run" / "completed.jsonl").exists()


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
