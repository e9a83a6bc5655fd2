"""A crafted, finished run folder: two models, two scorers, failures of three kinds, two groups.

Scorers live on another branch; the records carry ``scores`` and summary.json carries per-model and
per-group ``scores`` blocks in the shape they will be written (``{name: {mean, count, ci95}}``), so the
summary, report and export are tested against exactly what a scored run will hold.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from runner.engine._queue import Finished
from runner.results._summary import SummaryBuilder

MODELS = ("openai/gpt-4o", "gemini/gemini-1.5-flash")
FAILURES = {  # per model: error types of its failed prompts
    "openai/gpt-4o": ["server_error", "server_error", "timeout"],
    "gemini/gemini-1.5-flash": ["rate_limited", "not_sent", "not_sent", "not_sent", "server_error"],
}
PER_MODEL = 40


def _records() -> list[dict[str, Any]]:
    rng = random.Random(3)
    records = []
    for m, model in enumerate(MODELS):
        api, model_name = model.split("/")
        failures = list(FAILURES[model])
        for i in range(PER_MODEL):
            group = "capitals" if i % 2 == 0 else "arithmetic"
            record: dict[str, Any] = {
                "id": f"{model_name}-{i:03d}",
                "api": api,
                "model_name": model_name,
                "group": group,
                "prompt": f"Question {i} <for> {model_name} & co",
                "expected_response": "Paris",
                "parameters": {},
            }
            if i >= PER_MODEL - len(failures):
                kind = failures.pop()
                record |= {
                    "response": None,
                    "error": {"type": kind, "message": f"{kind} happened", "status": None},
                    "attempts": 0 if kind == "not_sent" else 3,
                    "latency_s": None if kind == "not_sent" else 30.0,
                    "usage": {"input_tokens": None, "output_tokens": None},
                }
            else:
                latency = rng.lognormvariate(math.log(0.8 + m), 0.35)
                match = rng.random() < (0.9 if m == 0 else 0.6)
                record |= {
                    "response": "Paris" if match else "Lyon <b>",
                    "error": None,
                    "attempts": 2 if i % 7 == 0 else 1,
                    "latency_s": round(latency, 6),
                    "usage": {"input_tokens": 12, "output_tokens": 3 + m},
                    "scores": {"match": match, "similarity": round(rng.uniform(0.5, 1.0) - 0.3 * m, 3)},
                }
            records.append(record)
    return records


def _score_block(values: list[float], boolean: bool) -> dict[str, Any]:
    n = len(values)
    mean = sum(values) / n
    if boolean:  # Wilson interval
        z = 1.96
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    else:
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        centre, half = mean, 1.96 * sd / math.sqrt(n)
    return {"mean": round(mean, 6), "count": n, "ci95": [round(centre - half, 6), round(centre + half, 6)]}


def _scores(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    blocks = {}
    for name in ("match", "similarity"):
        values = [float(r["scores"][name]) for r in records if "scores" in r]
        blocks[name] = _score_block(values, boolean=name == "match")
    return blocks


def make_run_folder(path: Path) -> dict[str, Any]:
    """Write completed.jsonl and summary.json into ``path``; return the summary."""
    path.mkdir(parents=True, exist_ok=True)
    records = _records()
    builder = SummaryBuilder({"default": len(records)})
    with (path / "completed.jsonl").open("w") as file:
        for record in records:
            file.write(json.dumps(record) + "\n")
            builder.add(Finished("default", record))
    summary = builder.build(wall_time_s=93.5, experiment="capitals-judged")
    for model, tally in summary["models"].items():
        api, model_name = model.split("/")
        mine = [r for r in records if (r["api"], r["model_name"]) == (api, model_name)]
        tally["scores"] = _scores(mine, model)
    for group, tally in summary["groups"].items():
        tally["scores"] = _scores([r for r in records if r["group"] == group], group)
    (path / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
