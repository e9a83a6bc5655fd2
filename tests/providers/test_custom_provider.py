"""The README's "adding your own API" example, run exactly as written (``tests/examples/``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from providers import (
    EndpointSettings,
    MalformedReply,
    ProviderContext,
    ProviderError,
    RateLimited,
    import_target,
)
from runner.config._config import ModelConfig
from tests.fakes import FakeServer, Reply
from tests.providers.prompts import history, single

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.fixture
def model_config(monkeypatch: pytest.MonkeyPatch) -> ModelConfig:
    monkeypatch.syspath_prepend(str(EXAMPLES))  # `my_provider` importable, as it is next to a user's config
    composed = OmegaConf.load(EXAMPLES / "my_llama_server.yaml")  # what Hydra reads for `model=...`
    return ModelConfig.model_validate(OmegaConf.to_container(composed, resolve=True))


async def test_the_example_runs_as_configured(model_config: ModelConfig, fake_server: FakeServer) -> None:
    assert model_config.target is not None
    provider_class = import_target(model_config.target)
    context = ProviderContext(
        model_config.model_name,
        model_config.endpoint,
        environ={"LLAMA_SERVER_ENDPOINT": fake_server.base_url, "LLAMA_SERVER_API_KEY": "local-secret"},
    )
    assert provider_class.api == model_config.api
    assert provider_class.check_config(context) == []
    provider = provider_class(context)
    try:
        fake_server.enqueue(
            Reply.json(
                {"content": " Paris.", "stop_type": "eos", "tokens_evaluated": 7, "tokens_predicted": 2}
            ),
            Reply.json({"content": "Fine."}),
            Reply.json({"error": {"code": 503, "message": "Loading model"}}, status=503),
            Reply.json({"error": {"code": 429, "message": "busy"}}, status=429, headers={"retry-after": "1"}),
            Reply.json({"unexpected": True}),
        )
        request = single(model_config.model_name, **model_config.parameters)
        completion = await provider.complete(request)
        assert (completion.text, completion.finish_reason) == (" Paris.", "eos")
        assert (completion.usage.input_tokens, completion.usage.output_tokens) == (7, 2)
        sent = fake_server.last_request
        assert (sent.path, sent.headers["authorization"]) == ("/completion", "Bearer local-secret")
        assert sent.json == {"prompt": "Hello", "n_predict": 64, "temperature": 0.0}

        await provider.complete(history(model_config.model_name))
        assert fake_server.last_request.json == {"prompt": "Be terse.\n\nHi\n\nHello.\n\nHow are you?"}

        with pytest.raises(ProviderError) as caught:  # the base class classifies errors for the user
            await provider.complete(request)
        assert caught.value.retryable
        with pytest.raises(RateLimited) as limited:
            await provider.complete(request)
        assert limited.value.retry_after == 1.0
        with pytest.raises(MalformedReply, match="KeyError"):
            await provider.complete(request)
    finally:
        await provider.aclose()


def test_missing_endpoint_is_reported(model_config: ModelConfig) -> None:
    assert model_config.target is not None
    provider_class = import_target(model_config.target)
    problems = provider_class.check_config(ProviderContext(model_config.model_name, EndpointSettings()))
    assert problems == [
        "api 'llama-server-completion' needs an endpoint: set LLAMA_SERVER_ENDPOINT "
        "(or LLAMA_SERVER_ENDPOINT_gemma_3_270m for this model only) or endpoint.base_url in the model config"
    ]
