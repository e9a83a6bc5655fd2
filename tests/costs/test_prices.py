"""Prices: declared ones by hand, the rest exactly as genai-prices computes them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import genai_prices
import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price

from providers import Usage
from runner.config._log import LOGGER_NAME
from runner.costs import BATCH_FACTOR, PriceBook, price_data
from tests.costs.conftest import make_config

KNOWN = [
    ("openai", "gpt-4o-mini", "openai"),
    ("anthropic", "claude-haiku-4-5", "anthropic"),
    ("gemini", "gemini-2.5-flash", "google"),
    ("vertexai", "gemini-2.0-flash", "google"),
]


def _genai(model: str, provider: str, usage: GenaiUsage, **kwargs: object) -> float:
    return float(calc_price(usage, model, provider_id=provider, **kwargs).total_price)  # type: ignore[arg-type]


@pytest.mark.parametrize(("api", "model", "provider"), KNOWN)
def test_known_models_cost_what_genai_prices_says(api: str, model: str, provider: str) -> None:
    book = PriceBook(make_config())
    usage = Usage(12_000, 3_000)
    assert book.cost_usd(api, model, usage) == pytest.approx(
        _genai(model, provider, GenaiUsage(input_tokens=12_000, output_tokens=3_000))
    )
    price = book.price(api, model)
    assert price is not None
    assert price.source.startswith(f"genai-prices {genai_prices.__version__} ({provider} ")
    assert price.input_per_mtok > 0
    assert price.output_per_mtok > 0


def test_gpt_4o_mini_by_hand() -> None:
    """$0.15 / $0.60 per million, cache reads $0.075 (genai-prices 0.2.3's data)."""
    book = PriceBook(make_config())
    cost = book.cost_usd("openai", "gpt-4o-mini", Usage(2_000_000, 1_000_000, cached_input_tokens=1_000_000))
    assert cost == pytest.approx(1.0 * 0.15 + 1.0 * 0.075 + 1.0 * 0.60)


def test_cache_reads_writes_and_reasoning_are_priced_as_billed() -> None:
    book = PriceBook(make_config())
    price = book.price("anthropic", "claude-haiku-4-5")
    assert price is not None
    assert price.cached_input_per_mtok is not None
    assert price.cache_write_per_mtok is not None
    usage = Usage(10_000, 2_000, cached_input_tokens=6_000, cache_write_tokens=3_000)
    by_hand = (
        1_000 * price.input_per_mtok
        + 6_000 * price.cached_input_per_mtok
        + 3_000 * price.cache_write_per_mtok
        + 2_000 * price.output_per_mtok
    ) / 1e6
    assert book.cost_usd("anthropic", "claude-haiku-4-5", usage) == pytest.approx(by_hand)
    genai = GenaiUsage(
        input_tokens=10_000, output_tokens=2_000, cache_read_tokens=6_000, cache_write_tokens=3_000
    )
    assert book.cost_usd("anthropic", "claude-haiku-4-5", usage) == pytest.approx(
        _genai("claude-haiku-4-5", "anthropic", genai)
    )
    # Gemini bills thinking as output: reasoning tokens are part of output_tokens, at the output rate.
    thinking = Usage(1_000, 5_000, reasoning_tokens=4_500)
    assert book.cost_usd("gemini", "gemini-2.5-flash", thinking) == pytest.approx(
        book.cost_usd("gemini", "gemini-2.5-flash", Usage(1_000, 5_000))
    )


def test_reported_parts_larger_than_their_whole_are_clamped() -> None:
    book = PriceBook(make_config())
    odd = book.cost_usd("openai", "gpt-4o-mini", Usage(100, 10, cached_input_tokens=500, reasoning_tokens=99))
    assert odd == pytest.approx(
        book.cost_usd("openai", "gpt-4o-mini", Usage(100, 10, cached_input_tokens=100))
    )


def test_declared_prices_by_hand() -> None:
    config = make_config(
        prices={
            "ollama/llama3": {"input_per_mtok": 0.1, "output_per_mtok": 0.2, "cached_input_per_mtok": 0.05},
            "openai/gpt-4o-mini": {"input_per_mtok": 1.0, "output_per_mtok": 4.0},
        }
    )
    book = PriceBook(config)
    usage = Usage(2_000_000, 500_000, cached_input_tokens=1_000_000)
    assert book.cost_usd("ollama", "llama3", usage) == pytest.approx(1 * 0.1 + 1 * 0.05 + 0.5 * 0.2)
    # a declared price wins over genai-prices; cached input without a declared rate is billed as input
    assert book.cost_usd("openai", "gpt-4o-mini", usage) == pytest.approx(2 * 1.0 + 0.5 * 4.0)
    price = book.price("ollama", "llama3")
    assert price is not None
    assert (price.input_per_mtok, price.cached_input_per_mtok, price.source) == (
        0.1,
        0.05,
        "declared: prices['ollama/llama3']",
    )


def test_the_model_configs_price_wins() -> None:
    config = make_config(
        model={
            "api": "openai",
            "model_name": "gpt-4o-mini",
            "price": {"input_per_mtok": 3, "output_per_mtok": 5, "cache_write_per_mtok": 6},
        },
        prices={"openai/gpt-4o-mini": {"input_per_mtok": 1.0, "output_per_mtok": 4.0}},
    )
    book = PriceBook(config)
    usage = Usage(1_000_000, 1_000_000, cache_write_tokens=500_000)
    assert book.cost_usd("openai", "gpt-4o-mini", usage) == pytest.approx(0.5 * 3 + 0.5 * 6 + 5)
    price = book.price("openai", "gpt-4o-mini")
    assert price is not None
    assert price.source == "declared: model config"
    assert book.worst_case_usd("openai", "gpt-4o-mini", 1_000, 2_000) == pytest.approx((3_000 + 10_000) / 1e6)


def test_batch_requests_are_priced_at_the_batch_rate() -> None:
    book = PriceBook(
        make_config(prices={"azure-openai/my-deployment": {"input_per_mtok": 2, "output_per_mtok": 8}})
    )
    usage = Usage(1_000_000, 1_000_000)
    # genai-prices' own batch rate where it has one
    for model, provider in [("gpt-4o-mini", "openai"), ("claude-haiku-4-5", "anthropic")]:
        api = "openai" if provider == "openai" else "anthropic"
        batch = _genai(
            model,
            provider,
            GenaiUsage(input_tokens=1_000_000, output_tokens=1_000_000),
            price_context={"processing": "batch"},
        )
        assert book.cost_usd(api, model, usage, batch=True) == pytest.approx(batch)
        assert batch == pytest.approx(BATCH_FACTOR * book.cost_usd(api, model, usage))  # type: ignore[operator]
    # else half the standard price: a declared one, or Azure's (genai-prices has OpenAI's batch rates only)
    assert book.cost_usd("azure-openai", "my-deployment", usage, batch=True) == pytest.approx(
        BATCH_FACTOR * 10
    )
    standard = book.cost_usd("azure-openai", "gpt-4o-mini", usage)
    assert standard is not None
    assert book.cost_usd("azure-openai", "gpt-4o-mini", usage, batch=True) == pytest.approx(
        BATCH_FACTOR * standard
    )
    assert book.worst_case_usd("azure-openai", "my-deployment", 1_000_000, 0, batch=True) == pytest.approx(
        1.0
    )


def test_a_reply_is_priced_at_the_time_of_its_request() -> None:
    """claude-sonnet-4-6 had a long-context tier until 2026-03-13 (genai-prices 0.2.3's data)."""
    book = PriceBook(make_config())
    usage = Usage(300_000, 1_000)
    genai = GenaiUsage(input_tokens=300_000, output_tokens=1_000)
    for day in (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)):
        expected = _genai("claude-sonnet-4-6", "anthropic", genai, genai_request_timestamp=day)
        assert book.cost_usd("anthropic", "claude-sonnet-4-6", usage, at=day) == pytest.approx(expected)
    before = book.cost_usd("anthropic", "claude-sonnet-4-6", usage, at=datetime(2026, 2, 1, tzinfo=UTC))
    after = book.cost_usd("anthropic", "claude-sonnet-4-6", usage, at=datetime(2026, 4, 1, tzinfo=UTC))
    assert before == pytest.approx(0.3 * 6 + 0.001 * 22.5)
    assert after == pytest.approx(0.3 * 3 + 0.001 * 15)


