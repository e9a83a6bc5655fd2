"""Every command on a file of the size users have (thousands of prompts), not only on three lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inputs.installed import (
    SIZE,
    assert_refused,
    command,
    completed_records,
    many,
    write_lines,
)


@pytest.mark.slow
def test_every_command_takes_a_file_of_thousands_of_prompts(project: Path) -> None:
    write_lines(project, "big.jsonl", many())
    fast = ["max_queries=600000", "progress.mode=off", "env_file=null"]

    check = command("prompto-check", "experiment.file=big.jsonl", *fast, cwd=project)
    prompto_check = command(
        "prompto_check_experiment", "--file", "data/input/big.jsonl", "--max-queries", "600000", cwd=project
    )
    run = command("prompto-run", "experiment.file=big.jsonl", *fast, cwd=project)

    assert check.returncode == 0, check.stderr
    assert f"runnable, {SIZE} prompts in 1 queue(s)" in check.stdout
    assert prompto_check.returncode == 0, prompto_check.stderr
    assert f"runnable, {SIZE} prompts in 1 queue(s)" in prompto_check.stdout
    assert run.returncode == 0, run.stderr
    records = completed_records(project)
    assert sorted(record["id"] for record in records) == list(range(SIZE))
    assert all(record["error"] is None for record in records)


@pytest.mark.slow
def test_the_check_names_a_bad_line_deep_in_a_large_file(project: Path) -> None:
    lines = many()
    lines[2_499] = '{"id": 2499, "prompt": '
    write_lines(project, "big.jsonl", lines)

    check = command("prompto-check", "experiment.file=big.jsonl", "env_file=null", cwd=project)
    prompto_check = command("prompto_check_experiment", "--file", "data/input/big.jsonl", cwd=project)

    for result in (check, prompto_check):
        assert_refused(result, "1 problem(s) in the experiment:", "line 2500: malformed JSON")
