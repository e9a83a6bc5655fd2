"""The crafted run folder with costs: ``cost_usd`` on each record and a judge's ``judgements``, and the
``cost``, ``budget`` and ``estimate`` entries of ``summary.json`` in the shape the run writes them.

Built on :func:`tests.run_folder.crafted_run.make_run_folder` (two models, two scores, two groups):
``openai/gpt-4o`` is priced; ``gemini/gemini-1.5-flash`` is priced too, unless ``unpriced`` names it,
in which case its records have ``cost_usd: null``. A judge (``openai/gpt-4o-mini``, stage
``judge:grader``) costs a fixed amount per judged record.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.run_folder.crafted_run import make_run_folder

PRICES = {  # USD per million tokens
    "openai/gpt-4o": (2.5, 10.0),
    "gemini/gemini-1.5-flash": (0.075, 0.3),
    "openai/gpt-4o-mini": (0.15, 0.6),
}
SOURCES = {
    "openai/gpt-4o": "genai-prices 0.0.30 (openai gpt-4o)",
    "gemini/gemini-1.5-flash": "genai-prices 0.0.30 (google gemini-1.5-flash)",
    "openai/gpt-4o-mini": "genai-prices 0.0.30 (openai gpt-4o-mini)",
}
JUDGE = "openai/gpt-4o-mini"
JUDGE_COST = 0.00002
"""What the judge's reply to one record costs."""


def _cost(model: str, usage: dict[str, Any]) -> float:
    per_in, per_out = PRICES[model]
    return round(
        ((usage.get("input_tokens") or 0) * per_in + (usage.get("output_tokens") or 0) * per_out) / 1e6, 8
    )


def make_costed_run_folder(
    path: Path,
    *,
    unpriced: bool = False,
    budget: float | None = None,
    stopped: bool = False,
    estimate: bool = False,
) -> dict[str, Any]:
    """Write the folder; return its summary. ``budget``: the run's cap (``stopped``: it stopped the
    run); ``estimate``: the summary carries a pre-run estimate."""
    summary = make_run_folder(path)
    records = [json.loads(line) for line in (path / "completed.jsonl").read_text().splitlines()]
    by: dict[str, defaultdict[str, float]] = {
        k: defaultdict(float) for k in ("model", "queue", "stage", "group")
    }
    correct: defaultdict[str, int] = defaultdict(int)
    unpriced_records = 0
    for record in records:
        model = f"{record['api']}/{record['model_name']}"
        if unpriced and model == "gemini/gemini-1.5-flash":
            record["cost_usd"] = None
            unpriced_records += record["error"] is None
        else:
            record["cost_usd"] = _cost(model, record["usage"])
            for section, key in (("model", model), ("queue", "default"), ("stage", "experiment")):
                by[section][key] += record["cost_usd"]
            by["group"][record["group"]] += record["cost_usd"]
        if record["error"] is None:
            record["judgements"] = {
                "grader": {"api": "openai", "model_name": "gpt-4o-mini", "cost_usd": JUDGE_COST}
            }
            by["model"][JUDGE] += JUDGE_COST
            by["stage"]["judge:grader"] += JUDGE_COST
            by["queue"]["judge:grader/openai"] += JUDGE_COST
            correct[model] += bool(record["scores"]["match"])
    with (path / "completed.jsonl").open("w") as file:
        file.writelines(json.dumps(record) + "\n" for record in records)

    def rounded(section: str) -> dict[str, float]:
        return {key: round(value, 6) for key, value in sorted(by[section].items())}

    by_model = rounded("model")
    summary["cost"] = {
        "total_usd": round(sum(by["stage"].values()), 6),
        "by_model": by_model,
        "by_queue": rounded("queue"),
        "by_stage": rounded("stage"),
        "by_group": rounded("group"),
        "per_correct_usd": {
            model: {"match": round(by_model[model] / count, 6)}
            for model, count in sorted(correct.items())
            if model in by_model
        },
        "unpriced_models": ["gemini/gemini-1.5-flash"] if unpriced else [],
        "unpriced_records": unpriced_records,
        "prices": {
            model: {"input_per_mtok": p_in, "output_per_mtok": p_out, "source": SOURCES[model]}
            for model, (p_in, p_out) in PRICES.items()
            if model in by_model
        },
    }
    if budget is not None:
        summary["budget"] = {
            "max_usd": budget,
            "spent_usd": summary["cost"]["total_usd"],
            "stopped": stopped,
            "queues": {},
        }
        if stopped:
            summary["status"] = "budget_exhausted"
    if estimate:
        summary["estimate"] = {
            "by_queue": {
                "default": {"expected_usd": 0.0031, "worst_usd": 0.52},
                "judge:grader/openai": {"expected_usd": 0.0009, "worst_usd": 0.06},
            },
            "total": {"expected_usd": 0.004, "worst_usd": 0.58},
        }
    (path / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
