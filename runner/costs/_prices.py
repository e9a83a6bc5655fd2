"""What a model costs: declared prices, else genai-prices, else free for self-hosted APIs, else unknown.

::

    model config's price: ─▶ prices["api/model"] ─▶ genai-prices (provider, model) ─▶ self-hosted: 0
         (model= selected it)                                                      ─▶ else: no price

Prices come from `genai-prices <https://github.com/pydantic/genai-prices>`_, pydantic's maintained
price database for LLM APIs (its data bundled with the installed version: nothing is downloaded). It
knows price changes over time (a reply is priced at the time of its request), cached-input, cache-write
and reasoning rates, tiered prices and the vendors' batch rates. Its arithmetic prices declared prices
too, so both follow the same rules: ``input_tokens`` is the whole prompt, cache reads and writes are
the parts of it billed at their own rates; ``output_tokens`` includes reasoning tokens.

A batch request is priced at genai-prices' batch rate for the model where it has one
(``price_context={"processing": "batch"}``), else at :data:`BATCH_FACTOR` of the standard price
(OpenAI, Azure OpenAI, Anthropic and Gemini bill their batch APIs at half price).

Each reply is priced as genai-prices prices it, without its cost per call (about 100 µs, a tenth of a
request's CPU at a thousand requests a second): a price without tiers is linear in the token counts,
so for each price and set of counts reported (:func:`_linear`) genai-prices prices a few probe usages
once, and a reply costs a sum of counts times those rates, in the same decimals (a tiered price is
linear within the tier the prompt's size selects). A price the probes find not linear is priced by
genai-prices every time.

A model with no price is not priced at zero: :meth:`PriceBook.price` returns ``None``, the model is
named once in the log and listed by :meth:`PriceBook.unpriced`.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Iterator
from copy import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import genai_prices
from genai_prices import data_snapshot
from genai_prices import types as gp

from providers import Usage
from runner.config._config import DeclaredPrice, RunConfig
from runner.config._log import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME)

BATCH_FACTOR = 0.5
"""OpenAI, Azure OpenAI, Anthropic and Gemini bill batch requests at half the standard price."""
BATCH_DISCOUNT_APIS = frozenset({"openai", "azure-openai", "anthropic", "gemini", "vertexai"})
GENAI_PROVIDERS = {
    "openai": "openai",
    "azure-openai": "azure",
    "anthropic": "anthropic",
    "gemini": "google",
    "vertexai": "google",
}
"""Our api names -> genai-prices' provider ids (``azure`` falls back to OpenAI's models, ``google``
to Anthropic's on Vertex AI)."""
SELF_HOSTED_APIS = frozenset({"ollama", "llamacpp", "huggingface-tgi", "simulated"})
"""APIs that run on the user's own hardware: free unless a price is declared. ``openai-compatible``
is not among them: it may be a paid service (vLLM at a cloud, OpenRouter...), so it has no price
unless one is declared."""
_BATCH = {"processing": "batch"}


