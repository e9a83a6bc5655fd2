"""``report.html``: one self-contained file per run (inline CSS, SVG and JS; nothing fetched).

Sections: the summary tables (per model, per group; with a cost column), a bar chart per score with
95% intervals, the cost (:mod:`runner.display._report_cost`), latency histograms per model, failures
by type, and a sample of records that can be filtered by model and by a score's range. The page stays
small for any run (about 1 MB for a million records): the aggregates are over every record, the
sample is bounded in rows and its table in bytes, and at most :data:`MAX_GROUPS` groups are drawn.
``prompto-report RUN_DIR`` writes it for any run folder; a run writes it itself when it ends
(``report.auto``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from runner.display._console import (
    failures_text,
    score_interval,
    score_mean,
    score_names,
    score_text,
    seconds,
)
from runner.display._cost import cost_entry, model_cost, usd
from runner.display._report_cost import cost_section
from runner.display._report_data import (
    TEXT_LIMIT,
    LatencyHistogram,
    ReportData,
    load_report_data,
)
from runner.display._report_page import page
from runner.display._svg import histograms, interval_bars, stacked_bars
from runner.run_folder._files import RunFolder

SAMPLE_BUDGET = 3_000_000
"""Bytes of the sample table at most: its texts are cut shorter until it fits (the page stays < 5 MB)."""
MAX_GROUPS = 100
"""Groups shown in the tables and charts (the largest): every group is in summary.json."""


def _tally_table(
    table_id: str,
    first: str,
    tallies: Mapping[str, Mapping[str, Any]],
    costs: Mapping[str, float | None] | None = None,
) -> str:
    names = score_names(tallies)
    columns = ["prompts", "ok", "failed", "retried", "p50 s", "p95 s", "tokens in", "tokens out"]
    columns += ["cost"] if costs is not None else []
    head = "".join(f"<th>{escape(c)}</th>" for c in [first, *columns, "failures by type", *names])
    rows = []
    for key, tally in tallies.items():
        latency, tokens = tally.get("latency_s") or {}, tally.get("tokens") or {}
        cells = {
            "prompts": tally.get("prompts", 0),
            "ok": tally.get("ok", 0),
            "failed": tally.get("failed", 0),
            "retried": tally.get("retried", 0),
            "latency_median": seconds(latency.get("median")),
            "latency_p95": seconds(latency.get("p95")),
            "tokens_input": tokens.get("input", 0),
            "tokens_output": tokens.get("output", 0),
            **({"cost_usd": usd(costs.get(key))} if costs is not None else {}),
            "failed_by_type": failures_text(tally),
        }
        scores = tally.get("scores") or {}
        row = f'<tr data-key="{escape(key)}"><th scope="row">{escape(key)}</th>'
        row += "".join(f'<td data-col="{col}">{escape(str(value))}</td>' for col, value in cells.items())
        row += "".join(
            f'<td data-col="score:{escape(name)}">{escape(score_text(scores.get(name)))}</td>'
            for name in names
        )
        rows.append(row + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _score_charts(title: str, tallies: Mapping[str, Mapping[str, Any]]) -> list[str]:
    charts = []
    for name in score_names(tallies):
        labels = list(tallies)
        blocks = [(tallies[label].get("scores") or {}).get(name) or {} for label in labels]
        values = [score_mean(block) for block in blocks]
        intervals = [score_interval(block) for block in blocks]
        bounded = all(0 <= v <= 1 for v in values if v is not None) and all(
            0 <= x <= 1 for iv in intervals if iv for x in iv
        )
        chart_title = f"{name} per {title} (mean, 95% interval)"
        charts.append(interval_bars(chart_title, labels, values, intervals, upper=1.0 if bounded else None))
    return charts


def _text(text: str, chars: int, limit: int) -> str:
    return text if chars <= limit else text[:limit] + f"… ({chars} characters)"


def _score_value(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def _samples_table(data: ReportData, names: Sequence[str], limit: int) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in ["model", "id", "prompt", "response", "error", *names])
    rows = []
    for model, samples in data.samples.items():
        for sample in samples:
            attributes = f' data-model="{escape(model)}"'
            cells: list[str] = []
            for name in names:
                value = sample.scores.get(name)
                number = _score_value(value)
                if number is not None:
                    attributes += f' data-score-{len(cells)}="{number}"'
                cells.append(f"<td>{escape('' if value is None else str(value))}</td>")
            rows.append(
                f"<tr{attributes}><td>{escape(sample.model)}</td><td>{escape(sample.id)}</td>"
                f'<td><div class="text">{escape(_text(sample.prompt, sample.prompt_chars, limit))}</div></td>'
                f'<td><div class="text">{escape(_text(sample.response, sample.response_chars, limit))}'
                f"</div></td><td>{escape(sample.error_type)}</td>{''.join(cells)}</tr>"
            )
    return f'<table id="samples"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _fitted_samples_table(data: ReportData, names: Sequence[str]) -> tuple[str, int]:
    """The sample table with its texts cut at :data:`TEXT_LIMIT` characters, or shorter until it
    fits :data:`SAMPLE_BUDGET`; and the limit used."""
    limit = TEXT_LIMIT
    while True:
        table = _samples_table(data, names, limit)
        if limit <= 50 or len(table.encode("utf-8")) <= SAMPLE_BUDGET:
            return table, limit
        limit //= 2


def _largest(tallies: Mapping[str, Mapping[str, Any]], count: int) -> dict[str, Mapping[str, Any]]:
    """The ``count`` tallies with the most prompts, in their order."""
    if len(tallies) <= count:
        return dict(tallies)
    kept = set(sorted(tallies, key=lambda key: -(tallies[key].get("prompts") or 0))[:count])
    return {key: tally for key, tally in tallies.items() if key in kept}


def _marks(tallies: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[float, float]]:
    """The median and p95 latency of each model as summary.json has them (exact, over every record)."""
    marks = {}
    for key, tally in tallies.items():
        latency = tally.get("latency_s") or {}
        median, p95 = latency.get("median"), latency.get("p95")
        if isinstance(median, int | float) and isinstance(p95, int | float):
            marks[key] = (float(median), float(p95))
    return marks


def render_report(data: ReportData) -> str:
    """The whole page."""
    summary = data.summary
    models, groups, cost = summary.get("models") or {}, summary.get("groups") or {}, cost_entry(summary)
    model_costs = {key: model_cost(cost, key) for key in models} if cost is not None else None
    sections = [f"<h2>Per model</h2>{_tally_table('models-table', 'model', models, model_costs)}"]
    all_groups, groups = groups, _largest(groups, MAX_GROUPS)
    if groups:
        group_costs = {key: model_cost(cost, key, "by_group") for key in groups} if cost is not None else None
        more = (
            f'<p class="note">the {len(groups)} largest of {len(all_groups)} groups (every group is in '
            "summary.json)</p>"
            if len(groups) < len(all_groups)
            else ""
        )
        sections.append(
            f"<h2>Per group</h2>{more}{_tally_table('groups-table', 'group', groups, group_costs)}"
        )
    charts = _score_charts("model", models) + (_score_charts("group", groups) if groups else [])
    sections.append("<h2>Scores</h2>" + ("".join(charts) or "<p>No scores in this run.</p>"))
    sections.append(cost_section(summary))
    latencies = {model: data.latencies.get(model) or LatencyHistogram() for model in models}
    sections.append(
        "<h2>Latency per model</h2>"
        + histograms("Latency of answered prompts", latencies, marks=_marks(models))
    )
    failures = {model: dict(tally.get("failed_by_type") or {}) for model, tally in models.items()}
    sections.append(
        "<h2>Failures by type</h2>"
        + (
            stacked_bars("Failed prompts by error type", failures)
            if any(failures.values())
            else "<p>None.</p>"
        )
    )
    names = sorted({name for rows in data.samples.values() for row in rows for name in row.scores})
    table, limit = _fitted_samples_table(data, names)
    cut = f"; texts cut at {limit:,} characters" if limit < TEXT_LIMIT else ""
    model_options = "".join(f'<option value="{escape(m)}">{escape(m)}</option>' for m in data.samples)
    score_options = "".join(f'<option value="{i}">{escape(n)}</option>' for i, n in enumerate(names))
    sections.append(
        f"<h2>Sample records</h2><p>{data.sample_count:,} of {data.records:,} records "
        f"(a seeded random sample per model; all of them are in completed.jsonl{cut})</p>"
        '<div class="filters"><label>model <select id="filter-model"><option value="">all</option>'
        f"{model_options}</select></label> "
        '<label>score <select id="filter-score"><option value="">any</option>'
        f"{score_options}</select></label> "
        '<label>from <input id="filter-min" type="number" step="any"></label> '
        '<label>to <input id="filter-max" type="number" step="any"></label> '
        '<span id="shown"></span></div>' + table
    )
    status = (
        f"{summary.get('status')}: {summary.get('finished')}/{summary.get('prompts')} prompts, "
        f"{summary.get('ok')} ok, {summary.get('failed')} failed, {summary.get('wall_time_s')} s"
    )
    return page(
        title=escape(f"{summary.get('experiment', 'run')}: report"),
        heading=escape(str(summary.get("experiment", "run"))),
        status=escape(status),
        run_dir=escape(str(data.run_dir)),
        body="".join(f"<section>{s}</section>" for s in sections),
    )


def write_report(run_dir: Path, samples_per_model: int = 200, output: Path | None = None) -> Path:
    """Write ``report.html`` (into the run folder unless ``output`` says where) and return its path."""
    data = load_report_data(run_dir, samples_per_model)
    target = output or RunFolder(run_dir).report
    partial = target.with_name(target.name + ".partial")
    partial.write_text(render_report(data), encoding="utf-8")
    partial.replace(target)
    return target
