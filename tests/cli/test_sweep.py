"""Sweep comparison: one row per job with its overrides and scores, as CSV, HTML and a printed table."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cli._sweep import print_comparison
from runner.display._comparison import compare, write_comparison
from tests.run_folder.crafted_run import make_run_folder

WORKTREE = Path(__file__).resolve().parents[2]


def _job(sweep: Path, number: int, overrides: list[str], with_summary: bool = True) -> Path:
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if with_summary:
        make_run_folder(job)
    return job


def test_comparison_rows_carry_overrides_counts_and_scores(tmp_path: Path) -> None:
    for number, temperature in enumerate(("0.0", "0.7")):
        _job(tmp_path, number, ["+experiment=capitals", f"experiment.parameters.temperature={temperature}"])
    _job(tmp_path, 10, ["+experiment=capitals", "experiment.parameters.temperature=1.2"], with_summary=False)
    comparison = write_comparison(tmp_path)
    summary = json.loads((tmp_path / "0" / "summary.json").read_text())

    with (tmp_path / "comparison.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["job"], r["experiment.parameters.temperature"]) for r in rows] == [
        ("0", "0.0"),
        ("0", "0.0"),
        ("1", "0.7"),
        ("1", "0.7"),
        ("10", "1.2"),  # numeric order, and a job that failed still gets its row
    ]
    assert rows[-1]["status"] == "no summary.json (the job failed or was killed)"
    gpt = next(r for r in rows if r["queried_model"] == "openai/gpt-4o")
    tally = summary["models"]["openai/gpt-4o"]
    assert gpt["experiment"] == "capitals"
    assert (gpt["prompts"], gpt["ok"], gpt["failed"]) == ("40", "37", "3")
    assert float(gpt["match"]) == tally["scores"]["match"]["mean"]
    assert float(gpt["match_ci95_low"]) == tally["scores"]["match"]["ci95"][0]
    assert float(gpt["similarity_ci95_high"]) == tally["scores"]["similarity"]["ci95"][1]
    assert comparison.scores == ["match", "similarity"]

    html = (tmp_path / "comparison.html").read_text()
    assert "<title>match per job (mean, 95% interval)</title>" in html
    assert "#0 temperature=0.0 (openai/gpt-4o)" in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")

    printed = io.StringIO()
    print_comparison(comparison, tmp_path, file=printed)
    text = printed.getvalue()
    assert "\x1b" not in text
    assert "0.919 [0.787, 0.972]" in text
    assert f"written: {tmp_path / 'comparison.csv'}" in text


def test_comparison_of_an_empty_sweep_folder_has_only_the_header(tmp_path: Path) -> None:
    comparison = compare(tmp_path)
    assert comparison.rows == []


@pytest.mark.slow
def test_a_three_job_multirun_writes_and_prints_the_comparison(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-c",
        "from runner.cli._prompto_run import main; main()",
        "-m",
        "+experiment=capitals",
        "model=simulated_slow",
        "max_attempts=1,2,5",
        "max_queries=6000",
        "model.endpoint.options.latency_s=0.02",  # fast, and failing often enough to tell the jobs apart
        "model.endpoint.options.failure_rate=0.3",
        f"hydra.sweep.dir={sweep}",
        f"data_folder={WORKTREE / 'data'}",
    ]
    done = subprocess.run(command, cwd=WORKTREE, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    with (sweep / "comparison.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["job"], r["max_attempts"], r["model"], r["queried_model"]) for r in rows] == [
        (str(n), attempts, "simulated_slow", "simulated/simulated-slow")
        for n, attempts in enumerate(("1", "2", "5"))
    ]
    for row in rows:
        summary = json.loads((sweep / row["job"] / "summary.json").read_text())
        tally = summary["models"]["simulated/simulated-slow"]
        assert (int(row["ok"]), int(row["failed"])) == (tally["ok"], tally["failed"])
        assert (sweep / row["job"] / "report.html").is_file()
    assert int(rows[0]["failed"]) > 0  # one attempt: the simulated 10% failures stay failed
    assert rows[2]["failed"] == "0"
    assert "sweep comparison" in done.stdout
    printed = next(line for line in done.stdout.splitlines() if line.startswith("| job "))
    assert [cell.strip() for cell in printed.strip("|").split("|")][:3] == [
        "job",
        "max_attempts",
        "queried_model",
    ]
    assert f"written: {sweep / 'comparison.csv'}" in done.stdout
    assert (sweep / "comparison.html").is_file()