@dataclass(frozen=True)
class ModelPrice:
    """A model's price in USD per million tokens, and what it rests on."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None
    """Cache reads; ``None``: billed as input."""
    cache_write_per_mtok: float | None
    """Cache writes; ``None``: billed as input."""
    source: str
    """``genai-prices 0.2.3 (openai gpt-4o-mini)``, ``declared: model config``,
    ``declared: prices['ollama/llama3']``, ``self-hosted: free unless declared``."""


@dataclass(frozen=True)
class _Declared:
    price: gp.ModelPrice
    listed: ModelPrice


@dataclass(frozen=True)
class _Known:
    provider: gp.Provider
    model: gp.ModelInfo


_Entry = _Declared | _Known | None


class PriceBook:
    """The prices of one run's models, each looked up once per (api, model)."""

    def __init__(self, config: RunConfig, *, log_unpriced: bool = True) -> None:
        """``log_unpriced``: warn in the log of each model with no price as it is first asked about
        (``prompto-check`` says so in its own output instead)."""
        self._config = config
        self._log_unpriced = log_unpriced
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._unpriced: dict[str, None] = {}

    def price(self, api: str, model_name: str, *, at: datetime | None = None) -> ModelPrice | None:
        """The price list of ``api``/``model_name`` at time ``at`` (default now); ``None`` if unknown."""
        entry = self._entry(api, model_name)
        if entry is None:
            return None
        if isinstance(entry, _Declared):
            return entry.listed
        prices = entry.model.get_prices(at or datetime.now(UTC))
        return ModelPrice(
            _per_mtok(prices.input_mtok) or 0.0,
            _per_mtok(prices.output_mtok) or 0.0,
            _per_mtok(prices.cache_read_mtok),
            _per_mtok(prices.cache_write_mtok),
            f"genai-prices {genai_prices.__version__} ({entry.provider.id} {entry.model.id})",
        )

    def cost_usd(
        self, api: str, model_name: str, usage: Usage, *, batch: bool = False, at: datetime | None = None
    ) -> float | None:
        """What ``usage`` costs at the price of time ``at`` (default now); ``None`` if the model has no
        price. A count the API did not report counts as zero."""
        entry = self._entry(api, model_name)
        if entry is None:
            return None
        return self._calc(api, entry, _usage_values(usage), batch, at)

    def worst_case_usd(
        self, api: str, model_name: str, input_tokens: float, output_tokens: float, *, batch: bool = False
    ) -> float | None:
        """What a request of ``input_tokens`` (none cached) and ``output_tokens`` costs now; ``None`` if
        the model has no price. Fractional counts are allowed (an average over many requests)."""
        entry = self._entry(api, model_name)
        if entry is None:
            return None
        usage = {"input_tokens": max(0, input_tokens), "output_tokens": max(0, output_tokens)}
        return self._calc(api, entry, usage, batch, None)

    def tier_starts(self, api: str, model_name: str) -> tuple[int, ...]:
        """The prompt sizes above which the model's tiered prices change (genai-prices' ``tiers``):
        requests on either side of one cannot be priced as one average."""
        entry = self._entry(api, model_name)
        if not isinstance(entry, _Known):
            return ()
        prices = entry.model.get_prices(datetime.now(UTC))
        starts = {
            tier.start
            for value in vars(prices).values()
            if isinstance(value, gp.TieredPrices)
            for tier in value.tiers
        }
        return tuple(sorted(starts))

    def unpriced(self) -> list[str]:
        """Every ``api/model`` asked about that has no price, in the order first asked."""
        return list(self._unpriced)

    def _calc(
        self, api: str, entry: _Declared | _Known, usage: _Counts, batch: bool, at: datetime | None
    ) -> float:
        if isinstance(entry, _Known):
            at = at or datetime.now(UTC)
            has_batch_rate = batch and _has_batch_rate(entry, at)
            context = _BATCH if has_batch_rate else None
            if entry.provider.id == "groq":  # genai-prices bends some groq usages before pricing them
                total = entry.model.calc_price(
                    gp.Usage(**usage), entry.provider, genai_request_timestamp=at, price_context=context
                ).total_price
            else:
                total = _priced(_model_price(entry, at, context), usage)
        else:
            has_batch_rate = False
            total = _priced(entry.price, usage)
        cost = float(total)
        if batch and not has_batch_rate and api in BATCH_DISCOUNT_APIS:
            cost *= BATCH_FACTOR
        return cost

    def _entry(self, api: str, model_name: str) -> _Entry:
        key = (api, model_name)
        if key not in self._entries:
            self._entries[key] = entry = self._look_up(api, model_name)
            if entry is None:
                name = f"{api}/{model_name}"
                self._unpriced[name] = None
                if self._log_unpriced:
                    logger.warning("%s", unpriced_message(name))
        return self._entries[key]

    def _look_up(self, api: str, model_name: str) -> _Entry:
        name = f"{api}/{model_name}"
        model = self._config.model
        if model is not None and model.price is not None and self._config.uses_model(api, model_name):
            return _declared(model.price, "declared: model config")
        if name in self._config.prices:
            return _declared(self._config.prices[name], f"declared: prices[{name!r}]")
        if api in GENAI_PROVIDERS:
            return _known(GENAI_PROVIDERS[api], model_name)
        if api in SELF_HOSTED_APIS:
            return _declared(
                DeclaredPrice(input_per_mtok=0, output_per_mtok=0), "self-hosted: free unless declared"
            )
        return None


