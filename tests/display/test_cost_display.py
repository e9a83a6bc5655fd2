"""Cost shown to the user: the printed summary, report.html, the sweep comparison and live progress,
against records and summaries in the shape a run writes them (:mod:`tests.display.costed_run`)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import trio
from rich.console import Console

from runner.config._config import ProgressConfig
from runner.display._comparison import display_rows, write_comparison
from runner.display._console import format_summary
from runner.display._cost import projected, spend_text, usd
from runner.display._progress import ProgressTracker
from runner.display._progress_view import render, show_progress
from runner.display._report import write_report
from runner.display._report_cost import NO_COST
from tests.display.costed_run import JUDGE, SOURCES, make_costed_run_folder
from tests.display.html_table import read_table
from tests.display.test_progress import FakeQueue
from tests.run_folder.crafted_run import make_run_folder


def _row(text: str, key: str) -> dict[str, str]:
    """A plain table's row as {column: cell}, read against the header row above it."""
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"| {key} "))
    header = next(lines[i] for i in range(index, -1, -1) if lines[i].startswith(("| model ", "| group ")))
    names = [cell.strip() for cell in header.strip("|").split("|")]
    return dict(zip(names, (cell.strip() for cell in lines[index].strip("|").split("|")), strict=True))


def test_money_is_shown_in_cents_from_ten_cents_and_to_two_significant_digits_below() -> None:
    assert [usd(v) for v in (1234.5, 1.234, 0.58, 0.0123, 0.00222, 0.000065, 0.0, None)] == [
        "$1,234.50",
        "$1.23",
        "$0.58",
        "$0.0123",
        "$0.0022",
        "$0.000065",
        "$0",
        "-",
    ]


# -- the printed summary ---------------------------------------------------------------------------


def test_summary_has_a_cost_column_per_model_and_group_and_the_total(tmp_path: Path) -> None:
    summary = make_costed_run_folder(tmp_path)
    cost = summary["cost"]
    text = format_summary(summary, str(tmp_path))
    for model in summary["models"]:
        assert _row(text, model)["cost"] == usd(cost["by_model"][model])
    for group in summary["groups"]:
        assert _row(text, group)["cost"] == usd(cost["by_group"][group])
    assert f"cost {usd(cost['total_usd'])}" in text.splitlines()
    stages = cost["by_stage"]
    assert (
        f"by stage: experiment {usd(stages['experiment'])}, judge:grader {usd(stages['judge:grader'])}"
        in text
    )
    assert "budget" not in text
    assert "no price" not in text


def test_an_unpriced_model_shows_a_dash_and_is_named_with_how_to_price_it(tmp_path: Path) -> None:
    summary = make_costed_run_folder(tmp_path, unpriced=True)
    text = format_summary(summary, str(tmp_path))
    assert _row(text, "gemini/gemini-1.5-flash")["cost"] == "-"
    assert _row(text, "openai/gpt-4o")["cost"] == usd(summary["cost"]["by_model"]["openai/gpt-4o"])
    (line,) = [line for line in text.splitlines() if line.startswith("no price for")]
    assert line.startswith("no price for gemini/gemini-1.5-flash (shown as -, not counted in the cost; ")
    assert "35 answered record(s) not counted" in line
    assert "price: {input_per_mtok: …, output_per_mtok: …} in its conf/model/*.yaml" in line


def test_the_total_line_names_the_budget_and_says_when_it_stopped_the_run(tmp_path: Path) -> None:
    total = usd(make_costed_run_folder(tmp_path / "a")["cost"]["total_usd"])
    within = format_summary(make_costed_run_folder(tmp_path / "a", budget=5.0), str(tmp_path / "a"))
    assert f"cost {total} of budget $5" in within.splitlines()

    stopped = make_costed_run_folder(tmp_path / "b", budget=0.004, stopped=True)
    text = format_summary(stopped, str(tmp_path / "b"))
    assert text.startswith("capitals-judged: budget_exhausted, 80/80 prompts")
    assert (
        f"cost {total} of budget $0.004 — the budget stopped the run: resume= with a larger max_usd sends "
        "the rest"
    ) in text


def test_a_queue_budget_that_stopped_the_run_is_named(tmp_path: Path) -> None:
    summary = make_costed_run_folder(tmp_path, budget=5.0, stopped=True)
    summary["budget"] |= {
        "max_usd": None,
        "queues": {"openai": {"max_usd": 0.5, "spent_usd": 0.49, "stopped": True}},
    }
    text = format_summary(summary, str(tmp_path))
    assert "(queue 'openai' $0.49 of $0.5) — the budget of queue 'openai' ($0.5) stopped the run" in text
    assert "of budget $" not in text


def test_a_summary_without_a_cost_entry_prints_as_before(tmp_path: Path) -> None:
    summary = make_run_folder(tmp_path)
    text = format_summary(summary, "run")
    assert "cost" not in text
    assert "$" not in text


# -- report.html -----------------------------------------------------------------------------------


