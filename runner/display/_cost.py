"""Money as the summary, report, sweep comparison and progress display show it.

Everything here reads ``summary.json``'s ``cost`` and ``budget`` entries (and the optional pre-run
``estimate``) as plain mappings, tolerating their absence: a run folder written before costs were
tracked has none, and its report and summary are shown as before. A model without a price is shown as
``-``, never as ``$0``; the lines name it so the user can declare one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

ESTIMATE_NOTE = (
    "Costs are estimates: each reply's tokens, as its API reported them, priced at the prices below at "
    "the time of the request. The provider's bill is what counts."
)


def usd(value: float | None) -> str:
    """``$1.23`` from ten cents up; below, at least four decimals and two significant digits
    (``$0.0123``, ``$0.000012``); ``$0`` for nothing; ``-`` when unknown."""
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    if abs(value) >= 0.1:
        return f"${value:,.2f}"
    decimals = max(4, 1 - math.floor(math.log10(abs(value))))
    return f"${value:.{decimals}f}"


def cap(value: float) -> str:
    """A budget as the user wrote it: ``$5``, ``$2.5``."""
    return f"${value:g}"


def cost_entry(summary: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The summary's ``cost`` entry; ``None`` for a run that recorded none."""
    cost = summary.get("cost")
    return cost if isinstance(cost, Mapping) else None


def budget_entry(summary: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The summary's ``budget`` entry; present only when a cap was set."""
    budget = summary.get("budget")
    return budget if isinstance(budget, Mapping) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def unpriced(cost: Mapping[str, Any] | None) -> list[str]:
    """The models that have no price."""
    return [str(model) for model in (cost or {}).get("unpriced_models") or []]


def model_cost(cost: Mapping[str, Any] | None, model: str, section: str = "by_model") -> float | None:
    """What ``model`` (or a group, a queue, a stage: ``section``) cost; ``None`` when it has no price."""
    if cost is None or (section == "by_model" and model in unpriced(cost)):
        return None
    return _number((cost.get(section) or {}).get(model))


def per_correct(cost: Mapping[str, Any] | None, model: str, score: str) -> float | None:
    """The cost of one correct answer of ``model`` by score ``score``, where the summary has it."""
    block = ((cost or {}).get("per_correct_usd") or {}).get(model)
    return _number(block.get(score)) if isinstance(block, Mapping) else None


def per_correct_scores(cost: Mapping[str, Any] | None) -> list[str]:
    """The score names cost per correct answer is known for, sorted."""
    blocks = ((cost or {}).get("per_correct_usd") or {}).values()
    return sorted({str(name) for block in blocks if isinstance(block, Mapping) for name in block})


def budget_stopper(budget: Mapping[str, Any]) -> str:
    """Which budget stopped the run: the run's, or the queues' whose own cap refused a prompt."""
    queues = [
        f"queue '{name}' ({cap(q['max_usd'])})"
        for name, q in (budget.get("queues") or {}).items()
        if isinstance(q, Mapping) and q.get("stopped") and _number(q.get("max_usd")) is not None
    ]
    if queues:
        return "the budget of " + ", ".join(queues) + " stopped the run"
    return "the budget stopped the run"


def total_line(summary: Mapping[str, Any]) -> str | None:
    """``cost $1.23 of budget $5 — the budget stopped the run``; ``None`` for a run without costs."""
    cost, budget = cost_entry(summary), budget_entry(summary)
    if cost is None:
        return None
    line = f"cost {usd(_number(cost.get('total_usd')) or 0.0)}"
    if budget is not None:
        run_cap = _number(budget.get("max_usd"))
        if run_cap is not None:
            line += f" of budget {cap(run_cap)}"
        queue_caps = [
            f"queue '{name}' {usd(_number(q.get('spent_usd')))} of {cap(q['max_usd'])}"
            for name, q in (budget.get("queues") or {}).items()
            if isinstance(q, Mapping) and _number(q.get("max_usd")) is not None
        ]
        if queue_caps:
            line += " (" + ", ".join(queue_caps) + ")"
        if budget.get("stopped"):
            line += f" — {budget_stopper(budget)}: resume= with a larger max_usd sends the rest"
    return line


def stages_line(cost: Mapping[str, Any] | None) -> str | None:
    """``by stage: experiment $1.00, judge:grader $0.234``, when more than the experiment spent."""
    stages = {key: _number(value) for key, value in ((cost or {}).get("by_stage") or {}).items()}
    if len(stages) < 2:
        return None
    return "by stage: " + ", ".join(f"{key} {usd(value)}" for key, value in stages.items())


def unpriced_line(cost: Mapping[str, Any] | None) -> str | None:
    """The models without a price (not counted in the cost), and how to give them one."""
    models = unpriced(cost)
    if not models:
        return None
    records = (cost or {}).get("unpriced_records")
    count = f"; {records} answered record(s) not counted" if isinstance(records, int) and records else ""
    return (
        f"no price for {', '.join(models)} (shown as -, not counted in the cost{count}): declare one as "
        "price: {input_per_mtok: …, output_per_mtok: …} in its conf/model/*.yaml"
    )


def estimate_range(block: Any) -> tuple[float | None, float | None] | None:
    """``(expected_usd, worst_usd)`` of an estimate block, or ``None`` when it has neither."""
    if not isinstance(block, Mapping):
        return None
    expected, worst = _number(block.get("expected_usd")), _number(block.get("worst_usd"))
    return None if expected is None and worst is None else (expected, worst)


def estimate_total(summary: Mapping[str, Any]) -> tuple[float | None, float | None] | None:
    """The pre-run estimate of the whole run (its ``total`` block, or its own top level)."""
    estimate = summary.get("estimate")
    if not isinstance(estimate, Mapping):
        return None
    return estimate_range(estimate.get("total")) or estimate_range(estimate)


def estimate_queues(summary: Mapping[str, Any]) -> dict[str, tuple[float | None, float | None]]:
    """The pre-run estimate per queue, where the summary has one."""
    estimate = summary.get("estimate")
    queues = estimate.get("by_queue") if isinstance(estimate, Mapping) else None
    if not isinstance(queues, Mapping):
        return {}
    return {str(key): found for key, block in queues.items() if (found := estimate_range(block))}


def estimate_text(found: tuple[float | None, float | None] | None) -> str:
    """``$0.80 expected, $2.10 at worst``."""
    if found is None:
        return "-"
    expected, worst = found
    return f"{usd(expected)} expected, {usd(worst)} at worst"


def projected(spent: float, done: int, total: int) -> float | None:
    """The run's cost if the prompts left cost what the finished ones did (``None`` before any)."""
    return spent * total / done if done > 0 else None


def spend_text(spent: float, done: int, total: int) -> str:
    """``spent $0.12, projected $1.23``: the live display's money."""
    return f"spent {usd(spent)}, projected {usd(projected(spent, done, total))}"