def test_unknown_models_have_no_price_and_are_named_once(caplog: pytest.LogCaptureFixture) -> None:
    book = PriceBook(make_config())
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        for _ in range(3):
            assert book.price("openai-compatible", "my-model") is None
            assert book.cost_usd("openai-compatible", "my-model", Usage(10, 10)) is None
            assert book.worst_case_usd("openai", "no-such-model", 10, 10) is None
            assert book.cost_usd("my-own-api", "x", Usage(10, 10)) is None
    assert book.unpriced() == ["openai-compatible/my-model", "openai/no-such-model", "my-own-api/x"]
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "no price for openai-compatible/my-model: declare one with prices: or the model config's price:",
        "no price for openai/no-such-model: declare one with prices: or the model config's price:",
        "no price for my-own-api/x: declare one with prices: or the model config's price:",
    ]


@pytest.mark.parametrize("api", ["ollama", "llamacpp", "huggingface-tgi", "simulated"])
def test_self_hosted_models_are_free_unless_declared(api: str) -> None:
    book = PriceBook(make_config(prices={f"{api}/paid": {"input_per_mtok": 1, "output_per_mtok": 1}}))
    assert book.cost_usd(api, "anything", Usage(10**6, 10**6)) == 0.0
    price = book.price(api, "anything")
    assert price is not None
    assert price.source == "self-hosted: free unless declared"
    assert book.cost_usd(api, "paid", Usage(10**6, 10**6)) == pytest.approx(2.0)
    assert book.unpriced() == []


def test_price_data_names_the_version_and_its_newest_change() -> None:
    text = price_data()
    assert text.startswith(f"genai-prices {genai_prices.__version__}, price data with changes up to 20")
