"""A sweep's jobs side by side: one row per job (and model), its overrides and its scores.

The api/model a row describes is in ``queried_model`` (a ``model=`` override keeps its own column).
Where jobs recorded costs, each row has ``cost_usd`` (the job's total, judges and rephrasers included),
``model_cost_usd`` (its model's part), ``unpriced_models`` (whose replies have no price and are not
counted) and, per score with correct answers, ``<score>_per_correct_usd``.

Reads what every job leaves in its folder (``summary.json`` and ``.hydra/overrides.yaml``), so it
works on any finished sweep folder, from the Hydra callback or by hand. A job that left no summary
(it failed, or was interrupted before writing one) still gets a row that says so.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from runner.display._console import score_interval, score_mean, score_names, score_text, seconds
from runner.display._cost import cost_entry, model_cost, per_correct, per_correct_scores, unpriced, usd
from runner.display._svg import interval_bars
from runner.run_folder._files import RunFolder, SweepFolder
from runner.run_folder._saved_config import saved_overrides

BASE_COLUMNS = ("status", "prompts", "ok", "failed", "retried", "latency_p50_s", "latency_p95_s")
COST_COLUMNS = ("cost_usd", "model_cost_usd", "unpriced_models")


@dataclass(frozen=True)
class Comparison:
    """The rows, the override keys (one column each) and the score names found in the jobs."""

    rows: list[dict[str, Any]]
    override_keys: list[str]
    scores: list[str]
    costs: bool = False
    """Whether any job recorded costs (a sweep run before costs were tracked has no cost columns)."""
    per_correct: tuple[str, ...] = ()
    """The scores some job knows the cost of a correct answer by."""

    @property
    def columns(self) -> list[str]:
        """The CSV header: job, overrides, model, counts and latencies, the costs (when recorded), then
        mean/ci95 per score, then the cost per correct answer by score."""
        score_columns = [f"{name}{part}" for name in self.scores for part in ("", "_ci95_low", "_ci95_high")]
        costs = COST_COLUMNS if self.costs else ()
        per_correct = [f"{name}_per_correct_usd" for name in self.per_correct]
        return [
            "job",
            *self.override_keys,
            "queried_model",
            *BASE_COLUMNS,
            *costs,
            *score_columns,
            *per_correct,
        ]


def _job_number(folder: Path) -> tuple[int, str]:
    return (int(folder.name), "") if folder.name.isdigit() else (1 << 30, folder.name)


def read_overrides(job_dir: Path) -> dict[str, str]:
    """``.hydra/overrides.yaml`` as ``{key: value}`` (``+``/``~`` prefixes dropped)."""
    pairs = (item.split("=", 1) for item in saved_overrides(job_dir))
    return {key.lstrip("+~"): value for key, value in (p if len(p) == 2 else (p[0], "") for p in pairs)}


def compare(sweep_dir: Path) -> Comparison:
    """Collect the rows of every job folder under ``sweep_dir``."""
    jobs = sorted((d for d in sweep_dir.iterdir() if RunFolder(d).hydra.is_dir()), key=_job_number)
    rows, keys, summaries = [], [], []
    for job_dir in jobs:
        overrides = read_overrides(job_dir)
        keys += [key for key in overrides if key not in keys]
        summary_file = RunFolder(job_dir).summary
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else None
        summaries.append(summary)
        base = {"job": job_dir.name, **overrides}
        if summary is None:
            rows.append(
                {**base, "queried_model": "", "status": "no summary.json (the job failed or was killed)"}
            )
            continue
        for model, tally in (summary.get("models") or {"": {}}).items():
            latency = tally.get("latency_s") or {}
            row = {
                **base,
                "queried_model": model,
                "status": summary.get("status"),
                **{key: tally.get(key) for key in ("prompts", "ok", "failed", "retried")},
                "latency_p50_s": latency.get("median"),
                "latency_p95_s": latency.get("p95"),
                **_cost_cells(summary, model),
            }
            for name, block in (tally.get("scores") or {}).items():
                interval = score_interval(block) or (None, None)
                row |= {
                    name: score_mean(block),
                    f"{name}_ci95_low": interval[0],
                    f"{name}_ci95_high": interval[1],
                }
            rows.append(row)
    scores = sorted({name for s in summaries if s for name in score_names(s.get("models") or {})})
    costs = [cost for s in summaries if s and (cost := cost_entry(s)) is not None]
    per_correct = sorted({name for cost in costs for name in per_correct_scores(cost)})
    return Comparison(rows, keys, scores, costs=bool(costs), per_correct=tuple(per_correct))


def _cost_cells(summary: Mapping[str, Any], model: str) -> dict[str, Any]:
    cost = cost_entry(summary)
    if cost is None:
        return {}
    total = cost.get("total_usd")
    return {
        "cost_usd": float(total) if isinstance(total, int | float) else None,
        "model_cost_usd": model_cost(cost, model),
        "unpriced_models": " ".join(unpriced(cost)),
        **{
            f"{name}_per_correct_usd": value
            for name in per_correct_scores(cost)
            if (value := per_correct(cost, model, name)) is not None
        },
    }


def write_csv(comparison: Comparison, path: Path) -> None:
    """``comparison.csv``: one row per job and model, empty cells where a job has no value."""
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, comparison.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(comparison.rows)


def _label(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    short = [key.rsplit(".", 1)[-1] for key in keys]
    names = short if len(set(short)) == len(short) else list(keys)  # temperature=0.7, not a.b.temperature
    parts = [f"{name}={row[key]}" for key, name in zip(keys, names, strict=True) if key in row]
    return (
        f"#{row['job']} "
        + " ".join(parts)
        + (f" ({row['queried_model']})" if row.get("queried_model") else "")
    )


def varying_keys(comparison: Comparison) -> list[str]:
    """Override keys whose value differs between jobs (what the sweep swept)."""
    return [k for k in comparison.override_keys if len({str(r.get(k)) for r in comparison.rows}) > 1]


def common_overrides(comparison: Comparison) -> str:
    """The overrides every job shares (``key=value ...``), shown once above the table."""
    varying = set(varying_keys(comparison))
    first = comparison.rows[0] if comparison.rows else {}
    return " ".join(f"{key}={first.get(key)}" for key in comparison.override_keys if key not in varying)


def _several_models(comparison: Comparison) -> bool:
    jobs = [row["job"] for row in comparison.rows]
    return len(jobs) != len(set(jobs))


def _cost_display(comparison: Comparison, row: Mapping[str, Any]) -> list[str]:
    if not comparison.costs:
        return []
    missing = row.get("unpriced_models")
    total = (
        "" if "cost_usd" not in row else usd(row["cost_usd"]) + (f" (no price: {missing})" if missing else "")
    )
    cells = [total]
    if _several_models(comparison):
        cells.append("" if "model_cost_usd" not in row else usd(row["model_cost_usd"]))
    return cells


def display_rows(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """Header and cells for printing: the swept overrides, model, counts, the job's cost (and its
    model's, when a job queried several), ``mean [lo, hi]`` per score, and the cost per correct answer."""
    keys = varying_keys(comparison) or comparison.override_keys
    cost_header = (
        ["cost", *(["model cost"] if _several_models(comparison) else [])] if comparison.costs else []
    )
    per_correct = [f"{name} $/correct" for name in comparison.per_correct]
    header = ["job", *keys, "queried_model", *BASE_COLUMNS, *cost_header, *comparison.scores, *per_correct]
    cells = []
    for row in comparison.rows:
        fixed = [str(row.get(key, "")) for key in ["job", *keys, "queried_model"]]
        counts = [
            "" if row.get(key) is None else seconds(row[key]) if key.endswith("_s") else str(row[key])
            for key in BASE_COLUMNS
        ]
        scores = [
            score_text(
                {"mean": row.get(name), "ci95": [row.get(f"{name}_ci95_low"), row.get(f"{name}_ci95_high")]}
            )
            for name in comparison.scores
        ]
        money = [usd(row.get(f"{name}_per_correct_usd")) for name in comparison.per_correct]
        cells.append([*fixed, *counts, *_cost_display(comparison, row), *scores, *money])
    return header, cells


