"""Cost: what models cost (:mod:`._prices`), the tokens a request holds and may generate
(:mod:`._tokens`), the estimate before a run (:mod:`._estimate`), and the budget and tallies during it.

Prices come from genai-prices (pydantic's price database), or are declared (``prices:``, a model
config's ``price:``); self-hosted APIs are free unless declared; any other model has no price, and is
named, never priced at zero silently.
"""

from runner.costs._estimate import CostEstimate, Estimator
from runner.costs._prices import BATCH_FACTOR, ModelPrice, PriceBook, price_data
from runner.costs._tokens import input_tokens, output_allowance

__all__ = [
    "BATCH_FACTOR",
    "CostEstimate",
    "Estimator",
    "ModelPrice",
    "PriceBook",
    "input_tokens",
    "output_allowance",
    "price_data",
]