def test_report_tables_have_the_cost_of_each_model_and_group(tmp_path: Path) -> None:
    summary = make_costed_run_folder(tmp_path, unpriced=True)
    html = write_report(tmp_path).read_text()
    models = read_table(html, "models-table")
    assert models["openai/gpt-4o"]["cost_usd"] == usd(summary["cost"]["by_model"]["openai/gpt-4o"])
    assert models["gemini/gemini-1.5-flash"]["cost_usd"] == "-"
    groups = read_table(html, "groups-table")
    assert {key: row["cost_usd"] for key, row in groups.items()} == {
        key: usd(value) for key, value in summary["cost"]["by_group"].items()
    }


def test_report_cost_section_has_models_with_prices_and_cost_per_correct(tmp_path: Path) -> None:
    summary = make_costed_run_folder(tmp_path)
    cost = summary["cost"]
    html = write_report(tmp_path).read_text()
    rows = read_table(html, "cost-models")
    assert set(rows) == {*summary["models"], JUDGE}  # the judge's model too
    for model, row in rows.items():
        assert row["cost_usd"] == usd(cost["by_model"][model])
        assert row["share"] == f"{100 * cost['by_model'][model] / cost['total_usd']:.1f}%"
        price = cost["prices"][model]
        assert row["input_per_mtok"] == f"${price['input_per_mtok']:g}"
        assert row["output_per_mtok"] == f"${price['output_per_mtok']:g}"
        assert row["source"] == SOURCES[model]
        expected = cost["per_correct_usd"].get(model, {}).get("match")
        assert row["per_correct:match"] == usd(expected)
    assert rows[JUDGE]["per_correct:match"] == "-"  # a judge gives no answers of its own
    assert "<th>per correct (match)</th>" in html
    assert "Costs are estimates: each reply&#x27;s tokens, as its API reported them, priced" in html
    assert f'<p id="cost-total" class="total">cost {usd(cost["total_usd"])}</p>' in html


def test_report_cost_section_has_stages_queues_and_groups(tmp_path: Path) -> None:
    cost = make_costed_run_folder(tmp_path)["cost"]
    html = write_report(tmp_path).read_text()
    for table_id, section in (
        ("cost-stages", "by_stage"),
        ("cost-queues", "by_queue"),
        ("cost-groups", "by_group"),
    ):
        rows = read_table(html, table_id)
        assert {key: row["cost_usd"] for key, row in rows.items()} == {
            key: usd(value) for key, value in cost[section].items()
        }
    assert set(read_table(html, "cost-stages")) == {"experiment", "judge:grader"}  # judges apart
    assert "estimate" not in read_table(html, "cost-queues")["default"]


def test_report_shows_the_estimate_beside_the_actual_cost(tmp_path: Path) -> None:
    make_costed_run_folder(tmp_path, estimate=True)
    html = write_report(tmp_path).read_text()
    assert '<p id="cost-estimate">estimated before the run: $0.0040 expected, $0.58 at worst</p>' in html
    queues = read_table(html, "cost-queues")
    assert queues["default"]["estimate"] == "$0.0031 expected, $0.52 at worst"
    assert queues["judge:grader/openai"]["estimate"] == "$0.00090 expected, $0.0600 at worst"


def test_report_names_unpriced_models_and_a_budget_that_stopped_the_run(tmp_path: Path) -> None:
    make_costed_run_folder(tmp_path, unpriced=True, budget=0.003, stopped=True)
    html = write_report(tmp_path).read_text()
    assert re.search(
        r'<p id="cost-total" class="stopped">cost \$[\d.]+ of budget \$0.003 — the budget stopped', html
    )
    assert '<p id="cost-unpriced" class="warning">no price for gemini/gemini-1.5-flash' in html
    row = read_table(html, "cost-models")["gemini/gemini-1.5-flash"]
    assert (row["cost_usd"], row["source"]) == ("-", "no price: not counted")


def test_report_of_a_run_without_costs_says_so_and_has_no_cost_column(tmp_path: Path) -> None:
    make_run_folder(tmp_path)
    html = write_report(tmp_path).read_text()
    assert NO_COST in html
    assert "cost_usd" not in html
    assert read_table(html, "models-table")["openai/gpt-4o"]["ok"] == "37"


# -- the sweep comparison --------------------------------------------------------------------------


def _job(sweep: Path, number: int, temperature: str, **costs: object) -> dict[str, object]:
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(f"- experiment.parameters.temperature={temperature}\n")
    return make_costed_run_folder(job, **costs)  # type: ignore[arg-type]


