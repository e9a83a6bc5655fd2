"""The run's money: prices, budgets, and what each queue, model, group and stage has cost.

One :class:`Spending` per run, shared by every queue. A queue asks it, before sending, for the worst
case of a request (:meth:`Spending.worst_case_usd`) and reserves that in its :class:`Budget`; it asks,
when a reply comes, what the reply cost (:meth:`Spending.cost_usd`, from the usage the API reported,
priced at the time of the request, batch requests at the batch price), which goes on the record as
``cost_usd`` and into the tallies :meth:`Spending.summary` writes into ``summary.json``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from providers import ChatRequest, Usage
from runner.config._config import RunConfig
from runner.costs._budget import Budget
from runner.costs._prices import PriceBook
from runner.costs._tokens import input_tokens, output_allowance
from runner.prompts._resolve import ResolvedPrompt
from runner.prompts._routing import QueueKey

EXPERIMENT = "experiment"
"""The stage name of the experiment's own queues in the cost tallies."""


class Spending:
    """Prices, the run's budget tree, and the cost tallies."""

    def __init__(self, config: RunConfig, book: PriceBook | None = None) -> None:
        self.config = config
        self.book = book or PriceBook(config)
        self.budget = Budget(config.budget.max_usd, "budget.max_usd")
        self._queue_budgets: dict[str, Budget] = {}
        self._by: dict[str, defaultdict[str, float]] = {
            kind: defaultdict(float) for kind in ("queue", "model", "group", "stage")
        }
        self._correct: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._answering: defaultdict[str, float] = defaultdict(float)
        """Per model, what its own answers cost (its judging of others' left out): cost per correct."""
        self._unpriced_records = 0

    # -- budgets ---------------------------------------------------------------------------------

    def spent_usd(self) -> float:
        """What the run has spent so far (a resume's kept records included)."""
        return self.budget.spent_usd

    def budget_for(self, key: QueueKey, max_usd: float | None) -> Budget:
        """Queue ``key``'s budget: its own cap (if any) inside the run's."""
        name = str(key)
        if name not in self._queue_budgets:
            self._queue_budgets[name] = self.budget.child(max_usd, f"queue '{name}' max_usd")
        return self._queue_budgets[name]

    def worst_case_usd(self, prompt: ResolvedPrompt, request: ChatRequest, *, batch: bool = False) -> float:
        """The most ``request`` can cost: its input, and its output cap (reasoning included), at the
        model's prices; 0 for a model with no price (warned once: a budget cannot count it). Without the
        model's own tokenizer the input is bounded, not estimated: a token holds at least one byte."""
        tokens, exact = input_tokens(prompt.api, prompt.model_name, request)
        if not exact:
            tokens = max(tokens, input_token_bound(request))
        _, worst_output = output_allowance(prompt.api, prompt.model_name, prompt.parameters, self.config)
        worst = self.book.worst_case_usd(prompt.api, prompt.model_name, tokens, worst_output, batch=batch)
        return worst or 0.0

    # -- costs -----------------------------------------------------------------------------------

    def cost_usd(self, api: str, model_name: str, usage: Usage, *, batch: bool = False) -> float | None:
        """What a reply cost, from its usage, at today's price (``None``: the model has no price)."""
        if usage.input_tokens is None and usage.output_tokens is None:
            return 0.0  # nothing reported as used: nothing billed (a failure before any reply)
        return self.book.cost_usd(api, model_name, usage, batch=batch, at=datetime.now(UTC))

    def count(self, queue: QueueKey, record: Mapping[str, Any]) -> None:
        """Add a finished record's ``cost_usd`` to the tallies (an experiment's or a stage's)."""
        self._tally(str(queue), queue.stage or EXPERIMENT, record)

    def count_kept(self, queue: QueueKey, record: Mapping[str, Any]) -> None:
        """Add a record a resume keeps, and its judgements' costs (its judges' records are not kept)."""
        self.count(queue, record)
        self.budget.add_spent(float(record.get("cost_usd") or 0.0))
        for name, judgement in (record.get("judgements") or {}).items():
            if isinstance(judgement, dict) and judgement.get("cost_usd") is not None:
                model = f"{judgement.get('api')}/{judgement.get('model_name')}"
                cost = float(judgement["cost_usd"])
                self._by["stage"][f"judge:{name}"] += cost
                self._by["model"][model] += cost
                self.budget.add_spent(cost)
        self.count_scores(record)

    def count_scores(self, record: Mapping[str, Any]) -> None:
        """Count a written record's correct answers (a score of ``True`` or 1), for cost per correct."""
        scores = record.get("scores")
        if not isinstance(scores, dict):
            return
        model = f"{record.get('api')}/{record.get('model_name')}"
        for key, value in scores.items():
            self._correct[model][key] += value is True or (type(value) in (int, float) and value == 1)

    def _tally(self, queue: str, stage: str, record: Mapping[str, Any]) -> None:
        cost = record.get("cost_usd")
        if cost is None:
            self._unpriced_records += record.get("error") is None
            return
        cost = float(cost)
        self._by["queue"][queue] += cost
        self._by["stage"][stage] += cost
        self._by["model"][f"{record.get('api')}/{record.get('model_name')}"] += cost
        if stage == EXPERIMENT:
            self._answering[f"{record.get('api')}/{record.get('model_name')}"] += cost
        if record.get("group") is not None:
            self._by["group"][str(record["group"])] += cost

    # -- the summary -----------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """``summary.json``'s ``cost`` entry (and ``budget`` when one was set)."""
        by_model = dict(sorted(self._by["model"].items()))
        per_correct = {
            model: {
                key: round(self._answering[model] / correct, 6)
                for key, correct in sorted(keys.items())
                if correct and model in self._answering
            }
            for model, keys in sorted(self._correct.items())
        }
        cost: dict[str, Any] = {
            "total_usd": _usd(sum(self._by["stage"].values())),
            "by_model": {key: _usd(value) for key, value in by_model.items()},
            "by_queue": {key: _usd(value) for key, value in sorted(self._by["queue"].items())},
            "by_stage": {key: _usd(value) for key, value in sorted(self._by["stage"].items())},
            **(
                {"by_group": {k: _usd(v) for k, v in sorted(self._by["group"].items())}}
                if self._by["group"]
                else {}
            ),
            "per_correct_usd": {model: keys for model, keys in per_correct.items() if keys},
            "unpriced_models": self.book.unpriced(),
            "unpriced_records": self._unpriced_records,
            "prices": self._prices_used(by_model),
        }
        return cost

    def budget_summary(self) -> dict[str, Any] | None:
        """``summary.json``'s ``budget``: the caps, what was spent, and whether one stopped the run."""
        capped = [self.budget, *self._queue_budgets.values()]
        if all(budget.max_usd is None for budget in capped):
            return None
        return {
            "max_usd": self.budget.max_usd,
            "spent_usd": _usd(self.budget.spent_usd),
            "stopped": self.budget.exhausted,
            "queues": {
                name: {
                    "max_usd": budget.max_usd,
                    "spent_usd": _usd(budget.spent_usd),
                    "stopped": budget.exhausted,
                }
                for name, budget in sorted(self._queue_budgets.items())
                if budget.max_usd is not None
            },
        }

    def _prices_used(self, by_model: Mapping[str, float]) -> dict[str, Any]:
        prices: dict[str, Any] = {}
        for model in by_model:
            api, _, model_name = model.partition("/")
            price = self.book.price(api, model_name)
            if price is not None:
                prices[model] = {
                    "input_per_mtok": price.input_per_mtok,
                    "output_per_mtok": price.output_per_mtok,
                    "source": price.source,
                }
        return prices


MESSAGE_OVERHEAD_BOUND = 8
"""Tokens a chat format adds around one message, at most (OpenAI's adds 3 and 3 for the reply)."""
MEDIA_TOKENS_BOUND = 6_000
"""Tokens one image, audio clip or document page is counted as at most, for a budget's worst case."""


def input_token_bound(request: ChatRequest) -> int:
    """An upper bound on the tokens of ``request``'s input: byte-level tokenizers never make more tokens
    than the text has UTF-8 bytes."""
    total = 0
    for message in request.messages:
        total += MESSAGE_OVERHEAD_BOUND
        if isinstance(message.content, str):
            total += len(message.content.encode())
            continue
        for part in message.content:
            text = getattr(part, "text", None)
            total += len(text.encode()) if isinstance(text, str) else MEDIA_TOKENS_BOUND
    return total


def _usd(value: float) -> float:
    return round(value, 6)
