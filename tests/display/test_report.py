"""report.html: numbers match summary.json, charts are there, it stands alone, bad folders fail clearly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import trio

from runner._run import run_experiment
from runner.cli._folder_commands import report_main
from runner.config._config import ExperimentConfig, ModelConfig, ProgressConfig, ReportConfig, RunConfig
from runner.display._console import score_text
from runner.display._report import write_report
from runner.display._report_data import ReportError, load_report_data
from tests.display.html_table import read_table
from tests.run_folder.crafted_run import make_run_folder


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    make_run_folder(tmp_path / "run")
    return tmp_path / "run"


def test_report_tables_match_summary_json(run_dir: Path) -> None:
    html = write_report(run_dir).read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    for table_id, section in (("models-table", "models"), ("groups-table", "groups")):
        rows = read_table(html, table_id)
        assert set(rows) == set(summary[section])
        for key, tally in summary[section].items():
            row = rows[key]
            assert row["prompts"] == str(tally["prompts"])
            assert row["ok"] == str(tally["ok"])
            assert row["failed"] == str(tally["failed"])
            assert row["retried"] == str(tally["retried"])
            assert row["latency_median"] == f"{tally['latency_s']['median']:.2f}"
            assert row["latency_p95"] == f"{tally['latency_s']['p95']:.2f}"
            assert row["tokens_input"] == str(tally["tokens"]["input"])
            assert row["tokens_output"] == str(tally["tokens"]["output"])
            assert row["failed_by_type"] == ", ".join(f"{k} {v}" for k, v in tally["failed_by_type"].items())
            for name, block in tally["scores"].items():
                assert row[f"score:{name}"] == score_text(block)


def test_report_has_a_score_chart_per_score_with_intervals(run_dir: Path) -> None:
    html = write_report(run_dir).read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    for name in ("match", "similarity"):
        assert f"<title>{name} per model (mean, 95% interval)</title>" in html
        assert f"<title>{name} per group (mean, 95% interval)</title>" in html
        for model, tally in summary["models"].items():
            block = tally["scores"][name]
            low, high = block["ci95"]
            assert f"<title>{model}: {block['mean']:.4g}</title>" in html
            assert f"{block['mean']:.3g} [{low:.3g}, {high:.3g}]" in html
    assert html.count('class="whisker"') == 8  # 2 scores x (2 models + 2 groups)


def test_report_latency_histograms_and_failures_by_type(run_dir: Path) -> None:
    html = write_report(run_dir).read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "<title>Latency of answered prompts</title>" in html
    for tally in summary["models"].values():
        assert f"(n={tally['ok']})" in html  # one latency per answered prompt
    assert "<title>Failed prompts by error type</title>" in html
    assert "<title>not_sent: 3</title>" in html
    assert "<title>server_error: 2</title>" in html


def test_report_is_self_contained_and_escapes_record_text(run_dir: Path) -> None:
    html = write_report(run_dir).read_text()
    urls = set(re.findall(r"https?://[^\"' )]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert "<link" not in html
    assert "<script src" not in html
    assert "Question 0 &lt;for&gt; gpt-4o &amp; co" in html
    assert "Lyon &lt;b&gt;" in html
    assert "<for>" not in html


def test_sample_table_has_rows_per_model_with_score_attributes(run_dir: Path) -> None:
    html = write_report(run_dir, samples_per_model=5).read_text()
    rows = re.findall(r'<tr data-model="([^"]+)"([^>]*)>', html)
    assert [model for model, _ in rows].count("openai/gpt-4o") == 5
    assert [model for model, _ in rows].count("gemini/gemini-1.5-flash") == 5
    assert '<option value="0">match</option><option value="1">similarity</option>' in html
    assert "10 of 80 records" in html
    again = write_report(run_dir, samples_per_model=5).read_text()
    assert again == html  # a seeded sample: the same run gives the same report


def test_report_data_keeps_one_latency_per_answered_prompt_and_skips_a_torn_line(run_dir: Path) -> None:
    with (run_dir / "completed.jsonl").open("a") as file:
        file.write('{"id": "torn", "api": "open')
    data = load_report_data(run_dir, samples_per_model=3)
    assert data.records == 80
    assert data.torn_lines == 1
    assert {model: values.count for model, values in data.latencies.items()} == {
        "openai/gpt-4o": 37,
        "gemini/gemini-1.5-flash": 35,
    }


def test_report_of_a_folder_without_summary_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "completed.jsonl").write_text("")
    with pytest.raises(ReportError, match="has no summary.json"):
        load_report_data(tmp_path)
    assert report_main([str(tmp_path)]) == 2
    assert "prompto-report: " in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_report_cli_writes_where_asked(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "elsewhere.html"
    assert report_main([str(run_dir), "--samples", "2", "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert "4 of 80 records" in target.read_text()
    assert not (run_dir / "report.html").exists()


def _config(tmp_path: Path, **update: object) -> RunConfig:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(f'{{"id": "p{i}", "prompt": "q{i}", "group": "g{i % 2}"}}\n' for i in range(6))
    )
    return RunConfig(
        experiment=ExperimentConfig(file=prompts, name="auto"),
        model=ModelConfig(api="simulated", model_name="sim"),
        max_queries=600,
        env_file=None,
        output_dir=tmp_path / "run",
        progress=ProgressConfig(mode="off"),
        **update,  # type: ignore[arg-type]
    )


async def test_a_run_writes_its_report_when_it_ends(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    result = await run_experiment(_config(tmp_path), environ={}, log_to_file=False)
    html = (result.run_dir / "report.html").read_text()
    assert read_table(html, "models-table")["simulated/sim"]["ok"] == "6"
    assert set(read_table(html, "groups-table")) == {"g0", "g1"}
    assert "6 of 6 records" in html


async def test_report_auto_false_writes_no_report(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    config = _config(tmp_path, report=ReportConfig(auto=False))
    result = await run_experiment(config, environ={}, log_to_file=False)
    assert (result.run_dir / "summary.json").is_file()
    assert not (result.run_dir / "report.html").exists()