def unpriced_message(name: str) -> str:
    """What the log and ``prompto-check`` say of a model with no price."""
    return f"no price for {name}: declare one with prices: or the model config's price:"


def _declared(price: DeclaredPrice, source: str) -> _Declared:
    fields: dict[str, Decimal | None] = {
        "input_mtok": Decimal(str(price.input_per_mtok)),
        "output_mtok": Decimal(str(price.output_per_mtok)),
        "cache_read_mtok": None
        if price.cached_input_per_mtok is None
        else Decimal(str(price.cached_input_per_mtok)),
        "cache_write_mtok": None
        if price.cache_write_per_mtok is None
        else Decimal(str(price.cache_write_per_mtok)),
    }
    listed = ModelPrice(
        price.input_per_mtok,
        price.output_per_mtok,
        price.cached_input_per_mtok,
        price.cache_write_per_mtok,
        source,
    )
    return _Declared(gp.ModelPrice(**{k: v for k, v in fields.items() if v is not None}), listed)


def _known(provider_id: str, model_name: str) -> _Known | None:
    snapshot = data_snapshot.get_snapshot()
    try:
        provider, model = snapshot.find_provider_model(model_name, None, provider_id, None)
    except LookupError:
        return None
    return _Known(provider, model)


def _has_batch_rate(entry: _Known, at: datetime) -> bool:
    """Whether genai-prices has a batch price for the model at time ``at``: its own provider's (a model
    found through a fallback provider, Azure's OpenAI models, gets the standard price from it)."""
    if not any(model is entry.model for model in entry.provider.models):
        return False
    return any(
        variant.when == _BATCH and (variant.constraint is None or variant.constraint.active(at))
        for variant in entry.model.price_variants or ()
    )


_Counts = dict[str, float]
"""A usage as genai-prices' field names and counts (ints from a reply, floats for an average)."""


def _usage_values(usage: Usage) -> _Counts:
    """Our usage in genai-prices' terms; the parts clamped to their wholes (a server's rounding must
    not make the price calculation fail)."""
    input_tokens = usage.input_tokens or 0
    output_tokens = usage.output_tokens or 0
    values: _Counts = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    cached = min(usage.cached_input_tokens or 0, input_tokens)
    if cached:
        values["cache_read_tokens"] = cached
    if written := min(usage.cache_write_tokens or 0, input_tokens - cached):
        values["cache_write_tokens"] = written
    if reasoning := min(usage.reasoning_tokens or 0, output_tokens):
        values["output_reasoning_tokens"] = reasoning
    return values


def _model_price(entry: _Known, at: datetime, context: gp.PriceContext | None) -> gp.ModelPrice:
    """The price ``ModelInfo.calc_price`` applies at ``at``: a batch variant only from the model's
    own provider (a model found through a fallback provider is priced at its standard price)."""
    if context and not any(entry.model is model for model in entry.provider.models):
        return entry.model.get_prices(at)
    return entry.model.get_prices(at, context)


_PROBE_UNIT = 1_000_000
_PROBE = {
    "input_tokens": 8 * _PROBE_UNIT,
    "cache_read_tokens": 2 * _PROBE_UNIT,
    "cache_write_tokens": 2 * _PROBE_UNIT,
    "output_tokens": 4 * _PROBE_UNIT,
    "output_reasoning_tokens": 2 * _PROBE_UNIT,
}
"""A usage of every shape :func:`_usage_values` makes, each part inside its whole with room to grow."""
_Rates = tuple[Decimal, tuple[Decimal, ...]]
_linear_cache: dict[tuple[Any, ...], _Rates | None] = {}