def render_html(comparison: Comparison, sweep_dir: Path) -> str:
    """``comparison.html``: the table and one bar chart per score (one bar per job), self-contained."""
    header, cells = display_rows(comparison)
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in cells)
    keys = varying_keys(comparison) or comparison.override_keys
    labels = [_label(row, keys) for row in comparison.rows]
    charts = []
    for name in comparison.scores:
        values = [row.get(name) for row in comparison.rows]
        intervals = [
            (row[f"{name}_ci95_low"], row[f"{name}_ci95_high"])
            if row.get(f"{name}_ci95_low") is not None and row.get(f"{name}_ci95_high") is not None
            else None
            for row in comparison.rows
        ]
        charts.append(interval_bars(f"{name} per job (mean, 95% interval)", labels, values, intervals))
    if comparison.costs:
        costs = [
            row.get("model_cost_usd" if _several_models(comparison) else "cost_usd")
            for row in comparison.rows
        ]
        title = "cost per job and model (USD)" if _several_models(comparison) else "cost per job (USD)"
        charts.append(interval_bars(title, labels, costs, [None] * len(costs)))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Sweep comparison: {escape(sweep_dir.name)}</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "th{background:#f3f3f3}td{white-space:nowrap}</style></head><body>"
        f"<h1>Sweep comparison</h1><p>{escape(str(sweep_dir))}: {len(comparison.rows)} row(s)</p>"
        f"<p>same in every job: <code>{escape(common_overrides(comparison) or '-')}</code></p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        + "".join(f"<div>{chart}</div>" for chart in charts)
        + "</body></html>\n"
    )


def write_comparison(sweep_dir: Path) -> Comparison:
    """Write ``comparison.csv`` and ``comparison.html`` into ``sweep_dir``."""
    comparison = compare(sweep_dir)
    sweep = SweepFolder(sweep_dir)
    write_csv(comparison, sweep.comparison_csv)
    sweep.comparison_html.write_text(render_html(comparison, sweep_dir), encoding="utf-8")
    return comparison
