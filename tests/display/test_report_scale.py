"""report.html of a big run: aggregates over every record, a bounded sample, a bounded page.

A 20,000-record run folder from the benchmark's generator (:mod:`tests.benchmarks.report_scale`,
whose full size is 1,000,000 records): the page stays small, its numbers are summary.json's, its
latency histograms count every answered record, and its sample is bounded in rows and in bytes.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest

from runner.display import _report
from runner.display._report import render_report, write_report
from runner.display._report_data import MAX_SAMPLE_ROWS, LatencyHistogram, _shares, load_report_data
from tests.benchmarks.report_scale import write_run_folder
from tests.display.html_table import read_table

RECORDS = 20_000


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("big") / "run"
    return path, write_run_folder(path, RECORDS)


def test_a_big_report_is_small_and_shows_every_record_in_its_aggregates(
    big_run: tuple[Path, dict[str, Any]],
) -> None:
    run_dir, summary = big_run
    started = time.perf_counter()
    html = write_report(run_dir).read_text(encoding="utf-8")
    assert time.perf_counter() - started < 3.0  # about 0.1 s here; 1,000,000 records take about 4 s
    assert len(html.encode("utf-8")) < 1_500_000  # 20,000 records of 1.4 KB: 28 MB of completed.jsonl
    models = read_table(html, "models-table")
    assert sum(int(row["prompts"]) for row in models.values()) == RECORDS
    for key, tally in summary["models"].items():
        assert models[key]["ok"] == str(tally["ok"])
        # the histogram counts every answered record, and marks summary.json's exact median and p95
        median, p95 = tally["latency_s"]["median"], tally["latency_s"]["p95"]
        assert f"median {median:.3g} s, p95 {p95:.3g} s (n={tally['ok']}" in html
    assert set(read_table(html, "groups-table")) == set(summary["groups"])
    rows = re.findall(r'<tr data-model="([^"]+)"', html)
    assert len(rows) == 800  # 200 per model
    assert f"800 of {RECORDS:,} records" in html


def test_the_sample_is_bounded_in_rows_over_many_models(tmp_path: Path) -> None:
    path = tmp_path / "run"
    path.mkdir()
    (path / "summary.json").write_text(json.dumps({"status": "complete", "models": {}}))
    with (path / "completed.jsonl").open("w") as file:
        for i in range(12_000):
            record = {"id": i, "api": "sim", "model_name": f"m{i % 12}", "prompt": "q", "response": "a"}
            file.write(json.dumps({**record, "error": None, "latency_s": 0.5}) + "\n")
    data = load_report_data(path, samples_per_model=200)
    assert data.sample_count == MAX_SAMPLE_ROWS  # 12 models x 200 would be 2,400
    assert {len(rows) for rows in data.samples.values()} == {83, 84}
    for rows in data.samples.values():
        numbers = [sample.number for sample in rows]
        assert numbers == sorted(numbers)  # file order


def test_the_sample_table_cuts_its_texts_to_fit_its_budget(
    big_run: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, _ = big_run
    data = load_report_data(run_dir)
    monkeypatch.setattr(_report, "SAMPLE_BUDGET", 300_000)
    html = render_report(data)
    table = html[html.index('<table id="samples">') :]
    assert len(table.encode("utf-8")) <= 300_000
    cut = re.search(r"texts cut at ([\d,]+) characters", html)
    assert cut is not None
    assert int(cut.group(1).replace(",", "")) < 2000
    assert re.search(r"… \(\d+ characters\)", table)
    assert len(re.findall(r'<tr data-model="', table)) == 800  # every row is kept, its texts shorter


def test_many_groups_show_the_largest_hundred(big_run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, summary = big_run
    data = load_report_data(run_dir, samples_per_model=1)
    groups = {f"g{i:03d}": {**summary["groups"]["law"], "prompts": i} for i in range(150)}
    data.summary = {**summary, "groups": groups}
    html = render_report(data)
    shown = read_table(html, "groups-table")
    assert set(shown) == {f"g{i:03d}" for i in range(50, 150)}
    assert "the 100 largest of 150 groups" in html


def test_latency_histogram_ranks_are_within_a_tenth_of_a_percent() -> None:
    rng = random.Random(1)
    values = [rng.lognormvariate(0, 1.5) for _ in range(20_000)] + [0.0, 5e-5, 2e5]
    histogram = LatencyHistogram()
    for value in [*values, math.nan, math.inf, -1.0]:  # not latencies: left out
        histogram.add(value)
    assert histogram.count == len(values)
    assert histogram.maximum == 2e5
    ordered = sorted(values)
    for rank in (0, 1, 100, 10_000, 19_000, 20_002):
        found, exact = histogram.at_rank(rank), ordered[rank]
        assert abs(found - exact) <= 1e-3 * exact or (exact < 1e-4 and found < 1e-4) or exact >= 1e5
    assert sum(histogram.binned(30, 10.0)) == len(values)
    assert abs(histogram.above(10.0) - sum(value >= 10.0 for value in values)) <= 3  # but within 0.1% of 10
    with pytest.raises(IndexError):
        histogram.at_rank(len(values))


def test_reservoir_sample_is_uniform_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run"
    path.mkdir()
    (path / "summary.json").write_text(json.dumps({"status": "complete", "models": {}}))
    with (path / "completed.jsonl").open("w") as file:
        file.writelines(json.dumps({"id": i, "api": "a", "model_name": "m"}) + "\n" for i in range(50_000))
    numbers = [sample.number for sample in load_report_data(path, samples_per_model=500).samples["a/m"]]
    assert len(set(numbers)) == 500
    quarters = [sum(1 for n in numbers if q * 12_500 < n <= (q + 1) * 12_500) for q in range(4)]
    assert all(85 <= count <= 165 for count in quarters), quarters  # 125 expected in each, ±3.5 sd


def test_shares_are_even_and_leave_small_models_whole() -> None:
    assert _shares({"a": 200, "b": 200}, 1000) == {"a": 200, "b": 200}
    assert _shares({"a": 5, "b": 200, "c": 200}, 105) == {"a": 5, "b": 50, "c": 50}
    assert _shares({"a": 200, "b": 200, "c": 200}, 100) == {"a": 34, "b": 33, "c": 33}


def test_records_with_unusual_field_types_are_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "run"
    path.mkdir()
    (path / "summary.json").write_text(json.dumps({"status": "complete", "models": {}}))
    lines = [
        {"id": 1, "api": 3, "model_name": "m", "error": None, "latency_s": 2},
        {"id": 2, "api": "a", "model_name": "m", "error": None, "latency_s": "slow"},
        {"id": 3, "api": "a", "model_name": "m", "error": {"type": "timeout"}, "latency_s": 30.0},
        {"id": 4, "api": "a", "model_name": "m", "error": None, "latency_s": 1.5, "score": math.nan},
    ]
    (path / "completed.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    data = load_report_data(path)
    assert data.records == 4
    assert {key: h.count for key, h in data.latencies.items()} == {"3/m": 1, "a/m": 1}
    assert [s.id for s in data.samples["a/m"]] == ["2", "3", "4"]
    assert data.samples["a/m"][1].error_type == "timeout"
