"""Every installed command, given a mistake the user can fix, exits 2 and says it once, with no traceback;
a run that sends nothing for another reason says why once too.

Run as a user runs them: the venv's commands, from a folder of the user's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_installed

BIN = Path(sys.executable).parent
"""The venv's ``bin/``, where ``pip install`` put the commands."""

BAD_PROMPTS = '{"id": 1, "prompt": "x", "api": "simulated", "model_name": "m"}\n{"id": 1, "prompt": "y"}\n'


def command(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_installed(name, *args, cwd=cwd, env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd)})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder: a prompt file with a duplicate id, a bad rate file, an empty folder."""
    (tmp_path / "bad.jsonl").write_text(BAD_PROMPTS)
    (tmp_path / "rates.json").write_text(json.dumps({"openai": -5}))
    (tmp_path / "empty").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("prompto-run", ["experiment.file=bad.jsonl"], "prompto-run: 1 problem(s) in the experiment:"),
        (
            "prompto-run",
            ["experiment.file=bad.jsonl", "max_querys=5"],
            "prompto-run: Unknown key `max_querys`",
        ),
        ("prompto-run", ["resume=empty"], "empty` is not a run folder: it needs .hydra/config.yaml"),
        ("prompto-check", ["experiment.file=bad.jsonl"], "bad (bad.jsonl): not runnable. 1 problem(s)"),
        (
            "prompto-check",
            ["experiment.file=nowhere.jsonl"],
            "prompto-check: experiment.file 'nowhere.jsonl'",
        ),
        (
            "prompto-pipeline",
            ["--once", "max_queries=-5"],
            "prompto-pipeline: Invalid configuration:\n  `max_queries`: Input should be",
        ),
        (
            "prompto_run_experiment",
            ["-f", "gone.jsonl", "-m"],
            "prompto_run_experiment: --file: 'gone.jsonl'",
        ),
        ("prompto_run_experiment", ["-f", "bad.jsonl"], "prompto-run: 1 problem(s) in the experiment:"),
        (
            "prompto_run_pipeline",
            ["--once", "-mqj", "rates.json"],
            "prompto_run_pipeline: rates.json: openai",
        ),
        (
            "prompto_check_experiment",
            ["-f", "bad.jsonl", "-jf", "j"],
            "prompto_check_experiment: --judge-folder",
        ),
        ("prompto-report", ["empty"], "prompto-report: empty has no summary.json"),
        ("prompto-export", ["empty"], "prompto-export: empty has no completed.jsonl"),
        ("prompto-merge", ["empty"], "prompto-merge: no run folders (with .hydra/config.yaml) under empty"),
        ("prompto-score", ["empty"], "is not a run folder: it has no .hydra/config.yaml"),
        ("prompto-judge", ["empty"], "is not a run folder: it has no .hydra/config.yaml"),
    ],
)
def test_a_user_error_exits_2_and_is_said_once(
    project: Path, name: str, args: list[str], message: str
) -> None:
    result = command(name, *args, cwd=project)

    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert (result.stdout + result.stderr).count(message) == 1
    assert "Traceback" not in result.stderr
    assert not list(project.glob("**/completed.jsonl"))


@pytest.mark.parametrize("name", ["prompto-run", "prompto-score"])
def test_what_was_not_done_is_said_after_the_message(project: Path, name: str) -> None:
    args = ["experiment.file=bad.jsonl"] if name == "prompto-run" else ["empty"]

    result = command(name, *args, cwd=project)

    assert result.stderr.rstrip().endswith("Nothing was sent.")
    assert result.stderr.count("Nothing was sent.") == 1


def test_a_merge_that_does_not_add_up_says_nothing_was_written(project: Path) -> None:
    result = command("prompto-merge", "empty", cwd=project)

    assert result.stderr.rstrip().endswith("Nothing was written.")


def test_an_empty_prompt_file_is_said_once_and_kept_in_run_log(project: Path) -> None:
    (project / "none.jsonl").write_text("")

    result = command("prompto-run", "experiment.file=none.jsonl", "model=simulated_fast", cwd=project)

    assert result.returncode == 3, result.stderr
    assert result.stderr.endswith("prompto-run: none.jsonl holds no prompt; nothing was sent.\n")
    assert (result.stdout + result.stderr).count("holds no prompt") == 1
    [run_log] = project.glob("outputs/none/*/run.log")
    assert "the prompt file none.jsonl holds no prompt: nothing to send" in run_log.read_text()
