"""The report's cost section: what the run cost in total (against its budget and its pre-run estimate),
per model (with the cost of a correct answer and the prices used, with their source), per stage
(judges and rephrasers apart from the experiment), per queue and per group.

Everything comes from ``summary.json``'s ``cost``, ``budget`` and ``estimate`` entries. A run folder
written before costs were tracked has none: the section then says so in one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from runner.display._cost import (
    ESTIMATE_NOTE,
    budget_entry,
    cap,
    cost_entry,
    estimate_queues,
    estimate_text,
    estimate_total,
    model_cost,
    per_correct,
    per_correct_scores,
    total_line,
    unpriced,
    unpriced_line,
    usd,
)

MAX_ROWS = 100
"""Rows of a per-stage or per-group cost table at most (the costliest): all are in summary.json."""
NO_COST = "<p>This run recorded no cost (run folders written before prompto-run tracked costs have none).</p>"


def _table(
    table_id: str, first: str, columns: Sequence[tuple[str, str]], rows: Mapping[str, Sequence[str]]
) -> str:
    """``columns``: (data-col, heading) pairs; ``rows``: key -> one text per column."""
    head = "".join(f"<th>{escape(heading)}</th>" for heading in (first, *(h for _, h in columns)))
    body = "".join(
        f'<tr data-key="{escape(key)}"><th scope="row">{escape(key)}</th>'
        + "".join(
            f'<td data-col="{escape(col)}">{escape(text)}</td>'
            for (col, _), text in zip(columns, cells, strict=True)
        )
        + "</tr>"
        for key, cells in rows.items()
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _share(value: float | None, total: float) -> str:
    return "-" if value is None or total <= 0 else f"{100 * value / total:.1f}%"


def _per_mtok(value: Any) -> str:
    return f"${value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _models_table(summary: Mapping[str, Any], cost: Mapping[str, Any], total: float) -> str:
    prices = cost.get("prices") or {}
    models = list(
        dict.fromkeys([*(summary.get("models") or {}), *(cost.get("by_model") or {}), *unpriced(cost)])
    )
    scores = per_correct_scores(cost)
    columns = [
        ("cost_usd", "cost"),
        ("share", "share"),
        *((f"per_correct:{name}", f"per correct ({name})") for name in scores),
        ("input_per_mtok", "input $/Mtok"),
        ("output_per_mtok", "output $/Mtok"),
        ("source", "price source"),
    ]
    rows = {}
    for model in models:
        price = prices.get(model) if isinstance(prices.get(model), Mapping) else None
        value = model_cost(cost, model)
        rows[model] = [
            usd(value),
            _share(value, total),
            *(usd(per_correct(cost, model, name)) for name in scores),
            _per_mtok((price or {}).get("input_per_mtok")),
            _per_mtok((price or {}).get("output_per_mtok")),
            str((price or {}).get("source") or ("no price: not counted" if model in unpriced(cost) else "-")),
        ]
    return _table("cost-models", "model", columns, rows)


def _section_table(
    table_id: str, first: str, cost: Mapping[str, Any], section: str, total: float
) -> str | None:
    values = cost.get(section) or {}
    if not values:
        return None
    keys = list(values)
    if len(keys) > MAX_ROWS:  # the costliest, in summary order
        kept = set(sorted(keys, key=lambda key: -(model_cost(cost, key, section) or 0.0))[:MAX_ROWS])
        keys = [key for key in keys if key in kept]
    rows = {key: [usd(found := model_cost(cost, key, section)), _share(found, total)] for key in keys}
    table = _table(table_id, first, [("cost_usd", "cost"), ("share", "share")], rows)
    if len(keys) < len(values):
        table = (
            f'<p class="note">the {len(keys)} costliest of {len(values)} (all in summary.json)</p>' + table
        )
    return table


def _queues_table(summary: Mapping[str, Any], cost: Mapping[str, Any], total: float) -> str | None:
    estimates = estimate_queues(summary)
    caps = {
        name: q
        for name, q in ((budget_entry(summary) or {}).get("queues") or {}).items()
        if isinstance(q, Mapping) and q.get("max_usd") is not None
    }
    queues = list(dict.fromkeys([*(cost.get("by_queue") or {}), *estimates]))
    if not queues:
        return None
    columns = [("cost_usd", "cost"), ("share", "share")]
    columns += [("estimate", "estimated before the run")] if estimates else []
    columns += [("budget", "budget")] if caps else []
    rows = {}
    for queue in queues:
        value = model_cost(cost, queue, "by_queue")
        cells = [usd(value), _share(value, total)]
        if estimates:
            cells.append(estimate_text(estimates.get(queue)))
        if caps:
            found = caps.get(queue)
            cells.append(
                "-"
                if found is None
                else f"{cap(found['max_usd'])}" + (" (stopped the queue)" if found.get("stopped") else "")
            )
        rows[queue] = cells
    return _table("cost-queues", "queue", columns, rows)


def cost_section(summary: Mapping[str, Any]) -> str:
    """The section's HTML, headed ``Cost``."""
    cost = cost_entry(summary)
    if cost is None:
        return "<h2>Cost</h2>" + NO_COST
    total_value = cost.get("total_usd")
    total = float(total_value) if isinstance(total_value, int | float) else 0.0
    budget = budget_entry(summary) or {}
    lines = [
        f'<p id="cost-total" class="{"stopped" if budget.get("stopped") else "total"}">'
        f"{escape(total_line(summary) or '')}</p>"
    ]
    if (estimated := estimate_total(summary)) is not None:
        lines.append(
            f'<p id="cost-estimate">estimated before the run: {escape(estimate_text(estimated))}</p>'
        )
    if (missing := unpriced_line(cost)) is not None:
        lines.append(f'<p id="cost-unpriced" class="warning">{escape(missing)}</p>')
    parts = ["<h2>Cost</h2>", *lines, "<h3>Per model</h3>", _models_table(summary, cost, total)]
    if (stages := _section_table("cost-stages", "stage", cost, "by_stage", total)) is not None:
        parts += ["<h3>Per stage (judges and rephrasers apart)</h3>", stages]
    if (queues := _queues_table(summary, cost, total)) is not None:
        parts += ["<h3>Per queue</h3>", queues]
    if (groups := _section_table("cost-groups", "group", cost, "by_group", total)) is not None:
        parts += ["<h3>Per group</h3>", groups]
    parts.append(f'<p class="note">{escape(ESTIMATE_NOTE)}</p>')
    return "".join(parts)
