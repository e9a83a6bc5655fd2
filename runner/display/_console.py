"""The summary printed at the end of a run: a rich table per model (and per group), plain off a terminal.

The tables read ``summary.json``'s data only, so the printed numbers are the saved ones. Scores are
shown generically: any ``scores`` block (``{name: {mean, count, ci95}}``) of a model or group gets one
column per score name. Where the summary has a ``cost`` entry, each model and group has a cost column
(``-`` for a model without a price), then come the total (against the budget, when one was set), the
cost per stage when judges or rephrasers spent too, and the models that have no price.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from runner.display._cost import cost_entry, model_cost, stages_line, total_line, unpriced_line, usd
from runner.run_folder._files import RunFolder

PLAIN_WIDTH = 400
"""Off a terminal, tables are laid out this wide rather than wrapped at 80 columns."""


def score_names(tallies: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every score name found in the tallies' ``scores`` blocks, sorted."""
    return sorted({name for tally in tallies.values() for name in (tally.get("scores") or {})})


def score_mean(block: Mapping[str, Any] | None) -> float | None:
    """A score block's ``mean`` (or ``rate``, as boolean scores may name it); ``None`` if it has none."""
    if not isinstance(block, Mapping):
        return None
    value = block.get("mean", block.get("rate"))
    return float(value) if isinstance(value, int | float) else None


def score_interval(block: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """A score block's 95% interval ``ci95: [low, high]``, if it has a complete one."""
    interval = block.get("ci95") if isinstance(block, Mapping) else None
    if isinstance(interval, list | tuple) and len(interval) == 2:
        low, high = interval
        if isinstance(low, int | float) and isinstance(high, int | float):
            return float(low), float(high)
    return None


def score_text(block: Mapping[str, Any] | None) -> str:
    """``0.82 [0.71, 0.90]``: a score's mean with its 95% interval, if given."""
    mean = score_mean(block)
    if mean is None:
        return "-"
    interval = score_interval(block)
    return f"{mean:.3g}" + (f" [{interval[0]:.3g}, {interval[1]:.3g}]" if interval else "")


def seconds(value: float | None) -> str:
    """Seconds with two decimals, ``-`` when unknown."""
    return "-" if value is None else f"{value:.2f}"


def failures_text(tally: Mapping[str, Any]) -> str:
    """``server_error 3, timeout 1``."""
    return ", ".join(f"{kind} {count}" for kind, count in (tally.get("failed_by_type") or {}).items())


def tally_table(
    title: str,
    first_column: str,
    tallies: Mapping[str, Mapping[str, Any]],
    plain: bool,
    costs: Mapping[str, float | None] | None = None,
) -> Table:
    """Prompts, ok, failed (by type), retried, cached (when the response cache served any), latency
    p50/p95, tokens, cost (when ``costs`` are given: ``-`` where there is no price), and each score,
    one row each."""
    table = Table(title=title, title_justify="left", box=box.ASCII if plain else box.SIMPLE_HEAD)
    table.add_column(first_column, no_wrap=True)
    # A run without cache hits keeps the table it always had: the column appears once replies are reused.
    show_cached = any(tally.get("cached") for tally in tallies.values())
    counts = ("prompts", "ok", "failed", "retried", *(("cached",) if show_cached else ()))
    for name in (*counts, "p50 s", "p95 s", "tokens in", "tokens out", *(("cost",) if costs else ())):
        table.add_column(name, justify="right")
    table.add_column("failures by type")
    names = score_names(tallies)
    for name in names:
        table.add_column(name, justify="right")
    for key, tally in tallies.items():
        latency = tally.get("latency_s") or {}
        tokens = tally.get("tokens") or {}
        failed = str(tally.get("failed", 0))
        table.add_row(
            escape(key),
            str(tally.get("prompts", 0)),
            str(tally.get("ok", 0)),
            failed if plain or failed == "0" else f"[red]{failed}[/]",
            str(tally.get("retried", 0)),
            *((str(tally.get("cached", 0)),) if show_cached else ()),
            seconds(latency.get("median")),
            seconds(latency.get("p95")),
            str(tokens.get("input", 0)),
            str(tokens.get("output", 0)),
            *((usd(costs.get(key)),) if costs else ()),
            escape(failures_text(tally)),
            *(score_text((tally.get("scores") or {}).get(name)) for name in names),
        )
    return table


def summary_renderable(summary: Mapping[str, Any], run_dir: str, *, plain: bool) -> RenderableType:
    """The headline, the per-model table, the per-group table when groups are set, and where records are."""
    headline = (
        f"{summary.get('experiment', 'run')}: {summary['status']}, "
        f"{summary['finished']}/{summary['prompts']} prompts "
        f"({summary['ok']} ok, {summary['failed']} failed) in {summary['wall_time_s']:.1f} s"
    )
    parts: list[RenderableType] = [Text(headline, style="" if plain else "bold")]
    models, groups, cost = summary.get("models") or {}, summary.get("groups") or {}, cost_entry(summary)
    model_costs = {key: model_cost(cost, key) for key in models} if cost is not None else None
    parts.append(tally_table("per model", "model", models, plain, model_costs))
    if groups:
        group_costs = {key: model_cost(cost, key, "by_group") for key in groups} if cost is not None else None
        parts.append(tally_table("per group", "group", groups, plain, group_costs))
    budget = summary.get("budget")
    stopped = isinstance(budget, Mapping) and bool(budget.get("stopped"))
    if (total := total_line(summary)) is not None:
        parts.append(Text(total, style="" if plain or not stopped else "bold red"))
    if (stages := stages_line(cost)) is not None:
        parts.append(Text(stages))
    if (missing := unpriced_line(cost)) is not None:
        parts.append(Text(missing, style="" if plain else "yellow"))
    folder = RunFolder(Path(run_dir))
    parts.append(Text(f"records: {folder.completed}"))
    if folder.report.is_file():
        parts.append(Text(f"report:  {folder.report}"))
    return Group(*parts)


def print_summary(summary: Mapping[str, Any], run_dir: str, file: TextIO | None = None) -> None:
    """Print the summary: a rich table on a terminal, plain text (no control codes) elsewhere."""
    stream = sys.stdout if file is None else file
    print_renderable(lambda plain: summary_renderable(summary, run_dir, plain=plain), stream)


def print_renderable(build: Callable[[bool], RenderableType], stream: TextIO) -> None:
    """Print ``build(plain)``: rich on a terminal; off one, plain text without trailing blanks."""
    console = Console(file=stream)
    if console.is_terminal:
        console.print(build(False))
        return
    console = Console(file=stream, width=PLAIN_WIDTH, no_color=True, highlight=False)
    with console.capture() as captured:
        console.print(build(True))
    stream.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def format_summary(summary: Mapping[str, Any], run_dir: str) -> str:
    """The plain-text summary, as printed off a terminal."""
    buffer = io.StringIO()
    print_summary(summary, run_dir, file=buffer)
    return buffer.getvalue().rstrip("\n")
