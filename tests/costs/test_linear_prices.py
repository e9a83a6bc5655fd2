"""Replies are priced by rates found once per price and usage shape: the same cost genai-prices gives.

:mod:`runner.costs._prices` prices a reply without genai-prices' cost per call: a price without tiers
(or with its tier resolved for the prompt's size) is linear in the token counts. These tests compare
it with genai-prices' own ``calc_price`` for every OpenAI, Anthropic, Google and Azure model it lists,
at several dates, with and without cache, reasoning and batch, and for a declared price.
"""

from __future__ import annotations

import random
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from genai_prices import data_snapshot
from genai_prices import types as gp

from providers import Usage
from runner.config._config import DeclaredPrice
from runner.costs import _prices as prices


def usages(rng: random.Random, count: int) -> list[Usage]:
    """Usages of every shape, small and large (past a tier's start: 200,000 input tokens)."""
    drawn = []
    for _ in range(count):
        inp = rng.choice([0, 1, 17, 999, 150_000, 200_000, 200_001, 1_234_567])
        out = rng.choice([0, 3, 512, 70_000])
        drawn.append(
            Usage(
                input_tokens=inp,
                output_tokens=out,
                cached_input_tokens=rng.choice([None, 0, 5, inp // 2]),
                cache_write_tokens=rng.choice([None, 3, inp // 3]),
                reasoning_tokens=rng.choice([None, out // 2]),
            )
        )
    return drawn


@pytest.mark.parametrize("provider_id", ["openai", "anthropic", "google", "azure"])
def test_every_listed_model_is_priced_as_genai_prices_prices_it(provider_id: str) -> None:
    warnings.simplefilter("ignore")
    provider = next(p for p in data_snapshot.get_snapshot().providers if p.id == provider_id)
    rng = random.Random(provider_id)
    for model in provider.models:
        entry = prices._Known(provider, model)
        for usage in usages(rng, 4):
            at = datetime.now(UTC) - timedelta(days=rng.choice([0, 100, 400, 900]))
            for batch in (False, True):
                context = prices._BATCH if batch and prices._has_batch_rate(entry, at) else None
                values = prices._usage_values(usage)
                try:
                    expected: object = model.calc_price(
                        gp.Usage(**values), provider, genai_request_timestamp=at, price_context=context
                    ).total_price
                except Exception as exc:  # the same refusal either way
                    expected = type(exc)
                try:
                    got: object = prices._priced(prices._model_price(entry, at, context), values)
                except Exception as exc:
                    got = type(exc)
                assert got == expected, (model.id, usage, batch, at)


def test_a_declared_price_and_fractional_counts_are_priced_as_genai_prices_does() -> None:
    declared = prices._declared(DeclaredPrice(input_per_mtok=0.15, output_per_mtok=0.6), "declared")
    shapes: list[dict[str, float]] = [
        {"input_tokens": 17, "output_tokens": 12},
        {"input_tokens": 1234.5, "output_tokens": 0.25},
    ]
    for values in shapes:
        expected = declared.price.calc_price(gp.Usage(**values))["total_price"]
        assert prices._priced(declared.price, values) == expected