def test_comparison_has_the_job_cost_and_the_cost_per_correct(tmp_path: Path) -> None:
    first = _job(tmp_path, 0, "0.0")
    _job(tmp_path, 1, "0.7", unpriced=True)
    comparison = write_comparison(tmp_path)
    with (tmp_path / "comparison.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    header = list(rows[0])
    assert header[header.index("latency_p95_s") + 1 :][:3] == [
        "cost_usd",
        "model_cost_usd",
        "unpriced_models",
    ]
    assert header[-1] == "match_per_correct_usd"
    gpt = next(r for r in rows if (r["job"], r["queried_model"]) == ("0", "openai/gpt-4o"))
    cost = first["cost"]
    assert float(gpt["cost_usd"]) == cost["total_usd"]  # type: ignore[index]
    assert float(gpt["model_cost_usd"]) == cost["by_model"]["openai/gpt-4o"]  # type: ignore[index]
    assert float(gpt["match_per_correct_usd"]) == cost["per_correct_usd"]["openai/gpt-4o"]["match"]  # type: ignore[index]
    gemini = next(r for r in rows if (r["job"], r["queried_model"]) == ("1", "gemini/gemini-1.5-flash"))
    assert (gemini["model_cost_usd"], gemini["unpriced_models"], gemini["match_per_correct_usd"]) == (
        "",
        "gemini/gemini-1.5-flash",
        "",
    )

    header_shown, cells = display_rows(comparison)
    assert header_shown[-1] == "match $/correct"
    shown = [dict(zip(header_shown, row, strict=True)) for row in cells]
    assert shown[0]["cost"] == usd(cost["total_usd"])  # type: ignore[index]
    assert shown[0]["model cost"] == usd(cost["by_model"]["gemini/gemini-1.5-flash"])  # type: ignore[index]
    assert shown[3]["cost"].endswith(" (no price: gemini/gemini-1.5-flash)")
    assert shown[2]["model cost"] == "-"
    html = (tmp_path / "comparison.html").read_text()
    assert "<title>cost per job and model (USD)</title>" in html
    assert "<th>match $/correct</th>" in html


def test_a_sweep_without_costs_has_no_cost_columns(tmp_path: Path) -> None:
    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- experiment.parameters.temperature=0.0\n")
    make_run_folder(job)
    comparison = write_comparison(tmp_path)
    assert not {"cost_usd", "model_cost_usd", "match_per_correct_usd"} & set(comparison.columns)
    assert "cost" not in display_rows(comparison)[0]
    assert "cost per job" not in (tmp_path / "comparison.html").read_text()


# -- live progress ---------------------------------------------------------------------------------


def test_projection_scales_the_spend_to_every_prompt() -> None:
    assert projected(0.5, 25, 100) == pytest.approx(2.0)
    assert projected(0.0, 0, 100) is None
    assert spend_text(0.5, 25, 100) == "spent $0.50, projected $2.00"
    assert spend_text(0.0, 0, 100) == "spent $0, projected -"


async def test_plain_progress_ends_its_overall_line_with_spend_and_projection(
    autojump_clock: trio.abc.Clock,
) -> None:
    queues = [FakeQueue("openai", 100), FakeQueue("gemini", 100)]
    stream = io.StringIO()
    spent = [0.0]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            show_progress, queues, ProgressConfig(mode="plain", interval_s=10), stream, lambda: spent[0]
        )
        await trio.sleep(10.5)
        for queue in queues:
            queue.done = queue.ok = 25
        spent[0] = 0.125
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    overall = [line for line in stream.getvalue().splitlines() if line.startswith("[progress")]
    assert overall[0].endswith(", ETA 0:01:40")  # nothing spent yet: no money shown
    assert overall[1].startswith("[progress 0:00:20] 50/200 done")
    assert overall[1].endswith(", spent $0.12, projected $0.50")
    assert all("spent" not in line for line in stream.getvalue().splitlines() if line.startswith("  queue"))


async def test_plain_progress_without_spent_shows_no_money(autojump_clock: trio.abc.Clock) -> None:
    stream = io.StringIO()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            show_progress, [FakeQueue("openai", 4)], ProgressConfig(mode="plain", interval_s=1), stream
        )
        await trio.sleep(1.5)
        nursery.cancel_scope.cancel()
    assert "spent" not in stream.getvalue()
    assert "$" not in stream.getvalue()


async def test_live_table_has_the_spend_and_projection_as_its_title(autojump_clock: trio.abc.Clock) -> None:
    queue = FakeQueue("openai", 40, done=10, ok=10)
    lines = ProgressTracker([queue]).sample()
    console = Console(file=io.StringIO(), width=200)
    with console.capture() as captured:
        console.print(render(lines, spend_text(0.3, 10, 40)))
    first, header = captured.get().splitlines()[:2]
    assert first.strip() == "spent $0.30, projected $1.20"
    assert header.startswith("queue")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(show_progress, [queue], ProgressConfig(mode="rich"), stream, lambda: 0.3)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert "spent $0.30, projected $1.20" in stream.getvalue()


def test_summary_json_shape_the_fixture_writes_is_what_the_run_writes(tmp_path: Path) -> None:
    """The fixture's cost entry has every key of the run's (``Spending.summary``) and no other."""
    cost = json.loads(json.dumps(make_costed_run_folder(tmp_path)["cost"]))
    assert set(cost) == {
        "total_usd",
        "by_model",
        "by_queue",
        "by_stage",
        "by_group",
        "per_correct_usd",
        "unpriced_models",
        "unpriced_records",
        "prices",
    }
    records = [json.loads(line) for line in (tmp_path / "completed.jsonl").read_text().splitlines()]
    assert all(isinstance(r["cost_usd"], float) for r in records)
    assert sum(r["cost_usd"] for r in records) == pytest.approx(cost["by_stage"]["experiment"], abs=1e-6)
