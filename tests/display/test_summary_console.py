"""The end-of-run summary: per-group tallies in summary.json, and the printed tables."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.display._console import format_summary, print_summary, score_text
from runner.engine._queue import Finished
from runner.results._summary import SummaryBuilder
from tests.run_folder.crafted_run import make_run_folder

PROMPTO_RUN = Path(sys.executable).parent / "prompto-run"


def _record(group: str | None, error: str | None = None) -> dict[str, object]:
    record: dict[str, object] = {
        "id": "x",
        "api": "simulated",
        "model_name": "m",
        "error": None if error is None else {"type": error, "message": "", "status": None},
        "attempts": 1,
        "latency_s": 0.5,
        "usage": {"input_tokens": 2, "output_tokens": 3},
    }
    if group is not None:
        record["group"] = group
    return record


def test_summary_has_per_group_tallies_when_prompts_set_a_group() -> None:
    builder = SummaryBuilder({"default": 3})
    for record in (_record("a"), _record("a", error="server_error"), _record("b")):
        builder.add(Finished("default", record))
    summary = builder.build(wall_time_s=1.0)
    assert summary["groups"]["a"]["prompts"] == 2
    assert summary["groups"]["a"]["failed_by_type"] == {"server_error": 1}
    assert summary["groups"]["b"]["ok"] == 1
    assert summary["groups"]["b"]["tokens"] == {"input": 2, "output": 3}


def test_summary_has_no_groups_block_without_groups() -> None:
    builder = SummaryBuilder({"default": 1})
    builder.add(Finished("default", _record(None)))
    assert "groups" not in builder.build(wall_time_s=1.0)


def test_plain_summary_shows_every_model_and_group_with_scores_and_failures(tmp_path: Path) -> None:
    summary = make_run_folder(tmp_path)
    text = format_summary(summary, str(tmp_path))
    assert "\x1b" not in text
    assert "capitals-judged: complete, 80/80 prompts (72 ok, 8 failed) in 93.5 s" in text
    for section in ("models", "groups"):
        for key, tally in summary[section].items():
            row = next(line for line in text.splitlines() if line.startswith(f"| {key} "))
            cells = [cell.strip() for cell in row.strip("|").split("|")]
            latency = tally["latency_s"]
            assert cells[:9] == [
                key,
                str(tally["prompts"]),
                str(tally["ok"]),
                str(tally["failed"]),
                str(tally["retried"]),
                f"{latency['median']:.2f}",
                f"{latency['p95']:.2f}",
                str(tally["tokens"]["input"]),
                str(tally["tokens"]["output"]),
            ]
            assert cells[9] == ", ".join(f"{k} {v}" for k, v in tally["failed_by_type"].items())
            assert cells[10:] == [score_text(tally["scores"][name]) for name in ("match", "similarity")]
    assert "not_sent 3, rate_limited 1, server_error 1" in text
    assert f"records: {tmp_path}/completed.jsonl" in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_score_text_shows_mean_and_interval_and_tolerates_partial_blocks() -> None:
    assert score_text({"mean": 0.91875, "count": 37, "ci95": [0.787, 0.972]}) == "0.919 [0.787, 0.972]"
    assert score_text({"mean": 3.5, "count": 2}) == "3.5"
    assert score_text({"rate": 0.5, "count": 4, "ci95": [0.15, 0.85]}) == "0.5 [0.15, 0.85]"
    assert score_text({"mean": 0.5, "ci95": [None, None]}) == "0.5"
    assert score_text({"count": 0}) == "-"
    assert score_text(None) == "-"


def test_summary_prints_rich_table_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    summary = make_run_folder(tmp_path)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    print_summary(summary, str(tmp_path), file=stream)
    output = stream.getvalue()
    assert "\x1b[" in output  # styled
    assert "openai/gpt-4o" in output
    assert "0.919 [0.787, 0.972]" in output


def test_summary_without_scores_or_groups_prints_the_basic_table() -> None:
    summary = json.loads(
        json.dumps(
            {
                "experiment": "e",
                "status": "interrupted",
                "prompts": 4,
                "finished": 1,
                "ok": 1,
                "failed": 0,
                "wall_time_s": 2.0,
                "models": {"simulated/m": {"prompts": 1, "ok": 1, "failed": 0, "latency_s": {}}},
            }
        )
    )
    text = format_summary(summary, "run")
    assert "e: interrupted, 1/4 prompts (1 ok, 0 failed) in 2.0 s" in text
    assert "per group" not in text
    assert "| simulated/m |       1 |  1 |      0 |       0 |     - |     - |" in text


def test_the_cached_column_appears_only_when_the_cache_served_replies() -> None:
    tally = {"prompts": 3, "ok": 3, "failed": 0, "retried": 0, "latency_s": {}}
    summary = {"status": "complete", "prompts": 3, "finished": 3, "ok": 3, "failed": 0, "wall_time_s": 1.0}

    with_hits = format_summary({**summary, "models": {"simulated/m": {**tally, "cached": 2}}}, "run")
    without = format_summary({**summary, "models": {"simulated/m": {**tally, "cached": 0}}}, "run")

    assert "| model       | prompts | ok | failed | retried | cached | p50 s |" in with_hits
    assert "| simulated/m |       3 |  3 |      0 |       0 |      2 |     - |" in with_hits
    assert "cached" not in without


@pytest.mark.slow
def test_a_run_answered_from_the_cache_counts_its_hits_per_queue_and_model(tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text('{"id": 1, "prompt": "Hello"}\n{"id": 2, "prompt": "Hi"}\n')
    environ = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    settings = ["experiment.file=p.jsonl", "model=simulated_fast", "cache.enabled=true", "cache.sampled=true"]
    runs = [
        subprocess.run(
            [str(PROMPTO_RUN), *settings, f"hydra.run.dir={folder}"],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        for folder in ("first", "again")
    ]

    first, again = (json.loads((tmp_path / f / "summary.json").read_text()) for f in ("first", "again"))
    assert (first["queues"]["default"]["cached"], first["models"]["simulated/simulated-fast"]["cached"]) == (
        0,
        0,
    )
    assert (again["queues"]["default"]["cached"], again["models"]["simulated/simulated-fast"]["cached"]) == (
        2,
        2,
    )
    assert "cached" not in runs[0].stdout
    header, row = (
        line for line in runs[1].stdout.splitlines() if line.startswith(("| model ", "| simulated/"))
    )
    cells = dict(zip(header.strip("|").split("|"), row.strip("|").split("|"), strict=True))
    assert {name.strip(): value.strip() for name, value in cells.items()}["cached"] == "2"