def _priced(price: gp.ModelPrice, usage: _Counts) -> Decimal:
    """What genai-prices' ``price.calc_price`` gives as ``total_price``: by the linear rates of the
    price (its tiers resolved for the usage's input, as genai-prices resolves them) and the usage's
    fields, or by genai-prices where the probes found the price not linear."""
    fields = tuple(item for item in vars(price).items() if item[1] is not None)
    if any(isinstance(value, gp.TieredPrices) for _, value in fields):
        total_input = usage.get("input_tokens", 0)
        fields = tuple((name, _tier_price(value, total_input)) for name, value in fields)
        price = copy(price)
        price.__dict__.update(fields)
    key = (fields, tuple(usage))
    if key not in _linear_cache:
        _linear_cache[key] = _linear(price, usage)
    rates = _linear_cache[key]
    if rates is None:
        total: Decimal = price.calc_price(gp.Usage(**usage))["total_price"]
        return total
    linear, per_count = rates
    for count, rate in zip(usage.values(), per_count, strict=True):
        linear += _decimal(count) * rate
    return linear


def _tier_price(value: Any, total_input: float) -> Any:
    """A tiered price's rate for a prompt of ``total_input`` tokens (genai-prices' rule: the highest
    tier whose start the prompt passes, else the base rate); any other value as it is."""
    if not isinstance(value, gp.TieredPrices):
        return value
    for tier in reversed(value.tiers):
        if total_input > tier.start:
            return tier.price
    return value.base


def _linear(price: gp.ModelPrice, shape: _Counts) -> _Rates | None:
    """The price of a usage with ``shape``'s fields as a constant plus a rate per count, from
    genai-prices' own totals at probe usages; ``None`` unless a further probe confirms it."""

    def total(usage: dict[str, int]) -> Decimal:
        return Decimal(price.calc_price(gp.Usage(**usage))["total_price"])

    try:
        base = {name: _PROBE[name] for name in shape}
        at_base = total(base)
        rates = tuple(
            (total({**base, name: count + _PROBE_UNIT}) - at_base) / _PROBE_UNIT
            for name, count in base.items()
        )
        constant = at_base - sum(
            (count * rate for count, rate in zip(base.values(), rates, strict=True)), Decimal(0)
        )
        check = {name: 3 * count + 7 for name, count in base.items()}
        predicted = constant + sum(
            (count * rate for count, rate in zip(check.values(), rates, strict=True)), Decimal(0)
        )
        return (constant, rates) if predicted == total(check) else None
    except (KeyError, ValueError, ArithmeticError):  # refused: genai-prices says why to each reply
        return None


def _decimal(count: float) -> Decimal:
    """A count as genai-prices turns it into a decimal."""
    return Decimal(count) if isinstance(count, int) else Decimal(repr(count))


def _per_mtok(value: Any) -> float | None:
    """A genai-prices price (a Decimal, or tiered: its base rate) as a float."""
    if value is None:
        return None
    if isinstance(value, gp.TieredPrices):
        value = value.base
    return float(value)


@functools.cache
def price_data() -> str:
    """What the prices rest on: the genai-prices version and the newest price change its bundled data
    holds (its snapshot's date, as near as the data tells: the package records no date of its own)."""
    today = datetime.now(UTC).date()
    dated = [day for day in _price_dates() if day <= today]
    newest = f", price data with changes up to {max(dated).isoformat()}" if dated else ""
    return f"genai-prices {genai_prices.__version__}{newest}"


def _price_dates() -> Iterator[date]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        providers = data_snapshot.get_snapshot().providers
    for provider in providers:
        for model in provider.models:
            conditions = [
                *(model.prices if isinstance(model.prices, list) else ()),
                *(model.price_variants or ()),
            ]
            for condition in conditions:
                if isinstance(condition.constraint, gp.StartDateConstraint):
                    yield condition.constraint.start_date
